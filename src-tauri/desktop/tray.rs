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
const CLEAR_WATCHED: &str = "clear_watched";
const OPEN_FOLDER: &str = "open_folder";
const QUIT: &str = "quit";
/// Prefix of a recent item's menu id; the item id follows.
const RECENT: &str = "recent:";
/// Prefix of an unfinished item's menu id ("Continue watching").
const CONTINUE: &str = "continue:";

/// Handles kept to relabel the menu later.
struct Tray {
    _icon: TrayIcon,
    status: MenuItem<Wry>,
    pause_all: MenuItem<Wry>,
    resume_all: MenuItem<Wry>,
    clear_cache: MenuItem<Wry>,
    clear_watched: MenuItem<Wry>,
    recent: Listed,
    continue_watching: Listed,
}

/// A submenu of items, and the entries now in it with their item ids.
struct Listed {
    menu: Submenu<Wry>,
    entries: Mutex<Vec<(String, MenuItem<Wry>)>>,
    /// Menu id prefix of its entries.
    prefix: &'static str,
    /// The disabled entry shown when it is empty.
    empty: &'static str,
}

impl Listed {
    fn new(menu: Submenu<Wry>, prefix: &'static str, empty: &'static str) -> Listed {
        Listed {
            menu,
            entries: Mutex::new(Vec::new()),
            prefix,
            empty,
        }
    }
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let item =
        |id: &str, label: &str, enabled: bool| MenuItem::with_id(app, id, label, enabled, None::<&str>);
    let status = item("status", "Starting…", false)?;
    let open = item(OPEN, "Open Spool", true)?;
    let add = item(ADD_CLIPBOARD, "Add URL from clipboard", true)?;
    let recent = Submenu::with_id(app, "recent", "Recent items", true)?;
    let continue_watching = Submenu::with_id(app, "continue", "Continue watching", true)?;
    let pause_all = item(PAUSE_ALL, "Pause all", false)?;
    let resume_all = item(RESUME_ALL, "Resume all", false)?;
    let clear_watched = item(CLEAR_WATCHED, "Clear watched", false)?;
    let clear_cache = item(CLEAR_CACHE, "Clear cache", false)?;
    let folder = item(OPEN_FOLDER, "Open cache folder", true)?;
    let quit = item(QUIT, "Quit Spool", true)?;
    let (sep1, sep2, sep3) = (
        PredefinedMenuItem::separator(app)?,
        PredefinedMenuItem::separator(app)?,
        PredefinedMenuItem::separator(app)?,
    );
    let entries: [&dyn IsMenuItem<Wry>; 14] = [
        &status,
        &sep1,
        &open,
        &add,
        &continue_watching,
        &recent,
        &sep2,
        &pause_all,
        &resume_all,
        &clear_watched,
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
        clear_watched,
        recent: Listed::new(recent, RECENT, "No items yet"),
        continue_watching: Listed::new(continue_watching, CONTINUE, "Nothing unfinished"),
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
        CLEAR_CACHE | CLEAR_WATCHED => {
            let app = app.clone();
            let watched_only = id == CLEAR_WATCHED;
            tauri::async_runtime::spawn(async move {
                let n = if watched_only {
                    actions::clear_watched(&app).await
                } else {
                    actions::clear_cache(&app).await
                };
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
            let item = other
                .strip_prefix(RECENT)
                .or_else(|| other.strip_prefix(CONTINUE));
            if let Some(item) = item {
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
        (&tray.clear_watched, &model.clear_watched),
    ] {
        handle.set_text(&entry.label)?;
        handle.set_enabled(entry.enabled)?;
    }
    fill(app, &tray.recent, &model.recent)?;
    fill(app, &tray.continue_watching, &model.continue_watching)
}

/// Puts `items` (item id, label) in a submenu.
fn fill(app: &AppHandle, listed: &Listed, items: &[(String, String)]) -> tauri::Result<()> {
    let mut entries = listed.entries.lock().unwrap_or_else(PoisonError::into_inner);
    let same_items = entries.len() == items.len() && entries.iter().zip(items).all(|((a, _), (b, _))| a == b);
    if same_items {
        for ((_, handle), (_, label)) in entries.iter().zip(items) {
            handle.set_text(label)?;
        }
        return Ok(());
    }
    // Entries are added and removed in place (never `set_menu`, which Linux
    // trays do not follow).
    entries.clear();
    for stale in listed.menu.items()? {
        listed.menu.remove(&stale)?;
    }
    if items.is_empty() {
        // Not under the prefix: it names no item.
        let id = format!("{}-none", listed.prefix.trim_end_matches(':'));
        let none = MenuItem::with_id(app, id, listed.empty, false, None::<&str>)?;
        listed.menu.append(&none)?;
        return Ok(());
    }
    for (id, label) in items {
        let handle = MenuItem::with_id(app, format!("{}{id}", listed.prefix), label, true, None::<&str>)?;
        listed.menu.append(&handle)?;
        entries.push((id.clone(), handle));
    }
    Ok(())
}
