//! Which origin fetches an item should run: a pure function of what is
//! present, what is being fetched, and where readers wait.
//!
//! Readers come first: a reader waiting at an offset that no running fetch
//! will reach soon gets a fetch of its own there (a seek). Then the
//! background filler completes the file with the remaining connections,
//! splitting the largest remaining span when every gap is already taken
//! (segmented downloading).

use crate::ranges::{ByteRange, RangeSet};

/// A running fetch as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    pub id: u64,
    /// Next offset it will write.
    pub pos: u64,
    /// Exclusive end of what it will write.
    pub end: u64,
    /// How far ahead of `pos` a reader may wait for this fetch rather than
    /// get one of its own: what it will write in about half a second.
    pub reach: u64,
}

impl Fetch {
    /// A reader waiting at `offset` will get its bytes from this fetch soon.
    pub fn serves(&self, offset: u64) -> bool {
        self.pos <= offset && offset < self.end && offset - self.pos < self.reach
    }
    /// A reader last seen at `offset` reads what this fetch writes: it waits
    /// within reach ahead of it ([`Fetch::serves`]) or streams right behind.
    pub fn feeds(&self, offset: u64) -> bool {
        offset < self.end && self.pos.abs_diff(offset) < self.reach
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a fetch of this span.
    Start(ByteRange),
    /// Start a fetch of this span for a reader waiting where no fetch
    /// reaches soon: a seek, or the resumption of a reader's fetch that
    /// broke. It takes the origin connection kept warm for seeks.
    Seek(ByteRange),
    /// Make a running fetch stop at `end` (another fetch takes the rest).
    Shrink { id: u64, end: u64 },
    /// Stop a running fetch that serves no reader, to free its connection.
    Stop { id: u64 },
}

#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub size: u64,
    pub present: &'a RangeSet,
    pub fetches: &'a [Fetch],
    /// Offsets readers wait on.
    pub demands: &'a [u64],
    pub max_fetches: usize,
    /// False when the item is paused: only readers' demands are fetched.
    pub background: bool,
    /// The reach of a fetch whose speed is not known yet.
    pub seek_threshold: u64,
    /// Never split a span into parts smaller than this.
    pub min_split: u64,
}

pub fn plan(input: &Inputs) -> Vec<Action> {
    let mut fetches = input.fetches.to_vec();
    let mut actions = Vec::new();

    let mut demands = input.demands.to_vec();
    demands.sort_unstable();
    demands.dedup();
    for &d in &demands {
        if d >= input.size || input.present.covers(d, d + 1) || fetches.iter().any(|f| f.serves(d)) {
            continue;
        }
        if fetches.len() >= input.max_fetches.max(1) {
            // Free a connection from a fetch no reader needs right now (none
            // waits ahead of it or streams right behind it).
            let idle = fetches.iter().position(|f| !demands.iter().any(|&o| f.feeds(o)));
            let Some(i) = idle else { continue };
            actions.push(Action::Stop { id: fetches[i].id });
            fetches.remove(i);
        }
        let Some(gap) = input.present.first_gap_from(d, input.size) else {
            continue;
        };
        let mut end = gap.end;
        for f in fetches.iter_mut() {
            if f.pos <= d && d < f.end {
                // That fetch is too far behind: it stops where this one starts.
                end = end.min(f.end);
                shorten(&mut actions, f, d);
            } else if f.pos > d {
                end = end.min(f.pos);
            }
        }
        actions.push(Action::Seek(ByteRange::new(d, end)));
        fetches.push(Fetch {
            id: 0,
            pos: d,
            end,
            reach: input.seek_threshold,
        });
    }

    if !input.background {
        // Paused: keep only the fetches that readers need.
        for f in &fetches {
            if f.id != 0 && !demands.iter().any(|&d| f.feeds(d)) {
                actions.push(Action::Stop { id: f.id });
            }
        }
        return actions;
    }
    while fetches.len() < input.max_fetches.max(1) {
        if let Some(gap) = first_untaken_gap(input.present, &fetches, input.size) {
            actions.push(Action::Start(gap));
            fetches.push(Fetch {
                id: 0,
                pos: gap.start,
                end: gap.end,
                reach: input.seek_threshold,
            });
            continue;
        }
        // Every gap is taken: split the largest remaining span in two.
        let Some(largest) = fetches.iter_mut().max_by_key(|f| f.end - f.pos) else {
            break;
        };
        let remaining = largest.end - largest.pos;
        if remaining < 2 * input.min_split {
            break;
        }
        let mid = largest.pos + remaining / 2;
        let end = largest.end;
        shorten(&mut actions, largest, mid);
        actions.push(Action::Start(ByteRange::new(mid, end)));
        fetches.push(Fetch {
            id: 0,
            pos: mid,
            end,
            reach: input.seek_threshold,
        });
    }
    actions
}

/// Makes `fetch` stop at `end`: a running one is told to shrink; one planned
/// earlier in this call (id 0) just starts shorter.
fn shorten(actions: &mut Vec<Action>, fetch: &mut Fetch, end: u64) {
    if fetch.id != 0 {
        actions.push(Action::Shrink { id: fetch.id, end });
    } else if let Some(Action::Start(r) | Action::Seek(r)) = actions
        .iter_mut()
        .find(|a| matches!(a, Action::Start(r) | Action::Seek(r) if r.start == fetch.pos))
    {
        r.end = end;
    }
    fetch.end = end;
}

/// Readers first: whether fetch `me` should leave its response unread for
/// a while because a reader reads what another fetch brings (it waits ahead
/// of that fetch, or streams right behind it). The idle connection then
/// leaves the link (and the download thread) to that fetch. Never when `me`
/// feeds a reader itself, and never when no other fetch does (standing by
/// would help nobody). `readers`: where each reader last waited.
pub fn gives_way(me: u64, fetches: &[Fetch], readers: &[u64]) -> bool {
    let Some(mine) = fetches.iter().find(|f| f.id == me) else {
        return false;
    };
    if readers.iter().any(|&d| mine.feeds(d)) {
        return false;
    }
    readers
        .iter()
        .any(|&d| fetches.iter().any(|f| f.id != me && f.feeds(d)))
}

/// The first missing span that no fetch is going to write.
fn first_untaken_gap(present: &RangeSet, fetches: &[Fetch], size: u64) -> Option<ByteRange> {
    let mut taken = present.clone();
    for f in fetches {
        taken.insert(f.pos, f.end);
    }
    taken.first_gap_from(0, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn set(spans: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(a, b) in spans {
            s.insert(a, b);
        }
        s
    }

    fn inputs<'a>(present: &'a RangeSet, fetches: &'a [Fetch], demands: &'a [u64], max: usize) -> Inputs<'a> {
        Inputs {
            size: 100 * MIB,
            present,
            fetches,
            demands,
            max_fetches: max,
            background: true,
            seek_threshold: 2 * MIB,
            min_split: 4 * MIB,
        }
    }

    fn start(a: u64, b: u64) -> Action {
        Action::Start(ByteRange::new(a, b))
    }

    fn seek(a: u64, b: u64) -> Action {
        Action::Seek(ByteRange::new(a, b))
    }

    #[test]
    fn an_empty_item_starts_one_fetch_then_splits() {
        let present = RangeSet::new();
        assert_eq!(plan(&inputs(&present, &[], &[], 1)), vec![start(0, 100 * MIB)]);
        assert_eq!(
            plan(&inputs(&present, &[], &[], 2)),
            vec![start(0, 50 * MIB), start(50 * MIB, 100 * MIB)]
        );
    }

    #[test]
    fn a_reader_near_a_running_fetch_waits_for_it() {
        let present = set(&[(0, 10 * MIB)]);
        let fetches = [Fetch {
            id: 1,
            pos: 10 * MIB,
            end: 100 * MIB,
            reach: 2 * MIB,
        }];
        assert_eq!(plan(&inputs(&present, &fetches, &[11 * MIB], 1)), vec![]);
    }

    #[test]
    fn a_far_seek_takes_over_the_rest_of_the_span() {
        let present = set(&[(0, 10 * MIB)]);
        let fetches = [Fetch {
            id: 1,
            pos: 10 * MIB,
            end: 100 * MIB,
            reach: 2 * MIB,
        }];
        assert_eq!(
            plan(&inputs(&present, &fetches, &[90 * MIB], 2)),
            vec![Action::Shrink { id: 1, end: 90 * MIB }, seek(90 * MIB, 100 * MIB)]
        );
    }

    #[test]
    fn a_far_seek_with_no_free_connection_stops_the_background_fetch() {
        let present = set(&[(0, 10 * MIB)]);
        let fetches = [Fetch {
            id: 1,
            pos: 10 * MIB,
            end: 100 * MIB,
            reach: 2 * MIB,
        }];
        assert_eq!(
            plan(&inputs(&present, &fetches, &[90 * MIB], 1)),
            vec![Action::Stop { id: 1 }, seek(90 * MIB, 100 * MIB)]
        );
    }

    #[test]
    fn a_seek_takes_the_connection_of_a_fetch_no_player_streams_behind() {
        // A player streams at 19 MiB, right behind fetch 1; fetch 2 fills in
        // the background. A second player's seek to 90 MiB takes fetch 2's
        // connection, not the one the first player is reading from.
        let present = set(&[(0, 20 * MIB), (50 * MIB, 60 * MIB)]);
        let fetches = [
            Fetch {
                id: 1,
                pos: 20 * MIB,
                end: 50 * MIB,
                reach: 2 * MIB,
            },
            Fetch {
                id: 2,
                pos: 60 * MIB,
                end: 100 * MIB,
                reach: 2 * MIB,
            },
        ];
        assert_eq!(
            plan(&inputs(&present, &fetches, &[19 * MIB, 90 * MIB], 2)),
            vec![Action::Stop { id: 2 }, seek(90 * MIB, 100 * MIB)]
        );
    }

    #[test]
    fn a_slow_fetch_gets_overtaken_by_a_near_seek() {
        // 256 KiB/s reaches 128 KiB in half a second: a reader 1 MiB ahead
        // gets a fetch of its own rather than waiting 4 s.
        let present = RangeSet::new();
        let fetches = [Fetch {
            id: 1,
            pos: 0,
            end: 100 * MIB,
            reach: 128 << 10,
        }];
        assert_eq!(
            plan(&inputs(&present, &fetches, &[MIB], 2)),
            vec![Action::Shrink { id: 1, end: MIB }, seek(MIB, 100 * MIB)]
        );
        assert_eq!(plan(&inputs(&present, &fetches, &[100 << 10], 1)), vec![]);
    }

    #[test]
    fn a_seek_never_preempts_a_fetch_serving_another_reader() {
        let present = RangeSet::new();
        let fetches = [Fetch {
            id: 1,
            pos: 0,
            end: 100 * MIB,
            reach: 2 * MIB,
        }];
        assert_eq!(plan(&inputs(&present, &fetches, &[MIB, 90 * MIB], 1)), vec![]);
    }

    #[test]
    fn a_seek_fetch_ends_at_the_next_present_byte() {
        let present = set(&[(0, 10 * MIB), (95 * MIB, 100 * MIB)]);
        let mut i = inputs(&present, &[], &[90 * MIB], 1);
        i.background = false;
        assert_eq!(plan(&i), vec![seek(90 * MIB, 95 * MIB)]);
    }

    #[test]
    fn a_seek_planned_in_the_same_call_is_split_like_any_fetch() {
        // The seek's span (40..100) is the largest: the filler halves it
        // rather than start a fetch that overlaps it.
        let present = RangeSet::new();
        assert_eq!(
            plan(&inputs(&present, &[], &[40 * MIB], 3)),
            vec![
                seek(40 * MIB, 70 * MIB),
                start(0, 40 * MIB),
                start(70 * MIB, 100 * MIB)
            ]
        );
    }

    #[test]
    fn two_readers_in_one_gap_get_fetches_that_do_not_overlap() {
        let present = RangeSet::new();
        assert_eq!(
            plan(&inputs(&present, &[], &[10 * MIB, 50 * MIB], 4)),
            vec![
                seek(10 * MIB, 50 * MIB),
                seek(50 * MIB, 75 * MIB),
                start(0, 10 * MIB),
                start(75 * MIB, 100 * MIB)
            ]
        );
    }

    #[test]
    fn background_fills_gaps_before_splitting() {
        let present = set(&[(0, 10 * MIB), (20 * MIB, 100 * MIB)]);
        let fetches = [Fetch {
            id: 1,
            pos: 10 * MIB,
            end: 12 * MIB,
            reach: 2 * MIB,
        }];
        // Gap 12..20 is untaken; the new fetch is then split in two.
        assert_eq!(
            plan(&inputs(&present, &fetches, &[], 3)),
            vec![start(12 * MIB, 16 * MIB), start(16 * MIB, 20 * MIB)]
        );
    }

    #[test]
    fn paused_items_fetch_only_for_readers() {
        let present = RangeSet::new();
        let mut i = inputs(&present, &[], &[], 4);
        i.background = false;
        assert_eq!(plan(&i), vec![]);
    }

    #[test]
    fn pausing_stops_fetches_no_reader_needs() {
        let present = RangeSet::new();
        let fetches = [
            Fetch {
                id: 1,
                pos: 0,
                end: 50 * MIB,
                reach: 2 * MIB,
            },
            Fetch {
                id: 2,
                pos: 50 * MIB,
                end: 100 * MIB,
                reach: 2 * MIB,
            },
        ];
        let mut i = inputs(&present, &fetches, &[51 * MIB], 4);
        i.background = false;
        assert_eq!(plan(&i), vec![Action::Stop { id: 1 }]);
        // A player streaming right behind fetch 1 keeps it too.
        let streaming = [
            Fetch {
                pos: 8 * MIB,
                ..fetches[0]
            },
            fetches[1],
        ];
        let present = set(&[(0, 8 * MIB)]);
        let mut i = inputs(&present, &streaming, &[7 * MIB, 51 * MIB], 4);
        i.background = false;
        assert_eq!(plan(&i), vec![]);
    }

    #[test]
    fn a_complete_item_needs_nothing() {
        let present = set(&[(0, 100 * MIB)]);
        assert_eq!(plan(&inputs(&present, &[], &[5], 4)), vec![]);
    }

    #[test]
    fn a_fetch_gives_way_only_to_a_reader_another_fetch_feeds() {
        let f = |id, pos, end| Fetch {
            id,
            pos,
            end,
            reach: 2 * MIB,
        };
        // 1 fills from 0, 2 fills from 50 MiB, 3 is a seek fetch at 90 MiB.
        let fetches = [
            f(1, 0, 50 * MIB),
            f(2, 50 * MIB, 90 * MIB),
            f(3, 90 * MIB, 100 * MIB),
        ];
        let cases: &[(u64, &[u64], bool, &str)] = &[
            (1, &[], false, "no reader"),
            (1, &[90 * MIB], true, "a reader waits on the seek fetch"),
            (
                1,
                &[90 * MIB - MIB],
                true,
                "a reader streams right behind the seek fetch",
            ),
            (1, &[80 * MIB], false, "a reader far behind every fetch"),
            (3, &[90 * MIB], false, "the seek fetch feeds the reader"),
            (1, &[MIB], false, "it feeds the reader itself"),
            (1, &[MIB, 90 * MIB], false, "it feeds one of two readers"),
            (2, &[MIB, 90 * MIB], true, "two readers, both fed by others"),
            (
                1,
                &[70 * MIB],
                false,
                "the reader waits where no fetch reaches soon",
            ),
            (1, &[95 * MIB], false, "a reader too far ahead of the seek fetch"),
            (9, &[90 * MIB], false, "an unknown fetch"),
        ];
        for &(me, readers, want, why) in cases {
            assert_eq!(gives_way(me, &fetches, readers), want, "{why}");
        }
    }
}
