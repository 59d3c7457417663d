//! The rules of "continue watching", as values: where a saved position
//! resumes, when an item counts as watched, and when a followed player's
//! position is saved. Pure, and saved with the item's state (`store`); the
//! player's followers (`player::mpv`, `player::mpris`) carry them out.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A position this close to the start is not worth resuming (seconds).
pub const EDGE_SECS: f64 = 5.0;
/// Nor one within this fraction of the end (or [`EDGE_SECS`], if longer).
pub const END_FRACTION: f64 = 0.10;
/// Played to this fraction of its duration, an item is watched.
pub const WATCHED_FRACTION: f64 = 0.90;
/// A playing item's position is saved this often (and on pause, end, exit).
pub const SAVE_EVERY: Duration = Duration::from_secs(5);

/// What is saved about an item's playback, with its download state.
/// Milliseconds, so that the saved state compares exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Playback {
    /// Where the player was last seen, in milliseconds.
    pub position_ms: Option<u64>,
    /// The item's duration as the player told it, in milliseconds.
    pub duration_ms: Option<u64>,
    pub watched: bool,
    /// Unix milliseconds it became watched (removal after N days counts
    /// from here).
    pub watched_at: Option<u64>,
    /// Unix milliseconds of the last position recorded.
    pub last_played: Option<u64>,
}

impl Playback {
    pub fn position(&self) -> Option<f64> {
        self.position_ms.map(secs)
    }

    pub fn duration(&self) -> Option<f64> {
        self.duration_ms.map(secs)
    }

    /// Where the next play starts: `None` is the beginning.
    pub fn resume_at(&self) -> Option<f64> {
        resume_at(self.position(), self.duration(), self.watched)
    }

    /// Takes in what a player reported at `now_unix_ms`. Watched stays
    /// watched (playing the end again, or the start, does not undo it).
    pub fn record(&mut self, seen: &Seen, now_unix_ms: u64) {
        if let Some(duration) = seen.duration.filter(|d| d.is_finite() && *d > 0.0) {
            self.duration_ms = Some(millis(duration));
        }
        if let Some(position) = seen.position.filter(|p| p.is_finite() && *p >= 0.0) {
            self.position_ms = Some(millis(position));
        }
        self.last_played = Some(now_unix_ms);
        if !self.watched && is_watched(self.position(), self.duration(), seen.ended) {
            self.watched = true;
            self.watched_at = Some(now_unix_ms);
        }
    }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn millis(secs: f64) -> u64 {
    (secs * 1000.0).round() as u64
}

/// Where to start an item last seen at `position` of `duration`: `None`
/// (the beginning) when it is watched, unknown, or near either end.
pub fn resume_at(position: Option<f64>, duration: Option<f64>, watched: bool) -> Option<f64> {
    let position = position.filter(|p| p.is_finite())?;
    if watched || position < EDGE_SECS {
        return None;
    }
    if let Some(duration) = duration.filter(|d| d.is_finite() && *d > 0.0) {
        let tail = (duration * END_FRACTION).max(EDGE_SECS);
        if duration - position <= tail {
            return None;
        }
    }
    Some(position)
}

/// Played to its end, or to [`WATCHED_FRACTION`] of a known duration.
pub fn is_watched(position: Option<f64>, duration: Option<f64>, ended: bool) -> bool {
    ended || matches!((position, duration), (Some(p), Some(d)) if d > 0.0 && p >= d * WATCHED_FRACTION)
}

/// One look at a player: what it said about the item it plays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub position: Option<f64>,
    pub duration: Option<f64>,
    pub paused: bool,
    /// It reached the end of the item.
    pub ended: bool,
}

/// What a follower does with a new look at its player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Save,
    Wait,
}

/// Decides when a followed item's position is saved: every
/// [`SAVE_EVERY`] while it plays, at once when it pauses or ends, and on
/// exit ([`Saver::last`]) if anything is unsaved.
#[derive(Debug, Default)]
pub struct Saver {
    saved_at: Option<Instant>,
    saved: Option<Seen>,
    /// The last look offered, saved or not: a pause is new against it (a
    /// resume is not saved, the pause after it must be).
    offered: Option<Seen>,
}

impl Saver {
    pub fn offer(&mut self, seen: &Seen, now: Instant) -> Verdict {
        let was = self.offered.replace(seen.clone());
        if self.saved.as_ref() == Some(seen) {
            return Verdict::Wait;
        }
        let paused_now = seen.paused && !was.as_ref().is_some_and(|w| w.paused);
        let ended_now = seen.ended && !was.as_ref().is_some_and(|w| w.ended);
        let due = self
            .saved_at
            .is_none_or(|at| now.duration_since(at) >= SAVE_EVERY);
        if paused_now || ended_now || due {
            self.saved_at = Some(now);
            self.saved = Some(seen.clone());
            Verdict::Save
        } else {
            Verdict::Wait
        }
    }

    /// The player went away: save `seen` unless it is what was saved.
    pub fn last(&mut self, seen: &Seen) -> Verdict {
        if self.saved.as_ref() == Some(seen) {
            Verdict::Wait
        } else {
            self.saved = Some(seen.clone());
            Verdict::Save
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (position, duration, watched or ended, expected)
    type Row<T> = (Option<f64>, Option<f64>, bool, T);

    #[test]
    fn where_a_saved_position_resumes() {
        // (position, duration, watched) → start
        let table: &[Row<Option<f64>>] = &[
            (None, Some(600.0), false, None),
            (Some(0.0), Some(600.0), false, None),
            (Some(4.9), Some(600.0), false, None),
            (Some(5.0), Some(600.0), false, Some(5.0)),
            (Some(2472.0), Some(5400.0), false, Some(2472.0)),
            // The last 10 % of a long film…
            (Some(539.0), Some(600.0), false, Some(539.0)),
            (Some(540.0), Some(600.0), false, None),
            // …or the last 5 s of a short one, whichever is longer.
            (Some(12.011), Some(30.0), false, Some(12.011)),
            (Some(24.9), Some(30.0), false, Some(24.9)),
            (Some(25.0), Some(30.0), false, None),
            // Unknown duration: only the start counts.
            (Some(100.0), None, false, Some(100.0)),
            (Some(100.0), Some(0.0), false, Some(100.0)),
            // Watched: from the start.
            (Some(100.0), Some(600.0), true, None),
            (Some(f64::NAN), Some(600.0), false, None),
        ];
        for &(position, duration, watched, want) in table {
            assert_eq!(
                resume_at(position, duration, watched),
                want,
                "{position:?} of {duration:?}, watched {watched}"
            );
        }
    }

    #[test]
    fn when_an_item_is_watched() {
        let table: &[Row<bool>] = &[
            (Some(26.9), Some(30.0), false, false),
            (Some(27.0), Some(30.0), false, true),
            (Some(10.0), Some(30.0), true, true),
            (Some(10.0), None, false, false),
            (None, None, true, true),
            (Some(5.0), Some(0.0), false, false),
        ];
        for &(position, duration, ended, want) in table {
            assert_eq!(
                is_watched(position, duration, ended),
                want,
                "{position:?} {duration:?} {ended}"
            );
        }
    }

    #[test]
    fn recording_keeps_milliseconds_and_watched_sticks() {
        let mut playback = Playback::default();
        let seen = |position: f64, ended: bool| Seen {
            position: Some(position),
            duration: Some(30.0),
            paused: false,
            ended,
        };
        playback.record(&seen(12.0114, false), 1_000);
        assert_eq!(playback.position_ms, Some(12_011));
        assert_eq!(playback.duration_ms, Some(30_000));
        assert_eq!(playback.resume_at(), Some(12.011));
        assert!(!playback.watched);
        playback.record(&seen(29.9, true), 2_000);
        assert!(playback.watched);
        assert_eq!(playback.watched_at, Some(2_000));
        assert_eq!(playback.resume_at(), None);
        playback.record(&seen(1.0, false), 3_000);
        assert!(playback.watched, "watched stays watched");
        assert_eq!(playback.watched_at, Some(2_000));
        assert_eq!(playback.last_played, Some(3_000));
        // A player that does not know yet says nothing, and nothing is lost.
        playback.record(&Seen::default(), 4_000);
        assert_eq!(playback.position_ms, Some(1_000));
        assert_eq!(playback.duration_ms, Some(30_000));
    }

    #[test]
    fn saves_every_five_seconds_and_at_once_on_pause_end_and_exit() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let seen = |position: f64, paused: bool, ended: bool| Seen {
            position: Some(position),
            duration: Some(30.0),
            paused,
            ended,
        };
        let mut saver = Saver::default();
        // (time, seen) → verdict
        let steps = [
            (0.0, seen(0.0, false, false), Verdict::Save),
            (1.0, seen(1.0, false, false), Verdict::Wait),
            (4.9, seen(4.9, false, false), Verdict::Wait),
            (5.0, seen(5.0, false, false), Verdict::Save),
            (6.0, seen(6.0, true, false), Verdict::Save),
            (7.0, seen(6.0, true, false), Verdict::Wait),
            (8.0, seen(7.0, false, false), Verdict::Wait),
            // A pause after a resume that was not saved is new.
            (8.5, seen(7.5, true, false), Verdict::Save),
            (8.6, seen(7.5, true, false), Verdict::Wait),
            (8.7, seen(7.6, false, false), Verdict::Wait),
            (9.0, seen(30.0, false, true), Verdict::Save),
            (20.0, seen(30.0, false, true), Verdict::Wait),
        ];
        for (n, (t, seen, want)) in steps.iter().enumerate() {
            assert_eq!(saver.offer(seen, at(*t)), *want, "step {n} at {t} s");
        }
        assert_eq!(saver.last(&seen(30.0, false, true)), Verdict::Wait, "nothing new");
        assert_eq!(saver.last(&seen(12.0, false, false)), Verdict::Save);
    }
}
