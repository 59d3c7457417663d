//! `spool play`: the running engine starts the player (named, else the one
//! `serve --player` configured) and the command prints its pid at once; an
//! item of a collection plays with the rest of it, a collection from its
//! first item.

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

/// `python3 -m http.server` on `root`: its port, and the server (killed on drop).
fn listing_server(root: &Path) -> (u16, crate::util::Reaper) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let server = crate::util::Reaper(
        std::process::Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .arg("--directory")
            .arg(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server"),
    );
    wait_for("the listing's server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the listing's server accepts");
    (port, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_of_a_collection_hands_the_player_the_rest_of_the_season() {
    let python = std::process::Command::new("python3").arg("--version").output();
    if !crate::support::require(python.is_ok(), "python3 is not installed") {
        return;
    }
    let mut sandbox = Sandbox::new();
    // A show's folder holds only its seasons: `--recursive` adds both.
    let show = sandbox.dir.path().join("www").join("Show");
    for (season, episodes) in [
        ("Season 1", &["Show S01E01.mkv", "Show S01E02.mkv"][..]),
        ("Season 2", &["Show S02E01.mkv"][..]),
    ] {
        std::fs::create_dir_all(show.join(season)).expect("season dir");
        for (n, name) in episodes.iter().enumerate() {
            std::fs::write(show.join(season).join(name), content(4 << 10, 80 + n as u64)).expect("episode");
        }
    }
    let (port, _server) = listing_server(&sandbox.dir.path().join("www"));
    let (player, out) = stub(sandbox.dir.path(), "player");
    let player_arg = player.to_string_lossy().into_owned();
    let _serve = sandbox.serve(&["--player", &player_arg]);
    let url = format!("http://127.0.0.1:{port}/Show/");

    let refused = sandbox.spool(&["add", &url]);
    assert_eq!(refused.code(), Some(1), "{}", refused.stderr);
    assert!(refused.stderr.contains("--recursive"), "{}", refused.stderr);

    let added = sandbox.spool(&["add", "--recursive", "--json", &url]);
    added.expect_ok("spool add --recursive");
    let added: serde_json::Value = serde_json::from_str(&added.stdout).expect("the add's JSON");
    assert_eq!(added["followed"], 2, "{added}");
    let names: Vec<&str> = added["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["Show S01E01.mkv", "Show S01E02.mkv", "Show S02E01.mkv"]);
    let urls: Vec<String> = added["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["stream_url"].as_str().map(str::to_string))
        .collect();

    // The collection's id: the whole season, in order.
    let collection = added["collection"]["id"].as_str().expect("collection id");
    sandbox
        .spool(&["play", collection])
        .expect_ok("spool play COLLECTION");
    assert_eq!(played(&out)[1..], urls[..]);
    // An item: it and the rest after it.
    std::fs::remove_file(&out).expect("clear what the player got");
    let second = added["items"][1]["id"].as_str().expect("item id");
    sandbox.spool(&["play", second]).expect_ok("spool play ID");
    assert_eq!(played(&out)[1..], urls[1..]);
}
