//! "Continue watching": where a collection goes on (its first unwatched
//! item, at that item's position) and the items left unfinished, most
//! recently played first, for the tray.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::Result;
use crate::events::ItemView;

/// Where playing a collection goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinueAt {
    pub item_id: String,
    /// Seconds; `None`: its beginning.
    pub start: Option<f64>,
}

/// The first item of `items` (in the collection's order) not watched, at
/// its resume position; `None` when every one is watched (or there are none).
pub fn continue_at(items: &[ItemView]) -> Option<ContinueAt> {
    items.iter().find(|i| !i.playback.watched).map(|i| ContinueAt {
        item_id: i.id.clone(),
        start: i.playback.resume_at,
    })
}

/// Items begun and not finished (a resume position, not watched), most
/// recently played first, at most `limit`.
pub fn unfinished(items: &[ItemView], limit: usize) -> Vec<ItemView> {
    let mut started: Vec<&ItemView> = items
        .iter()
        .filter(|i| !i.playback.watched && i.playback.resume_at.is_some())
        .collect();
    started.sort_by_key(|i| std::cmp::Reverse(i.playback.last_played));
    started.into_iter().take(limit).cloned().collect()
}

impl Engine {
    /// Where collection `id` goes on (see [`continue_at`]).
    pub fn continue_in(&self, id: &str) -> Result<Option<ContinueAt>> {
        let collection = self.collection(id)?;
        let items: Vec<ItemView> = collection
            .items
            .iter()
            .filter_map(|i| self.item(i).ok())
            .collect();
        Ok(continue_at(&items))
    }

    /// Where playing `id` starts: item `id` at its resume position, or
    /// collection `id` at its first unwatched item's (every item watched:
    /// its first item, from the beginning).
    pub(crate) fn where_to_start(&self, id: &str) -> Result<(String, Option<f64>)> {
        let not_an_item = match self.item(id) {
            Ok(item) => return Ok((id.to_string(), item.playback.resume_at)),
            Err(e) => e,
        };
        // Neither: the item's error (an id is an item's unless it is a collection's).
        let Ok(collection) = self.collection(id) else {
            return Err(not_an_item);
        };
        Ok(match self.continue_in(id)? {
            Some(at) => (at.item_id, at.start),
            None => (
                collection
                    .items
                    .first()
                    .cloned()
                    .unwrap_or_else(|| id.to_string()),
                None,
            ),
        })
    }

    /// Up to `limit` items begun and not finished, most recently played
    /// first (the tray's "Continue watching").
    pub fn continue_watching(&self, limit: usize) -> Vec<ItemView> {
        unfinished(&self.items(), limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ItemState, PlaybackView};

    fn item(id: &str, watched: bool, resume_at: Option<f64>, last_played: Option<u64>) -> ItemView {
        ItemView {
            id: id.to_string(),
            source_url: String::new(),
            stream_url: String::new(),
            name: id.to_string(),
            size: None,
            downloaded: 0,
            state: ItemState::Complete,
            pinned: false,
            error: None,
            collection: None,
            playback: PlaybackView {
                position: resume_at,
                duration: None,
                watched,
                resume_at,
                last_played,
            },
        }
    }

    #[test]
    fn a_collection_goes_on_at_its_first_unwatched_item() {
        let at = |id: &str, start: Option<f64>| {
            Some(ContinueAt {
                item_id: id.to_string(),
                start,
            })
        };
        // (items, expected)
        let table: Vec<(Vec<ItemView>, Option<ContinueAt>)> = vec![
            (vec![], None),
            (
                vec![item("e1", false, None, None), item("e2", false, None, None)],
                at("e1", None),
            ),
            (
                vec![
                    item("e1", true, None, Some(1)),
                    item("e2", false, Some(41.0), Some(2)),
                ],
                at("e2", Some(41.0)),
            ),
            (
                vec![
                    item("e1", true, None, None),
                    item("e2", false, None, None),
                    item("e3", false, Some(9.0), None),
                ],
                at("e2", None),
            ),
            (
                vec![item("e1", true, None, None), item("e2", true, None, None)],
                None,
            ),
        ];
        for (items, want) in table {
            let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
            assert_eq!(continue_at(&items), want, "{ids:?}");
        }
    }

    #[test]
    fn unfinished_items_most_recent_first() {
        let items = vec![
            item("old", false, Some(10.0), Some(1)),
            item("watched", true, None, Some(9)),
            item("fresh", false, None, None),
            item("recent", false, Some(20.0), Some(5)),
            item("middle", false, Some(30.0), Some(3)),
        ];
        let ids = |v: Vec<ItemView>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(ids(unfinished(&items, 5)), ["recent", "middle", "old"]);
        assert_eq!(ids(unfinished(&items, 2)), ["recent", "middle"]);
        assert!(unfinished(&items, 0).is_empty());
    }
}
