//! What the downloader works with: the catalog of items, the origin
//! clients, the limits, the grants of disk space and the download thread.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{DownloadThread, WarmingSet};
use crate::catalog::Catalog;
use crate::config::{Config, LiveLimits};
use crate::disk;
use crate::error::{Error, Result};
use crate::queue::Queue;
use crate::rate_limit::RateLimiter;

pub(crate) struct Downloader {
    pub catalog: Arc<Catalog>,
    /// Settings as started (timeouts, checkpoints, the seek threshold).
    pub config: Config,
    /// Connections per item and the free-space reserve, as of now.
    pub limits: LiveLimits,
    /// The bandwidth limit shared by every fetch.
    pub rate: RateLimiter,
    /// Free space granted to fetches before they write (see `disk`).
    pub space: Arc<disk::Space>,
    /// Origin requests of downloads.
    pub client: reqwest::Client,
    /// Origin requests of seeks, with a pool of their own: the connection
    /// kept warm for the next seek stays free for it (see
    /// `download::warm_for_seeks`).
    pub seek_client: reqwest::Client,
    /// Origins a warm-up for seeks is under way for: one at a time each.
    pub warming: WarmingSet,
    /// Which items may download in the background now.
    pub queue: Arc<Queue>,
    /// Where supervisors and fetches run (see `DownloadThread`).
    pub thread: DownloadThread,
    /// The engine's: cancelled once, at shutdown; every task selects on it.
    pub cancel: CancellationToken,
    /// The engine's: shutdown waits for these tasks.
    pub tasks: TaskTracker,
}

impl Downloader {
    /// Starts the download thread.
    pub fn start(
        catalog: Arc<Catalog>,
        config: Config,
        limits: LiveLimits,
        queue: Arc<Queue>,
        cancel: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<Downloader> {
        Ok(Downloader {
            space: disk::Space::new(catalog.store.clone()),
            catalog,
            rate: RateLimiter::new(config.rate_limit),
            config,
            limits,
            client: http_client(usize::MAX)?,
            // One idle connection per origin is all a seek needs.
            seek_client: http_client(1)?,
            warming: WarmingSet::default(),
            queue,
            thread: DownloadThread::start()?,
            cancel,
            tasks,
        })
    }
}

fn http_client(max_idle_per_origin: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(max_idle_per_origin)
        .redirect(reqwest::redirect::Policy::limited(10))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("spool/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::io("cannot create the HTTP client", std::io::Error::other(e)))
}
