//! Collections: the items added from one directory listing or playlist,
//! kept together and in order. Each member stays an ordinary item with its
//! own state; a collection only remembers which items are its own, in which
//! order, and which subtitle items go with which video.
//!
//! Saved in `DATA_DIR/collections.json`, rewritten atomically on each
//! change. A damaged file costs the grouping, never an item: the items stay
//! and the file is set aside as `collections.json.damaged`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::write_atomically;

/// One collection as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    /// `c` and 8 hex digits.
    pub id: String,
    pub name: String,
    /// The listing's or playlist's URL, as added.
    pub source_url: String,
    /// Media item ids in the collection's order.
    pub items: Vec<String>,
    /// Subtitle item ids by the id of the video they go with.
    #[serde(default)]
    pub subtitles: HashMap<String, Vec<String>>,
    /// Unix milliseconds.
    pub created: u64,
}

impl Collection {
    /// Every member: media items and their subtitles.
    pub fn members(&self) -> impl Iterator<Item = &String> {
        self.items.iter().chain(self.subtitles.values().flatten())
    }

    /// The listing read again (or for the first time): `listed` media ids in
    /// its order come first, earlier members it no longer names after them;
    /// `subtitles` are (video, subtitle) ids, added to what is known.
    pub fn merge(&mut self, listed: Vec<String>, subtitles: Vec<(String, String)>) {
        let mut items = listed;
        for old in &self.items {
            if !items.contains(old) {
                items.push(old.clone());
            }
        }
        self.items = items;
        for (video, subtitle) in subtitles {
            let known = self.subtitles.entry(video).or_default();
            if !known.contains(&subtitle) {
                known.push(subtitle);
            }
        }
    }
}

/// A collection as `spool ls`, the API and the window show it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionView {
    pub id: String,
    pub name: String,
    pub source_url: String,
    /// Media item ids in order (subtitles are not among them).
    pub items: Vec<String>,
}

impl From<&Collection> for CollectionView {
    fn from(c: &Collection) -> Self {
        CollectionView {
            id: c.id.clone(),
            name: c.name.clone(),
            source_url: c.source_url.clone(),
            items: c.items.clone(),
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    collections: Vec<Collection>,
}

/// The engine's collections (`Catalog::collections`).
pub(crate) struct Collections {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    list: Vec<Collection>,
    /// Collection id of each member item.
    owner: HashMap<String, String>,
    /// Items that are a video's subtitles.
    subtitle_items: std::collections::HashSet<String>,
}

impl State {
    fn reindex(&mut self) {
        self.owner = self
            .list
            .iter()
            .flat_map(|c| c.members().map(move |m| (m.clone(), c.id.clone())))
            .collect();
        self.subtitle_items = self
            .list
            .iter()
            .flat_map(|c| c.subtitles.values().flatten().cloned())
            .collect();
    }
}

impl Collections {
    pub fn load(data_dir: &std::path::Path) -> Collections {
        let path = data_dir.join("collections.json");
        let list = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(file) => file.collections,
                Err(e) => {
                    tracing::warn!("collections.json is damaged ({e}); set aside, the items stay");
                    let _ = std::fs::rename(&path, path.with_extension("json.damaged"));
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!("cannot read collections.json: {e}");
                Vec::new()
            }
        };
        let mut state = State {
            list,
            ..State::default()
        };
        state.reindex();
        Collections {
            path,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The collection item `id` belongs to.
    pub fn of(&self, item: &str) -> Option<String> {
        self.lock().owner.get(item).cloned()
    }

    /// Whether item `id` is a video's subtitle (listed with the video, not
    /// among the items).
    pub fn is_subtitle(&self, item: &str) -> bool {
        self.lock().subtitle_items.contains(item)
    }

    pub fn get(&self, id: &str) -> Result<Collection> {
        self.lock()
            .list
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| Error::CollectionNotFound(id.to_string()))
    }

    pub fn list(&self) -> Vec<Collection> {
        self.lock().list.clone()
    }

    pub fn by_source(&self, url: &str) -> Option<Collection> {
        self.lock().list.iter().find(|c| c.source_url == url).cloned()
    }

    /// Saves `collection` (new, or replacing the one with its id).
    pub fn put(&self, collection: Collection) -> Result<()> {
        let mut state = self.lock();
        match state.list.iter_mut().find(|c| c.id == collection.id) {
            Some(slot) => *slot = collection,
            None => state.list.push(collection),
        }
        state.reindex();
        self.save(&state)
    }

    /// Forgets items that are gone (removed, evicted); a collection left
    /// without media items goes too.
    pub fn retain_items(&self, exists: impl Fn(&str) -> bool) -> Result<()> {
        let mut state = self.lock();
        let before: usize = state.list.iter().map(|c| c.members().count()).sum::<usize>() + state.list.len();
        for c in &mut state.list {
            c.items.retain(|i| exists(i));
            c.subtitles.retain(|video, _| exists(video));
            for subs in c.subtitles.values_mut() {
                subs.retain(|i| exists(i));
            }
        }
        state.list.retain(|c| !c.items.is_empty());
        let after: usize = state.list.iter().map(|c| c.members().count()).sum::<usize>() + state.list.len();
        if before == after {
            return Ok(());
        }
        state.reindex();
        self.save(&state)
    }

    pub fn new_id(&self) -> String {
        let state = self.lock();
        loop {
            let id = format!("c{}", crate::token::item_id());
            if !state.list.iter().any(|c| c.id == id) {
                return id;
            }
        }
    }

    fn save(&self, state: &State) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&File {
            collections: state.list.clone(),
        })
        .map_err(|e| Error::io("cannot serialize the collections", std::io::Error::other(e)))?;
        write_atomically(&self.path, &bytes).map_err(|e| Error::io("cannot save collections.json", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(id: &str, items: &[&str], subs: &[(&str, &str)]) -> Collection {
        let mut subtitles: HashMap<String, Vec<String>> = HashMap::new();
        for (video, sub) in subs {
            subtitles
                .entry(video.to_string())
                .or_default()
                .push(sub.to_string());
        }
        Collection {
            id: id.into(),
            name: "Season 1".into(),
            source_url: "http://h/s1/".into(),
            items: items.iter().map(|s| s.to_string()).collect(),
            subtitles,
            created: 1,
        }
    }

    #[test]
    fn a_listing_read_again_keeps_its_order_then_the_members_it_dropped() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        // (members before, subtitles before, listed, subtitles listed,
        //  members after, subtitles after)
        type Ids<'a> = &'a [&'a str];
        type Subs<'a> = &'a [(&'a str, &'a str)];
        type Row<'a> = (Ids<'a>, Subs<'a>, Ids<'a>, Subs<'a>, Ids<'a>, Subs<'a>);
        let table: &[Row] = &[
            (&[], &[], &["a", "b"], &[("a", "s")], &["a", "b"], &[("a", "s")]),
            (&["a", "b"], &[], &["a", "b", "c"], &[], &["a", "b", "c"], &[]),
            // A new episode listed first; one no longer listed stays, last.
            (&["a", "b"], &[], &["n", "b"], &[], &["n", "b", "a"], &[]),
            (
                &["a"],
                &[("a", "s")],
                &["a"],
                &[("a", "s"), ("a", "t")],
                &["a"],
                &[("a", "s"), ("a", "t")],
            ),
            (&["a"], &[("a", "s")], &[], &[], &["a"], &[("a", "s")]),
        ];
        for (before, subs, listed, listed_subs, after, subs_after) in table {
            let mut c = collection("c00000001", before, subs);
            c.merge(ids(listed), pairs(listed_subs));
            assert_eq!(c.items, ids(after), "{before:?} + {listed:?}");
            let mut got: Vec<_> = c
                .subtitles
                .iter()
                .flat_map(|(v, s)| s.iter().map(move |s| (v.clone(), s.clone())))
                .collect();
            got.sort();
            assert_eq!(got, pairs(subs_after), "{subs:?} + {listed_subs:?}");
        }
    }

    #[test]
    fn members_are_indexed_saved_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let collections = Collections::load(dir.path());
        collections
            .put(collection("c00000001", &["a", "b"], &[("a", "a-srt")]))
            .unwrap();
        assert_eq!(collections.of("a").as_deref(), Some("c00000001"));
        assert_eq!(collections.of("a-srt").as_deref(), Some("c00000001"));
        assert_eq!(collections.of("z"), None);
        assert!(collections.is_subtitle("a-srt") && !collections.is_subtitle("a"));
        let again = Collections::load(dir.path());
        assert_eq!(again.list(), collections.list());
        assert_eq!(
            again.by_source("http://h/s1/").map(|c| c.id),
            Some("c00000001".into())
        );
    }

    #[test]
    fn gone_items_are_forgotten_and_an_empty_collection_goes() {
        let dir = tempfile::tempdir().unwrap();
        let collections = Collections::load(dir.path());
        collections
            .put(collection("c00000001", &["a", "b"], &[("a", "a-srt")]))
            .unwrap();
        collections.put(collection("c00000002", &["x"], &[])).unwrap();
        collections.retain_items(|i| i != "a" && i != "x").unwrap();
        let list = collections.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].items, ["b"]);
        assert!(list[0].subtitles.is_empty(), "the subtitle went with its video");
        assert_eq!(collections.of("a-srt"), None);
    }

    #[test]
    fn a_damaged_file_is_set_aside_and_nothing_else_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("collections.json"), b"{not json").unwrap();
        let collections = Collections::load(dir.path());
        assert!(collections.list().is_empty());
        assert!(dir.path().join("collections.json.damaged").exists());
    }

    #[test]
    fn ids_are_c_and_eight_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let id = Collections::load(dir.path()).new_id();
        assert_eq!(id.len(), 9, "{id}");
        assert!(
            id.starts_with('c') && id[1..].chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }
}
