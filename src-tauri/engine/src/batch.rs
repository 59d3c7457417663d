//! Adding many items at once (a collection's entries): each item's files
//! are written without an fsync of their own and no download starts while
//! the batch runs; at its end one `syncfs` makes them all durable, the
//! queue decides once, the cache makes room once, and their downloads
//! start. A thousand adds cost a thousand small writes, not four thousand
//! fsyncs and a thousand passes over every item's files.

use std::sync::{Arc, Mutex};

use tokio_util::task::TaskTracker;

use crate::cache::Cache;
use crate::download::Downloader;
use crate::item::Item;
use crate::{cache, download, queue};

/// The items added so far by one batch (see `Engine::add_in`), and what
/// settling them works with.
pub(crate) struct Batch {
    /// Unix milliseconds when the batch began.
    began: u64,
    settle: Settle,
    items: Mutex<Vec<Arc<Item>>>,
}

#[derive(Clone)]
struct Settle {
    downloader: Arc<Downloader>,
    cache: Arc<Cache>,
    tasks: TaskTracker,
}

impl Batch {
    /// A batch that began at `began` (unix milliseconds).
    pub fn new(began: u64, downloader: Arc<Downloader>, cache: Arc<Cache>, tasks: TaskTracker) -> Batch {
        Batch {
            began,
            settle: Settle {
                downloader,
                cache,
                tasks,
            },
            items: Mutex::default(),
        }
    }

    /// The creation time of the batch's `n`th item: in the batch's order.
    pub fn created(&self, n: usize) -> u64 {
        self.began + n as u64
    }

    /// `item` was added as part of the batch.
    pub fn added(&self, item: Arc<Item>) {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).push(item);
    }

    fn take(&self) -> Vec<Arc<Item>> {
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Makes the batch's items durable and starts their downloads.
    pub async fn finish(self) {
        let items = self.take();
        self.settle.run(items).await;
    }
}

impl Drop for Batch {
    /// A batch left unfinished (its add was cancelled) still settles what
    /// it added, so no item waits for a download that never starts.
    fn drop(&mut self) {
        let items = self.take();
        if items.is_empty() {
            return;
        }
        let settle = self.settle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let tasks = settle.tasks.clone();
            runtime.spawn(tasks.track_future(async move { settle.run(items).await }));
        }
    }
}

impl Settle {
    async fn run(&self, items: Vec<Arc<Item>>) {
        if items.is_empty() {
            return;
        }
        let store = self.downloader.catalog.store.clone();
        match tokio::task::spawn_blocking(move || store.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot sync the {} items just added: {e}", items.len()),
            Err(e) => tracing::warn!("cannot sync the items just added: {e}"),
        }
        queue::rebalance(&self.downloader.queue);
        // Make room (or hold items) before their first bytes land.
        cache::enforce(&self.cache).await;
        for item in items {
            download::spawn_supervisor(&self.downloader, item, None);
        }
    }
}
