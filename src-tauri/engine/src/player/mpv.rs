//! Following an mpv that Spool started, through its JSON IPC: mpv gets
//! `--input-ipc-server=` a socket in a directory only this user can enter,
//! and Spool observes `time-pos`, `duration`, `pause`, `eof-reached` and
//! `path` (which item of a playlist plays). What the lines mean is pure
//! ([`parse`]); [`follow`] carries it out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::follow::{Follower, Watch};

/// How long mpv may take to open its socket.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
const CONNECT_EVERY: Duration = Duration::from_millis(25);

/// The observations asked for, one JSON command a line. `path` first:
/// changes that come together are told in this order, and the item must be
/// known before its duration and position.
const OBSERVE: &str = concat!(
    r#"{"command":["observe_property",1,"path"]}"#,
    "\n",
    r#"{"command":["observe_property",2,"time-pos"]}"#,
    "\n",
    r#"{"command":["observe_property",3,"duration"]}"#,
    "\n",
    r#"{"command":["observe_property",4,"pause"]}"#,
    "\n",
    r#"{"command":["observe_property",5,"eof-reached"]}"#,
    "\n",
);

/// One line from mpv, as far as following it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `time-pos`; `None` while nothing plays.
    Position(Option<f64>),
    Duration(Option<f64>),
    Pause(bool),
    /// `eof-reached` (true only with `--keep-open`).
    Eof(bool),
    /// The URL or file now playing.
    Path(Option<String>),
    /// A file ended; `eof`: by playing to its end (not stopped, not an error).
    EndFile {
        eof: bool,
    },
    /// Replies to commands, other events.
    Other,
}

/// What a line of mpv's IPC says.
pub fn parse(line: &str) -> Message {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return Message::Other;
    };
    match value.get("event").and_then(Value::as_str) {
        Some("property-change") => {
            let data = value.get("data");
            let number = || data.and_then(Value::as_f64);
            match value.get("name").and_then(Value::as_str) {
                Some("time-pos") => Message::Position(number()),
                Some("duration") => Message::Duration(number()),
                Some("pause") => Message::Pause(data.and_then(Value::as_bool).unwrap_or(false)),
                Some("eof-reached") => Message::Eof(data.and_then(Value::as_bool).unwrap_or(false)),
                Some("path") => Message::Path(data.and_then(Value::as_str).map(str::to_string)),
                _ => Message::Other,
            }
        }
        Some("end-file") => Message::EndFile {
            eof: value.get("reason").and_then(Value::as_str) == Some("eof"),
        },
        _ => Message::Other,
    }
}

/// The private directory for player sockets: `$XDG_RUNTIME_DIR/spool`, else
/// `/tmp/spool-UID`; created 0700, and refused if it is not this user's
/// own directory (another user could otherwise read or hijack a socket).
pub fn socket_dir() -> std::io::Result<PathBuf> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    // SAFETY: geteuid cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    let dir = match runtime {
        Some(runtime) => runtime.join("spool"),
        None => std::env::temp_dir().join(format!("spool-{uid}")),
    };
    private_dir(&dir, uid)?;
    Ok(dir)
}

fn private_dir(dir: &Path, uid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(std::io::Error::other(format!(
            "{} is not a directory of this user",
            dir.display()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A fresh socket path in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(format!("mpv-{}.sock", crate::token::item_id()))
}

/// Follows the mpv listening on `socket` until it exits (or the engine
/// stops), saving positions as `crate::playback` says. The socket is removed after.
pub(crate) async fn follow(watch: Watch, socket: PathBuf) {
    let cancel = watch.cancel.clone();
    tokio::select! {
        () = cancel.cancelled() => {}
        () = follow_until_exit(&watch, &socket) => {}
    }
    let _ = std::fs::remove_file(&socket);
}

async fn follow_until_exit(watch: &Watch, socket: &Path) {
    let Some(stream) = connect(socket).await else {
        tracing::info!(
            "mpv opened no IPC socket at {}; its position is not followed",
            socket.display()
        );
        return;
    };
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)) {
            tracing::debug!("cannot restrict {}: {e}", socket.display());
        }
    }
    let (read, mut write) = stream.into_split();
    if let Err(e) = write.write_all(OBSERVE.as_bytes()).await {
        tracing::info!("cannot ask mpv for its position: {e}");
        return;
    }
    let mut follower = Follower::new(watch.clone());
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match parse(&line) {
            Message::Position(p) => follower.position(p).await,
            Message::Duration(d) => follower.duration(d).await,
            Message::Pause(paused) => follower.pause(paused).await,
            Message::Eof(true) | Message::EndFile { eof: true } => follower.ended().await,
            Message::Path(path) => follower.playing(path.as_deref()).await,
            Message::Eof(false) | Message::EndFile { eof: false } | Message::Other => {}
        }
    }
    follower.finish().await;
}

/// Connects once mpv listens; `None` if it never does.
async fn connect(socket: &Path) -> Option<UnixStream> {
    let deadline = tokio::time::Instant::now() + CONNECT_WITHIN;
    loop {
        match UnixStream::connect(socket).await {
            Ok(stream) => return Some(stream),
            Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(CONNECT_EVERY).await,
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_mpv_sends_mean_what_they_say() {
        let table: &[(&str, Message)] = &[
            (
                r#"{"event":"property-change","id":1,"name":"time-pos","data":12.011}"#,
                Message::Position(Some(12.011)),
            ),
            (
                r#"{"event":"property-change","id":1,"name":"time-pos"}"#,
                Message::Position(None),
            ),
            (
                r#"{"event":"property-change","id":2,"name":"duration","data":30.0}"#,
                Message::Duration(Some(30.0)),
            ),
            (
                r#"{"event":"property-change","id":3,"name":"pause","data":true}"#,
                Message::Pause(true),
            ),
            (
                r#"{"event":"property-change","id":4,"name":"eof-reached","data":false}"#,
                Message::Eof(false),
            ),
            (
                r#"{"event":"property-change","id":5,"name":"path","data":"http://127.0.0.1:1/m/t/a.mp4"}"#,
                Message::Path(Some("http://127.0.0.1:1/m/t/a.mp4".to_string())),
            ),
            (
                r#"{"event":"end-file","reason":"eof","playlist_entry_id":1}"#,
                Message::EndFile { eof: true },
            ),
            (
                r#"{"event":"end-file","reason":"quit","playlist_entry_id":1}"#,
                Message::EndFile { eof: false },
            ),
            (r#"{"request_id":0,"error":"success"}"#, Message::Other),
            (r#"{"event":"playback-restart"}"#, Message::Other),
            ("not json", Message::Other),
        ];
        for (line, want) in table {
            assert_eq!(&parse(line), want, "{line}");
        }
    }

    #[test]
    fn the_socket_directory_is_private() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let base = tempfile::tempdir().unwrap();
        // SAFETY: as in socket_dir.
        let uid = unsafe { libc::geteuid() };
        let dir = base.path().join("spool");
        private_dir(&dir, uid).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        // An existing one too loose is tightened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir, uid).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        // A file or a symlink in its place is refused.
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(private_dir(&link, uid).is_err());
        // Another user's is refused.
        assert!(private_dir(&dir, uid.wrapping_add(1)).is_err());
    }
}
