//! Durable state: checkpoints (fsync the data, then record what it holds)
//! and the reset of an item whose origin file changed.

use std::sync::Arc;

use tokio::time::Instant;

use crate::catalog::Catalog;
use crate::events::Event;
use crate::item::Item;
use crate::store::ItemMeta;

/// Fsyncs the data file, then records what it holds in `state.json`. The
/// state never claims bytes that were not on disk before it was written.
pub(crate) async fn checkpoint(catalog: &Catalog, item: &Item) {
    let _saving = item.save_lock.lock().await;
    let (file, snapshot, generation, unsynced) = {
        let mut st = item.lock();
        let unsynced = st.unsynced;
        st.unsynced = 0;
        (st.file.clone(), st.written.clone(), st.meta.generation, unsynced)
    };
    if unsynced > 0 {
        let synced = joined(tokio::task::spawn_blocking(move || file.sync_data()).await);
        if let Err(e) = synced {
            tracing::warn!("item {}: fsync of the data file failed: {e}", item.id());
            item.lock().unsynced += unsynced;
            return;
        }
    }
    let meta = {
        let mut st = item.lock();
        if st.removed || st.meta.generation != generation {
            return;
        }
        st.meta.present = snapshot;
        st.meta.clone()
    };
    write_meta(catalog, item, meta).await;
}

/// Saves an item's settings (pin, pause) along with its progress.
pub(crate) async fn save(catalog: &Catalog, item: &Item) {
    checkpoint(catalog, item).await;
}

async fn write_meta(catalog: &Catalog, item: &Item, meta: ItemMeta) {
    if item.damaged {
        // Its files stay as found until the user removes them.
        return;
    }
    let store = catalog.store.clone();
    let source = item.source();
    let saved = joined(tokio::task::spawn_blocking(move || store.save_meta(&source, &meta)).await);
    if let Err(e) = saved {
        tracing::warn!("item {}: cannot save its state: {e}", item.id());
    }
}

/// The origin's file changed: open responses abort, the bytes are discarded
/// and the download starts over in a new data file.
pub(super) async fn reset_content(catalog: &Catalog, item: &Item, reason: &str) {
    tracing::warn!(
        "item {}: the origin's file changed ({reason}); starting over",
        item.id()
    );
    let _saving = item.save_lock.lock().await;
    let store = catalog.store.clone();
    let id = item.id().to_string();
    let file = match joined(tokio::task::spawn_blocking(move || store.create_next_data(&id)).await) {
        Ok(file) => file,
        Err(e) => {
            let mut st = item.lock();
            st.meta.failure = Some(format!("cannot create a new data file: {e}"));
            st.cancel_fetches();
            return;
        }
    };
    let meta = {
        let mut st = item.lock();
        st.cancel_fetches();
        st.file = Arc::new(file);
        st.meta.generation += 1;
        st.written.clear();
        st.meta.present.clear();
        st.meta.probed = false;
        st.meta.size = None;
        st.meta.etag = None;
        st.meta.last_modified = None;
        st.meta.accepts_ranges = false;
        st.unsynced = 0;
        st.failures = 0;
        st.retry_at = None;
        st.last_progress = Instant::now();
        st.meta.clone()
    };
    item.notify_readers();
    // State first (it claims nothing), then the new file takes the old one's name.
    write_meta(catalog, item, meta).await;
    let store = catalog.store.clone();
    let id = item.id().to_string();
    if let Ok(Err(e)) | Err(e) = tokio::task::spawn_blocking(move || store.commit_next_data(&id))
        .await
        .map_err(std::io::Error::other)
    {
        tracing::warn!("item {}: cannot replace the data file: {e}", item.id());
    }
    catalog.emit(Event::Restarted {
        id: item.id().to_string(),
        reason: format!("the origin's file changed: {reason}"),
    });
}

/// The result of blocking disk work, with a task that died counted as an
/// I/O failure, so callers have one error to show.
pub(crate) fn joined<T>(r: Result<std::io::Result<T>, tokio::task::JoinError>) -> std::io::Result<T> {
    r.map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_died_reads_as_an_io_error_with_text() {
        let ok = joined(tokio::task::spawn_blocking(|| Ok::<_, std::io::Error>(7)).await);
        assert_eq!(ok.unwrap(), 7);
        let failed =
            joined(tokio::task::spawn_blocking(|| Err::<u8, _>(std::io::Error::other("disk full"))).await);
        assert_eq!(failed.unwrap_err().to_string(), "disk full");
        let died = joined::<u8>(tokio::task::spawn_blocking(|| panic!("boom")).await);
        assert!(!format!("{}", died.unwrap_err()).contains("Err("));
    }
}
