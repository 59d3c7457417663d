//! URLs handed to the app by `spool:` links (the first launch's argument, or
//! a second launch forwarded by the single-instance plugin).
//!
//! Any web page can open a `spool:` link, so nothing is added on its say-so:
//! the window comes forward with the URL, its host and (from a HEAD probe)
//! its size, and the user picks Play, Download or Cancel. A refused link is
//! shown with the reason and nothing else happens.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spool_engine::link::{self, LinkAction};
use tauri::{AppHandle, Emitter, Manager};

use super::actions::{self, UiError};
use super::events::{UiEvent, UI_EVENT};
use super::{show_window, Desktop};

/// Links waiting for an answer; older ones are dropped beyond this (a page
/// that opens links in a loop cannot pile up dialogs).
const MAX_PENDING: usize = 8;
/// The size probe gives up after this long (the dialog shows "size unknown").
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest link text shown back to the user.
const MAX_SHOWN: usize = 300;

/// A link as the window shows it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    pub id: String,
    /// The link as received (shortened), for a refused one.
    pub link: String,
    /// What the link asked for; the user decides.
    pub action: Option<LinkAction>,
    pub url: Option<String>,
    pub host: Option<String>,
    /// From the HEAD probe; `None` until it answers, or if it cannot say.
    pub size: Option<u64>,
    /// Why the link was refused (then `action` and `url` are `None`).
    pub refused: Option<String>,
}

/// The user's answer.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Play,
    Download,
    Cancel,
}

/// Links waiting for the user (app state).
#[derive(Default)]
pub struct Handoffs(Mutex<Vec<Handoff>>);

impl Handoffs {
    fn lock(&self) -> MutexGuard<'_, Vec<Handoff>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn pending(&self) -> Vec<Handoff> {
        self.lock().clone()
    }

    fn push(&self, handoff: Handoff) {
        let mut pending = self.lock();
        pending.push(handoff);
        let excess = pending.len().saturating_sub(MAX_PENDING);
        pending.drain(..excess);
    }

    fn take(&self, id: &str) -> Option<Handoff> {
        let mut pending = self.lock();
        let index = pending.iter().position(|h| h.id == id)?;
        Some(pending.remove(index))
    }

    fn set_size(&self, id: &str, size: Option<u64>) -> Option<Handoff> {
        let mut pending = self.lock();
        let handoff = pending.iter_mut().find(|h| h.id == id)?;
        handoff.size = size;
        Some(handoff.clone())
    }
}

/// Whether a launch argument is a `spool:` link (rather than a plain URL).
pub fn is_link(arg: &str) -> bool {
    arg.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("spool:"))
}

/// What the window shows for `text` (pure).
pub fn describe(text: &str, id: String) -> Handoff {
    let shown: String = text.chars().take(MAX_SHOWN).collect();
    match link::parse(text) {
        Ok(link) => Handoff {
            id,
            link: shown,
            action: Some(link.action),
            host: reqwest::Url::parse(&link.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string)),
            url: Some(link.url),
            size: None,
            refused: None,
        },
        Err(e) => Handoff {
            id,
            link: shown,
            action: None,
            url: None,
            host: None,
            size: None,
            refused: Some(format!("Spool refused this link: {e}. Nothing was added.")),
        },
    }
}

/// The size a HEAD answer gives: its `Content-Length` on a 2xx.
pub fn size_of(status: reqwest::StatusCode, content_length: Option<&str>) -> Option<u64> {
    if !status.is_success() {
        return None;
    }
    content_length?.trim().parse().ok()
}

/// A link arrived: show it, then probe its size.
pub fn receive(app: &AppHandle, text: &str) {
    let handoff = describe(text, spool_engine::token::item_id());
    match &handoff.refused {
        Some(why) => tracing::warn!("{why}"),
        None => tracing::info!("a spool: link asks for {:?}", handoff.url),
    }
    app.state::<Handoffs>().push(handoff.clone());
    show_window(app);
    emit(app, &handoff);
    if let Some(url) = handoff.url.clone() {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let size = probe(&url).await;
            if let Some(updated) = app.state::<Handoffs>().set_size(&handoff.id, size) {
                emit(&app, &updated);
            }
        });
    }
}

fn emit(app: &AppHandle, handoff: &Handoff) {
    let event = UiEvent::Handoff {
        handoff: handoff.clone(),
    };
    if let Err(e) = app.emit(UI_EVENT, event) {
        tracing::warn!("cannot emit a UI event: {e}");
    }
}

/// HEAD without the user's headers or cookies: only the length is learnt.
async fn probe(url: &str) -> Option<u64> {
    let client = reqwest::Client::builder().timeout(PROBE_TIMEOUT).build().ok()?;
    let response = client.head(url).send().await.ok()?;
    let length = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    size_of(response.status(), length)
}

/// The user answered: add (and play), or forget the link.
pub async fn answer(app: &AppHandle, id: &str, choice: Choice) -> Result<Option<String>, UiError> {
    let handoff = app
        .state::<Handoffs>()
        .take(id)
        .ok_or_else(|| UiError::new("not_found", "this link was answered already"))?;
    let Some(url) = handoff.url else {
        return Ok(None);
    };
    if choice == Choice::Cancel {
        return Ok(None);
    }
    let engine = app.state::<Desktop>().engine.clone();
    let item = engine.add(&url, &[]).await?;
    if choice == Choice::Play {
        return actions::play(app, &item.id).await.map(Some);
    }
    Ok(Some(item.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_described_or_refused() {
        let ok = describe(
            "spool:play?url=https%3A%2F%2Fmedia.example%3A8443%2Fa.mkv",
            "1".into(),
        );
        assert_eq!(ok.action, Some(LinkAction::Play));
        assert_eq!(ok.url.as_deref(), Some("https://media.example:8443/a.mkv"));
        assert_eq!(ok.host.as_deref(), Some("media.example"));
        assert_eq!(ok.refused, None);
        for bad in [
            "spool:play?url=file%3A%2F%2F%2Fetc%2Fpasswd",
            "spool:play?url=javascript%3Aalert(1)",
            "spool:play?url=http%3A%2F%2Fh%2F&player=sh",
        ] {
            let refused = describe(bad, "2".into());
            assert_eq!((refused.action, refused.url.as_deref()), (None, None), "{bad}");
            assert!(refused.refused.unwrap().contains("Nothing was added"), "{bad}");
        }
        let long = describe(&format!("spool:x{}", "a".repeat(1000)), "3".into());
        assert_eq!(long.link.chars().count(), MAX_SHOWN);
    }

    #[test]
    fn sizes_come_from_successful_heads_only() {
        use reqwest::StatusCode;
        assert_eq!(size_of(StatusCode::OK, Some("1234")), Some(1234));
        assert_eq!(size_of(StatusCode::OK, Some(" 5 ")), Some(5));
        assert_eq!(size_of(StatusCode::OK, None), None);
        assert_eq!(size_of(StatusCode::OK, Some("-1")), None);
        assert_eq!(size_of(StatusCode::NOT_FOUND, Some("10")), None);
    }

    #[test]
    fn only_spool_links_are_links() {
        assert!(is_link("spool:play?url=x"));
        assert!(is_link("SPOOL:add?url=x"));
        assert!(!is_link("http://h/spool:"));
        assert!(!is_link("spoo"));
    }

    #[test]
    fn pending_links_are_bounded_and_answered_once() {
        let handoffs = Handoffs::default();
        for i in 0..MAX_PENDING + 2 {
            handoffs.push(describe("spool:add?url=http%3A%2F%2Fh%2F", i.to_string()));
        }
        let pending = handoffs.pending();
        assert_eq!(pending.len(), MAX_PENDING);
        assert_eq!(pending[0].id, "2", "the oldest are dropped");
        assert!(handoffs.take("5").is_some());
        assert!(handoffs.take("5").is_none());
    }
}
