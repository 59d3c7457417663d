//! The cache's limits: a size cap (least recently used items are evicted
//! first; pinned items, items being read and items being downloaded are
//! kept) and a minimum of free disk space: fetches write only the space
//! granted to them above it (see [`crate::disk`]); this periodic check
//! admits known-size downloads against it and lets items that waited for
//! space go on when it returns.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cache_plan::{self, Disk, Entry, Verdict};
use crate::catalog::Catalog;
use crate::config::LiveLimits;
use crate::disk;
use crate::error::{Error, Result};
use crate::events::{Event, RemoveReason};
use crate::item::Item;
use crate::queue::{self, Queue};
use crate::size::format_size;
use crate::watched;

/// How often the limits are checked.
const PERIOD: Duration = Duration::from_millis(500);

/// What checking the limits works with.
pub(crate) struct Cache {
    pub catalog: Arc<Catalog>,
    pub limits: LiveLimits,
    /// Grants not written yet are space spoken for (see `disk`).
    pub space: Arc<disk::Space>,
    /// Told when an item goes (its turn to download frees).
    pub queue: Arc<Queue>,
    /// Serializes checks, so two never evict for the same shortfall.
    enforcing: tokio::sync::Mutex<()>,
}

impl Cache {
    pub fn new(
        catalog: Arc<Catalog>,
        limits: LiveLimits,
        space: Arc<disk::Space>,
        queue: Arc<Queue>,
    ) -> Cache {
        Cache {
            catalog,
            limits,
            space,
            queue,
            enforcing: tokio::sync::Mutex::new(()),
        }
    }
}

/// Checks the limits every [`PERIOD`] until `cancel`.
pub(crate) async fn run(cache: Arc<Cache>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = cancel.cancelled() => return,
        }
        enforce(&cache).await;
        // A backstop: a reader that opened and closed without a kick.
        queue::rebalance(&cache.queue);
    }
}

/// Checks the cap and the free space once: evicts, holds or releases, as
/// [`cache_plan::plan`] decides from what is measured here.
pub(crate) async fn enforce(cache: &Cache) {
    let _one_at_a_time = cache.enforcing.lock().await;
    // Watched items whose time is up go first: they make room too.
    if let Some(days) = cache.limits.get().remove_watched_after_days {
        remove_watched(cache, days).await;
    }
    let items: Vec<Arc<Item>> = cache.catalog.items().values().cloned().collect();
    let store = cache.catalog.store.clone();
    let ids: Vec<String> = items.iter().map(|i| i.id().to_string()).collect();
    let measured = tokio::task::spawn_blocking(move || {
        let allocated: Vec<u64> = ids.iter().map(|id| store.allocated(id)).collect();
        (allocated, store.free_space().ok())
    })
    .await;
    let Ok((allocated, free)) = measured else { return };
    let entries: Vec<Entry> = items
        .iter()
        .zip(allocated)
        .map(|(item, bytes)| entry(item, bytes))
        .collect();
    let disk = Disk {
        free: free.unwrap_or(u64::MAX),
        outstanding: cache.space.outstanding(),
    };
    let limits = cache.limits.get();
    let plan = cache_plan::plan(&entries, &limits, disk);

    for id in plan.evict {
        if let Ok(item) = cache.catalog.item(&id) {
            tracing::info!(
                "evicting item {id} to keep the cache under {}",
                format_size(limits.cache_cap)
            );
            let _ = remove_item(&cache.catalog, &cache.queue, &item, RemoveReason::Evicted).await;
        }
    }
    for (id, verdict) in plan.items {
        let Some(item) = items.iter().find(|i| i.id() == id) else {
            continue;
        };
        match verdict {
            Verdict::Fail(reason) => fail(&cache.catalog, item, reason),
            Verdict::Go {
                hold,
                disk_full_over,
                space_wait_over,
            } => {
                {
                    let mut st = item.lock();
                    // Finished since it was measured: nothing to hold.
                    if st.size_known_and_complete() || st.meta.failure.is_some() {
                        continue;
                    }
                    st.disk_full &= !disk_full_over;
                    st.space_wait &= !space_wait_over;
                }
                set_hold(&cache.catalog, item, hold);
            }
        }
    }
}

/// Removes the watched items whose time is up (reason [`RemoveReason::Watched`]).
async fn remove_watched(cache: &Cache, days: u32) {
    let items: Vec<Arc<Item>> = cache.catalog.items().values().cloned().collect();
    let watched: Vec<watched::Watched> = items
        .iter()
        .filter_map(|item| {
            let st = item.lock();
            let playback = &st.meta.playback;
            let watched_at = playback.watched_at.filter(|_| playback.watched)?;
            Some(watched::Watched {
                id: item.id().to_string(),
                watched_at,
                keep: st.meta.pinned || item.in_use(),
            })
        })
        .collect();
    for id in watched::expired(&watched, crate::clock::unix_millis(), days) {
        if let Ok(item) = cache.catalog.item(&id) {
            tracing::info!("removing item {id}: watched more than {days} days ago");
            let _ = remove_item(&cache.catalog, &cache.queue, &item, RemoveReason::Watched).await;
        }
    }
}

/// The item as the check sees it, its data file occupying `allocated` bytes.
fn entry(item: &Item, allocated: u64) -> Entry {
    let st = item.lock();
    Entry {
        id: item.id().to_string(),
        allocated,
        size: st.meta.size,
        present: st.written.total(),
        complete: st.size_known_and_complete(),
        failed: st.meta.failure.is_some(),
        paused: st.meta.paused,
        pinned: st.meta.pinned,
        removed: st.removed,
        in_use: item.in_use(),
        last_access: st.meta.last_access,
        created: item.created,
        held: st.hold.is_some(),
        disk_full: st.disk_full,
        space_wait: st.space_wait,
    }
}

fn set_hold(catalog: &Catalog, item: &Item, hold: Option<String>) {
    let changed = {
        let mut st = item.lock();
        if st.hold == hold {
            false
        } else {
            if hold.is_some() {
                st.cancel_fetches();
            }
            st.hold = hold;
            true
        }
    };
    if changed {
        item.kick.notify_one();
        catalog.emit_state(item);
    }
}

fn fail(catalog: &Catalog, item: &Item, reason: String) {
    {
        let mut st = item.lock();
        st.meta.failure = Some(reason);
        st.cancel_fetches();
    }
    item.notify_readers();
    item.kick.notify_one();
    catalog.emit_state(item);
}

/// Removes an item: open responses end, fetches stop, files are deleted.
pub(crate) async fn remove_item(
    catalog: &Catalog,
    queue: &Queue,
    item: &Item,
    reason: RemoveReason,
) -> Result<()> {
    {
        let mut st = item.lock();
        st.removed = true;
        st.cancel_fetches();
    }
    item.cancel.cancel();
    item.notify_readers();
    catalog.items().remove(item.id());
    // Let a checkpoint in progress finish before the files go.
    let _saving = item.save_lock.lock().await;
    let store = catalog.store.clone();
    let id = item.id().to_string();
    tokio::task::spawn_blocking(move || store.remove_item(&id))
        .await
        .map_err(|e| Error::io("remove task failed", std::io::Error::other(e)))?
        .map_err(|e| Error::io(format!("cannot delete item {}", item.id()), e))?;
    catalog.emit(Event::Removed {
        id: item.id().to_string(),
        reason,
    });
    queue::rebalance(queue);
    Ok(())
}
