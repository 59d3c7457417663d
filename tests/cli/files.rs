//! What the engine leaves on disk, and where secrets may (not) go.

use serde_json::Value;

use crate::support::origin::{Faults, Origin};
use crate::util::{content, id_of, mode, Sandbox};

const SECRET: &str = "Bearer s3cret";

/// engine.json holds the control token: only its owner may read it, and the
/// CLI finds the engine through it.
#[test]
fn engine_file_and_data_dir_are_private() {
    let mut sandbox = Sandbox::new();
    let serve = sandbox.serve(&[]);
    let path = sandbox.data().join("engine.json");
    assert_eq!(mode(&sandbox.data()), 0o700, "data dir mode");
    assert_eq!(mode(&path), 0o600, "engine.json mode");
    let info: Value = serde_json::from_slice(&std::fs::read(&path).expect("read engine.json"))
        .expect("engine.json is JSON");
    let mut keys: Vec<&str> = info
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["pid", "port", "token"]);
    assert_eq!(info["pid"], serve.pid());
    assert_eq!(info["port"], serve.port);
    let token = info["token"].as_str().expect("token is a string");
    assert!(token.len() >= 22, "control token {token:?} is at least 128 bits");
}

/// A private server's credentials go with every origin request of the item,
/// are stored 0600, and never reach the logs (even at debug level).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_are_sent_always_and_kept_secret() {
    let faults = Faults {
        require_header: Some(("Authorization".into(), SECRET.into())),
        // Several requests: the probe, then the segmented fill.
        rate: Some(2 << 20),
        ..Faults::default()
    };
    let origin = Origin::start(content(6 << 20, 4), faults).await;
    let mut sandbox = Sandbox::new();
    let serve = sandbox.serve_env(&[], &[("RUST_LOG", "debug")]);
    let header = format!("Authorization: {SECRET}");
    let out = sandbox.spool(&["add", "--header", &header, &origin.url()]);
    out.expect_ok("spool add --header");
    let id = id_of(&sandbox, out.stdout.trim_end());
    let done = sandbox.wait_item(&id, "the download to complete", |i| {
        i["state"] == "complete" || i["state"] == "failed"
    });
    assert_eq!(done["state"], "complete", "{done}");

    let log = origin.log();
    assert!(log.len() >= 2, "probe and fill: {log:?}");
    for entry in &log {
        assert_eq!(
            entry.header("authorization"),
            Some(SECRET),
            "every origin request carries the header: {entry:?}"
        );
    }
    let item_dir = sandbox.item_dir(&id);
    assert_eq!(mode(&item_dir.join("item.json")), 0o600, "item.json mode");
    assert_eq!(mode(&item_dir.join("state.json")), 0o600, "state.json mode");

    let stderr = serve.stderr();
    assert!(!stderr.is_empty(), "debug logging is on");
    assert!(
        !stderr.contains("s3cret"),
        "the engine logged the secret:\n{stderr}"
    );
    let ls = sandbox.spool(&["ls"]);
    assert!(!ls.stdout.contains("s3cret") && !ls.stderr.contains("s3cret"));
}
