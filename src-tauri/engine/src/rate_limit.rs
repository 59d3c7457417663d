//! A bandwidth limit shared by fetches: a token bucket that makes a fetch
//! wait before it writes more than the rate allows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Bytes per second, changeable at run time; 0 means unlimited.
#[derive(Debug)]
pub struct RateLimiter {
    rate: AtomicU64,
    /// When the bucket was last filled, and the bytes it then held (may be
    /// negative: debt that later callers wait off).
    bucket: Mutex<(Instant, f64)>,
}

impl RateLimiter {
    pub fn new(rate: Option<u64>) -> Self {
        Self {
            rate: AtomicU64::new(rate.unwrap_or(0)),
            bucket: Mutex::new((Instant::now(), 0.0)),
        }
    }

    pub fn set_rate(&self, rate: Option<u64>) {
        self.rate.store(rate.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn rate(&self) -> Option<u64> {
        Some(self.rate.load(Ordering::Relaxed)).filter(|r| *r > 0)
    }

    /// Takes `bytes` from the bucket, waiting as long as the rate requires.
    pub async fn take(&self, bytes: u64) {
        let wait = self.reserve(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Books `bytes` at `now` and says how long the caller must wait.
    fn reserve(&self, bytes: u64, now: Instant) -> Duration {
        let Some(rate) = self.rate() else {
            return Duration::ZERO;
        };
        let rate = rate as f64;
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let (last, tokens) = *bucket;
        // At most a quarter second of burst accumulates while idle.
        let filled = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate / 4.0);
        let left = filled - bytes as f64;
        *bucket = (now, left);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let limiter = RateLimiter::new(None);
        assert_eq!(limiter.reserve(1 << 30, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn waits_in_proportion_to_the_debt() {
        let limiter = RateLimiter::new(Some(1000));
        let t0 = Instant::now();
        *limiter.bucket.lock().unwrap() = (t0, 0.0);
        // An empty bucket: 500 bytes at 1000 B/s means half a second.
        assert_eq!(limiter.reserve(500, t0), Duration::from_millis(500));
        // The next 500 bytes queue behind the first.
        assert_eq!(limiter.reserve(500, t0), Duration::from_secs(1));
        // Two seconds later the debt is paid and a burst of 250 is allowed.
        assert_eq!(limiter.reserve(250, t0 + Duration::from_secs(2)), Duration::ZERO);
    }
}
