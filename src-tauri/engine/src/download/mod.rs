//! The downloader: per item, a supervisor task decides which origin fetches
//! run (see [`step`] and [`schedule`]); each fetch streams one response into
//! the data file and records what it wrote. Faults are retried with backoff
//! (see [`retry`]); a changed origin file starts the item over; nothing is
//! ever mixed. The decisions are pure values; this module carries them out.

mod context;
mod fetch;
pub(crate) mod origin;
pub(crate) mod persist;
mod request;
mod retry;
pub mod schedule;
mod step;
mod thread;

pub(crate) use context::Downloader;
pub(crate) use fetch::learn;
pub(crate) use persist::{checkpoint, save};
pub(crate) use thread::DownloadThread;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Response;
use tokio::time::Instant;

use crate::events::ItemState;
use crate::item::{Item, LiveState, RunningFetch};
use crate::token;
use origin::FetchError;

/// How a fetch ended.
#[derive(Debug)]
enum Outcome {
    /// It wrote its whole span (or the whole file).
    Done,
    /// It was cancelled or its item moved on.
    Stopped,
    Fault(FetchError),
    /// The origin's file is not the one whose bytes we hold.
    Changed(String),
    /// Writing the data file failed.
    Disk(std::io::Error),
    /// No room above the minimum free space for its next bytes.
    NoRoom(crate::disk::NoRoom),
}

/// Starts the item's supervisor unless one runs; `first` is an origin
/// response to `bytes=0-` already received (the probe of `add`).
pub(crate) fn spawn_supervisor(downloader: &Arc<Downloader>, item: Arc<Item>, first: Option<Response>) {
    if item.supervised.swap(true, Ordering::SeqCst) {
        item.kick.notify_one();
        return;
    }
    let downloader2 = downloader.clone();
    downloader.thread.spawn(&downloader.tasks, async move {
        supervise(downloader2, item, first).await
    });
}

/// Keeps a connection to the origin of `url` open and idle for the next seek
/// (`Downloader::seek_client`), so a seek pays no TCP (or TLS) handshake: one
/// round trip instead of two or three. Called when an item is added and
/// each time a seek takes that connection. Costs the origin a `HEAD`; a
/// server closes the idle connection after its keep-alive timeout, and the
/// seek after that connects anew.
///
/// `None` when no warm-up starts: one to the same origin is under way (a
/// player scrubbing must not send a HEAD per seek), or the user allows one
/// connection per item (`--connections 1`: no extra one).
pub(crate) fn warm_for_seeks(
    downloader: &Downloader,
    url: &str,
    headers: &[(String, String)],
) -> Option<tokio::task::JoinHandle<()>> {
    if downloader.limits.get().connections_per_item <= 1 {
        return None;
    }
    let origin = reqwest::Url::parse(url).ok()?.origin().ascii_serialization();
    let warming = Warming::start(downloader.warming.clone(), origin)?;
    let (client, cancel) = (downloader.seek_client.clone(), downloader.cancel.clone());
    let (url, headers, timeout) = (
        url.to_string(),
        headers.to_vec(),
        downloader.config.origin_timeout,
    );
    Some(downloader.thread.spawn(&downloader.tasks, async move {
        let _warming = warming;
        tokio::select! {
            () = origin::warm(&client, &url, &headers, timeout) => {}
            () = cancel.cancelled() => {}
        }
    }))
}

/// Origins a warm-up is under way for (`Downloader::warming`).
pub(crate) type WarmingSet = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// One origin's place in the [`WarmingSet`], given back when the warm-up
/// ends, however it ends (done, failed, aborted).
struct Warming {
    set: WarmingSet,
    origin: String,
}

impl Warming {
    fn start(set: WarmingSet, origin: String) -> Option<Warming> {
        let fresh = set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(origin.clone());
        fresh.then_some(Warming { set, origin })
    }
}

impl Drop for Warming {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.origin);
    }
}

/// What the supervisor does next.
enum Step {
    /// Wait for a kick, or until this instant.
    Wait(Option<Instant>),
    /// Nothing left to do (complete, failed or removed).
    Exit,
}

async fn supervise(downloader: Arc<Downloader>, item: Arc<Item>, mut first: Option<Response>) {
    let interval = downloader.config.checkpoint_interval;
    let mut last_checkpoint = Instant::now();
    let mut last_state = item.lock().state();
    let mut last_reading = item.in_use();
    loop {
        let (step, starts) = decide(&downloader, &item, &mut first);
        for (running, response) in starts {
            let (downloader2, item2) = (downloader.clone(), item.clone());
            downloader.thread.spawn(&downloader.tasks, async move {
                fetch::fetch(downloader2, item2, running, response).await
            });
        }
        let state = item.lock().state();
        let reading = item.in_use();
        // A turn in the queue frees, or a player wants this item now.
        if reading != last_reading || (state != last_state && state != ItemState::Downloading) {
            last_reading = reading;
            crate::queue::rebalance(&downloader.queue);
        }
        if state != last_state {
            last_state = state;
            if state == ItemState::Complete {
                checkpoint(&downloader.catalog, &item).await;
                tracing::info!("item {} complete", item.id());
            }
            downloader.catalog.emit_state(&item);
        }
        let deadline = match step {
            Step::Exit => {
                checkpoint(&downloader.catalog, &item).await;
                item.supervised.store(false, Ordering::SeqCst);
                crate::queue::rebalance(&downloader.queue);
                // A resume may have come in while we were leaving.
                if wants_supervisor(&item) && !item.supervised.swap(true, Ordering::SeqCst) {
                    continue;
                }
                return;
            }
            Step::Wait(deadline) => deadline,
        };
        let unsynced = item.lock().unsynced;
        let due = last_checkpoint.elapsed() >= interval;
        if due || unsynced >= downloader.config.checkpoint_bytes {
            if unsynced > 0 {
                checkpoint(&downloader.catalog, &item).await;
            }
            // Even with nothing saved: left in the past, the wake-up below
            // would spin this loop.
            last_checkpoint = Instant::now();
        }
        let mut wake = last_checkpoint + interval;
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        tokio::select! {
            () = item.cancel.cancelled() => {
                item.lock().cancel_fetches();
                if !item.lock().removed {
                    checkpoint(&downloader.catalog, &item).await;
                }
                item.supervised.store(false, Ordering::SeqCst);
                return;
            }
            () = item.kick.notified() => {}
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

fn wants_supervisor(item: &Item) -> bool {
    let st = item.lock();
    !st.removed && st.meta.failure.is_none() && !st.size_known_and_complete() && !item.cancel.is_cancelled()
}

type Start = (RunningFetch, Option<Response>);

/// Looks at the item, decides what to do (see [`step::step`]) and does it:
/// starts, shrinks or stops fetches, or fails the item.
fn decide(downloader: &Downloader, item: &Arc<Item>, first: &mut Option<Response>) -> (Step, Vec<Start>) {
    let settings = step::Settings {
        stall_timeout: downloader.config.stall_timeout,
        max_fetches: downloader.limits.get().connections_per_item.max(1),
        seek_threshold: downloader.config.seek_threshold,
    };
    let now = Instant::now();
    let mut st = item.lock();
    // Paused, or waiting its turn in the queue: fetch only for readers.
    let readers_only = st.meta.paused || !downloader.queue.admits(item.id());
    if readers_only {
        // The probe's response would hold a connection meanwhile.
        first.take();
    }
    let step::Step { acts, next } = next_step(&st, readers_only, now, &settings);

    let mut starts = Vec::new();
    let mut failed = false;
    for act in acts {
        match act {
            step::Act::Start { span, seek } => {
                let running = st.start_fetch(span.start, span.end, seek, &item.cancel);
                // The probe's response starts at byte 0: only a fetch from 0 can use it.
                let response = if span.start == 0 { first.take() } else { None };
                starts.push((running, response));
            }
            step::Act::Shrink { id, end } => {
                if let Some(fetch) = st.fetch_mut(id) {
                    fetch.end = end;
                }
            }
            step::Act::Stop { id } => {
                if let Some(i) = st.fetches.iter().position(|f| f.id == id) {
                    st.fetches.remove(i).cancel.cancel();
                }
            }
            step::Act::StopAll => st.cancel_fetches(),
            step::Act::Fail(reason) => {
                tracing::warn!("item {}: {reason}", item.id());
                st.meta.failure = Some(reason);
                failed = true;
            }
        }
    }
    drop(st);
    if failed {
        item.notify_readers();
    }
    let step = match next {
        step::Next::Exit => Step::Exit,
        step::Next::Wait(after) => Step::Wait(after.map(|d| now + d)),
    };
    (step, starts)
}

/// What the supervisor decides for the item as it is at `now`.
fn next_step(st: &LiveState, readers_only: bool, now: Instant, settings: &step::Settings) -> step::Step {
    let fetches = as_scheduled(st, settings.seek_threshold);
    let demands: Vec<schedule::Demand> = st
        .demands
        .values()
        .map(|d| schedule::Demand {
            at: d.pos,
            waited: d
                .waiting_since
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
        })
        .collect();
    let sight = step::Sight {
        over: st.removed || st.meta.failure.is_some() || st.size_known_and_complete(),
        failures: st.failures,
        since_progress: now.saturating_duration_since(st.last_progress),
        last_error: st.last_error.as_deref(),
        backoff_left: st.retry_at.map(|at| at.saturating_duration_since(now)),
        held: st.hold.is_some(),
        readers_only,
        reader_waits: st.reader_waits(),
        size: st.meta.size,
        ranged: st.meta.probed && st.meta.accepts_ranges,
        present: &st.written,
        fetches: &fetches,
        demands: &demands,
    };
    step::step(&sight, settings)
}

/// Whether fetch `fetch_id` should stand by for a reader another fetch feeds
/// (see [`schedule::gives_way`]); cheap when no reader is open.
fn gives_way(st: &LiveState, fetch_id: u64, seek_threshold: u64) -> bool {
    // Only for another fetch of the item: a lone fetch never stands by.
    if st.demands.is_empty() || st.fetches.len() < 2 {
        return false;
    }
    let readers: Vec<u64> = st.demands.values().map(|d| d.pos).collect();
    schedule::gives_way(fetch_id, &as_scheduled(st, seek_threshold), &readers)
}

/// The item's running fetches as the scheduler sees them.
fn as_scheduled(st: &LiveState, seek_threshold: u64) -> Vec<schedule::Fetch> {
    st.fetches
        .iter()
        .map(|f| schedule::Fetch {
            id: f.id,
            pos: f.pos,
            end: f.end,
            reach: f.reach(seek_threshold),
            age: f.started.elapsed(),
        })
        .collect()
}

/// Books the end of a fetch, as [`retry::after_fetch`] decides, and wakes
/// the supervisor.
async fn finish(downloader: &Arc<Downloader>, item: &Arc<Item>, fetch_id: u64, outcome: Outcome) {
    let after = {
        let mut st = item.lock();
        st.fetches.retain(|f| f.id != fetch_id);
        let after = retry::after_fetch(&outcome, st.failures, token::unit_random());
        match &after {
            retry::AfterFetch::Replan | retry::AfterFetch::StartOver(_) => {}
            retry::AfterFetch::Fail(reason) => {
                tracing::warn!("item {}: {reason}", item.id());
                st.meta.failure = Some(reason.clone());
                st.cancel_fetches();
            }
            retry::AfterFetch::Retry(wait) => {
                if let Outcome::Fault(fault) = &outcome {
                    book_retry(&mut st, fault, *wait);
                    tracing::info!(
                        "item {}: {fault} (fault {}, retrying in {} ms)",
                        item.id(),
                        st.failures,
                        wait.as_millis()
                    );
                }
            }
            retry::AfterFetch::WaitForSpace(reason) => {
                tracing::info!("item {}: {reason}", item.id());
                st.space_wait = true;
                st.hold = Some(reason.clone());
                st.cancel_fetches();
            }
            retry::AfterFetch::DiskFull => {
                tracing::warn!("item {}: the disk is full; downloading pauses", item.id());
                st.disk_full = true;
                st.hold = Some("the disk is full".to_string());
                st.cancel_fetches();
            }
        }
        after
    };
    if let retry::AfterFetch::StartOver(reason) = after {
        persist::reset_content(&downloader.catalog, item, &reason).await;
    }
    item.notify_readers();
    item.kick.notify_one();
}

/// Books a transient fault: the item's next fetch waits out a backoff, or
/// the origin's `Retry-After` when that is longer (see
/// [`retry::backoff_wait`]). Returns the wait.
pub(crate) fn book_fault(st: &mut LiveState, fault: &FetchError) -> Duration {
    let wait = retry::backoff_wait(fault, st.failures + 1, token::unit_random());
    book_retry(st, fault, wait);
    wait
}

fn book_retry(st: &mut LiveState, fault: &FetchError, wait: Duration) {
    st.failures += 1;
    st.last_error = Some(fault.to_string());
    st.retry_at = Some(Instant::now() + wait);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warm_up_at_a_time_per_origin() {
        let set = WarmingSet::default();
        let a = Warming::start(set.clone(), "http://a:1".into()).expect("the first starts");
        assert!(
            Warming::start(set.clone(), "http://a:1".into()).is_none(),
            "a second waits"
        );
        let b = Warming::start(set.clone(), "http://b:1".into());
        assert!(b.is_some(), "another origin has its own");
        drop(a);
        assert!(
            Warming::start(set, "http://a:1".into()).is_some(),
            "free again once it ended"
        );
    }

    // The supervisor's clock is tokio's: these drive its decisions on the
    // item's own state with paused time, as `supervise` would sleep.

    use crate::store::ItemMeta;

    fn unprobed_item(dir: &tempfile::TempDir) -> Item {
        Item::for_test(dir.path(), ItemMeta::default())
    }

    fn settings(stall_timeout: Duration) -> step::Settings {
        step::Settings {
            stall_timeout,
            max_fetches: 2,
            seek_threshold: 2 << 20,
        }
    }

    fn unavailable(retry_after: Option<u64>) -> FetchError {
        FetchError::Transient {
            status: Some(reqwest::StatusCode::SERVICE_UNAVAILABLE),
            message: "origin answered 503 Service Unavailable".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    /// Runs the supervisor's looks against an origin that always answers
    /// `fault`, sleeping (on the paused clock) as it would; returns the
    /// origin requests made, their times, and the failure it ends with.
    async fn against_a_down_origin(stall: Duration, fault: &FetchError) -> (Vec<Duration>, String) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let item = unprobed_item(&dir);
        let start = Instant::now();
        let mut requests = Vec::new();
        for _ in 0..1000 {
            let step = next_step(&item.lock(), false, Instant::now(), &settings(stall));
            match (step.acts.as_slice(), step.next) {
                ([step::Act::Start { .. }], step::Next::Wait(None)) => {
                    requests.push(start.elapsed());
                    book_fault(&mut item.lock(), fault);
                }
                ([], step::Next::Wait(Some(wait))) => tokio::time::sleep(wait).await,
                ([step::Act::StopAll, step::Act::Fail(reason)], step::Next::Exit) => {
                    return (requests, reason.clone());
                }
                other => panic!("unexpected step {other:?}"),
            }
        }
        panic!("no end after 1000 looks: {requests:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_origin_that_stays_down_costs_a_handful_of_requests_then_fails() {
        let fault = unavailable(None);
        let (requests, reason) = against_a_down_origin(Duration::from_secs(3), &fault).await;
        assert!((3..=10).contains(&requests.len()), "requests at {requests:?}");
        let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.windows(2).all(|w| w[1] >= w[0] / 2),
            "the waits grow (give or take jitter): {gaps:?}"
        );
        let longest = gaps.iter().max().copied().unwrap_or_default();
        assert!(longest >= Duration::from_millis(600), "gaps: {gaps:?}");
        assert_eq!(
            reason,
            "origin answered 503 Service Unavailable (gave up after 3 s without progress)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_out_before_the_next_request() {
        let fault = unavailable(Some(2));
        let (requests, _) = against_a_down_origin(Duration::from_secs(5), &fault).await;
        let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(!gaps.is_empty(), "requests at {requests:?}");
        assert!(
            gaps.iter().all(|gap| *gap >= Duration::from_secs(2)),
            "no request before Retry-After: {gaps:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn progress_resets_the_stall_clock() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let item = unprobed_item(&dir);
        let stall = settings(Duration::from_secs(3));
        book_fault(&mut item.lock(), &unavailable(None));
        tokio::time::sleep(Duration::from_secs(2)).await;
        // A byte arrives (what `fetch::record` books).
        {
            let mut st = item.lock();
            st.last_progress = Instant::now();
            st.failures = 0;
            st.retry_at = None;
        }
        book_fault(&mut item.lock(), &unavailable(None));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let step = next_step(&item.lock(), false, Instant::now(), &stall);
        assert_ne!(
            step.next,
            step::Next::Exit,
            "4 s after the start, 2 s after progress"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let step = next_step(&item.lock(), false, Instant::now(), &stall);
        assert_eq!(step.next, step::Next::Exit, "3 s without progress");
    }
}
