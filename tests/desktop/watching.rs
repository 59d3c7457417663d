//! Continue watching in the window: a real mpv, started through the app's
//! engine, is stopped mid-way (through its IPC socket); the item's row then
//! plays with "▶ Resume at …" and offers "Play from start". It also takes
//! the README's screenshot of such a row (`SPOOL_RESUME_SCREENSHOT`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use super::support::origin::{Faults, Origin};
use super::webdriver::Session;
use super::{spool_add, spool_ls, start_driver, until, PATIENCE, SPOOL};

/// A 60 s test video (index first, so mpv starts at once).
fn video(dir: &std::path::Path) -> Vec<u8> {
    let out = dir.join("lecture.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=60:size=160x120:rate=25")
        .args(["-c:v", "mpeg4", "-movflags", "+faststart"])
        .arg(&out)
        .status()
        .expect("ffmpeg (is it installed?)");
    assert!(status.success(), "ffmpeg made no video");
    std::fs::read(&out).expect("read the video")
}

/// The `--input-ipc-server=` socket on the command line of process `pid`.
fn socket_of(pid: &str) -> Option<PathBuf> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    raw.split(|b| *b == 0)
        .map(String::from_utf8_lossy)
        .find_map(|a| a.strip_prefix("--input-ipc-server=").map(PathBuf::from))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and mpv: run by scripts/test"]
async fn a_row_offers_to_resume_where_mpv_stopped() {
    let sandbox = tempfile::Builder::new()
        .prefix("spool-e2e-watch-")
        .tempdir()
        .expect("temp dir");
    let data = sandbox.path().join("data");
    let origin = Origin::start(
        video(sandbox.path()),
        Faults {
            path: Some("/lectures/Intro-to-Rust-Lecture-02.mp4".to_string()),
            ..Faults::default()
        },
    )
    .await;
    let (_driver, driver_port) = start_driver(sandbox.path(), &data, &sandbox.path().join("config"));
    let session = Session::start(driver_port, SPOOL).await;
    spool_add(&data, &origin.url());
    let id = spool_ls(&data)[0]["id"].as_str().expect("an id").to_string();

    // Play with a real mpv through the app's engine; stop at about 41 s.
    let out = Command::new(SPOOL)
        .arg("--data-dir")
        .arg(&data)
        .args(["play", &id, "--player", "mpv --no-config --vo=null --ao=null"])
        .output()
        .expect("spool play");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let socket = until("mpv's IPC socket", || async { socket_of(&pid) }).await;
    let stream = until("mpv to listen", || async { UnixStream::connect(&socket).ok() }).await;
    stream.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    let mut lines = BufReader::new(stream.try_clone().expect("clone the socket"));
    let send = |command: Value| writeln!(&stream, "{}", json!({ "command": command })).expect("write to mpv");
    send(json!(["observe_property", 9, "time-pos"]));
    send(json!(["seek", 41.5, "absolute+exact"]));
    loop {
        let mut line = String::new();
        assert!(
            lines.read_line(&mut line).expect("read from mpv") > 0,
            "mpv closed its socket"
        );
        let message: Value = serde_json::from_str(&line).unwrap_or_default();
        if message["id"] == 9 && message["data"].as_f64().is_some_and(|t| t >= 41.0) {
            break;
        }
    }
    send(json!(["set_property", "pause", true]));
    send(json!(["quit"]));

    let play = format!("li[data-id='{id}'] button[data-action=play]");
    let label = until("the row to offer to resume", || async {
        let label = session.text(&play).await;
        label.starts_with("▶ Resume at 0:41").then_some(label)
    })
    .await;
    eprintln!("the row's play button: {label}");
    let from_start = session
        .text(&format!("li[data-id='{id}'] button[data-action=play-from-start]"))
        .await;
    assert_eq!(from_start, "Play from start");
    let item = spool_ls(&data)
        .into_iter()
        .find(|i| i["id"] == id.as_str())
        .expect("the item");
    assert!(
        item["position"].as_f64().is_some_and(|p| (p - 41.0).abs() < 1.5),
        "{item}"
    );

    let png = session.screenshot().await;
    let shot = std::env::var_os("SPOOL_RESUME_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/desktop-resume-screenshot.png")
        });
    if let Some(dir) = shot.parent() {
        std::fs::create_dir_all(dir).expect("screenshot dir");
    }
    std::fs::write(&shot, png).expect("write screenshot");
    eprintln!("screenshot: {}", shot.display());
    session.close().await;
}
