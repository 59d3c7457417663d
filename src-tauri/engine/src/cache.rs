//! The cache's limits: a size cap (least recently used items are evicted
//! first; pinned items, items being read and items being downloaded are
//! kept) and a minimum of free disk space: fetches write only the space
//! granted to them above it (see [`crate::disk`]); this periodic check
//! admits known-size downloads against it and lets items that waited for
//! space go on when it returns.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::{Limits, LiveLimits};
use crate::disk;
use crate::error::{Error, Result};
use crate::events::{Event, RemoveReason};
use crate::item::{Item, LiveState};
use crate::queue::{self, Queue};
use crate::size::format_size;

/// How often the limits are checked.
const PERIOD: Duration = Duration::from_millis(500);

/// After a write failed for lack of space, downloads resume once this much
/// more than the minimum is free again (so they do not flap at the edge).
const DISK_FULL_MARGIN: u64 = 4 << 20;

/// One item as eviction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub id: String,
    /// Bytes it occupies or, while downloading, will occupy once complete.
    pub bytes: u64,
    pub last_access: u64,
    /// Not pinned, not being read, not being downloaded.
    pub evictable: bool,
}

/// A watched item as the clean-up of watched items sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub id: String,
    /// Unix milliseconds it became watched.
    pub watched_at: u64,
    /// Pinned, or being read.
    pub keep: bool,
}

/// The watched items to remove at `now` (Unix milliseconds) when they go
/// `after_days` days after they were watched.
pub fn expired_watched(watched: &[Watched], now: u64, after_days: u32) -> Vec<String> {
    let after = u64::from(after_days) * 24 * 60 * 60 * 1000;
    watched
        .iter()
        .filter(|w| !w.keep && now.saturating_sub(w.watched_at) >= after)
        .map(|w| w.id.clone())
        .collect()
}

/// The items to evict, oldest access first, until `cap` holds; `None` when
/// even evicting every evictable item would not be enough.
pub fn choose_evictions(usage: &[Usage], cap: u64) -> (Vec<String>, bool) {
    let mut total: u64 = usage.iter().map(|u| u.bytes).sum();
    let mut candidates: Vec<&Usage> = usage.iter().filter(|u| u.evictable).collect();
    candidates.sort_by_key(|u| (u.last_access, u.id.clone()));
    let mut victims = Vec::new();
    for u in candidates {
        if total <= cap {
            break;
        }
        total -= u.bytes;
        victims.push(u.id.clone());
    }
    (victims, total <= cap)
}

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

/// Checks the cap and the free space once: evicts, holds or releases.
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

    let limits = cache.limits.get();
    let cap = limits.cache_cap;
    let usage: Vec<Usage> = items
        .iter()
        .zip(&allocated)
        .map(|(item, &bytes)| {
            let st = item.lock();
            let incomplete = !st.size_known_and_complete() && st.meta.failure.is_none();
            // A download counts with the size it will have once complete.
            let projected = match st.meta.size {
                Some(size) if incomplete => bytes.max(size),
                _ => bytes,
            };
            let wanted = incomplete && !st.meta.paused;
            Usage {
                id: item.id().to_string(),
                bytes: projected,
                last_access: st.meta.last_access,
                evictable: !st.meta.pinned && !wanted && !item.in_use(),
            }
        })
        .collect();
    let (victims, fits) = choose_evictions(&usage, cap);
    for id in victims {
        if let Ok(item) = cache.catalog.item(&id) {
            tracing::info!("evicting item {id} to keep the cache under {}", format_size(cap));
            let _ = remove_item(&cache.catalog, &cache.queue, &item, RemoveReason::Evicted).await;
        }
    }

    let free = free.unwrap_or(u64::MAX);
    let outstanding = cache.space.outstanding();
    let held_for_space = admission(&items, free.saturating_sub(limits.min_free));
    for item in &items {
        let too_big = {
            let st = item.lock();
            if st.size_known_and_complete() || st.meta.failure.is_some() {
                continue;
            }
            st.meta.size.filter(|&size| size > cap)
        };
        if let Some(size) = too_big {
            let reason = format!(
                "the file ({}) is larger than the cache cap ({})",
                format_size(size),
                format_size(cap)
            );
            fail(&cache.catalog, item, reason);
            continue;
        }
        let space = Space {
            free,
            outstanding,
            admission: held_for_space
                .iter()
                .find(|(id, _)| id == item.id())
                .map(|(_, left)| *left),
        };
        let hold = hold_reason(&mut item.lock(), &space, &limits, fits);
        set_hold(&cache.catalog, item, hold);
    }
}

/// Removes the watched items whose time is up.
async fn remove_watched(cache: &Cache, days: u32) {
    let items: Vec<Arc<Item>> = cache.catalog.items().values().cloned().collect();
    let watched: Vec<Watched> = items
        .iter()
        .filter_map(|item| {
            let st = item.lock();
            let playback = &st.meta.playback;
            let watched_at = playback.watched_at.filter(|_| playback.watched)?;
            Some(Watched {
                id: item.id().to_string(),
                watched_at,
                keep: st.meta.pinned || item.in_use(),
            })
        })
        .collect();
    for id in expired_watched(&watched, crate::engine::unix_millis(), days) {
        if let Ok(item) = cache.catalog.item(&id) {
            tracing::info!("removing item {id}: watched more than {days} days ago");
            let _ = remove_item(&cache.catalog, &cache.queue, &item, RemoveReason::Watched).await;
        }
    }
}

/// The known-size downloads that must wait for others to finish before
/// their remaining bytes fit above the reserve (see [`disk::admit`]), each
/// with the room left for it.
fn admission(items: &[Arc<Item>], room: u64) -> Vec<(String, u64)> {
    let claims: Vec<disk::Claim> = items
        .iter()
        .filter_map(|item| {
            let st = item.lock();
            let size = st.meta.size?;
            let downloading = st.meta.failure.is_none() && !st.meta.paused && !st.removed;
            (downloading && !st.size_known_and_complete()).then(|| disk::Claim {
                id: item.id().to_string(),
                need: size.saturating_sub(st.written.total()),
                running: st.hold.is_none(),
                created: item.created,
            })
        })
        .collect();
    disk::admit(&claims, room)
}

/// Free space as measured for one check.
struct Space {
    free: u64,
    /// Granted to fetches and not written yet.
    outstanding: u64,
    /// Admission holds the item back: the room left for it.
    admission: Option<u64>,
}

/// Why an unfinished item must not download now, if it must not.
fn hold_reason(st: &mut LiveState, space: &Space, limits: &Limits, fits: bool) -> Option<String> {
    let free = space.free;
    if st.disk_full && free >= limits.min_free.saturating_add(DISK_FULL_MARGIN) {
        st.disk_full = false;
    }
    let need = st.meta.size.map(|size| size.saturating_sub(st.written.total()));
    if st.space_wait
        && disk::resumes(
            free,
            space.outstanding,
            limits.min_free,
            limits.connections_per_item,
            need,
        )
    {
        st.space_wait = false;
    }
    if st.disk_full {
        Some(format!("the disk is full ({} free)", format_size(free)))
    } else if st.space_wait || free < limits.min_free {
        Some(disk::waiting_reason(free, limits.min_free))
    } else if let (Some(left), Some(need)) = (space.admission, need) {
        Some(format!(
            "waiting for disk space: {} to download, {} free above the {} reserve after other downloads",
            format_size(need),
            format_size(left),
            format_size(limits.min_free)
        ))
    } else if !fits && st.meta.size.is_some() {
        Some(format!(
            "waiting for room in the cache (cap {})",
            format_size(limits.cache_cap)
        ))
    } else {
        None
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

#[cfg(test)]
mod tests {
    use super::*;

    fn u(id: &str, bytes: u64, last_access: u64, evictable: bool) -> Usage {
        Usage {
            id: id.into(),
            bytes,
            last_access,
            evictable,
        }
    }

    #[test]
    fn watched_items_go_after_their_days_unless_kept() {
        const DAY: u64 = 24 * 60 * 60 * 1000;
        let w = |id: &str, watched_at: u64, keep: bool| Watched {
            id: id.to_string(),
            watched_at,
            keep,
        };
        let watched = [
            w("old", 0, false),
            w("pinned", 0, true),
            w("recent", 10 * DAY - 1, false),
            w("edge", 3 * DAY, false),
        ];
        // (now, days) → removed
        let table: &[(u64, u32, &[&str])] = &[
            (10 * DAY, 7, &["old", "edge"]),
            (10 * DAY, 10, &["old"]),
            (10 * DAY, 0, &["old", "recent", "edge"]),
            (0, 1, &[]),
        ];
        for (now, days, want) in table {
            assert_eq!(
                expired_watched(&watched, *now, *days),
                *want,
                "{days} days at {now}"
            );
        }
    }

    #[test]
    fn evicts_least_recently_used_first_until_under_cap() {
        let usage = [
            u("new", 40, 30, true),
            u("old", 40, 10, true),
            u("mid", 40, 20, true),
        ];
        assert_eq!(choose_evictions(&usage, 100), (vec!["old".to_string()], true));
        assert_eq!(
            choose_evictions(&usage, 50),
            (vec!["old".to_string(), "mid".to_string()], true)
        );
        assert_eq!(choose_evictions(&usage, 120), (vec![], true));
    }

    #[test]
    fn pinned_in_use_and_downloading_items_are_kept() {
        let usage = [
            u("pinned", 60, 1, false),
            u("free", 30, 50, true),
            u("reading", 30, 2, false),
        ];
        assert_eq!(choose_evictions(&usage, 100), (vec!["free".to_string()], true));
        assert_eq!(choose_evictions(&usage, 50), (vec!["free".to_string()], false));
    }
}
