//! The retry policy as values: after a fetch ends, what the item's
//! downloader does ([`after_fetch`]), how long it backs off after a fault
//! ([`backoff_wait`]), and when it gives up on an origin that makes no
//! progress ([`gives_up`]). `download::finish` and the supervisor apply them.

use std::time::Duration;

use super::origin::FetchError;
use super::Outcome;

/// The origin's `Retry-After` is honoured up to this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What the item does after one of its fetches ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterFetch {
    /// Nothing to book: the supervisor plans again at once.
    Replan,
    /// The origin's file is not the one whose bytes the item holds: its
    /// content starts over.
    StartOver(String),
    /// No retry will mend it: the item fails with this reason.
    Fail(String),
    /// A transient fault: the next fetch waits this long.
    Retry(Duration),
    /// A fetch was refused disk space: the item waits, stopped, until the
    /// cache check finds room again.
    WaitForSpace(String),
    /// A write failed with ENOSPC: the item waits, stopped, until the disk
    /// has room again.
    DiskFull,
}

/// `failures`: the transient faults in a row before this end; `jitter` in
/// `[0, 1)` spreads retries of many items apart.
pub(crate) fn after_fetch(outcome: &Outcome, failures: u32, jitter: f64) -> AfterFetch {
    match outcome {
        Outcome::Done | Outcome::Stopped => AfterFetch::Replan,
        Outcome::Changed(reason) => AfterFetch::StartOver(reason.clone()),
        Outcome::Fault(fault) if fault.is_definitive() => AfterFetch::Fail(fault.to_string()),
        Outcome::Fault(fault) => AfterFetch::Retry(backoff_wait(fault, failures + 1, jitter)),
        Outcome::NoRoom(no_room) => AfterFetch::WaitForSpace(no_room.reason()),
        Outcome::Disk(e) if e.raw_os_error() == Some(libc::ENOSPC) => AfterFetch::DiskFull,
        Outcome::Disk(e) => AfterFetch::Fail(format!("cannot write the data file: {e}")),
    }
}

/// The wait before the next fetch after the `failures`-th transient fault
/// in a row: the backoff, or the origin's `Retry-After` (at most
/// [`MAX_RETRY_AFTER`]) when that is longer.
pub(crate) fn backoff_wait(fault: &FetchError, failures: u32, jitter: f64) -> Duration {
    let retry_after = match fault {
        FetchError::Transient { retry_after, .. } => *retry_after,
        _ => None,
    };
    backoff(failures, jitter).max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
}

/// Exponential backoff with jitter: 250 ms, 500 ms, 1 s … capped at 10 s,
/// each scaled by a factor in `[0.75, 1.25)` drawn from `jitter`.
pub(crate) fn backoff(failures: u32, jitter: f64) -> Duration {
    let base = 250u64
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(10_000);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    Duration::from_millis((base as f64 * factor) as u64)
}

/// The item fails: it has faulted, and no byte arrived for `stall_timeout`.
/// `Some` with the reason, from the last fault's.
pub(crate) fn gives_up(
    failures: u32,
    since_progress: Duration,
    stall_timeout: Duration,
    last_error: Option<&str>,
) -> Option<String> {
    (failures > 0 && since_progress >= stall_timeout).then(|| {
        format!(
            "{} (gave up after {} s without progress)",
            last_error.unwrap_or("origin fault"),
            stall_timeout.as_secs()
        )
    })
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn transient(retry_after: Option<u64>) -> FetchError {
        FetchError::Transient {
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            message: "origin answered 503 Service Unavailable".into(),
            retry_after: retry_after.map(S),
        }
    }

    #[test]
    fn what_follows_the_end_of_a_fetch() {
        let refused = FetchError::Refused {
            status: StatusCode::FORBIDDEN,
        };
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let eio = std::io::Error::from_raw_os_error(libc::EIO);
        let table: Vec<(Outcome, u32, AfterFetch)> = vec![
            (Outcome::Done, 3, AfterFetch::Replan),
            (Outcome::Stopped, 0, AfterFetch::Replan),
            (
                Outcome::Changed("its ETag changed".into()),
                0,
                AfterFetch::StartOver("its ETag changed".into()),
            ),
            (
                Outcome::Fault(refused),
                0,
                AfterFetch::Fail("origin answered 403 Forbidden".into()),
            ),
            (
                Outcome::Fault(FetchError::TooManyRedirects { cause: "loop".into() }),
                0,
                AfterFetch::Fail("too many redirects: loop".into()),
            ),
            (Outcome::Fault(transient(None)), 0, AfterFetch::Retry(MS(250))),
            (Outcome::Fault(transient(None)), 2, AfterFetch::Retry(S(1))),
            (Outcome::Fault(transient(Some(5))), 0, AfterFetch::Retry(S(5))),
            (Outcome::Fault(transient(Some(3600))), 0, AfterFetch::Retry(S(60))),
            (
                Outcome::Fault(FetchError::Unreachable {
                    message: "connection refused by h".into(),
                }),
                0,
                AfterFetch::Retry(MS(250)),
            ),
            (Outcome::Disk(enospc), 0, AfterFetch::DiskFull),
            (
                Outcome::Disk(eio),
                0,
                AfterFetch::Fail(format!(
                    "cannot write the data file: {}",
                    std::io::Error::from_raw_os_error(libc::EIO)
                )),
            ),
        ];
        for (outcome, failures, want) in table {
            // Jitter 0.5: the factor is 1, so waits are exact.
            assert_eq!(after_fetch(&outcome, failures, 0.5), want, "{outcome:?}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let table = [
            (1, 250),
            (2, 500),
            (3, 1000),
            (4, 2000),
            (6, 8000),
            (7, 10_000),
            (30, 10_000),
        ];
        for (failures, ms) in table {
            assert_eq!(backoff(failures, 0.5), MS(ms), "fault {failures}");
        }
        assert_eq!(backoff(1, 0.0), MS(187));
        assert!(backoff(1, 0.999) <= MS(313));
        assert_eq!(backoff(30, 1.0), MS(12_500), "jitter beyond range is clamped");
    }

    #[test]
    fn giving_up_needs_a_fault_and_a_stall() {
        let stall = S(30);
        let table = [
            (0, S(100), None),
            (1, S(29), None),
            (
                1,
                S(30),
                Some("origin answered 503 (gave up after 30 s without progress)"),
            ),
        ];
        for (failures, since, want) in table {
            assert_eq!(
                gives_up(failures, since, stall, Some("origin answered 503")).as_deref(),
                want,
                "{failures} faults, {since:?}"
            );
        }
        assert_eq!(
            gives_up(2, S(31), stall, None).as_deref(),
            Some("origin fault (gave up after 30 s without progress)")
        );
    }
}
