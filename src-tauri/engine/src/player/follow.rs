//! What a follower of a player (`mpv`, `mpris`) does with what the player
//! says: which item it plays, and saving that item's position when
//! `crate::playback` says so.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::clock::unix_millis;
use crate::item::Item;
use crate::playback::{Saver, Seen, Verdict};

/// What following players works with: the items (found by their stream
/// URLs on `port`, saved with their positions) and the engine's tasks. A
/// follower ends with the engine (`cancel`): it holds the catalog, and with
/// it the data directory's lock.
#[derive(Clone)]
pub(crate) struct Watch {
    pub catalog: Arc<Catalog>,
    pub port: u16,
    pub tasks: TaskTracker,
    pub cancel: CancellationToken,
}

/// One followed player: the item it plays, what it last said, and when
/// that is saved.
pub(crate) struct Follower {
    watch: Watch,
    current: Option<Arc<Item>>,
    seen: Seen,
    saver: Saver,
}

impl Follower {
    pub fn new(watch: Watch) -> Follower {
        Follower {
            watch,
            current: None,
            seen: Seen::default(),
            saver: Saver::default(),
        }
    }

    /// The player now plays `url`: the item before it is saved, and the
    /// new one followed if it is one of this engine's stream URLs. No URL
    /// (between files, or at the end) keeps the item: its end may be told
    /// after.
    pub async fn playing(&mut self, url: Option<&str>) {
        let Some(url) = url else { return };
        let next = item_for_url(&self.watch, url);
        if same(&next, &self.current) {
            return;
        }
        self.finish().await;
        // The first item keeps what was told before its path (mpv tells a
        // property only when it changes: a duration told first is not told
        // again); a next item starts afresh.
        if self.current.is_some() {
            self.seen = Seen::default();
        }
        self.current = next;
        self.saver = Saver::default();
    }

    pub async fn position(&mut self, position: Option<f64>) {
        // `None` while a file loads or ends: the last one seen stands.
        if position.is_some() {
            self.seen.position = position;
            self.offer().await;
        }
    }

    pub async fn duration(&mut self, duration: Option<f64>) {
        if duration.is_some() {
            self.seen.duration = duration;
            self.offer().await;
        }
    }

    pub async fn pause(&mut self, paused: bool) {
        self.seen.paused = paused;
        self.offer().await;
    }

    pub async fn ended(&mut self) {
        self.seen.ended = true;
        self.offer().await;
    }

    /// Everything a player said at once (MPRIS is polled).
    pub async fn seen(&mut self, seen: Seen) {
        let ended = self.seen.ended || seen.ended;
        self.seen = Seen {
            position: seen.position.or(self.seen.position),
            duration: seen.duration.or(self.seen.duration),
            paused: seen.paused,
            ended,
        };
        self.offer().await;
    }

    /// The player went away or moved on: save what is unsaved.
    pub async fn finish(&mut self) {
        if let Some(item) = self.current.clone() {
            if self.saver.last(&self.seen) == Verdict::Save {
                self.save(&item).await;
            }
        }
    }

    async fn offer(&mut self) {
        let Some(item) = self.current.clone() else {
            return;
        };
        if self.seen.position.is_none() && !self.seen.ended {
            return;
        }
        if self.saver.offer(&self.seen, Instant::now()) == Verdict::Save {
            self.save(&item).await;
        }
    }

    async fn save(&self, item: &Item) {
        item.lock().meta.playback.record(&self.seen, unix_millis());
        crate::download::save(&self.watch.catalog, item).await;
        // Views refresh on it (the download state itself is unchanged).
        self.watch.catalog.emit_state(item);
    }
}

fn same(a: &Option<Arc<Item>>, b: &Option<Arc<Item>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The item whose stream URL `url` is, on this engine's port.
pub(crate) fn item_for_url(watch: &Watch, url: &str) -> Option<Arc<Item>> {
    let token = stream_token(url, watch.port)?;
    watch.catalog.item_by_token(&token)
}

/// The token of a stream URL (`http://127.0.0.1:PORT/m/TOKEN/NAME`) on `port`.
fn stream_token(url: &str, port: u16) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if parsed.scheme() != "http" || parsed.host_str() != Some("127.0.0.1") || parsed.port() != Some(port) {
        return None;
    }
    let mut segments = parsed.path_segments()?;
    (segments.next() == Some("m")).then_some(())?;
    segments.next().filter(|t| !t.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_engines_stream_urls_name_an_item() {
        let table: &[(&str, Option<&str>)] = &[
            ("http://127.0.0.1:17173/m/abc/film.mkv", Some("abc")),
            ("http://127.0.0.1:17173/m/abc/", Some("abc")),
            ("http://127.0.0.1:17174/m/abc/film.mkv", None),
            ("http://localhost:17173/m/abc/film.mkv", None),
            ("https://127.0.0.1:17173/m/abc/film.mkv", None),
            ("http://127.0.0.1:17173/api/items", None),
            ("http://127.0.0.1:17173/m//x", None),
            ("/home/me/film.mkv", None),
        ];
        for (url, want) in table {
            assert_eq!(stream_token(url, 17173).as_deref(), *want, "{url}");
        }
    }
}
