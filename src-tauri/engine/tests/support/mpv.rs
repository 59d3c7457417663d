//! A client of mpv's JSON IPC (`--input-ipc-server`), as a script beside
//! Spool's own follower uses it: the tests stop, seek and pause a real mpv
//! through it and read where it plays.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

const POLL: Duration = Duration::from_millis(20);

pub struct MpvIpc {
    stream: UnixStream,
    lines: BufReader<UnixStream>,
    next_id: u64,
    patience: Duration,
}

/// The IPC socket an mpv command line names.
pub fn socket_in(args: &[String]) -> Option<PathBuf> {
    args.iter()
        .find_map(|a| a.strip_prefix("--input-ipc-server="))
        .map(PathBuf::from)
}

impl MpvIpc {
    /// Connects once mpv listens on `socket`; waits, and each read, for at
    /// most `patience`.
    pub fn connect(socket: &Path, patience: Duration) -> MpvIpc {
        let stream = super::poll("mpv's socket", patience, POLL, || {
            UnixStream::connect(socket).ok()
        })
        .unwrap_or_else(|| panic!("mpv does not listen on {}", socket.display()));
        stream.set_read_timeout(Some(patience)).expect("read timeout");
        let lines = BufReader::new(stream.try_clone().expect("clone the socket"));
        MpvIpc {
            stream,
            lines,
            next_id: 100,
            patience,
        }
    }

    /// Sends a command; its request id.
    pub fn send(&mut self, command: Value) -> u64 {
        self.next_id += 1;
        let line = json!({ "command": command, "request_id": self.next_id });
        writeln!(self.stream, "{line}").expect("write to mpv");
        self.next_id
    }

    /// The next message; `None` once mpv has closed the socket.
    fn next(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = self.lines.read_line(&mut line).expect("read from mpv");
        (n > 0).then(|| serde_json::from_str(&line).unwrap_or_else(|e| panic!("mpv sent {line:?}: {e}")))
    }

    /// The answer to a command (events before it are skipped).
    pub fn ask(&mut self, command: Value) -> Value {
        let id = self.send(command);
        loop {
            let message = self.next().expect("mpv closed its socket");
            if message["request_id"] == id {
                assert_eq!(message["error"], "success", "{message}");
                return message["data"].clone();
            }
        }
    }

    /// Where mpv plays now, in seconds.
    pub fn time_pos(&mut self) -> f64 {
        self.ask(json!(["get_property", "time-pos"]))
            .as_f64()
            .expect("time-pos")
    }

    /// Follows `time-pos` until `until` accepts a value; returns it.
    pub fn time_pos_until(&mut self, until: impl Fn(f64) -> bool) -> f64 {
        self.send(json!(["observe_property", 7, "time-pos"]));
        loop {
            let message = self.next().expect("mpv closed its socket");
            if message["event"] == "property-change" && message["id"] == 7 {
                if let Some(t) = message["data"].as_f64().filter(|t| until(*t)) {
                    return t;
                }
            }
        }
    }

    /// Seeks to `target` and waits until mpv is there: mpv answers a seek
    /// before it is done, and `time-pos` meanwhile is the old position.
    pub fn seek_to(&mut self, target: f64) {
        self.ask(json!(["seek", target, "absolute+exact"]));
        let patience = self.patience;
        super::poll("mpv to land where it was sent", patience, POLL, || {
            let at = self.ask(json!(["get_property", "time-pos"])).as_f64()?;
            ((at - target).abs() < 0.25).then_some(())
        })
        .unwrap_or_else(|| panic!("mpv did not land at {target} s"));
    }

    pub fn pause(&mut self, paused: bool) {
        self.ask(json!(["set_property", "pause", paused]));
    }

    /// Pauses (so the position is saved at once), then quits; returns once
    /// mpv has closed the socket (it drops what a client sent before).
    pub fn pause_and_quit(mut self) {
        self.pause(true);
        self.send(json!(["quit"]));
        let mut line = String::new();
        while self.lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
    }
}
