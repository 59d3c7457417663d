//! The tray menu's labels as a pure function of the items, so they are
//! unit-tested without a tray. The tray module only copies them into its
//! `MenuItem`s (Linux trays deliver no clicks or tooltips: the menu is the UI).

use spool_engine::continue_watching::unfinished;
use spool_engine::size::format_size;
use spool_engine::{ItemState, ItemView};

/// How many recent items the menu lists.
pub const RECENT_SLOTS: usize = 5;
/// How many unfinished items "Continue watching" lists.
pub const CONTINUE_SLOTS: usize = 5;
/// Longest item name shown in the menu, in characters.
const NAME_CHARS: usize = 40;

/// A menu entry: its label and whether it can be clicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: String,
    pub enabled: bool,
}

/// Everything in the tray menu that depends on the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuModel {
    /// A disabled first line with the live state, e.g. "Downloading 2 — 41 %".
    pub status: String,
    pub pause_all: Entry,
    pub resume_all: Entry,
    pub clear_cache: Entry,
    /// Offered before "Clear cache": only what was watched.
    pub clear_watched: Entry,
    /// Newest first: (item id, label). Clicking one plays it.
    pub recent: Vec<(String, String)>,
    /// Begun and unfinished, last played first: (item id, label with the
    /// position). Clicking one resumes it.
    pub continue_watching: Vec<(String, String)>,
}

fn active(item: &ItemView) -> bool {
    matches!(item.state, ItemState::Downloading | ItemState::Queued)
}

/// Items "Clear cache" offers to remove: not pinned and not downloading
/// (`actions::clear_cache` also skips items a player is reading).
pub fn clearable(items: &[ItemView]) -> Vec<&ItemView> {
    items.iter().filter(|i| !i.pinned && !active(i)).collect()
}

/// Items "Clear watched" offers to remove: the clearable ones watched.
pub fn clearable_watched(items: &[ItemView]) -> Vec<&ItemView> {
    clearable(items)
        .into_iter()
        .filter(|i| i.playback.watched)
        .collect()
}

/// `41:12`, `1:02:03`: a position as players show it (seconds rounded down).
pub fn clock(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn clear_entry(what: &str, items: &[&ItemView], nothing: &str) -> Entry {
    if items.is_empty() {
        return Entry {
            label: format!("{what} ({nothing})"),
            enabled: false,
        };
    }
    let bytes: u64 = items.iter().map(|i| i.downloaded).sum();
    let noun = if items.len() == 1 { "item" } else { "items" };
    Entry {
        label: format!("{what} ({} {noun}, {})", items.len(), format_size(bytes)),
        enabled: true,
    }
}

/// Percent done, rounded down, or `None` when the size is unknown.
pub fn percent(downloaded: u64, size: Option<u64>) -> Option<u64> {
    match size {
        Some(0) => Some(100),
        Some(size) => Some((u128::from(downloaded.min(size)) * 100 / u128::from(size)) as u64),
        None => None,
    }
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        name.to_string()
    } else {
        let head: String = name.chars().take(NAME_CHARS - 1).collect();
        format!("{head}…")
    }
}

fn item_label(item: &ItemView) -> String {
    let name = shorten(&item.name);
    match item.state {
        ItemState::Complete => format!("▶ {name}"),
        ItemState::Failed => format!("▶ {name} (failed)"),
        ItemState::Paused => format!("▶ {name} (paused)"),
        ItemState::Queued | ItemState::Downloading => match percent(item.downloaded, item.size) {
            Some(p) => format!("▶ {name} ({p} %)"),
            None => format!("▶ {name} (…)"),
        },
    }
}

/// `items` in the engine's order (oldest first).
pub fn model(items: &[ItemView]) -> MenuModel {
    let downloading: Vec<&ItemView> = items.iter().filter(|i| active(i)).collect();
    let paused = items.iter().filter(|i| i.state == ItemState::Paused).count();
    let status = if !downloading.is_empty() {
        let known: Vec<(u64, u64)> = downloading
            .iter()
            .filter_map(|i| i.size.map(|s| (i.downloaded, s)))
            .collect();
        let done: u64 = known.iter().map(|(d, _)| *d).sum();
        let total: u64 = known.iter().map(|(_, s)| *s).sum();
        match (known.is_empty(), percent(done, Some(total))) {
            (false, Some(p)) => format!("Downloading {} — {p} %", downloading.len()),
            _ => format!("Downloading {}", downloading.len()),
        }
    } else if items.is_empty() {
        "No items yet".to_string()
    } else {
        let bytes: u64 = items.iter().map(|i| i.downloaded).sum();
        let noun = if items.len() == 1 { "item" } else { "items" };
        format!("{} {noun} cached — {}", items.len(), format_size(bytes))
    };
    let clear_cache = clear_entry("Clear cache", &clearable(items), "nothing to clear");
    let clear_watched = clear_entry("Clear watched", &clearable_watched(items), "nothing watched");
    MenuModel {
        status,
        pause_all: Entry {
            label: if downloading.is_empty() {
                "Pause all".to_string()
            } else {
                format!("Pause all ({})", downloading.len())
            },
            enabled: !downloading.is_empty(),
        },
        resume_all: Entry {
            label: if paused == 0 {
                "Resume all".to_string()
            } else {
                format!("Resume all ({paused})")
            },
            enabled: paused > 0,
        },
        clear_cache,
        clear_watched,
        continue_watching: unfinished(items, CONTINUE_SLOTS)
            .iter()
            .map(|i| {
                let at = clock(i.playback.resume_at.unwrap_or(0.0));
                (i.id.clone(), format!("▶ {} — {at}", shorten(&i.name)))
            })
            .collect(),
        recent: items
            .iter()
            .rev()
            .take(RECENT_SLOTS)
            .map(|i| (i.id.clone(), item_label(i)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, state: ItemState, downloaded: u64, size: Option<u64>) -> ItemView {
        ItemView {
            id: id.to_string(),
            source_url: format!("http://origin/{id}.mkv"),
            stream_url: format!("http://127.0.0.1:17173/m/t/{id}.mkv"),
            name: format!("{id}.mkv"),
            size,
            downloaded,
            state,
            pinned: false,
            error: None,
            collection: None,
            playback: Default::default(),
        }
    }

    fn played(id: &str, resume_at: Option<f64>, watched: bool, last_played: u64) -> ItemView {
        let mut i = item(id, ItemState::Complete, 100, Some(100));
        i.playback.position = resume_at;
        i.playback.resume_at = resume_at;
        i.playback.watched = watched;
        i.playback.last_played = Some(last_played);
        i
    }

    #[test]
    fn continue_watching_lists_unfinished_items_last_played_first() {
        let items = [
            played("lecture", Some(2472.0), false, 5),
            played("film", Some(3723.9), false, 9),
            played("seen", None, true, 10),
            item("new", ItemState::Complete, 1, Some(1)),
        ];
        let m = model(&items);
        assert_eq!(
            m.continue_watching,
            vec![
                ("film".to_string(), "▶ film.mkv — 1:02:03".to_string()),
                ("lecture".to_string(), "▶ lecture.mkv — 41:12".to_string()),
            ]
        );
        assert_eq!(m.clear_watched.label, "Clear watched (1 item, 100 B)");
        assert!(m.clear_watched.enabled);
        let mut pinned = played("kept", None, true, 1);
        pinned.pinned = true;
        let m = model(&[pinned]);
        assert_eq!(m.clear_watched.label, "Clear watched (nothing watched)");
        assert!(!m.clear_watched.enabled);
        assert!(m.continue_watching.is_empty());
    }

    #[test]
    fn clock_reads_as_players_show_it() {
        let table = [
            (0.0, "0:00"),
            (7.9, "0:07"),
            (2472.0, "41:12"),
            (3723.0, "1:02:03"),
            (f64::NAN, "0:00"),
        ];
        for (seconds, want) in table {
            assert_eq!(clock(seconds), want, "{seconds}");
        }
    }

    #[test]
    fn empty_cache() {
        let m = model(&[]);
        assert_eq!(m.status, "No items yet");
        assert!(!m.pause_all.enabled && !m.resume_all.enabled && !m.clear_cache.enabled);
        assert_eq!(m.clear_cache.label, "Clear cache (nothing to clear)");
        assert!(m.recent.is_empty());
    }

    #[test]
    fn downloading_items_show_count_and_overall_percent() {
        let items = [
            item("a", ItemState::Downloading, 30, Some(100)),
            item("b", ItemState::Queued, 11, Some(100)),
            item("c", ItemState::Complete, 500, Some(500)),
        ];
        let m = model(&items);
        assert_eq!(m.status, "Downloading 2 — 20 %");
        assert_eq!(
            m.pause_all,
            Entry {
                label: "Pause all (2)".into(),
                enabled: true
            }
        );
        assert!(!m.resume_all.enabled);
        assert_eq!(m.clear_cache.label, "Clear cache (1 item, 500 B)");
    }

    #[test]
    fn unknown_sizes_leave_the_percent_out() {
        let m = model(&[item("a", ItemState::Downloading, 30, None)]);
        assert_eq!(m.status, "Downloading 1");
        assert_eq!(m.recent[0].1, "▶ a.mkv (…)");
    }

    #[test]
    fn idle_cache_shows_totals_and_paused_items_can_resume() {
        let mut pinned = item("b", ItemState::Complete, 1 << 20, Some(1 << 20));
        pinned.pinned = true;
        let items = [item("a", ItemState::Paused, 2 << 20, Some(4 << 20)), pinned];
        let m = model(&items);
        assert_eq!(m.status, format!("2 items cached — {}", format_size(3 << 20)));
        assert_eq!(
            m.resume_all,
            Entry {
                label: "Resume all (1)".into(),
                enabled: true
            }
        );
        assert_eq!(
            m.clear_cache.label,
            format!("Clear cache (1 item, {})", format_size(2 << 20)),
            "pinned items stay"
        );
    }

    #[test]
    fn recent_items_are_newest_first_and_capped() {
        let items: Vec<_> = (0..8)
            .map(|n| item(&format!("i{n}"), ItemState::Complete, 1, Some(1)))
            .collect();
        let m = model(&items);
        let ids: Vec<_> = m.recent.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, vec!["i7", "i6", "i5", "i4", "i3"]);
        assert_eq!(m.recent[0].1, "▶ i7.mkv");
    }

    #[test]
    fn labels_name_failed_and_paused_items_and_shorten_long_names() {
        let mut long = item("a", ItemState::Failed, 0, None);
        long.name = "x".repeat(60);
        let m = model(&[long, item("b", ItemState::Paused, 0, Some(10))]);
        assert_eq!(m.recent[0].1, "▶ b.mkv (paused)");
        assert_eq!(m.recent[1].1, format!("▶ {}… (failed)", "x".repeat(39)));
    }

    #[test]
    fn percent_is_bounded_and_safe() {
        assert_eq!(percent(5, Some(0)), Some(100));
        assert_eq!(percent(200, Some(100)), Some(100));
        assert_eq!(percent(u64::MAX, Some(u64::MAX)), Some(100));
        assert_eq!(percent(1, None), None);
    }
}
