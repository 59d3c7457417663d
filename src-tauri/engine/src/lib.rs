//! Spool's engine: everything that is not UI. A streaming cache for remote
//! media: a loopback proxy serves each item with exact HTTP framing and correct
//! ranges while a downloader fills a sparse file from the origin.
//!
//! The engine knows nothing of Tauri; the desktop app and `spool serve` only
//! wire it up through [`Engine`].

pub mod cache;
mod cache_plan;
pub mod config;
pub mod control;
pub mod disk;
pub mod download;
pub mod engine;
pub mod error;
pub mod events;
mod item;
pub mod name;
mod probe;
pub mod proxy;
pub mod range;
pub mod ranges;
mod relink;
mod salvage;
pub mod size;
pub mod store;
pub mod token;

pub use config::{Config, Limits};
pub use engine::{AddOptions, Engine, EngineInfo};
pub use error::{Error, Result};
pub use events::{Event, ItemState, ItemView, RemoveReason};
pub use ranges::{ByteRange, RangeSet};

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
