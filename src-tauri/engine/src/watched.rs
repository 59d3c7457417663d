//! Removing watched items a set number of days after they were watched
//! (`--remove-watched-after`, off by default): which ones go is a pure
//! decision ([`expired`]); the cache check carries it out
//! (`cache::remove_watched`).

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A watched item as the clean-up sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub id: String,
    /// Unix milliseconds it became watched.
    pub watched_at: u64,
    /// Pinned, or being read.
    pub keep: bool,
}

/// The watched items to remove at `now` (Unix milliseconds) when they go
/// `after_days` days after they were watched.
pub fn expired(watched: &[Watched], now: u64, after_days: u32) -> Vec<String> {
    let after = u64::from(after_days) * DAY_MS;
    watched
        .iter()
        .filter(|w| !w.keep && now.saturating_sub(w.watched_at) >= after)
        .map(|w| w.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_items_go_after_their_days_unless_kept() {
        let w = |id: &str, watched_at: u64, keep: bool| Watched {
            id: id.to_string(),
            watched_at,
            keep,
        };
        let watched = [
            w("old", 0, false),
            w("pinned", 0, true),
            w("recent", 10 * DAY_MS - 1, false),
            w("edge", 3 * DAY_MS, false),
        ];
        // (now, days) → removed
        let table: &[(u64, u32, &[&str])] = &[
            (10 * DAY_MS, 7, &["old", "edge"]),
            (10 * DAY_MS, 10, &["old"]),
            (10 * DAY_MS, 0, &["old", "recent", "edge"]),
            (0, 1, &[]),
        ];
        for (now, days, want) in table {
            assert_eq!(expired(&watched, *now, *days), *want, "{days} days at {now}");
        }
    }
}
