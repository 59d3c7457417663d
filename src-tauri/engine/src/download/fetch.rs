//! One fetch: an origin request for a span of an item, checked against what
//! the item holds, and its body streamed into the data file.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Response;
use tokio::time::Instant;

use super::origin::{self, Answer, Body, FetchError};
use super::request::{self, RequestPlan};
use super::Downloader;
use super::{finish, Outcome};
use crate::disk::{Grant, NoRoom};
use crate::events::Event;
use crate::item::{Item, RunningFetch};
use crate::name;
use crate::store::ItemMeta;

pub(super) async fn fetch(
    downloader: Arc<Downloader>,
    item: Arc<Item>,
    running: RunningFetch,
    first: Option<Response>,
) {
    let outcome = tokio::select! {
        outcome = run_fetch(&downloader, &item, &running, first) => outcome,
        () = running.cancel.cancelled() => Outcome::Stopped,
    };
    finish(&downloader, &item, running.id, outcome).await;
}

/// One origin request for `running`, streamed into the data file.
async fn run_fetch(
    downloader: &Downloader,
    item: &Item,
    running: &RunningFetch,
    first: Option<Response>,
) -> Outcome {
    let (generation, file, url, plan) = {
        let st = item.lock();
        let plan = request::plan(&st.meta, running.pos, running.end, running.seek);
        (st.meta.generation, st.file.clone(), st.url.clone(), plan)
    };
    // The probe's response answered `bytes=0-`.
    let asked_from = if first.is_some() { 0 } else { running.pos };
    let response = match first {
        Some(response) => response,
        None => match send(downloader, item, &url, plan).await {
            Ok(response) => response,
            Err(e) => return Outcome::Fault(e),
        },
    };
    let answer = match origin::answer(&response) {
        Ok(answer) => answer,
        Err(e) => return Outcome::Fault(e),
    };
    let body_start = match body_start(item, running.id, generation, &answer, asked_from, &url) {
        Ok(start) => start,
        Err(outcome) => return outcome,
    };
    // This seek took the warm connection: warm the next one (HTTP/2 has
    // no need: its requests share one connection).
    if running.seek && response.version() <= reqwest::Version::HTTP_11 {
        // Dropping the handle lets the warm-up run on.
        drop(super::warm_for_seeks(downloader, &url, &item.headers));
    }
    let whole = matches!(answer.body, Body::Full { .. });
    let outcome = stream_body(
        downloader, item, running.id, generation, &file, response, body_start,
    )
    .await;
    match outcome {
        Outcome::Fault(FetchError::Transient { message, .. }) if whole => short_whole_body(item, &message),
        outcome => outcome,
    }
}

/// Where the answer's bytes start, once they are known to be of the file
/// the item holds (an unprobed item learns from the answer what it is).
fn body_start(
    item: &Item,
    fetch_id: u64,
    generation: u64,
    answer: &Answer,
    asked_from: u64,
    url: &str,
) -> Result<u64, Outcome> {
    let mut st = item.lock();
    if st.meta.generation != generation {
        return Err(Outcome::Stopped);
    }
    if st.meta.probed {
        return match check_answer(&st.meta, answer, asked_from)? {
            Verdict::Bytes(start) => Ok(start),
            Verdict::IgnoresRanges => {
                tracing::info!(
                    "item {}: the origin ignores ranges; downloading in sequence",
                    item.id()
                );
                st.meta.accepts_ranges = false;
                Ok(0)
            }
        };
    }
    learn(&mut st.meta, answer, url);
    let size = st.meta.size;
    if let (Some(size), Some(fetch)) = (size, st.fetch_mut(fetch_id)) {
        fetch.end = fetch.end.min(size);
    }
    drop(st);
    item.notify_readers();
    item.kick.notify_one();
    match answer.body {
        Body::Partial { start, .. } => Ok(start),
        Body::Full { .. } => Ok(0),
        Body::Unsatisfiable { .. } => Err(Outcome::Done),
    }
}

/// Sends a fetch's planned request.
async fn send(
    downloader: &Downloader,
    item: &Item,
    url: &str,
    plan: RequestPlan,
) -> Result<Response, FetchError> {
    let request = origin::Request {
        url,
        headers: &item.headers,
        range: Some(plan.range),
        if_range: plan.if_range.as_deref(),
        timeout: downloader.config.origin_timeout,
        resend_if_stale: plan.warm_connection,
    };
    let client = if plan.warm_connection {
        &downloader.seek_client
    } else {
        &downloader.client
    };
    origin::send(client, request).await
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
/// the part of the data file the fetch owns.
async fn stream_body(
    downloader: &Downloader,
    item: &Item,
    fetch_id: u64,
    generation: u64,
    file: &std::fs::File,
    mut response: Response,
    body_start: u64,
) -> Outcome {
    let timeout = downloader.config.origin_timeout;
    let mut offset = body_start;
    // Every byte written is granted first: the reserve holds at any speed.
    let mut grant = downloader.space.grant(item.id());
    loop {
        give_way(downloader, item, fetch_id).await;
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
        let Some((pos, end)) = item.lock().fetch_mut(fetch_id).map(|f| (f.pos, f.end)) else {
            return Outcome::Stopped;
        };
        let (from, to) = (chunk_start.max(pos), offset.min(end));
        if from < to {
            downloader.rate.take(to - from).await;
            item.rate.take(to - from).await;
            let bytes = &chunk[(from - chunk_start) as usize..(to - chunk_start) as usize];
            if let Err(no_room) = cover(downloader, item, &mut grant, to - from, end - from).await {
                return Outcome::NoRoom(no_room);
            }
            // A page-cache write: quick enough to do in place. Fsync is not.
            let written = file.write_all_at(bytes, from);
            // Only now: until the bytes are in the file, free space has not
            // dropped by them, and the ledger must still count them.
            grant.spend(to - from);
            if let Err(e) = written {
                return Outcome::Disk(e);
            }
            if !record(downloader, item, fetch_id, generation, from, to) {
                return Outcome::Stopped;
            }
            // An origin burst makes every `chunk()` ready at once, and this
            // loop would write megabytes before the download thread's other
            // tasks (a seek's fetch, the supervisor planning one) get a turn:
            // while a player has the item open, fetches take turns per chunk.
            if item.in_use() {
                tokio::task::yield_now().await;
            }
        }
        if offset >= end {
            return Outcome::Done;
        }
    }
    // The body ended without an error.
    let mut st = item.lock();
    let Some(fetch_end) = st.fetch_mut(fetch_id).map(|f| f.end) else {
        return Outcome::Stopped;
    };
    if fetch_end == u64::MAX && st.meta.size.is_none() {
        // A chunked origin: its length is what it sent.
        st.meta.size = Some(offset);
        drop(st);
        item.notify_readers();
        return Outcome::Done;
    }
    if offset < fetch_end {
        return Outcome::Fault(FetchError::transient(format!(
            "the origin ended the body at byte {offset}, before byte {fetch_end}"
        )));
    }
    Outcome::Done
}

/// Grants the next `n` bytes of a fetch that will write at most `span`
/// more (see [`crate::disk`]). While other fetches of the item still hold
/// granted bytes, a refused fetch waits for them to be written and asks
/// again (its response unread meanwhile); the last one refused stops the
/// item.
async fn cover(
    downloader: &Downloader,
    item: &Item,
    grant: &mut Grant,
    n: u64,
    span: u64,
) -> Result<(), NoRoom> {
    // Most writes are within the grant: nothing to ask, nothing to watch.
    if grant.holds(n) {
        return Ok(());
    }
    loop {
        // Subscribed before asking, so a write after the refusal is not missed.
        let mut changes = item.changes();
        let no_room = match grant.cover(n, span, downloader.limits.get().min_free) {
            Ok(()) => return Ok(()),
            Err(no_room) if !no_room.siblings_hold => return Err(no_room),
            Err(no_room) => no_room,
        };
        // A sibling's write wakes it; the tick covers one that ends without
        // writing (its grant returns when it drops).
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return Err(no_room) },
            () = tokio::time::sleep(SIBLING_TICK) => {}
        }
    }
}

/// How often a fetch refused disk space looks again while its siblings
/// still hold grants.
const SIBLING_TICK: Duration = Duration::from_millis(50);

/// A fetch stands by while the item keeps changing (the fetch it gives way
/// to makes progress); this long without a change, it goes on, since that
/// fetch may be stalled.
const STANDBY_IDLE: Duration = Duration::from_millis(250);
/// Never longer at once: a server drops a connection that cannot send for
/// long (nginx's `send_timeout` is 60 s); one chunk read resets its clock.
const STANDBY_MAX: Duration = Duration::from_secs(10);

/// Readers first (see [`super::schedule::gives_way`]): while a player reads what
/// another fetch of the item brings, this one leaves its response unread,
/// and TCP flow control hands the link to that fetch.
async fn give_way(downloader: &Downloader, item: &Item, fetch_id: u64) {
    // Demands belong to open readers: with none, spare the lock on every
    // chunk of a download no player watches.
    if !item.in_use() {
        return;
    }
    let must = || super::gives_way(&item.lock(), fetch_id, downloader.config.seek_threshold);
    if !must() {
        return;
    }
    let until = Instant::now() + STANDBY_MAX;
    // Subscribed before the next look, so a change after it is not missed.
    let mut changes = item.changes();
    while must() {
        let idle_until = (Instant::now() + STANDBY_IDLE).min(until);
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep_until(idle_until) => return,
        }
    }
}

/// Records bytes written by a fetch; false when the fetch should stop.
fn record(downloader: &Downloader, item: &Item, fetch_id: u64, generation: u64, from: u64, to: u64) -> bool {
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
    if let Some(f) = st.fetch_mut(fetch_id) {
        f.pos = to;
        f.written += to - from;
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
    let checkpoint_due = st.unsynced >= downloader.config.checkpoint_bytes;
    drop(st);
    item.notify_readers();
    if let Some(event) = progress {
        downloader.catalog.emit(event);
    }
    if checkpoint_due || complete {
        item.kick.notify_one();
    }
    true
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
    (meta.size, meta.accepts_ranges) = answer.body.file_length_and_ranges();
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
}
