//! Helpers for driving the real `spool` binary: a `spool serve` child that is
//! always killed, one-shot CLI runs with a timeout, and bounded polling.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

pub const SPOOL: &str = env!("CARGO_BIN_EXE_spool");
/// Upper bound of every wait in these tests: a failure, never a sleep.
pub const PATIENCE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// A scratch directory: the data dir lives in `data/`, logs beside it, so
/// the engine's files can be inspected without our own files in the way.
pub struct Sandbox {
    pub dir: TempDir,
    serves: usize,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("spool-cli-")
            .tempdir()
            .expect("temp dir");
        Sandbox { dir, serves: 0 }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn item_dir(&self, id: &str) -> PathBuf {
        self.data().join("items").join(id)
    }

    /// `spool --data-dir DATA serve --port 0 ARGS…`.
    pub fn serve(&mut self, args: &[&str]) -> Serve {
        self.serve_env(args, &[])
    }

    /// Like [`Sandbox::serve`], with extra environment variables.
    pub fn serve_env(&mut self, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let has_port = args.contains(&"--port");
        let mut full = vec!["serve"];
        if !has_port {
            full.extend(["--port", "0"]);
        }
        full.extend_from_slice(args);
        self.serves += 1;
        let log = self.dir.path().join(format!("serve-{}.stderr", self.serves));
        Serve::start(&self.data(), &full, env, log)
    }

    /// Runs `spool --data-dir DATA ARGS…` to completion.
    pub fn spool(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(SPOOL);
        cmd.arg("--data-dir").arg(self.data()).args(args);
        run(cmd, PATIENCE)
    }

    /// `spool add URL` that must succeed; returns the stream URL.
    pub fn add(&self, url: &str) -> String {
        let out = self.spool(&["add", url]);
        out.expect_ok("spool add");
        out.stdout.trim_end().to_string()
    }

    /// `spool ls --json`, parsed.
    pub fn ls(&self) -> Vec<Value> {
        let out = self.spool(&["ls", "--json"]);
        out.expect_ok("spool ls --json");
        match serde_json::from_str(&out.stdout) {
            Ok(Value::Array(items)) => items,
            other => panic!("ls --json is not an array: {other:?}\n{}", out.stdout),
        }
    }

    /// The one item `ls --json` shows with this id.
    pub fn item(&self, id: &str) -> Value {
        let items = self.ls();
        items
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("item {id} not listed: {items:?}"))
    }

    /// Polls `ls --json` until the item satisfies `pred`.
    pub fn wait_item(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        wait_for(what, || {
            last = self.item(id);
            pred(&last).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("timed out waiting for {what}; item {id} is {last}"))
    }
}

/// A finished CLI run.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn expect_ok(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what} failed ({:?})\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
    }
}

/// Runs `cmd` with piped output; kills it and panics after `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Output {
    // Isolation from the caller's environment, unless the test set these.
    for name in ["SPOOL_DATA_DIR", "RUST_LOG"] {
        if !cmd.get_envs().any(|(k, _)| k == name) {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = Reaper(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {desc}: {e}")));
    let stdout = drain(child.0.stdout.take());
    let stderr = drain(child.0.stderr.take());
    let status = wait_exit(&mut child.0, limit)
        .unwrap_or_else(|| panic!("{desc} did not finish within {} s", limit.as_secs()));
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Reads a pipe to the end on a thread, so the child never blocks on it.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// Waits for `child` to exit, up to `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    crate::support::poll("the process to exit", limit, Duration::from_millis(10), || {
        child.try_wait().ok().flatten()
    })
}

/// Kills a child when dropped (any child: CLI runs, mpv, ffmpeg).
pub use crate::support::ChildGuard as Reaper;

/// Polls `f` every 50 ms until it returns `Some`, for at most [`PATIENCE`].
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> Option<T> {
    crate::support::poll(what, PATIENCE, POLL, f)
}

/// A running `spool serve`. Dropping it kills the process.
pub struct Serve {
    child: Reaper,
    pub port: u16,
    stderr_log: PathBuf,
}

impl Serve {
    fn start(data: &Path, args: &[&str], env: &[(&str, &str)], stderr_log: PathBuf) -> Serve {
        let log = File::create(&stderr_log).expect("create the serve log");
        let mut cmd = Command::new(SPOOL);
        cmd.arg("--data-dir")
            .arg(data)
            .args(args)
            .env_remove("SPOOL_DATA_DIR")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = Reaper(cmd.spawn().expect("start spool serve"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.0.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            // The first line is the listening line; keep draining the rest.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = match rx.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(_) => {
                let status = wait_exit(&mut child.0, Duration::from_secs(1));
                panic!(
                    "spool serve printed no listening line (exit {status:?}); stderr:\n{}",
                    std::fs::read_to_string(&stderr_log).unwrap_or_default()
                );
            }
        };
        let port = line
            .strip_prefix("spool listening on http://127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line of spool serve: {line:?}"));
        Serve {
            child,
            port,
            stderr_log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends a signal (SIGTERM, SIGINT, SIGKILL…).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; it is not reaped yet (we
        // hold the Child and only reap in `wait`/Drop), so the pid is ours.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_exit(&mut self.child.0, limit)
    }

    /// `kill -9`, and reap it.
    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        self.wait(PATIENCE).expect("a SIGKILLed process exits");
    }

    /// Everything the engine wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }
}

pub use crate::support::content;

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// The id of the item whose stream URL is `stream_url`.
pub fn id_of(sandbox: &Sandbox, stream_url: &str) -> String {
    let items = sandbox.ls();
    let item = items
        .iter()
        .find(|i| i["stream_url"] == stream_url)
        .unwrap_or_else(|| panic!("no item with stream URL {stream_url}: {items:?}"));
    item["id"].as_str().expect("id is a string").to_string()
}

/// Permission bits of a path.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}
