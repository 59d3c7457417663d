//! The desktop's settings: what the user can change in the window, how a form
//! is validated into values, and how they are saved (JSON in the data dir).
//!
//! Validation is pure and table-tested. Limits apply to the running engine at
//! once (`Engine::set_limits`); nothing here needs a restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spool_engine::size::{format_size, parse_size};
use spool_engine::{Config, Limits};

/// File name of the saved settings, inside the data directory.
pub const FILE_NAME: &str = "desktop-settings.json";

/// Bounds that keep a typo from making the cache useless.
pub const MIN_CACHE_CAP: u64 = 16 << 20;
pub const MAX_CONNECTIONS: usize = 16;
pub const MAX_ACTIVE: usize = 64;
pub const MIN_RATE_LIMIT: u64 = 16 << 10;
/// Longest wait before watched items are removed, in days.
pub const MAX_WATCHED_DAYS: u32 = 3650;

/// Saved, validated settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Largest size of the cache, bytes.
    pub cache_cap: u64,
    /// The player to start; empty: the first known player found.
    pub player_command: String,
    /// Origin connections one item may use at once.
    pub connections_per_item: usize,
    /// Bytes per second for all downloads; `None`: unlimited.
    pub rate_limit: Option<u64>,
    /// Items downloading at once ("Downloads at once"); the rest are queued.
    pub max_active: usize,
    /// Desktop notifications when a download completes or fails.
    pub notifications: bool,
    /// Start Spool (in the tray) when the user logs in.
    pub start_at_login: bool,
    /// Watched items are removed this many days after they were watched
    /// (pinned ones are kept); `None`: never.
    pub remove_watched_after_days: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        let config = Config::new(PathBuf::new());
        Settings {
            cache_cap: config.cache_cap,
            player_command: String::new(),
            connections_per_item: config.connections_per_item,
            rate_limit: config.rate_limit,
            max_active: config.max_active,
            notifications: true,
            start_at_login: false,
            remove_watched_after_days: config.remove_watched_after_days,
        }
    }
}

/// The settings as the window's form shows and sends them: sizes as text.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsForm {
    pub cache_cap: String,
    pub player_command: String,
    pub connections_per_item: String,
    /// Empty (or `0`): unlimited; else a size per second, e.g. `2MiB`.
    pub rate_limit: String,
    pub max_active: String,
    pub notifications: bool,
    pub start_at_login: bool,
    /// Empty: never; else whole days after an item was watched.
    pub remove_watched_after_days: String,
}

/// One invalid field of a form, for the UI to show beside it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl Settings {
    /// The form that shows these settings.
    pub fn to_form(&self) -> SettingsForm {
        SettingsForm {
            cache_cap: format_size(self.cache_cap),
            player_command: self.player_command.clone(),
            connections_per_item: self.connections_per_item.to_string(),
            rate_limit: self.rate_limit.map(format_size).unwrap_or_default(),
            max_active: self.max_active.to_string(),
            notifications: self.notifications,
            start_at_login: self.start_at_login,
            remove_watched_after_days: self
                .remove_watched_after_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
        }
    }

    /// The engine limits these settings ask for; `min_free` is kept.
    pub fn limits(&self, current: Limits) -> Limits {
        Limits {
            cache_cap: self.cache_cap,
            min_free: current.min_free,
            connections_per_item: self.connections_per_item,
            rate_limit: self.rate_limit,
            max_active: self.max_active,
            remove_watched_after_days: self.remove_watched_after_days,
        }
    }

    /// Applies these settings to an engine configuration before it starts.
    pub fn configure(&self, config: &mut Config) {
        config.cache_cap = self.cache_cap;
        config.connections_per_item = self.connections_per_item;
        config.rate_limit = self.rate_limit;
        config.max_active = self.max_active;
        config.remove_watched_after_days = self.remove_watched_after_days;
    }
}

/// Validates a form into settings, or lists every invalid field.
pub fn validate(form: &SettingsForm) -> Result<Settings, Vec<FieldError>> {
    let mut errors = Vec::new();
    let cache_cap = checked(&mut errors, "cache_cap", cache_cap(&form.cache_cap));
    let connections_per_item = checked(
        &mut errors,
        "connections_per_item",
        whole_number(&form.connections_per_item, MAX_CONNECTIONS),
    );
    let max_active = checked(
        &mut errors,
        "max_active",
        whole_number(&form.max_active, MAX_ACTIVE),
    );
    let rate_limit = checked(&mut errors, "rate_limit", rate_limit(&form.rate_limit));
    let remove_watched_after_days = checked(
        &mut errors,
        "remove_watched_after_days",
        watched_days(&form.remove_watched_after_days),
    );
    let player_command = form.player_command.trim().to_string();
    if let Err(e) = spool_engine::player::split_command(&player_command) {
        errors.push(FieldError {
            field: "player_command",
            message: e.to_string(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Settings {
        cache_cap,
        player_command,
        connections_per_item,
        rate_limit,
        max_active,
        notifications: form.notifications,
        start_at_login: form.start_at_login,
        remove_watched_after_days,
    })
}

/// The value of a field, or its error noted (and a placeholder: settings
/// with an error are never used).
fn checked<T: Default>(errors: &mut Vec<FieldError>, field: &'static str, parsed: Result<T, String>) -> T {
    parsed.unwrap_or_else(|message| {
        errors.push(FieldError { field, message });
        T::default()
    })
}

fn cache_cap(text: &str) -> Result<u64, String> {
    match parse_size(text.trim())? {
        cap if cap < MIN_CACHE_CAP => Err(format!("at least {}", format_size(MIN_CACHE_CAP))),
        cap => Ok(cap),
    }
}

fn whole_number(text: &str, max: usize) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("a whole number from 1 to {max}")),
    }
}

/// Bytes per second, `None` for unlimited (empty, "unlimited" or 0); a
/// trailing `/s` is allowed.
fn rate_limit(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    let text = text.strip_suffix("/s").map(str::trim_end).unwrap_or(text);
    if text.is_empty() || text.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    match parse_size(text)? {
        0 => Ok(None),
        rate if rate < MIN_RATE_LIMIT => Err(format!(
            "at least {}/s, or empty for unlimited",
            format_size(MIN_RATE_LIMIT)
        )),
        rate => Ok(Some(rate)),
    }
}

/// Days after which a watched item is removed; `None` (empty) for never.
fn watched_days(text: &str) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(days) if days <= MAX_WATCHED_DAYS => Ok(Some(days)),
        _ => Err(format!(
            "a whole number of days from 0 to {MAX_WATCHED_DAYS}, or empty for never"
        )),
    }
}

/// Reads the saved settings; a missing file gives the defaults, and so does
/// an unreadable one (with a warning: the user's next save replaces it).
pub fn load(data_dir: &Path) -> Settings {
    let path = data_dir.join(FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Settings>(&bytes) {
            Ok(settings) => sanitize(settings),
            Err(e) => {
                tracing::warn!("ignoring {}: {e}", path.display());
                Settings::default()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", path.display());
            Settings::default()
        }
    }
}

/// A hand-edited file goes through the same validation as the form.
fn sanitize(settings: Settings) -> Settings {
    validate(&settings.to_form()).unwrap_or_else(|errors| {
        tracing::warn!("saved settings are invalid ({errors:?}); using defaults");
        Settings::default()
    })
}

/// Saves atomically (the engine's own way of writing its state files).
pub fn save(data_dir: &Path, settings: &Settings) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?;
    spool_engine::store::write_atomically(&data_dir.join(FILE_NAME), &json)
}

/// The XDG autostart entry that starts Spool at login, in the tray: the
/// window waits until the user asks for it.
pub fn autostart_entry(exe: &Path) -> String {
    // Desktop Entry Exec quoting: double quotes, with `"`, `` ` ``, `$`, `\` escaped.
    let exe = exe.to_string_lossy();
    let mut quoted = String::from("\"");
    for c in exe.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    let tray = super::TRAY_FLAG;
    format!(
        "[Desktop Entry]\nType=Application\nName=Spool\nComment=Media cache for your player\nExec={quoted} {tray}\nIcon=spool\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
    )
}

/// Where the autostart entry lives (`$XDG_CONFIG_HOME/autostart`).
pub fn autostart_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("autostart").join("spool.desktop"))
}

/// Writes or removes the autostart entry.
pub fn apply_autostart(enabled: bool) -> std::io::Result<()> {
    let Some(path) = autostart_path() else {
        return Err(std::io::Error::other("no home directory"));
    };
    if enabled {
        let exe = std::env::current_exe()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, autostart_entry(&exe))
    } else {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SettingsForm {
        Settings::default().to_form()
    }

    fn fields(result: Result<Settings, Vec<FieldError>>) -> Vec<&'static str> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn defaults_round_trip_through_the_form() {
        assert_eq!(validate(&form()), Ok(Settings::default()));
        assert_eq!(Settings::default().cache_cap, 10 << 30);
        assert!(Settings::default().notifications);
    }

    #[test]
    fn sizes_accept_the_cli_units() {
        let cases = [
            ("500MB", 500_000_000),
            ("2GiB", 2 << 30),
            ("104857600", 104_857_600),
            (" 1 G ", 1 << 30),
        ];
        for (text, bytes) in cases {
            let f = SettingsForm {
                cache_cap: text.to_string(),
                ..form()
            };
            assert_eq!(validate(&f).map(|s| s.cache_cap), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn invalid_fields_are_all_reported() {
        let f = SettingsForm {
            cache_cap: "lots".to_string(),
            connections_per_item: "0".to_string(),
            rate_limit: "fast".to_string(),
            player_command: "mpv 'unclosed".to_string(),
            ..form()
        };
        assert_eq!(
            fields(validate(&f)),
            vec![
                "cache_cap",
                "connections_per_item",
                "rate_limit",
                "player_command"
            ]
        );
    }

    #[test]
    fn bounds_are_enforced() {
        let tiny_cap = SettingsForm {
            cache_cap: "1MiB".to_string(),
            ..form()
        };
        assert_eq!(fields(validate(&tiny_cap)), vec!["cache_cap"]);
        let many = SettingsForm {
            connections_per_item: "17".to_string(),
            ..form()
        };
        assert_eq!(fields(validate(&many)), vec!["connections_per_item"]);
        let crowd = SettingsForm {
            max_active: "0".to_string(),
            ..form()
        };
        assert_eq!(fields(validate(&crowd)), vec!["max_active"]);
        let slow = SettingsForm {
            rate_limit: "1KiB".to_string(),
            ..form()
        };
        assert_eq!(fields(validate(&slow)), vec!["rate_limit"]);
    }

    #[test]
    fn rate_limit_empty_zero_or_unlimited_means_none() {
        for text in ["", "0", "unlimited", "  "] {
            let f = SettingsForm {
                rate_limit: text.to_string(),
                ..form()
            };
            assert_eq!(validate(&f).map(|s| s.rate_limit), Ok(None), "{text:?}");
        }
        let f = SettingsForm {
            rate_limit: "2 MiB/s".to_string(),
            ..form()
        };
        assert_eq!(validate(&f).map(|s| s.rate_limit), Ok(Some(2 << 20)));
    }

    #[test]
    fn watched_items_are_removed_after_whole_days_or_never() {
        // (text, expected)
        let table: &[(&str, Result<Option<u32>, ()>)] = &[
            ("", Ok(None)),
            ("  ", Ok(None)),
            ("0", Ok(Some(0))),
            (" 14 ", Ok(Some(14))),
            ("3650", Ok(Some(3650))),
            ("3651", Err(())),
            ("-1", Err(())),
            ("1.5", Err(())),
            ("soon", Err(())),
        ];
        for (text, want) in table {
            let f = SettingsForm {
                remove_watched_after_days: text.to_string(),
                ..form()
            };
            let got = validate(&f);
            match want {
                Ok(days) => assert_eq!(got.map(|s| s.remove_watched_after_days), Ok(*days), "{text:?}"),
                Err(()) => assert_eq!(fields(got), ["remove_watched_after_days"], "{text:?}"),
            }
        }
        assert_eq!(
            Settings::default().remove_watched_after_days,
            None,
            "off by default"
        );
    }

    #[test]
    fn limits_keep_the_engines_min_free() {
        let current = Limits {
            cache_cap: 1,
            min_free: 12345,
            connections_per_item: 1,
            rate_limit: None,
            max_active: 3,
            remove_watched_after_days: Some(3),
        };
        let settings = Settings {
            cache_cap: 5 << 30,
            connections_per_item: 8,
            rate_limit: Some(1 << 20),
            max_active: 5,
            remove_watched_after_days: Some(7),
            ..Settings::default()
        };
        assert_eq!(
            settings.limits(current),
            Limits {
                cache_cap: 5 << 30,
                min_free: 12345,
                connections_per_item: 8,
                rate_limit: Some(1 << 20),
                max_active: 5,
                remove_watched_after_days: Some(7),
            }
        );
    }

    #[test]
    fn save_then_load_round_trips_and_bad_files_give_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), Settings::default(), "no file yet");
        let settings = Settings {
            player_command: "mpv --fs".to_string(),
            rate_limit: Some(1 << 20),
            notifications: false,
            ..Settings::default()
        };
        save(dir.path(), &settings).unwrap();
        assert_eq!(load(dir.path()), settings);
        std::fs::write(dir.path().join(FILE_NAME), "{not json").unwrap();
        assert_eq!(load(dir.path()), Settings::default());
        std::fs::write(dir.path().join(FILE_NAME), r#"{"connections_per_item": 999}"#).unwrap();
        assert_eq!(load(dir.path()), Settings::default(), "out of bounds");
        std::fs::write(dir.path().join(FILE_NAME), r#"{"notifications": false}"#).unwrap();
        assert!(!load(dir.path()).notifications, "missing fields take defaults");
    }

    #[test]
    fn autostart_entry_quotes_the_executable() {
        let entry = autostart_entry(Path::new("/opt/my $pool/spool"));
        assert!(
            entry.contains("Exec=\"/opt/my \\$pool/spool\" --tray\n"),
            "{entry}"
        );
        assert!(entry.starts_with("[Desktop Entry]\n"));
    }
}
