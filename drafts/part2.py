import re
R='/work/wt-watch/'
def edit(path, pairs):
    p=R+path; s=open(p).read()
    for old,new in pairs:
        if old not in s: raise SystemExit(f"{path}: not found: {old[:80]!r}")
        s=s.replace(old,new,1)
    open(p,'w').write(s)

# store: the playback record rides in state.json
edit('src-tauri/engine/src/store.rs',[(
'''    /// Bytes per second for this item's downloads; `None`: unlimited.
    pub rate_limit: Option<u64>,
}''','''    /// Bytes per second for this item's downloads; `None`: unlimited.
    pub rate_limit: Option<u64>,
    /// Where its player was last seen, and whether it was watched.
    pub playback: crate::player::progress::Playback,
}''')])

# events: the view
edit('src-tauri/engine/src/events.rs',[(
'''/// One item as `spool ls --json` prints it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {''','''/// One item as `spool ls --json` prints it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemView {'''),(
'''    /// Why the item failed or is paused, for people.
    pub error: Option<String>,
}''','''    /// Why the item failed or is paused, for people.
    pub error: Option<String>,
    /// Where it was left, as fields of the item (`position`, …).
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub playback: PlaybackView,
}

/// An item's playback as scripts and the window see it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaybackView {
    /// Seconds into the item where a followed player was last seen; `None`
    /// if none was.
    pub position: Option<f64>,
    /// Seconds, as a player told it; `None` while unknown.
    pub duration: Option<f64>,
    /// Played to its end or to 90 %.
    pub watched: bool,
    /// Where Play starts (seconds): the position unless it is near either
    /// end; `None`: the beginning.
    pub resume_at: Option<f64>,
    /// Unix milliseconds of the last position recorded.
    pub last_played: Option<u64>,
}

impl PlaybackView {
    pub fn of(playback: &crate::player::progress::Playback) -> Self {
        PlaybackView {
            position: playback.position(),
            duration: playback.duration(),
            watched: playback.watched,
            resume_at: playback.resume_at(),
            last_played: playback.last_played,
        }
    }
}'''),(
'''    /// Evicted to keep the cache under its cap.
    Evicted,
}''','''    /// Evicted to keep the cache under its cap.
    Evicted,
    /// Removed a set time after it was watched.
    Watched,
}''')])

edit('src-tauri/engine/src/item.rs',[(
'''            error: st.reason(),
        }''','''            error: st.reason(),
            playback: crate::events::PlaybackView::of(&st.meta.playback),
        }''')])
edit('src-tauri/engine/src/lib.rs',[(
'pub use events::{Event, ItemState, ItemView, RemoveReason};','pub use events::{Event, ItemState, ItemView, PlaybackView, RemoveReason};')])

# config: remove watched items after N days (off by default)
edit('src-tauri/engine/src/config.rs',[(
'''    /// Bytes per second for all downloads together; `None`: unlimited.
    pub rate_limit: Option<u64>,
    /// An item with''','''    /// Bytes per second for all downloads together; `None`: unlimited.
    pub rate_limit: Option<u64>,
    /// Watched items are removed this many days after they were watched
    /// (pinned ones are kept); `None`: never.
    pub remove_watched_after_days: Option<u32>,
    /// An item with'''),(
'''    pub rate_limit: Option<u64>,
}''','''    pub rate_limit: Option<u64>,
    pub remove_watched_after_days: Option<u32>,
}'''),(
'''            rate_limit: self.rate_limit,
        }''','''            rate_limit: self.rate_limit,
            remove_watched_after_days: self.remove_watched_after_days,
        }'''),(
'''            rate_limit: None,
            stall_timeout''','''            rate_limit: None,
            remove_watched_after_days: None,
            stall_timeout''')])

edit('src-tauri/engine/src/cache.rs',[(
'''/// The items to evict, oldest access first''','''/// A watched item as the clean-up of watched items sees it.
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
pub fn expired_watched(watched: &[Watched], now: u64, after_days: u32) -> Vec<String> {
    let after = u64::from(after_days) * 24 * 60 * 60 * 1000;
    watched
        .iter()
        .filter(|w| !w.keep && now.saturating_sub(w.watched_at) >= after)
        .map(|w| w.id.clone())
        .collect()
}

/// The items to evict, oldest access first'''),(
'''    let limits = shared.limits();
    let cap = limits.cache_cap;''','''    let limits = shared.limits();
    if let Some(days) = limits.remove_watched_after_days {
        remove_watched(shared, &items, days).await;
    }
    let cap = limits.cache_cap;'''),(
'''pub(crate) async fn remove_item(''','''/// Removes the watched items whose time is up.
async fn remove_watched(shared: &Shared, items: &[Arc<Item>], days: u32) {
    let watched: Vec<Watched> = items
        .iter()
        .filter_map(|item| {
            let st = item.lock();
            let playback = &st.meta.playback;
            let watched_at = playback.watched_at.filter(|_| playback.watched)?;
            Some(Watched {
                id: item.id().to_string(),
                watched_at,
                keep: st.meta.pinned || item.in_use(),
            })
        })
        .collect();
    for id in expired_watched(&watched, crate::engine::unix_millis(), days) {
        if let Ok(item) = shared.item(&id) {
            tracing::info!("removing item {id}: watched more than {days} days ago");
            let _ = remove_item(shared, &item, RemoveReason::Watched).await;
        }
    }
}

pub(crate) async fn remove_item('''),(
'''    #[test]
    fn evicts_least_recently_used_first_until_under_cap() {''','''    #[test]
    fn watched_items_go_after_their_days_unless_kept() {
        const DAY: u64 = 24 * 60 * 60 * 1000;
        let w = |id: &str, watched_at: u64, keep: bool| Watched {
            id: id.to_string(),
            watched_at,
            keep,
        };
        let watched = [
            w("old", 0, false),
            w("pinned", 0, true),
            w("recent", 10 * DAY - 1, false),
            w("edge", 3 * DAY, false),
        ];
        // (now, days) → removed
        let table: &[(u64, u32, &[&str])] = &[
            (10 * DAY, 7, &["old", "edge"]),
            (10 * DAY, 10, &["old"]),
            (10 * DAY, 0, &["old", "recent", "edge"]),
            (0, 1, &[]),
        ];
        for (now, days, want) in table {
            assert_eq!(expired_watched(&watched, *now, *days), *want, "{days} days at {now}");
        }
    }

    #[test]
    fn evicts_least_recently_used_first_until_under_cap() {''')])

edit('src-tauri/desktop/settings.rs',[(
'''            rate_limit: self.rate_limit,
        }
    }''','''            rate_limit: self.rate_limit,
            remove_watched_after_days: current.remove_watched_after_days,
        }
    }'''),(
'''            connections_per_item: 1,
            rate_limit: None,
        };''','''            connections_per_item: 1,
            rate_limit: None,
            remove_watched_after_days: Some(3),
        };'''),(
'''                connections_per_item: 8,
                rate_limit: Some(1 << 20),
            }''','''                connections_per_item: 8,
                rate_limit: Some(1 << 20),
                remove_watched_after_days: Some(3),
            }''')])

edit('src-tauri/cli.rs',[(
'''        #[arg(long, value_name = "CMD")]
        player: Option<String>,
    },''','''        #[arg(long, value_name = "CMD")]
        player: Option<String>,
        /// Remove watched items this many days after they were watched
        /// (pinned ones are kept; default: never).
        #[arg(long, value_name = "DAYS")]
        remove_watched_after: Option<u32>,
    },'''),(
'''            player,
        } => {''','''            player,
            remove_watched_after,
        } => {'''),(
'''            config.rate_limit = rate_limit.filter(|r| *r > 0);''','''            config.rate_limit = rate_limit.filter(|r| *r > 0);
            config.remove_watched_after_days = remove_watched_after;''')])
