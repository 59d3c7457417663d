//! A real loopback HTTP/1.1 origin server for tests, with fault injection.
//!
//! Written by hand on `tokio::net::TcpListener` (no hyper) on purpose: tests
//! need an origin that misbehaves — declares a wrong Content-Length, resets
//! the connection mid-body, hangs — and a correct HTTP library won't do that.
//!
//! Scope, deliberately small:
//! - one file, served for GET and HEAD at any path ending with `Faults::path`;
//!   every other path is 404;
//! - single byte ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`); for a
//!   multi-range request only the first range is served, as a plain 206;
//! - keep-alive (HTTP/1.1 default, `Connection: close` honoured);
//! - request bodies are not read: a request announcing one gets its response
//!   and then the connection is closed, so the body is never parsed as a
//!   request.
//!
//! Every request is logged (`Origin::log`) with the status and the body bytes
//! actually handed to the socket. Counters are body (payload) bytes only: the
//! status line, headers and chunk framing are not counted.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Path served when `Faults::path` is `None`.
pub const DEFAULT_PATH: &str = "/media/file.bin";
/// Largest request head (request line + headers) accepted; larger gets 431.
const MAX_HEAD: usize = 16 * 1024;
/// Bodies go out in writes of at most this many bytes, so throttling, resets
/// and stalls have a fine grain and the counters move while a body is sent.
const CHUNK: usize = 16 * 1024;
/// Last-Modified of the initial content: 2024-01-01T00:00:00Z.
const BASE_MTIME_SECS: u64 = 1_704_067_200;
/// Pause between the last byte before a reset and the reset itself. An RST
/// discards whatever still sits in our send buffer; this gives a client that
/// is reading the chance to receive all `reset_after` bytes first.
const RESET_GRACE: Duration = Duration::from_millis(20);

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// Request method; empty for a request that could not be parsed.
    pub method: String,
    /// Request target as sent (query string included); empty if unparseable.
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    /// All request headers in order; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Status of the response (it is logged before the response goes out).
    pub status: u16,
    /// Body bytes written to the socket so far (grows while a body is sent).
    pub body_bytes: u64,
    /// Which connection it came on: connections are numbered from 1 in the
    /// order they were accepted.
    pub conn: u64,
}

impl LogEntry {
    /// Where the request's `Range: bytes=N-…` starts; `None` without one.
    pub fn range_start(&self) -> Option<u64> {
        self.range
            .as_deref()?
            .strip_prefix("bytes=")?
            .split('-')
            .next()?
            .parse()
            .ok()
    }

    /// First value of a request header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// First value of `name` in `headers`, whose names are lower-case.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
}

/// How the origin behaves. `Default` is a well-behaved server.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Path of the file; default [`DEFAULT_PATH`].
    pub path: Option<String>,
    /// Bytes per second per response, paced in writes of at most 16 KiB.
    /// `None` = unlimited; `Some(0)` is treated as 1 byte/s.
    pub rate: Option<u64>,
    /// Ignore Range: always 200 with the full body, no Accept-Ranges.
    pub no_ranges: bool,
    /// `Transfer-Encoding: chunked`, no Content-Length; implies `no_ranges`.
    pub chunked: bool,
    /// Delay before the response headers, for every response.
    pub first_byte_delay_ms: u64,
    /// The first N GET requests to the file path get `fail_status`.
    pub fail_first: usize,
    /// Status for `fail_first` / `fail_always`; default 503.
    pub fail_status: Option<u16>,
    /// Every request to the file path, GET or HEAD, gets `fail_status`.
    pub fail_always: bool,
    /// `Retry-After: N` on `fail_first` / `fail_always` responses.
    pub retry_after: Option<u64>,
    /// After this many body bytes of a 200/206 file body, reset the connection
    /// (SO_LINGER 0, so the client sees ECONNRESET). Only responses whose body
    /// is longer than this are cut.
    pub reset_after: Option<u64>,
    /// Only the first N cut responses are cut; 0 = all of them.
    pub reset_first: usize,
    /// Declare Content-Length = real + delta (clamped at 0) on 200/206, send
    /// the real bytes, then close the connection. Content-Range stays true;
    /// no effect with `chunked` (there is no Content-Length to lie in).
    pub lie_length: Option<i64>,
    /// ETag value to send, quotes included (e.g. `"\"v1\""`); None = no ETag.
    pub etag: Option<String>,
    /// Send Last-Modified (a fixed date, advanced by `replace_content`).
    pub last_modified: bool,
    /// Content-Type; default `application/octet-stream`.
    pub content_type: Option<String>,
    /// Raw Content-Disposition value.
    pub content_disposition: Option<String>,
    /// `(name, value)`: every GET/HEAD without this exact header (name
    /// case-insensitive, value exact) gets 401, whatever its path.
    pub require_header: Option<(String, String)>,
    /// A request to exactly this path gets `302 Location: <file path>`.
    pub redirect_from: Option<String>,
    /// After this many body bytes of a 200/206 file body, stop sending but
    /// keep the connection open until the client closes it (a hung origin).
    pub stall_after: Option<u64>,
    /// Signed URLs, as cloud storage issues them: a GET or HEAD of the file
    /// needs `?expires=<unix seconds>&sig=<signature>` (see
    /// [`Origin::signed_url`]); a missing or wrong signature, or one whose
    /// time has passed, gets 403.
    pub signed: bool,
}

impl Faults {
    fn file_path(&self) -> &str {
        self.path.as_deref().unwrap_or(DEFAULT_PATH)
    }
}

/// A running origin server. Dropping it stops the accept loop and every open
/// connection.
pub struct Origin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Origin {
    /// Binds 127.0.0.1:0 and serves `content` at `faults.path`.
    pub async fn start(content: Vec<u8>, faults: Faults) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("origin: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("origin: local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                faults,
                content: Bytes::from(content),
                last_modified: UNIX_EPOCH + Duration::from_secs(BASE_MTIME_SECS),
                log: Vec::new(),
                file_requests: 0,
                resets: 0,
            }),
            bytes_sent: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Origin { addr, shared, task }
    }

    /// URL of the file, e.g. `http://127.0.0.1:PORT/media/file.bin`.
    pub fn url(&self) -> String {
        let path = self.shared.lock().faults.file_path().to_string();
        format!("{}{path}", self.base_url())
    }

    /// A signed URL of the file that works for `ttl` from now (whole
    /// seconds, rounded up) and gets 403 after (see [`Faults::signed`]).
    pub fn signed_url(&self, ttl: Duration) -> String {
        let path = self.shared.lock().faults.file_path().to_string();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let expires = (now + ttl).as_secs() + u64::from((now + ttl).subsec_nanos() > 0);
        format!(
            "{}{path}?expires={expires}&sig={}",
            self.base_url(),
            signature(&path, expires)
        )
    }

    /// `http://127.0.0.1:PORT`, for building URLs of other paths.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received, in order (including failed and bad ones).
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.lock().log.clone()
    }

    /// Total body bytes written to sockets, over all requests.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_sent.load(Ordering::Relaxed)
    }

    /// Changes behaviour for requests whose head is read after this call.
    /// Restarts the `fail_first` and `reset_first` counts.
    pub fn set_faults(&self, f: Faults) {
        let mut state = self.shared.lock();
        state.faults = f;
        state.file_requests = 0;
        state.resets = 0;
    }

    /// The file changes at the origin: new bytes, `Faults::etag` set to
    /// `etag` (so a later `set_faults` replaces it again), Last-Modified
    /// advanced by one hour. Responses already being sent keep the old bytes.
    pub fn replace_content(&self, content: Vec<u8>, etag: Option<String>) {
        let mut state = self.shared.lock();
        state.content = Bytes::from(content);
        state.faults.etag = etag;
        state.last_modified += Duration::from_secs(3600);
    }

    /// The GET requests, in order: a download's requests, without the
    /// `HEAD`s Spool sends to keep a connection warm for seeks.
    pub fn gets(&self) -> Vec<LogEntry> {
        let state = self.shared.lock();
        state.log.iter().filter(|e| e.method == "GET").cloned().collect()
    }

    /// Number of requests received (`log().len()`).
    pub fn requests(&self) -> usize {
        self.shared.lock().log.len()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        // The accept task owns the listener and the JoinSet of connections;
        // dropping its future (on abort) drops both, which aborts them all.
        self.task.abort();
    }
}

/// State shared by the handle and the connection tasks.
struct Shared {
    state: Mutex<State>,
    bytes_sent: AtomicU64,
}

struct State {
    faults: Faults,
    content: Bytes,
    last_modified: SystemTime,
    log: Vec<LogEntry>,
    /// Requests to the file path since the last `set_faults` (`fail_first`).
    file_requests: usize,
    /// Responses cut by `reset_after` since the last `set_faults`.
    resets: usize,
}

impl Shared {
    /// The lock is never held across an await; a panic elsewhere while it was
    /// held must not turn every later call into a panic, so ignore poisoning.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `n` body bytes written for log entry `idx`.
    fn count(&self, idx: usize, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
        if let Some(entry) = self.lock().log.get_mut(idx) {
            entry.body_bytes += n;
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Connections live in this set so that aborting this task drops them all.
    let mut conns = JoinSet::new();
    let mut accepted = 0;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Reap finished connections so the set does not grow forever.
                while conns.try_join_next().is_some() {}
                accepted += 1;
                conns.spawn(serve_conn(stream, accepted, shared.clone()));
            }
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// How a connection goes on after a response.
enum Next {
    KeepAlive,
    Close,
    Reset,
}

async fn serve_conn(mut stream: TcpStream, conn: u64, shared: Arc<Shared>) {
    // Small writes (headers, throttled chunks) must leave at once.
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let (idx, plan) = match read_head(&mut stream, &mut buf).await {
            Head::Eof => return,
            Head::Bad(status) => {
                let mut plan = Plan::error(status);
                plan.close = true;
                shared.lock().log_request(&Request::default(), conn, plan)
            }
            Head::Request(req) => {
                let mut state = shared.lock();
                let plan = state.route(&req);
                state.log_request(&req, conn, plan)
            }
        };
        // Write errors mean the client went away: nothing to report.
        match respond(&mut stream, &shared, idx, plan).await {
            Ok(Next::KeepAlive) => continue,
            Ok(Next::Close) => {
                let _ = stream.shutdown().await;
                return;
            }
            Ok(Next::Reset) => {
                // Linger 0: close() sends RST instead of FIN.
                let _ = stream.set_zero_linger();
                return;
            }
            Err(_) => return,
        }
    }
}

// ---------------------------------------------------------------- requests

/// A parsed request head; `Default` stands for an unparseable one.
#[derive(Default)]
struct Request {
    method: String,
    target: String,
    http10: bool,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Path without query; an absolute-form target loses scheme and host.
    fn path(&self) -> &str {
        let mut path = self.target.as_str();
        if let Some(rest) = path.strip_prefix("http://") {
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
        path.split('?').next().unwrap_or(path)
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    fn wants_close(&self) -> bool {
        self.has_token("connection", "close") || (self.http10 && !self.has_token("connection", "keep-alive"))
    }

    fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some() || self.header("content-length").is_some_and(|v| v != "0")
    }
}

enum Head {
    Request(Request),
    /// Unusable head: respond with this status and close.
    Bad(u16),
    /// Client closed (or errored) before a complete head.
    Eof,
}

/// Reads one request head from `stream`; bytes after it stay in `buf`.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Head {
    loop {
        // Tolerate blank lines before a request line (RFC 9112 §2.2).
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        // Only the first MAX_HEAD bytes may hold the head.
        let window = &buf[..buf.len().min(MAX_HEAD)];
        if let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            return match parse_head(&head[..end]) {
                Some(req) => Head::Request(req),
                None => Head::Bad(400),
            };
        }
        if buf.len() >= MAX_HEAD {
            return Head::Bad(431);
        }
        // A fixed-size read keeps `buf` bounded (MAX_HEAD + 4 KiB).
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Head::Eof,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Parses a request head (without the final blank line); None if malformed.
fn parse_head(head: &[u8]) -> Option<Request> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        // Also rejects obsolete line folding (a line starting with a space).
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        http10: version == "HTTP/1.0",
        headers,
    })
}

enum RangeSpec {
    /// No usable Range: send the whole body.
    Whole,
    /// Inclusive byte positions.
    Part(u64, u64),
    Unsatisfiable,
}

/// Parses a Range header against a body of `len` bytes. Syntactically bad
/// ranges are ignored (RFC 9110 §14.2); of several ranges only the first
/// counts.
fn parse_range(value: &str, len: u64) -> RangeSpec {
    let Some(set) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Whole;
    };
    let Some((first, last)) = set.split(',').next().and_then(|r| r.trim().split_once('-')) else {
        return RangeSpec::Whole;
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), num(first), num(last)) {
        // bytes=-n: the last n bytes.
        (true, _, Some(n)) if n > 0 && len > 0 => RangeSpec::Part(len.saturating_sub(n), len - 1),
        (true, _, Some(_)) => RangeSpec::Unsatisfiable,
        // bytes=a- and bytes=a-b (b is clamped to the end).
        (false, Some(a), end) if last.trim().is_empty() || end.is_some_and(|b| b >= a) => {
            if a >= len {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(a, end.map_or(len - 1, |b| b.min(len - 1)))
            }
        }
        _ => RangeSpec::Whole,
    }
}

// --------------------------------------------------------------- responses

enum Framing {
    Length(u64),
    Chunked,
}

/// Where a body stops early.
enum Cut {
    Reset(u64),
    Stall(u64),
}

/// A response decided under the lock, sent afterwards without it.
struct Plan {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    framing: Framing,
    /// False for HEAD: headers describe the body but it is not sent.
    send_body: bool,
    close: bool,
    cut: Option<Cut>,
    rate: Option<u64>,
    delay: Duration,
}

impl Plan {
    fn new(status: u16, headers: Vec<(&'static str, String)>, body: Bytes) -> Plan {
        let framing = Framing::Length(body.len() as u64);
        Plan {
            status,
            headers,
            body,
            framing,
            send_body: true,
            close: false,
            cut: None,
            rate: None,
            delay: Duration::ZERO,
        }
    }

    /// A short text/plain response, e.g. "503 Service Unavailable".
    fn error(status: u16) -> Plan {
        let body = format!("{status} {}\n", reason(status));
        let headers = vec![("Content-Type", "text/plain".to_string())];
        Plan::new(status, headers, Bytes::from(body))
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Plan {
        self.headers.push((name, value.into()));
        self
    }
}

impl State {
    /// Logs `req` and applies the faults common to every response.
    fn log_request(&mut self, req: &Request, conn: u64, mut plan: Plan) -> (usize, Plan) {
        plan.delay = Duration::from_millis(self.faults.first_byte_delay_ms);
        plan.rate = self.faults.rate.map(|r| r.max(1));
        plan.close |= req.wants_close() || req.has_body();
        plan.send_body = req.method != "HEAD";
        self.log.push(LogEntry {
            method: req.method.clone(),
            path: req.target.clone(),
            range: req.header("range").map(str::to_string),
            if_range: req.header("if-range").map(str::to_string),
            headers: req.headers.clone(),
            status: plan.status,
            body_bytes: 0,
            conn,
        });
        (self.log.len() - 1, plan)
    }

    /// Decides the response to a request.
    fn route(&mut self, req: &Request) -> Plan {
        let f = self.faults.clone();
        if req.method != "GET" && req.method != "HEAD" {
            return Plan::error(405).with("Allow", "GET, HEAD");
        }
        if let Some((name, value)) = &f.require_header {
            if req.header(name) != Some(value.as_str()) {
                return Plan::error(401).with("WWW-Authenticate", "Basic realm=\"origin\"");
            }
        }
        let path = req.path();
        if f.redirect_from.as_deref() == Some(path) {
            return Plan::error(302).with("Location", f.file_path());
        }
        if !path.ends_with(f.file_path()) {
            return Plan::error(404);
        }
        if f.signed && !signed_and_current(&req.target, f.file_path()) {
            return Plan::error(403);
        }
        // `fail_first` counts GETs: a HEAD (Spool's warm-up for seeks) does
        // not use up the failures a test sets for a download's requests.
        if req.method == "GET" {
            self.file_requests += 1;
        }
        let failing_get = req.method == "GET" && self.file_requests <= f.fail_first;
        if f.fail_always || failing_get {
            let plan = Plan::error(f.fail_status.unwrap_or(503));
            return match f.retry_after {
                Some(secs) => plan.with("Retry-After", secs.to_string()),
                None => plan,
            };
        }
        self.file_response(req, &f)
    }

    /// 200, 206 or 416 for the file, with every configured fault applied.
    fn file_response(&mut self, req: &Request, f: &Faults) -> Plan {
        let len = self.content.len() as u64;
        let last_modified = httpdate::fmt_http_date(self.last_modified);
        let ranges = !f.no_ranges && !f.chunked;
        let content_type = f.content_type.as_deref();
        let mut headers = vec![(
            "Content-Type",
            content_type.unwrap_or("application/octet-stream").to_string(),
        )];
        if let Some(etag) = &f.etag {
            headers.push(("ETag", etag.clone()));
        }
        if f.last_modified {
            headers.push(("Last-Modified", last_modified.clone()));
        }
        if let Some(cd) = &f.content_disposition {
            headers.push(("Content-Disposition", cd.clone()));
        }
        if ranges {
            headers.push(("Accept-Ranges", "bytes".to_string()));
        }

        // If-Range that no longer matches = "the file changed since you got
        // your part": ignore Range and send the whole new file. ETags compare
        // strongly (weak ones never match), dates as exact strings.
        let if_range_ok = req.header("if-range").is_none_or(|v| {
            f.etag.as_deref().is_some_and(|e| e == v && !e.starts_with("W/"))
                || (f.last_modified && v == last_modified)
        });
        let range = match req.header("range") {
            Some(r) if ranges && if_range_ok => parse_range(r, len),
            _ => RangeSpec::Whole,
        };
        let (status, body) = match range {
            RangeSpec::Whole => (200, self.content.clone()),
            RangeSpec::Part(a, b) => {
                headers.push(("Content-Range", format!("bytes {a}-{b}/{len}")));
                (206, self.content.slice(a as usize..=b as usize))
            }
            RangeSpec::Unsatisfiable => {
                headers.push(("Content-Range", format!("bytes */{len}")));
                return Plan::new(416, headers, Bytes::new());
            }
        };

        let n = body.len() as u64;
        let mut plan = Plan::new(status, headers, body);
        if f.chunked {
            plan.framing = Framing::Chunked;
        } else if let Some(delta) = f.lie_length {
            let declared = (n as i64).saturating_add(delta).max(0);
            plan.framing = Framing::Length(declared as u64);
            // The declared length cannot frame the next response: close.
            plan.close = true;
        }

        // Resets and stalls apply to GET bodies longer than the cut point;
        // if both apply, the earlier cut wins.
        if req.method == "GET" {
            let reset = f
                .reset_after
                .filter(|&r| r < n && (f.reset_first == 0 || self.resets < f.reset_first));
            let stall = f.stall_after.filter(|&s| s < n);
            plan.cut = match (reset, stall) {
                (Some(r), Some(s)) if s < r => Some(Cut::Stall(s)),
                (Some(r), _) => {
                    self.resets += 1;
                    Some(Cut::Reset(r))
                }
                (None, Some(s)) => Some(Cut::Stall(s)),
                (None, None) => None,
            };
        }
        plan
    }
}

/// The signature of a signed URL: an FNV-1a hash of the path and the
/// expiry under a fixed key, in hex. Not cryptography; a test origin only
/// has to tell its own URLs from altered ones.
fn signature(path: &str, expires: u64) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("spool-test-key:{path}:{expires}").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether `target` carries a valid signature whose time has not passed.
fn signed_and_current(target: &str, path: &str) -> bool {
    let Some((_, query)) = target.split_once('?') else {
        return false;
    };
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let (Some(expires), Some(sig)) = (param("expires").and_then(|e| e.parse::<u64>().ok()), param("sig"))
    else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    sig == signature(path, expires) && now < expires
}

/// Sends `plan` on `stream`, counting body bytes into log entry `idx`.
async fn respond(stream: &mut TcpStream, shared: &Shared, idx: usize, plan: Plan) -> io::Result<Next> {
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", plan.status, reason(plan.status));
    for (name, value) in &plan.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    match plan.framing {
        Framing::Length(n) => {
            let _ = write!(head, "Content-Length: {n}\r\n");
        }
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    if plan.close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;

    let done = if plan.close { Next::Close } else { Next::KeepAlive };
    if !plan.send_body {
        return Ok(done);
    }
    let chunked = matches!(plan.framing, Framing::Chunked);
    let limit = match plan.cut {
        Some(Cut::Reset(n) | Cut::Stall(n)) => plan.body.len().min(n as usize),
        None => plan.body.len(),
    };
    // Throttled: about ten writes a second (at most 16 KiB each).
    let step = plan
        .rate
        .map_or(CHUNK, |r| (r / 10).clamp(1, CHUNK as u64) as usize);
    let start = Instant::now();
    let mut sent = 0;
    while sent < limit {
        let n = step.min(limit - sent);
        if let Some(rate) = plan.rate {
            // Absolute schedule: a chunk leaves only once the rate has "earned"
            // it, so n bytes take at least n / rate seconds and timer
            // imprecision does not accumulate.
            let due = start + Duration::from_secs_f64((sent + n) as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        }
        if chunked {
            stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
        }
        write_counted(stream, shared, idx, &plan.body[sent..sent + n]).await?;
        if chunked {
            stream.write_all(b"\r\n").await?;
        }
        sent += n;
    }
    match plan.cut {
        Some(Cut::Reset(_)) => {
            tokio::time::sleep(RESET_GRACE).await;
            Ok(Next::Reset)
        }
        Some(Cut::Stall(_)) => {
            hold_open(stream).await;
            Ok(Next::Close)
        }
        None => {
            if chunked {
                stream.write_all(b"0\r\n\r\n").await?;
            }
            Ok(done)
        }
    }
}

/// `write_all`, but counting each partial write, so the counters stay exact
/// when the client disconnects mid-body.
async fn write_counted(
    stream: &mut TcpStream,
    shared: &Shared,
    idx: usize,
    mut data: &[u8],
) -> io::Result<()> {
    while !data.is_empty() {
        let n = stream.write(data).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        shared.count(idx, n as u64);
        data = &data[n..];
    }
    Ok(())
}

/// A hung origin: send nothing more, discard whatever the client sends, and
/// return once it closes (or the Origin is dropped, which aborts us).
async fn hold_open(stream: &mut TcpStream) {
    let mut sink = [0u8; 1024];
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
