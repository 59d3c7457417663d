//! The core promise: a response declares exactly what it will send, then
//! waits for bytes that are not downloaded yet; seeks far ahead are fetched
//! on demand; a complete item is served from disk alone.

use crate::support::origin::{Faults, LogEntry, Origin};
use crate::util::{assert_bytes, content, get_exact, path_of, TestEngine, KIB, MIB};

fn throttled(rate: usize) -> Faults {
    Faults {
        rate: Some(rate as u64),
        ..Faults::default()
    }
}

/// A player's first request arrives while the download has barely started:
/// the whole file must come through byte for byte, with a Content-Length
/// that is exactly the number of bytes sent (the predecessor's bug class).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_get_while_downloading_is_byte_exact() {
    let data = content(2 * MIB, 1);
    let origin = Origin::start(data.clone(), throttled(MIB)).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    let downloaded = t.item(&item.id).downloaded;
    assert!(
        downloaded < data.len() as u64 / 2,
        "precondition: the download has barely started ({downloaded} bytes)"
    );

    let response = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
    assert_bytes(&response.body, &data, "full GET");
    assert_eq!(response.header("accept-ranges"), Some("bytes"));
}

/// The predecessor's crash: a 206 for a range beyond what is downloaded.
/// The response must declare the range's length and deliver exactly it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_beyond_downloaded_part_is_exact() {
    let len = 2 * MIB;
    let data = content(len, 2);
    let origin = Origin::start(data.clone(), throttled(MIB)).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    let view = t
        .wait_item(&item.id, "about 300 KB downloaded", |v| v.downloaded >= 300_000)
        .await;
    assert!(
        view.downloaded < 1_500_000,
        "precondition: the range must not be downloaded yet ({} bytes are)",
        view.downloaded
    );

    let range = [("Range", "bytes=1500000-1999999")];
    let response = get_exact(t.port(), &path_of(&item.stream_url), &range, 206).await;
    assert_eq!(
        response.header("content-range"),
        Some(format!("bytes 1500000-1999999/{len}").as_str())
    );
    assert_eq!(response.content_length(), Some(500_000));
    assert_bytes(&response.body, &data[1_500_000..2_000_000], "range body");
}

/// A seek to 90 % must not wait for the sequential download: the reader's
/// offset gets its own origin fetch, even with one connection per item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_seek_is_served_before_sequential_download_reaches_it() {
    let len = 8 * MIB;
    let data = content(len, 3);
    // Sequentially, the whole file would take 32 s.
    let origin = Origin::start(data.clone(), throttled(256 * KIB)).await;
    let t = TestEngine::with(|c| c.connections_per_item = 1).await;
    let item = t.add(&origin.url()).await;
    t.wait_item(&item.id, "the download to start", |v| v.downloaded > 0)
        .await;

    let start = len * 9 / 10;
    let end = start + 256 * KIB; // exclusive
    let range = format!("bytes={start}-{}", end - 1);
    let response = get_exact(t.port(), &path_of(&item.stream_url), &[("Range", &range)], 206).await;
    assert_bytes(&response.body, &data[start..end], "seek body");

    let view = t.item(&item.id);
    assert!(
        view.downloaded < len as u64 / 2,
        "the seek was served only after {} of {len} bytes were downloaded",
        view.downloaded
    );
    let starts: Vec<u64> = origin.log().iter().filter_map(LogEntry::range_start).collect();
    assert!(
        starts
            .iter()
            .any(|&s| s <= start as u64 && start as u64 - s < 64 * KIB as u64),
        "no origin request starts at (or just before) the seek offset {start}: {starts:?}"
    );
}

/// Once complete, an item plays offline: replaying it, whole or in ranges,
/// asks the origin nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_after_completion_makes_no_origin_request() {
    let len = 512 * KIB;
    let data = content(len, 4);
    let origin = Origin::start(data.clone(), Faults::default()).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    t.wait_complete(&item.id).await;
    let before = origin.requests();

    let path = path_of(&item.stream_url);
    let full = get_exact(t.port(), &path, &[], 200).await;
    assert_bytes(&full.body, &data, "replayed file");
    for (range, from, to) in [
        ("bytes=0-99", 0, 100),
        ("bytes=300000-", 300_000, len),
        ("bytes=-1000", len - 1000, len),
    ] {
        let part = get_exact(t.port(), &path, &[("Range", range)], 206).await;
        assert_bytes(&part.body, &data[from..to], range);
    }
    assert_eq!(
        origin.requests(),
        before,
        "origin requests during replay: {:?}",
        &origin.log()[before..]
    );
}
