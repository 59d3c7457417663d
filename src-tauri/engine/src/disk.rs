//! The minimum free space (`Limits::min_free`) as a budget that writes draw
//! from, so that it holds at any download speed.
//!
//! Sampling free space now and then cannot keep a reserve: a fetch at a few
//! hundred MiB/s runs through a 1 GiB reserve between two samples. Instead,
//! every fetch writes only bytes it was granted. A grant is bounded
//! ([`GRANT`]) and is given only if, measured with `statvfs` at that moment,
//! `free - outstanding grants >= min_free + grant`: the bytes granted but not
//! yet written are counted as used. A write takes its bytes from its grant
//! and gives them back to the ledger only once it is in the file (free space
//! has then dropped by as much), so what is counted as used is never less
//! than what will be.
//! Free space therefore stays at or above the reserve, short only of the
//! block rounding of a write and what other programs write meanwhile; the
//! promise made (and tested) is "never below the reserve minus one grant".
//!
//! Near the edge grants shrink to what is left. A fetch that cannot get
//! one gives back what it held and, while other fetches of its item still
//! hold granted bytes, waits for them to be written; the last one refused
//! stops its item, which waits ("waiting for disk space: …") until
//! [`resumes`] says there is room for a grant per connection (or for the
//! rest of the item) again, checked with the cache's limits (see `cache`).
//! Meanwhile bytes on disk stream as ever, and a read of bytes not there
//! waits for them like any read ahead of the download.
//!
//! Grants are per fetch (tagged with their item): a fetch's writes are
//! sequential, so its grant needs no further bookkeeping, and dropping the [`Grant`] when
//! the fetch ends (done, stopped, failed, cancelled) returns what is left.
//!
//! Admission ([`admit`]) is the other half: a known-size download claims
//! what it still needs, as it does against the cache cap, so that two
//! downloads do not each fill half the disk and both stall.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::size::format_size;
use crate::store::Store;

/// The most a fetch is granted at once: a few statvfs calls per second at
/// LAN speed, and the bound on how far one grant may overshoot.
pub const GRANT: u64 = 4 << 20;

/// Bytes free beyond the reserve and what is already granted.
pub fn room(free: u64, outstanding: u64, min_free: u64) -> u64 {
    free.saturating_sub(min_free).saturating_sub(outstanding)
}

/// The bytes to grant a fetch that must write `want` more than it holds
/// and will write at most `span` more in all: `None` when even `want` does
/// not fit above the reserve. At most [`GRANT`] (or `want`, if larger), and
/// never more than the room: near the edge, grants shrink rather than stop
/// a fetch that still fits.
pub fn grant_size(free: u64, outstanding: u64, min_free: u64, want: u64, span: u64) -> Option<u64> {
    let room = room(free, outstanding, min_free);
    if want > room {
        return None;
    }
    Some(GRANT.min(span).max(want).min(room))
}

/// Whether an item waiting for space may go on: once there is room for a
/// full grant for each of its `connections`, or for all it still `need`s
/// when that is known and less. A refused fetch stops its item's other
/// fetches, whose unspent grants (at most a grant each, and together less
/// than the item still needs) return to the room; resuming on less would
/// let the item start, stop and start again at the edge, a new origin
/// request each time.
pub fn resumes(free: u64, outstanding: u64, min_free: u64, connections: usize, need: Option<u64>) -> bool {
    let enough = GRANT.saturating_mul(connections.max(1) as u64);
    room(free, outstanding, min_free) >= need.map_or(enough, |need| need.min(enough))
}

/// A known-size download as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: String,
    /// Bytes it still has to write.
    pub need: u64,
    /// Downloading now (not held back): it keeps its place ahead of the
    /// waiting ones, so an admitted download is not pre-empted.
    pub running: bool,
    /// Unix milliseconds it was added: first come, first served.
    pub created: u64,
}

/// The items to hold back, each with the room left for it: walking the
/// claims (running ones first, then oldest first), each must fit above the
/// reserve in what the ones before it leave (`room`: free space above the
/// reserve). The first one always goes: grants keep the reserve, and it can
/// download (and be played) as far as space allows before it waits.
pub fn admit(claims: &[Claim], room: u64) -> Vec<(String, u64)> {
    let mut order: Vec<&Claim> = claims.iter().collect();
    order.sort_by_key(|c| (!c.running, c.created, c.id.clone()));
    let mut left = room;
    let mut held = Vec::new();
    for (i, claim) in order.into_iter().enumerate() {
        if i == 0 || claim.need <= left {
            left = left.saturating_sub(claim.need);
        } else {
            held.push((claim.id.clone(), left));
        }
    }
    held
}

/// Why an item is held for disk space: the same words wherever it is shown.
pub fn waiting_reason(free: u64, min_free: u64) -> String {
    format!(
        "waiting for disk space: {} free, keeping {}",
        format_size(free),
        format_size(min_free)
    )
}

/// One fetch's grant in the ledger.
#[derive(Debug)]
struct Entry {
    item: String,
    /// Granted and not yet written. Shared with the fetch's [`Grant`]: the
    /// fetch spends from it on every write without taking the ledger's lock.
    left: Arc<AtomicU64>,
}

impl Entry {
    fn left(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }
}

/// Grants outstanding, by fetch.
#[derive(Debug, Default)]
struct Ledger {
    grants: HashMap<u64, Entry>,
    next: u64,
}

impl Ledger {
    fn outstanding(&self) -> u64 {
        self.grants.values().map(Entry::left).sum()
    }

    /// Another fetch of `item` than `key` still holds granted bytes.
    fn siblings_hold(&self, item: &str, key: u64) -> bool {
        self.grants
            .iter()
            .any(|(k, e)| *k != key && e.item == item && e.left() > 0)
    }
}

/// The engine's ledger of grants and the filesystem it measures.
pub(crate) struct Space {
    store: Store,
    ledger: Mutex<Ledger>,
}

/// A grant could not be given. Carries what was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoom {
    pub free: u64,
    pub min_free: u64,
    /// Other fetches of the item still hold granted bytes: this one waits
    /// for them to be written (or returned) before its item waits. Stopping
    /// the item at once would throw those grants away, and near the edge
    /// could stop it before its first bytes were written.
    pub siblings_hold: bool,
}

impl NoRoom {
    pub fn reason(&self) -> String {
        waiting_reason(self.free, self.min_free)
    }
}

impl Space {
    pub fn new(store: Store) -> Arc<Space> {
        Arc::new(Space {
            store,
            ledger: Mutex::new(Ledger::default()),
        })
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes granted and not yet written, over all fetches.
    pub fn outstanding(&self) -> u64 {
        self.ledger().outstanding()
    }

    /// An empty grant for one fetch of `item`; returned to the ledger when
    /// dropped.
    pub fn grant(self: &Arc<Self>, item: &str) -> Grant {
        let left = Arc::new(AtomicU64::new(0));
        let mut ledger = self.ledger();
        ledger.next += 1;
        let key = ledger.next;
        let entry = Entry {
            item: item.to_string(),
            left: left.clone(),
        };
        ledger.grants.insert(key, entry);
        Grant {
            space: self.clone(),
            key,
            item: item.to_string(),
            left,
        }
    }
}

/// One fetch's grant. Before a write, [`Grant::cover`] it; after, [`Grant::spend`].
pub(crate) struct Grant {
    space: Arc<Space>,
    key: u64,
    item: String,
    /// Granted and not yet written: the ledger reads the same counter.
    left: Arc<AtomicU64>,
}

impl Grant {
    /// Whether `n` more bytes are granted already: the common case, with
    /// no lock and no measurement.
    pub fn holds(&self, n: u64) -> bool {
        n <= self.left.load(Ordering::Acquire)
    }

    /// Makes sure `n` bytes may be written, asking for the next grant if
    /// needed; `span` is the most the fetch will still write. Refused, the
    /// grant gives back what it held (less than `n`, of no use to it now).
    pub fn cover(&mut self, n: u64, span: u64, min_free: u64) -> Result<(), NoRoom> {
        if self.holds(n) {
            return Ok(());
        }
        let ledger = self.space.ledger();
        let left = self.left.load(Ordering::Acquire);
        // Measured under the lock, so two fetches never spend the same room.
        // A statvfs is a few microseconds: as cheap as the write it guards.
        // Unmeasurable: grant, and leave it to ENOSPC (see `download`).
        let free = self.space.store.free_space().unwrap_or(u64::MAX);
        let Some(granted) = grant_size(free, ledger.outstanding(), min_free, n - left, span) else {
            self.left.store(0, Ordering::Release);
            return Err(NoRoom {
                free,
                min_free,
                siblings_hold: ledger.siblings_hold(&self.item, self.key),
            });
        };
        self.left.store(left + granted, Ordering::Release);
        Ok(())
    }

    /// `n` bytes were written (or will not be): they leave the ledger. Only
    /// once they are in the file, since free space has then dropped by them.
    pub fn spend(&mut self, n: u64) {
        let left = self.left.load(Ordering::Acquire);
        self.left.store(left.saturating_sub(n), Ordering::Release);
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.space.ledger().grants.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn grants_keep_the_reserve_and_the_outstanding() {
        // (free, outstanding, min_free, want, span) -> grant
        let table = [
            // Plenty of room: one full grant.
            ((100 * MIB, 0, 8 * MIB, 64 << 10, u64::MAX), Some(GRANT)),
            // Others' grants count as used.
            ((20 * MIB, 10 * MIB, 8 * MIB, 64 << 10, u64::MAX), Some(2 * MIB)),
            // Near the edge: what is left, as long as the write fits.
            ((9 * MIB, 0, 8 * MIB, 64 << 10, u64::MAX), Some(MIB)),
            ((8 * MIB + 1000, 0, 8 * MIB, 1000, u64::MAX), Some(1000)),
            // The write does not fit: none.
            ((8 * MIB + 1000, 0, 8 * MIB, 1001, u64::MAX), None),
            ((7 * MIB, 0, 8 * MIB, 1, u64::MAX), None),
            ((20 * MIB, 12 * MIB, 8 * MIB, 1, u64::MAX), None),
            // A fetch near its end is granted what it still writes.
            ((100 * MIB, 0, 8 * MIB, 1000, 5000), Some(5000)),
            // A write larger than a grant gets what it needs.
            ((100 * MIB, 0, 8 * MIB, 6 * MIB, u64::MAX), Some(6 * MIB)),
            // No reserve: still never more than is free.
            ((3 * MIB, 0, 0, 1, u64::MAX), Some(3 * MIB)),
        ];
        for (i, ((free, out, min, want, span), expected)) in table.into_iter().enumerate() {
            assert_eq!(grant_size(free, out, min, want, span), expected, "row {i}");
        }
    }

    #[test]
    fn waiting_items_resume_with_a_grant_for_each_connection() {
        let four = 4 * GRANT;
        assert!(!resumes(8 * MIB + four - 1, 0, 8 * MIB, 4, None));
        assert!(resumes(8 * MIB + four, 0, 8 * MIB, 4, None));
        assert!(!resumes(8 * MIB + four, 1, 8 * MIB, 4, None));
        assert!(resumes(8 * MIB + GRANT, 0, 8 * MIB, 1, None));
        assert!(
            resumes(8 * MIB + GRANT, 0, 8 * MIB, 0, None),
            "at least one connection"
        );
        assert!(!resumes(0, 0, 8 * MIB, 1, None));
        // Room for all it still needs: it can complete.
        assert!(resumes(8 * MIB + 3 * MIB, 0, 8 * MIB, 4, Some(3 * MIB)));
        assert!(!resumes(8 * MIB + 3 * MIB - 1, 0, 8 * MIB, 4, Some(3 * MIB)));
        assert!(!resumes(8 * MIB + four - 1, 0, 8 * MIB, 4, Some(100 * MIB)));
    }

    fn claim(id: &str, need: u64, running: bool, created: u64) -> Claim {
        Claim {
            id: id.into(),
            need,
            running,
            created,
        }
    }

    #[test]
    fn admission_counts_the_needs_of_downloads_ahead() {
        let ids = |held: Vec<(String, u64)>| held.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        // Both fit: none held.
        let both = [claim("a", 10, true, 1), claim("b", 10, false, 2)];
        assert!(admit(&both, 20).is_empty());
        // The second does not fit beside the first: it waits, told the room left.
        assert_eq!(admit(&both, 15), vec![("b".to_string(), 5)]);
        // A running download keeps its place ahead of an older waiting one.
        let order = [claim("old", 10, false, 1), claim("run", 10, true, 2)];
        assert_eq!(ids(admit(&order, 15)), ["old"]);
        // The first goes even when it does not fit as a whole.
        assert!(admit(&[claim("big", 100, false, 1)], 10).is_empty());
        // A small one behind a big one still goes if it fits in what is left.
        let three = [
            claim("a", 5, true, 1),
            claim("b", 50, false, 2),
            claim("c", 4, false, 3),
        ];
        assert_eq!(ids(admit(&three, 10)), ["b"]);
        // Oldest first among the waiting.
        let waiting = [claim("late", 8, false, 9), claim("early", 8, false, 3)];
        assert_eq!(ids(admit(&waiting, 10)), ["late"]);
    }

    #[test]
    fn a_grant_counts_until_written_and_is_returned_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let space = Space::new(Store::open(dir.path()).unwrap());
        let mut a = space.grant("i");
        let mut b = space.grant("i");
        let mut other = space.grant("j");
        a.cover(1000, u64::MAX, 0).expect("room on the test disk");
        assert_eq!(space.outstanding(), GRANT);
        a.spend(1000);
        assert_eq!(space.outstanding(), GRANT - 1000);
        // Within what is left: no new grant.
        a.cover(GRANT - 1000, u64::MAX, 0).unwrap();
        assert_eq!(space.outstanding(), GRANT - 1000);
        b.cover(10, 10, 0).unwrap();
        assert_eq!(space.outstanding(), GRANT - 1000 + 10);
        // A reserve larger than the disk: refused, with what was measured;
        // b gives back its 10 bytes, and a sibling still holds a grant.
        let refused = b.cover(11, u64::MAX, u64::MAX).unwrap_err();
        assert_eq!(refused.min_free, u64::MAX);
        assert!(refused.siblings_hold);
        assert!(refused.reason().starts_with("waiting for disk space: "));
        assert_eq!(space.outstanding(), GRANT - 1000);
        // Another item's grants are not siblings.
        assert!(!other.cover(1, u64::MAX, u64::MAX).unwrap_err().siblings_hold);
        drop(a);
        assert_eq!(space.outstanding(), 0);
        assert!(!b.cover(11, u64::MAX, u64::MAX).unwrap_err().siblings_hold);
        drop(b);
        assert_eq!(space.outstanding(), 0);
    }
}
