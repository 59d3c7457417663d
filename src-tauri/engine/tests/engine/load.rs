//! Many players at once: clients read random ranges of an item still
//! downloading from a slow origin and of a complete one, some hanging up
//! half-way. Every response they finish is exact, and none waits longer
//! than a liveness bound for its first body byte (not a speed target: the
//! bound is many times what a seek takes).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::support::origin::{Faults, Origin};
use crate::util::{content, path_of, request, TestEngine, KIB, MIB};

/// The longest any response may wait for its first body byte, and for any
/// later byte.
const LIVENESS: Duration = Duration::from_secs(10);

/// A tiny deterministic generator (xorshift64), so a failing load can be
/// replayed with its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[lo, hi]`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `1 / n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// One request of the load.
#[derive(Debug, Clone)]
struct Ask {
    /// The `Range` header's value.
    range: String,
    /// The bytes the response must carry, `[start, end)`.
    start: u64,
    end: u64,
    /// Hang up after this many body bytes (before the end).
    hang_up: Option<u64>,
}

fn ask(rng: &mut Rng, size: u64) -> Ask {
    let len = rng.between(KIB as u64, MIB as u64);
    let near_end = rng.one_in(4);
    let start = if near_end {
        // Within the last 4 MiB, where seeks meet the end of the file.
        rng.between(size - 4 * MIB as u64, size - 1)
    } else {
        rng.between(0, size - 1)
    };
    let open_ended = rng.one_in(4);
    let (range, end) = if open_ended {
        (format!("bytes={start}-"), size)
    } else {
        let end = (start + len).min(size);
        (format!("bytes={start}-{}", end - 1), end)
    };
    // An open-ended range far from the end is read like a player does: a
    // while, then it hangs up.
    let reads = (end - start).min(len);
    let mut hang_up = (reads < end - start).then_some(reads);
    if reads >= 2 && rng.one_in(5) {
        hang_up = Some(reads / 2);
    }
    Ask {
        range,
        start,
        end,
        hang_up,
    }
}

/// What one response did.
#[derive(Debug)]
struct Served {
    first_byte: Duration,
    finished: bool,
}

/// Sends `ask` on a new connection and reads its response, checking every
/// byte; an error says what went wrong.
async fn exchange(port: u16, path: &str, ask: &Ask, data: &[u8]) -> Result<Served, String> {
    let mut conn = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let head = request(
        "GET",
        path,
        port,
        &[("Range", &ask.range), ("Connection", "close")],
    );
    let sent = Instant::now();
    conn.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * KIB];
    let mut first_byte = None;
    let mut body_at = None;
    let want = ask.end - ask.start;
    let stop = ask.hang_up.unwrap_or(want);
    loop {
        let n = match timeout(LIVENESS, conn.read(&mut chunk)).await {
            Err(_) => {
                let got = body_at.map_or(0, |at| buf.len() - at);
                return Err(format!(
                    "no byte for {LIVENESS:?} after {got} body bytes ({:?} since the request)",
                    sent.elapsed()
                ));
            }
            Ok(Err(e)) => return Err(format!("read: {e}")),
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if body_at.is_none() {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).into_owned();
                check_head(&head, ask, data.len() as u64)?;
                body_at = Some(i + 4);
            }
        }
        if let Some(at) = body_at {
            let got = (buf.len() - at) as u64;
            if got > 0 && first_byte.is_none() {
                first_byte = Some(sent.elapsed());
            }
            if got >= stop && ask.hang_up.is_some() {
                break;
            }
        }
    }
    let at = body_at.ok_or("the connection closed inside the head")?;
    let body = &buf[at..];
    let expected = &data[ask.start as usize..ask.end as usize];
    let finished = ask.hang_up.is_none();
    let enough = if finished {
        body.len() as u64 == want
    } else {
        body.len() as u64 >= stop
    };
    if !enough {
        return Err(format!("{} body bytes of {want} (reading {stop})", body.len()));
    }
    let body = &body[..body.len().min(expected.len())];
    if let Some(i) = body.iter().zip(expected).position(|(a, b)| a != b) {
        return Err(format!("wrong byte at body offset {i}"));
    }
    Ok(Served {
        first_byte: first_byte.unwrap_or_else(|| sent.elapsed()),
        finished,
    })
}

fn check_head(head: &str, ask: &Ask, size: u64) -> Result<(), String> {
    let status_ok = head.starts_with("HTTP/1.1 206 ");
    let range = format!("content-range: bytes {}-{}/{size}", ask.start, ask.end - 1);
    let length = format!("content-length: {}", ask.end - ask.start);
    let lower = head.to_ascii_lowercase();
    if status_ok && lower.contains(&range) && lower.contains(&length) {
        Ok(())
    } else {
        Err(format!("unexpected head: {head:?}"))
    }
}

/// One client: requests one after another until `until`.
async fn client(
    seed: u64,
    port: u16,
    path: String,
    data: Arc<Vec<u8>>,
    until: Instant,
) -> (Vec<Served>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let (mut served, mut errors) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        let ask = ask(&mut rng, data.len() as u64);
        match exchange(port, &path, &ask, &data).await {
            Ok(s) => served.push(s),
            Err(e) => errors.push(format!("{ask:?}: {e}")),
        }
    }
    (served, errors)
}

/// `SPOOL_LOAD_SEED` and `SPOOL_LOAD_SECS` replay or lengthen the load.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// It loads both cores for half a minute, which would upset the tests that
// count what fetches do meanwhile: scripts/test runs it alone, after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "loads the machine: run alone by scripts/test"]
async fn many_readers_of_a_downloading_item_are_all_served() {
    let began = Instant::now();
    let seed = setting("SPOOL_LOAD_SEED", 13);
    let secs = setting("SPOOL_LOAD_SECS", 25);
    let clients = 20;
    let downloading = Arc::new(content(256 * MIB, seed));
    let complete = Arc::new(content(64 * MIB, seed + 1));
    let slow = Origin::start(
        downloading.to_vec(),
        Faults {
            rate: Some(MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let fast = Origin::start(complete.to_vec(), Faults::default()).await;
    let t = TestEngine::start().await;
    let done = t.add(&fast.url()).await;
    t.wait_complete(&done.id).await;
    let item = t.add(&slow.url()).await;

    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (path, data) = if i % 2 == 0 {
            (path_of(&item.stream_url), downloading.clone())
        } else {
            (path_of(&done.stream_url), complete.clone())
        };
        tasks.push(tokio::spawn(client(
            seed ^ (i << 32),
            t.port(),
            path,
            data,
            until,
        )));
    }
    let (mut served, mut errors) = (Vec::new(), Vec::new());
    for task in tasks {
        let (s, e) = task.await.expect("a client panicked");
        served.extend(s);
        errors.extend(e);
    }
    let finished = served.iter().filter(|s| s.finished).count();
    let longest = served.iter().map(|s| s.first_byte).max().unwrap_or_default();
    println!(
        "load (seed {seed}, {clients} clients, {secs} s): {} responses ({finished} finished, {} hung up), \
         longest first-byte wait {longest:?}, downloaded {} of {} MiB, {:?} in all",
        served.len(),
        served.len() - finished,
        t.item(&item.id).downloaded >> 20,
        downloading.len() >> 20,
        began.elapsed(),
    );
    assert!(
        errors.is_empty(),
        "{} responses failed: {errors:#?}",
        errors.len()
    );
    assert!(finished > 0, "no response finished");
}
