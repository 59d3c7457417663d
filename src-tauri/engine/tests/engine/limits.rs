//! Download settings honoured by the downloader: bandwidth limits,
//! global and per item, and segmented downloading over several connections.

use std::time::Instant;

use crate::support::origin::{Faults, LogEntry, Origin};
use crate::util::{assert_bytes, content, get_exact, path_of, request, until, Conn, TestEngine, MIB};
use spool_engine::{ItemState, ItemView, RangeSet};

// The global limit paces every fetch of every item together: 2 MiB at
// 1 MiB/s cannot finish in much under 2 s (lower bound: the limit is the
// behaviour; the burst allowance is a quarter second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_bandwidth_limit_paces_downloads() {
    let engine = TestEngine::with(|c| c.rate_limit = Some(MIB as u64)).await;
    let bytes = content(2 * MIB, 21);
    let origin = Origin::start(bytes.clone(), Faults::default()).await;
    let started = Instant::now();
    let item = engine.add(&origin.url()).await;
    engine.wait_complete(&item.id).await;
    let took = started.elapsed().as_secs_f64();
    assert!(took >= 1.6, "2 MiB at 1 MiB/s took only {took:.2} s");
    let body = get_exact(engine.port(), &path_of(&item.stream_url), &[], 200)
        .await
        .body;
    assert_bytes(&body, &bytes, "the downloaded file");
}

// A per-item limit slows that item only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_item_limit_slows_only_that_item() {
    let engine = TestEngine::start().await;
    let slow = Origin::start(
        content(2 * MIB, 22),
        Faults {
            rate: Some(4 * MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let item = engine.add(&slow.url()).await;
    engine
        .engine
        .set_item_rate_limit(&item.id, Some(512 * 1024))
        .await
        .expect("limit");
    let started = Instant::now();
    let fast = Origin::start(content(2 * MIB, 23), Faults::default()).await;
    let other = engine.add(&fast.url()).await;
    engine.wait_complete(&other.id).await;
    let other_took = started.elapsed().as_secs_f64();
    let limited = engine.item(&item.id);
    assert_ne!(
        limited.state,
        ItemState::Complete,
        "the unlimited item finished first ({other_took:.2} s; the limited one has {} bytes)",
        limited.downloaded
    );
    engine.wait_complete(&item.id).await;
    let item_took = started.elapsed().as_secs_f64();
    assert!(item_took >= 2.0, "2 MiB at 512 KiB/s took only {item_took:.2} s");
}

// Segmented download: with three connections the file is fetched as three
// ranges at once (the scheduler halves the largest remaining span), and one
// connection reset mid-way still gives exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_over_several_connections_survive_a_reset() {
    let engine = TestEngine::with(|c| c.connections_per_item = 3).await;
    let len = 16 * MIB;
    let bytes = content(len, 24);
    let origin = Origin::start(
        bytes.clone(),
        Faults {
            rate: Some(8 * MIB as u64),
            etag: Some("\"seg\"".into()),
            reset_after: Some(256 * 1024),
            reset_first: 1,
            ..Faults::default()
        },
    )
    .await;
    let item = engine.add(&origin.url()).await;
    engine.wait_complete(&item.id).await;
    let mut starts: Vec<u64> = origin.log().iter().filter_map(LogEntry::range_start).collect();
    starts.sort_unstable();
    starts.dedup();
    let m = MIB as u64;
    for segment in [0, 8 * m, 12 * m] {
        assert!(
            starts.contains(&segment),
            "a fetch starts at {segment}: {starts:?}"
        );
    }
    assert!(
        starts.len() >= 4,
        "the reset fetch was resumed from where it broke: {starts:?}"
    );
    let body = get_exact(engine.port(), &path_of(&item.stream_url), &[], 200)
        .await
        .body;
    assert_bytes(&body, &bytes, "the segmented file is byte-exact");
}

/// An item of 32 MiB just added from an origin that sends 512 KiB/s per
/// connection, downloaded over `connections`.
async fn slow_download(connections: usize, seed: u64) -> (TestEngine, Origin, Vec<u8>, ItemView) {
    let engine = TestEngine::with(|c| c.connections_per_item = connections).await;
    let bytes = content(32 * MIB, seed);
    let origin = Origin::start(
        bytes.clone(),
        Faults {
            rate: Some(512 * 1024),
            etag: Some("\"slow\"".into()),
            ..Faults::default()
        },
    )
    .await;
    let item = engine.add(&origin.url()).await;
    (engine, origin, bytes, item)
}

/// A player's seek: `Range: bytes=seek-`, of which it reads `len` bytes.
/// The connection stays open, as a player's would, until the caller drops
/// it.
async fn read_at_seek(engine: &TestEngine, stream_url: &str, bytes: &[u8], seek: usize, len: usize) -> Conn {
    let mut conn = Conn::open(engine.port()).await;
    let range = format!("bytes={seek}-");
    let head = [("Range", range.as_str()), ("Connection", "close")];
    conn.send(&request("GET", &path_of(stream_url), engine.port(), &head))
        .await;
    assert_eq!(conn.head().await.status, 206);
    let got = conn.take(len, "the first bytes at the seek").await;
    assert_bytes(&got, &bytes[seek..seek + len], "the bytes at the seek");
    conn
}

/// Bytes of `set` inside `[start, end)`.
fn bytes_within(set: &RangeSet, start: u64, end: u64) -> u64 {
    set.iter()
        .map(|r| r.end.min(end).saturating_sub(r.start.max(start)))
        .sum()
}

// Readers first: while a player reads at a seek, the item's other fetches
// leave their responses unread, so the seek's fetch has the link. Counted in
// bytes, not time: reading 1 MiB at 512 KiB/s per connection takes about
// 2 s, in which three free-running background fetches write about 3 MiB;
// standing by, each writes at most what was already in flight. Counted
// while the player still holds its response: once it lets go, the
// background fetches drain at once what their origin sent into the socket
// buffers meanwhile (about 1 MiB each on loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_fetches_stand_by_while_a_player_reads_at_a_seek() {
    let (engine, origin, bytes, item) = slow_download(4, 26).await;
    let seek = 29 * MIB;
    let window = (seek as u64, (seek + 2 * MIB) as u64);
    engine
        .wait_item(&item.id, "background fetches to write", |v| {
            v.downloaded >= 3 * MIB as u64 / 4
        })
        .await;
    let before = engine.engine.present(&item.id).expect("item");
    assert_eq!(
        bytes_within(&before, window.0, window.1),
        0,
        "the seek starts in a gap"
    );

    let player = read_at_seek(&engine, &item.stream_url, &bytes, seek, MIB).await;
    let after = engine.engine.present(&item.id).expect("item");
    drop(player);

    let at_seek = bytes_within(&after, window.0, window.1);
    let elsewhere = (after.total() - before.total()).saturating_sub(at_seek);
    assert!(
        elsewhere < MIB as u64 / 2,
        "background fetches wrote {elsewhere} bytes while the player read {at_seek} at the seek"
    );
    assert!(
        origin.log().iter().any(|e| e.range_start() == Some(seek as u64)),
        "the seek got a fetch of its own"
    );
}

// A seek asks on the connection kept warm for it, so it pays no handshake:
// `add` leaves one idle connection behind a HEAD, the seek's GET comes on
// that connection (every download connection is busy, and a new one would
// be a new number at the origin), and another HEAD warms the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_asks_on_the_connection_kept_warm_for_it() {
    let (engine, origin, bytes, item) = slow_download(2, 27).await;
    // A second of downloading: the HEAD's loopback round trip is long over.
    engine
        .wait_item(&item.id, "background fetches to write", |v| {
            v.downloaded >= MIB as u64
        })
        .await;
    let heads = |log: &[LogEntry]| -> Vec<u64> {
        log.iter()
            .filter(|e| e.method == "HEAD")
            .map(|e| e.conn)
            .collect()
    };
    let warm = heads(&origin.log());
    assert_eq!(
        warm.len(),
        1,
        "one HEAD warms a connection at add: {:?}",
        origin.log()
    );
    let busy: Vec<u64> = origin.gets().iter().map(|e| e.conn).collect();
    assert!(
        !busy.contains(&warm[0]),
        "the warm connection carries no download"
    );

    let seek = 29 * MIB;
    drop(read_at_seek(&engine, &item.stream_url, &bytes, seek, MIB / 4).await);

    let log = origin.log();
    let asked = log
        .iter()
        .find(|e| e.range_start() == Some(seek as u64))
        .expect("the seek got a fetch of its own");
    assert_eq!(
        asked.conn, warm[0],
        "the seek asked on the warm connection: {log:?}"
    );
    until("a HEAD to warm the next connection", || {
        heads(&origin.log()).len() >= 2
    })
    .await;
    let rewarmed = heads(&origin.log())[1];
    assert_ne!(rewarmed, warm[0], "the next seek's connection is another one");
}
