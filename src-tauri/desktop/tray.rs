//! The tray icon and its menu. Linux trays deliver no clicks and no tooltips,
//! so every action is a menu entry; labels are updated in place from
//! [`menu::model`] (the menu is never replaced). Not compiled in tests: a tray
//! cannot exist under Tauri's mock runtime.

use std::sync::{Mutex, PoisonError};

use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

use super::{actions, menu, show_window, Desktop};

const OPEN: &str = "open";
const ADD_CLIPBOARD: &str = "add_clipboard";
const PAUSE_ALL: &str = "pause_all";
const RESUME_ALL: &str = "resume_all";
const CLEAR_CACHE: &str = "clear_cache";
const OPEN_FOLDER: &str = "open_folder";
const QUIT: &str = "quit";
/// Prefix of a recent item's menu id; the item id follows.
const RECENT: &str = "recent:";

/// Handles kept to relabel the menu later.
struct Tray {
    _icon: TrayIcon,
    status: MenuItem<Wry>,
    pause_all: MenuItem<Wry>,
    resume_all: MenuItem<Wry>,
    clear_cache: MenuItem<Wry>,
    recent: Submenu<Wry>,
    /// The recent entries now in the submenu, with their item ids.
    recent_entries: Mutex<Vec<(String, MenuItem<Wry>)>>,
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let item =
        |id: &str, label: &str, enabled: bool| MenuItem::with_id(app, id, label, enabled, None::<&str>);
    let status = item("status", "Starting…", false)?;
    let open = item(OPEN, "Open Spool", true)?;
    let add = item(ADD_CLIPBOARD, "Add URL from clipboard", true)?;
    let recent = Submenu::with_id(app, "recent", "Recent items", true)?;
    let pause_all = item(PAUSE_ALL, "Pause all", false)?;
    let resume_all = item(RESUME_ALL, "Resume all", false)?;
    let clear_cache = item(CLEAR_CACHE, "Clear cache", false)?;
    let folder = item(OPEN_FOLDER, "Open cache folder", true)?;
    let quit = item(QUIT, "Quit Spool", true)?;
    let (sep1, sep2, sep3) = (
        PredefinedMenuItem::separator(app)?,
        PredefinedMenuItem::separator(app)?,
        PredefinedMenuItem::separator(app)?,
    );
    let entries: [&dyn IsMenuItem<Wry>; 12] = [
        &status,
        &sep1,
        &open,
        &add,
        &recent,
        &sep2,
        &pause_all,
        &resume_all,
        &clear_cache,
        &folder,
        &sep3,
        &quit,
    ];
    let menu = Menu::with_items(app, &entries)?;
    let mut builder = TrayIconBuilder::with_id("spool")
        .menu(&menu)
        .tooltip("Spool")
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()));
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    let icon = builder.build(app)?;
    app.manage(Tray {
        _icon: icon,
        status,
        pause_all,
        resume_all,
        clear_cache,
        recent,
        recent_entries: Mutex::new(Vec::new()),
    });
    refresh(app);
    Ok(())
}

fn on_menu(app: &AppHandle, id: &str) {
    match id {
        OPEN => show_window(app),
        ADD_CLIPBOARD => actions::add_from_clipboard(app),
        PAUSE_ALL | RESUME_ALL => {
            let app = app.clone();
            let pause = id == PAUSE_ALL;
            tauri::async_runtime::spawn(async move { actions::pause_or_resume_all(&app, pause).await });
        }
        CLEAR_CACHE => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let n = actions::clear_cache(&app).await;
                tracing::info!("cleared {n} items");
            });
        }
        OPEN_FOLDER => {
            if let Err(e) = actions::open_cache_folder(app) {
                super::notify::show("Spool", &e.message);
            }
        }
        QUIT => actions::quit(app),
        other => {
            if let Some(item) = other.strip_prefix(RECENT) {
                let (app, item) = (app.clone(), item.to_string());
                tauri::async_runtime::spawn(async move {
                    if let Err(e) = actions::play(&app, &item).await {
                        super::notify::show("Spool cannot play this", &e.message);
                    }
                });
            }
        }
    }
}

/// Relabels the menu from the engine's current items.
pub fn refresh(app: &AppHandle) {
    let (Some(tray), Some(desktop)) = (app.try_state::<Tray>(), app.try_state::<Desktop>()) else {
        return;
    };
    let model = menu::model(&desktop.engine.items());
    if let Err(e) = apply(app, &tray, &model) {
        tracing::warn!("cannot update the tray menu: {e}");
    }
}

fn apply(app: &AppHandle, tray: &Tray, model: &menu::MenuModel) -> tauri::Result<()> {
    tray.status.set_text(&model.status)?;
    for (handle, entry) in [
        (&tray.pause_all, &model.pause_all),
        (&tray.resume_all, &model.resume_all),
        (&tray.clear_cache, &model.clear_cache),
    ] {
        handle.set_text(&entry.label)?;
        handle.set_enabled(entry.enabled)?;
    }
    let mut entries = tray.recent_entries.lock().unwrap_or_else(PoisonError::into_inner);
    let same_items = entries.len() == model.recent.len()
        && entries.iter().zip(&model.recent).all(|((a, _), (b, _))| a == b);
    if same_items {
        for ((_, handle), (_, label)) in entries.iter().zip(&model.recent) {
            handle.set_text(label)?;
        }
        return Ok(());
    }
    // Entries are added and removed in place (never `set_menu`, which Linux
    // trays do not follow).
    entries.clear();
    for stale in tray.recent.items()? {
        tray.recent.remove(&stale)?;
    }
    if model.recent.is_empty() {
        let none = MenuItem::with_id(app, "recent-none", "No items yet", false, None::<&str>)?;
        tray.recent.append(&none)?;
        return Ok(());
    }
    for (id, label) in &model.recent {
        let handle = MenuItem::with_id(app, format!("{RECENT}{id}"), label, true, None::<&str>)?;
        tray.recent.append(&handle)?;
        entries.push((id.clone(), handle));
    }
    Ok(())
}
