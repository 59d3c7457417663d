//! Origins that are not well-behaved range servers: no range support,
//! chunked bodies of unknown length, a slow first byte, resets, 5xx, and an
//! origin that fails for good.

use std::cell::Cell;
use std::time::Duration;

use spool_engine::{Event, ItemState};
use tokio::sync::broadcast::error::RecvError;

use crate::support::origin::{Faults, Origin};
use crate::util::{
    assert_bytes, assert_cut_short, bounded, content, exchange, get_exact, http, path_of, request, Conn,
    TestEngine, KIB, MIB,
};

/// An origin that answers every range request with 200 and the whole file:
/// the engine downloads it once, in sequence, and readers of any range wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_without_ranges_serves_full_and_ranges_during_download() {
    let len = 1536 * KIB;
    let data = content(len, 10);
    let faults = Faults {
        no_ranges: true,
        rate: Some(MIB as u64),
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    assert_eq!(item.size, Some(len as u64), "a Content-Length gives the size");
    assert_ne!(t.item(&item.id).state, ItemState::Complete, "precondition");

    let path = path_of(&item.stream_url);
    let range = [("Range", "bytes=1000000-1099999")];
    let (full, part) = tokio::join!(
        get_exact(t.port(), &path, &[], 200),
        get_exact(t.port(), &path, &range, 206)
    );
    assert_bytes(&full.body, &data, "full GET");
    assert_bytes(&part.body, &data[1_000_000..1_100_000], "range GET");
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000000-1099999/{len}").as_str())
    );

    t.wait_complete(&item.id).await;
    assert_eq!(
        origin.bytes_sent(),
        len as u64,
        "the file is downloaded once, not once per reader: {:?}",
        origin.log()
    );
}

/// A chunked origin gives no length: `size` stays unknown (null, never 0)
/// until the end, a reader meanwhile gets a chunked stream of the right
/// bytes, and once the length is known ranges work as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_origin_has_unknown_size_until_complete() {
    let len = MIB;
    let data = content(len, 11);
    let faults = Faults {
        chunked: true,
        rate: Some(512 * KIB as u64),
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    assert_eq!(item.size, None, "size of a chunked item before completion");

    // `spool ls --json` reads this list: size null while downloading.
    let api = format!("http://127.0.0.1:{}/api/items", t.port());
    let token = t.engine.info().control_token;
    let listed: serde_json::Value = http()
        .get(&api)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /api/items")
        .json()
        .await
        .expect("JSON item list");
    let listed = listed[0].clone();
    assert_eq!(listed["id"], item.id.as_str());
    if listed["state"] != "complete" {
        assert!(listed["size"].is_null(), "ls shows {listed}");
    }

    // Meanwhile a reader gets the whole body, chunked.
    let (port, path) = (t.port(), path_of(&item.stream_url));
    let reader = tokio::spawn({
        let path = path.clone();
        async move { exchange(port, "GET", &path, &[]).await }
    });
    let polls_while_downloading = Cell::new(0);
    let view = t
        .wait_item(&item.id, "the chunked item to complete", |v| {
            assert_ne!(v.size, Some(0), "size 0 shown for an unknown length: {v:?}");
            if v.state != ItemState::Complete {
                assert_eq!(v.size, None, "size known before the end: {v:?}");
                polls_while_downloading.set(polls_while_downloading.get() + 1);
            }
            v.state == ItemState::Complete
        })
        .await;
    assert!(
        polls_while_downloading.get() > 0,
        "precondition: watched the download"
    );
    assert_eq!(view.size, Some(len as u64));

    let streamed = bounded("the chunked GET", reader).await.expect("reader task");
    assert_eq!(streamed.status, 200);
    assert!(streamed.is_chunked(), "headers: {:?}", streamed.headers);
    assert_eq!(streamed.content_length(), None);
    assert_bytes(&streamed.body, &data, "chunked body");

    let part = get_exact(t.port(), &path, &[("Range", "bytes=1000-1999")], 206).await;
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000-1999/{len}").as_str())
    );
    assert_bytes(&part.body, &data[1000..2000], "range after completion");
}

/// An item whose origin has not answered yet (its probe got a 503): a GET
/// waits for the origin's headers, then gets a normal response with a
/// Content-Length, not a chunked stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprobed_item_waits_for_origin_headers() {
    let len = 300 * KIB;
    let data = content(len, 12);
    let faults = Faults {
        fail_first: 1,
        fail_status: Some(503),
        first_byte_delay_ms: 800,
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    assert_eq!(
        item.size, None,
        "precondition: the probe failed, the size is unknown"
    );

    let path = path_of(&item.stream_url);
    let range = [("Range", "bytes=100000-")];
    let (full, part) = tokio::join!(
        get_exact(t.port(), &path, &[], 200),
        get_exact(t.port(), &path, &range, 206)
    );
    assert!(!full.is_chunked(), "headers: {:?}", full.headers);
    assert_eq!(full.content_length(), Some(len as u64));
    assert_bytes(&full.body, &data, "full GET");
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100000-{}/{len}", len - 1).as_str())
    );
    assert_bytes(&part.body, &data[100_000..], "range GET");
}

/// Resets mid-body and 5xx answers are transient: the engine retries and a
/// reader never notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_origin_faults_are_invisible_to_readers() {
    let len = MIB;
    let data = content(len, 13);
    let faults = Faults {
        rate: Some(2 * MIB as u64),
        reset_after: Some(200 * KIB as u64),
        reset_first: 2,
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    let response = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
    assert_bytes(&response.body, &data, "body despite resets");
    t.wait_complete(&item.id).await;

    let other = format!("{}?v=2", origin.url());
    origin.set_faults(Faults {
        fail_first: 3,
        fail_status: Some(503),
        ..Faults::default()
    });
    let item = t.add(&other).await;
    let response = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
    assert_bytes(&response.body, &data, "body despite 503s");
}

/// When the origin fails for good mid-response, the response is aborted
/// (a short read the player sees), never padded or re-framed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_origin_failure_aborts_the_response() {
    let len = MIB;
    let data = content(len, 14);
    let faults = Faults {
        stall_after: Some(200 * KIB as u64),
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::with(|c| c.origin_timeout = Duration::from_secs(1)).await;
    let item = t.add(&origin.url()).await;
    // From now on the file is gone: the retry after the stall gets a 404.
    origin.set_faults(Faults {
        fail_always: true,
        fail_status: Some(404),
        ..Faults::default()
    });

    let mut conn = Conn::open(t.port()).await;
    let head = [("Connection", "close")];
    conn.send(&request("GET", &path_of(&item.stream_url), t.port(), &head))
        .await;
    let response = conn.head().await;
    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), Some(len as u64));
    let body = conn.rest().await;
    assert_cut_short(&body, &data, "bytes before the abort");
    let view = t
        .wait_item(&item.id, "the item to fail", |v| v.state == ItemState::Failed)
        .await;
    let error = view.error.unwrap_or_default();
    assert!(error.contains("404"), "error: {error}");
}

/// The origin's file changes mid-download (new ETag): a response in flight
/// is aborted after old bytes only, never continued with new ones; the item
/// starts over, and a new response carries the new bytes and a new ETag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_origin_file_is_never_mixed() {
    let len = MIB;
    let (old, new) = (content(len, 15), content(len, 16));
    // The first response stops after 256 KiB and hangs, so the change below
    // is certain to happen before the engine asks the origin again.
    let origin = Origin::start(
        old.clone(),
        Faults {
            etag: Some("\"v1\"".into()),
            stall_after: Some(256 * KIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::with(|c| c.origin_timeout = Duration::from_secs(1)).await;
    let mut events = t.engine.subscribe();
    let item = t.add(&origin.url()).await;
    let path = path_of(&item.stream_url);

    let mut conn = Conn::open(t.port()).await;
    conn.send(&request("GET", &path, t.port(), &[("Connection", "close")]))
        .await;
    let first = conn.head().await;
    assert_eq!(first.status, 200);
    t.wait_item(&item.id, "the first 256 KiB", |v| {
        v.downloaded >= 256 * KIB as u64
    })
    .await;
    origin.replace_content(new.clone(), Some("\"v2\"".into()));
    origin.set_faults(Faults {
        etag: Some("\"v2\"".into()),
        ..Faults::default()
    });

    let body = conn.rest().await;
    assert_cut_short(&body, &old, "bytes of the aborted response");
    bounded("a Restarted event", async {
        loop {
            match events.recv().await {
                Ok(Event::Restarted { id, .. }) if id == item.id => return,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("event channel closed"),
            }
        }
    })
    .await;

    let second = get_exact(t.port(), &path, &[], 200).await;
    assert_bytes(&second.body, &new, "body after the change");
    assert_ne!(
        second.header("etag"),
        first.header("etag"),
        "a new version gets a new ETag"
    );
    t.wait_complete(&item.id).await;
    let replay = get_exact(t.port(), &path, &[("Range", "bytes=0-99999")], 206).await;
    assert_bytes(&replay.body, &new[..100_000], "cached bytes after the change");
}
