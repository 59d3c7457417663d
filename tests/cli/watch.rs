//! Continue watching with real players: an mpv that Spool starts is followed
//! through its IPC socket (position saved, next play resumes there, played
//! to the end means watched, watched items are cleaned up), an MPRIS player
//! on a private session bus is followed too, and a `kill -9` while positions
//! are being saved leaves the old or the new one, never a torn file.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::mpv::MpvIpc;
use crate::support::origin::{Faults, Origin};
use crate::support::{cmdline, require};
use crate::util::{id_of, run, wait_for, Reaper, Sandbox, Serve, PATIENCE};

const MPV: &str = "mpv --no-config --vo=null --ao=null";

/// A 30 s test video (index first, so mpv starts at once).
fn video() -> &'static [u8] {
    static VIDEO: OnceLock<Vec<u8>> = OnceLock::new();
    VIDEO.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("video.mp4");
        let mut ffmpeg = Command::new("ffmpeg");
        ffmpeg
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=duration=30:size=160x120:rate=25")
            .args(["-f", "lavfi", "-i", "sine=duration=30"])
            .args([
                "-c:v",
                "mpeg4",
                "-c:a",
                "aac",
                "-shortest",
                "-movflags",
                "+faststart",
            ])
            .arg(&out);
        run(ffmpeg, Duration::from_secs(120)).expect_ok("ffmpeg (is it installed?)");
        std::fs::read(&out).expect("read the video")
    })
}

/// A sandbox whose engine keeps player sockets in a runtime dir of its own.
struct Watching {
    sandbox: Sandbox,
    serve: Serve,
    runtime: PathBuf,
}

impl Watching {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Watching {
        let mut sandbox = Sandbox::new();
        let runtime = sandbox.dir.path().join("runtime");
        std::fs::create_dir(&runtime).expect("runtime dir");
        let runtime_var = runtime.to_string_lossy().into_owned();
        let mut env = env.to_vec();
        env.push(("XDG_RUNTIME_DIR", &runtime_var));
        let serve = sandbox.serve_env(args, &env);
        Watching {
            sandbox,
            serve,
            runtime,
        }
    }

    /// `spool play ID ARGS…`; returns the pid it printed.
    fn play(&self, id: &str, args: &[&str]) -> u32 {
        let mut full = vec!["play", id];
        full.extend_from_slice(args);
        let out = self.sandbox.spool(&full);
        out.expect_ok("spool play");
        out.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a pid: {:?}", out.stdout))
    }

    /// The IPC socket of the mpv with this pid (named on its command line).
    fn socket_of(&self, pid: u32) -> PathBuf {
        let args = cmdline(pid).unwrap_or_else(|| panic!("mpv {pid} is not running"));
        let socket = args
            .iter()
            .find_map(|a| a.strip_prefix("--input-ipc-server="))
            .unwrap_or_else(|| panic!("mpv was started without an IPC socket: {args:?}"));
        let socket = PathBuf::from(socket);
        assert!(
            socket.starts_with(self.runtime.join("spool")),
            "{} is not in the runtime dir",
            socket.display()
        );
        socket
    }
}

/// Waits until process `pid` is gone (the engine reaps its players).
fn wait_gone(pid: u32) {
    wait_for("the player to exit", || cmdline(pid).is_none().then_some(()))
        .unwrap_or_else(|| panic!("player {pid} did not exit"));
}

fn position(item: &Value) -> Option<f64> {
    item["position"].as_f64()
}

/// Stopped at about 12 s, the position is saved; the next play starts mpv
/// with `--start` there and mpv reports it; played to the end, it is
/// watched and plays from the start again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpv_position_is_saved_resumed_and_watched() {
    let origin = Origin::start(video().to_vec(), Faults::default()).await;
    let w = Watching::start(&[], &[]);
    let url = w.sandbox.add(&origin.url());
    let id = id_of(&w.sandbox, &url);
    let fresh = w.sandbox.item(&id);
    assert_eq!(fresh["position"], Value::Null, "{fresh}");
    assert_eq!(fresh["duration"], Value::Null, "{fresh}");
    assert_eq!(fresh["watched"], false, "{fresh}");

    // First play: from the start; stop (pause, then quit) at about 12 s.
    let pid = w.play(&id, &["--player", MPV]);
    let args = cmdline(pid).expect("mpv runs");
    assert!(!args.iter().any(|a| a.starts_with("--start")), "{args:?}");
    let mut ipc = MpvIpc::connect(&w.socket_of(pid), PATIENCE);
    ipc.time_pos_until(|t| t >= 12.0);
    ipc.pause(true);
    let stopped = ipc.time_pos();
    ipc.send(json!(["quit"]));
    wait_gone(pid);
    let item = w.sandbox.wait_item(&id, "the position to be saved", |i| {
        position(i).is_some_and(|p| (p - stopped).abs() < 0.05)
    });
    let saved = position(&item).expect("a position");
    eprintln!("stopped at {stopped:.3} s, saved {saved:.3} s; {item}");
    assert!((saved - 12.0).abs() < 1.0, "saved {saved}");
    assert!(
        (item["duration"].as_f64().expect("a duration") - 30.0).abs() < 0.5,
        "{item}"
    );
    assert_eq!(item["watched"], false);
    assert_eq!(item["resume_at"].as_f64(), Some(saved));

    // Second play: mpv starts where it stopped.
    let pid = w.play(&id, &["--player", MPV]);
    let args = cmdline(pid).expect("mpv runs");
    let start = args
        .iter()
        .find_map(|a| a.strip_prefix("--start="))
        .unwrap_or_else(|| panic!("no --start: {args:?}"));
    let start: f64 = start.parse().expect("--start is seconds");
    assert!((start - saved).abs() < 0.001, "--start={start}, saved {saved}");
    let mut ipc = MpvIpc::connect(&w.socket_of(pid), PATIENCE);
    let first = ipc.time_pos_until(|_| true);
    eprintln!("next start --start={start}, mpv time-pos {first:.3}");
    assert!((first - saved).abs() < 1.0, "mpv reports {first}, saved {saved}");

    // To the end: watched.
    ipc.ask(json!(["seek", 27, "absolute"]));
    wait_gone(pid);
    let item = w
        .sandbox
        .wait_item(&id, "the item to be watched", |i| i["watched"] == true);
    assert_eq!(
        item["resume_at"],
        Value::Null,
        "a watched item plays from the start: {item}"
    );
    drop(w.serve);
}

/// With `--remove-watched-after 0`, a watched item is removed at the next
/// cache check; a pinned one is kept. `--from-start` ignores a position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_items_are_removed_unless_pinned() {
    let origin = Origin::start(video().to_vec(), Faults::default()).await;
    let w = Watching::start(&["--remove-watched-after", "0"], &[]);
    let loose_url = w.sandbox.add(&format!("{}?loose", origin.url()));
    let pinned_url = w.sandbox.add(&format!("{}?pinned", origin.url()));
    let (loose, pinned) = (id_of(&w.sandbox, &loose_url), id_of(&w.sandbox, &pinned_url));
    w.sandbox.spool(&["pin", &pinned]).expect_ok("spool pin");

    let to_the_end = format!("{MPV} --start=27");
    for id in [&loose, &pinned] {
        let pid = w.play(id, &["--player", &to_the_end, "--from-start"]);
        let args = cmdline(pid).unwrap_or_default();
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--start=") && a != "--start=27"),
            "--from-start adds no position: {args:?}"
        );
        wait_gone(pid);
    }
    wait_for("the watched item to be removed", || {
        let items = w.sandbox.ls();
        (!items.iter().any(|i| i["id"] == loose.as_str())).then_some(())
    })
    .expect("the watched item is removed");
    let kept = w.sandbox.item(&pinned);
    assert_eq!(kept["watched"], true, "{kept}");
    assert!(
        w.serve.stderr().contains(&format!("removing item {loose}")),
        "{}",
        w.serve.stderr()
    );
}

/// A private session bus for one test; the daemon dies with it.
struct Bus {
    _daemon: Reaper,
    address: String,
}

fn private_bus() -> Option<Bus> {
    let mut daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = daemon.stdout.take()?;
    let daemon = Reaper(daemon);
    let mut address = String::new();
    BufReader::new(stdout).read_line(&mut address).ok()?;
    let address = address.trim().to_string();
    (!address.is_empty()).then_some(Bus {
        _daemon: daemon,
        address,
    })
}

/// A stand-in MPRIS player: it publishes the URL it was given as
/// `xesam:url`, a length of 600 s and a position of 42.5 s, playing.
const MPRIS_STANDIN: &str = r#"
import sys, dbus, dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

DBusGMainLoop(set_as_default=True)
url = sys.argv[-1]
PLAYER = "org.mpris.MediaPlayer2.Player"

class Player(dbus.service.Object):
    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        return self.GetAll(interface)[name]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        if interface != PLAYER:
            return {}
        metadata = dbus.Dictionary({
            "xesam:url": dbus.String(url),
            "mpris:length": dbus.Int64(600000000),
            "mpris:trackid": dbus.ObjectPath("/standin/1"),
        }, signature="sv")
        return {
            "Metadata": metadata,
            "Position": dbus.Int64(42500000),
            "PlaybackStatus": dbus.String("Playing"),
        }

bus = dbus.SessionBus()
name = dbus.service.BusName("org.mpris.MediaPlayer2.standin", bus)
Player(bus, "/org/mpris/MediaPlayer2")
GLib.MainLoop().run()
"#;

/// A player Spool cannot talk to directly but that publishes MPRIS (here a
/// stand-in on a private session bus) is followed by its stream URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mpris_player_position_is_recorded() {
    let python = "/usr/bin/python3";
    let has_dbus = Command::new(python)
        .args(["-c", "import dbus, gi"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(has_dbus, "python3-dbus and python3-gi make the MPRIS stand-in") {
        return;
    }
    let Some(bus) = private_bus() else {
        assert!(require(false, "dbus-daemon starts a private session bus"));
        return;
    };
    let origin = Origin::start(video().to_vec(), Faults::default()).await;
    let w = Watching::start(&[], &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]);
    let url = w.sandbox.add(&origin.url());
    let id = id_of(&w.sandbox, &url);
    let script = w.sandbox.dir.path().join("standin.py");
    std::fs::write(&script, MPRIS_STANDIN).expect("write the stand-in");
    let player = format!("{python} '{}'", script.display());
    let pid = w.play(&id, &["--player", &player]);
    let item = w
        .sandbox
        .wait_item(&id, "the MPRIS position to be recorded", |i| {
            position(i).is_some()
        });
    // SAFETY: kill(2) on the stand-in's pid, which the engine has not
    // reaped (it runs until killed).
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(position(&item), Some(42.5), "{item}");
    assert_eq!(item["duration"].as_f64(), Some(600.0), "{item}");
    assert_eq!(item["resume_at"].as_f64(), Some(42.5), "{item}");
    wait_gone(pid);
}

/// `kill -9` of the engine while positions are being saved (each pause
/// saves at once): the state file is whole, and the restarted engine has the
/// item with one of the positions that were saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_saving_leaves_the_old_or_the_new_position() {
    let origin = Origin::start(video().to_vec(), Faults::default()).await;
    let mut w = Watching::start(&[], &[]);
    let url = w.sandbox.add(&origin.url());
    let id = id_of(&w.sandbox, &url);
    let pid = w.play(&id, &["--player", MPV]);
    let mut ipc = MpvIpc::connect(&w.socket_of(pid), PATIENCE);
    ipc.time_pos_until(|_| true);
    // An old position first: paused at about 3 s and saved.
    ipc.seek_to(3.0);
    ipc.pause(true);
    let old = ipc.time_pos();
    w.sandbox.wait_item(&id, "the old position to be saved", |i| {
        position(i).is_some_and(|p| (p - old).abs() < 0.5)
    });
    ipc.pause(false);
    let mut paused_at = vec![old];
    for n in 0..30 {
        ipc.seek_to(6.0 + f64::from(n % 20));
        ipc.pause(true);
        paused_at.push(ipc.time_pos());
        if n == 20 {
            // Amid the saves: the pause just asked for is being written.
            w.serve.signal(libc::SIGKILL);
            w.serve
                .wait(crate::util::PATIENCE)
                .expect("a SIGKILLed engine exits");
        }
        ipc.pause(false);
    }
    ipc.send(json!(["quit"]));
    drop(ipc);
    wait_gone(pid);

    let state = w.sandbox.item_dir(&id).join("state.json");
    let text = std::fs::read_to_string(&state).expect("state.json is there");
    let parsed: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("torn state.json ({e}): {text}"));
    assert!(parsed["playback"].is_object(), "{parsed}");
    let _serve = w.sandbox.serve(&[]);
    let item = w.sandbox.item(&id);
    assert_eq!(item["error"], Value::Null, "{item}");
    let saved = position(&item).unwrap_or_else(|| panic!("no position survived: {item}"));
    // The old one and the 21 paused at up to the kill (the last maybe being written).
    let before_kill = &paused_at[..=21];
    eprintln!("after kill -9: saved {saved:.3} s, one of {before_kill:?}");
    assert!(
        before_kill.iter().any(|p| (p - saved).abs() < 0.5),
        "saved {saved} is none of the positions paused at before the kill: {before_kill:?}"
    );
}
