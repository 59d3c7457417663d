//! The desktop app: a Tauri shell around an in-process [`Engine`].
//!
//! One job per module: `settings` (saved preferences, validation), `throttle`
//! and `events` (engine events →
//! UI events and notifications), `menu` (tray labels as a pure function of
//! the items), `tray` (the tray icon itself, not compiled in tests),
//! `actions` (what commands and the tray menu both do), `commands` (thin
//! Tauri commands that take item ids, never paths), `notify`; `bindings`
//! (a test: the UI's TypeScript types are the ones the Rust types render).

pub mod actions;
#[cfg(test)]
mod bindings;
pub mod commands;
pub mod events;
pub mod handoff;
pub mod menu;
pub mod notify;
pub mod settings;
pub mod throttle;
#[cfg(not(test))]
mod tray;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use spool_engine::config::DEFAULT_PORT;
use spool_engine::store::Store;
use spool_engine::{Config, Engine};
use tauri::{AppHandle, Emitter, Manager, RunEvent};

use self::events::{Outlet, UiEvent, UI_EVENT};
use self::settings::Settings;

/// What every command and menu action reaches through `app.state()`.
pub struct Desktop {
    pub engine: Engine,
    pub data_dir: PathBuf,
    settings: Mutex<Settings>,
}

impl Desktop {
    pub fn settings(&self) -> MutexGuard<'_, Settings> {
        // A panic while holding the lock cannot leave `Settings` half-written
        // (it is replaced whole), so the value is still good.
        self.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error(transparent)]
    Engine(#[from] spool_engine::Error),
    #[error("cannot listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    #[error("no display (DISPLAY and WAYLAND_DISPLAY are unset): the desktop app needs a graphical session; `spool serve` runs the engine alone")]
    NoDisplay,
    #[error("the desktop app failed: {0}")]
    Tauri(#[from] tauri::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Starts the engine on the default port, or on a free one if another
/// program holds it (stream URLs then use that port until the next start).
async fn start_engine(data_dir: &Path, settings: &Settings) -> Result<Engine, DesktopError> {
    // Name the running engine (`spool serve` or another app) before trying its port.
    drop(Store::open(data_dir)?.lock()?);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", DEFAULT_PORT)).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!("port {DEFAULT_PORT} is busy ({e}); using a free port");
            tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(DesktopError::Listen)?
        }
    };
    let mut config = Config::new(data_dir);
    settings.configure(&mut config);
    let engine = Engine::start(config, listener).await?;
    // Validated when saved; a hand-edited one that does not parse is
    // reported at play time instead.
    if let Err(e) = engine.set_player_command(&settings.player_command) {
        tracing::warn!("the saved player command is not used: {e}");
    }
    Ok(engine)
}

/// The single-instance D-Bus name: one app per data directory, like the
/// engine's lock, so `spool --data-dir X` next to the default one is its own app.
pub fn instance_id(data_dir: &Path) -> String {
    // FNV-1a: stable across runs and Rust versions (unlike `DefaultHasher`).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in data_dir.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("org.spool.desktop.d{hash:016x}")
}

/// The first argument that is a URL or a `spool:` link (`spool URL`, as
/// forwarded by a second launch).
pub fn url_in_args(argv: &[String]) -> Option<String> {
    argv.iter()
        .skip(1)
        .find(|a| a.contains("://") || handoff::is_link(a))
        .cloned()
}

/// A URL from the command line is added and played (the user typed it); a
/// `spool:` link (any web page can open one) is shown for confirmation.
fn open_arg(app: &AppHandle, arg: String) {
    if handoff::is_link(&arg) {
        handoff::receive(app, &arg);
    } else {
        actions::add_and_play(app, arg);
    }
}

/// Emits to the window, notifies, relabels the tray.
struct AppOutlet(AppHandle);

impl Outlet for AppOutlet {
    fn emit(&self, event: &UiEvent) {
        if let Err(e) = self.0.emit(UI_EVENT, event) {
            tracing::warn!("cannot emit a UI event: {e}");
        }
    }

    fn notify(&self, summary: &str, body: &str) {
        let enabled = self.0.state::<Desktop>().settings().notifications;
        if enabled {
            notify::show(summary, body);
        }
    }

    fn refresh_menu(&self) {
        refresh_menu(&self.0);
    }

    fn show_window(&self) {
        show_window(&self.0);
    }
}

/// Relabels the tray menu from the engine's items.
pub fn refresh_menu(app: &AppHandle) {
    #[cfg(not(test))]
    tray::refresh(app);
    #[cfg(test)]
    let _ = app;
}

/// The window's label, in tauri.conf.json and its capability.
const MAIN_WINDOW: &str = "main";

/// Shows and focuses the main window, creating it again if it was closed.
pub fn show_window(app: &AppHandle) {
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => match open_window(app) {
            Ok(window) => window,
            Err(e) => {
                tracing::warn!("cannot open the window: {e}");
                notify::show("Spool cannot open its window", &e);
                return;
            }
        },
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}

/// A new main window from its tauri.conf.json entry. Its page loads the
/// current items itself, so it shows the present state at once.
fn open_window(app: &AppHandle) -> Result<tauri::WebviewWindow, String> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .cloned()
        .ok_or("tauri.conf.json has no main window")?;
    tauri::WebviewWindowBuilder::from_config(app, &config)
        .and_then(|builder| builder.build())
        .map_err(|e| e.to_string())
}

/// Whether a launch's arguments ask for the tray alone (`spool --tray`).
pub fn tray_only(argv: &[String]) -> bool {
    argv.iter().skip(1).any(|a| a == TRAY_FLAG)
}

/// The flag of `spool --tray`, which the autostart entry passes.
pub const TRAY_FLAG: &str = "--tray";

/// Runs the desktop app until Quit. `url`: add it and play it once started.
/// `tray`: start without the window (`spool --tray`, as at login).
pub fn run(data_dir: PathBuf, url: Option<String>, tray: bool) -> Result<(), DesktopError> {
    // GTK would panic without a display; say what to do instead.
    let has = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if !has("DISPLAY") && !has("WAYLAND_DISPLAY") {
        return Err(DesktopError::NoDisplay);
    }
    // The engine runs on Tauri's async runtime: make that the runtime
    // `spool serve` uses. Tauri's event loop ends the process, so it lives on.
    let runtime = spool_engine::runtime().map_err(DesktopError::Runtime)?;
    tauri::async_runtime::set(runtime.handle().clone());
    let setup_dir = data_dir.clone();
    let app = tauri::Builder::default()
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance_id(&data_dir))
                .callback(|app, argv, _cwd| match url_in_args(&argv) {
                    Some(url) => open_arg(app, url),
                    // A login's `spool --tray` finds the app already running:
                    // leave it as it is.
                    None if tray_only(&argv) => {}
                    None => show_window(app),
                })
                .build(),
        )
        .plugin(tauri_plugin_clipboard_manager::init())
        .invoke_handler(commands::handler())
        .setup(move |app| {
            let settings = settings::load(&setup_dir);
            let engine = match tauri::async_runtime::block_on(start_engine(&setup_dir, &settings)) {
                Ok(engine) => engine,
                Err(e) => {
                    // Tauri panics on a setup error; this is a plain runtime
                    // error (e.g. another engine owns the data dir): say so and
                    // exit 1 like the CLI. Nothing has started yet.
                    eprintln!("spool: {e}");
                    std::process::exit(1);
                }
            };
            let info = engine.info();
            tracing::info!(
                "spool desktop: engine on http://127.0.0.1:{}, data in {}",
                info.port,
                info.data_dir.display()
            );
            app.manage(handoff::Handoffs::default());
            app.manage(Desktop {
                engine: engine.clone(),
                data_dir: setup_dir.clone(),
                settings: Mutex::new(settings),
            });
            #[cfg(not(test))]
            tray::create(app.handle())?;
            // tauri.conf.json creates no window: here, unless in the tray alone.
            if !tray {
                show_window(app.handle());
            }
            tauri::async_runtime::spawn(events::run(engine, AppOutlet(app.handle().clone())));
            if let Some(url) = url.clone() {
                open_arg(app.handle(), url);
            }
            Ok(())
        })
        .build(tauri::generate_context!())?;
    // Closing the window destroys it with its webview (whose WebKit process
    // then ends): the app lives on in the tray at a fraction of the memory,
    // and "Open Spool" builds the window again. Quit is in the tray menu.
    app.run(|app, event| match event {
        // The last window closing does not quit: the tray stays.
        RunEvent::ExitRequested { api, code: None, .. } => api.prevent_exit(),
        RunEvent::Exit => {
            if let Some(desktop) = app.try_state::<Desktop>() {
                tauri::async_runtime::block_on(desktop.engine.shutdown());
            }
        }
        _ => {}
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_valid_dbus_names_and_differ_per_data_dir() {
        let a = instance_id(Path::new("/home/u/.local/share/spool"));
        let b = instance_id(Path::new("/tmp/other"));
        assert_ne!(a, b);
        assert_eq!(a, instance_id(Path::new("/home/u/.local/share/spool")));
        for element in a.split('.') {
            assert!(!element.is_empty());
            assert!(!element.starts_with(|c: char| c.is_ascii_digit()), "{a}");
            assert!(element.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }

    #[test]
    fn a_forwarded_url_is_found_among_the_arguments() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            url_in_args(&argv(&["spool", "--data-dir", "/d", "http://h/f.mkv"])),
            Some("http://h/f.mkv".to_string())
        );
        assert_eq!(url_in_args(&argv(&["spool"])), None);
        assert_eq!(
            url_in_args(&argv(&["spool", "spool:play?url=http%3A%2F%2Fh%2F"])),
            Some("spool:play?url=http%3A%2F%2Fh%2F".to_string())
        );
        assert_eq!(
            url_in_args(&argv(&["http://h/spool"])),
            None,
            "argv[0] is the program"
        );
    }

    #[test]
    fn a_launch_in_the_tray_is_told_by_its_flag() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(tray_only(&argv(&["spool", "--tray"])));
        assert!(tray_only(&argv(&[
            "/usr/bin/spool",
            "--data-dir",
            "/d",
            "--tray"
        ])));
        assert!(!tray_only(&argv(&["spool"])));
        assert!(!tray_only(&argv(&["--tray"])), "argv[0] is the program");
    }
}
