//! What the window's commands and the tray menu both do, in one place.
//! Every action takes item ids; paths are only ever built here from the
//! data directory.

use std::process::{Child, Command, Stdio};

use serde::Serialize;
use spool_engine::{ItemState, ItemView, PlayOptions};
use tauri::{AppHandle, Emitter, Manager};

use super::events::{UiEvent, UI_EVENT};
use super::settings::FieldError;
use super::{menu, notify, Desktop};

/// The one error shape the UI sees.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiError {
    pub code: String,
    pub message: String,
    /// For `invalid_settings`: which fields, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(test, ts(as = "Option<Vec<FieldError>>", optional))]
    pub fields: Vec<FieldError>,
    /// The existing item the error is about: for `matches_failed_item`, the
    /// failed item whose link the UI offers to refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub item: Option<String>,
}

impl UiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        UiError {
            code: code.to_string(),
            message: message.into(),
            fields: Vec::new(),
            item: None,
        }
    }
}

impl From<spool_engine::Error> for UiError {
    fn from(e: spool_engine::Error) -> Self {
        UiError {
            item: e.item().map(str::to_string),
            ..UiError::new(e.code(), e.to_string())
        }
    }
}

/// Starts the player for item `id` at its saved position (the engine
/// follows it and reports a player that fails at once); returns the command
/// that was run.
pub async fn play(app: &AppHandle, id: &str) -> Result<String, UiError> {
    play_with(app, id, false).await
}

/// [`play`], or from the beginning when `from_start`.
pub async fn play_with(app: &AppHandle, id: &str, from_start: bool) -> Result<String, UiError> {
    let engine = app.state::<Desktop>().engine.clone();
    let options = PlayOptions {
        from_start,
        ..PlayOptions::default()
    };
    let playing = engine.play(id, options).await?;
    Ok(playing.command)
}

/// `spool URL` and its forwarded form: add, then play; failures become a
/// notification (the window may not be open).
pub fn add_and_play(app: &AppHandle, url: String) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let engine = app.state::<Desktop>().engine.clone();
        let result = match engine.add(&url, &[]).await {
            Ok(item) => play(&app, &item.id).await,
            Err(e) => Err(UiError::from(e)),
        };
        if let Err(e) = result {
            tracing::warn!("cannot play {url}: {}", e.message);
            notify::show("Spool cannot play this", &e.message);
            let _ = app.emit(UI_EVENT, UiEvent::Error { message: e.message });
        }
    });
}

/// Tray "Add URL from clipboard": adds the clipboard's text if it is a URL.
pub fn add_from_clipboard(app: &AppHandle) {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    let text = app.clipboard().read_text().unwrap_or_default();
    let url = text.trim().to_string();
    if !url.contains("://") {
        notify::show("Nothing to add", "The clipboard holds no URL.");
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let engine = app.state::<Desktop>().engine.clone();
        match engine.add(&url, &[]).await {
            Ok(item) => notify::show("Added to Spool", &item.name),
            Err(e) => notify::show("Spool cannot add this URL", &e.to_string()),
        }
    });
}

/// Pauses every downloading item, or resumes every paused one.
pub async fn pause_or_resume_all(app: &AppHandle, pause: bool) {
    let engine = app.state::<Desktop>().engine.clone();
    for item in engine.items() {
        let result = match item.state {
            ItemState::Downloading | ItemState::Queued if pause => engine.pause(&item.id).await,
            ItemState::Paused if !pause => engine.resume(&item.id).await,
            _ => continue,
        };
        if let Err(e) = result {
            tracing::warn!("pause/resume {}: {e}", item.id);
        }
    }
}

/// Removes unpinned items that are not downloading; returns how many.
pub async fn clear_cache(app: &AppHandle) -> usize {
    clear(app, menu::clearable).await
}

/// Removes the watched items "Clear cache" would; returns how many.
pub async fn clear_watched(app: &AppHandle) -> usize {
    clear(app, menu::clearable_watched).await
}

async fn clear(app: &AppHandle, which: fn(&[ItemView]) -> Vec<&ItemView>) -> usize {
    let engine = app.state::<Desktop>().engine.clone();
    let items = engine.items();
    // Items a player is reading stay: removing them would cut it off.
    let ids: Vec<String> = which(&items)
        .iter()
        .map(|i| i.id.clone())
        .filter(|id| !engine.in_use(id))
        .collect();
    let mut removed = 0;
    for id in ids {
        match engine.remove(&id).await {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!("clear cache: {id}: {e}"),
        }
    }
    removed
}

/// Opens the data directory in the file manager.
pub fn open_cache_folder(app: &AppHandle) -> Result<(), UiError> {
    let dir = app.state::<Desktop>().data_dir.clone();
    spawn_detached("xdg-open", &[&dir])
        .map(|mut child| {
            std::thread::spawn(move || child.wait());
        })
        .map_err(|e| {
            UiError::new(
                "open_failed",
                format!("could not start `xdg-open {}`: {e}", dir.display()),
            )
        })
}

/// Starts `program` with no terminal attached (its output is not ours to show).
fn spawn_detached(program: &str, args: &[impl AsRef<std::ffi::OsStr>]) -> std::io::Result<Child> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Shuts the engine down (progress saved) and quits.
pub fn quit(app: &AppHandle) {
    app.exit(0);
}
