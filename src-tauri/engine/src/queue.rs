//! The download queue: at most `max_active` items download at once; the
//! others wait in state `queued`. Which items run is a pure decision
//! ([`admitted`]) over every item that wants to download, in this order:
//!
//! 1. items a player is reading (always run: a player never waits for the
//!    queue, even past `max_active`);
//! 2. the next episodes of a collection item being played ([`PLAY_AHEAD`]
//!    of them, with their subtitles), so the player goes on without a wait;
//!    "being played" is the latest item of the collection a player was
//!    started on or read, so it holds after the player has the whole
//!    episode in its buffer;
//! 3. items moved to the front, the latest move first (kept across
//!    restarts, in each item's state);
//! 4. the rest in the order they were added.
//!
//! [`rebalance`] applies it: items that gain or lose their turn are woken,
//! and their supervisors start or stop background fetches (a queued item
//! still serves its readers: see `download::decide`). It runs on each
//! change that matters (add, remove, pause, resume, complete, fail, a
//! reader opening or closing, a move to the front) and on the cache's
//! periodic check.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::catalog::Catalog;
use crate::config::LiveLimits;
use crate::item::Item;

/// Episodes after the one being played that download ahead of the queue.
pub const PLAY_AHEAD: usize = 2;

/// One item that wants to download, as the queue sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    /// Unix milliseconds of the addition.
    pub created: u64,
    /// A player reads it.
    pub reading: bool,
    /// Its place among the episodes played ahead (0: the next one).
    pub ahead: Option<usize>,
    /// When it was moved to the front (larger is later).
    pub front: Option<u64>,
}

/// The ids of the candidates that may download now.
pub fn admitted(candidates: &[Candidate], max_active: usize) -> HashSet<String> {
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by(|a, b| {
        b.reading
            .cmp(&a.reading)
            .then_with(|| match (a.ahead, b.ahead) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| b.front.cmp(&a.front))
            .then_with(|| a.created.cmp(&b.created))
            .then_with(|| a.id.cmp(&b.id))
    });
    let readers = order.iter().filter(|c| c.reading).count();
    order
        .into_iter()
        .take(max_active.max(readers))
        .map(|c| c.id.clone())
        .collect()
}

/// The queue's state in the engine, with what deciding it looks at: the
/// items (and their collections) and the limit of items downloading at once.
pub(crate) struct Queue {
    catalog: Arc<Catalog>,
    limits: LiveLimits,
    admitted: Mutex<HashSet<String>>,
    /// The stamp of the latest move to the front (see [`Queue::move_to_front`]).
    last_move: AtomicU64,
    /// The latest item of each collection a player was started on or read,
    /// by collection id: its next episodes keep downloading ahead after the
    /// player has buffered it whole and closed its connection.
    watched: Mutex<HashMap<String, String>>,
}

impl Queue {
    pub fn new(catalog: Arc<Catalog>, limits: LiveLimits) -> Queue {
        Queue {
            catalog,
            limits,
            admitted: Mutex::default(),
            last_move: AtomicU64::new(0),
            watched: Mutex::default(),
        }
    }

    fn admitted(&self) -> MutexGuard<'_, HashSet<String>> {
        self.admitted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether item `id` may download in the background now.
    pub fn admits(&self, id: &str) -> bool {
        self.admitted().contains(id)
    }

    /// Item `id` is being played: the episodes after it in its collection
    /// go ahead of the queue (until another of its items is played).
    pub fn played(&self, id: &str) {
        if let Some(collection) = self.catalog.collections.of(id) {
            let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            watched.insert(collection, id.to_string());
        }
    }

    /// Puts `item` ahead of every queued item (not of items being read or
    /// played ahead). The stamp is kept in the item's state, so the order
    /// outlives a restart: unix milliseconds, or one past the latest move
    /// when two come within a millisecond.
    pub fn move_to_front(&self, item: &Item) {
        let now = crate::clock::unix_millis();
        let previous = self
            .last_move
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(now.max(last + 1)))
            .unwrap_or(now);
        item.lock().meta.front = Some(now.max(previous + 1));
    }
}

/// Decides which items run and wakes those whose turn changed.
pub(crate) fn rebalance(queue: &Queue) {
    let items: Vec<_> = queue.catalog.items().values().cloned().collect();
    let mut candidates = Vec::new();
    let mut reading_now = Vec::new();
    {
        for item in &items {
            let st = item.lock();
            let wants = !item.damaged
                && !st.removed
                && !st.meta.paused
                && st.meta.failure.is_none()
                && st.hold.is_none()
                && !st.size_known_and_complete();
            let reading = item.in_use();
            if reading {
                reading_now.push(item.id().to_string());
            }
            if wants {
                candidates.push(Candidate {
                    id: item.id().to_string(),
                    created: item.created,
                    reading,
                    ahead: None,
                    front: st.meta.front,
                });
            }
        }
    }
    // A subtitle read is its video's, not a move to another episode.
    for id in &reading_now {
        if !queue.catalog.collections.is_subtitle(id) {
            queue.played(id);
        }
    }
    let playing: Vec<String> = {
        let mut watched = queue.watched.lock().unwrap_or_else(|p| p.into_inner());
        // An item removed since it was played leads nowhere.
        watched.retain(|_, id| items.iter().any(|i| i.id() == id.as_str()));
        watched.values().cloned().collect()
    };
    let ahead = play_ahead(&queue.catalog, &playing);
    for c in &mut candidates {
        c.ahead = ahead.get(&c.id).copied();
    }
    let now = admitted(&candidates, queue.limits.get().max_active);
    let changed: Vec<String> = {
        let mut current = queue.admitted();
        let changed = current.symmetric_difference(&now).cloned().collect();
        *current = now;
        changed
    };
    if changed.is_empty() {
        return;
    }
    let items = queue.catalog.items();
    for id in changed {
        if let Some(item) = items.get(&id) {
            item.kick.notify_one();
        }
    }
}

/// The episodes after each item being played, with their subtitles: their
/// place in the play-ahead order.
fn play_ahead(catalog: &Catalog, playing: &[String]) -> HashMap<String, usize> {
    let mut ahead = HashMap::new();
    for id in playing {
        let Some(cid) = catalog.collections.of(id) else {
            continue;
        };
        let Ok(collection) = catalog.collections.get(&cid) else {
            continue;
        };
        let Some(at) = collection.items.iter().position(|i| i == id) else {
            continue;
        };
        let next = collection.items.iter().skip(at + 1).take(PLAY_AHEAD);
        for (rank, video) in next.enumerate() {
            let subs = collection.subtitles.get(video).into_iter().flatten();
            for member in std::iter::once(video).chain(subs) {
                let slot = ahead.entry(member.clone()).or_insert(rank);
                *slot = (*slot).min(rank);
            }
        }
        // The subtitles of the episode being played come first of all.
        for sub in collection.subtitles.get(id).into_iter().flatten() {
            ahead.insert(sub.clone(), 0);
        }
    }
    ahead
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, created: u64) -> Candidate {
        Candidate {
            id: id.into(),
            created,
            reading: false,
            ahead: None,
            front: None,
        }
    }

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_queue_decides_who_runs() {
        let reading = |mut x: Candidate| {
            x.reading = true;
            x
        };
        let ahead = |mut x: Candidate, n| {
            x.ahead = Some(n);
            x
        };
        let front = |mut x: Candidate, n| {
            x.front = Some(n);
            x
        };
        let cases: Vec<(&str, Vec<Candidate>, usize, &[&str])> = vec![
            (
                "first added first",
                vec![c("a", 1), c("b", 2), c("c", 3), c("d", 4)],
                3,
                &["a", "b", "c"],
            ),
            ("fewer than the limit", vec![c("a", 1)], 3, &["a"]),
            (
                "a read item goes first",
                vec![c("a", 1), c("b", 2), reading(c("z", 9))],
                2,
                &["a", "z"],
            ),
            (
                "readers run even past the limit",
                vec![c("a", 1), reading(c("y", 8)), reading(c("z", 9))],
                1,
                &["y", "z"],
            ),
            (
                "the next episodes go ahead of the queue",
                vec![c("a", 1), c("b", 2), ahead(c("e3", 7), 1), ahead(c("e2", 6), 0)],
                2,
                &["e2", "e3"],
            ),
            (
                "moved to the front, the latest move first",
                vec![c("a", 1), c("b", 2), front(c("x", 8), 1), front(c("y", 9), 2)],
                1,
                &["y"],
            ),
            (
                "zero runs only what players read",
                vec![c("a", 1), c("b", 2)],
                0,
                &[],
            ),
        ];
        for (name, candidates, max, want) in cases {
            assert_eq!(admitted(&candidates, max), set(want), "{name}");
        }
    }
}
