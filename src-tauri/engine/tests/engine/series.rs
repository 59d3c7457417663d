//! Collections read from real servers (nginx autoindex in HTML and JSON,
//! Python's `http.server`, wsgidav over WebDAV), the download queue, a
//! season played on by a real mpv, and listings that must be refused or
//! bounded.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use spool_engine::{CollectionAdded, Engine, ItemState, ItemView, PlayOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::origin::{Faults, Origin};
use crate::support::{require, ChildGuard};
use crate::util::*;

const EPISODES: [&str; 4] = [
    "Show S01E01.mkv",
    "Show S01E02.mkv",
    "Show S01E03.mkv",
    "Show S01E10.mkv",
];

/// A season on disk, as people keep one: episodes (E10 among them, to show
/// natural order), subtitles beside two of them, a cover and a sub-folder.
fn season(root: &Path) -> std::path::PathBuf {
    let dir = root.join("Season 1");
    std::fs::create_dir_all(dir.join("Extras")).unwrap();
    // Written out of order: no server's own order may decide.
    for (seed, name) in [
        (10, "Show S01E10.mkv"),
        (1, "Show S01E01.mkv"),
        (3, "Show S01E03.mkv"),
        (2, "Show S01E02.mkv"),
    ] {
        std::fs::write(dir.join(name), content(64 * KIB, seed)).unwrap();
    }
    std::fs::write(
        dir.join("Show S01E01.srt"),
        "1\n00:00:01,000 --> 00:00:02,000\nHello\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Show S01E02.en.srt"),
        "1\n00:00:01,000 --> 00:00:02,000\nAgain\n",
    )
    .unwrap();
    std::fs::write(dir.join("cover.jpg"), b"\xff\xd8\xff").unwrap();
    std::fs::write(dir.join("Extras").join("bonus.mkv"), content(KIB, 99)).unwrap();
    dir
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts on `port` (the server started).
async fn accepting(port: u16, child: &mut ChildGuard) {
    crate::support::until(
        &format!("a server on port {port}"),
        WAIT,
        Duration::from_millis(20),
        || {
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("the server exited before listening: {status}");
            }
            async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(drop)
            }
        },
    )
    .await;
}

/// Adds the listing at `url` and checks the season: the four episodes in
/// natural order, each subtitle paired with its episode and downloaded,
/// the bytes served as on disk, and the same collection on a second add.
async fn assert_season(t: &TestEngine, url: &str, dir: &Path) {
    let added = match t.engine.add_listing(url, &[]).await {
        Ok(added) => added,
        Err(e) => panic!("add_listing {url}: {e}"),
    };
    let names: Vec<&str> = added.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, EPISODES, "{url}");
    assert_eq!(added.collection.name, "Season 1", "{url}");
    assert_eq!(added.folders, 1, "{url}: Extras/ counted, not followed");
    assert!(added.failed.is_empty(), "{url}: {:?}", added.failed);
    for item in &added.items {
        assert_eq!(item.collection.as_deref(), Some(added.collection.id.as_str()));
    }
    let subs = |i: usize| -> Vec<String> {
        t.engine
            .subtitles_of(&added.items[i].id)
            .iter()
            .map(|s| t.item(s).name)
            .collect()
    };
    assert_eq!(subs(0), ["Show S01E01.srt"], "{url}");
    assert_eq!(subs(1), ["Show S01E02.en.srt"], "{url}");
    assert!(subs(2).is_empty() && subs(3).is_empty(), "{url}");
    // The bytes through the stream URL are the file's.
    let first = t.wait_complete(&added.items[0].id).await;
    let body = reqwest::get(&first.stream_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        body.as_ref(),
        std::fs::read(dir.join(EPISODES[0])).unwrap().as_slice(),
        "{url}"
    );
    let sub = t.engine.subtitles_of(&first.id)[0].clone();
    let sub = t.wait_complete(&sub).await;
    let body = reqwest::get(&sub.stream_url).await.unwrap().text().await.unwrap();
    assert!(body.contains("Hello"), "{url}: {body}");
    // Again: the same collection and items.
    let again = t.engine.add_listing(url, &[]).await.unwrap();
    assert_eq!(again.collection.id, added.collection.id, "{url}");
    let ids = |a: &CollectionAdded| a.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&added), "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_autoindex_in_html_and_json_gives_the_season() {
    if !require(
        has("nginx") || Path::new("/usr/sbin/nginx").exists(),
        "nginx is not installed",
    ) {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = season(root.path());
    let conf_dir = root.path().join("nginx");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let port = free_port();
    let d = conf_dir.display();
    let files = root.path().display();
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root root;"
    } else {
        ""
    };
    let config = format!(
        "{user}\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 64; }}\nhttp {{\n access_log off;\n\
         client_body_temp_path {d}/cb; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
         uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{\n  listen 127.0.0.1:{port};\n\
           location /html/ {{ alias {files}/; autoindex on; }}\n\
           location /json/ {{ alias {files}/; autoindex on; autoindex_format json; }}\n }}\n}}\n"
    );
    let conf = conf_dir.join("nginx.conf");
    std::fs::write(&conf, config).unwrap();
    let nginx = if has("nginx") { "nginx" } else { "/usr/sbin/nginx" };
    let mut server = ChildGuard(
        Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&conf_dir)
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    accepting(port, &mut server).await;
    let t = TestEngine::start().await;
    assert_season(&t, &format!("http://127.0.0.1:{port}/html/Season%201/"), &dir).await;
    let t = TestEngine::start().await;
    assert_season(&t, &format!("http://127.0.0.1:{port}/json/Season%201/"), &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_server_listing_gives_the_season() {
    if !require(has("python3"), "python3 is not installed") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = season(root.path());
    let port = free_port();
    let mut server = ChildGuard(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server"),
    );
    accepting(port, &mut server).await;
    let t = TestEngine::start().await;
    // Without the slash: the server redirects to the folder.
    assert_season(&t, &format!("http://127.0.0.1:{port}/Season%201/"), &dir).await;
}

/// wsgidav on PATH, or where `pip install --user` puts it.
fn wsgidav() -> Option<std::path::PathBuf> {
    let local = std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/bin/wsgidav"));
    if has("wsgidav") {
        Some("wsgidav".into())
    } else {
        local.filter(|p| p.exists())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webdav_folder_gives_the_season() {
    let Some(wsgidav) = wsgidav() else {
        require(
            false,
            "wsgidav is not installed (scripts/install-deps installs it)",
        );
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dir = season(root.path());
    let port = free_port();
    let mut server = ChildGuard(
        Command::new(&wsgidav)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--auth",
                "anonymous",
                "--no-config",
                "-q",
            ])
            .arg("--root")
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wsgidav"),
    );
    accepting(port, &mut server).await;
    let t = TestEngine::start().await;
    assert_season(&t, &format!("http://127.0.0.1:{port}/Season%201/"), &dir).await;
}

/// Serves fixed answers: `(method or "*", path, status, content type, body)`.
async fn pages(routes: Vec<(&'static str, String, u16, &'static str, Vec<u8>)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let mut words = head.split_whitespace();
                let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let route = routes
                    .iter()
                    .find(|(m, p, ..)| (*m == "*" || *m == method) && p == path);
                let (status, ctype, body) = match route {
                    Some((_, _, status, ctype, body)) => (*status, *ctype, body.clone()),
                    None if method == "PROPFIND" => (405, "text/plain", b"no".to_vec()),
                    None => (200, "video/x-matroska", content(4 * KIB, 7)),
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    port
}

async fn add_error(engine: &Engine, url: &str) -> String {
    match bounded(url, engine.add_any(url, &[], Default::default())).await {
        Ok(added) => panic!("{url} was added: {added:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn bad_listings_are_refused_or_bounded_with_the_reason() {
    let html = |s: String| s.into_bytes();
    let ten_thousand: String = (1..=10_000)
        .map(|i| format!("<a href=\"E{i}.mp4\">E{i}</a>\n"))
        .collect();
    let port = pages(vec![
        ("PROPFIND", "/dav/".into(), 207, "application/xml", b"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/dav/a.mkv".to_vec()),
        ("GET", "/live/index.m3u8".into(), 200, "application/vnd.apple.mpegurl",
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nseg0.ts\n".to_vec()),
        ("GET", "/local.m3u".into(), 200, "audio/x-mpegurl", b"#EXTM3U\nfile:///etc/passwd\nfile:///home/a.mkv\n".to_vec()),
        ("GET", "/big/".into(), 200, "text/html", html(ten_thousand)),
        ("GET", "/self/".into(), 200, "text/html",
            html("<a href=\"/self/\">me</a><a href=\"./\">me</a><a href=\"?C=N;O=D\">sort</a><a href=\"../\">up</a>".into())),
        ("GET", "/away/".into(), 200, "text/html",
            html("<a href=\"http://other.example/a.mkv\">a</a><a href=\"/elsewhere/b.mkv\">b</a><a href=\"c.mkv\">c</a>".into())),
        ("GET", "/huge/".into(), 200, "text/html", vec![b' '; 9 << 20]),
    ])
    .await;
    let base = format!("http://127.0.0.1:{port}");
    // Fewer entries than the engine's 1000 per listing keep the test quick
    // (each add is durable: fsyncs); the bound is the same code.
    let t = TestEngine::with(|c| {
        c.max_active = 1;
        c.max_listing_entries = 50;
    })
    .await;
    let e = &t.engine;

    let msg = add_error(e, &format!("{base}/dav/")).await;
    assert!(
        msg.contains("WebDAV server answered 207 Multi-Status with malformed XML"),
        "{msg}"
    );
    let msg = add_error(e, &format!("{base}/live/index.m3u8")).await;
    assert!(msg.contains("HLS is not supported yet"), "{msg}");
    let msg = add_error(e, &format!("{base}/local.m3u")).await;
    assert_eq!(
        msg, "the listing names no media files",
        "file: entries are never fetched"
    );
    let msg = add_error(e, &format!("{base}/self/")).await;
    assert_eq!(
        msg, "the listing names no media files",
        "a listing that only links to itself"
    );
    let msg = add_error(e, &format!("{base}/huge/")).await;
    assert!(msg.contains("larger than 8 MiB"), "{msg}");
    assert!(e.items().is_empty(), "nothing was added: {:?}", e.items());

    let away = bounded("add /away/", e.add_listing(&format!("{base}/away/"), &[]))
        .await
        .unwrap();
    assert_eq!(away.items.len(), 1);
    let reasons: Vec<_> = away.skipped.iter().map(|s| s.reason.describe()).collect();
    assert_eq!(
        reasons,
        ["points to another host", "points outside the listed folder"]
    );

    let big = bounded("add /big/", e.add_listing(&format!("{base}/big/"), &[]))
        .await
        .unwrap();
    assert_eq!(big.items.len(), 50);
    assert_eq!(big.dropped, 9_950, "the rest is reported");
    let names: Vec<&str> = big.items.iter().take(3).map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["E1.mp4", "E2.mp4", "E3.mp4"],
        "the first ones, in natural order"
    );
}

/// An origin of 256 KiB files at 32 KiB/s (each item downloads for about
/// 8 s; `seed` varies the bytes) and an engine that downloads `max_active`
/// items at a time, one connection each.
async fn slow_queue(seed: u64, max_active: usize) -> (Origin, TestEngine) {
    let origin = Origin::start(
        content(256 * KIB, seed),
        Faults {
            rate: Some(32 * 1024),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::with(|c| {
        c.max_active = max_active;
        c.connections_per_item = 1;
    })
    .await;
    (origin, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_ten_runs_two_at_a_time_and_a_read_starts_a_queued_item() {
    let (origin, t) = slow_queue(3, 2).await;
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(t.add(&format!("{}?n={n}", origin.url())).await.id);
    }
    let states = |t: &TestEngine| -> Vec<ItemState> { ids.iter().map(|id| t.item(id).state).collect() };
    // Sampled while the first ones run: never more than two download.
    let mut samples = 0;
    let mut most = 0;
    until("the first two to download", || {
        let s = states(&t);
        s.iter().filter(|s| **s == ItemState::Downloading).count() == 2
    })
    .await;
    for _ in 0..50 {
        let s = states(&t);
        let downloading = s.iter().filter(|s| **s == ItemState::Downloading).count();
        most = most.max(downloading);
        assert!(downloading <= 2, "more than two downloading: {s:?}");
        assert_eq!(s[9], ItemState::Queued, "the last one waits: {s:?}");
        samples += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(most, 2, "two ran at once ({samples} samples)");
    // A player reads the last, queued item: it starts at once, ahead of the queue.
    let last = t.item(&ids[9]);
    let mut response = bounded("the queued item's response", reqwest::get(&last.stream_url))
        .await
        .unwrap();
    let chunk = bounded("the queued item's first bytes", response.chunk())
        .await
        .unwrap();
    assert!(chunk.is_some_and(|c| !c.is_empty()), "bytes of the queued item");
    let s = states(&t);
    assert_ne!(s[0], ItemState::Complete, "it did not wait for the queue: {s:?}");
    t.wait_item(&ids[9], "the read item to download", |v| {
        v.state == ItemState::Downloading
    })
    .await;
    // Move the eighth to the front: once the reader is done, it runs next.
    t.engine.move_to_front(&ids[7]).await.unwrap();
    drop(response);
    t.wait_item(&ids[7], "the item moved to the front to run", |v| {
        v.state == ItemState::Downloading
    })
    .await;
    // The read item went back to the queue: two at most again.
    until("two downloads at most", || {
        states(&t)
            .iter()
            .filter(|s| **s == ItemState::Downloading)
            .count()
            <= 2
    })
    .await;
    let s = states(&t);
    assert_eq!(s[4], ItemState::Queued, "the fifth still waits: {s:?}");
}

/// A video of `seconds` in tiny frames (mpv with no output plays it in real
/// time, so the first episode lasts while the next one downloads).
fn video(path: &Path, seconds: u32) {
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .args(["testsrc=size=64x48:rate=10", "-t", &seconds.to_string()])
        .args(["-c:v", "mpeg4"])
        .arg(path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpv_plays_the_season_on_by_itself_with_subtitles_and_the_next_episode_ready() {
    if !require(
        has("mpv") && has("ffmpeg") && has("python3"),
        "mpv, ffmpeg and python3 are needed",
    ) {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("Season 2");
    std::fs::create_dir_all(&dir).unwrap();
    video(&dir.join("Show S02E01.mkv"), 5);
    video(&dir.join("Show S02E02.mkv"), 1);
    std::fs::write(
        dir.join("Show S02E01.srt"),
        "1\n00:00:00,500 --> 00:00:04,000\nPreviously\n",
    )
    .unwrap();
    let port = free_port();
    let mut server = ChildGuard(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .arg("--directory")
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server"),
    );
    accepting(port, &mut server).await;
    // One download at a time, taken by an earlier, slow item (1 MiB at
    // 16 KiB/s): the next episode downloads only if it goes ahead of it.
    let slow = Origin::start(
        content(MIB, 5),
        Faults {
            rate: Some(16 * 1024),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::with(|c| {
        c.max_active = 1;
        c.connections_per_item = 1;
    })
    .await;
    let earlier = t.add(&slow.url()).await;
    t.wait_item(&earlier.id, "the earlier item to download", |v| {
        v.state == ItemState::Downloading
    })
    .await;
    let added = t
        .engine
        .add_listing(&format!("http://127.0.0.1:{port}/Season%202/"), &[])
        .await
        .expect("add the season");
    let [first, second] = &added.items[..] else {
        panic!("two episodes: {:?}", added.items);
    };
    let subtitle = t.item(&t.engine.subtitles_of(&first.id)[0]);
    let before = t.item(&second.id);
    assert_eq!(
        (before.state, before.downloaded),
        (ItemState::Queued, 0),
        "the second episode waits behind the earlier item"
    );

    let log = t.dir.path().join("mpv.log");
    let player = format!(
        "mpv --no-config --vo=null --ao=null '--log-file={}'",
        log.display()
    );
    let options = PlayOptions {
        player: Some(player),
        from_start: false,
    };
    bounded("play", t.engine.play(&first.id, options))
        .await
        .expect("start mpv");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let playing = |item: &ItemView| format!("Playing: {}", item.stream_url);
    // Until mpv opens the second episode by itself: was it downloaded by
    // then? (The log is read first: a state seen after a log without the
    // second episode was there before mpv reached it.)
    let mut ready = None;
    crate::support::until(
        "mpv to go on to the second episode",
        Duration::from_secs(60),
        Duration::from_millis(20),
        || {
            let reached = log_text().contains(&playing(second));
            if !reached && ready.is_none() {
                let (next, slow_item) = (t.item(&second.id), t.item(&earlier.id));
                if next.state == ItemState::Complete {
                    ready = Some(slow_item);
                }
            }
            std::future::ready(reached.then_some(()))
        },
    )
    .await;
    let slow_item = ready.expect("the second episode should be complete before mpv reaches it");
    assert_ne!(
        slow_item.state,
        ItemState::Complete,
        "the second episode went ahead of the earlier item: {slow_item:?}"
    );
    crate::support::until(
        "mpv to end at the end of the playlist",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || std::future::ready(log_text().contains("Exiting... (End of file)").then_some(())),
    )
    .await;
    let text = log_text();
    let at = |what: &str| {
        text.find(what)
            .unwrap_or_else(|| panic!("no {what:?} in mpv's log:\n{text}"))
    };
    assert!(
        at(&playing(first)) < at(&playing(second)),
        "first the first episode, then the second"
    );
    // The subtitle reached mpv as the first episode's external track.
    at(&format!("'--sub-file={}'", subtitle.stream_url));
    let track = at("(subrip) (external)");
    assert!(
        at(&playing(first)) < track && track < at(&playing(second)),
        "the subtitle track came with the first episode:\n{text}"
    );
    t.wait_complete(&subtitle.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_to_the_front_are_kept_across_a_restart() {
    // 256 KiB at 32 KiB/s: each item downloads for about 8 s.
    let origin = Origin::start(
        content(256 * KIB, 4),
        Faults {
            rate: Some(32 * 1024),
            ..Faults::default()
        },
    )
    .await;
    let one_at_a_time = |c: &mut spool_engine::Config| {
        c.max_active = 1;
        c.connections_per_item = 1;
    };
    let t = TestEngine::with(one_at_a_time).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(t.add(&format!("{}?n={n}", origin.url())).await.id);
    }
    t.wait_item(&ids[0], "the first to download", |v| {
        v.state == ItemState::Downloading
    })
    .await;
    // The fourth, then the third: the third first, then the fourth, then
    // the rest as added.
    t.engine.move_to_front(&ids[3]).await.unwrap();
    t.engine.move_to_front(&ids[2]).await.unwrap();
    t.wait_item(&ids[2], "the latest moved to run", |v| {
        v.state == ItemState::Downloading
    })
    .await;
    let t = t.restart_with(|_| {}, one_at_a_time).await;
    let states = |t: &TestEngine| -> Vec<ItemState> { ids.iter().map(|id| t.item(id).state).collect() };
    t.wait_item(&ids[2], "the latest moved to run after the restart", |v| {
        v.state == ItemState::Downloading
    })
    .await;
    let s = states(&t);
    assert_eq!(
        s,
        [
            ItemState::Queued,
            ItemState::Queued,
            ItemState::Downloading,
            ItemState::Queued
        ],
        "the moved item runs, not the first added"
    );
    // Then the earlier move, ahead of the first two.
    t.engine.pause(&ids[2]).await.unwrap();
    t.wait_item(&ids[3], "the earlier moved to run next", |v| {
        v.state == ItemState::Downloading
    })
    .await;
    let s = states(&t);
    assert_eq!((s[0], s[1]), (ItemState::Queued, ItemState::Queued), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_folders_are_followed_one_level_down_when_asked() {
    if !require(has("python3"), "python3 is not installed") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    season(root.path());
    let port = free_port();
    let mut server = ChildGuard(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .arg("--directory")
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server"),
    );
    accepting(port, &mut server).await;
    let top = format!("http://127.0.0.1:{port}/");
    // The top folder holds only "Season 1/": not asked, it is refused with
    // the way out.
    let t = TestEngine::start().await;
    let err = add_error(&t.engine, &top).await;
    assert!(
        err.contains("only 1 sub-folder") && err.contains("--recursive"),
        "{err}"
    );
    // Asked: the season one level down, subtitles paired; its Extras/ is
    // counted, not followed.
    let added = bounded("the recursive add", t.engine.add_listing_with(&top, &[], true))
        .await
        .expect("add the folder and its sub-folders");
    let names: Vec<&str> = added.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, EPISODES);
    assert_eq!((added.followed, added.folders), (1, 1));
    assert!(added.failed.is_empty(), "{:?}", added.failed);
    let subs: Vec<String> = t
        .engine
        .subtitles_of(&added.items[0].id)
        .iter()
        .map(|s| t.item(s).name)
        .collect();
    assert_eq!(subs, ["Show S01E01.srt"]);
    // The season itself, asked: the bonus from Extras/ after the episodes.
    let t = TestEngine::start().await;
    let added = bounded(
        "the recursive add",
        t.engine.add_listing_with(&format!("{top}Season%201/"), &[], true),
    )
    .await
    .expect("add the season and its sub-folder");
    let names: Vec<&str> = added.items.iter().map(|i| i.name.as_str()).collect();
    let mut want = EPISODES.to_vec();
    want.push("bonus.mkv");
    assert_eq!(names, want);
    assert_eq!((added.followed, added.folders), (1, 0));
}

/// How long a collection of a thousand items takes to add. A measurement,
/// not a check (its figures are in docs/BENCHMARKS.md): run by hand with
/// `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn measure_adding_a_collection_of_a_thousand() {
    let list: String = (1..=1000).map(|i| format!("E{i}.mkv\n")).collect();
    let port = pages(vec![(
        "GET",
        "/season.m3u".into(),
        200,
        "audio/x-mpegurl",
        list.into_bytes(),
    )])
    .await;
    let t = TestEngine::start().await;
    let began = std::time::Instant::now();
    let added = t
        .engine
        .add_listing(&format!("http://127.0.0.1:{port}/season.m3u"), &[])
        .await
        .expect("add the playlist");
    let took = began.elapsed();
    assert_eq!(added.items.len(), 1000, "{:?}", added.failed);
    println!(
        "a collection of {} items added in {:.2} s ({:.2} ms per item)",
        added.items.len(),
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / added.items.len() as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_is_queued_in_its_order() {
    let (origin, t) = slow_queue(6, 1).await;
    let playlist: String = (1..=8).map(|n| format!("{}?e={n}\n", origin.url())).collect();
    let added = bounded(
        "the playlist's add",
        t.engine
            .add_playlist_text("file:///home/me/season.m3u", &playlist, &[]),
    )
    .await
    .expect("add the playlist");
    let ids: Vec<String> = added.items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids.len(), 8);
    // However its probes happened to answer, the first runs, then the second.
    for (n, id) in ids.iter().take(2).enumerate() {
        t.wait_item(id, "the next of the playlist to run", |v| {
            v.state == ItemState::Downloading
        })
        .await;
        for later in &ids[n + 1..] {
            assert_eq!(t.item(later).state, ItemState::Queued, "item {n} runs first");
        }
        t.engine.pause(id).await.unwrap();
    }
}
