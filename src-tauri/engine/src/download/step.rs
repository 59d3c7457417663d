//! One look of an item's supervisor as a value: from what it sees of the
//! item ([`Sight`]), which fetches to start, shrink or stop, whether the
//! item fails, and when to look again ([`Step`]). The byte-range planning
//! itself is [`super::schedule::plan`]; `download::decide` gathers the
//! sight under the item's lock and carries the step out.

use std::time::Duration;

use super::retry;
use super::schedule::{self, Demand, Fetch};
use crate::byte_ranges::{ByteRange, RangeSet};

/// When every connection serves readers, how long a reader waits before it
/// takes one, and how long a fetch serves its readers before giving its
/// connection up (see [`schedule::plan`]): readers' turns.
pub const READER_TURN: Duration = Duration::from_secs(1);
/// How often the supervisor looks again while a reader waits.
pub const REPLAN_WHILE_WAITING: Duration = Duration::from_millis(250);

/// What the supervisor sees of its item.
#[derive(Debug, Clone)]
pub(crate) struct Sight<'a> {
    /// Removed, failed or complete: nothing more to fetch.
    pub over: bool,
    /// Transient faults since the last progress.
    pub failures: u32,
    pub since_progress: Duration,
    pub last_error: Option<&'a str>,
    /// Left of the backoff after a fault.
    pub backoff_left: Option<Duration>,
    /// Held back by the cache check (space, cap).
    pub held: bool,
    /// Paused, or waiting its turn in the queue: fetch only for readers.
    pub readers_only: bool,
    /// A reader waits for bytes that are not there.
    pub reader_waits: bool,
    /// The file's length, once known.
    pub size: Option<u64>,
    /// Probed, and the origin serves ranges.
    pub ranged: bool,
    pub present: &'a RangeSet,
    pub fetches: &'a [Fetch],
    pub demands: &'a [Demand],
}

/// The settings a look depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub stall_timeout: Duration,
    pub max_fetches: usize,
    pub seek_threshold: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Act {
    /// Start a fetch of `span`; `seek`: for a reader waiting where no fetch
    /// reaches soon (it asks on the connection kept warm for seeks).
    Start { span: ByteRange, seek: bool },
    /// Make a running fetch stop at `end`.
    Shrink { id: u64, end: u64 },
    /// Stop a running fetch.
    Stop { id: u64 },
    /// Stop every running fetch.
    StopAll,
    /// The item fails with this reason.
    Fail(String),
}

/// When the supervisor looks next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// At the next kick, or after this long at the latest.
    Wait(Option<Duration>),
    /// Never: the item is over (complete, failed or removed).
    Exit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub acts: Vec<Act>,
    pub next: Next,
}

impl Step {
    fn wait(after: Option<Duration>) -> Step {
        Step {
            acts: Vec::new(),
            next: Next::Wait(after),
        }
    }
}

pub(crate) fn step(sight: &Sight, settings: &Settings) -> Step {
    if sight.over {
        return Step {
            acts: vec![Act::StopAll],
            next: Next::Exit,
        };
    }
    if let Some(reason) = retry::gives_up(
        sight.failures,
        sight.since_progress,
        settings.stall_timeout,
        sight.last_error,
    ) {
        return Step {
            acts: vec![Act::StopAll, Act::Fail(reason)],
            next: Next::Exit,
        };
    }
    if let Some(left) = sight.backoff_left.filter(|left| !left.is_zero()) {
        return Step::wait(Some(left));
    }
    if sight.held {
        return Step::wait(None);
    }
    let background = !sight.readers_only;
    let mut acts = Vec::new();
    match sight.size.filter(|_| sight.ranged) {
        None => {
            // One sequential fetch: the origin must be probed, or cannot seek.
            if !background && !sight.reader_waits {
                acts.push(Act::StopAll);
            } else if sight.fetches.is_empty() {
                let limit = sight.size.unwrap_or(u64::MAX);
                if let Some(gap) = sight.present.first_gap_from(0, limit) {
                    acts.push(Act::Start {
                        span: ByteRange::new(gap.start, limit),
                        seek: false,
                    });
                }
            }
        }
        Some(size) => {
            let actions = schedule::plan(&schedule::Inputs {
                size,
                present: sight.present,
                fetches: sight.fetches,
                demands: sight.demands,
                max_fetches: settings.max_fetches.max(1),
                background,
                seek_threshold: settings.seek_threshold,
                min_split: settings.seek_threshold.max(1 << 20),
                patience: READER_TURN,
            });
            acts.extend(actions.into_iter().map(|action| match action {
                schedule::Action::Start(span) => Act::Start { span, seek: false },
                schedule::Action::Seek(span) => Act::Start { span, seek: true },
                schedule::Action::Shrink { id, end } => Act::Shrink { id, end },
                schedule::Action::Stop { id } => Act::Stop { id },
            }));
        }
    }
    // A reader still waiting may take a connection once it has waited its
    // turn: look again soon rather than at the next kick.
    Step {
        acts,
        next: Next::Wait(sight.reader_waits.then_some(REPLAN_WHILE_WAITING)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn settings() -> Settings {
        Settings {
            stall_timeout: Duration::from_secs(30),
            max_fetches: 2,
            seek_threshold: 2 * MIB,
        }
    }

    fn set(spans: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(a, b) in spans {
            s.insert(a, b);
        }
        s
    }

    /// A ranged item of 100 MiB downloading, nothing wrong.
    fn sight<'a>(present: &'a RangeSet, fetches: &'a [Fetch], demands: &'a [Demand]) -> Sight<'a> {
        Sight {
            over: false,
            failures: 0,
            since_progress: Duration::ZERO,
            last_error: None,
            backoff_left: None,
            held: false,
            readers_only: false,
            reader_waits: false,
            size: Some(100 * MIB),
            ranged: true,
            present,
            fetches,
            demands,
        }
    }

    fn start(a: u64, b: u64) -> Act {
        Act::Start {
            span: ByteRange::new(a, b),
            seek: false,
        }
    }

    fn running(id: u64, pos: u64, end: u64) -> Fetch {
        Fetch {
            id,
            pos,
            end,
            reach: 2 * MIB,
            age: Duration::from_secs(10),
        }
    }

    #[test]
    fn what_the_supervisor_does_next() {
        let empty = RangeSet::new();
        let half = set(&[(0, 50 * MIB)]);
        let one = [running(1, 0, 100 * MIB)];
        let waiting = [Demand {
            at: 90 * MIB,
            waited: Duration::from_millis(10),
        }];
        let base = sight(&empty, &[], &[]);
        let table: Vec<(&str, Sight, Step)> = vec![
            (
                "over: stop everything and leave",
                Sight {
                    over: true,
                    ..base.clone()
                },
                Step {
                    acts: vec![Act::StopAll],
                    next: Next::Exit,
                },
            ),
            (
                "faults and no progress for the stall timeout: give up",
                Sight {
                    failures: 4,
                    since_progress: Duration::from_secs(30),
                    last_error: Some("origin answered 503"),
                    ..base.clone()
                },
                Step {
                    acts: vec![
                        Act::StopAll,
                        Act::Fail("origin answered 503 (gave up after 30 s without progress)".into()),
                    ],
                    next: Next::Exit,
                },
            ),
            (
                "no progress but no fault either: a slow origin is not given up",
                Sight {
                    since_progress: Duration::from_secs(300),
                    fetches: &one,
                    ..base.clone()
                },
                Step {
                    acts: vec![Act::Shrink { id: 1, end: 50 * MIB }, start(50 * MIB, 100 * MIB)],
                    next: Next::Wait(None),
                },
            ),
            (
                "backing off: wait out what is left",
                Sight {
                    failures: 1,
                    backoff_left: Some(Duration::from_millis(300)),
                    ..base.clone()
                },
                Step::wait(Some(Duration::from_millis(300))),
            ),
            (
                "held: wait for the cache check",
                Sight {
                    held: true,
                    ..base.clone()
                },
                Step::wait(None),
            ),
            (
                "an empty item: two fetches, halves",
                base.clone(),
                Step {
                    acts: vec![start(0, 50 * MIB), start(50 * MIB, 100 * MIB)],
                    next: Next::Wait(None),
                },
            ),
            (
                "a reader waits far ahead: a seek, and a look again soon",
                Sight {
                    present: &half,
                    fetches: &[],
                    demands: &waiting,
                    reader_waits: true,
                    ..base.clone()
                },
                Step {
                    acts: vec![
                        Act::Start {
                            span: ByteRange::new(90 * MIB, 100 * MIB),
                            seek: true,
                        },
                        start(50 * MIB, 90 * MIB),
                    ],
                    next: Next::Wait(Some(REPLAN_WHILE_WAITING)),
                },
            ),
            (
                "paused with no reader: nothing",
                Sight {
                    readers_only: true,
                    ..base.clone()
                },
                Step::wait(None),
            ),
            (
                "unknown length: one sequential fetch to the end",
                Sight {
                    size: None,
                    ranged: false,
                    present: &half,
                    ..base.clone()
                },
                Step {
                    acts: vec![start(50 * MIB, u64::MAX)],
                    next: Next::Wait(None),
                },
            ),
            (
                "no ranges: one sequential fetch, not two",
                Sight {
                    ranged: false,
                    fetches: &one,
                    ..base.clone()
                },
                Step::wait(None),
            ),
            (
                "no ranges, paused, no reader waiting: the fetch stops",
                Sight {
                    ranged: false,
                    readers_only: true,
                    fetches: &one,
                    ..base.clone()
                },
                Step {
                    acts: vec![Act::StopAll],
                    next: Next::Wait(None),
                },
            ),
        ];
        for (why, sight, want) in table {
            assert_eq!(step(&sight, &settings()), want, "{why}");
        }
    }
}
