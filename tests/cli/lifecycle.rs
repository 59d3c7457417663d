//! Stopping and starting again: signals end the engine cleanly, and an
//! item's stream URL (in players' history) survives restarts.

use std::time::{Duration, Instant};

use crate::support::origin::{Faults, Origin};
use crate::util::{content, id_of, sha256, Sandbox};

/// SIGTERM and SIGINT both exit 0 within 5 s with progress flushed; the item
/// keeps its id and token, so with the same port its URL is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_stop_cleanly_and_items_survive_restarts() {
    let body = content(8 << 20, 5);
    // ≈ 4 connections × 512 KiB/s: still downloading when we stop it.
    let faults = Faults {
        rate: Some(512 << 10),
        etag: Some("\"v1\"".into()),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), faults).await;
    let mut sandbox = Sandbox::new();
    let engine_file = sandbox.data().join("engine.json");

    let mut serve = sandbox.serve(&[]);
    let port = serve.port.to_string();
    let stream_url = sandbox.add(&origin.url());
    let id = id_of(&sandbox, &stream_url);
    let before = sandbox.wait_item(&id, "some progress", |i| i["downloaded"].as_u64() > Some(0));
    let before = before["downloaded"].as_u64().unwrap_or_default();
    stop(&mut serve, libc::SIGTERM, "SIGTERM");
    assert!(!engine_file.exists(), "engine.json is removed on exit");

    let mut serve = sandbox.serve(&["--port", &port]);
    let item = sandbox.item(&id);
    assert_eq!(item["stream_url"], stream_url.as_str(), "same URL after restart");
    let after = item["downloaded"].as_u64().unwrap_or_default();
    assert!(
        after >= before,
        "progress seen before SIGTERM ({before}) was flushed, found {after}"
    );
    let ls = sandbox.spool(&["ls"]);
    assert!(ls.stdout.contains(&id), "ls lists the item after restart: {ls:?}");
    stop(&mut serve, libc::SIGINT, "SIGINT");
    assert!(!engine_file.exists(), "engine.json is removed on exit");

    // Once more, to the end: the resumed file is the origin's.
    let _serve = sandbox.serve(&["--port", &port]);
    assert_eq!(sandbox.item(&id)["stream_url"], stream_url.as_str());
    sandbox.wait_item(&id, "completion", |i| i["state"] == "complete");
    let served = reqwest::get(&stream_url).await.expect("GET the stream URL");
    let served = served.bytes().await.expect("read the stream");
    assert_eq!(sha256(&served), sha256(&body));
}

fn stop(serve: &mut crate::util::Serve, signal: libc::c_int, name: &str) {
    let start = Instant::now();
    serve.signal(signal);
    let status = serve
        .wait(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no exit within 5 s of {name}"));
    assert_eq!(status.code(), Some(0), "exit status after {name}");
    eprintln!("{name}: exited in {} ms", start.elapsed().as_millis());
}
