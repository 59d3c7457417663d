//! Following players that publish MPRIS on the session bus (VLC, Celluloid,
//! …): every second, each `org.mpris.MediaPlayer2.*` player's
//! `org.mpris.MediaPlayer2.Player` properties are read; one whose
//! `xesam:url` is one of this engine's stream URLs is followed (`Position`,
//! `mpris:length`, `PlaybackStatus`). Position is not announced by signals,
//! so it is polled. Without a session bus nothing is followed.

use std::collections::HashMap;
use std::time::Duration;

use zbus::zvariant::OwnedValue;

use super::follow::{item_for_url, Follower, Watch};
use crate::playback::Seen;

const EVERY: Duration = Duration::from_secs(1);
const PREFIX: &str = "org.mpris.MediaPlayer2.";
const PLAYER: &str = "org.mpris.MediaPlayer2.Player";
const PATH: &str = "/org/mpris/MediaPlayer2";

/// What one player's `Player` properties say, as far as following goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub url: Option<String>,
    pub seen: Seen,
    /// `PlaybackStatus` is `Stopped`.
    pub stopped: bool,
}

/// Reads `Metadata`, `Position` and `PlaybackStatus` (times are in
/// microseconds on the bus).
pub fn status(properties: &HashMap<String, OwnedValue>) -> Status {
    let metadata: HashMap<String, OwnedValue> = properties
        .get("Metadata")
        .and_then(|m| m.try_clone().ok())
        .and_then(|m| HashMap::try_from(m).ok())
        .unwrap_or_default();
    let url = metadata
        .get("xesam:url")
        .and_then(|u| String::try_from(u.try_clone().ok()?).ok());
    let micros = |v: Option<&OwnedValue>| -> Option<f64> {
        let v = v?;
        i64::try_from(v)
            .ok()
            .map(|n| n as f64)
            .or_else(|| u64::try_from(v).ok().map(|n| n as f64))
            .filter(|n| *n >= 0.0)
            .map(|n| n / 1e6)
    };
    let playback = properties
        .get("PlaybackStatus")
        .and_then(|s| String::try_from(s.try_clone().ok()?).ok())
        .unwrap_or_default();
    Status {
        url,
        seen: Seen {
            position: micros(properties.get("Position")),
            duration: micros(metadata.get("mpris:length")).filter(|d| *d > 0.0),
            paused: playback == "Paused",
            ended: false,
        },
        stopped: playback == "Stopped",
    }
}

/// Follows MPRIS players until the engine stops.
pub(crate) async fn follow(watch: Watch) {
    let conn = match zbus::Connection::session().await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::info!("no session bus ({e}); MPRIS players are not followed");
            return;
        }
    };
    let mut followers: HashMap<String, Follower> = HashMap::new();
    let cancel = watch.cancel.clone();
    loop {
        let players = match players(&conn).await {
            Ok(players) => players,
            Err(e) => {
                tracing::info!("cannot list MPRIS players ({e}); they are not followed");
                break;
            }
        };
        // Players gone: their last position is saved.
        let gone: Vec<String> = followers
            .keys()
            .filter(|n| !players.contains(n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(mut follower) = followers.remove(&name) {
                follower.finish().await;
            }
        }
        for name in players {
            let Ok(properties) = properties(&conn, &name).await else {
                continue;
            };
            let status = status(&properties);
            let ours = status
                .url
                .as_deref()
                .is_some_and(|u| item_for_url(&watch, u).is_some());
            if !ours && !followers.contains_key(&name) {
                continue;
            }
            let follower = followers
                .entry(name)
                .or_insert_with(|| Follower::new(watch.clone()));
            follower.playing(status.url.as_deref()).await;
            if status.stopped {
                follower.finish().await;
            } else {
                follower.seen(status.seen).await;
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
    for follower in followers.values_mut() {
        follower.finish().await;
    }
}

async fn players(conn: &zbus::Connection) -> zbus::Result<Vec<String>> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    Ok(dbus
        .list_names()
        .await?
        .into_iter()
        .map(|n| n.to_string())
        .filter(|n| n.starts_with(PREFIX))
        .collect())
}

async fn properties(conn: &zbus::Connection, name: &str) -> zbus::Result<HashMap<String, OwnedValue>> {
    let reply = conn
        .call_method(
            Some(name),
            PATH,
            Some("org.freedesktop.DBus.Properties"),
            "GetAll",
            &(PLAYER,),
        )
        .await?;
    reply.body().deserialize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::{Str, Value};

    fn owned(value: Value<'_>) -> OwnedValue {
        value.try_to_owned().unwrap()
    }

    fn properties(url: &str, position: i64, length: i64, playback: &str) -> HashMap<String, OwnedValue> {
        let metadata: HashMap<String, Value<'_>> = [
            ("xesam:url".to_string(), Value::from(Str::from(url))),
            ("mpris:length".to_string(), Value::from(length)),
        ]
        .into();
        [
            ("Metadata".to_string(), owned(Value::from(metadata))),
            ("Position".to_string(), owned(Value::from(position))),
            (
                "PlaybackStatus".to_string(),
                owned(Value::from(Str::from(playback))),
            ),
        ]
        .into()
    }

    #[test]
    fn status_reads_url_position_length_and_playback() {
        let url = "http://127.0.0.1:17173/m/t/film.mkv";
        let got = status(&properties(url, 42_500_000, 1_800_000_000, "Paused"));
        assert_eq!(got.url.as_deref(), Some(url));
        assert_eq!(got.seen.position, Some(42.5));
        assert_eq!(got.seen.duration, Some(1800.0));
        assert!(got.seen.paused);
        assert!(!got.stopped);
        let got = status(&properties(url, 0, 0, "Stopped"));
        assert_eq!(got.seen.duration, None, "a length of 0 is unknown");
        assert!(got.stopped);
        let empty = status(&HashMap::new());
        assert_eq!(empty.url, None);
        assert_eq!(empty.seen, Seen::default());
    }
}
