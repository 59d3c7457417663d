//! Refreshing an expired link: an origin issuing signed URLs that expire
//! after a few seconds fails the item with 403; a relink to a fresh URL of
//! the same file resumes it from its gaps (ranged requests only, none for
//! bytes already present) and ends with the exact file; a relink to another
//! file is refused and changes nothing.

use std::time::Duration;

use spool_engine::{AddOptions, ByteRange, Error, ItemState, ItemView};

use crate::support::origin::{Faults, LogEntry, Origin};
use crate::util::{content, get_exact, path_of, TestEngine, KIB, MIB};

const ETAG: &str = "\"relink-v1\"";
/// Long enough for some bytes to arrive, short enough for a quick test.
const TTL: Duration = Duration::from_secs(2);

/// Signed URLs; while the link is valid, 256 KiB/s per response and every
/// response cut after 256 KiB, so that fetches keep asking the origin again
/// (and meet the expiry: a response under way is not cut by it).
fn slow_signed(etag: Option<&str>) -> Faults {
    Faults {
        signed: true,
        etag: etag.map(str::to_string),
        rate: Some(256 * KIB as u64),
        reset_after: Some(256 * KIB as u64),
        ..Faults::default()
    }
}

/// Adds a signed URL of `origin` that expires after [`TTL`] and waits for
/// the item to fail with 403, part of it downloaded.
async fn expired_item(t: &TestEngine, origin: &Origin, len: usize) -> ItemView {
    let item = t.add(&origin.signed_url(TTL)).await;
    let failed = t
        .wait_item(&item.id, "the item to fail once its link expired", |v| {
            assert_ne!(
                v.state,
                ItemState::Complete,
                "the download beat the expiry: {v:?}"
            );
            v.state == ItemState::Failed
        })
        .await;
    let reason = failed.error.clone().unwrap_or_default();
    assert!(reason.contains("403"), "fails with the origin's 403: {failed:?}");
    let present = t.engine.present(&item.id).expect("present");
    assert!(
        present.total() > 0 && present.total() < len as u64,
        "part of the file is on disk: {} of {len}",
        present.total()
    );
    failed
}

/// `bytes=a-b` as `[a, b + 1)`; an open end runs to `len`.
fn requested(entry: &LogEntry, len: u64) -> Option<(u64, u64)> {
    let spec = entry.range.as_deref()?.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let end = if b.is_empty() {
        len
    } else {
        b.parse::<u64>().ok()? + 1
    };
    Some((a.parse().ok()?, end))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_is_refreshed_and_the_download_resumes_from_its_gaps() {
    let len = 8 * MIB;
    let data = content(len, 131);
    let origin = Origin::start(data.clone(), slow_signed(Some(ETAG))).await;
    let t = TestEngine::start().await;
    let failed = expired_item(&t, &origin, len).await;
    let old_url = failed.source_url.clone();

    // The origin is fast now, and still signs its URLs.
    origin.set_faults(Faults {
        signed: true,
        etag: Some(ETAG.to_string()),
        ..Faults::default()
    });
    let expired = crate::util::http().get(&old_url).send().await.expect("GET");
    assert_eq!(expired.status(), 403, "the old link stays expired");
    let before = t.engine.present(&failed.id).expect("present");
    let mark = origin.log().len();
    let fresh = origin.signed_url(Duration::from_secs(600));
    let relinked = t.engine.relink(&failed.id, &fresh).await.expect("relink");
    assert_eq!(relinked.id, failed.id);
    assert_eq!(relinked.stream_url, failed.stream_url, "the stream URL stays");
    assert_eq!(relinked.source_url, fresh);
    assert_ne!(relinked.state, ItemState::Failed);
    assert_eq!(relinked.error, None);
    t.wait_complete(&failed.id).await;

    let body = get_exact(t.port(), &path_of(&failed.stream_url), &[], 200).await;
    crate::util::assert_bytes(&body.body, &data, "the relinked item");

    let after: Vec<LogEntry> = origin.log().split_off(mark);
    let gets: Vec<&LogEntry> = after.iter().filter(|e| e.method == "GET").collect();
    assert!(!gets.is_empty());
    let fresh_target = &fresh[origin.base_url().len()..];
    let mut fetched = 0;
    for get in &gets {
        assert_eq!(get.path, fresh_target, "every request uses the new URL");
        let (a, b) = requested(get, len as u64).unwrap_or_else(|| panic!("a ranged request only: {get:?}"));
        assert!(
            before.missing(a, b) == vec![ByteRange::new(a, b)],
            "bytes {a}..{b} asked for again, {} of them present before the relink",
            (b - a) - before.missing(a, b).iter().map(|r| r.len()).sum::<u64>()
        );
        fetched += get.body_bytes;
    }
    let missing = len as u64 - before.total();
    println!(
        "relinked download: {fetched} bytes fetched in {} ranged requests for {missing} missing bytes ({} already on disk, of {len})",
        gets.len(),
        before.total()
    );
    assert!(
        fetched >= missing,
        "{fetched} bytes fetched for {missing} missing"
    );
}

/// Checks that a relink to `url` is refused, naming the difference, and
/// changes nothing: same URL, same failure, same bytes, same `item.json`.
async fn assert_refused(t: &TestEngine, id: &str, url: &str, names: &str) {
    let identity = t.dir.path().join("items").join(id).join("item.json");
    let on_disk = std::fs::read(&identity).expect("item.json");
    let (item, present) = (t.item(id), t.engine.present(id).expect("present"));
    let err = t
        .engine
        .relink(&item.id, url)
        .await
        .expect_err("a relink to another file");
    assert!(matches!(err, Error::NotTheSameFile { .. }), "{err:?}");
    assert_eq!(err.code(), "not_the_same_file");
    let message = err.to_string();
    assert!(
        message.contains(names),
        "the message names the difference ({names}): {message}"
    );
    println!("refused: {message}");
    assert_eq!(t.item(id), item, "the item is unchanged");
    assert_eq!(t.engine.present(id).expect("present"), present);
    assert_eq!(std::fs::read(&identity).expect("item.json"), on_disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relink_to_another_file_is_refused_and_changes_nothing() {
    let len = 4 * MIB;
    let data = content(len, 132);
    let origin = Origin::start(data.clone(), slow_signed(Some(ETAG))).await;
    let t = TestEngine::start().await;
    let item = expired_item(&t, &origin, len).await;

    let longer = Origin::start(
        content(len + 1, 132),
        Faults {
            etag: Some(ETAG.to_string()),
            ..Faults::default()
        },
    )
    .await;
    assert_refused(&t, &item.id, &longer.url(), "its length is").await;

    let edited = Origin::start(
        content(len, 133),
        Faults {
            etag: Some("\"relink-v2\"".to_string()),
            ..Faults::default()
        },
    )
    .await;
    assert_refused(&t, &item.id, &edited.url(), "its ETag is \"relink-v2\"").await;

    // The same file after all: accepted.
    origin.set_faults(Faults {
        signed: true,
        etag: Some(ETAG.to_string()),
        ..Faults::default()
    });
    t.engine
        .relink(&item.id, &origin.signed_url(Duration::from_secs(600)))
        .await
        .expect("the same file");
    t.wait_complete(&item.id).await;
}

/// Without ETag or Last-Modified, sampled bytes already on disk decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_validators_sampled_bytes_decide() {
    let len = 4 * MIB;
    let data = content(len, 134);
    let origin = Origin::start(data.clone(), slow_signed(None)).await;
    let t = TestEngine::start().await;
    let item = expired_item(&t, &origin, len).await;

    // Same length, other bytes: refused on the first sample that differs.
    let other = Origin::start(content(len, 135), Faults::default()).await;
    assert_refused(&t, &item.id, &other.url(), "differ from those already downloaded").await;

    // The same bytes at another address: accepted, and completes exact.
    let mirror = Origin::start(data.clone(), Faults::default()).await;
    let relinked = t
        .engine
        .relink(&item.id, &mirror.url())
        .await
        .expect("the same bytes");
    assert_eq!(relinked.stream_url, item.stream_url);
    t.wait_complete(&item.id).await;
    let body = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
    crate::util::assert_bytes(&body.body, &data, "the relinked item");
    for get in mirror.gets() {
        assert!(get.range.is_some(), "ranged requests only: {get:?}");
    }
}

/// Adding a fresh URL of a failed item's file suggests the relink instead
/// of a second copy; a new copy is made only when asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_the_file_of_a_failed_item_suggests_a_relink() {
    let len = 4 * MIB;
    let origin = Origin::start(content(len, 136), slow_signed(Some(ETAG))).await;
    let t = TestEngine::start().await;
    let item = expired_item(&t, &origin, len).await;
    origin.set_faults(Faults {
        signed: true,
        etag: Some(ETAG.to_string()),
        ..Faults::default()
    });
    let fresh = origin.signed_url(Duration::from_secs(600));

    let err = t
        .engine
        .add(&fresh, &[])
        .await
        .expect_err("the file of a failed item");
    assert!(
        matches!(err, Error::MatchesFailedItem { ref id, .. } if *id == item.id),
        "{err:?}"
    );
    assert_eq!(err.code(), "matches_failed_item");
    assert_eq!(err.item(), Some(item.id.as_str()));
    assert!(
        err.to_string().contains(&format!("spool relink {}", item.id)),
        "{err}"
    );
    assert_eq!(t.engine.items().len(), 1, "nothing was added");

    // The control API says the same, naming the item for a client to offer
    // its relink; `new_copy` adds a second copy.
    let api = format!("http://127.0.0.1:{}/api/items", t.port());
    let token = t.engine.info().control_token;
    let post = |body: serde_json::Value| {
        crate::util::http()
            .post(&api)
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let refused = post(serde_json::json!({ "url": fresh })).await.expect("POST");
    assert_eq!(refused.status(), 409);
    let error: serde_json::Value = refused.json().await.expect("JSON error");
    assert_eq!(error["code"], "matches_failed_item");
    assert_eq!(error["item"], item.id.as_str());
    assert_eq!(t.engine.items().len(), 1, "nothing was added");
    let added = post(serde_json::json!({ "url": fresh, "new_copy": true }))
        .await
        .expect("POST");
    assert_eq!(added.status(), 201, "a new copy when asked for");
    let copy: ItemView = added.json().await.expect("the item");
    assert_ne!(copy.id, item.id);
    assert_eq!(t.engine.items().len(), 2);

    // The engine's own option, for the desktop.
    let copy2 = t
        .engine
        .add_with(
            &origin.signed_url(Duration::from_secs(601)),
            &[],
            AddOptions {
                new_copy: true,
                ..AddOptions::default()
            },
        )
        .await
        .expect("a new copy when asked for");
    assert!(copy2.id != item.id && copy2.id != copy.id);
}
