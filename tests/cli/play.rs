//! `spool play`: the running engine starts the player (named, else the one
//! `serve --player` configured) and the command prints its pid at once.

use std::path::{Path, PathBuf};

use crate::support::origin::{Faults, Origin};
use crate::util::{content, id_of, wait_for, Sandbox};

/// A player stand-in that writes its pid and arguments, one a line, to
/// `out` (whole, by a rename).
fn stub(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let (script, out) = (dir.join(name), dir.join(format!("{name}.out")));
    let text = format!(
        "#!/bin/sh\n{{ echo $$; printf '%s\\n' \"$@\"; }} > '{out}.part' && mv '{out}.part' '{out}'\n",
        out = out.display()
    );
    std::fs::write(&script, text).expect("write the stub player");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, out)
}

fn played(out: &Path) -> Vec<String> {
    wait_for("the player to run", || std::fs::read_to_string(out).ok())
        .expect("the player ran")
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_prints_the_pid_of_the_player_it_started() {
    let origin = Origin::start(content(64 << 10, 70), Faults::default()).await;
    let mut sandbox = Sandbox::new();
    let (configured, configured_out) = stub(sandbox.dir.path(), "configured");
    let (named, named_out) = stub(sandbox.dir.path(), "named");
    let configured_arg = configured.to_string_lossy().into_owned();
    let _serve = sandbox.serve(&["--player", &configured_arg]);
    let url = sandbox.add(&origin.url());
    let id = id_of(&sandbox, &url);

    let out = sandbox.spool(&["play", &id]);
    out.expect_ok("spool play");
    let lines = played(&configured_out);
    assert_eq!(out.stdout.trim(), lines[0], "prints the configured player's pid");
    assert_eq!(lines[1..], *std::slice::from_ref(&url));

    let named_arg = format!("'{}' --fs", named.display());
    let out = sandbox.spool(&["play", &id, "--player", &named_arg, "--from-start"]);
    out.expect_ok("spool play --player");
    let lines = played(&named_out);
    assert_eq!(out.stdout.trim(), lines[0], "prints the named player's pid");
    assert_eq!(lines[1..], ["--fs".to_string(), url]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_errors_name_the_problem() {
    let origin = Origin::start(content(1000, 71), Faults::default()).await;
    let mut sandbox = Sandbox::new();
    let _serve = sandbox.serve(&[]);
    let url = sandbox.add(&origin.url());
    let id = id_of(&sandbox, &url);

    let out = sandbox.spool(&["play", "nope", "--player", "true"]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("no item"), "{}", out.stderr);

    let out = sandbox.spool(&["play", &id, "--player", "/nonexistent/player"]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains("could not start `/nonexistent/player"),
        "{}",
        out.stderr
    );

    let out = sandbox.spool(&["play", &id, "--player", "mpv 'unclosed"]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("invalid player command"), "{}", out.stderr);
}
