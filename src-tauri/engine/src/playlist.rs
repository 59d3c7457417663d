//! The playlist a player gets for an item: the item, then the rest of its
//! collection in order, each with its subtitles; as an `.m3u` for players
//! and scripts that take one.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::player::Entry;

/// One entry of a playlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistEntry {
    pub item_id: String,
    pub stream_url: String,
    pub title: String,
    /// Stream URLs of the subtitles that go with it.
    pub subtitle_urls: Vec<String>,
}

impl From<PlaylistEntry> for Entry {
    fn from(e: PlaylistEntry) -> Entry {
        Entry {
            stream_url: e.stream_url,
            title: e.title,
            subtitle_urls: e.subtitle_urls,
        }
    }
}

impl Engine {
    /// What Play on `id` plays: an item and the items after it in its
    /// collection, or a collection from its first item.
    pub fn playlist_to_play(&self, id: &str) -> Result<Vec<PlaylistEntry>> {
        match self.collection(id) {
            Ok(collection) => match collection.items.first() {
                Some(first) => self.playlist_from(first),
                None => Err(Error::CollectionNotFound(id.to_string())),
            },
            Err(_) => self.playlist_from(id),
        }
    }

    /// Item `id` and the items after it in its collection (a lone item: one
    /// entry).
    pub fn playlist_from(&self, id: &str) -> Result<Vec<PlaylistEntry>> {
        let first = self.item(id)?;
        let ids = match first.collection.as_deref().map(|c| self.collection(c)) {
            Some(Ok(collection)) => match collection.items.iter().position(|i| i == id) {
                Some(at) => collection.items[at..].to_vec(),
                // A subtitle item: itself only.
                None => vec![id.to_string()],
            },
            _ => vec![id.to_string()],
        };
        Ok(ids
            .iter()
            .filter_map(|i| self.item(i).ok())
            .map(|view| PlaylistEntry {
                subtitle_urls: self
                    .subtitles_of(&view.id)
                    .iter()
                    .filter_map(|s| self.item(s).ok())
                    .map(|s| s.stream_url)
                    .collect(),
                item_id: view.id,
                stream_url: view.stream_url,
                title: view.name,
            })
            .collect())
    }
}

/// The entries as an extended M3U: `#EXTINF` titles; subtitles as VLC's
/// `#EXTVLCOPT:sub-file=` (other players skip `#` lines).
pub fn m3u(entries: &[PlaylistEntry]) -> String {
    let mut out = String::from("#EXTM3U\n");
    for e in entries {
        // A title cannot span lines in M3U.
        let title: String = e
            .title
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str(&format!("#EXTINF:-1,{title}\n"));
        for sub in &e.subtitle_urls {
            out.push_str(&format!("#EXTVLCOPT:sub-file={sub}\n"));
        }
        out.push_str(&e.stream_url);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m3u_has_titles_and_subtitles_before_each_url() {
        let entries = [
            PlaylistEntry {
                item_id: "a".into(),
                stream_url: "http://127.0.0.1:1/m/t1/E1.mkv".into(),
                title: "E1.mkv".into(),
                subtitle_urls: vec!["http://127.0.0.1:1/m/t2/E1.srt".into()],
            },
            PlaylistEntry {
                item_id: "b".into(),
                stream_url: "http://127.0.0.1:1/m/t3/E2.mkv".into(),
                title: "E2\nevil".into(),
                subtitle_urls: vec![],
            },
        ];
        assert_eq!(
            m3u(&entries),
            "#EXTM3U\n#EXTINF:-1,E1.mkv\n#EXTVLCOPT:sub-file=http://127.0.0.1:1/m/t2/E1.srt\n\
             http://127.0.0.1:1/m/t1/E1.mkv\n#EXTINF:-1,E2 evil\nhttp://127.0.0.1:1/m/t3/E2.mkv\n"
        );
    }
}
