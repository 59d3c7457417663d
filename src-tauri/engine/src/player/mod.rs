//! Starting a player on an item (or a playlist of them) for the CLI, the
//! control API and the desktop, and following where it is.
//!
//! `command` decides, purely, which program runs with which arguments;
//! `crate::playback` holds the rules of resuming and watching. This module carries
//! them out: it spawns the player with no shell and no terminal, reaps it,
//! reports a player that exits with an error at once as
//! [`Event::PlayerFailed`], and follows its position: an mpv through its IPC
//! socket (`mpv`), any other player through MPRIS (`mpris`), both saving
//! through `follow`.

mod command;
mod follow;
pub mod mpris;
pub mod mpv;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use command::{
    describe, on_path, resolve, split_command, CommandError, Entry, Kind, Launch, Request, KNOWN_PLAYERS,
    URL_PLACEHOLDER,
};

pub(crate) use follow::Watch;

use crate::error::{Error, Result};
use crate::events::Event;

/// A player that exits with an error within this long "failed to start".
const EARLY_EXIT: Duration = Duration::from_secs(5);

/// How [`crate::Engine::play`] plays. Also the body of `POST /api/items/{id}/play`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayOptions {
    /// The player command (`mpv --fs`); `None`: the configured one, else
    /// the first known player found, else the desktop's default handler.
    #[serde(default)]
    pub player: Option<String>,
    /// Start at the beginning even if a position is saved.
    #[serde(default)]
    pub from_start: bool,
}

/// A player that was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playing {
    /// Its process id.
    pub pid: u32,
    /// The command that was run, as people read it.
    pub command: String,
}

/// The engine's player settings.
#[derive(Debug, Default)]
pub(crate) struct Players {
    /// The configured player command; empty: none.
    configured: RwLock<String>,
    /// The MPRIS follower runs (from the first player that is not mpv on).
    mpris: AtomicBool,
}

impl Players {
    fn configured(&self) -> String {
        self.configured.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// See [`crate::Engine::set_player_command`].
    pub fn set_configured(&self, command: &str) -> Result<()> {
        split_command(command)?;
        *self.configured.write().unwrap_or_else(|p| p.into_inner()) = command.trim().to_string();
        Ok(())
    }
}

/// Starts a player on `entries` (see [`crate::Engine::play_entries`]); a
/// player that fails at once is told on `events`, one that can be followed
/// is (see `watch`).
pub(crate) fn start(
    players: &Players,
    watch: &Watch,
    data_dir: &Path,
    entries: &[Entry],
    start_at: Option<f64>,
    player: Option<&str>,
) -> Result<Playing> {
    let events: broadcast::Sender<Event> = watch.catalog.sender();
    let configured = match player {
        Some(player) => player.to_string(),
        None => players.configured(),
    };
    let path_var = std::env::var_os("PATH");
    let exists = |p: &str| on_path(p, path_var.as_deref());
    let plain = Request {
        entries,
        start: start_at,
        ipc_socket: None,
    };
    let (launch, socket) = launch_followed(&configured, plain, exists)?;
    let (program, args, kind) = match launch {
        Launch::Command { program, args, kind } => (program, args, kind),
        Launch::Playlist => {
            let path = write_playlist(data_dir, entries)?;
            let args = vec![path.to_string_lossy().into_owned()];
            ("xdg-open".to_string(), args, Kind::Other)
        }
    };
    let command = describe(&program, &args);
    let child = Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| Error::PlayerStart {
            command: command.clone(),
            source,
        })?;
    let pid = child.id();
    tracing::info!("started `{command}` (pid {pid})");
    match socket {
        Some(socket) => {
            watch.tasks.spawn(mpv::follow(watch.clone(), socket));
        }
        // Another player may publish MPRIS: one follower serves them all.
        None if kind != Kind::Mpv && !players.mpris.swap(true, Ordering::SeqCst) => {
            watch.tasks.spawn(mpris::follow(watch.clone()));
        }
        None => {}
    }
    reap(child, command.clone(), events);
    Ok(Playing { pid, command })
}

/// What to run for `request`; an mpv also gets a socket to be followed on
/// (returned with it) when a private directory for it can be had.
fn launch_followed(
    configured: &str,
    request: Request,
    exists: impl Fn(&str) -> bool,
) -> Result<(Launch, Option<PathBuf>)> {
    let launch = resolve(configured, &request, &exists)?;
    if !matches!(launch, Launch::Command { kind: Kind::Mpv, .. }) {
        return Ok((launch, None));
    }
    match mpv::socket_dir() {
        Ok(dir) => {
            let path = mpv::socket_path(&dir);
            let followed = Request {
                ipc_socket: Some(&path),
                ..request
            };
            let launch = resolve(configured, &followed, &exists)?;
            Ok((launch, Some(path)))
        }
        Err(e) => {
            tracing::warn!("no private directory for mpv's socket ({e}); its position is not followed");
            Ok((launch, None))
        }
    }
}

/// Reaps the player; reports one that dies at once (bad option, no
/// display…). Only the event sender is held: a player that outlives the
/// engine must not keep its data directory locked.
fn reap(mut child: std::process::Child, command: String, events: broadcast::Sender<Event>) {
    let reaper = std::thread::Builder::new()
        .name("spool-player-reaper".to_string())
        .spawn(move || {
            let started = Instant::now();
            if let Ok(status) = child.wait() {
                if !status.success() && started.elapsed() < EARLY_EXIT {
                    let message = format!("`{command}` exited at once ({status})");
                    tracing::warn!("{message}");
                    let _ = events.send(Event::PlayerFailed { command, message });
                }
            }
        });
    if let Err(e) = reaper {
        // The player runs; only its exit goes unreported (and unreaped
        // until the engine exits).
        tracing::warn!("cannot watch the player: {e}");
    }
}

/// Writes the entries as an `.m3u` playlist in the data directory, named
/// after its content (playing the same again reuses the file).
fn write_playlist(data_dir: &Path, entries: &[Entry]) -> Result<std::path::PathBuf> {
    use std::hash::{Hash, Hasher};
    let text = command::m3u(entries);
    // A fixed-key hash: the same playlist gets the same name on every run.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let dir = data_dir.join("playlists");
    let path = dir.join(format!("{:016x}.m3u", hasher.finish()));
    let context = "no player found (mpv, vlc, celluloid, totem) and cannot write a playlist";
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(context, e))?;
    std::fs::write(&path, text).map_err(|e| Error::io(context, e))?;
    Ok(path)
}
