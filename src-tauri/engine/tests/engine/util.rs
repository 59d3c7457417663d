//! Helpers for the engine tests: test content, an engine in a temporary data
//! dir, bounded waits on conditions, and a raw HTTP/1.1 client that sees the
//! framing exactly as it went over the wire (reqwest would hide it).

use std::future::Future;
use std::time::Duration;

use spool_engine::{Config, Engine, ItemState, ItemView};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout, Instant};

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * KIB;

/// Upper bound of every wait on a condition or on the server.
pub const WAIT: Duration = Duration::from_secs(20);
/// Pause between two looks at a condition.
const POLL: Duration = Duration::from_millis(20);

pub use crate::support::content;

/// Looks at `cond` every 5 ms until it holds; panics after [`WAIT`].
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let every = Duration::from_millis(5);
    crate::support::until(what, WAIT, every, || std::future::ready(cond().then_some(()))).await;
}

/// Awaits `fut`, panicking with `what` if it takes longer than [`WAIT`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// An engine on `127.0.0.1:0` with its own data dir (deleted on drop).
pub struct TestEngine {
    pub engine: Engine,
    pub dir: TempDir,
}

/// An engine on `127.0.0.1:0` for data dir `dir`, with the test defaults
/// changed by `tweak`.
async fn start_on(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> spool_engine::Result<Engine> {
    let mut config = Config::new(dir);
    // The test machine's free space must not pause downloads.
    config.min_free = 0;
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    Engine::start(config, listener).await
}

impl TestEngine {
    pub async fn start() -> TestEngine {
        TestEngine::with(|_| {}).await
    }

    /// Starts with the test defaults, changed by `tweak`.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> TestEngine {
        let dir = tempfile::tempdir().expect("temp data dir");
        let engine = start_on(dir.path(), tweak).await.expect("engine starts");
        TestEngine { engine, dir }
    }

    /// Shuts the engine down, runs `meanwhile` on the data dir (a disk's
    /// damage, say), and starts a new engine on it (test defaults), as a
    /// restart of the app would.
    pub async fn restart(self, meanwhile: impl FnOnce(&std::path::Path)) -> TestEngine {
        self.restart_with(meanwhile, |_| {}).await
    }

    /// [`TestEngine::restart`] with the test defaults changed by `tweak`.
    pub async fn restart_with(
        self,
        meanwhile: impl FnOnce(&std::path::Path),
        tweak: impl Fn(&mut Config),
    ) -> TestEngine {
        let TestEngine { engine, dir } = self;
        engine.shutdown().await;
        drop(engine);
        meanwhile(dir.path());
        // The directory's lock goes with the last task of the old engine.
        let deadline = Instant::now() + WAIT;
        loop {
            match start_on(dir.path(), &tweak).await {
                Ok(engine) => return TestEngine { engine, dir },
                Err(e) if e.code() == "locked" && Instant::now() < deadline => sleep(POLL).await,
                Err(e) => panic!("the engine does not restart: {e}"),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.engine.info().port
    }

    /// Adds `url` without request headers; panics if the engine refuses it.
    pub async fn add(&self, url: &str) -> ItemView {
        match self.engine.add(url, &[]).await {
            Ok(view) => view,
            Err(e) => panic!("add {url}: {e}"),
        }
    }

    pub fn item(&self, id: &str) -> ItemView {
        self.engine.item(id).unwrap_or_else(|e| panic!("item {id}: {e}"))
    }

    /// Polls the item every 20 ms until `pred` holds; panics after [`WAIT`].
    pub async fn wait_item(&self, id: &str, what: &str, pred: impl Fn(&ItemView) -> bool) -> ItemView {
        let deadline = Instant::now() + WAIT;
        loop {
            let view = self.item(id);
            if pred(&view) {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; last seen: {view:?}"
            );
            sleep(POLL).await;
        }
    }

    /// Waits for `Complete`, failing at once if the item fails instead.
    pub async fn wait_complete(&self, id: &str) -> ItemView {
        self.wait_item(id, "the item to complete", |v| {
            assert_ne!(v.state, ItemState::Failed, "the item failed: {v:?}");
            v.state == ItemState::Complete
        })
        .await
    }
}

/// The item is held back for disk space, with that reason shown.
pub fn waits_for_space(v: &ItemView) -> bool {
    v.state == ItemState::Paused
        && v.error
            .as_deref()
            .is_some_and(|e| e.contains("waiting for disk space"))
}

/// The request target of a stream URL (`/m/<token>/<name>`).
pub fn path_of(stream_url: &str) -> String {
    let rest = stream_url
        .strip_prefix("http://")
        .expect("stream URLs are http://");
    rest[rest.find('/').expect("a path")..].to_string()
}

/// A reqwest client that never goes through a proxy.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// An HTTP/1.1 request head: `Host: 127.0.0.1:PORT`, then `headers`.
pub fn request(method: &str, path: &str, port: u16, headers: &[(&str, &str)]) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A response as read off the wire.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// In order; names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .map(|v| v.parse().unwrap_or_else(|_| panic!("bad Content-Length {v:?}")))
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection, with whatever the server sent that was not
/// consumed yet.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the engine");
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, raw: &str) {
        self.stream
            .write_all(raw.as_bytes())
            .await
            .expect("send the request");
    }

    /// Reads more bytes into the buffer; false at EOF (or a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        match bounded("the server to send more bytes", self.stream.read(&mut chunk)).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    pub async fn take(&mut self, n: usize, what: &str) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(
                self.fill().await,
                "connection closed after {} of {n} bytes of {what}",
                self.buf.len()
            );
        }
        self.buf.drain(..n).collect()
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            assert!(self.fill().await, "connection closed inside a line");
        }
    }

    /// Reads the status line and header fields; the body is left unread.
    pub async fn head(&mut self) -> Response {
        let status_line = self.line().await;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        assert!(version.starts_with("HTTP/1."), "bad status line {status_line:?}");
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {line:?}"));
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        Response {
            status,
            headers,
            body: Vec::new(),
        }
    }

    /// Reads one response, framed by its own headers: exactly Content-Length
    /// bytes, a chunked body decoded, or (neither) everything until close.
    /// A response to HEAD, or a 204/304, has no body.
    pub async fn response(&mut self, to_head: bool) -> Response {
        let mut response = self.head().await;
        if to_head || response.status == 204 || response.status == 304 {
            return response;
        }
        response.body = if response.is_chunked() {
            self.chunked_body().await
        } else if let Some(n) = response.content_length() {
            self.take(n as usize, "the body").await
        } else {
            self.rest().await
        };
        response
    }

    async fn chunked_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let size_line = self.line().await;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
            if size == 0 {
                // Trailer fields, then the final blank line.
                while !self.line().await.is_empty() {}
                return body;
            }
            body.extend(self.take(size, "a chunk").await);
            assert_eq!(
                self.take(2, "a chunk's CRLF").await,
                b"\r\n",
                "chunk not followed by CRLF"
            );
        }
    }

    /// Everything the server sends until it closes the connection.
    pub async fn rest(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }
}

/// Sends one request on a new connection with `Connection: close`, then
/// reads the head and takes everything up to the close as the body (decoded
/// if chunked): so a body longer or shorter than declared shows.
pub async fn exchange(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    let mut conn = Conn::open(port).await;
    conn.send(&request(method, path, port, &all)).await;
    let mut response = conn.head().await;
    response.body = if response.is_chunked() {
        let body = conn.chunked_body().await;
        let trailing = conn.rest().await;
        assert!(
            trailing.is_empty(),
            "{} bytes after the last chunk",
            trailing.len()
        );
        body
    } else {
        conn.rest().await
    };
    response
}

/// `exchange` for a GET that must succeed with `status` and a body exactly
/// as long as its Content-Length.
pub async fn get_exact(port: u16, path: &str, headers: &[(&str, &str)], status: u16) -> Response {
    let response = exchange(port, "GET", path, headers).await;
    assert_eq!(
        response.status,
        status,
        "status of GET {path} {headers:?}: {}",
        response.text()
    );
    let declared = response.content_length().expect("a Content-Length");
    assert_eq!(
        response.body.len() as u64,
        declared,
        "body bytes received vs Content-Length declared"
    );
    response
}

/// A response cut short: fewer bytes than `full`, each one `full`'s at its
/// offset (a response may end early, never with a wrong byte).
#[track_caller]
pub fn assert_cut_short(got: &[u8], full: &[u8], what: &str) {
    assert!(
        got.len() < full.len(),
        "{what}: {} of {} bytes, but the response should be cut short",
        got.len(),
        full.len()
    );
    assert_bytes(got, &full[..got.len()], what);
}

/// Compares bodies without printing megabytes on failure.
#[track_caller]
pub fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {i}");
    }
}

/// A tmpfs of `size` mounted on a new directory; unmounted on drop.
pub struct Tmpfs {
    pub dir: TempDir,
}

impl Tmpfs {
    /// `None` when not root: then the test cannot run here, which fails it
    /// under CI (`CI` set, where it runs as root) and skips it elsewhere.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !crate::support::require(root, "mounting a tmpfs needs root (CI runs as root)") {
            return None;
        }
        let dir = tempfile::tempdir().expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs of {size}");
        Some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
