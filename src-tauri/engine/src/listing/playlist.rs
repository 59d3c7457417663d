//! Plain playlists: `.m3u` / `.m3u8` (one URL a line, `#EXTINF` titles)
//! and `.pls` (`FileN=`, `TitleN=`). An HLS playlist (segments or variant
//! streams) is refused: it is one stream, not a list of files.

use super::{Link, ListingError};

/// Tags that only HLS playlists have.
const HLS_TAGS: &[&str] = &[
    "#EXT-X-TARGETDURATION",
    "#EXT-X-MEDIA-SEQUENCE",
    "#EXT-X-STREAM-INF",
    "#EXT-X-PLAYLIST-TYPE",
    "#EXT-X-KEY",
    "#EXT-X-MAP",
    "#EXT-X-ENDLIST",
    "#EXT-X-VERSION",
];

pub(super) fn m3u(text: &str) -> Result<Vec<Link>, ListingError> {
    let mut links = Vec::new();
    let mut title = None;
    for line in text.trim_start_matches('\u{feff}').lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(tag) = line.strip_prefix('#') {
            let upper = line.to_ascii_uppercase();
            if HLS_TAGS.iter().any(|t| upper.starts_with(t)) {
                return Err(ListingError::Hls);
            }
            if let Some(info) = tag.strip_prefix("EXTINF:") {
                // `#EXTINF:duration attrs,Title`
                title = info
                    .split_once(',')
                    .map(|(_, t)| t.trim().to_string())
                    .filter(|t| !t.is_empty());
            }
            continue;
        }
        links.push(Link {
            href: line.to_string(),
            title: title.take(),
        });
    }
    Ok(links)
}

pub(super) fn pls(text: &str) -> Vec<Link> {
    let mut files: Vec<(u32, String)> = Vec::new();
    let mut titles: Vec<(u32, String)> = Vec::new();
    for line in text.trim_start_matches('\u{feff}').lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        if let Some(n) = key.strip_prefix("file").and_then(|n| n.parse().ok()) {
            files.push((n, value));
        } else if let Some(n) = key.strip_prefix("title").and_then(|n| n.parse().ok()) {
            titles.push((n, value));
        }
    }
    files.sort_by_key(|(n, _)| *n);
    files
        .into_iter()
        .map(|(n, href)| Link {
            href,
            title: titles.iter().find(|(t, _)| *t == n).map(|(_, v)| v.clone()),
        })
        .collect()
}
