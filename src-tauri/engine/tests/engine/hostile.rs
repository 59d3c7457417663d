//! Hostile and flaky origins, one test per fault that `faults.rs`
//! does not cover yet: a 200 where a 206 was asked for (changed file or not),
//! a lying Content-Length (more or fewer bytes than declared, with and
//! without ranges), a hung origin, `Retry-After`, redirect chains, 4xx during
//! a download, bounded backoff, and the bytes re-fetched after resets. Each
//! asserts what a client receives (framing, bytes) and the item's final
//! state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spool_engine::{Config, Event, ItemState, ItemView};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::time::{sleep, Instant};

use crate::support::origin::{Faults, Origin};
use crate::util::{
    assert_bytes, assert_cut_short, bounded, content, exchange, get_exact, path_of, request, until, Conn,
    Response, TestEngine, KIB, MIB,
};

const ETAG_V1: &str = "\"v1\"";
const ETAG_V2: &str = "\"v2\"";

/// Opens `GET path` (with `Connection: close`) and reads the response head;
/// the body is left on the connection for the caller to read.
async fn open_get(t: &TestEngine, path: &str, headers: &[(&str, &str)]) -> (Conn, Response) {
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    let mut conn = Conn::open(t.port()).await;
    conn.send(&request("GET", path, t.port(), &all)).await;
    let head = conn.head().await;
    (conn, head)
}

/// Arrival times of origin requests, bounded from repeated looks at its log.
#[derive(Default)]
struct Arrivals {
    last_look: Option<Instant>,
    /// Per request: the last look that did not see it yet (it arrived after
    /// that; None if the first look saw it) and the first look that saw it
    /// (it arrived before that).
    seen: Vec<(Option<Instant>, Instant)>,
}

impl Arrivals {
    /// Looks at the log once; returns the number of requests.
    fn look(&mut self, origin: &Origin) -> usize {
        let looked = Instant::now();
        let count = origin.gets().len();
        let seen = Instant::now();
        while self.seen.len() < count {
            self.seen.push((self.last_look, seen));
        }
        self.last_look = Some(looked);
        count
    }

    /// Looks every 5 ms until the origin has logged `n` GET requests.
    async fn until(&mut self, origin: &Origin, n: usize) {
        bounded(&format!("{n} origin GET requests"), async {
            while self.look(origin) < n {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }

    /// A lower bound on the time between requests `k` and `k + 1` (0-based).
    fn min_gap(&self, k: usize) -> Duration {
        match self.seen[k + 1].0 {
            Some(after) => after.saturating_duration_since(self.seen[k].1),
            None => Duration::ZERO,
        }
    }

    fn min_gaps(&self) -> Vec<Duration> {
        (0..self.seen.len().saturating_sub(1))
            .map(|k| self.min_gap(k))
            .collect()
    }
}

/// Waits for a `Restarted` event of item `id`; returns its reason.
async fn wait_restarted(events: &mut Receiver<Event>, id: &str) -> String {
    bounded("a Restarted event", async {
        loop {
            match events.recv().await {
                Ok(Event::Restarted { id: i, reason }) if i == id => return reason,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("event channel closed"),
            }
        }
    })
    .await
}

/// `Restarted` events of item `id` received so far (does not wait).
fn restarts(events: &mut Receiver<Event>, id: &str) -> usize {
    let mut n = 0;
    loop {
        match events.try_recv() {
            Ok(Event::Restarted { id: i, .. }) if i == id => n += 1,
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty | TryRecvError::Closed) => return n,
        }
    }
}

/// A download held up mid-way: an origin serving `data` with `faults` whose
/// responses hang after 256 KiB, an engine (`origin_timeout` 1 s, then
/// `tweak`ed) watched from before the add, a player's GET open (200, the
/// whole length), and the engine holding those 256 KiB. What the origin does
/// next is the test's.
struct Stalled {
    origin: Origin,
    t: TestEngine,
    events: Receiver<Event>,
    item: ItemView,
    path: String,
    conn: Conn,
    /// The head of the open GET.
    head: Response,
}

async fn stalled_download(data: &[u8], faults: Faults, tweak: impl FnOnce(&mut Config)) -> Stalled {
    let origin = Origin::start(
        data.to_vec(),
        Faults {
            stall_after: Some(256 * KIB as u64),
            ..faults
        },
    )
    .await;
    let t = TestEngine::with(|c| {
        c.origin_timeout = Duration::from_secs(1);
        tweak(c);
    })
    .await;
    let events = t.engine.subscribe();
    let item = t.add(&origin.url()).await;
    let path = path_of(&item.stream_url);
    let (conn, head) = open_get(&t, &path, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(data.len() as u64));
    t.wait_item(&item.id, "the first 256 KiB", |v| {
        v.downloaded >= 256 * KIB as u64
    })
    .await;
    Stalled {
        origin,
        t,
        events,
        item,
        path,
        conn,
        head,
    }
}

// ------------------------------------------- a 200 where a 206 was asked for

/// Which validator the origin's file carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Validator {
    ETag,
    LastModified,
}

/// The file changes mid-download and the origin from then on ignores Range:
/// the ranged retry (with If-Range) gets a 200 of the new version. The old
/// bytes are discarded, the open response is cut after old bytes only, and
/// the finished file is the new one.
async fn changed_file_in_a_200(validator: Validator) {
    let len = MIB;
    let (old, new) = (content(len, 40), content(len, 41));
    let with_lm = validator == Validator::LastModified;
    let etag = |tag: &str| (validator == Validator::ETag).then(|| tag.to_string());
    // The first response hangs after 256 KiB, so the change is certain to
    // happen before the engine asks the origin again (after origin_timeout).
    let Stalled {
        origin,
        t,
        mut events,
        item,
        path,
        mut conn,
        head: first,
    } = stalled_download(
        &old,
        Faults {
            etag: etag(ETAG_V1),
            last_modified: with_lm,
            ..Faults::default()
        },
        |_| {},
    )
    .await;
    origin.replace_content(new.clone(), etag(ETAG_V2));
    origin.set_faults(Faults {
        no_ranges: true,
        etag: etag(ETAG_V2),
        last_modified: with_lm,
        ..Faults::default()
    });

    let body = conn.rest().await;
    assert_cut_short(&body, &old, "bytes of the cut response");
    let reason = wait_restarted(&mut events, &item.id).await;
    assert!(reason.contains("changed"), "Restarted reason: {reason}");

    // What revealed the change: a ranged request with If-Range, answered 200.
    let log = origin.log();
    let reveal = log
        .iter()
        .find(|e| e.range_start().is_some_and(|n| n > 0) && e.status == 200)
        .unwrap_or_else(|| panic!("no ranged request answered 200: {log:?}"));
    match validator {
        Validator::ETag => assert_eq!(reveal.if_range.as_deref(), Some(ETAG_V1)),
        Validator::LastModified => assert!(
            reveal.if_range.as_deref().is_some_and(|v| v.ends_with("GMT")),
            "If-Range with the old Last-Modified: {reveal:?}"
        ),
    }

    let view = t.wait_complete(&item.id).await;
    assert_eq!(view.size, Some(len as u64));
    let after = get_exact(t.port(), &path, &[], 200).await;
    assert_bytes(&after.body, &new, "the finished file");
    assert_ne!(
        after.header("etag"),
        first.header("etag"),
        "a new version gets a new ETag"
    );
}

/// Why: an origin whose file changed may answer a ranged If-Range request
/// with a plain 200 of the new file; mixing it with old bytes corrupts media.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_etag_in_a_200_restarts_the_download() {
    changed_file_in_a_200(Validator::ETag).await;
}

/// Why: many static servers only send Last-Modified; its change must be
/// noticed in a 200 just like an ETag's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_last_modified_in_a_200_restarts_the_download() {
    changed_file_in_a_200(Validator::LastModified).await;
}

/// Why: a server (or a proxy in front of it) may stop honouring ranges for
/// the same file; that is no reason to throw away what was downloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_that_stops_honouring_ranges_keeps_the_bytes() {
    let len = MIB;
    let data = content(len, 42);
    let Stalled {
        origin,
        t,
        mut events,
        item,
        path,
        mut conn,
        ..
    } = stalled_download(
        &data,
        Faults {
            etag: Some(ETAG_V1.into()),
            ..Faults::default()
        },
        |_| {},
    )
    .await;
    // Same file, same ETag: only Range is ignored from now on.
    origin.set_faults(Faults {
        no_ranges: true,
        etag: Some(ETAG_V1.into()),
        ..Faults::default()
    });

    let body = conn.rest().await;
    assert_bytes(&body, &data, "the response open across the switch");
    let view = t.wait_complete(&item.id).await;
    assert_eq!(view.size, Some(len as u64));
    assert_eq!(restarts(&mut events, &item.id), 0, "no restart for the same file");

    let log = origin.gets();
    let whole: Vec<_> = log.iter().filter(|e| e.status == 200).collect();
    assert_eq!(whole.len(), 1, "one sequential 200 completes the file: {log:?}");
    assert!(
        whole[0].range_start().is_some_and(|n| n >= 256 * KIB as u64),
        "the 200 answered a ranged request past the held bytes: {:?}",
        whole[0]
    );
    assert_eq!(whole[0].if_range.as_deref(), Some(ETAG_V1));
    let after = get_exact(t.port(), &path, &[("Range", "bytes=200000-299999")], 206).await;
    assert_bytes(&after.body, &data[200_000..300_000], "bytes across the switch");
}

// ------------------------------------------------- a lying Content-Length

/// Why: the predecessor panicked on a Content-Length that did not match the
/// payload; a range origin that over-declares must still give exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_declared_length_with_ranges_completes_exactly() {
    let len = MIB;
    let data = content(len, 43);
    let origin = Origin::start(
        data.clone(),
        Faults {
            lie_length: Some(4096),
            rate: Some(512 * KIB as u64),
            ..Faults::default()
        },
    )
    .await;
    // A small seek threshold makes the tail reader get a ranged fetch of its
    // own, so more than one lying response is read.
    let t = TestEngine::with(|c| c.seek_threshold = 64 * KIB as u64).await;
    let item = t.add(&origin.url()).await;
    assert_eq!(
        item.size,
        Some(len as u64),
        "the size comes from Content-Range, not the lying Content-Length"
    );
    let path = path_of(&item.stream_url);
    let tail = 768 * KIB;
    let (full, part) = tokio::join!(
        get_exact(t.port(), &path, &[], 200),
        get_exact(t.port(), &path, &[("Range", "bytes=786432-")], 206)
    );
    assert_eq!(full.content_length(), Some(len as u64));
    assert_bytes(&full.body, &data, "full GET");
    assert_bytes(&part.body, &data[tail..], "tail GET");

    let view = t.wait_complete(&item.id).await;
    assert_eq!((view.size, view.downloaded), (Some(len as u64), len as u64));
    let log = origin.log();
    assert!(
        log.iter().filter(|e| e.status == 206).count() >= 2,
        "several lying ranged responses were read: {log:?}"
    );
    let after = get_exact(t.port(), &path, &[], 200).await;
    assert_bytes(&after.body, &data, "GET after completion");
}

/// Why: without ranges the declared length is all there is; when the origin
/// sends less, the item must end at what it sends, not retry forever, and
/// later responses must declare the true length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_declared_length_without_ranges_is_corrected() {
    let len = 512 * KIB;
    let data = content(len, 44);
    let origin = Origin::start(
        data.clone(),
        Faults {
            no_ranges: true,
            lie_length: Some(4096),
            rate: Some(MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    let lie = (len + 4096) as u64;
    assert_eq!(item.size, Some(lie), "at first the engine believes the origin");
    let path = path_of(&item.stream_url);

    // A reader during the download gets the length the engine knew then.
    let (mut conn, head) = open_get(&t, &path, &[]).await;
    assert_eq!(head.status, 200);
    let declared = head.content_length().expect("a Content-Length");
    let body = conn.rest().await;
    assert!(
        body.len() as u64 <= declared,
        "{} bytes sent, {declared} declared",
        body.len()
    );
    assert_bytes(&body, &data[..body.len().min(len)], "bytes of the reader");
    if declared == lie {
        // The phantom 4096 bytes never existed: it is cut after the real ones.
        assert_eq!(body.len(), len, "the reader got every real byte, then a cut");
    } else {
        assert_eq!(declared, len as u64, "a corrected length is the real one");
        assert_eq!(body.len(), len);
    }

    let view = t.wait_complete(&item.id).await;
    assert_eq!(
        (view.size, view.downloaded),
        (Some(len as u64), len as u64),
        "the size is corrected to what the origin sends"
    );
    let after = get_exact(t.port(), &path, &[], 200).await;
    assert_eq!(after.content_length(), Some(len as u64));
    assert_bytes(&after.body, &data, "GET after completion");
    let head = exchange(t.port(), "HEAD", &path, &[]).await;
    assert_eq!(head.content_length(), Some(len as u64), "HEAD after completion");
    let past = exchange(t.port(), "GET", &path, &[("Range", &format!("bytes={len}-"))]).await;
    assert_eq!(past.status, 416, "the phantom bytes are not servable");
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // The second whole body ending at the same byte is what proves the lie.
    assert_eq!(origin.gets().len(), 2, "log: {:?}", origin.log());
}

/// Why: an origin that under-declares (Content-Length 4096 below the range
/// it claims in Content-Range) can never deliver the last 4096 bytes of any
/// response, so the file's tail is unobtainable. Completing would mean
/// inventing bytes; the acceptable outcome is a failure with a reason once
/// no progress is made, having served only true bytes with true framing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_declared_length_with_ranges_fails_with_a_reason() {
    let len = 512 * KIB;
    let short = len - 4096;
    let data = content(len, 45);
    let origin = Origin::start(
        data.clone(),
        Faults {
            lie_length: Some(-4096),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::with(|c| {
        c.origin_timeout = Duration::from_secs(1);
        c.stall_timeout = Duration::from_secs(2);
    })
    .await;
    let item = t.add(&origin.url()).await;
    assert_eq!(item.size, Some(len as u64), "the size comes from Content-Range");
    let path = path_of(&item.stream_url);

    let (mut conn, head) = open_get(&t, &path, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(len as u64));
    let body = conn.rest().await;
    assert_cut_short(&body, &data, "bytes before the cut");

    let view = t
        .wait_item(&item.id, "the item to fail", |v| v.state == ItemState::Failed)
        .await;
    assert_eq!(
        view.downloaded, short as u64,
        "every byte the origin framed is kept"
    );
    let error = view.error.unwrap_or_default();
    assert!(
        error.contains(&format!("ended the body at byte {short}")) && error.contains("without progress"),
        "error: {error}"
    );
    // The missing tail was asked for again (and again came up short).
    let tail = origin
        .log()
        .iter()
        .filter(|e| e.range_start() == Some(short as u64))
        .count();
    assert!(tail >= 1, "log: {:?}", origin.log());
}

// ------------------------------------------------------- a hung origin

/// Why: a server that stops sending without closing must not hang the
/// download: after origin_timeout the fetch is retried from the held bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_origin_is_retried_after_the_origin_timeout() {
    let len = MIB;
    let data = content(len, 46);
    let origin = Origin::start(
        data.clone(),
        Faults {
            etag: Some(ETAG_V1.into()),
            stall_after: Some(256 * KIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::with(|c| c.origin_timeout = Duration::from_secs(1)).await;
    let added = Instant::now();
    let item = t.add(&origin.url()).await;
    let (port, path) = (t.port(), path_of(&item.stream_url));
    let reader = tokio::spawn({
        let path = path.clone();
        async move { get_exact(port, &path, &[], 200).await }
    });

    // The retry comes, and no sooner than the timeout.
    until("a retry of the hung fetch", || origin.gets().len() >= 2).await;
    assert!(
        added.elapsed() >= Duration::from_secs(1),
        "retried after {:?}, before origin_timeout",
        added.elapsed()
    );
    origin.set_faults(Faults {
        etag: Some(ETAG_V1.into()),
        ..Faults::default()
    });
    t.wait_complete(&item.id).await;
    let body = bounded("the reader", reader).await.expect("reader task").body;
    assert_bytes(&body, &data, "the reader never saw the hang");

    let log = origin.gets();
    for e in &log[1..] {
        let from = e.range_start().unwrap_or_default();
        assert!(
            from > 0 && from.is_multiple_of(256 * KIB as u64),
            "each retry resumes where the hang left off: {e:?}"
        );
        assert_eq!(e.if_range.as_deref(), Some(ETAG_V1), "{e:?}");
        assert_eq!(e.status, 206, "{e:?}");
    }
}

/// Why: a server that keeps hanging must end in `failed` with a reason a
/// person can act on, and `resume` must pick the download up from its gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_origin_fails_after_the_stall_timeout_and_resume_completes() {
    let len = MIB;
    let data = content(len, 47);
    let Stalled {
        origin,
        t,
        item,
        path,
        mut conn,
        ..
    } = stalled_download(
        &data,
        Faults {
            etag: Some(ETAG_V1.into()),
            ..Faults::default()
        },
        |c| c.stall_timeout = Duration::from_secs(2),
    )
    .await;
    // From now on every response hangs before its first byte.
    origin.set_faults(Faults {
        etag: Some(ETAG_V1.into()),
        stall_after: Some(0),
        ..Faults::default()
    });

    let view = t
        .wait_item(&item.id, "the item to fail", |v| v.state == ItemState::Failed)
        .await;
    let error = view.error.clone().unwrap_or_default();
    assert!(
        error.contains("sent nothing for 1 s") && error.contains("gave up after 2 s without progress"),
        "error: {error}"
    );
    let body = conn.rest().await;
    assert_cut_short(&body, &data, "bytes before the cut");

    origin.set_faults(Faults {
        etag: Some(ETAG_V1.into()),
        ..Faults::default()
    });
    let before = origin.requests();
    let resumed = t.engine.resume(&item.id).await.expect("resume");
    assert_ne!(resumed.state, ItemState::Failed);
    assert_eq!(resumed.error, None);
    t.wait_complete(&item.id).await;
    let log = origin.log();
    let retry = &log[before];
    assert_eq!(
        retry.range_start(),
        Some(view.downloaded),
        "resume asks for the gap only: {retry:?}"
    );
    assert_eq!(retry.if_range.as_deref(), Some(ETAG_V1));
    let after = get_exact(t.port(), &path, &[], 200).await;
    assert_bytes(&after.body, &data, "GET after resume");
}

// ------------------------------------------------------------- Retry-After

/// Why: a server that says when to come back (`Retry-After`) must not be
/// hammered before then; backoff alone would retry within ~300 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let len = 256 * KIB;
    let data = content(len, 48);
    let origin = Origin::start(
        data.clone(),
        Faults {
            fail_first: 2,
            fail_status: Some(503),
            retry_after: Some(1),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::start().await;
    // Request 1 is the probe of `add`, request 2 the first fetch: both 503.
    let item = t.add(&origin.url()).await;
    assert_eq!(item.size, None, "precondition: the probe got a 503");
    let mut arrivals = Arrivals::default();
    arrivals.until(&origin, 3).await;
    let gaps = arrivals.min_gaps();
    println!("Retry-After: 1 -> gaps of at least {gaps:?}");
    assert!(
        gaps[0] >= Duration::from_millis(800),
        "the first fetch came {:?} after the probe's Retry-After: 1",
        gaps[0]
    );
    assert!(
        gaps[1] >= Duration::from_millis(800),
        "the retry came {:?} after Retry-After: 1",
        gaps[1]
    );
    t.wait_complete(&item.id).await;
    let body = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
    assert_bytes(&body.body, &data, "body after the 503s");
    let statuses: Vec<u16> = origin.gets().iter().map(|e| e.status).collect();
    assert_eq!(&statuses[..3], &[503, 503, 206], "log: {:?}", origin.log());
}

// ------------------------------------------------------------ redirects

/// A loopback server that answers every request with `302 Location:
/// target` (None: itself, a loop) and counts the requests.
async fn redirector(target: Option<String>) -> (String, Arc<Hits>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("redirector: bind");
    let url = format!("http://{}/hop", listener.local_addr().expect("local_addr"));
    let target = target.unwrap_or_else(|| url.clone());
    let hits = Arc::new(Hits::default());
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let (target, counter) = (target.clone(), counter.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let kind = if head.starts_with(b"HEAD ") {
                    &counter.head
                } else {
                    &counter.get
                };
                kind.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, hits)
}

/// Requests a redirector answered: GETs (the downloads') and HEADs (the
/// warm-ups for seeks).
#[derive(Default)]
struct Hits {
    get: AtomicUsize,
    head: AtomicUsize,
}

/// Why: media links are often redirects (CDNs, share links); every fetch,
/// including a resumed range, must follow the chain to the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_chains_are_followed() {
    let len = MIB;
    let data = content(len, 49);
    // The reset forces a ranged retry, which must go through the chain too.
    let origin = Origin::start(
        data.clone(),
        Faults {
            path: Some("/media/film.bin".into()),
            redirect_from: Some("/start".into()),
            etag: Some(ETAG_V1.into()),
            reset_after: Some(300 * KIB as u64),
            reset_first: 1,
            ..Faults::default()
        },
    )
    .await;
    // first hop → second hop → origin /start → origin /media/film.bin.
    let (second, second_hits) = redirector(Some(format!("{}/start", origin.base_url()))).await;
    let (first, first_hits) = redirector(Some(second)).await;
    let t = TestEngine::start().await;
    let item = t.add(&first).await;
    assert_eq!(item.size, Some(len as u64));
    let response = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
    assert_bytes(&response.body, &data, "body through three redirects");
    t.wait_complete(&item.id).await;

    let log = origin.log();
    let gets: Vec<_> = origin
        .gets()
        .into_iter()
        .filter(|e| e.path == "/media/film.bin")
        .collect();
    assert!(gets.len() >= 2, "log: {log:?}");
    let resumed = &gets[1];
    assert!(
        resumed.range_start().is_some_and(|n| n > 0) && resumed.if_range.as_deref() == Some(ETAG_V1),
        "the retry kept Range and If-Range across the redirects: {resumed:?}"
    );
    // Counted over GETs: a warm-up HEAD may still be on its way down the chain.
    let redirects = log
        .iter()
        .filter(|e| e.status == 302 && e.method == "GET")
        .count();
    assert_eq!(redirects, gets.len(), "each file request came via /start");
    assert_eq!(first_hits.get.load(Ordering::SeqCst), gets.len());
    assert_eq!(second_hits.get.load(Ordering::SeqCst), gets.len());
}

/// Why: a redirect loop must end (reqwest follows at most 10 redirects)
/// with a clear refusal, not hang `spool add` or add a dead item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loop_is_refused() {
    let (url, hits) = redirector(None).await;
    let t = TestEngine::start().await;
    let err = bounded("add of a redirect loop", t.engine.add(&url, &[]))
        .await
        .expect_err("a redirect loop cannot be added");
    assert!(
        err.to_string().to_lowercase().contains("redirect"),
        "error: {err}"
    );
    // The probe, and the warm-up for seeks beside it, each follow it at most
    // 11 times.
    let (gets, heads) = (hits.get.load(Ordering::SeqCst), hits.head.load(Ordering::SeqCst));
    assert!((2..=11).contains(&gets), "{gets} GETs: the chain is bounded");
    assert!(heads <= 11, "{heads} HEADs: the chain is bounded");
    assert!(t.engine.items().is_empty(), "nothing was added");
}

// ------------------------------------------- 4xx during a download

/// The origin answers `status` once the item has 256 KiB: the item fails at
/// the first such answer, long before the (120 s) stall timeout.
async fn definitive_status_mid_download(status: u16) {
    let len = MIB;
    let data = content(len, 50 + u64::from(status));
    let Stalled {
        origin,
        t,
        item,
        path,
        mut conn,
        ..
    } = stalled_download(
        &data,
        Faults {
            etag: Some(ETAG_V1.into()),
            ..Faults::default()
        },
        |c| c.stall_timeout = Duration::from_secs(120),
    )
    .await;
    origin.set_faults(Faults {
        fail_always: true,
        fail_status: Some(status),
        etag: Some(ETAG_V1.into()),
        ..Faults::default()
    });

    // `wait_item` gives up after 20 s: failing within it is "at once".
    let view = t
        .wait_item(&item.id, "the item to fail", |v| v.state == ItemState::Failed)
        .await;
    let error = view.error.unwrap_or_default();
    assert!(
        error.starts_with(&format!("origin answered {status} ")),
        "error: {error}"
    );
    let body = conn.rest().await;
    assert_cut_short(&body, &data, "bytes before the cut");
    let refusals = origin.log().iter().filter(|e| e.status == status).count();
    assert_eq!(refusals, 1, "a definitive answer is not retried");
    let late = exchange(t.port(), "GET", &path, &[]).await;
    assert_eq!(late.status, 502, "a failed item is not served: {}", late.text());
}

/// Why: lost authorisation must stop the download at once, with the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_mid_download_fails_at_once() {
    definitive_status_mid_download(401).await;
}

/// Why: an expired signed URL (403) must not be retried for 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_mid_download_fails_at_once() {
    definitive_status_mid_download(403).await;
}

/// Why: a file deleted at the origin will not come back by retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_mid_download_fails_at_once() {
    definitive_status_mid_download(404).await;
}

/// Why: 410 Gone says so explicitly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_mid_download_fails_at_once() {
    definitive_status_mid_download(410).await;
}

// ------------------------------------------------------ bounded backoff

/// Why: an origin that is down must cost a handful of requests, not a hot
/// loop, and the item must fail within a bounded time with the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_is_bounded_and_fails_with_the_cause() {
    let origin = Origin::start(
        content(64 * KIB, 51),
        Faults {
            fail_always: true,
            fail_status: Some(503),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::with(|c| c.stall_timeout = Duration::from_secs(3)).await;
    let added = Instant::now();
    let item = t.add(&origin.url()).await;
    let mut arrivals = Arrivals::default();
    let view = bounded("the item to fail", async {
        loop {
            arrivals.look(&origin);
            let view = t.item(&item.id);
            if view.state == ItemState::Failed {
                return view;
            }
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let elapsed = added.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3),
        "failed after {elapsed:?}, before the stall timeout"
    );
    let error = view.error.unwrap_or_default();
    assert!(
        error.contains("origin answered 503") && error.contains("without progress"),
        "error: {error}"
    );
    arrivals.look(&origin);
    let requests = origin.gets().len();
    let all = origin.requests();
    let gaps = arrivals.min_gaps();
    println!("backoff: {requests} requests in {elapsed:?}; gaps of at least {gaps:?}");
    assert!(
        (3..=10).contains(&requests),
        "{requests} origin requests in {elapsed:?}"
    );
    // Exponential: a later retry waited far longer than the first (~250 ms).
    let longest = gaps.iter().max().copied().unwrap_or_default();
    assert!(longest >= Duration::from_millis(600), "gaps: {gaps:?}");
    // A failed item asks nothing more (a short look; timing is the point).
    sleep(Duration::from_secs(1)).await;
    assert_eq!(origin.requests(), all, "requests after the failure");
}

// ---------------------------------------------- bytes fetched after resets

/// Why: resets must resume from the held bytes, not start over: the bytes
/// fetched in all must stay under 1.3× the file size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_refetch_little() {
    let len = 4 * MIB;
    let data = content(len, 53);
    let cut = 384 * KIB as u64;
    let origin = Origin::start(
        data.clone(),
        Faults {
            etag: Some(ETAG_V1.into()),
            reset_after: Some(cut),
            reset_first: 5,
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    t.wait_complete(&item.id).await;
    let log = origin.log();
    let resets = log.iter().filter(|e| e.body_bytes == cut).count();
    assert_eq!(resets, 5, "precondition: five responses were reset: {log:?}");
    let sent = origin.bytes_sent();
    let ratio = sent as f64 / len as f64;
    println!(
        "resets: {resets}, requests: {}, bytes fetched {sent} for {len} ({ratio:.3}x)",
        log.len()
    );
    assert!(ratio <= 1.3, "{sent} bytes fetched for a {len}-byte file");
    let body = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
    assert_bytes(&body.body, &data, "the file after resets");
}
