//! A per-key rate limit for UI events: at most one value per key per
//! interval, and the latest value is never lost.
//!
//! Pure (time is passed in), so it is tested without sleeping. A value that
//! arrives too soon is kept as the key's pending value (replacing an older
//! pending one); [`Throttle::due`] hands pending values out once their
//! interval has passed, and [`Throttle::flush`] hands one out at once (before
//! a state change, so the UI sees the last progress first).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// One key's bookkeeping.
struct Slot<V> {
    /// When a value for this key last went out.
    last_sent: Instant,
    /// The newest value that arrived too soon, if any.
    pending: Option<V>,
}

pub struct Throttle<K, V> {
    interval: Duration,
    slots: HashMap<K, Slot<V>>,
}

impl<K: Eq + Hash + Clone, V> Throttle<K, V> {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            slots: HashMap::new(),
        }
    }

    /// Offers `value` for `key` at `now`: returns it if it may go out now,
    /// else keeps it as pending and returns `None`.
    pub fn offer(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        match self.slots.get_mut(&key) {
            Some(slot) if now.saturating_duration_since(slot.last_sent) < self.interval => {
                slot.pending = Some(value);
                None
            }
            Some(slot) => {
                slot.last_sent = now;
                slot.pending = None;
                Some(value)
            }
            None => {
                self.slots.insert(
                    key,
                    Slot {
                        last_sent: now,
                        pending: None,
                    },
                );
                Some(value)
            }
        }
    }

    /// Pending values whose interval has passed at `now`; they count as sent.
    pub fn due(&mut self, now: Instant) -> Vec<V> {
        let interval = self.interval;
        let mut out = Vec::new();
        for slot in self.slots.values_mut() {
            if slot.pending.is_some() && now.saturating_duration_since(slot.last_sent) >= interval {
                if let Some(value) = slot.pending.take() {
                    slot.last_sent = now;
                    out.push(value);
                }
            }
        }
        out
    }

    /// When the next pending value becomes due, if any is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter(|slot| slot.pending.is_some())
            .map(|slot| slot.last_sent + self.interval)
            .min()
    }

    /// Takes `key`'s pending value now, regardless of the interval.
    pub fn flush(&mut self, key: &K) -> Option<V> {
        self.slots.get_mut(key).and_then(|slot| slot.pending.take())
    }

    /// Forgets `key` (its item is gone); a pending value is dropped.
    pub fn forget(&mut self, key: &K) {
        self.slots.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn first_value_of_a_key_goes_out_at_once() {
        let t0 = Instant::now();
        let mut t = Throttle::new(TICK);
        assert_eq!(t.offer("a", 1, t0), Some(1));
        assert_eq!(t.offer("b", 1, t0), Some(1), "keys are independent");
    }

    #[test]
    fn values_within_the_interval_are_held_and_only_the_latest_is_kept() {
        let t0 = Instant::now();
        let mut t = Throttle::new(TICK);
        assert_eq!(t.offer("a", 1, t0), Some(1));
        assert_eq!(t.offer("a", 2, at(t0, 10)), None);
        assert_eq!(t.offer("a", 3, at(t0, 50)), None);
        assert_eq!(t.next_due(), Some(at(t0, 100)));
        assert!(t.due(at(t0, 99)).is_empty());
        assert_eq!(t.due(at(t0, 100)), vec![3]);
        assert!(t.due(at(t0, 500)).is_empty(), "sent once");
        assert_eq!(t.next_due(), None);
    }

    #[test]
    fn a_value_after_the_interval_goes_out_and_drops_the_pending_one() {
        let t0 = Instant::now();
        let mut t = Throttle::new(TICK);
        t.offer("a", 1, t0);
        assert_eq!(t.offer("a", 2, at(t0, 20)), None);
        assert_eq!(t.offer("a", 3, at(t0, 120)), Some(3));
        assert!(t.due(at(t0, 400)).is_empty());
    }

    #[test]
    fn at_most_ten_per_second_per_key_under_a_flood() {
        let t0 = Instant::now();
        let mut t = Throttle::new(TICK);
        let mut sent = 0;
        for ms in 0..1000 {
            let now = at(t0, ms);
            sent += usize::from(t.offer("a", ms, now).is_some());
            sent += t.due(now).len();
        }
        assert!(sent <= 10, "{sent} sent in one second");
        assert!(sent >= 9, "{sent} sent in one second");
    }

    #[test]
    fn flush_hands_out_the_pending_value_at_once() {
        let t0 = Instant::now();
        let mut t = Throttle::new(TICK);
        t.offer("a", 1, t0);
        t.offer("a", 2, at(t0, 1));
        assert_eq!(t.flush(&"a"), Some(2));
        assert_eq!(t.flush(&"a"), None);
        assert!(t.due(at(t0, 1000)).is_empty());
    }

    #[test]
    fn forget_drops_the_key() {
        let t0 = Instant::now();
        let mut t = Throttle::new(TICK);
        t.offer("a", 1, t0);
        t.offer("a", 2, at(t0, 1));
        t.forget(&"a");
        assert_eq!(t.next_due(), None);
        assert_eq!(t.offer("a", 3, at(t0, 2)), Some(3), "a new key again");
    }
}
