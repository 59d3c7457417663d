//! The window's commands. Thin: each takes item ids (never paths), calls the
//! engine or an action, and returns data or a `{code, message}` error.

use serde::Serialize;
use tauri::{AppHandle, State};

use super::actions::{self, UiError};
use super::events::UiItem;
use super::handoff::{self, Choice, Handoff, Handoffs};
use super::settings::{self, SettingsForm};
use super::Desktop;
use spool_engine::pairing::PairingsView;
use spool_engine::CollectionView;

type CommandResult<T> = Result<T, UiError>;

/// Every command the UI may invoke.
pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        list_items,
        add_item,
        relink_item,
        play_item,
        pause_item,
        resume_item,
        pin_item,
        remove_item,
        front_item,
        list_collections,
        collection_action,
        copy_stream_url,
        get_settings,
        save_settings,
        open_cache_folder,
        pending_handoffs,
        answer_handoff,
        list_pairings,
        answer_pairing,
        unpair,
    ]
}

fn ui_item(desktop: &Desktop, id: &str) -> CommandResult<UiItem> {
    UiItem::of(&desktop.engine, id).ok_or_else(|| UiError::new("not_found", format!("no item {id}")))
}

#[tauri::command]
fn list_items(desktop: State<'_, Desktop>) -> Vec<UiItem> {
    let engine = &desktop.engine;
    engine
        .items()
        .into_iter()
        .map(|view| {
            let present = engine.present(&view.id).unwrap_or_default();
            UiItem::new(view, &present)
        })
        .collect()
}

/// `headers`: one `Name: value` per line; blank lines are ignored.
/// `new_copy`: add the file even if it is a failed item's (else the error
/// `matches_failed_item` names that item, for "Refresh link").
/// `recursive`: a directory listing's sub-folders too, one level down.
#[tauri::command]
async fn add_item(
    desktop: State<'_, Desktop>,
    url: String,
    headers: String,
    new_copy: bool,
    recursive: bool,
) -> CommandResult<UiItem> {
    let headers: Vec<String> = headers
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let options = spool_engine::AddOptions { new_copy, recursive };
    // A listing or playlist adds a collection: its items arrive as events;
    // the first one is returned.
    let id = match desktop.engine.add_any(url.trim(), &headers, options).await? {
        spool_engine::Added::Item(view) => view.id,
        spool_engine::Added::Collection(added) => match added.items.first() {
            Some(first) => first.id.clone(),
            None => return Err(UiError::new("bad_listing", "the listing names no media files")),
        },
    };
    ui_item(&desktop, &id)
}

/// "Refresh link": a new URL for the same file (see `Engine::relink`).
#[tauri::command]
async fn relink_item(desktop: State<'_, Desktop>, id: String, url: String) -> CommandResult<UiItem> {
    desktop.engine.relink(&id, url.trim()).await?;
    ui_item(&desktop, &id)
}

/// Returns the command that was started, for the UI to show. At the saved
/// position unless `from_start`.
#[tauri::command]
async fn play_item(app: AppHandle, id: String, from_start: Option<bool>) -> CommandResult<String> {
    actions::play_with(&app, &id, from_start.unwrap_or(false)).await
}

#[tauri::command]
async fn pause_item(desktop: State<'_, Desktop>, id: String) -> CommandResult<UiItem> {
    desktop.engine.pause(&id).await?;
    ui_item(&desktop, &id)
}

#[tauri::command]
async fn resume_item(desktop: State<'_, Desktop>, id: String) -> CommandResult<UiItem> {
    desktop.engine.resume(&id).await?;
    ui_item(&desktop, &id)
}

#[tauri::command]
async fn pin_item(desktop: State<'_, Desktop>, id: String, pinned: bool) -> CommandResult<UiItem> {
    desktop.engine.set_pinned(&id, pinned).await?;
    ui_item(&desktop, &id)
}

#[tauri::command]
async fn remove_item(desktop: State<'_, Desktop>, id: String) -> CommandResult<()> {
    Ok(desktop.engine.remove_with_subtitles(&id).await?)
}

/// "Download next": the item goes ahead of every other queued item.
#[tauri::command]
async fn front_item(desktop: State<'_, Desktop>, id: String) -> CommandResult<UiItem> {
    desktop.engine.move_to_front(&id).await?;
    ui_item(&desktop, &id)
}

#[tauri::command]
fn list_collections(desktop: State<'_, Desktop>) -> Vec<CollectionView> {
    desktop.engine.collections()
}

/// `action`: `pause`, `resume`, `pin`, `unpin` or `remove`, on every member.
#[tauri::command]
async fn collection_action(desktop: State<'_, Desktop>, id: String, action: String) -> CommandResult<()> {
    let engine = &desktop.engine;
    match action.as_str() {
        "pause" => engine.pause_collection(&id).await.map(drop)?,
        "resume" => engine.resume_collection(&id).await.map(drop)?,
        "pin" => engine.set_collection_pinned(&id, true).await.map(drop)?,
        "unpin" => engine.set_collection_pinned(&id, false).await.map(drop)?,
        "remove" => engine.remove_collection(&id).await?,
        _ => {
            return Err(UiError::new(
                "not_found",
                format!("no collection action {action}"),
            ))
        }
    }
    Ok(())
}

/// Puts the item's stream URL on the clipboard and returns it.
#[tauri::command]
fn copy_stream_url(app: AppHandle, desktop: State<'_, Desktop>, id: String) -> CommandResult<String> {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    let url = desktop.engine.item(&id)?.stream_url;
    app.clipboard()
        .write_text(url.clone())
        .map_err(|e| UiError::new("clipboard", format!("cannot use the clipboard: {e}")))?;
    Ok(url)
}

/// The settings form plus what the window shows beside it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Serialize)]
pub(super) struct SettingsView {
    form: SettingsForm,
    /// Where the cache lives (shown, not editable: `--data-dir` / `SPOOL_DATA_DIR`).
    cache_dir: String,
    port: u16,
}

fn settings_view(desktop: &Desktop) -> SettingsView {
    SettingsView {
        form: desktop.settings().to_form(),
        cache_dir: desktop.data_dir.display().to_string(),
        port: desktop.engine.info().port,
    }
}

#[tauri::command]
fn get_settings(desktop: State<'_, Desktop>) -> SettingsView {
    settings_view(&desktop)
}

/// Validates, applies at once (limits, autostart) and saves.
#[tauri::command]
fn save_settings(
    app: AppHandle,
    desktop: State<'_, Desktop>,
    form: SettingsForm,
) -> CommandResult<SettingsView> {
    let new = settings::validate(&form).map_err(|fields| UiError {
        fields,
        ..UiError::new("invalid_settings", "some settings are not valid")
    })?;
    let old = desktop.settings().clone();
    if new.start_at_login != old.start_at_login {
        settings::apply_autostart(new.start_at_login)
            .map_err(|e| UiError::new("autostart", format!("cannot change start at login: {e}")))?;
    }
    desktop.engine.set_limits(new.limits(desktop.engine.limits()));
    desktop.engine.set_player_command(&new.player_command)?;
    settings::save(&desktop.data_dir, &new)
        .map_err(|e| UiError::new("io", format!("cannot save the settings: {e}")))?;
    *desktop.settings() = new;
    super::refresh_menu(&app);
    Ok(settings_view(&desktop))
}

#[tauri::command]
fn open_cache_folder(app: AppHandle) -> CommandResult<()> {
    actions::open_cache_folder(&app)
}

/// `spool:` links waiting for the user's answer (the window reads them at
/// start; later ones arrive as `handoff` events).
#[tauri::command]
fn pending_handoffs(handoffs: State<'_, Handoffs>) -> Vec<Handoff> {
    handoffs.pending()
}

/// The user's answer to a `spool:` link: for Play, the command started; for
/// Download, the item's id; for Cancel, nothing.
#[tauri::command]
async fn answer_handoff(app: AppHandle, id: String, choice: Choice) -> CommandResult<Option<String>> {
    handoff::answer(&app, &id, choice).await
}

/// Browser extensions asking to pair, and those paired.
#[tauri::command]
fn list_pairings(desktop: State<'_, Desktop>) -> PairingsView {
    desktop.engine.pairings()
}

/// The user confirms (or refuses) an extension's pairing request.
#[tauri::command]
fn answer_pairing(
    desktop: State<'_, Desktop>,
    request: String,
    confirm: bool,
) -> CommandResult<PairingsView> {
    if confirm {
        desktop.engine.confirm_pairing(&request)?;
    } else {
        desktop.engine.refuse_pairing(&request)?;
    }
    Ok(desktop.engine.pairings())
}

/// Forgets a paired extension: its token stops working.
#[tauri::command]
fn unpair(desktop: State<'_, Desktop>, id: String) -> CommandResult<PairingsView> {
    desktop.engine.unpair(&id)?;
    Ok(desktop.engine.pairings())
}
