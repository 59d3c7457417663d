//! Adding many items at once (a collection's entries): each item's files
//! are written without an fsync of their own and no download starts while
//! the batch runs; at its end one `syncfs` makes them all durable, the
//! queue decides once, the cache makes room once, and their downloads
//! start. A thousand adds cost a thousand small writes, not four thousand
//! fsyncs and a thousand passes over every item's files.

use std::sync::{Arc, Mutex};

use crate::engine::Engine;
use crate::item::Item;
use crate::{cache, download, queue};

/// The items added so far by one batch (see [`Engine::add_in`]).
pub(crate) struct Batch {
    engine: Engine,
    items: Mutex<Vec<Arc<Item>>>,
}

impl Batch {
    pub fn new(engine: &Engine) -> Batch {
        Batch {
            engine: engine.clone(),
            items: Mutex::default(),
        }
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
        settle(&self.engine, items).await;
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
        let engine = self.engine.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let tasks = engine.tasks().clone();
            runtime.spawn(tasks.track_future(async move { settle(&engine, items).await }));
        }
    }
}

async fn settle(engine: &Engine, items: Vec<Arc<Item>>) {
    if items.is_empty() {
        return;
    }
    let catalog = engine.catalog();
    let store = catalog.store.clone();
    match tokio::task::spawn_blocking(move || store.sync()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("cannot sync the {} items just added: {e}", items.len()),
        Err(e) => tracing::warn!("cannot sync the items just added: {e}"),
    }
    let downloader = engine.downloader();
    queue::rebalance(&downloader.queue);
    // Make room (or hold items) before their first bytes land.
    cache::enforce(engine.cache()).await;
    for item in items {
        download::spawn_supervisor(downloader, item, None);
    }
}
