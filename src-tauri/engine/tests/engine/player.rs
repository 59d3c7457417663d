//! Starting a player: the engine runs the named, configured or found
//! player on the item's stream URL with an argument list, returns its pid,
//! and reports a player that fails at once.

use std::path::{Path, PathBuf};

use spool_engine::{Entry, Event, PlayOptions};

use crate::support::origin::{Faults, Origin};
use crate::util::{bounded, content, until, TestEngine, KIB};

/// A player stand-in: a script that writes its pid and then its arguments,
/// one a line, to `out` (whole, by a rename: the test never reads half).
struct Stub {
    script: PathBuf,
    out: PathBuf,
}

impl Stub {
    fn new(dir: &Path) -> Stub {
        use std::os::unix::fs::PermissionsExt;
        let (script, out) = (dir.join("player"), dir.join("played"));
        let text = format!(
            "#!/bin/sh\n{{ echo $$; printf '%s\\n' \"$@\"; }} > '{out}.part' && mv '{out}.part' '{out}'\n",
            out = out.display()
        );
        std::fs::write(&script, text).expect("write the stub player");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Stub { script, out }
    }

    fn command(&self, extra: &str) -> String {
        format!("'{}' {extra}", self.script.display())
    }

    /// (pid, arguments) once the stub ran.
    async fn played(&self) -> (u32, Vec<String>) {
        until("the player to run", || self.out.exists()).await;
        let text = std::fs::read_to_string(&self.out).expect("read what the stub wrote");
        let mut lines = text.lines();
        let pid = lines.next().and_then(|l| l.parse().ok()).expect("a pid line");
        (pid, lines.map(str::to_string).collect())
    }
}

async fn engine_with_item() -> (Origin, TestEngine, spool_engine::ItemView) {
    let origin = Origin::start(content(64 * KIB, 90), Faults::default()).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    (origin, t, item)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_runs_the_named_player_on_the_stream_url_and_returns_its_pid() {
    let (_origin, t, item) = engine_with_item().await;
    let stub = Stub::new(t.dir.path());
    let options = PlayOptions {
        player: Some(stub.command("--flag 'two words'")),
        from_start: false,
    };
    let playing = t.engine.play(&item.id, options).await.expect("play");
    let (pid, args) = stub.played().await;
    assert_eq!(playing.pid, pid, "the pid returned is the player's");
    assert_eq!(args, ["--flag", "two words", item.stream_url.as_str()]);
    assert!(playing.command.contains(&item.stream_url), "{}", playing.command);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_without_a_named_player_uses_the_configured_one() {
    let (_origin, t, item) = engine_with_item().await;
    let stub = Stub::new(t.dir.path());
    t.engine
        .set_player_command(&stub.command("{url} --after"))
        .expect("a valid command");
    let playing = t
        .engine
        .play(&item.id, PlayOptions::default())
        .await
        .expect("play");
    let (pid, args) = stub.played().await;
    assert_eq!(playing.pid, pid);
    assert_eq!(args, [item.stream_url.as_str(), "--after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_reaches_the_player_in_order() {
    let (_origin, t, item) = engine_with_item().await;
    let stub = Stub::new(t.dir.path());
    let entry = |url: &str| Entry {
        stream_url: url.to_string(),
        title: String::new(),
        subtitle_urls: Vec::new(),
    };
    let second = format!("{}?second", item.stream_url);
    let entries = [entry(&item.stream_url), entry(&second)];
    let command = stub.command("");
    t.engine
        .play_entries(&entries, None, Some(&command))
        .await
        .expect("play a list");
    let (_, args) = stub.played().await;
    assert_eq!(args, [item.stream_url.clone(), second]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_and_unknown_items_are_typed_errors() {
    let (_origin, t, item) = engine_with_item().await;
    let play = |player: &str| PlayOptions {
        player: Some(player.to_string()),
        from_start: false,
    };
    let missing = t.dir.path().join("no-such-player");
    let e = t
        .engine
        .play(&item.id, play(&missing.to_string_lossy()))
        .await
        .expect_err("a missing program");
    assert_eq!(e.code(), "player_failed", "{e}");
    assert!(e.to_string().contains("no-such-player"), "{e}");
    let e = t
        .engine
        .play(&item.id, play("mpv 'oops"))
        .await
        .expect_err("a bad quote");
    assert_eq!(e.code(), "invalid_player_command", "{e}");
    let e = t
        .engine
        .play("nope", play("true"))
        .await
        .expect_err("no such item");
    assert_eq!(e.code(), "not_found", "{e}");
    assert!(t.engine.set_player_command("mpv \"oops").is_err());
}

/// A player that exits with an error at once (a bad option, no display) is
/// announced, so the desktop can show the command that was tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_that_fails_at_once_is_reported() {
    let (_origin, t, item) = engine_with_item().await;
    let mut events = t.engine.subscribe();
    let options = PlayOptions {
        player: Some("sh -c 'exit 3'".to_string()),
        from_start: false,
    };
    t.engine.play(&item.id, options).await.expect("play");
    let message = bounded("a player_failed event", async {
        loop {
            match events.recv().await {
                Ok(Event::PlayerFailed { command, message }) => {
                    assert!(command.starts_with("sh -c"), "{command}");
                    return message;
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await;
    assert!(message.contains("exited at once"), "{message}");
}
