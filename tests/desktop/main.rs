//! End-to-end test of the real desktop app: the `spool` binary in a real
//! WebView (WebKitGTK) under Xvfb, driven through tauri-driver +
//! WebKitWebDriver, against throttled loopback origins.
//!
//! Needs a display, `tauri-driver` and `WebKitWebDriver`, so it is ignored by
//! a plain `cargo test`; `scripts/test` runs it as
//! `xvfb-run -a dbus-run-session -- cargo test --test desktop -- --ignored`.
//! With a D-Bus session it also starts `dunst` (a real notification server)
//! and checks that the completion notification reached it.

#[path = "../../src-tauri/engine/tests/support/mod.rs"]
mod support;

mod lifecycle;
mod links;
mod procs;
mod season;
mod watching;
// Shared with tests/browser, which uses calls this test does not.
#[allow(dead_code)]
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::origin::{Faults, Origin};
use webdriver::Session;

const SPOOL: &str = env!("CARGO_BIN_EXE_spool");
/// Upper bound of every wait: a failure, never a fixed sleep.
const PATIENCE: Duration = Duration::from_secs(60);

use support::ChildGuard as Guard;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn tauri_driver() -> PathBuf {
    if let Some(path) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let installed = home.join("bin").join("tauri-driver");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("tauri-driver")
    }
}

/// A stub player in `dir` that appends its arguments, one a line, to the
/// file it returns second.
fn stub_player(dir: &Path) -> (PathBuf, PathBuf) {
    let argv_file = dir.join("player-argv.txt");
    let stub = dir.join("stub-player");
    std::fs::write(
        &stub,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\n", argv_file.display()),
    )
    .expect("write stub player");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod stub");
    }
    (stub, argv_file)
}

/// tauri-driver, and on drop everything it started: a test that fails
/// before it closes its session leaves no app behind (its tray icon, its
/// downloads) for the next test to meet.
struct Driver(Guard);

impl Driver {
    fn pid(&self) -> u32 {
        let Driver(Guard(child)) = self;
        child.id()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The driver itself is killed (and reaped) by its guard, after this.
        for pid in procs::tree(self.pid()).into_iter().skip(1) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
}

/// tauri-driver for the app with data directory `data` and config home
/// `config`, logging into `dir`/tauri-driver.log; its WebDriver port.
fn start_driver(dir: &Path, data: &Path, config: &Path) -> (Driver, u16) {
    let driver_port = free_port();
    let native_port = free_port();
    let log = std::fs::File::create(dir.join("tauri-driver.log")).expect("driver log");
    let driver = Driver(Guard(
        Command::new(tauri_driver())
            .args([
                "--port",
                &driver_port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("SPOOL_DATA_DIR", data)
            .env("XDG_CONFIG_HOME", config)
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tauri-driver (cargo install tauri-driver --locked)"),
    ));
    (driver, driver_port)
}

/// `spool add URL` through the CLI, against the app's engine.
fn spool_add(data: &Path, url: &str) {
    let out = Command::new(SPOOL)
        .arg("--data-dir")
        .arg(data)
        .args(["add", url])
        .output()
        .expect("spool add");
    assert!(
        out.status.success(),
        "spool add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `check` every 100 ms until it returns `Some`, or panics with `what`.
async fn until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    support::until(what, PATIENCE, Duration::from_millis(100), check).await
}

fn spool_ls(data: &Path) -> Vec<Value> {
    let out = Command::new(SPOOL)
        .arg("--data-dir")
        .arg(data)
        .args(["ls", "--json"])
        .output()
        .expect("run spool ls");
    assert!(
        out.status.success(),
        "spool ls: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("spool ls --json output")
}

/// A test's own directory (its data directory, config home, logs), named
/// `prefix…` so a leftover says which test left it.
fn sandbox(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

/// Whether `program` is on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Whether a D-Bus session bus is there (`dbus-run-session`).
fn session_bus() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.to_string_lossy().starts_with("disabled"))
}

/// The row of the item whose name is `name`, as JSON: state, percent, ranges.
const ROW_JS: &str = r#"
const row = [...document.querySelectorAll('li.item')].find(li => li.querySelector('.name').textContent === arguments[0]);
if (!row) return null;
return {
  id: row.dataset.id,
  state: row.querySelector('[data-role=state]').textContent,
  pct: (row.querySelector('.pct') || {}).textContent || null,
  parts: row.querySelectorAll('.bar .part').length,
  probe: row.querySelector('.bar').dataset.probe || null,
};
"#;

async fn row(session: &Session, name: &str) -> Option<Value> {
    let value = session.execute(ROW_JS, &[Value::from(name)]).await;
    (!value.is_null()).then_some(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver and WebKitWebDriver: run by scripts/test"]
async fn desktop_app_adds_plays_and_removes_through_the_ui() {
    let sandbox = sandbox("spool-e2e-");
    let data = sandbox.path().join("data");
    let (stub, argv_file) = stub_player(sandbox.path());

    // Origins: one that completes in a few seconds, one that stays partial.
    let film = Origin::start(
        support::content(6 << 20, 1),
        Faults {
            path: Some("/films/Night-Sky-Timelapse-4K.mkv".to_string()),
            rate: Some(768 << 10),
            etag: Some("\"v1\"".to_string()),
            ..Faults::default()
        },
    )
    .await;
    let lecture = Origin::start(
        support::content(96 << 20, 2),
        Faults {
            path: Some("/lectures/Intro-to-Rust-Lecture-01.mp4".to_string()),
            rate: Some(200 << 10),
            ..Faults::default()
        },
    )
    .await;
    let podcast = Origin::start(
        support::content(3 << 20, 3),
        Faults {
            path: Some("/podcasts/episode-142.mp3".to_string()),
            rate: Some(1 << 20),
            ..Faults::default()
        },
    )
    .await;

    // A real notification server on the session bus, and a bus monitor.
    let on_bus = support::require(
        session_bus(),
        "no D-Bus session (run under dbus-run-session): the notification check",
    );
    let monitor_log = sandbox.path().join("dbus-monitor.log");
    let mut _dunst = None;
    let mut _monitor = None;
    if on_bus {
        _dunst = Some(Guard(
            Command::new("dunst")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dunst"),
        ));
        _monitor = Some(Guard(
            Command::new("dbus-monitor")
                .arg("interface='org.freedesktop.Notifications'")
                .stdout(std::fs::File::create(&monitor_log).expect("monitor log"))
                .spawn()
                .expect("start dbus-monitor"),
        ));
    }

    let (_driver, driver_port) = start_driver(sandbox.path(), &data, &sandbox.path().join("config"));
    let session = Session::start(driver_port, SPOOL).await;

    // The window shows its designed empty state.
    until("the empty state", || async {
        let shown = session
            .execute(
                "return !document.getElementById('empty').classList.contains('hidden')",
                &[],
            )
            .await;
        shown.as_bool().filter(|b| *b)
    })
    .await;

    // Settings: the stub player, through the form.
    session.click("#settings-toggle").await;
    session.clear("input[name=player_command]").await;
    session
        .type_into("input[name=player_command]", &stub.display().to_string())
        .await;
    session.click("#settings-form button[type=submit]").await;
    until("settings saved", || async {
        let text = session.text("#settings-status").await;
        (text == "Saved and applied").then_some(())
    })
    .await;
    let saved: Value =
        serde_json::from_slice(&std::fs::read(data.join("desktop-settings.json")).expect("settings file"))
            .expect("settings JSON");
    assert_eq!(saved["player_command"], stub.display().to_string());
    session.click("#settings-toggle").await;

    // Add the film through the add box: the row appears and progresses live.
    session.type_into("#url-input", &film.url()).await;
    session.click("#add-button").await;
    let name = "Night-Sky-Timelapse-4K.mkv";
    let first = until("the film's row", || row(&session, name)).await;
    let id = first["id"].as_str().expect("row id").to_string();
    // A queued row has a "Download next" button a downloading one has not:
    // the row is built again when it starts, so mark it once it downloads.
    until("the film downloading", || async {
        row(&session, name).await.filter(|r| r["state"] != "Queued")
    })
    .await;
    // Progress updates the row's nodes in place: a mark put on its bar now
    // stays while the percentage moves (until completion changes the buttons).
    session
        .execute(
            "document.querySelector(`li[data-id=\"${arguments[0]}\"] .bar`).dataset.probe = 'kept'; return null;",
            &[Value::from(id.as_str())],
        )
        .await;
    let mut percents = std::collections::BTreeSet::new();
    let mut in_place = std::collections::BTreeSet::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = row(&session, name).await.expect("the film's row");
        if let Some(p) = r["pct"].as_str() {
            percents.insert(p.to_string());
            if r["probe"] == "kept" {
                in_place.insert(p.to_string());
            }
        }
        if r["state"] == "Complete" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the film to complete: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        percents.len() >= 3,
        "progress reached the row as it happened (seen {percents:?})"
    );
    assert!(
        in_place.len() >= 2,
        "progress updated the row in place (seen {in_place:?} on the first bar node, {percents:?} in all)"
    );
    assert_eq!(row(&session, name).await.expect("row")["pct"], "100 %");

    // Play with the stub player: it gets the stream URL, after `--`-free argv.
    let stream_url = spool_ls(&data)
        .iter()
        .find(|i| i["id"] == id.as_str())
        .and_then(|i| i["stream_url"].as_str().map(str::to_string))
        .expect("the item in spool ls");
    session
        .click(&format!("li[data-id='{id}'] button[data-action=play]"))
        .await;
    let argv = until("the stub player to run", || async {
        std::fs::read_to_string(&argv_file).ok().filter(|s| !s.is_empty())
    })
    .await;
    assert_eq!(
        argv,
        format!("{stream_url}\n"),
        "the player got exactly the stream URL"
    );
    // The window says which command it started (the reply may trail the player).
    let toast = until("the play toast", || async {
        let toast = session.text("#toast").await;
        toast.starts_with("Playing with ").then_some(toast)
    })
    .await;
    assert!(toast.contains(&stub.display().to_string()), "{toast}");

    // The completion notification reached the notification server.
    if on_bus {
        until("the Notify call on the bus", || async {
            let log = std::fs::read_to_string(&monitor_log).unwrap_or_default();
            (log.contains("member=Notify") && log.contains("Download complete") && log.contains(name))
                .then_some(())
        })
        .await;
        let count = Command::new("dunstctl")
            .arg("count")
            .output()
            .expect("dunstctl count");
        let count = String::from_utf8_lossy(&count.stdout).to_string();
        let total: u64 = count
            .lines()
            .filter_map(|l| l.rsplit(':').next()?.trim().parse::<u64>().ok())
            .sum();
        assert!(total >= 1, "dunst received the notification: {count}");
    }

    // A second launch forwards its URL to the running app (single instance).
    let second = Command::new(SPOOL)
        .arg(podcast.url())
        .env("SPOOL_DATA_DIR", &data)
        .env("XDG_CONFIG_HOME", sandbox.path().join("config"))
        .output()
        .expect("second launch");
    assert!(
        second.status.success(),
        "second launch: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    until("the forwarded URL's row", || row(&session, "episode-142.mp3")).await;
    let argv = until("the forwarded URL to play", || async {
        std::fs::read_to_string(&argv_file)
            .ok()
            .filter(|s| s.lines().count() >= 2)
    })
    .await;
    assert!(
        argv.lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("/episode-142.mp3")),
        "{argv}"
    );

    // A slow one stays partial: the bar shows the present ranges.
    session.type_into("#url-input", &lecture.url()).await;
    session.click("#add-button").await;
    until("the lecture to show progress", || async {
        let r = row(&session, "Intro-to-Rust-Lecture-01.mp4").await?;
        (r["parts"].as_u64()? >= 1 && r["pct"].as_str()? != "0 %").then_some(())
    })
    .await;
    until("the podcast to complete", || async {
        let r = row(&session, "episode-142.mp3").await?;
        (r["state"] == "Complete").then_some(())
    })
    .await;
    // Pause and resume the lecture from its row.
    let lecture_id = row(&session, "Intro-to-Rust-Lecture-01.mp4")
        .await
        .expect("lecture row")["id"]
        .as_str()
        .expect("row id")
        .to_string();
    session
        .click(&format!("li[data-id='{lecture_id}'] button[data-action=pause]"))
        .await;
    until("the lecture to pause", || async {
        let r = row(&session, "Intro-to-Rust-Lecture-01.mp4").await?;
        (r["state"] == "Paused").then_some(())
    })
    .await;
    session
        .click(&format!("li[data-id='{lecture_id}'] button[data-action=resume]"))
        .await;
    until("the lecture to resume", || async {
        let r = row(&session, "Intro-to-Rust-Lecture-01.mp4").await?;
        (r["state"] == "Downloading" || r["state"] == "Queued").then_some(())
    })
    .await;

    // Copy the stream URL.
    session
        .click(&format!("li[data-id='{lecture_id}'] button[data-action=copy]"))
        .await;
    until("the copy toast", || async {
        let toast = session.text("#toast").await;
        let banner = session.text("#banner").await;
        assert!(banner.is_empty(), "copy failed: {banner}");
        (toast == "Stream URL copied").then_some(())
    })
    .await;

    // Pin the podcast: the row says so, and so does `spool ls`.
    let podcast_id = row(&session, "episode-142.mp3").await.expect("podcast row")["id"]
        .as_str()
        .expect("row id")
        .to_string();
    session
        .click(&format!("li[data-id='{podcast_id}'] button[data-action=pin]"))
        .await;
    until("the pinned badge", || async {
        let badge = session
            .text(&format!("li[data-id='{podcast_id}'] .pin-badge"))
            .await;
        (badge == "Pinned").then_some(())
    })
    .await;
    assert!(spool_ls(&data)
        .iter()
        .any(|i| i["id"] == podcast_id.as_str() && i["pinned"] == true));
    // The screenshot shows the lecture downloading, with its percentage.
    until("the lecture to show live progress", || async {
        let r = row(&session, "Intro-to-Rust-Lecture-01.mp4").await?;
        (r["state"] == "Downloading" && !r["pct"].is_null()).then_some(())
    })
    .await;
    let png = session.screenshot().await;
    let shot = std::env::var_os("SPOOL_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/desktop-screenshot.png"));
    if let Some(dir) = shot.parent() {
        std::fs::create_dir_all(dir).expect("screenshot dir");
    }
    std::fs::write(&shot, png).expect("write screenshot");
    eprintln!("screenshot: {}", shot.display());
    // The settings panel, for a look by eye (not used in the README).
    session.click("#settings-toggle").await;
    let settings_png = session.screenshot().await;
    std::fs::write(shot.with_file_name("desktop-settings.png"), settings_png).expect("write screenshot");
    session.click("#settings-toggle").await;

    // Remove the film, with confirmation: the row and its files go.
    session
        .click(&format!("li[data-id='{id}'] button[data-action=remove]"))
        .await;
    session
        .click(&format!("li[data-id='{id}'] button[data-action=confirm-remove]"))
        .await;
    until("the film's row to go", || async {
        row(&session, name).await.is_none().then_some(())
    })
    .await;
    assert!(
        !data.join("items").join(&id).exists(),
        "the item's files are deleted"
    );
    assert!(spool_ls(&data).iter().all(|i| i["id"] != id.as_str()));

    session.close().await;
}

/// One entry of the tray menu as exported over D-Bus (com.canonical.dbusmenu).
#[derive(Debug, Clone)]
struct MenuEntry {
    id: i64,
    label: String,
    enabled: bool,
}

/// Walks a `GetLayout` reply (`busctl --json`): nodes are `[id, {props}, [children]]`.
fn walk_layout(value: &Value, out: &mut Vec<MenuEntry>) {
    match value {
        Value::Array(a) if a.len() == 3 && a[0].is_i64() && a[1].is_object() && a[2].is_array() => {
            let prop = |name: &str| a[1].get(name).and_then(|p| p.get("data")).cloned();
            if let Some(Value::String(label)) = prop("label") {
                out.push(MenuEntry {
                    id: a[0].as_i64().unwrap_or_default(),
                    label,
                    enabled: prop("enabled").and_then(|e| e.as_bool()).unwrap_or(true),
                });
            }
            walk_layout(&a[2], out);
        }
        Value::Array(a) => a.iter().for_each(|v| walk_layout(v, out)),
        Value::Object(o) => o.values().for_each(|v| walk_layout(v, out)),
        _ => {}
    }
}

const MENU_PATH: &str = "/org/ayatana/NotificationItem/tray_icon_tray_app_spool/Menu";

/// The tray menu of the app with process id `pid`, read over the session bus.
fn tray_menu(pid: u32) -> Option<(String, Vec<MenuEntry>)> {
    let names = Command::new("busctl")
        .args(["--user", "--json=short", "list"])
        .output()
        .ok()?;
    let names: Value = serde_json::from_slice(&names.stdout).ok()?;
    for name in names.as_array()? {
        if name["pid"].as_u64() != Some(u64::from(pid)) {
            continue;
        }
        let Some(bus_name) = name["name"].as_str().filter(|n| n.starts_with(':')) else {
            continue;
        };
        if let Some(entries) = menu_of(bus_name) {
            return Some((bus_name.to_string(), entries));
        }
    }
    None
}

/// The tray menu exported by `bus_name`.
fn menu_of(bus_name: &str) -> Option<Vec<MenuEntry>> {
    let layout = Command::new("busctl")
        .args(["--user", "--json=short", "call", bus_name, MENU_PATH])
        .args([
            "com.canonical.dbusmenu",
            "GetLayout",
            "iias",
            "--",
            "0",
            "-1",
            "2",
            "label",
            "enabled",
        ])
        .output()
        .ok()?;
    if !layout.status.success() {
        return None;
    }
    let layout: Value = serde_json::from_slice(&layout.stdout).ok()?;
    let mut entries = Vec::new();
    walk_layout(&layout, &mut entries);
    Some(entries)
}

/// Presses a tray menu entry over D-Bus (com.canonical.dbusmenu `Event`).
fn press(bus_name: &str, entry: &MenuEntry) {
    let status = Command::new("busctl")
        .args([
            "--user",
            "call",
            bus_name,
            MENU_PATH,
            "com.canonical.dbusmenu",
            "Event",
            "isvu",
        ])
        .arg(entry.id.to_string())
        .args(["clicked", "s", "", "0"])
        .status()
        .expect("busctl call Event");
    assert!(status.success(), "pressing {:?}", entry.label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb and a D-Bus session: run by scripts/test"]
async fn in_the_tray_alone_the_menu_shows_live_state_and_quit_shuts_down() {
    if !support::require(session_bus(), "no D-Bus session (run under dbus-run-session)") {
        return;
    }
    let sandbox = sandbox("spool-tray-");
    let data = sandbox.path().join("data");
    let origin = Origin::start(
        support::content(2 << 20, 4),
        Faults {
            path: Some("/media/clip.mkv".to_string()),
            rate: Some(128 << 10),
            ..Faults::default()
        },
    )
    .await;
    // As at login: the tray without the window.
    let mut app = Guard(
        Command::new(SPOOL)
            .arg("--data-dir")
            .arg(&data)
            .arg("--tray")
            .env("XDG_CONFIG_HOME", sandbox.path().join("config"))
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the app"),
    );
    let pid = app.0.id();
    let label =
        |entries: &[MenuEntry], prefix: &str| entries.iter().find(|e| e.label.starts_with(prefix)).cloned();

    // Every action is in the menu; the first line is the live state.
    let (bus_name, entries) = until("the tray menu on the bus", || async { tray_menu(pid) }).await;
    for wanted in [
        "Open Spool",
        "Add URL from clipboard",
        "Continue watching",
        "Recent items",
        "Pause all",
        "Resume all",
        "Clear watched",
        "Clear cache",
        "Open cache folder",
        "Quit Spool",
    ] {
        assert!(label(&entries, wanted).is_some(), "no {wanted:?} in {entries:?}");
    }
    let status = label(&entries, "No items yet").expect("the empty state line");
    assert!(!status.enabled, "the state line is not an action");

    // A download (added through the CLI, against the app's engine) shows live.
    spool_add(&data, &origin.url());
    until("the tray to show the download", || async {
        let entries = menu_of(&bus_name)?;
        label(&entries, "Downloading 1 — ")
            .filter(|_| label(&entries, "Pause all (1)").is_some_and(|e| e.enabled))
    })
    .await;
    until("the tray to show the finished item", || async {
        let entries = menu_of(&bus_name)?;
        label(&entries, "1 item cached — 2.0 MiB")
            .filter(|_| label(&entries, "Clear cache (1 item, 2.0 MiB)").is_some_and(|e| e.enabled))
            // Not played yet: nothing watched to clear.
            .filter(|_| label(&entries, "Clear watched (nothing watched)").is_some_and(|e| !e.enabled))
    })
    .await;

    // All this while, no window: no web process was ever started. Open
    // Spool starts one.
    assert_eq!(
        procs::web_processes(pid),
        Vec::<u32>::new(),
        "a web process in the tray alone"
    );
    let entries = menu_of(&bus_name).expect("menu");
    press(&bus_name, &label(&entries, "Open Spool").expect("Open Spool"));
    until("Open Spool to open the window", || async {
        (procs::web_processes(pid).len() == 1).then_some(())
    })
    .await;

    // Quit from the menu: the engine stops cleanly (engine.json removed), exit 0.
    let entries = menu_of(&bus_name).expect("menu");
    press(&bus_name, &label(&entries, "Quit Spool").expect("quit entry"));
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = app.0.try_wait().expect("wait for the app") {
            break status;
        }
        assert!(Instant::now() < deadline, "the app did not quit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(!data.join("engine.json").exists(), "the engine shut down cleanly");
}
