//! The downloader: per item, a supervisor task decides which origin fetches
//! run (see [`schedule`]); each fetch streams one response into the data
//! file and records what it wrote. Faults are retried with backoff; a
//! changed origin file starts the item over; nothing is ever mixed.

mod context;
mod fetch;
pub(crate) mod origin;
pub(crate) mod persist;
pub mod schedule;
mod thread;

pub(crate) use context::Downloader;
pub(crate) use fetch::learn;
pub(crate) use persist::{checkpoint, save};
pub(crate) use thread::DownloadThread;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Response;

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
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

fn wants_supervisor(item: &Item) -> bool {
    let st = item.lock();
    !st.removed && st.meta.failure.is_none() && !st.size_known_and_complete() && !item.cancel.is_cancelled()
}

type Start = (RunningFetch, Option<Response>);

/// When every connection serves readers, how long a reader waits before it
/// takes one, and how long a fetch serves its readers before giving its
/// connection up (see [`schedule::plan`]): readers' turns.
const READER_TURN: Duration = Duration::from_secs(1);
/// How often the supervisor looks again while a reader waits.
const REPLAN_WHILE_WAITING: Duration = Duration::from_millis(250);

/// Looks at the item and decides which fetches to start or stop.
fn decide(downloader: &Downloader, item: &Arc<Item>, first: &mut Option<Response>) -> (Step, Vec<Start>) {
    let config = &downloader.config;
    let now = Instant::now();
    let mut st = item.lock();
    if st.removed || st.meta.failure.is_some() || st.size_known_and_complete() {
        st.cancel_fetches();
        return (Step::Exit, Vec::new());
    }
    if st.failures > 0 && now.duration_since(st.last_progress) >= config.stall_timeout {
        let last = st.last_error.clone().unwrap_or_else(|| "origin fault".into());
        let failure = format!(
            "{last} (gave up after {} s without progress)",
            config.stall_timeout.as_secs()
        );
        tracing::warn!("item {}: {failure}", item.id());
        st.meta.failure = Some(failure);
        st.cancel_fetches();
        drop(st);
        item.notify_readers();
        return (Step::Exit, Vec::new());
    }
    if let Some(at) = st.retry_at.filter(|at| *at > now) {
        return (Step::Wait(Some(at)), Vec::new());
    }
    if st.hold.is_some() {
        return (Step::Wait(None), Vec::new());
    }
    // Beyond the queue's running items, fetch only for readers.
    let background = !st.meta.paused && downloader.queue.admits(item.id());
    if !background {
        // The probe's response would hold a connection while queued.
        first.take();
    }
    let mut starts = Vec::new();
    let ranged = st.meta.probed && st.meta.accepts_ranges;
    match st.meta.size.filter(|_| ranged) {
        None => {
            // One sequential fetch: the origin must be probed, or cannot seek.
            if !background && !st.reader_waits() {
                st.cancel_fetches();
            } else if st.fetches.is_empty() {
                let limit = st.meta.size.unwrap_or(u64::MAX);
                if let Some(gap) = st.written.first_gap_from(0, limit) {
                    let running = st.start_fetch(gap.start, limit, false, &item.cancel);
                    starts.push((running, first.take()));
                }
            }
        }
        Some(size) => {
            let fetches = as_scheduled(&st, config.seek_threshold);
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
            let actions = schedule::plan(&schedule::Inputs {
                size,
                present: &st.written,
                fetches: &fetches,
                demands: &demands,
                max_fetches: downloader.limits.get().connections_per_item.max(1),
                background,
                seek_threshold: config.seek_threshold,
                min_split: config.seek_threshold.max(1 << 20),
                patience: READER_TURN,
            });
            for action in actions {
                match action {
                    schedule::Action::Start(r) | schedule::Action::Seek(r) => {
                        let seek = matches!(action, schedule::Action::Seek(_));
                        let running = st.start_fetch(r.start, r.end, seek, &item.cancel);
                        // The probe's response starts at byte 0: only a fetch from 0 can use it.
                        let response = if r.start == 0 { first.take() } else { None };
                        starts.push((running, response));
                    }
                    schedule::Action::Shrink { id, end } => {
                        if let Some(f) = st.fetch_mut(id) {
                            f.end = end;
                        }
                    }
                    schedule::Action::Stop { id } => {
                        if let Some(i) = st.fetches.iter().position(|f| f.id == id) {
                            st.fetches.remove(i).cancel.cancel();
                        }
                    }
                }
            }
        }
    }
    // A reader still waiting may take a connection once it has waited its
    // turn: look again soon rather than at the next kick.
    (
        Step::Wait(st.reader_waits().then(|| now + REPLAN_WHILE_WAITING)),
        starts,
    )
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

/// Books the end of a fetch and wakes the supervisor.
async fn finish(downloader: &Arc<Downloader>, item: &Arc<Item>, fetch_id: u64, outcome: Outcome) {
    {
        let mut st = item.lock();
        st.fetches.retain(|f| f.id != fetch_id);
        match &outcome {
            Outcome::Done | Outcome::Stopped | Outcome::Changed(_) => {}
            Outcome::Fault(fault) if fault.is_definitive() => {
                tracing::warn!("item {}: {fault}", item.id());
                st.meta.failure = Some(fault.to_string());
                st.cancel_fetches();
            }
            Outcome::Fault(fault) => {
                let wait = book_fault(&mut st, fault);
                tracing::info!(
                    "item {}: {} (fault {}, retrying in {} ms)",
                    item.id(),
                    fault,
                    st.failures,
                    wait.as_millis()
                );
            }
            Outcome::NoRoom(no_room) => {
                tracing::info!("item {}: {}", item.id(), no_room.reason());
                st.space_wait = true;
                st.hold = Some(no_room.reason());
                st.cancel_fetches();
            }
            Outcome::Disk(e) => {
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    tracing::warn!("item {}: the disk is full; downloading pauses", item.id());
                    st.disk_full = true;
                    st.hold = Some("the disk is full".to_string());
                    st.cancel_fetches();
                } else {
                    st.meta.failure = Some(format!("cannot write the data file: {e}"));
                    st.cancel_fetches();
                }
            }
        }
    }
    if let Outcome::Changed(reason) = outcome {
        persist::reset_content(&downloader.catalog, item, &reason).await;
    }
    item.notify_readers();
    item.kick.notify_one();
}

/// Books a transient fault: the item's next fetch waits out a backoff, or
/// the origin's `Retry-After` (at most 60 s) when that is longer. Returns
/// the wait.
pub(crate) fn book_fault(st: &mut LiveState, fault: &FetchError) -> Duration {
    st.failures += 1;
    let retry_after = match fault {
        FetchError::Transient { retry_after, .. } => *retry_after,
        _ => None,
    };
    let wait = backoff(st.failures).max(retry_after.unwrap_or_default().min(Duration::from_secs(60)));
    st.last_error = Some(fault.to_string());
    st.retry_at = Some(Instant::now() + wait);
    wait
}

/// Exponential backoff with jitter: 250 ms, 500 ms, 1 s … capped at 10 s.
fn backoff(failures: u32) -> Duration {
    let base = 250u64
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(10_000);
    let jitter = 0.75 + 0.5 * token::unit_random();
    Duration::from_millis((base as f64 * jitter) as u64)
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

    #[test]
    fn backoff_grows_and_is_capped() {
        let ms = |n| backoff(n).as_millis();
        assert!((187..=313).contains(&ms(1)), "{}", ms(1));
        assert!((750..=1250).contains(&ms(3)), "{}", ms(3));
        assert!(ms(30) <= 12_500);
    }
}
