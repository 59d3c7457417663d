//! The downloader: per item, a supervisor task decides which origin fetches
//! run (see [`schedule`]); each fetch streams one response into the data
//! file and records what it wrote. Faults are retried with backoff; a
//! changed origin file starts the item over; nothing is ever mixed.

pub mod limit;
pub(crate) mod origin;
pub mod schedule;

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Response;

use crate::engine::Shared;
use crate::events::{Event, ItemState};
use crate::item::{Item, WorkerSlot};
use crate::name;
use crate::store::ItemMeta;
use crate::token;
use origin::{Answer, Body, FetchError};

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
}

/// Starts the item's supervisor unless one runs; `first` is an origin
/// response to `bytes=0-` already received (the probe of `add`).
pub(crate) fn spawn_supervisor(shared: &Arc<Shared>, item: Arc<Item>, first: Option<Response>) {
    if item.supervised.swap(true, Ordering::SeqCst) {
        item.kick.notify_one();
        return;
    }
    let shared2 = shared.clone();
    shared
        .tasks
        .spawn(async move { supervise(shared2, item, first).await });
}

/// What the supervisor does next.
enum Step {
    /// Wait for a kick, or until this instant.
    Wait(Option<Instant>),
    /// Nothing left to do (complete, failed or removed).
    Exit,
}

async fn supervise(shared: Arc<Shared>, item: Arc<Item>, mut first: Option<Response>) {
    let interval = shared.config.checkpoint_interval;
    let mut last_checkpoint = Instant::now();
    let mut last_state = item.lock().state();
    loop {
        let (step, starts) = decide(&shared, &item, &mut first);
        for (slot, response) in starts {
            let (shared2, item2) = (shared.clone(), item.clone());
            shared
                .tasks
                .spawn(async move { fetch(shared2, item2, slot, response).await });
        }
        let state = item.lock().state();
        if state != last_state {
            last_state = state;
            if state == ItemState::Complete {
                checkpoint(&shared, &item).await;
                tracing::info!("item {} complete", item.id());
            }
            shared.emit_state(&item);
        }
        let deadline = match step {
            Step::Exit => {
                checkpoint(&shared, &item).await;
                item.supervised.store(false, Ordering::SeqCst);
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
        if unsynced > 0 && (unsynced >= shared.config.checkpoint_bytes || due) {
            checkpoint(&shared, &item).await;
            last_checkpoint = Instant::now();
        } else if due {
            // Nothing to save: the next look is an interval from now. Left in
            // the past, the wake-up below would spin this loop.
            last_checkpoint = Instant::now();
        }
        let mut wake = last_checkpoint + interval;
        if let Some(deadline) = deadline {
            wake = wake.min(deadline);
        }
        tokio::select! {
            () = item.cancel.cancelled() => {
                item.lock().cancel_workers();
                if !item.lock().removed {
                    checkpoint(&shared, &item).await;
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

type Start = (WorkerSlot, Option<Response>);

/// Looks at the item and decides which fetches to start or stop.
fn decide(shared: &Shared, item: &Arc<Item>, first: &mut Option<Response>) -> (Step, Vec<Start>) {
    let config = &shared.config;
    let now = Instant::now();
    let mut st = item.lock();
    if st.removed || st.meta.failure.is_some() || st.size_known_and_complete() {
        st.cancel_workers();
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
        st.cancel_workers();
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
    let background = !st.meta.paused;
    let mut starts = Vec::new();
    let ranged = st.meta.probed && st.meta.accepts_ranges;
    match st.meta.size.filter(|_| ranged) {
        None => {
            // One sequential fetch: the origin must be probed, or cannot seek.
            if !background && st.demands.is_empty() {
                st.cancel_workers();
            } else if st.workers.is_empty() {
                let limit = st.meta.size.unwrap_or(u64::MAX);
                if let Some(gap) = st.written.first_gap_from(0, limit) {
                    let slot = st.new_worker(gap.start, limit, &item.cancel);
                    starts.push((slot, first.take()));
                }
            }
        }
        Some(size) => {
            let fetches: Vec<_> = st
                .workers
                .iter()
                .map(|w| schedule::Fetch {
                    id: w.id,
                    pos: w.pos,
                    end: w.end,
                    reach: w.reach(config.seek_threshold),
                })
                .collect();
            let demands: Vec<u64> = st.demands.values().copied().collect();
            let actions = schedule::plan(&schedule::Inputs {
                size,
                present: &st.written,
                fetches: &fetches,
                demands: &demands,
                max_fetches: shared.limits().connections_per_item.max(1),
                background,
                seek_threshold: config.seek_threshold,
                min_split: config.seek_threshold.max(1 << 20),
            });
            for action in actions {
                match action {
                    schedule::Action::Start(r) => {
                        let slot = st.new_worker(r.start, r.end, &item.cancel);
                        // The probe's response starts at byte 0: only a fetch from 0 can use it.
                        let response = if r.start == 0 { first.take() } else { None };
                        starts.push((slot, response));
                    }
                    schedule::Action::Shrink { id, end } => {
                        if let Some(w) = st.worker(id) {
                            w.end = end;
                        }
                    }
                    schedule::Action::Stop { id } => {
                        if let Some(i) = st.workers.iter().position(|w| w.id == id) {
                            st.workers.remove(i).cancel.cancel();
                        }
                    }
                }
            }
        }
    }
    (Step::Wait(None), starts)
}

async fn fetch(shared: Arc<Shared>, item: Arc<Item>, slot: WorkerSlot, first: Option<Response>) {
    let outcome = tokio::select! {
        outcome = run_fetch(&shared, &item, &slot, first) => outcome,
        () = slot.cancel.cancelled() => Outcome::Stopped,
    };
    finish(&shared, &item, slot.id, outcome).await;
}

/// One origin request for `slot`, streamed into the data file.
async fn run_fetch(shared: &Shared, item: &Item, slot: &WorkerSlot, first: Option<Response>) -> Outcome {
    let (generation, file, meta) = {
        let st = item.lock();
        (st.meta.generation, st.file.clone(), st.meta.clone())
    };
    let asked_from = if first.is_some() { 0 } else { slot.pos };
    let response = match first {
        Some(response) => response,
        None => {
            let ranged = meta.probed && meta.accepts_ranges && meta.size.is_some();
            let range = if ranged {
                Some((slot.pos, Some(slot.end)))
            } else {
                // Unprobed or no range support: ask anyway; a 200 is handled.
                Some((slot.pos, None))
            };
            let if_range = origin::if_range_validator(meta.etag.as_deref(), meta.last_modified.as_deref())
                .filter(|_| meta.probed);
            let request = origin::Request {
                url: &item.source.source_url,
                headers: &item.source.headers,
                range,
                if_range,
                timeout: shared.config.origin_timeout,
            };
            match origin::send(&shared.client, request).await {
                Ok(response) => response,
                Err(e) => return Outcome::Fault(e),
            }
        }
    };
    let answer = match origin::answer(&response) {
        Ok(answer) => answer,
        Err(e) => return Outcome::Fault(e),
    };

    let body_start = {
        let mut st = item.lock();
        if st.meta.generation != generation {
            return Outcome::Stopped;
        }
        if st.meta.probed {
            match check_answer(&st.meta, &answer, asked_from) {
                Ok(Verdict::Bytes(start)) => start,
                Ok(Verdict::IgnoresRanges) => {
                    tracing::info!(
                        "item {}: the origin ignores ranges; downloading in sequence",
                        item.id()
                    );
                    st.meta.accepts_ranges = false;
                    0
                }
                Err(outcome) => return outcome,
            }
        } else {
            learn(&mut st.meta, &answer, &item.source.source_url);
            let size = st.meta.size;
            if let (Some(size), Some(w)) = (size, st.worker(slot.id)) {
                w.end = w.end.min(size);
            }
            drop(st);
            item.notify_readers();
            item.kick.notify_one();
            match answer.body {
                Body::Partial { start, .. } => start,
                Body::Full { .. } => 0,
                Body::Unsatisfiable { .. } => return Outcome::Done,
            }
        }
    };
    let whole = matches!(answer.body, Body::Full { .. });
    let outcome = stream_body(shared, item, slot.id, generation, &file, response, body_start).await;
    match outcome {
        Outcome::Fault(FetchError::Transient { message, .. }) if whole => short_whole_body(item, &message),
        outcome => outcome,
    }
}

/// A whole-file response ended before the length it declared. When the
/// next one ends at the same byte again, the declared length is a lie:
/// the file is what the origin sends (this is how a wrong Content-Length
/// from an origin without ranges is corrected instead of retried forever).
fn short_whole_body(item: &Item, message: &str) -> Outcome {
    let mut st = item.lock();
    let end = st.written.run_from(0);
    if end > 0 && st.short_end == Some(end) && st.meta.size.is_some_and(|size| size > end) {
        tracing::warn!(
            "item {}: the origin declares {:?} bytes but sends {end}; taking {end}",
            item.id(),
            st.meta.size
        );
        st.meta.size = Some(end);
        st.short_end = None;
        drop(st);
        item.notify_readers();
        return Outcome::Done;
    }
    st.short_end = Some(end);
    Outcome::Fault(FetchError::transient(message))
}

/// Writes the body of `response` (which starts at offset `body_start`) into
/// the part of the data file the slot owns.
async fn stream_body(
    shared: &Shared,
    item: &Item,
    slot: u64,
    generation: u64,
    file: &std::fs::File,
    mut response: Response,
    body_start: u64,
) -> Outcome {
    let timeout = shared.config.origin_timeout;
    let mut offset = body_start;
    loop {
        let chunk = match tokio::time::timeout(timeout, response.chunk()).await {
            Err(_) => {
                return Outcome::Fault(FetchError::transient(format!(
                    "the origin sent nothing for {} s",
                    timeout.as_secs()
                )))
            }
            Ok(Err(e)) => {
                return Outcome::Fault(FetchError::transient(format!(
                    "the origin connection broke at byte {offset}: {}",
                    origin::error_chain(&e)
                )))
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        let chunk_start = offset;
        offset += chunk.len() as u64;
        let Some((pos, end)) = item
            .lock()
            .workers
            .iter()
            .find(|w| w.id == slot)
            .map(|w| (w.pos, w.end))
        else {
            return Outcome::Stopped;
        };
        let (from, to) = (chunk_start.max(pos), offset.min(end));
        if from < to {
            shared.rate.take(to - from).await;
            item.rate.take(to - from).await;
            let bytes = &chunk[(from - chunk_start) as usize..(to - chunk_start) as usize];
            // A page-cache write: quick enough to do in place. Fsync is not.
            if let Err(e) = file.write_all_at(bytes, from) {
                return Outcome::Disk(e);
            }
            if !record(shared, item, slot, generation, from, to) {
                return Outcome::Stopped;
            }
        }
        if offset >= end {
            return Outcome::Done;
        }
    }
    // The body ended without an error.
    let mut st = item.lock();
    let Some(w) = st.workers.iter().find(|w| w.id == slot) else {
        return Outcome::Stopped;
    };
    if w.end == u64::MAX && st.meta.size.is_none() {
        // A chunked origin: its length is what it sent.
        st.meta.size = Some(offset);
        drop(st);
        item.notify_readers();
        return Outcome::Done;
    }
    if offset < w.end {
        return Outcome::Fault(FetchError::transient(format!(
            "the origin ended the body at byte {offset}, before byte {}",
            w.end
        )));
    }
    Outcome::Done
}

/// Records bytes written by a fetch; false when the fetch should stop.
fn record(shared: &Shared, item: &Item, slot: u64, generation: u64, from: u64, to: u64) -> bool {
    let now = Instant::now();
    let mut st = item.lock();
    if st.meta.generation != generation || st.removed {
        return false;
    }
    st.written.insert(from, to);
    st.unsynced += to - from;
    st.last_progress = now;
    st.failures = 0;
    st.retry_at = None;
    if let Some(w) = st.worker(slot) {
        w.pos = to;
        w.written += to - from;
    }
    let downloaded = st.written.total();
    let complete = st.size_known_and_complete();
    let progress = if now.duration_since(st.progress_mark.0) >= Duration::from_millis(100) || complete {
        let elapsed = now.duration_since(st.progress_mark.0).as_secs_f64().max(0.001);
        let rate = (downloaded.saturating_sub(st.progress_mark.1) as f64 / elapsed) as u64;
        st.progress_mark = (now, downloaded);
        Some(Event::Progress {
            id: item.id().to_string(),
            downloaded,
            size: st.meta.size,
            rate,
        })
    } else {
        None
    };
    let checkpoint_due = st.unsynced >= shared.config.checkpoint_bytes;
    drop(st);
    item.notify_readers();
    if let Some(event) = progress {
        shared.emit(event);
    }
    if checkpoint_due || complete {
        item.kick.notify_one();
    }
    true
}

/// Books the end of a fetch and wakes the supervisor.
async fn finish(shared: &Arc<Shared>, item: &Arc<Item>, slot: u64, outcome: Outcome) {
    {
        let mut st = item.lock();
        st.workers.retain(|w| w.id != slot);
        match &outcome {
            Outcome::Done | Outcome::Stopped | Outcome::Changed(_) => {}
            Outcome::Fault(FetchError::Definitive(message)) => {
                tracing::warn!("item {}: {message}", item.id());
                st.meta.failure = Some(message.clone());
                st.cancel_workers();
            }
            Outcome::Fault(fault) => {
                st.failures += 1;
                let retry_after = match fault {
                    FetchError::Transient { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let wait =
                    backoff(st.failures).max(retry_after.unwrap_or_default().min(Duration::from_secs(60)));
                tracing::info!(
                    "item {}: {} (fault {}, retrying in {} ms)",
                    item.id(),
                    fault.message(),
                    st.failures,
                    wait.as_millis()
                );
                st.last_error = Some(fault.message().to_string());
                st.retry_at = Some(Instant::now() + wait);
            }
            Outcome::Disk(e) => {
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    tracing::warn!("item {}: the disk is full; downloading pauses", item.id());
                    st.disk_full = true;
                    st.hold = Some("the disk is full".to_string());
                    st.cancel_workers();
                } else {
                    st.meta.failure = Some(format!("cannot write the data file: {e}"));
                    st.cancel_workers();
                }
            }
        }
    }
    if let Outcome::Changed(reason) = outcome {
        reset_content(shared, item, &reason).await;
    }
    item.notify_readers();
    item.kick.notify_one();
}

/// Exponential backoff with jitter: 250 ms, 500 ms, 1 s … capped at 10 s.
fn backoff(failures: u32) -> Duration {
    let base = 250u64
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(10_000);
    let jitter = 0.75 + 0.5 * token::unit_random();
    Duration::from_millis((base as f64 * jitter) as u64)
}

/// How a response to a range request fits what the item holds.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Bytes of the same file, starting at this offset.
    Bytes(u64),
    /// The same file, whole: the origin does not do ranges (any more).
    IgnoresRanges,
}

fn check_answer(meta: &ItemMeta, answer: &Answer, asked_from: u64) -> Result<Verdict, Outcome> {
    let changed = |why: String| Err(Outcome::Changed(why));
    let had_validators = meta.etag.is_some() || meta.last_modified.is_some();
    if let (Some(old), Some(new)) = (&meta.etag, &answer.etag) {
        if old != new {
            return changed(format!("its ETag changed from {old} to {new}"));
        }
    } else if let (None, Some(old), Some(new)) = (&meta.etag, &meta.last_modified, &answer.last_modified) {
        if old != new {
            return changed(format!("its Last-Modified changed from {old} to {new}"));
        }
    }
    let same_length = |total: Option<u64>| match (total, meta.size) {
        (Some(new), Some(old)) if new != old => Err(Outcome::Changed(format!(
            "its length changed from {old} to {new}"
        ))),
        _ => Ok(()),
    };
    match answer.body {
        Body::Partial { start, total, .. } => {
            same_length(total)?;
            if start != asked_from {
                return Err(Outcome::Fault(FetchError::transient(format!(
                    "the origin sent bytes from {start} when asked for {asked_from}"
                ))));
            }
            Ok(Verdict::Bytes(start))
        }
        Body::Full { len } => {
            same_length(len)?;
            let validated = answer.etag.is_some() || answer.last_modified.is_some();
            if had_validators && !validated {
                // If-Range failed and nothing proves it is the same file.
                return changed("the origin sent the whole file without validators".into());
            }
            Ok(if asked_from == 0 {
                Verdict::Bytes(0)
            } else {
                Verdict::IgnoresRanges
            })
        }
        Body::Unsatisfiable { total } => {
            same_length(total)?;
            Err(Outcome::Fault(FetchError::transient(format!(
                "the origin refused the range from {asked_from}"
            ))))
        }
    }
}

/// Takes what the first answer says about the file.
pub(crate) fn learn(meta: &mut ItemMeta, answer: &Answer, url: &str) {
    meta.probed = true;
    meta.etag = answer.etag.clone();
    meta.last_modified = answer.last_modified.clone();
    meta.content_type = answer.content_type.clone();
    if answer.content_disposition.is_some() {
        meta.name = name::display_name(answer.content_disposition.as_deref(), url);
    }
    (meta.size, meta.accepts_ranges) = match answer.body {
        Body::Partial { total, .. } => (total, total.is_some()),
        Body::Full { len } => (len, false),
        Body::Unsatisfiable { total } => (total, true),
    };
}

/// Fsyncs the data file, then records what it holds in `state.json`. The
/// state never claims bytes that were not on disk before it was written.
pub(crate) async fn checkpoint(shared: &Shared, item: &Item) {
    let _saving = item.save_lock.lock().await;
    let (file, snapshot, generation, unsynced) = {
        let mut st = item.lock();
        let unsynced = st.unsynced;
        st.unsynced = 0;
        (st.file.clone(), st.written.clone(), st.meta.generation, unsynced)
    };
    if unsynced > 0 {
        let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
        if !matches!(synced, Ok(Ok(()))) {
            tracing::warn!("item {}: fsync of the data file failed: {synced:?}", item.id());
            item.lock().unsynced += unsynced;
            return;
        }
    }
    let meta = {
        let mut st = item.lock();
        if st.removed || st.meta.generation != generation {
            return;
        }
        st.meta.present = snapshot;
        st.meta.clone()
    };
    write_meta(shared, item, meta).await;
}

/// Saves an item's settings (pin, pause) along with its progress.
pub(crate) async fn save(shared: &Shared, item: &Item) {
    checkpoint(shared, item).await;
}

async fn write_meta(shared: &Shared, item: &Item, meta: ItemMeta) {
    let store = shared.store.clone();
    let id = item.id().to_string();
    let saved = tokio::task::spawn_blocking(move || store.save_meta(&id, &meta)).await;
    if !matches!(saved, Ok(Ok(()))) {
        tracing::warn!("item {}: cannot save its state: {saved:?}", item.id());
    }
}

/// The origin's file changed: open responses abort, the bytes are discarded
/// and the download starts over in a new data file.
async fn reset_content(shared: &Shared, item: &Item, reason: &str) {
    tracing::warn!(
        "item {}: the origin's file changed ({reason}); starting over",
        item.id()
    );
    let _saving = item.save_lock.lock().await;
    let store = shared.store.clone();
    let id = item.id().to_string();
    let file = match tokio::task::spawn_blocking(move || store.create_next_data(&id)).await {
        Ok(Ok(file)) => file,
        other => {
            let mut st = item.lock();
            st.meta.failure = Some(format!("cannot create a new data file: {other:?}"));
            st.cancel_workers();
            return;
        }
    };
    let meta = {
        let mut st = item.lock();
        st.cancel_workers();
        st.file = Arc::new(file);
        st.meta.generation += 1;
        st.written.clear();
        st.meta.present.clear();
        st.meta.probed = false;
        st.meta.size = None;
        st.meta.etag = None;
        st.meta.last_modified = None;
        st.meta.accepts_ranges = false;
        st.unsynced = 0;
        st.failures = 0;
        st.retry_at = None;
        st.last_progress = Instant::now();
        st.meta.clone()
    };
    item.notify_readers();
    // State first (it claims nothing), then the new file takes the old one's name.
    write_meta(shared, item, meta).await;
    let store = shared.store.clone();
    let id = item.id().to_string();
    if let Ok(Err(e)) | Err(e) = tokio::task::spawn_blocking(move || store.commit_next_data(&id))
        .await
        .map_err(std::io::Error::other)
    {
        tracing::warn!("item {}: cannot replace the data file: {e}", item.id());
    }
    shared.emit(Event::Restarted {
        id: item.id().to_string(),
        reason: format!("the origin's file changed: {reason}"),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, etag: Option<&str>) -> ItemMeta {
        ItemMeta {
            size: Some(size),
            etag: etag.map(str::to_string),
            probed: true,
            accepts_ranges: true,
            ..ItemMeta::default()
        }
    }

    fn answer(body: Body, etag: Option<&str>) -> Answer {
        Answer {
            body,
            etag: etag.map(str::to_string),
            last_modified: None,
            content_type: None,
            content_disposition: None,
        }
    }

    fn verdict(m: &ItemMeta, a: &Answer, from: u64) -> String {
        match check_answer(m, a, from) {
            Ok(v) => format!("{v:?}"),
            Err(Outcome::Changed(_)) => "changed".into(),
            Err(Outcome::Fault(_)) => "fault".into(),
            Err(o) => format!("{o:?}"),
        }
    }

    #[test]
    fn answers_to_range_requests() {
        let v1 = Some("\"v1\"");
        let partial = |start, total| Body::Partial {
            start,
            last: 99,
            total,
        };
        let table = [
            (meta(100, v1), answer(partial(10, Some(100)), v1), 10, "Bytes(10)"),
            (
                meta(100, v1),
                answer(partial(10, Some(100)), Some("\"v2\"")),
                10,
                "changed",
            ),
            (meta(100, v1), answer(partial(10, Some(200)), v1), 10, "changed"),
            (meta(100, v1), answer(partial(0, Some(100)), v1), 10, "fault"),
            (
                meta(100, v1),
                answer(Body::Full { len: Some(100) }, v1),
                10,
                "IgnoresRanges",
            ),
            (
                meta(100, v1),
                answer(Body::Full { len: Some(100) }, None),
                10,
                "changed",
            ),
            (
                meta(100, None),
                answer(Body::Full { len: Some(100) }, None),
                10,
                "IgnoresRanges",
            ),
            (
                meta(100, None),
                answer(Body::Full { len: Some(90) }, None),
                10,
                "changed",
            ),
            (
                meta(100, v1),
                answer(Body::Unsatisfiable { total: Some(50) }, None),
                60,
                "changed",
            ),
            (
                meta(100, v1),
                answer(Body::Unsatisfiable { total: Some(100) }, None),
                60,
                "fault",
            ),
        ];
        for (i, (m, a, from, want)) in table.iter().enumerate() {
            assert_eq!(verdict(m, a, *from), *want, "row {i}");
        }
    }

    #[test]
    fn learning_from_the_first_answer() {
        let mut m = ItemMeta {
            name: "x".into(),
            ..ItemMeta::default()
        };
        let mut a = answer(
            Body::Partial {
                start: 0,
                last: 9,
                total: Some(10),
            },
            Some("\"e\""),
        );
        a.content_disposition = Some("attachment; filename=\"film.mkv\"".into());
        learn(&mut m, &a, "http://h/x");
        assert!(m.probed && m.accepts_ranges);
        assert_eq!(
            (m.size, m.name.as_str(), m.etag.as_deref()),
            (Some(10), "film.mkv", Some("\"e\""))
        );
        learn(&mut m, &answer(Body::Full { len: None }, None), "http://h/x");
        assert!(!m.accepts_ranges);
        assert_eq!(m.size, None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let ms = |n| backoff(n).as_millis();
        assert!((187..=313).contains(&ms(1)), "{}", ms(1));
        assert!((750..=1250).contains(&ms(3)), "{}", ms(3));
        assert!(ms(30) <= 12_500);
    }
}
