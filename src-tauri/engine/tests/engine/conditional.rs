//! Conditional requests (RFC 9110 §13) on the media endpoint, against the
//! ETag and Last-Modified that Spool itself serves.

use std::time::Duration;

use crate::support::origin::{Faults, Origin};
use crate::util::{assert_bytes, content, exchange, get_exact, path_of, TestEngine, KIB};

const LEN: usize = 256 * KIB;

/// A complete item whose origin sends an ETag and Last-Modified; returns
/// the engine, the item's path, its bytes and the validators Spool serves.
async fn setup(seed: u64) -> (Origin, TestEngine, String, Vec<u8>, String, String) {
    let data = content(LEN, seed);
    let faults = Faults {
        etag: Some("\"origin-v1\"".into()),
        last_modified: true,
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    t.wait_complete(&item.id).await;
    let path = path_of(&item.stream_url);
    let plain = get_exact(t.port(), &path, &[], 200).await;
    let etag = plain.header("etag").expect("an ETag").to_string();
    let last_modified = plain.header("last-modified").expect("Last-Modified").to_string();
    (origin, t, path, data, etag, last_modified)
}

fn shift(date: &str, secs: i64) -> String {
    let t = httpdate::parse_http_date(date).expect("an HTTP-date");
    let d = Duration::from_secs(secs.unsigned_abs());
    httpdate::fmt_http_date(if secs >= 0 { t + d } else { t - d })
}

/// A player revalidating its cached copy with the ETag gets 304, no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_none_match_with_served_etag_is_304() {
    let (_origin, t, path, data, etag, _) = setup(30).await;
    let response = exchange(t.port(), "GET", &path, &[("If-None-Match", &etag)]).await;
    assert_eq!(response.status, 304);
    assert_eq!(response.header("etag"), Some(etag.as_str()));
    assert!(response.body.is_empty(), "a 304 has no body");

    let other = get_exact(t.port(), &path, &[("If-None-Match", "\"something-else\"")], 200).await;
    assert_bytes(&other.body, &data, "If-None-Match that does not match");
}

/// If-Modified-Since at or after Last-Modified is 304; before it, 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_modified_since_not_before_last_modified_is_304() {
    let (_origin, t, path, _, _, last_modified) = setup(31).await;
    assert_eq!(
        last_modified, "Mon, 01 Jan 2024 00:00:00 GMT",
        "the origin's date is passed on"
    );
    for date in [last_modified.clone(), shift(&last_modified, 86_400)] {
        let response = exchange(t.port(), "GET", &path, &[("If-Modified-Since", &date)]).await;
        assert_eq!(response.status, 304, "If-Modified-Since: {date}");
        assert!(response.body.is_empty());
    }
    let earlier = shift(&last_modified, -1);
    get_exact(t.port(), &path, &[("If-Modified-Since", &earlier)], 200).await;
}

/// If-Match with a tag that is not the current one is 412; with the right
/// one the request goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_with_wrong_tag_is_412() {
    let (_origin, t, path, _, etag, _) = setup(32).await;
    let response = exchange(t.port(), "GET", &path, &[("If-Match", "\"wrong\"")]).await;
    assert_eq!(response.status, 412);
    get_exact(t.port(), &path, &[("If-Match", &etag)], 200).await;
}

/// If-Range: a resumed download with the current validator gets its range;
/// with a stale one it gets the whole (new) representation instead, never a
/// range of something else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_range_current_gives_206_stale_gives_200() {
    let (_origin, t, path, data, etag, last_modified) = setup(33).await;
    let range = ("Range", "bytes=1000-1999");
    for validator in [etag.as_str(), last_modified.as_str()] {
        let response = get_exact(t.port(), &path, &[range, ("If-Range", validator)], 206).await;
        assert_eq!(
            response.header("content-range"),
            Some(format!("bytes 1000-1999/{LEN}").as_str()),
            "If-Range: {validator}"
        );
        assert_bytes(&response.body, &data[1000..2000], validator);
    }
    let stale_date = shift(&last_modified, -3600);
    for validator in ["\"stale\"", stale_date.as_str()] {
        let response = get_exact(t.port(), &path, &[range, ("If-Range", validator)], 200).await;
        assert_bytes(&response.body, &data, validator);
    }
}
