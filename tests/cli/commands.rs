//! The CLI contract (docs/CONTRACT.md), command by command, with the real binary.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::origin::{Faults, Origin};
use crate::util::{content, id_of, run, sha256, wait_for, Sandbox, PATIENCE, SPOOL};

/// Scripts parse `spool add`'s output and `ls --json`: their exact shape is
/// the contract, and every management command must show up in `ls`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_ls_and_item_commands() {
    let body = content(4 << 20, 1);
    // Throttled (4 connections × 256 KiB/s ≈ 4 s) so pause finds it running.
    let faults = Faults {
        rate: Some(256 << 10),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), faults).await;
    let mut sandbox = Sandbox::new();
    let serve = sandbox.serve(&[]);

    let out = sandbox.spool(&["add", &origin.url()]);
    out.expect_ok("spool add");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "add prints exactly one line: {:?}", out.stdout);
    let stream_url = lines[0];
    let prefix = format!("http://127.0.0.1:{}/m/", serve.port);
    let rest = stream_url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{stream_url} does not start with {prefix}"));
    let (token, name) = rest.split_once('/').expect("/m/<token>/<name>");
    assert_eq!(token.len(), 22, "token {token:?}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "token is URL-safe base64: {token:?}"
    );
    assert_eq!(name, "file.bin");

    // Adding the same URL again gives the same item.
    let again = sandbox.spool(&["add", &origin.url()]);
    again.expect_ok("second spool add");
    assert_eq!(again.stdout.trim_end(), stream_url);

    let items = sandbox.ls();
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    let fields: BTreeSet<&str> = item
        .as_object()
        .expect("items are objects")
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = [
        "id",
        "source_url",
        "stream_url",
        "name",
        "size",
        "downloaded",
        "state",
        "pinned",
        "error",
        "collection",
        "position",
        "duration",
        "watched",
        "resume_at",
        "last_played",
    ]
    .into();
    assert_eq!(fields, want);
    assert!(
        item["collection"].is_null(),
        "a lone item belongs to no collection"
    );
    assert_eq!(item["source_url"], origin.url());
    assert_eq!(item["stream_url"], stream_url);
    assert_eq!(item["name"], "file.bin");
    assert_eq!(item["size"], body.len() as u64);
    assert_eq!(item["pinned"], false);
    assert!(item["error"].is_null());
    // `add` returns once the item exists, long before the ≈ 4 s download.
    assert_ne!(item["state"], "complete", "{item}");
    let id = id_of(&sandbox, stream_url);

    // The table lists the id.
    let table = sandbox.spool(&["ls"]);
    table.expect_ok("spool ls");
    assert!(table.stdout.contains(&id), "{}", table.stdout);

    sandbox.spool(&["pin", &id]).expect_ok("spool pin");
    assert_eq!(sandbox.item(&id)["pinned"], true);
    sandbox.spool(&["unpin", &id]).expect_ok("spool unpin");
    assert_eq!(sandbox.item(&id)["pinned"], false);

    sandbox.spool(&["pause", &id]).expect_ok("spool pause");
    let paused = sandbox.item(&id);
    assert_eq!(paused["state"], "paused", "{paused}");
    // Paused means the origin stops sending: wait for 500 ms of silence,
    // which must come well before the download could have ended.
    let mut last = (origin.bytes_sent(), Instant::now());
    let quiet = wait_for("the origin to go quiet after pause", || {
        let now = origin.bytes_sent();
        if now != last.0 {
            last = (now, Instant::now());
        }
        (last.1.elapsed() >= Duration::from_millis(500)).then_some(now)
    });
    let still = sandbox.item(&id);
    assert!(
        quiet.is_some() && still["downloaded"].as_u64() < Some(body.len() as u64),
        "a paused item keeps downloading: {still}"
    );
    assert_eq!(still["state"], "paused", "{still}");
    sandbox.spool(&["resume", &id]).expect_ok("spool resume");
    sandbox.wait_item(&id, "a resumed download to complete", |i| {
        i["state"] == "complete"
    });

    // The printed URL really serves the file.
    let served = reqwest::get(stream_url).await.expect("GET the stream URL");
    assert_eq!(served.status(), 200);
    let served = served.bytes().await.expect("read the stream");
    assert_eq!(sha256(&served), sha256(&body));

    let item_dir = sandbox.item_dir(&id);
    assert!(item_dir.is_dir(), "{} exists before rm", item_dir.display());
    sandbox.spool(&["rm", &id]).expect_ok("spool rm");
    assert!(sandbox.ls().is_empty(), "rm removes the item from ls");
    assert!(!item_dir.exists(), "rm deletes {}", item_dir.display());
}

/// `SPOOL_DATA_DIR` is the documented alternative to `--data-dir`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_from_the_environment() {
    let origin = Origin::start(content(1000, 2), Faults::default()).await;
    let mut sandbox = Sandbox::new();
    let _serve = sandbox.serve(&[]);
    let mut cmd = Command::new(SPOOL);
    cmd.env("SPOOL_DATA_DIR", sandbox.data())
        .args(["add", &origin.url()]);
    run(cmd, PATIENCE).expect_ok("spool add with SPOOL_DATA_DIR");
    assert_eq!(sandbox.ls().len(), 1);
}

/// A transient origin fault (503) while adding is retried, not reported:
/// `add` succeeds and the download completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_rides_out_transient_faults() {
    let body = content(256 << 10, 8);
    let faults = Faults {
        fail_first: 2,
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), faults).await;
    let mut sandbox = Sandbox::new();
    let _serve = sandbox.serve(&[]);
    let id = id_of(&sandbox, &sandbox.add(&origin.url()));
    let done = sandbox.wait_item(&id, "completion after 503s", |i| {
        i["state"] == "complete" || i["state"] == "failed"
    });
    assert_eq!(done["state"], "complete", "{done}");
    assert_eq!(done["size"], body.len() as u64);
    assert!(origin.log().iter().any(|e| e.status == 503));
}

/// A download that fails for good shows why in `ls` (table and JSON), and
/// `spool resume` retries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_items_say_why_and_resume_retries() {
    // Small enough for one connection; the probe's body is cut after 2 s.
    let body = content(1 << 20, 9);
    let faults = Faults {
        rate: Some(64 << 10),
        reset_after: Some(128 << 10),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), faults).await;
    let mut sandbox = Sandbox::new();
    let _serve = sandbox.serve(&[]);
    let id = id_of(&sandbox, &sandbox.add(&origin.url()));
    // From now on (the retry after the cut) the origin refuses for good.
    origin.set_faults(Faults {
        fail_always: true,
        fail_status: Some(403),
        ..Faults::default()
    });
    let failed = sandbox.wait_item(&id, "the item to fail", |i| i["state"] == "failed");
    let reason = failed["error"].as_str().expect("a failed item has an error");
    assert!(reason.contains("403"), "{failed}");
    let table = sandbox.spool(&["ls"]);
    assert!(
        table.stdout.contains(reason),
        "ls shows the reason: {}",
        table.stdout
    );

    origin.set_faults(Faults::default());
    sandbox.spool(&["resume", &id]).expect_ok("spool resume");
    sandbox.wait_item(&id, "completion after resume", |i| i["state"] == "complete");
    let data = std::fs::read(sandbox.item_dir(&id).join("data")).expect("read data");
    assert_eq!(sha256(&data), sha256(&body));
}
