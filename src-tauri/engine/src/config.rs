//! Engine settings. Defaults are what `spool serve` uses.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Settings the engine starts with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Per-user data directory: items, metadata, `engine.json`, the lock.
    pub data_dir: PathBuf,
    /// Upper bound on the bytes the cache may occupy on disk.
    pub cache_cap: u64,
    /// Free space to keep on the cache's filesystem: downloads never write
    /// into it (see `disk`).
    pub min_free: u64,
    /// Origin connections one item may use at once.
    pub connections_per_item: usize,
    /// Bytes per second for all downloads together; `None`: unlimited.
    pub rate_limit: Option<u64>,
    /// Watched items are removed this many days after they were watched
    /// (pinned ones are kept); `None`: never.
    pub remove_watched_after_days: Option<u32>,
    /// Items downloading at once; the others are queued (see `queue`).
    pub max_active: usize,
    /// Media entries taken from one listing (at most `MAX_LISTING_MEDIA`).
    pub max_listing_entries: usize,
    /// An item with transient origin faults and no progress for this long fails.
    pub stall_timeout: Duration,
    /// A reader waiting further than this ahead of every running fetch gets
    /// a fetch of its own at its offset (a seek).
    pub seek_threshold: u64,
    /// Fsync and record progress after this many new bytes…
    pub checkpoint_bytes: u64,
    /// …or after this long, whichever comes first.
    pub checkpoint_interval: Duration,
    /// How long one origin request may wait for its response headers, or
    /// between two body chunks, before it counts as a transient fault.
    pub origin_timeout: Duration,
}

/// The settings that can change while the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub cache_cap: u64,
    pub min_free: u64,
    pub connections_per_item: usize,
    pub rate_limit: Option<u64>,
    pub max_active: usize,
    #[serde(default)]
    pub remove_watched_after_days: Option<u32>,
}

impl Config {
    pub fn limits(&self) -> Limits {
        Limits {
            cache_cap: self.cache_cap,
            min_free: self.min_free,
            connections_per_item: self.connections_per_item,
            rate_limit: self.rate_limit,
            max_active: self.max_active,
            remove_watched_after_days: self.remove_watched_after_days,
        }
    }
}

pub const DEFAULT_PORT: u16 = 17173;
/// Media entries taken from one listing; the rest are reported as dropped.
pub const MAX_LISTING_MEDIA: usize = 1000;
/// Largest listing page read (bytes); a larger one is refused.
pub const MAX_LISTING_PAGE: usize = 8 << 20;
/// Items downloading at once by default.
pub const DEFAULT_MAX_ACTIVE: usize = 3;
pub const GIB: u64 = 1 << 30;
pub const MIB: u64 = 1 << 20;

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            cache_cap: 10 * GIB,
            min_free: GIB,
            connections_per_item: 4,
            rate_limit: None,
            remove_watched_after_days: None,
            max_active: DEFAULT_MAX_ACTIVE,
            max_listing_entries: MAX_LISTING_MEDIA,
            stall_timeout: Duration::from_secs(30),
            seek_threshold: 2 * MIB,
            checkpoint_bytes: 16 * MIB,
            checkpoint_interval: Duration::from_secs(1),
            origin_timeout: Duration::from_secs(20),
        }
    }
}

/// The limits in force, changed at run time by [`crate::Engine::set_limits`]:
/// every clone reads the same values. Those who decide by a limit read it
/// at each decision; nobody holds the lock while waiting.
#[derive(Debug, Clone)]
pub(crate) struct LiveLimits(Arc<RwLock<Limits>>);

impl LiveLimits {
    pub fn new(limits: Limits) -> Self {
        LiveLimits(Arc::new(RwLock::new(limits)))
    }

    pub fn get(&self) -> Limits {
        *self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, limits: Limits) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = limits;
    }
}
