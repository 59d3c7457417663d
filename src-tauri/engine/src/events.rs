//! What the engine tells the outside world: item views and change events on
//! a broadcast channel (the desktop forwards them as Tauri events).

use serde::{Deserialize, Serialize};

/// An item's life-cycle state as users and scripts see it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Queued,
    Downloading,
    Paused,
    Complete,
    Failed,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Queued => "queued",
            ItemState::Downloading => "downloading",
            ItemState::Paused => "paused",
            ItemState::Complete => "complete",
            ItemState::Failed => "failed",
        }
    }
}

/// One item as `spool ls --json` prints it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    pub id: String,
    pub source_url: String,
    pub stream_url: String,
    pub name: String,
    /// `None` while the origin has not told the length.
    pub size: Option<u64>,
    pub downloaded: u64,
    pub state: ItemState,
    pub pinned: bool,
    /// Why the item failed or is paused, for people.
    pub error: Option<String>,
    /// The id of the collection the item belongs to (a video, or a subtitle
    /// paired with one), if any.
    #[serde(default)]
    pub collection: Option<String>,
    /// Where it was left, as fields of the item (`position`, …).
    #[serde(flatten)]
    pub playback: PlaybackView,
}

/// An item's playback as scripts and the window see it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlaybackView {
    /// Seconds into the item where a followed player was last seen; `None`
    /// if none was.
    pub position: Option<f64>,
    /// Seconds, as a player told it; `None` while unknown.
    pub duration: Option<f64>,
    /// Played to its end or to 90 %.
    pub watched: bool,
    /// Where Play starts (seconds): the position unless it is near either
    /// end; `None`: the beginning.
    pub resume_at: Option<f64>,
    /// Unix milliseconds of the last position recorded.
    pub last_played: Option<u64>,
}

impl PlaybackView {
    pub fn of(playback: &crate::playback::Playback) -> Self {
        PlaybackView {
            position: playback.position(),
            duration: playback.duration(),
            watched: playback.watched,
            resume_at: playback.resume_at(),
            last_played: playback.last_played,
        }
    }
}

/// Why an item left the cache.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoveReason {
    /// Removed by the user (`spool rm`, the UI).
    User,
    /// Evicted to keep the cache under its cap.
    Evicted,
    /// Removed a set time after it was watched.
    Watched,
}

/// A change to the cache. Receivers can lag (a broadcast channel drops the
/// oldest events): on `Lagged`, re-read the item list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Added {
        item: ItemView,
    },
    /// Bytes arrived. Sent at most about ten times a second per item.
    Progress {
        id: String,
        downloaded: u64,
        size: Option<u64>,
        /// Bytes per second over the last interval.
        rate: u64,
    },
    /// The state, the reason or the pin changed.
    StateChanged {
        id: String,
        state: ItemState,
        error: Option<String>,
    },
    /// The origin's file changed: the old bytes were discarded and the
    /// download starts over.
    Restarted {
        id: String,
        reason: String,
    },
    Removed {
        id: String,
        reason: RemoveReason,
    },
    /// A player the engine started exited with an error at once.
    PlayerFailed {
        command: String,
        message: String,
    },
    /// A browser extension asks to pair: the app shows the request.
    PairingRequested {
        request: crate::pairing::RequestView,
    },
}
