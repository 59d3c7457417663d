//! Engine events → UI events, desktop notifications and tray refreshes.
//!
//! [`Forwarder`] decides (pure, time passed in, unit-tested); [`run`] is the
//! task that feeds it from the engine's broadcast channel and delivers what
//! it decides through an [`Outlet`]. Progress goes out at most ten times a
//! second per item and the last value is never lost; the UI never polls.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use spool_engine::{Engine, Event, ItemState, ItemView, RangeSet, RemoveReason};
use tokio::sync::broadcast::error::RecvError;

use super::handoff::Handoff;
use super::throttle::Throttle;
use spool_engine::pairing::RequestView;

/// Name of the one Tauri event the UI listens to.
pub const UI_EVENT: &str = "spool://event";
/// At most one progress event per item per this interval (≤ 10/s).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// The tray menu is relabelled at most this often.
pub const MENU_INTERVAL: Duration = Duration::from_millis(500);
/// A progress bar needs no more ranges than this.
const MAX_BAR_RANGES: usize = 256;

/// An item as the window shows it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiItem {
    #[serde(flatten)]
    pub view: ItemView,
    /// Present byte ranges, `[start, end)`, for the progress bar.
    pub ranges: Vec<[u64; 2]>,
}

impl UiItem {
    pub fn new(view: ItemView, present: &RangeSet) -> Self {
        UiItem {
            ranges: bar_ranges(present),
            view,
        }
    }

    pub fn of(engine: &Engine, id: &str) -> Option<UiItem> {
        let view = engine.item(id).ok()?;
        let present = engine.present(id).unwrap_or_default();
        Some(UiItem::new(view, &present))
    }
}

/// The present ranges for a bar: as they are, or, if there are very many,
/// the first [`MAX_BAR_RANGES`] with the rest merged into the last one's
/// neighbours (a bar cannot show finer detail anyway).
pub fn bar_ranges(present: &RangeSet) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    let all: Vec<[u64; 2]> = present.iter().map(|r| [r.start, r.end]).collect();
    if all.len() <= MAX_BAR_RANGES {
        return all;
    }
    // Merge the smallest gaps until few enough remain.
    let mut gaps: Vec<u64> = all.windows(2).map(|w| w[1][0] - w[0][1]).collect();
    gaps.sort_unstable();
    let threshold = gaps[all.len() - MAX_BAR_RANGES];
    for range in all {
        match out.last_mut() {
            Some(last) if range[0] - last[1] <= threshold => last[1] = range[1],
            _ => out.push(range),
        }
    }
    out.truncate(MAX_BAR_RANGES);
    out
}

/// What the window receives, as one Tauri event with a `type` tag.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiEvent {
    /// A new item, or a changed one (state, failure, restart, pin): replace the row.
    Item {
        item: UiItem,
        /// Something to tell the user about the change, e.g. a restart's reason.
        note: Option<String>,
    },
    Progress {
        id: String,
        downloaded: u64,
        size: Option<u64>,
        rate: u64,
        ranges: Vec<[u64; 2]>,
    },
    Removed {
        id: String,
        reason: RemoveReason,
    },
    /// The item turned out to be a video's subtitle: it goes with its video
    /// and has no row of its own (an add announces it before its collection
    /// claims it).
    Unlisted {
        id: String,
    },
    /// Events were missed: re-read the whole list once.
    Resync,
    /// A player started and exited with an error at once.
    PlayerFailed {
        command: String,
        message: String,
    },
    /// Something the user asked for from outside the window failed.
    Error {
        message: String,
    },
    /// A browser extension asks to pair: show its origin and code, ask.
    Pairing {
        request: RequestView,
    },
    /// A URL arrived by a `spool:` link: confirm before adding it.
    Handoff {
        handoff: Handoff,
    },
}

/// What the forwarder asks for.
// A few of these live at a time (one engine event's worth), moved once:
// boxing the large variant would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Ui(UiEvent),
    Notify {
        summary: String,
        body: String,
    },
    RefreshMenu,
    /// Bring the window forward: the user must answer something.
    ShowWindow,
}

/// The item whose row an event would draw or change.
fn shown_item(event: &Event) -> Option<&str> {
    match event {
        Event::Added { item } => Some(&item.id),
        Event::Progress { id, .. } | Event::StateChanged { id, .. } | Event::Restarted { id, .. } => Some(id),
        Event::Removed { .. } | Event::PlayerFailed { .. } | Event::PairingRequested { .. } => None,
    }
}

/// Reads the current state of an item, for events that carry only an id.
pub trait Lookup {
    fn item(&self, id: &str) -> Option<UiItem>;
    /// A video's subtitle, which the window does not list.
    fn unlisted(&self, id: &str) -> bool;
}

impl Lookup for Engine {
    fn item(&self, id: &str) -> Option<UiItem> {
        UiItem::of(self, id)
    }

    fn unlisted(&self, id: &str) -> bool {
        self.is_subtitle(id)
    }
}

pub struct Forwarder {
    progress: Throttle<String, UiEvent>,
    menu: Throttle<(), ()>,
    /// Last known state per item: notifications fire on transitions only.
    states: HashMap<String, (ItemState, String)>,
}

impl Default for Forwarder {
    fn default() -> Self {
        Self::new()
    }
}

impl Forwarder {
    pub fn new() -> Self {
        Forwarder {
            progress: Throttle::new(PROGRESS_INTERVAL),
            menu: Throttle::new(MENU_INTERVAL),
            states: HashMap::new(),
        }
    }

    /// Remembers items that exist before the first event (no notification
    /// for an item that was already complete).
    pub fn know(&mut self, items: &[ItemView]) {
        for item in items {
            self.states
                .insert(item.id.clone(), (item.state, item.name.clone()));
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant, lookup: &dyn Lookup) -> Vec<Out> {
        let mut out = Vec::new();
        if let Some(id) = shown_item(&event).filter(|id| lookup.unlisted(id)) {
            // No row, progress or notification of its own; the window drops
            // the row its add drew, once.
            let id = id.to_string();
            self.progress.forget(&id);
            if self.states.remove(&id).is_some() {
                out.push(Out::Ui(UiEvent::Unlisted { id }));
            }
            return out;
        }
        match event {
            Event::Added { item } => {
                self.states
                    .insert(item.id.clone(), (item.state, item.name.clone()));
                let ui = lookup
                    .item(&item.id)
                    .unwrap_or_else(|| UiItem::new(item, &RangeSet::new()));
                out.push(Out::Ui(UiEvent::Item { item: ui, note: None }));
            }
            Event::Progress {
                id,
                downloaded,
                size,
                rate,
            } => self.on_progress(id, (downloaded, size, rate), now, lookup, &mut out),
            Event::StateChanged { id, state, error } => {
                self.on_state_changed(id, state, error, lookup, &mut out)
            }
            Event::Restarted { id, reason } => {
                self.progress.flush(&id);
                if let Some(item) = lookup.item(&id) {
                    out.push(Out::Ui(UiEvent::Item {
                        item,
                        note: Some(reason),
                    }));
                }
            }
            Event::Removed { id, reason } => {
                self.progress.forget(&id);
                self.states.remove(&id);
                out.push(Out::Ui(UiEvent::Removed { id, reason }));
            }
            Event::PlayerFailed { command, message } => {
                out.push(Out::Ui(UiEvent::PlayerFailed { command, message }));
            }
            Event::PairingRequested { request } => {
                out.push(Out::ShowWindow);
                out.push(Out::Ui(UiEvent::Pairing { request }));
            }
        }
        if self.menu.offer((), (), now).is_some() {
            out.push(Out::RefreshMenu);
        }
        out
    }

    /// A download's progress, throttled; it also shows a state change the
    /// engine did not announce (queued → downloading).
    fn on_progress(
        &mut self,
        id: String,
        (downloaded, size, rate): (u64, Option<u64>, u64),
        now: Instant,
        lookup: &dyn Lookup,
        out: &mut Vec<Out>,
    ) {
        let current = lookup.item(&id);
        if let Some(item) = &current {
            let known = self.states.get(&id).map(|(s, _)| *s);
            if known.is_some_and(|s| s != item.view.state) {
                self.transition(
                    &id,
                    item.view.state,
                    &item.view.name,
                    item.view.error.as_deref(),
                    out,
                );
                out.push(Out::Ui(UiEvent::Item {
                    item: item.clone(),
                    note: None,
                }));
            }
        }
        let ranges = current.map(|i| i.ranges).unwrap_or_default();
        let event = UiEvent::Progress {
            id: id.clone(),
            downloaded,
            size,
            rate,
            ranges,
        };
        if let Some(event) = self.progress.offer(id, event, now) {
            out.push(Out::Ui(event));
        }
    }

    /// A new state: the progress held back goes first, then the row.
    fn on_state_changed(
        &mut self,
        id: String,
        state: ItemState,
        error: Option<String>,
        lookup: &dyn Lookup,
        out: &mut Vec<Out>,
    ) {
        if let Some(pending) = self.progress.flush(&id) {
            out.push(Out::Ui(pending));
        }
        let item = lookup.item(&id);
        let name = item
            .as_ref()
            .map(|i| i.view.name.clone())
            .or_else(|| self.states.get(&id).map(|(_, n)| n.clone()))
            .unwrap_or_else(|| id.clone());
        self.transition(&id, state, &name, error.as_deref(), out);
        if let Some(item) = item {
            out.push(Out::Ui(UiEvent::Item { item, note: None }));
        }
    }

    /// Records `id`'s state; entering complete or failed asks for a notification.
    fn transition(
        &mut self,
        id: &str,
        state: ItemState,
        name: &str,
        error: Option<&str>,
        out: &mut Vec<Out>,
    ) {
        let before = self
            .states
            .insert(id.to_string(), (state, name.to_string()))
            .map(|(s, _)| s);
        if before == Some(state) {
            return;
        }
        match state {
            ItemState::Complete => out.push(Out::Notify {
                summary: "Download complete".to_string(),
                body: format!("{name} is cached and plays offline."),
            }),
            ItemState::Failed => out.push(Out::Notify {
                summary: "Download failed".to_string(),
                body: match error {
                    Some(e) => format!("{name}: {e}"),
                    None => name.to_string(),
                },
            }),
            _ => {}
        }
    }

    /// Events were missed (a lagging receiver): start over from the engine's
    /// `items`, as the window and menu do (an item removed meanwhile is
    /// forgotten; one that changed state meanwhile does not notify late).
    pub fn lagged(&mut self, items: &[ItemView]) -> Vec<Out> {
        self.states.clear();
        self.know(items);
        vec![Out::Ui(UiEvent::Resync), Out::RefreshMenu]
    }

    /// Held values that are due at `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<Out> {
        let mut out: Vec<Out> = self.progress.due(now).into_iter().map(Out::Ui).collect();
        if !self.menu.due(now).is_empty() {
            out.push(Out::RefreshMenu);
        }
        out
    }

    pub fn next_due(&self) -> Option<Instant> {
        match (self.progress.next_due(), self.menu.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Where the forwarder's decisions go (the Tauri app, or a test).
pub trait Outlet: Send + 'static {
    fn emit(&self, event: &UiEvent);
    fn notify(&self, summary: &str, body: &str);
    fn refresh_menu(&self);
    fn show_window(&self);
}

/// Forwards the engine's events until the engine's channel closes.
pub async fn run(engine: Engine, outlet: impl Outlet) {
    let mut rx = engine.subscribe();
    let mut forwarder = Forwarder::new();
    forwarder.know(&engine.items());
    loop {
        let due = forwarder.next_due();
        let outs = tokio::select! {
            received = rx.recv() => match received {
                Ok(event) => forwarder.handle(event, Instant::now(), &engine),
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!("UI forwarder missed {n} events");
                    forwarder.lagged(&engine.items())
                }
                Err(RecvError::Closed) => break,
            },
            () = sleep_until(due) => forwarder.tick(Instant::now()),
        };
        for out in outs {
            match out {
                Out::Ui(event) => outlet.emit(&event),
                Out::Notify { summary, body } => outlet.notify(&summary, &body),
                Out::RefreshMenu => outlet.refresh_menu(),
                Out::ShowWindow => outlet.show_window(),
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    impl Lookup for Fake {
        fn item(&self, id: &str) -> Option<UiItem> {
            let mut present = RangeSet::new();
            present.insert(0, 10);
            Some(UiItem::new(view(id, ItemState::Downloading), &present))
        }

        fn unlisted(&self, _id: &str) -> bool {
            false
        }
    }

    /// Items listed until a collection claims them as subtitles.
    struct Claimable(std::cell::Cell<bool>);

    impl Lookup for Claimable {
        fn item(&self, id: &str) -> Option<UiItem> {
            Fake.item(id)
        }

        fn unlisted(&self, _id: &str) -> bool {
            self.0.get()
        }
    }

    fn view(id: &str, state: ItemState) -> ItemView {
        ItemView {
            id: id.to_string(),
            source_url: "http://origin/film.mkv".to_string(),
            stream_url: "http://127.0.0.1:1/m/t/film.mkv".to_string(),
            name: "film.mkv".to_string(),
            size: Some(100),
            downloaded: 10,
            state,
            pinned: false,
            error: None,
            collection: None,
            playback: Default::default(),
        }
    }

    fn progress(id: &str, downloaded: u64) -> Event {
        Event::Progress {
            id: id.to_string(),
            downloaded,
            size: Some(100),
            rate: 5,
        }
    }

    fn state(id: &str, state: ItemState) -> Event {
        Event::StateChanged {
            id: id.to_string(),
            state,
            error: (state == ItemState::Failed).then(|| "origin answered 404 Not Found".to_string()),
        }
    }

    fn ui_progress(outs: &[Out]) -> Vec<u64> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Ui(UiEvent::Progress { downloaded, .. }) => Some(*downloaded),
                _ => None,
            })
            .collect()
    }

    fn notifications(outs: &[Out]) -> Vec<String> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Notify { summary, .. } => Some(summary.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn progress_is_throttled_per_item_and_the_last_value_arrives() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        let mut outs = Vec::new();
        for n in 0..50u64 {
            let now = t0 + Duration::from_millis(n);
            outs.extend(f.handle(progress("a", n), now, &Fake));
            outs.extend(f.handle(progress("b", n), now, &Fake));
        }
        assert_eq!(ui_progress(&outs), vec![0, 0], "one per item at first");
        assert_eq!(f.next_due(), Some(t0 + PROGRESS_INTERVAL));
        let later = f.tick(t0 + PROGRESS_INTERVAL);
        assert_eq!(ui_progress(&later), vec![49, 49], "the latest value of each");
    }

    #[test]
    fn a_subtitle_loses_its_row_once_its_collection_claims_it() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        let lookup = Claimable(std::cell::Cell::new(false));
        let added = Event::Added {
            item: view("s", ItemState::Queued),
        };
        let announced = f.handle(added, t0, &lookup);
        assert!(
            announced
                .iter()
                .any(|o| matches!(o, Out::Ui(UiEvent::Item { .. }))),
            "an add is shown before anything claims it: {announced:?}"
        );
        f.handle(progress("s", 1), t0, &lookup);

        lookup.0.set(true);
        let claimed = f.handle(state("s", ItemState::Downloading), t0, &lookup);
        assert_eq!(claimed, vec![Out::Ui(UiEvent::Unlisted { id: "s".to_string() })]);
        let mut later = f.handle(progress("s", 5), t0, &lookup);
        later.extend(f.handle(state("s", ItemState::Complete), t0, &lookup));
        later.extend(f.tick(t0 + Duration::from_secs(1)));
        assert!(
            later.iter().all(|o| matches!(o, Out::RefreshMenu)),
            "no progress, row or notification after: {later:?}"
        );
    }

    #[test]
    fn a_state_change_flushes_pending_progress_first() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.handle(progress("a", 1), t0, &Fake);
        f.handle(progress("a", 100), t0, &Fake);
        let outs = f.handle(state("a", ItemState::Complete), t0, &Fake);
        assert!(matches!(
            &outs[0],
            Out::Ui(UiEvent::Progress { downloaded: 100, .. })
        ));
        assert!(outs
            .iter()
            .any(|o| matches!(o, Out::Ui(UiEvent::Item { item, .. }) if item.ranges == vec![[0, 10]])));
        assert!(f
            .tick(t0 + Duration::from_secs(1))
            .iter()
            .all(|o| !matches!(o, Out::Ui(_))));
    }

    #[test]
    fn completion_and_failure_notify_once_per_transition() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.handle(
            Event::Added {
                item: view("a", ItemState::Queued),
            },
            t0,
            &Fake,
        );
        assert!(notifications(&f.handle(state("a", ItemState::Downloading), t0, &Fake)).is_empty());
        let done = f.handle(state("a", ItemState::Complete), t0, &Fake);
        assert_eq!(notifications(&done), vec!["Download complete"]);
        assert!(notifications(&f.handle(state("a", ItemState::Complete), t0, &Fake)).is_empty());
        let failed = f.handle(state("b", ItemState::Failed), t0, &Fake);
        assert_eq!(notifications(&failed), vec!["Download failed"]);
        assert!(failed
            .iter()
            .any(|o| matches!(o, Out::Notify { body, .. } if body.contains("404"))));
    }

    #[test]
    fn progress_reveals_a_state_change_the_engine_did_not_announce() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.handle(
            Event::Added {
                item: view("a", ItemState::Queued),
            },
            t0,
            &Fake,
        );
        let outs = f.handle(progress("a", 5), t0 + Duration::from_secs(1), &Fake);
        assert!(outs.iter().any(
            |o| matches!(o, Out::Ui(UiEvent::Item { item, .. }) if item.view.state == ItemState::Downloading)
        ));
        let again = f.handle(progress("a", 6), t0 + Duration::from_secs(2), &Fake);
        assert!(!again.iter().any(|o| matches!(o, Out::Ui(UiEvent::Item { .. }))));
    }

    #[test]
    fn after_missed_events_the_forwarder_starts_over_from_the_engine() {
        let mut f = Forwarder::new();
        let now = Instant::now();
        f.know(&[
            view("a", ItemState::Downloading),
            view("b", ItemState::Downloading),
        ]);
        // Missed: "a" completed, "b" was removed.
        f.lagged(&[view("a", ItemState::Complete)]);
        let outs = f.handle(state("a", ItemState::Complete), now, &Fake);
        assert!(notifications(&outs).is_empty(), "no late notification");
        assert!(!f.states.contains_key("b"), "a removed item is forgotten");
    }

    #[test]
    fn items_known_at_start_do_not_notify_again() {
        let mut f = Forwarder::new();
        f.know(&[view("a", ItemState::Complete)]);
        let outs = f.handle(state("a", ItemState::Complete), Instant::now(), &Fake);
        assert!(notifications(&outs).is_empty());
    }

    #[test]
    fn removal_drops_pending_progress() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.handle(progress("a", 1), t0, &Fake);
        f.handle(progress("a", 2), t0, &Fake);
        let outs = f.handle(
            Event::Removed {
                id: "a".to_string(),
                reason: RemoveReason::User,
            },
            t0,
            &Fake,
        );
        assert!(outs.contains(&Out::Ui(UiEvent::Removed {
            id: "a".to_string(),
            reason: RemoveReason::User
        })));
        assert!(ui_progress(&f.tick(t0 + Duration::from_secs(1))).is_empty());
    }

    #[test]
    fn the_menu_is_refreshed_at_most_twice_a_second_and_the_last_change_is_kept() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        let mut refreshes = 0;
        for n in 0..100u64 {
            let now = t0 + Duration::from_millis(n * 10);
            let outs = f.handle(progress("a", n), now, &Fake);
            refreshes += outs.iter().filter(|o| **o == Out::RefreshMenu).count();
            refreshes += f.tick(now).iter().filter(|o| **o == Out::RefreshMenu).count();
        }
        assert!(refreshes <= 3, "{refreshes} refreshes in one second");
        let last = f.tick(t0 + Duration::from_secs(2));
        assert!(last.contains(&Out::RefreshMenu));
    }

    #[test]
    fn ui_events_serialize_with_a_type_tag() {
        let json = serde_json::to_value(UiEvent::Progress {
            id: "a".to_string(),
            downloaded: 1,
            size: None,
            rate: 2,
            ranges: vec![[0, 1]],
        })
        .unwrap();
        assert_eq!(json["type"], "progress");
        assert_eq!(json["ranges"][0][1], 1);
        let item = UiItem::new(view("a", ItemState::Queued), &RangeSet::new());
        let json = serde_json::to_value(UiEvent::Item { item, note: None }).unwrap();
        assert_eq!(json["type"], "item");
        assert_eq!(json["item"]["state"], "queued", "the item view is flattened");
    }

    #[test]
    fn many_ranges_are_merged_for_the_bar() {
        let mut present = RangeSet::new();
        for n in 0..1000u64 {
            present.insert(n * 10, n * 10 + 5);
        }
        let bar = bar_ranges(&present);
        assert!(bar.len() <= MAX_BAR_RANGES);
        assert_eq!(bar[0][0], 0);
        assert_eq!(bar.last().map(|r| r[1]), Some(9995));
    }
}
