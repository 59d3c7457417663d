//! Continue watching, in the window and from the tray in a real panel: two
//! lectures are played by a real mpv (started through the app's engine) and
//! stopped mid-way over its IPC socket; their rows then offer "▶ Resume at"
//! and "Play from start"; the tray's "Continue watching" lists both, last
//! played first, with their positions; pressed in the menu that a real panel
//! (xfce4-panel's status tray) draws from the app's D-Bus menu, the entry
//! starts mpv at the saved position. Takes the README's screenshot of that
//! menu (`SPOOL_TRAY_SCREENSHOT`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::procs::app_pid;
use super::support::cmdline;
use super::support::mpv::{self, MpvIpc};
use super::support::origin::{Faults, Origin};
use super::webdriver::Session;
use super::{
    menu_of, on_path, session_bus, spool_add, spool_ls, start_driver, tray_menu, until, Guard, PATIENCE,
    SPOOL,
};

const MPV: &str = "mpv --no-config --vo=null --ao=null";

/// The panel: the status tray at the right end, where users have it.
const PANEL_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="28"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
        <value type="int" value="2"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="separator">
      <property name="expand" type="bool" value="true"/>
      <property name="style" type="uint" value="0"/>
    </property>
    <property name="plugin-2" type="string" value="systray"/>
  </property>
</channel>
"#;

/// xfce4-panel's settings daemon, which Debian keeps out of `PATH`.
fn xfconfd() -> Option<PathBuf> {
    let libs = std::fs::read_dir("/usr/lib").ok()?;
    libs.flatten()
        .map(|dir| dir.path().join("xfce4/xfconf/xfconfd"))
        .chain([PathBuf::from("/usr/libexec/xfconfd")])
        .find(|path| path.is_file())
}

/// The process that owns `name` on the session bus.
fn bus_owner(name: &str) -> Option<u32> {
    let out = Command::new("busctl")
        .args(["--user", "--json=short", "list"])
        .output()
        .ok()?;
    let names: Value = serde_json::from_slice(&out.stdout).ok()?;
    names
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
        .and_then(|n| n["pid"].as_u64())
        .and_then(|pid| u32::try_from(pid).ok())
}

/// A 60 s test video (index first, so mpv starts at once).
fn video(dir: &Path) -> Vec<u8> {
    let out = dir.join("lecture.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=60:size=160x120:rate=25")
        .args(["-c:v", "mpeg4", "-movflags", "+faststart"])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg made no video");
    std::fs::read(&out).expect("read the video")
}

/// The running mpv whose command line names `file`: its pid and arguments.
fn mpv_playing(file: &str) -> Option<(u32, Vec<String>)> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let args = cmdline(pid)?;
        (args.first().is_some_and(|a| a.ends_with("mpv")) && args.iter().any(|a| a.ends_with(file)))
            .then_some((pid, args))
    })
}

/// mpv's IPC, on the socket its command line names.
fn ipc_of(args: &[String]) -> MpvIpc {
    let socket =
        mpv::socket_in(args).unwrap_or_else(|| panic!("mpv was started without an IPC socket: {args:?}"));
    MpvIpc::connect(&socket, PATIENCE)
}

/// `spool play ID` against the app's engine, with the player of its
/// settings; stops mpv once it plays at `at` seconds, and waits until it
/// has exited and its position is saved.
async fn play_and_stop_at(data: &Path, id: &str, file: &str, at: f64) {
    let out = Command::new(SPOOL)
        .arg("--data-dir")
        .arg(data)
        .args(["play", id])
        .output()
        .expect("spool play");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (pid, args) = until("mpv to start", || async { mpv_playing(file) }).await;
    let mut ipc = ipc_of(&args);
    // A seek before the file is loaded fails: wait until it plays.
    ipc.time_pos_until(|_| true);
    ipc.seek_to(at);
    ipc.pause_and_quit();
    until("mpv to exit", || async { cmdline(pid).is_none().then_some(()) }).await;
    until("the position to be saved", || async {
        let item = spool_ls(data).into_iter().find(|i| i["id"] == id)?;
        item["position"].as_f64().filter(|p| (p - at).abs() < 1.0)
    })
    .await;
}

/// The status tray's icons, as registered with the panel's watcher
/// (`org.kde.StatusNotifierWatcher`): "bus name/object path" each.
fn tray_icons() -> Option<Vec<String>> {
    let out = Command::new("busctl")
        .args([
            "--user",
            "--json=short",
            "get-property",
            "org.kde.StatusNotifierWatcher",
        ])
        .args(["/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher"])
        .arg("RegisteredStatusNotifierItems")
        .output()
        .ok()?;
    let value: Value = serde_json::from_slice(&out.stdout).ok()?;
    value["data"].as_array().map(|items| {
        items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect()
    })
}

/// The X class of the tray's menus: the panel runs its status tray in a
/// plugin wrapper process, and that process draws them.
const MENUS: &str = "wrapper-2.0";

/// Visible X windows of class `class`.
fn visible_windows(class: &str) -> usize {
    Command::new("xdotool")
        .args(["search", "--onlyvisible", "--class", class])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).lines().count())
        .unwrap_or(0)
}

/// Geometry of the panel's window: x, y, width, height.
fn panel_geometry() -> Option<(i64, i64, i64, i64)> {
    let out = Command::new("xdotool")
        .args([
            "search",
            "--onlyvisible",
            "--class",
            "xfce4-panel",
            "getwindowgeometry",
            "--shell",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('=')?.parse::<i64>().ok())
    };
    let (x, y, w, h) = (field("X")?, field("Y")?, field("WIDTH")?, field("HEIGHT")?);
    // The panel spans the top of the screen; its other windows are small.
    (w > 4 * h).then_some((x, y, w, h))
}

fn xdotool(args: &[&str]) {
    let status = Command::new("xdotool").args(args).status().expect("run xdotool");
    assert!(status.success(), "xdotool {args:?}");
}

/// Opens the tray menu in the panel, then its "Continue watching" submenu,
/// with the mouse and keys a user would use.
async fn open_continue_watching_in_the_panel() {
    let (x, y, w, h) = until("the panel", || async { panel_geometry() }).await;
    // The status tray is the panel's last plugin and holds one icon.
    let (icon_x, icon_y) = (x + w - h / 2, y + h / 2);
    let before = visible_windows(MENUS);
    xdotool(&[
        "mousemove",
        &icon_x.to_string(),
        &icon_y.to_string(),
        "click",
        "1",
    ]);
    until("the tray menu to open", || async {
        (visible_windows(MENUS) > before).then_some(())
    })
    .await;
    let menu = visible_windows(MENUS);
    // The state line is not an action: Open Spool, Add URL, Continue watching.
    xdotool(&["key", "Down", "Down", "Down", "Right"]);
    until("the Continue watching submenu to open", || async {
        (visible_windows(MENUS) > menu).then_some(())
    })
    .await;
}

/// The screen, as PNG, cropped to the panel's menus and the window below.
fn screenshot(path: &Path) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("screenshot dir");
    }
    let display = std::env::var("DISPLAY").expect("DISPLAY");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab"])
        .args(["-i", &display, "-frames:v", "1", "-vf", "crop=iw-150:440:150:0"])
        .arg(path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg took no screenshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, a D-Bus session, xfce4-panel, openbox, xdotool, mpv and ffmpeg: run by scripts/test"]
async fn continue_watching_in_a_real_panel_resumes_where_mpv_stopped() {
    let tools = ["xfce4-panel", "openbox", "xdotool", "mpv", "ffmpeg", "busctl"];
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    let daemon = xfconfd();
    if !super::support::require(
        session_bus() && missing.is_empty() && daemon.is_some(),
        &format!("needs a D-Bus session (dbus-run-session), {missing:?} and xfconfd (scripts/install-deps)"),
    ) {
        return;
    }
    let sandbox = super::sandbox("spool-e2e-watch-");
    let data = sandbox.path().join("data");
    let config = sandbox.path().join("config");
    let panel_dir = config.join("xfce4/xfconf/xfce-perchannel-xml");
    std::fs::create_dir_all(&panel_dir).expect("panel config dir");
    std::fs::write(panel_dir.join("xfce4-panel.xml"), PANEL_XML).expect("panel config");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::write(
        data.join("desktop-settings.json"),
        // No notifications: the screenshot shows the menus alone.
        json!({ "player_command": MPV, "notifications": false }).to_string(),
    )
    .expect("settings");

    // A desktop: a window manager, then a panel with a status tray.
    let quiet = |program: &Path| {
        let mut command = Command::new(program);
        command
            .env("XDG_CONFIG_HOME", &config)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let _wm = Guard(
        quiet(Path::new("openbox"))
            .arg("--sm-disable")
            .spawn()
            .expect("start openbox"),
    );
    let settings = Guard(quiet(&daemon.unwrap_or_default()).spawn().expect("start xfconfd"));
    // Before the panel asks for its settings: else the bus starts another
    // daemon, which knows nothing of this test's panel.
    until("xfconfd on the bus", || async {
        (bus_owner("org.xfce.Xfconf")? == settings.0.id()).then_some(())
    })
    .await;
    let _panel = Guard(
        quiet(Path::new("xfce4-panel"))
            .spawn()
            .expect("start xfce4-panel"),
    );
    until("the panel", || async { panel_geometry() }).await;

    let video = video(sandbox.path());
    let mut origins = Vec::new();
    for n in ["02", "03"] {
        let faults = Faults {
            path: Some(format!("/lectures/Intro-to-Rust-Lecture-{n}.mp4")),
            ..Faults::default()
        };
        origins.push(Origin::start(video.clone(), faults).await);
    }
    let (driver, driver_port) = start_driver(sandbox.path(), &data, &config);
    let session = Session::start(driver_port, SPOOL).await;
    let app = until("the app's process", || async { app_pid(driver.pid()) }).await;
    let (bus_name, _) = until("the tray menu on the bus", || async { tray_menu(app) }).await;
    for origin in &origins {
        spool_add(&data, &origin.url());
    }
    let ids = until("both lectures, complete", || async {
        let items = spool_ls(&data);
        let id = |n: &str| {
            items
                .iter()
                .find(|i| i["name"] == format!("Intro-to-Rust-Lecture-{n}.mp4") && i["state"] == "complete")
                .and_then(|i| i["id"].as_str().map(str::to_string))
        };
        Some((id("02")?, id("03")?))
    })
    .await;

    // Lecture 2 stopped at 0:41, then lecture 3 at 0:12: the last played first.
    play_and_stop_at(&data, &ids.0, "Intro-to-Rust-Lecture-02.mp4", 41.5).await;
    play_and_stop_at(&data, &ids.1, "Intro-to-Rust-Lecture-03.mp4", 12.5).await;
    let listed = until("Continue watching to list both", || async {
        let entries = menu_of(&bus_name)?;
        let at = |label: &str| entries.iter().position(|e| e.label == label);
        let third = at("▶ Intro-to-Rust-Lecture-03.mp4 — 0:12")?;
        let second = at("▶ Intro-to-Rust-Lecture-02.mp4 — 0:41")?;
        Some((third, second))
    })
    .await;
    assert!(listed.0 < listed.1, "the last played is listed first");
    for (id, label) in [(&ids.0, "▶ Resume at 0:41"), (&ids.1, "▶ Resume at 0:12")] {
        let play = format!("li[data-id='{id}'] button[data-action=play]");
        until("the row to offer to resume", || async {
            (session.text(&play).await == label).then_some(())
        })
        .await;
        let from_start = format!("li[data-id='{id}'] button[data-action=play-from-start]");
        assert_eq!(session.text(&from_start).await, "Play from start");
    }

    // In the panel's own rendering of the menu: the app's icon is the
    // tray's only one, so the click cannot open another program's menu.
    let icons = until("the app's icon in the panel's tray", || async {
        tray_icons().filter(|icons| icons.iter().any(|i| i.starts_with(&bus_name)))
    })
    .await;
    assert_eq!(icons.len(), 1, "the tray holds other icons too: {icons:?}");
    open_continue_watching_in_the_panel().await;
    let shot = std::env::var_os("SPOOL_TRAY_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/desktop-tray.png"));
    screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());

    // Pressed there, the first entry resumes lecture 3 where it stopped.
    xdotool(&["key", "Return"]);
    let (_, args) = until("mpv to resume lecture 3", || async {
        mpv_playing("Intro-to-Rust-Lecture-03.mp4")
    })
    .await;
    let start = args
        .iter()
        .find_map(|a| a.strip_prefix("--start=")?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("mpv was not told where to start: {args:?}"));
    assert!((start - 12.5).abs() < 1.0, "--start={start}");
    let mut ipc = ipc_of(&args);
    let playing = ipc.time_pos_until(|_| true);
    assert!(
        (playing - start).abs() < 2.0,
        "mpv plays at {playing} s, not where it was told"
    );
    ipc.pause_and_quit();
    session.close().await;
}
