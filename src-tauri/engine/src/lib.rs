//! Spool's engine: everything that is not UI. A streaming cache for remote
//! media: a loopback proxy serves each item with exact HTTP framing and correct
//! ranges while a downloader fills a sparse file from the origin.
//!
//! The engine knows nothing of Tauri; the desktop app and `spool serve` only
//! wire it up through [`Engine`].

mod batch;
pub mod byte_ranges;
pub mod cache;
mod cache_plan;
mod catalog;
mod clock;
pub mod collection;
pub mod collection_ops;
pub mod config;
pub mod continue_watching;
pub mod disk;
pub mod download;
pub mod engine;
pub mod error;
pub mod events;
mod fetch_error;
pub mod http_range;
mod input;
mod item;
pub mod link;
pub mod listing;
pub mod name;
pub mod pairing;
pub mod playback;
pub mod player;
pub mod playlist;
mod probe;
pub mod proxy;
pub mod queue;
pub mod rate_limit;
mod relink;
pub mod size;
mod start;
pub mod store;
pub mod token;
pub mod watched;

pub use proxy::control;

pub use byte_ranges::{ByteRange, RangeSet};
pub use collection::CollectionView;
pub use collection_ops::{Added, CollectionAdded};
pub use config::{Config, Limits};
pub use engine::{AddOptions, Engine, EngineInfo};
pub use error::{Error, Result};
pub use events::{Event, ItemState, ItemView, PlaybackView, RemoveReason};
pub use player::{Entry, PlayOptions, Playing};
pub use playlist::PlaylistEntry;

/// The runtime that serves players: the engine's proxy and control API run
/// on the runtime `Engine::start` is called on, downloads on a thread of
/// their own (`download::thread`). One worker, so a connection's task is
/// never handed to another thread (on a busy machine such hand-offs made
/// cached responses wait a scheduler slice: docs/BENCHMARKS.md).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    one_worker("spool-serve")
}

/// A tokio runtime with one worker thread named `name`.
pub(crate) fn one_worker(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
}
