//! Shared test support: the fault-injecting origin and small helpers.
#![allow(dead_code)]

pub mod mpv;
pub mod origin;

use std::future::Future;
use std::process::Child;
use std::time::{Duration, Instant};

/// Looks at `check` every `every` until it returns `Some`, for at most
/// `limit`; `None` (and a line saying what) when it never did.
pub fn poll<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            eprintln!("gave up after {limit:?} waiting for {what}");
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Awaits `check` every `every` until it returns `Some`; panics with `what`
/// after `limit`. For checks that are themselves async (HTTP, WebDriver).
pub async fn until<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// A child process killed and reaped when dropped, however the test ends.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Whether a test can run here. When it cannot: under CI (`CI` set, where
/// everything it needs is there) it fails with `why`; elsewhere it prints
/// "skipped: why" and returns false so the test returns early.
pub fn require(condition: bool, why: &str) -> bool {
    if condition {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "cannot run here, and CI must: {why}"
    );
    eprintln!("skipped: {why}");
    false
}

/// `len` pseudo-random bytes (xorshift64*): every offset looks different, so
/// a byte served from the wrong place, or from another seed, shows.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A process's arguments, while it runs.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then_some(args)
}
