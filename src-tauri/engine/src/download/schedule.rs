//! Which origin fetches an item should run: a pure function of what is
//! present, what is being fetched, and where readers wait.
//!
//! Readers come first: a reader waiting at an offset that no running fetch
//! will reach soon gets a fetch of its own there (a seek), the reader that
//! has waited longest first. When every connection is taken, a seek takes
//! one from background filling; when every connection serves readers, a
//! reader that has waited `patience` takes one from the fetch whose readers
//! have waited least (after that fetch had `patience` to serve them), so
//! readers share connections in turns and none starves. Then the background
//! filler completes the file with the remaining connections, splitting the
//! largest remaining span when every gap is already taken (segmented
//! downloading).

use std::time::Duration;

use crate::byte_ranges::{ByteRange, RangeSet};

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
    /// How long it has run.
    pub age: Duration,
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
    /// Stop a running fetch, to free its connection for a reader.
    Stop { id: u64 },
}

/// Where a reader reads, and how long it has waited there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    pub at: u64,
    /// Zero while it streams (the bytes at `at` are there).
    pub waited: Duration,
}

#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub size: u64,
    pub present: &'a RangeSet,
    pub fetches: &'a [Fetch],
    /// Where readers read or wait.
    pub demands: &'a [Demand],
    pub max_fetches: usize,
    /// False when the item is paused: only readers' demands are fetched.
    pub background: bool,
    /// The reach of a fetch whose speed is not known yet.
    pub seek_threshold: u64,
    /// Never split a span into parts smaller than this.
    pub min_split: u64,
    /// When every connection serves readers, how long a reader waits before
    /// it takes one, and how long a fetch serves its readers before its
    /// connection may be taken.
    pub patience: Duration,
}

pub fn plan(input: &Inputs) -> Vec<Action> {
    let mut fetches = input.fetches.to_vec();
    let mut actions = Vec::new();

    // A reader streaming present bytes has not waited, whatever it says.
    let mut demands: Vec<Demand> = input
        .demands
        .iter()
        .map(|&d| Demand {
            waited: if input.present.covers(d.at, d.at + 1) {
                Duration::ZERO
            } else {
                d.waited
            },
            ..d
        })
        .collect();
    // The longest-waiting reader first: otherwise the reader with the
    // highest offset would lose every freed connection to lower ones.
    demands.sort_unstable_by(|a, b| b.waited.cmp(&a.waited).then(a.at.cmp(&b.at)));
    let mut seen = std::collections::HashSet::new();
    demands.retain(|d| seen.insert(d.at));
    let offsets: Vec<u64> = demands.iter().map(|d| d.at).collect();
    for d in &demands {
        let at = d.at;
        if at >= input.size || input.present.covers(at, at + 1) || fetches.iter().any(|f| f.serves(at)) {
            continue;
        }
        if fetches.len() >= input.max_fetches.max(1) {
            let Some(i) = connection_for(d, &fetches, &demands, input.patience) else {
                continue;
            };
            actions.push(Action::Stop { id: fetches[i].id });
            fetches.remove(i);
        }
        let Some(gap) = input.present.first_gap_from(at, input.size) else {
            continue;
        };
        let mut end = gap.end;
        for f in fetches.iter_mut() {
            if f.pos <= at && at < f.end {
                // That fetch is too far behind: it stops where this one starts.
                end = end.min(f.end);
                shorten(&mut actions, f, at);
            } else if f.pos > at {
                end = end.min(f.pos);
            }
        }
        actions.push(Action::Seek(ByteRange::new(at, end)));
        fetches.push(planned(at, end, input.seek_threshold));
    }

    if !input.background {
        // Paused: keep only the fetches that readers need.
        for f in &fetches {
            if f.id != 0 && !offsets.iter().any(|&d| f.feeds(d)) {
                actions.push(Action::Stop { id: f.id });
            }
        }
        return actions;
    }
    while fetches.len() < input.max_fetches.max(1) {
        if let Some(gap) = first_untaken_gap(input.present, &fetches, input.size) {
            actions.push(Action::Start(gap));
            fetches.push(planned(gap.start, gap.end, input.seek_threshold));
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
        fetches.push(planned(mid, end, input.seek_threshold));
    }
    actions
}

/// A fetch planned in this call: id 0 (see [`shorten`]).
fn planned(pos: u64, end: u64, reach: u64) -> Fetch {
    Fetch {
        id: 0,
        pos,
        end,
        reach,
        age: Duration::ZERO,
    }
}

/// Which running fetch gives its connection to reader `d` when every
/// connection is taken: one no reader needs right now (none waits ahead of
/// it or streams right behind it); else, once `d` has waited `patience`,
/// the one whose readers have waited least, if less than `d` and if it has
/// served them for `patience` (so turns are not cut to nothing).
fn connection_for(d: &Demand, fetches: &[Fetch], demands: &[Demand], patience: Duration) -> Option<usize> {
    let fed_wait = |f: &Fetch| demands.iter().filter(|o| f.feeds(o.at)).map(|o| o.waited).max();
    if let Some(idle) = fetches.iter().position(|f| fed_wait(f).is_none()) {
        return Some(idle);
    }
    if d.waited < patience {
        return None;
    }
    fetches
        .iter()
        .enumerate()
        .filter(|(_, f)| f.id != 0 && f.age >= patience)
        .filter_map(|(i, f)| Some((i, fed_wait(f)?, f.age)))
        .filter(|&(_, waited, _)| waited < d.waited)
        // Least waited; of equals, the one that has had the longest turn.
        .min_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|(i, _, _)| i)
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

    /// A fetch that has run for a long while.
    fn fetch(id: u64, pos: u64, end: u64, reach: u64) -> Fetch {
        Fetch {
            id,
            pos,
            end,
            reach,
            age: Duration::from_secs(10),
        }
    }

    /// Readers that have just come (or stream).
    fn readers(offsets: &[u64]) -> Vec<Demand> {
        offsets
            .iter()
            .map(|&at| Demand {
                at,
                waited: Duration::ZERO,
            })
            .collect()
    }

    fn inputs<'a>(
        present: &'a RangeSet,
        fetches: &'a [Fetch],
        demands: &'a [Demand],
        max: usize,
    ) -> Inputs<'a> {
        Inputs {
            size: 100 * MIB,
            present,
            fetches,
            demands,
            max_fetches: max,
            background: true,
            seek_threshold: 2 * MIB,
            min_split: 4 * MIB,
            patience: Duration::from_secs(1),
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
        assert_eq!(
            plan(&inputs(&present, &[], &readers(&[]), 1)),
            vec![start(0, 100 * MIB)]
        );
        assert_eq!(
            plan(&inputs(&present, &[], &readers(&[]), 2)),
            vec![start(0, 50 * MIB), start(50 * MIB, 100 * MIB)]
        );
    }

    #[test]
    fn a_reader_near_a_running_fetch_waits_for_it() {
        let present = set(&[(0, 10 * MIB)]);
        let fetches = [fetch(1, 10 * MIB, 100 * MIB, 2 * MIB)];
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[11 * MIB]), 1)),
            vec![]
        );
    }

    #[test]
    fn a_far_seek_takes_over_the_rest_of_the_span() {
        let present = set(&[(0, 10 * MIB)]);
        let fetches = [fetch(1, 10 * MIB, 100 * MIB, 2 * MIB)];
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[90 * MIB]), 2)),
            vec![Action::Shrink { id: 1, end: 90 * MIB }, seek(90 * MIB, 100 * MIB)]
        );
    }

    #[test]
    fn a_far_seek_with_no_free_connection_stops_the_background_fetch() {
        let present = set(&[(0, 10 * MIB)]);
        let fetches = [fetch(1, 10 * MIB, 100 * MIB, 2 * MIB)];
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[90 * MIB]), 1)),
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
            fetch(1, 20 * MIB, 50 * MIB, 2 * MIB),
            fetch(2, 60 * MIB, 100 * MIB, 2 * MIB),
        ];
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[19 * MIB, 90 * MIB]), 2)),
            vec![Action::Stop { id: 2 }, seek(90 * MIB, 100 * MIB)]
        );
    }

    fn waited(at: u64, ms: u64) -> Demand {
        Demand {
            at,
            waited: Duration::from_millis(ms),
        }
    }

    #[test]
    fn the_reader_that_has_waited_longest_gets_a_freed_connection() {
        // One connection, held by a fetch no reader needs. The reader at
        // 90 MiB came first: it gets the connection, though 10 MiB is lower.
        let present = RangeSet::new();
        let fetches = [fetch(1, 0, 100 * MIB, 2 * MIB)];
        let demands = [waited(10 * MIB, 100), waited(90 * MIB, 3000)];
        assert_eq!(
            plan(&inputs(&present, &fetches, &demands, 1)),
            vec![Action::Stop { id: 1 }, seek(90 * MIB, 100 * MIB)]
        );
    }

    #[test]
    fn readers_share_connections_in_turns() {
        // Two connections, both serving readers: fetch 1 a player streaming
        // at 1.5 MiB (right behind it), fetch 2 a reader waiting at 61 MiB
        // within its reach. A third reader waits at 30 MiB, where none goes.
        let present = set(&[(0, 2 * MIB)]);
        let running = |age_ms| {
            let age = Duration::from_millis(age_ms);
            [
                Fetch {
                    age,
                    ..fetch(1, 2 * MIB, 50 * MIB, 2 * MIB)
                },
                Fetch {
                    age,
                    ..fetch(2, 60 * MIB, 100 * MIB, 2 * MIB)
                },
            ]
        };
        let player = waited(3 * MIB / 2, 0);
        let took_1 = vec![Action::Stop { id: 1 }, seek(30 * MIB, 60 * MIB)];
        let cases: Vec<(Vec<Demand>, u64, Vec<Action>, &str)> = vec![
            (
                vec![player, waited(61 * MIB, 500), waited(30 * MIB, 2000)],
                5000,
                took_1.clone(),
                "it waited its turn: the fetch whose readers waited least gives way",
            ),
            (
                vec![
                    waited(3 * MIB, 800),
                    waited(61 * MIB, 100),
                    waited(30 * MIB, 2000),
                ],
                5000,
                vec![
                    Action::Stop { id: 2 },
                    Action::Shrink { id: 1, end: 30 * MIB },
                    seek(30 * MIB, 50 * MIB),
                ],
                "of two waiting readers, the one that waited less gives way",
            ),
            (
                vec![player, waited(61 * MIB, 500), waited(30 * MIB, 500)],
                5000,
                vec![],
                "it has not waited its turn yet",
            ),
            (
                vec![player, waited(61 * MIB, 500), waited(30 * MIB, 2000)],
                500,
                vec![],
                "the fetches have not served their turns yet",
            ),
            (
                vec![
                    waited(3 * MIB / 2, 9000),
                    waited(61 * MIB, 500),
                    waited(30 * MIB, 2000),
                ],
                5000,
                took_1,
                "a player reading present bytes has not waited, whatever it says",
            ),
            (
                vec![
                    waited(3 * MIB, 3000),
                    waited(61 * MIB, 3000),
                    waited(30 * MIB, 2000),
                ],
                5000,
                vec![],
                "readers that waited longer keep their fetches",
            ),
        ];
        for (demands, age, want, why) in &cases {
            let fetches = running(*age);
            assert_eq!(plan(&inputs(&present, &fetches, demands, 2)), *want, "{why}");
        }
    }

    #[test]
    fn a_slow_fetch_gets_overtaken_by_a_near_seek() {
        // 256 KiB/s reaches 128 KiB in half a second: a reader 1 MiB ahead
        // gets a fetch of its own rather than waiting 4 s.
        let present = RangeSet::new();
        let fetches = [fetch(1, 0, 100 * MIB, 128 << 10)];
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[MIB]), 2)),
            vec![Action::Shrink { id: 1, end: MIB }, seek(MIB, 100 * MIB)]
        );
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[100 << 10]), 1)),
            vec![]
        );
    }

    #[test]
    fn a_seek_waits_its_turn_before_preempting_a_fetch_serving_another_reader() {
        let present = RangeSet::new();
        let fetches = [fetch(1, 0, 100 * MIB, 2 * MIB)];
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[MIB, 90 * MIB]), 1)),
            vec![]
        );
    }

    #[test]
    fn a_seek_fetch_ends_at_the_next_present_byte() {
        let present = set(&[(0, 10 * MIB), (95 * MIB, 100 * MIB)]);
        let demands = readers(&[90 * MIB]);
        let mut i = inputs(&present, &[], &demands, 1);
        i.background = false;
        assert_eq!(plan(&i), vec![seek(90 * MIB, 95 * MIB)]);
    }

    #[test]
    fn a_seek_planned_in_the_same_call_is_split_like_any_fetch() {
        // The seek's span (40..100) is the largest: the filler halves it
        // rather than start a fetch that overlaps it.
        let present = RangeSet::new();
        assert_eq!(
            plan(&inputs(&present, &[], &readers(&[40 * MIB]), 3)),
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
            plan(&inputs(&present, &[], &readers(&[10 * MIB, 50 * MIB]), 4)),
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
        let fetches = [fetch(1, 10 * MIB, 12 * MIB, 2 * MIB)];
        // Gap 12..20 is untaken; the new fetch is then split in two.
        assert_eq!(
            plan(&inputs(&present, &fetches, &readers(&[]), 3)),
            vec![start(12 * MIB, 16 * MIB), start(16 * MIB, 20 * MIB)]
        );
    }

    #[test]
    fn paused_items_fetch_only_for_readers() {
        let present = RangeSet::new();
        let demands = readers(&[]);
        let mut i = inputs(&present, &[], &demands, 4);
        i.background = false;
        assert_eq!(plan(&i), vec![]);
    }

    #[test]
    fn pausing_stops_fetches_no_reader_needs() {
        let present = RangeSet::new();
        let fetches = [
            fetch(1, 0, 50 * MIB, 2 * MIB),
            fetch(2, 50 * MIB, 100 * MIB, 2 * MIB),
        ];
        let demands = readers(&[51 * MIB]);
        let mut i = inputs(&present, &fetches, &demands, 4);
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
        let demands = readers(&[7 * MIB, 51 * MIB]);
        let mut i = inputs(&present, &streaming, &demands, 4);
        i.background = false;
        assert_eq!(plan(&i), vec![]);
    }

    #[test]
    fn a_complete_item_needs_nothing() {
        let present = set(&[(0, 100 * MIB)]);
        assert_eq!(plan(&inputs(&present, &[], &readers(&[5]), 4)), vec![]);
    }

    #[test]
    fn a_fetch_gives_way_only_to_a_reader_another_fetch_feeds() {
        let f = |id, pos, end| fetch(id, pos, end, 2 * MIB);
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
