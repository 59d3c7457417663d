//! A real player through Spool: mpv plays and seeks in an MP4 whose index
//! (the moov atom) is at the end, while the origin is still trickling it in.
//! This is what the predecessor got wrong, so it is tested end to end.

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::origin::{Faults, Origin};
use crate::util::{id_of, run, Sandbox};

/// Per origin response; up to 4 at once ≈ 1 MiB/s, so the ≈ 15 MB film
/// takes about 15 s to download: mpv plays while it is incomplete.
const RATE: u64 = 256 << 10;
const MPV_LIMIT: Duration = Duration::from_secs(60);

struct Film {
    bytes: Vec<u8>,
    /// Offset of the moov atom, near the end.
    moov: u64,
}

/// A 60 s test film (≈ 2 Mbit/s, noisy so it does not compress away) with
/// moov after mdat, as ffmpeg writes it without `-movflags +faststart`.
fn film() -> &'static Film {
    static FILM: OnceLock<Film> = OnceLock::new();
    FILM.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("film.mp4");
        let mut encoders = Command::new("ffmpeg");
        encoders.args(["-hide_banner", "-encoders"]);
        let encoders = run(encoders, Duration::from_secs(30));
        encoders.expect_ok("ffmpeg -encoders (is ffmpeg installed?)");
        let video = if encoders.stdout.contains(" libx264 ") {
            &["-c:v", "libx264", "-preset", "ultrafast"][..]
        } else {
            &["-c:v", "mpeg4"][..]
        };
        let mut ffmpeg = Command::new("ffmpeg");
        ffmpeg
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=duration=60:size=320x240:rate=25,noise=alls=40:allf=t")
            .args(["-f", "lavfi", "-i", "sine=duration=60"])
            .args(video)
            .args(["-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M"])
            .args(["-c:a", "aac", "-shortest"])
            .arg(&out);
        run(ffmpeg, Duration::from_secs(120)).expect_ok("ffmpeg");
        let bytes = std::fs::read(&out).expect("read the film");
        let atoms = top_level_atoms(&bytes);
        let at = |name: &str| atoms.iter().find(|a| a.0 == name).map(|a| a.1);
        let (Some(mdat), Some(moov)) = (at("mdat"), at("moov")) else {
            panic!("no mdat or moov: {atoms:?}");
        };
        assert!(moov > mdat, "moov must come after mdat: {atoms:?}");
        Film { bytes, moov }
    })
}

/// Names and offsets of the top-level MP4 boxes, in file order.
fn top_level_atoms(bytes: &[u8]) -> Vec<(String, u64)> {
    let mut names = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let mut size = u64::from(word(pos));
        if size == 1 && pos + 16 <= bytes.len() {
            size = u64::from(word(pos + 8)) << 32 | u64::from(word(pos + 12));
        } else if size == 0 {
            size = (bytes.len() - pos) as u64;
        }
        let name = String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).into_owned();
        names.push((name, pos as u64));
        if size < 8 {
            break;
        }
        pos += size as usize;
    }
    names
}

/// Runs mpv on `url` with `args`, asserts a clean run, returns its time.
fn mpv(url: &str, args: &[&str]) -> Duration {
    let mut cmd = Command::new("mpv");
    cmd.args(["--no-config", "--vo=null", "--ao=null"])
        .args(args)
        .arg(url);
    let start = Instant::now();
    let out = run(cmd, MPV_LIMIT);
    let took = start.elapsed();
    let text = format!("{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.code(), Some(0), "mpv {args:?} failed:\n{text}");
    assert!(
        text.contains("Exiting... (End of file)"),
        "mpv did not play to its end:\n{text}"
    );
    for bad in [
        "Failed to",
        "Stream ends prematurely",
        "premature",
        "Invalid data",
        "moov atom not found",
        "error",
        "Error",
    ] {
        assert!(!text.contains(bad), "mpv {args:?} said {bad:?}:\n{text}");
    }
    took
}

/// Serves the film through a throttled origin and a fresh engine; returns
/// them with the item's id and stream URL.
async fn serve_film(path: &str) -> (Origin, Sandbox, crate::util::Serve, String, String) {
    let faults = Faults {
        path: Some(path.into()),
        rate: Some(RATE),
        etag: Some("\"film\"".into()),
        content_type: Some("video/mp4".into()),
        ..Faults::default()
    };
    let origin = Origin::start(film().bytes.clone(), faults).await;
    let mut sandbox = Sandbox::new();
    let serve = sandbox.serve(&[]);
    let url = sandbox.add(&origin.url());
    let id = id_of(&sandbox, &url);
    (origin, sandbox, serve, id, url)
}

/// What both playbacks must show: mpv ended while the item was still
/// incomplete (so it played during the download), and the moov at the end
/// came from an on-demand fetch instead of the sequential download.
fn assert_played_while_downloading(sandbox: &Sandbox, id: &str, origin: &Origin, run: &str, took: Duration) {
    let item = sandbox.item(id);
    let (downloaded, size) = (item["downloaded"].as_u64(), item["size"].as_u64());
    eprintln!(
        "{run}: mpv took {} ms; when it ended {downloaded:?} of {size:?} bytes were downloaded",
        took.as_millis()
    );
    assert!(
        matches!((downloaded, size), (Some(d), Some(s)) if d < s),
        "{run}: the download was complete before mpv finished: {item}"
    );
    let ranges: Vec<String> = origin.log().into_iter().filter_map(|e| e.range).collect();
    let moov_fetch = ranges.iter().any(|r| {
        r.strip_prefix("bytes=")
            .and_then(|r| r.split('-').next())
            .and_then(|a| a.parse::<u64>().ok())
            .is_some_and(|a| a >= film().moov)
    });
    assert!(
        moov_fetch,
        "{run}: no origin request at the moov (offset {}): {ranges:?}",
        film().moov
    );
}

/// Playing from the start needs the moov at the end first: Spool must fetch
/// it on demand instead of making mpv wait for the whole download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpv_plays_from_the_start_while_downloading() {
    let (origin, sandbox, _serve, id, url) = serve_film("/films/start.mp4").await;
    let took = mpv(&url, &["--frames=50"]);
    assert_played_while_downloading(&sandbox, &id, &origin, "--frames=50", took);
}

/// A seek to 80 % lands where nothing is downloaded yet: the moov (end) and
/// then the bytes at 80 % are served as they arrive, not refused or padded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpv_seeks_to_80_percent_while_downloading() {
    let (origin, sandbox, _serve, id, url) = serve_film("/films/seek.mp4").await;
    let took = mpv(&url, &["--start=80%", "--length=2"]);
    assert_played_while_downloading(&sandbox, &id, &origin, "--start=80% --length=2", took);
}
