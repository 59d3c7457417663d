//! One check of the cache's limits as a value: from every item's sizes,
//! pins, readers and last use, the cap and the free space, [`plan`] says
//! which items to evict and, for each unfinished one, whether it may
//! download or is held (and why), or fails outright. `cache::enforce`
//! measures, asks, and applies.

use crate::config::Limits;
use crate::disk;
use crate::size::format_size;

/// After a write failed for lack of space, downloads resume once this much
/// more than the minimum is free again (so they do not flap at the edge).
pub const DISK_FULL_MARGIN: u64 = 4 << 20;

/// One item as the check sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    pub id: String,
    /// Bytes its data file occupies on disk.
    pub allocated: u64,
    /// The file's length, once known.
    pub size: Option<u64>,
    /// Bytes present.
    pub present: u64,
    pub complete: bool,
    pub failed: bool,
    pub paused: bool,
    pub pinned: bool,
    pub removed: bool,
    /// A player holds a response of it open.
    pub in_use: bool,
    /// Unix milliseconds of its last use (eviction order).
    pub last_access: u64,
    /// Unix milliseconds of its addition (admission order).
    pub created: u64,
    /// Held back now (not downloading).
    pub held: bool,
    /// A write failed with ENOSPC and it waits for space since.
    pub disk_full: bool,
    /// A fetch was refused a grant of disk space and it waits since.
    pub space_wait: bool,
}

impl Entry {
    fn unfinished(&self) -> bool {
        !self.complete && !self.failed
    }
}

/// The disk as measured for this check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    /// Free bytes (`u64::MAX` when they could not be measured).
    pub free: u64,
    /// Granted to fetches and not written yet.
    pub outstanding: u64,
}

/// What to do with one unfinished item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It can never fit: it fails with this reason.
    Fail(String),
    /// It downloads (`hold: None`) or waits for the reason given. The flags
    /// say which of its waits for space are over.
    Go {
        hold: Option<String>,
        disk_full_over: bool,
        space_wait_over: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CachePlan {
    /// Least recently used first.
    pub evict: Vec<String>,
    /// Every unfinished item that stays, with its verdict.
    pub items: Vec<(String, Verdict)>,
}

/// One item as eviction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Usage<'a> {
    id: &'a str,
    /// Bytes it occupies or, while downloading, will occupy once complete.
    bytes: u64,
    last_access: u64,
    /// Not pinned, not being read, not being downloaded.
    evictable: bool,
}

pub fn plan(entries: &[Entry], limits: &Limits, disk: Disk) -> CachePlan {
    let cap = limits.cache_cap;
    let usage: Vec<Usage> = entries.iter().map(usage).collect();
    let (evict, fits) = choose_evictions(&usage, cap);
    let room = disk.free.saturating_sub(limits.min_free);
    let admission = admission(entries, room);
    let items = entries
        .iter()
        .filter(|e| e.unfinished() && !evict.iter().any(|id| id == &e.id))
        .map(|e| {
            let verdict = match e.size.filter(|&size| size > cap) {
                Some(size) => Verdict::Fail(format!(
                    "the file ({}) is larger than the cache cap ({})",
                    format_size(size),
                    format_size(cap)
                )),
                None => {
                    let left = admission
                        .iter()
                        .find(|(id, _)| id == &e.id)
                        .map(|(_, left)| *left);
                    hold(e, disk, left, limits, fits)
                }
            };
            (e.id.clone(), verdict)
        })
        .collect();
    CachePlan { evict, items }
}

fn usage(e: &Entry) -> Usage<'_> {
    // A download counts with the size it will have once complete.
    let bytes = match e.size {
        Some(size) if e.unfinished() => e.allocated.max(size),
        _ => e.allocated,
    };
    let wanted = e.unfinished() && !e.paused;
    Usage {
        id: &e.id,
        bytes,
        last_access: e.last_access,
        evictable: !e.pinned && !wanted && !e.in_use,
    }
}

/// The items to evict, oldest access first, until `cap` holds, and whether
/// it then holds (evicting every evictable item may not be enough).
fn choose_evictions(usage: &[Usage], cap: u64) -> (Vec<String>, bool) {
    let mut total: u64 = usage.iter().map(|u| u.bytes).sum();
    let mut candidates: Vec<&Usage> = usage.iter().filter(|u| u.evictable).collect();
    candidates.sort_by_key(|u| (u.last_access, u.id));
    let mut victims = Vec::new();
    for u in candidates {
        if total <= cap {
            break;
        }
        total -= u.bytes;
        victims.push(u.id.to_string());
    }
    (victims, total <= cap)
}

/// The known-size downloads that must wait for others to finish before
/// their remaining bytes fit above the reserve (see [`disk::admit`]), each
/// with the room left for it.
fn admission(entries: &[Entry], room: u64) -> Vec<(String, u64)> {
    let claims: Vec<disk::Claim> = entries
        .iter()
        .filter_map(|e| {
            let size = e.size?;
            let downloading = !e.failed && !e.paused && !e.removed;
            (downloading && !e.complete).then(|| disk::Claim {
                id: e.id.clone(),
                need: size.saturating_sub(e.present),
                running: !e.held,
                created: e.created,
            })
        })
        .collect();
    disk::admit(&claims, room)
}

/// Why an unfinished item must not download now, if it must not;
/// `admission`: admission holds it back, with this room left for it.
fn hold(e: &Entry, disk: Disk, admission: Option<u64>, limits: &Limits, fits: bool) -> Verdict {
    let free = disk.free;
    let disk_full_over = e.disk_full && free >= limits.min_free.saturating_add(DISK_FULL_MARGIN);
    let need = e.size.map(|size| size.saturating_sub(e.present));
    let space_wait_over = e.space_wait
        && disk::resumes(
            free,
            disk.outstanding,
            limits.min_free,
            limits.connections_per_item,
            need,
        );
    let (disk_full, space_wait) = (e.disk_full && !disk_full_over, e.space_wait && !space_wait_over);
    let hold = if disk_full {
        Some(format!("the disk is full ({} free)", format_size(free)))
    } else if space_wait || free < limits.min_free {
        Some(disk::waiting_reason(free, limits.min_free))
    } else if let (Some(left), Some(need)) = (admission, need) {
        Some(format!(
            "waiting for disk space: {} to download, {} free above the {} reserve after other downloads",
            format_size(need),
            format_size(left),
            format_size(limits.min_free)
        ))
    } else if !fits && e.size.is_some() {
        Some(format!(
            "waiting for room in the cache (cap {})",
            format_size(limits.cache_cap)
        ))
    } else {
        None
    };
    Verdict::Go {
        hold,
        disk_full_over,
        space_wait_over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn u(id: &str, bytes: u64, last_access: u64, evictable: bool) -> Usage<'_> {
        Usage {
            id,
            bytes,
            last_access,
            evictable,
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

    fn limits(cap: u64, min_free: u64) -> Limits {
        Limits {
            cache_cap: cap,
            min_free,
            connections_per_item: 2,
            rate_limit: None,
            max_active: 3,
        }
    }

    /// A complete item of `size` bytes, last used at `at`.
    fn done(id: &str, size: u64, at: u64) -> Entry {
        Entry {
            id: id.into(),
            allocated: size,
            size: Some(size),
            present: size,
            complete: true,
            last_access: at,
            created: at,
            ..Entry::default()
        }
    }

    /// A download of `size` bytes with `present` of them there.
    fn downloading(id: &str, size: u64, present: u64, created: u64) -> Entry {
        Entry {
            id: id.into(),
            allocated: present,
            size: Some(size),
            present,
            last_access: created,
            created,
            ..Entry::default()
        }
    }

    fn go(hold: Option<&str>) -> Verdict {
        Verdict::Go {
            hold: hold.map(str::to_string),
            disk_full_over: false,
            space_wait_over: false,
        }
    }

    const ROOMY: Disk = Disk {
        free: 10_000 * MIB,
        outstanding: 0,
    };

    #[test]
    fn evictions_and_holds() {
        let table: Vec<(&str, Vec<Entry>, Limits, Disk, CachePlan)> = vec![
            (
                "under the cap: nothing to do",
                vec![done("a", 10 * MIB, 1), downloading("b", 10 * MIB, 0, 2)],
                limits(100 * MIB, 0),
                ROOMY,
                CachePlan {
                    evict: vec![],
                    items: vec![("b".into(), go(None))],
                },
            ),
            (
                "a download counts with its full size: the oldest complete item goes",
                vec![
                    done("old", 40 * MIB, 1),
                    done("newer", 40 * MIB, 5),
                    downloading("d", 50 * MIB, MIB, 9),
                ],
                limits(100 * MIB, 0),
                ROOMY,
                CachePlan {
                    evict: vec!["old".into()],
                    items: vec![("d".into(), go(None))],
                },
            ),
            (
                "pinned and in-use items stay; the download waits for room",
                vec![
                    Entry {
                        pinned: true,
                        ..done("pinned", 60 * MIB, 1)
                    },
                    Entry {
                        in_use: true,
                        ..done("playing", 30 * MIB, 2)
                    },
                    downloading("d", 50 * MIB, 0, 9),
                ],
                limits(100 * MIB, 0),
                ROOMY,
                CachePlan {
                    evict: vec![],
                    items: vec![("d".into(), go(Some("waiting for room in the cache (cap 100.0 MiB)")))],
                },
            ),
            (
                "a file larger than the cap fails",
                vec![downloading("big", 200 * MIB, 0, 1)],
                limits(100 * MIB, 0),
                ROOMY,
                CachePlan {
                    evict: vec![],
                    items: vec![(
                        "big".into(),
                        Verdict::Fail("the file (200.0 MiB) is larger than the cache cap (100.0 MiB)".into()),
                    )],
                },
            ),
            (
                "below the reserve every download waits",
                vec![downloading("d", 10 * MIB, 0, 1)],
                limits(1000 * MIB, 100 * MIB),
                Disk {
                    free: 50 * MIB,
                    outstanding: 0,
                },
                CachePlan {
                    evict: vec![],
                    items: vec![(
                        "d".into(),
                        go(Some("waiting for disk space: 50.0 MiB free, keeping 100.0 MiB")),
                    )],
                },
            ),
            (
                "admission: the second download waits for the first",
                vec![
                    downloading("first", 80 * MIB, 0, 1),
                    downloading("second", 80 * MIB, 0, 2),
                ],
                limits(1000 * MIB, 100 * MIB),
                Disk {
                    free: 200 * MIB,
                    outstanding: 0,
                },
                CachePlan {
                    evict: vec![],
                    items: vec![
                        ("first".into(), go(None)),
                        (
                            "second".into(),
                            go(Some(
                                "waiting for disk space: 80.0 MiB to download, 20.0 MiB free above the 100.0 MiB reserve after other downloads",
                            )),
                        ),
                    ],
                },
            ),
            (
                "a disk-full item resumes once the margin is free",
                vec![Entry {
                    disk_full: true,
                    held: true,
                    ..downloading("d", 100 * MIB, 10 * MIB, 1)
                }],
                limits(1000 * MIB, 10 * MIB),
                Disk {
                    free: 10 * MIB + DISK_FULL_MARGIN,
                    outstanding: 0,
                },
                CachePlan {
                    evict: vec![],
                    items: vec![(
                        "d".into(),
                        Verdict::Go {
                            hold: None,
                            disk_full_over: true,
                            space_wait_over: false,
                        },
                    )],
                },
            ),
            (
                "a disk-full item stays held under the margin",
                vec![Entry {
                    disk_full: true,
                    held: true,
                    ..downloading("d", 100 * MIB, 10 * MIB, 1)
                }],
                limits(1000 * MIB, 10 * MIB),
                Disk {
                    free: 11 * MIB,
                    outstanding: 0,
                },
                CachePlan {
                    evict: vec![],
                    items: vec![("d".into(), go(Some("the disk is full (11.0 MiB free)")))],
                },
            ),
            (
                "an item refused a grant resumes when a grant per connection fits",
                vec![Entry {
                    space_wait: true,
                    held: true,
                    ..downloading("d", 4 * MIB, 0, 1)
                }],
                limits(1000 * MIB, 10 * MIB),
                Disk {
                    free: 30 * MIB,
                    outstanding: 0,
                },
                CachePlan {
                    evict: vec![],
                    items: vec![(
                        "d".into(),
                        Verdict::Go {
                            hold: None,
                            disk_full_over: false,
                            space_wait_over: true,
                        },
                    )],
                },
            ),
            (
                "an item refused a grant waits while others' grants take the room",
                vec![Entry {
                    space_wait: true,
                    held: true,
                    ..downloading("d", 40 * MIB, 0, 1)
                }],
                limits(1000 * MIB, 10 * MIB),
                Disk {
                    free: 30 * MIB,
                    outstanding: 16 * MIB,
                },
                CachePlan {
                    evict: vec![],
                    items: vec![(
                        "d".into(),
                        go(Some("waiting for disk space: 30.0 MiB free, keeping 10.0 MiB")),
                    )],
                },
            ),
            (
                "paused downloads may be evicted; failed and complete items get no verdict",
                vec![
                    Entry {
                        paused: true,
                        ..downloading("paused", 60 * MIB, 30 * MIB, 1)
                    },
                    Entry {
                        failed: true,
                        ..downloading("failed", 10 * MIB, MIB, 2)
                    },
                    downloading("d", 60 * MIB, 0, 3),
                ],
                limits(100 * MIB, 0),
                ROOMY,
                CachePlan {
                    evict: vec!["paused".into()],
                    items: vec![("d".into(), go(None))],
                },
            ),
        ];
        for (why, entries, limits, disk, want) in table {
            assert_eq!(plan(&entries, &limits, disk), want, "{why}");
        }
    }
}
