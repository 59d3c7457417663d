//! Recovery from the command line: `spool relink` of an expired link (exit
//! 0 and the same stream URL; exit 1 naming the difference), `spool add` of
//! a failed item's file, and a damaged item listed and removed.

use std::time::Duration;

use crate::support::origin::{Faults, Origin};
use crate::util::{content, id_of, sha256, Sandbox};

const ETAG: &str = "\"cli-relink\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_relink_exit_codes_and_adding_a_failed_items_file() {
    let body = content(4 << 20, 151);
    // Signed links valid for 2 s; 256 KiB/s per response, each cut after
    // 256 KiB so that fetches ask again (and meet the expiry): the ≥ 4 s
    // download cannot finish before its link expires.
    let origin = Origin::start(
        body.clone(),
        Faults {
            signed: true,
            etag: Some(ETAG.into()),
            rate: Some(256 << 10),
            reset_after: Some(256 << 10),
            ..Faults::default()
        },
    )
    .await;
    let mut sandbox = Sandbox::new();
    let _serve = sandbox.serve(&[]);
    let stream_url = sandbox.add(&origin.signed_url(Duration::from_secs(2)));
    let id = id_of(&sandbox, &stream_url);
    let failed = sandbox.wait_item(&id, "the item to fail once its link expired", |i| {
        assert_ne!(i["state"], "complete", "the download beat the expiry: {i}");
        i["state"] == "failed"
    });
    assert!(
        failed["error"].as_str().unwrap_or_default().contains("403"),
        "{failed}"
    );

    origin.set_faults(Faults {
        signed: true,
        etag: Some(ETAG.into()),
        ..Faults::default()
    });
    let fresh = origin.signed_url(Duration::from_secs(600));

    // Adding the fresh link suggests the relink, and adds nothing.
    let out = sandbox.spool(&["add", &fresh]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains(&format!("spool relink {id}")), "{out:?}");
    assert_eq!(sandbox.ls().len(), 1);

    // Another file: refused, naming the difference; nothing changes.
    let other = Origin::start(content((4 << 20) + 1, 152), Faults::default()).await;
    let out = sandbox.spool(&["relink", &id, &other.url()]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("its length is"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let item = sandbox.item(&id);
    assert_eq!(item["state"], "failed", "{item}");
    assert_eq!(item["source_url"], failed["source_url"]);

    let out = sandbox.spool(&["relink", "deadbeef", &fresh]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("deadbeef"), "{out:?}");
    let out = sandbox.spool(&["relink", &id]);
    assert_eq!(out.code(), Some(2), "a missing URL is a usage error: {out:?}");

    // A second copy when asked for.
    let copy_url = origin.signed_url(Duration::from_secs(601));
    let out = sandbox.spool(&["add", "--new-copy", &copy_url]);
    out.expect_ok("spool add --new-copy");
    assert_ne!(out.stdout.trim_end(), stream_url);
    assert_eq!(sandbox.ls().len(), 2);

    // The same file: exit 0, the same stream URL, and it completes exact.
    let out = sandbox.spool(&["relink", &id, &fresh]);
    out.expect_ok("spool relink");
    assert_eq!(out.stdout.trim_end(), stream_url);
    let item = sandbox.wait_item(&id, "the relinked item to complete", |i| {
        assert_ne!(i["state"], "failed", "{i}");
        i["state"] == "complete"
    });
    assert_eq!(item["source_url"], fresh.as_str());
    let served = reqwest::get(&stream_url).await.expect("GET the stream URL");
    let bytes = served.bytes().await.expect("the body");
    assert_eq!(sha256(&bytes), sha256(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_item_is_listed_and_spool_rm_frees_its_space() {
    let origin = Origin::start(content(1 << 20, 153), Faults::default()).await;
    let mut sandbox = Sandbox::new();
    let mut serve = sandbox.serve(&[]);
    let kept = sandbox.add(&format!("{}?kept", origin.url()));
    let stream_url = sandbox.add(&origin.url());
    let id = id_of(&sandbox, &stream_url);
    let kept_id = id_of(&sandbox, &kept);
    for item in [&id, &kept_id] {
        sandbox.wait_item(item, "the download", |i| i["state"] == "complete");
    }
    serve.signal(libc::SIGTERM);
    serve
        .wait(crate::util::PATIENCE)
        .expect("spool serve exits on SIGTERM");

    // A torn write of both metadata files.
    let dir = sandbox.item_dir(&id);
    std::fs::write(dir.join("item.json"), b"").expect("garble item.json");
    std::fs::write(dir.join("state.json"), b"{\"name\": \"file.b").expect("garble state.json");
    let _serve = sandbox.serve(&[]);

    let item = sandbox.item(&id);
    assert_eq!(item["state"], "failed", "{item}");
    let reason = item["error"].as_str().unwrap_or_default();
    assert!(reason.starts_with("its metadata is damaged: "), "{reason}");
    let table = sandbox.spool(&["ls"]);
    table.expect_ok("spool ls");
    assert!(
        table.stdout.contains("its metadata is damaged"),
        "{}",
        table.stdout
    );
    assert_eq!(
        sandbox.item(&kept_id)["state"],
        "complete",
        "the other item is intact"
    );

    let out = sandbox.spool(&["resume", &id]);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("spool rm"), "{out:?}");
    sandbox.spool(&["rm", &id]).expect_ok("spool rm");
    assert!(!dir.exists(), "its files are gone");
    assert_eq!(sandbox.ls().len(), 1);
}
