//! Failures: scripts rely on exit codes (0 ok, 1 runtime error, 2 usage
//! error) and people on messages that name the cause.

use crate::support::origin::{Faults, Origin};
use crate::util::{content, Sandbox};

/// A definitive origin answer or an unreachable origin fails `add` at once,
/// says why, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_fails_on_definitive_origin_answers() {
    let origin = Origin::start(content(1000, 3), Faults::default()).await;
    let mut sandbox = Sandbox::new();
    let _serve = sandbox.serve(&[]);

    let missing = format!("{}/no/such/file.mp4", origin.base_url());
    let out = sandbox.spool(&["add", &missing]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("origin answered 404 Not Found"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");

    // Other definitive answers, each named.
    for (status, text) in [
        (401, "401 Unauthorized"),
        (403, "403 Forbidden"),
        (410, "410 Gone"),
    ] {
        origin.set_faults(Faults {
            fail_always: true,
            fail_status: Some(status),
            ..Faults::default()
        });
        let out = sandbox.spool(&["add", &origin.url()]);
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert!(out.stderr.contains(&format!("origin answered {text}")), "{out:?}");
    }

    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = sandbox.spool(&["add", &format!("http://127.0.0.1:{port}/film.mkv")]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.to_lowercase().contains("refused"), "{out:?}");

    assert!(sandbox.ls().is_empty(), "nothing was added");
    let items = std::fs::read_dir(sandbox.data().join("items")).expect("items dir");
    assert_eq!(items.count(), 0, "no item directory was left behind");
}

/// Managing an item that does not exist is a runtime error that says so.
#[test]
fn unknown_item_ids_are_errors() {
    let mut sandbox = Sandbox::new();
    let _serve = sandbox.serve(&[]);
    for action in ["rm", "pin", "unpin", "pause", "resume"] {
        let out = sandbox.spool(&[action, "deadbeef"]);
        assert_eq!(out.code(), Some(1), "spool {action}: {out:?}");
        assert!(
            out.stderr.contains("deadbeef"),
            "spool {action} names the id: {out:?}"
        );
    }
}

/// Without an engine the CLI must tell people how to start one.
#[test]
fn add_without_an_engine_says_how_to_start_one() {
    let sandbox = Sandbox::new();
    let out = sandbox.spool(&["add", "http://127.0.0.1:9/film.mkv"]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("spool serve"), "{out:?}");
    let out = sandbox.spool(&["ls"]);
    assert_eq!(out.code(), Some(1), "{out:?}");
}

/// Usage errors are exit 2, before anything runs.
#[test]
fn usage_errors_exit_2() {
    let sandbox = Sandbox::new();
    for args in [
        &["serve", "--port", "0", "--cache-cap", "10XB"][..],
        &["serve", "--port", "0", "--min-free", "lots"],
        &["frobnicate"],
        &["ls", "--frobnicate"],
        &["--frobnicate", "ls"],
        &["add"],
        &["rm"],
        // `--tray` is the desktop app's: not for a command.
        &["--tray", "ls"],
        &["--tray", "serve", "--port", "0"],
    ] {
        let out = sandbox.spool(args);
        assert_eq!(out.code(), Some(2), "spool {args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "spool {args:?} explains itself");
    }
    assert!(
        !sandbox.data().join("engine.json").exists(),
        "no engine was started by a usage error"
    );
}

/// One engine per data dir; the second names the first so people can find it.
#[test]
fn a_second_engine_on_the_same_data_dir_is_refused() {
    let mut sandbox = Sandbox::new();
    let first = sandbox.serve(&[]);
    let out = sandbox.spool(&["serve", "--port", "0"]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!("pid {}", first.pid())),
        "the message names pid {}: {out:?}",
        first.pid()
    );
    // The first one still works.
    assert!(sandbox.ls().is_empty());
}
