//! Item life cycle as the CLI and the desktop see it: adding twice, events,
//! and removal while a player is reading.

use spool_engine::{Event, ItemState, RemoveReason};
use tokio::sync::broadcast::error::RecvError;

use crate::support::origin::{Faults, Origin};
use crate::util::{assert_cut_short, bounded, content, path_of, request, until, Conn, TestEngine, KIB, MIB};

/// `spool URL` for a URL already in the cache must not start a second
/// download: the same item comes back, also when two adds race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_the_same_url_twice_returns_the_same_item() {
    let origin = Origin::start(content(64 * KIB, 60), Faults::default()).await;
    let t = TestEngine::start().await;
    let first = t.add(&origin.url()).await;
    let again = t.add(&origin.url()).await;
    assert_eq!(again.id, first.id);
    assert_eq!(again.stream_url, first.stream_url);

    let racing = format!("{}?racing", origin.url());
    let (a, b) = tokio::join!(t.add(&racing), t.add(&racing));
    assert_eq!(a.id, b.id, "concurrent adds of one URL");
    assert_ne!(a.id, first.id);
    assert_eq!(t.engine.items().len(), 2, "{:?}", t.engine.items());
}

/// The desktop UI is driven by events only: an item's addition, its
/// progress and its completion must all be published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_added_progress_and_complete() {
    let len = MIB;
    let origin = Origin::start(
        content(len, 61),
        Faults {
            rate: Some(2 * MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::start().await;
    let mut events = t.engine.subscribe();
    let item = t.add(&origin.url()).await;

    let (mut added, mut progress, mut last_downloaded) = (false, 0, 0);
    bounded("Added, Progress and StateChanged(Complete) events", async {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => panic!("event channel closed"),
            };
            match event {
                Event::Added { item: view } if view.id == item.id => {
                    assert_eq!(view.source_url, item.source_url);
                    added = true;
                }
                Event::Progress {
                    id, downloaded, size, ..
                } if id == item.id => {
                    assert!(added, "Progress before Added");
                    assert!(downloaded >= last_downloaded, "progress went backwards");
                    assert!(downloaded <= len as u64);
                    assert_eq!(size, Some(len as u64));
                    last_downloaded = downloaded;
                    progress += 1;
                }
                Event::StateChanged { id, state, .. } if id == item.id => {
                    assert!(added, "StateChanged before Added");
                    if state == ItemState::Complete {
                        return;
                    }
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(progress > 0, "no Progress event");
    assert_eq!(
        last_downloaded, len as u64,
        "the last Progress shows the whole file"
    );
}

/// Removing an item a player is reading ends that response (a short read,
/// never made-up bytes), deletes its files, and the item leaves the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_item_ends_its_open_responses() {
    let len = 2 * MIB;
    let data = content(len, 62);
    let origin = Origin::start(
        data.clone(),
        Faults {
            rate: Some(256 * KIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::start().await;
    let mut events = t.engine.subscribe();
    let item = t.add(&origin.url()).await;
    let item_dir = t.dir.path().join("items").join(&item.id);
    assert!(item_dir.is_dir());

    let mut conn = Conn::open(t.port()).await;
    let head = request(
        "GET",
        &path_of(&item.stream_url),
        t.port(),
        &[("Connection", "close")],
    );
    conn.send(&head).await;
    let response = conn.head().await;
    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), Some(len as u64));
    t.wait_item(&item.id, "some bytes downloaded", |v| {
        v.downloaded >= 64 * KIB as u64
    })
    .await;

    t.engine.remove(&item.id).await.expect("remove");
    let body = conn.rest().await;
    assert_cut_short(&body, &data, "bytes before the cut");
    assert!(t.engine.items().is_empty(), "{:?}", t.engine.items());
    assert!(t.engine.item(&item.id).is_err());
    assert!(!item_dir.exists(), "the item's files are deleted");
    bounded("a Removed event", async {
        loop {
            match events.recv().await {
                Ok(Event::Removed { id, reason }) if id == item.id => {
                    assert_eq!(reason, RemoveReason::User);
                    return;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("event channel closed"),
            }
        }
    })
    .await;
}

// Scripts follow the cache through the control API's server-sent events:
// each change arrives as one `data:` line of JSON, with the bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_streams_events() {
    let t = TestEngine::start().await;
    let origin = Origin::start(content(64 * KIB, 31), Faults::default()).await;
    let url = format!("http://127.0.0.1:{}/api/events", t.port());
    let token = t.engine.info().control_token;
    let client = crate::util::http();
    assert_eq!(client.get(&url).send().await.expect("GET").status(), 401);
    let mut events = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET events");
    assert_eq!(events.status(), 200);
    assert_eq!(
        events.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let item = t.add(&origin.url()).await;
    let mut seen = String::new();
    bounded("an `added` event on the stream", async {
        while !seen.contains("\"type\":\"added\"") {
            let chunk = events
                .chunk()
                .await
                .expect("read events")
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    let line = seen.lines().find(|l| l.contains("\"added\"")).expect("the line");
    let event: Event = serde_json::from_str(line.trim_start_matches("data: ")).expect("JSON event");
    assert!(
        matches!(event, Event::Added { item: ref view } if view.id == item.id),
        "{event:?}"
    );
}

// The desktop's "Clear cache" must not cut a player off: `in_use` says
// whether a response is open; pinning is announced so other views refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_use_follows_open_responses_and_pins_are_announced() {
    let t = TestEngine::start().await;
    // Larger than the socket buffers, so an unread response stays open.
    let origin = Origin::start(content(16 * MIB, 32), Faults::default()).await;
    let item = t.add(&origin.url()).await;
    t.wait_complete(&item.id).await;
    assert!(!t.engine.in_use(&item.id));
    let open = crate::util::http()
        .get(&item.stream_url)
        .send()
        .await
        .expect("GET");
    assert!(t.engine.in_use(&item.id), "a response is open");
    drop(open);
    until("the closed response to release the item", || {
        !t.engine.in_use(&item.id)
    })
    .await;

    let mut events = t.engine.subscribe();
    t.engine.set_pinned(&item.id, true).await.expect("pin");
    // The first state event after the pin (a late progress event may come first).
    let event = bounded("a state event for the pin", async {
        loop {
            match events.recv().await {
                Ok(event @ Event::StateChanged { .. }) => break event,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("the event stream closed"),
            }
        }
    })
    .await;
    assert!(
        matches!(event, Event::StateChanged { ref id, state: ItemState::Complete, .. } if *id == item.id),
        "{event:?}"
    );
}

// An engine whose runtime goes away without `shutdown` (a test's end, an
// embedding app's runtime torn down) takes its download thread with it: the
// fetches stop, so the origin stops sending. Checked by the origin's byte
// count holding still for a second (it grows by 256 KiB/s while a fetch runs).
#[test]
fn dropping_the_engines_runtime_stops_its_downloads() {
    let origin_rt = tokio::runtime::Runtime::new().expect("origin runtime");
    let origin = origin_rt.block_on(Origin::start(
        content(16 * MIB, 41),
        Faults {
            rate: Some(256 * KIB as u64),
            ..Faults::default()
        },
    ));
    let engine_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("engine runtime");
    // The engine handle outlives its runtime: only the runtime goes.
    let engine = engine_rt.block_on(async {
        let engine = TestEngine::start().await;
        let item = engine.add(&origin.url()).await;
        engine
            .wait_item(&item.id, "the download to start", |v| v.downloaded > 0)
            .await;
        engine
    });
    drop(engine_rt);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = origin.bytes_sent();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = origin.bytes_sent();
        if now == last {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the origin still sends 10 s after the engine's runtime went ({now} bytes)"
        );
        last = now;
    }
    drop(engine);
}
