//! The crash test: `kill -9` the real engine mid-download, at several
//! points, and check that it resumes from what it had durably saved, ends
//! with the origin's exact bytes, and does not download much twice.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::origin::{Faults, LogEntry, Origin};
use crate::util::{content, id_of, sha256, wait_for, Sandbox, PATIENCE};

const SIZE: u64 = 16 << 20;
/// Per origin response; the engine uses up to 4 at once, so ≈ 1.25 MiB/s
/// and about 13 s for the whole file: time to kill it three times.
const RATE: u64 = 320 << 10;
const ETAG: &str = "\"crash-v1\"";

/// Where to pull the plug.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// Just after a checkpoint rewrote state.json with progress in it.
    AfterCheckpoint,
    /// At an arbitrary moment, once `ls` shows this fraction downloaded.
    Downloaded(f64),
    /// Once this fraction is downloaded, while state.json.tmp exists: in
    /// the middle of a metadata write.
    DuringMetadataWrite(f64),
}

/// Byte ranges `state.json` claims, `None` if unreadable.
fn persisted(state: &Path) -> Option<Vec<(u64, u64)>> {
    let json: Value = serde_json::from_slice(&std::fs::read(state).ok()?).ok()?;
    let spans = json["present"].as_array()?;
    spans
        .iter()
        .map(|s| Some((s["start"].as_u64()?, s["end"].as_u64()?)))
        .collect()
}

fn total(spans: &[(u64, u64)]) -> u64 {
    spans.iter().map(|(a, b)| b - a).sum()
}

/// Blocks until the moment `point` describes; returns what happened.
fn wait_for_point(sandbox: &Sandbox, id: &str, state: &Path, point: Point) -> String {
    match point {
        Point::AfterCheckpoint => {
            let start = persisted(state).map_or(0, |s| total(&s));
            // A tight loop: kill within a few ms of the rename.
            let deadline = Instant::now() + PATIENCE;
            loop {
                let now = persisted(state).map_or(0, |s| total(&s));
                if now > start {
                    return format!("checkpoint with {now} bytes just written");
                }
                assert!(Instant::now() < deadline, "no checkpoint within 30 s");
                thread::sleep(Duration::from_millis(2));
            }
        }
        Point::Downloaded(fraction) => {
            let item = sandbox.wait_item(id, "download progress", |i| {
                i["downloaded"].as_u64().unwrap_or(0) as f64 >= fraction * SIZE as f64
            });
            format!("ls showed {} bytes", item["downloaded"])
        }
        Point::DuringMetadataWrite(fraction) => {
            wait_for_point(sandbox, id, state, Point::Downloaded(fraction));
            let tmp = state.with_file_name("state.json.tmp");
            let deadline = Instant::now() + PATIENCE;
            let mut last_check = Instant::now();
            loop {
                if tmp.exists() {
                    return "state.json.tmp present (mid-write)".into();
                }
                // The window is a few ms (write + fsync): give up near the end.
                if last_check.elapsed() > Duration::from_millis(50) {
                    last_check = Instant::now();
                    let done = persisted(state).map_or(0, |s| total(&s));
                    if done >= SIZE * 9 / 10 {
                        return format!("missed a metadata write; killed at {done} persisted bytes");
                    }
                }
                assert!(Instant::now() < deadline, "no metadata write within 30 s");
                thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_several_points_then_resume() {
    let body = content(SIZE as usize, 6);
    let faults = Faults {
        rate: Some(RATE),
        etag: Some(ETAG.into()),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), faults).await;
    let mut sandbox = Sandbox::new();
    let mut serve = sandbox.serve(&[]);
    let stream_url = sandbox.add(&origin.url());
    let id = id_of(&sandbox, &stream_url);
    let state = sandbox.item_dir(&id).join("state.json");
    sandbox.wait_item(&id, "some progress", |i| i["downloaded"].as_u64() > Some(0));

    // Per restart: index of its first origin request, and what was durable.
    let mut epochs: Vec<(usize, Vec<(u64, u64)>)> = Vec::new();
    let points = [
        Point::AfterCheckpoint,
        Point::Downloaded(0.4),
        Point::DuringMetadataWrite(0.7),
    ];
    for point in points {
        let what = wait_for_point(&sandbox, &id, &state, point);
        serve.kill9();
        let durable = persisted(&state).expect("state.json survives kill -9 intact");
        let sent = origin.bytes_sent();
        eprintln!(
            "kill -9 at {point:?}: {what}; durable {} bytes; origin sent {sent}",
            total(&durable)
        );
        epochs.push((origin.requests(), durable.clone()));
        serve = sandbox.serve(&[]);
        let item = sandbox.item(&id);
        assert_ne!(item["state"], "failed", "{item}");
        let downloaded = item["downloaded"].as_u64().expect("downloaded");
        assert!(
            downloaded >= total(&durable),
            "after restart ls shows {downloaded} bytes, {} were durable",
            total(&durable)
        );
    }

    let done = sandbox.wait_item(&id, "completion after the crashes", |i| {
        i["state"] == "complete" || i["state"] == "failed"
    });
    assert_eq!(done["state"], "complete", "{done}");
    assert_eq!(done["downloaded"], SIZE);

    // Resume: after a crash every request is ranged, carries If-Range, and
    // starts in a gap of what was durable (nothing durable is fetched again).
    let log = origin.log();
    let first_resume = epochs[0].0;
    let resumed: Vec<&LogEntry> = log[first_resume..].iter().filter(|e| e.method == "GET").collect();
    assert!(
        resumed.iter().any(|e| e.range_start() > Some(0)),
        "a ranged request past 0 after the first crash: {resumed:?}"
    );
    for (k, (from, durable)) in epochs.iter().enumerate() {
        let to = epochs.get(k + 1).map_or(log.len(), |next| next.0);
        for entry in log[*from..to].iter().filter(|e| e.method == "GET") {
            assert_eq!(entry.if_range.as_deref(), Some(ETAG), "{entry:?}");
            let start = entry
                .range_start()
                .unwrap_or_else(|| panic!("unranged resume: {entry:?}"));
            assert!(
                !durable.iter().any(|&(a, b)| a <= start && start < b),
                "request from {start} refetches durable bytes {durable:?}"
            );
        }
    }

    let data = sandbox.item_dir(&id).join("data");
    let on_disk = wait_for("the data file", || std::fs::read(&data).ok()).expect("read data");
    assert_eq!(on_disk.len() as u64, SIZE);
    assert_eq!(
        sha256(&on_disk),
        sha256(&body),
        "the resumed file is the origin's"
    );

    let ratio = origin.bytes_sent() as f64 / SIZE as f64;
    eprintln!(
        "crash test: origin sent {} bytes for a {SIZE}-byte file = {ratio:.3}× in {} requests",
        origin.bytes_sent(),
        log.len()
    );
    assert!(ratio <= 1.3, "fetched {ratio:.3}× the file size");
    drop(serve);
}

/// A state file cut short (a disk that lied about fsync, a bad copy) costs
/// that item's progress, never the engine's start or the item itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_state_file_costs_progress_not_the_item() {
    let body = content(1 << 20, 7);
    let faults = Faults {
        etag: Some(ETAG.into()),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), faults).await;
    let mut sandbox = Sandbox::new();
    let serve = sandbox.serve(&[]);
    let stream_url = sandbox.add(&origin.url());
    let id = id_of(&sandbox, &stream_url);
    sandbox.wait_item(&id, "completion", |i| i["state"] == "complete");
    let port = serve.port.to_string();
    serve.kill9();

    let state = sandbox.item_dir(&id).join("state.json");
    let saved = std::fs::read(&state).expect("read state.json");
    std::fs::write(&state, &saved[..saved.len() / 2]).expect("truncate state.json");

    let serve = sandbox.serve(&["--port", &port]);
    let item = sandbox.item(&id);
    assert_eq!(item["stream_url"], stream_url.as_str(), "same item, same token");
    let done = sandbox.wait_item(&id, "the item to settle", |i| {
        i["state"] == "complete" || i["state"] == "failed"
    });
    if done["state"] == "failed" {
        assert!(done["error"].is_string(), "a failed item says why: {done}");
    } else {
        let served = reqwest::get(&stream_url).await.expect("GET the stream URL");
        let served = served.bytes().await.expect("read the stream");
        assert_eq!(sha256(&served), sha256(&body));
    }
    let log = serve.stderr();
    assert!(log.contains("state.json"), "the damage is reported:\n{log}");
}
