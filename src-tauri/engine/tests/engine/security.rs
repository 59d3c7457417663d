//! Loopback security: Host allow-list (DNS rebinding), Origin (web pages),
//! unguessable item tokens, methods, the control API's bearer token, and
//! per-item request headers kept secret.

use std::os::unix::fs::PermissionsExt;

use crate::support::origin::{Faults, Origin};
use crate::util::{assert_bytes, content, exchange, http, path_of, Conn, TestEngine, KIB};

const LEN: usize = 64 * KIB;

/// A complete item; returns the engine, the item's path and its bytes.
async fn setup(seed: u64) -> (Origin, TestEngine, String, Vec<u8>) {
    let data = content(LEN, seed);
    let origin = Origin::start(data.clone(), Faults::default()).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    t.wait_complete(&item.id).await;
    (origin, t, path_of(&item.stream_url), data)
}

/// Sends `raw` (a whole request head) on a new connection; the server
/// closes after answering (the requests carry `Connection: close` or are
/// HTTP/1.0, or are refused).
async fn raw(port: u16, head: &str) -> crate::util::Response {
    let mut conn = Conn::open(port).await;
    conn.send(head).await;
    conn.response(head.starts_with("HEAD")).await
}

/// A rebinding page reaches 127.0.0.1 under its own host name: any Host
/// other than 127.0.0.1:PORT, localhost:PORT or [::1]:PORT is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_outside_allow_list_is_421() {
    let (_origin, t, path, _) = setup(50).await;
    let port = t.port();
    let get = |host: String| format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_string(),
        "localhost".to_string(),
    ] {
        assert_eq!(raw(port, &get(host.clone())).await.status, 421, "Host: {host}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(raw(port, &get(host.clone())).await.status, 200, "Host: {host}");
    }
}

/// A web page's fetch carries its Origin: anything but the engine's own
/// loopback origins (including the opaque `null`) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_is_403() {
    let (_origin, t, path, _) = setup(51).await;
    let port = t.port();
    for origin in [
        "https://evil.example",
        "null",
        &format!("http://127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let response = exchange(port, "GET", &path, &[("Origin", origin)]).await;
        assert_eq!(response.status, 403, "Origin: {origin}");
        assert_eq!(response.header("access-control-allow-origin"), None);
    }
    let own = format!("http://127.0.0.1:{port}");
    assert_eq!(
        exchange(port, "GET", &path, &[("Origin", &own)]).await.status,
        200
    );
}

/// RFC 9112 §3.2: HTTP/1.1 without Host is a bad request; HTTP/1.0 had no
/// Host, and old players still send it that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_host_is_400_for_http11_and_served_for_http10() {
    let (_origin, t, path, data) = setup(52).await;
    let port = t.port();
    let http11 = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(raw(port, &http11).await.status, 400);

    let http10 = format!("GET {path} HTTP/1.0\r\n\r\n");
    let response = raw(port, &http10).await;
    assert_eq!(response.status, 200);
    assert_bytes(&response.body, &data, "HTTP/1.0 body");
}

/// Item URLs are capabilities: a token that is not an item's is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_is_404() {
    let (_origin, t, path, _) = setup(53).await;
    let name = path.rsplit('/').next().expect("a name");
    let unknown = format!("/m/AAAAAAAAAAAAAAAAAAAAAA/{name}");
    assert_eq!(exchange(t.port(), "GET", &unknown, &[]).await.status, 404);
    assert_eq!(exchange(t.port(), "GET", "/m/", &[]).await.status, 404);
    assert_eq!(exchange(t.port(), "GET", "/", &[]).await.status, 404);
}

/// The media endpoint is read-only: other methods get 405 and `Allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_on_media_are_405() {
    let (_origin, t, path, _) = setup(54).await;
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let response = exchange(t.port(), method, &path, &[("Content-Length", "0")]).await;
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

/// The control API can add URLs that the engine will fetch: without the
/// bearer token every path is 401, even unknown ones (no probing of routes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_requires_bearer_token() {
    let t = TestEngine::start().await;
    let base = format!("http://127.0.0.1:{}", t.port());
    let token = t.engine.info().control_token;
    let client = http();
    for path in ["/api/items", "/api/nope"] {
        let url = format!("{base}{path}");
        let none = client.get(&url).send().await.expect("request");
        assert_eq!(none.status(), 401, "{path} without a token");
        let wrong = client
            .get(&url)
            .bearer_auth(format!("{token}x"))
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let other = client
            .get(&url)
            .bearer_auth("AAAAAAAAAAAAAAAAAAAAAA")
            .send()
            .await;
        assert_eq!(other.expect("request").status(), 401, "{path} with another token");
    }
    let post = client.post(format!("{base}/api/items")).body("{}").send().await;
    assert_eq!(post.expect("request").status(), 401, "POST without a token");

    let items = client
        .get(format!("{base}/api/items"))
        .bearer_auth(&token)
        .send()
        .await;
    let items = items.expect("request");
    assert_eq!(items.status(), 200);
    let items: serde_json::Value = items.json().await.expect("JSON");
    assert_eq!(items, serde_json::json!([]));
    let nope = client
        .get(format!("{base}/api/nope"))
        .bearer_auth(&token)
        .send()
        .await;
    assert_eq!(nope.expect("request").status(), 404);
}

/// A private origin: without the header `add` fails with the origin's 401
/// and adds nothing; with it, every origin request carries the header, and
/// the file that stores it is readable by its owner only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_item_headers_are_sent_and_stored_privately() {
    let len = 6 * 1024 * KIB;
    let data = content(len, 55);
    let faults = Faults {
        require_header: Some(("Authorization".into(), "Bearer s3cret".into())),
        rate: Some(4 * 1024 * KIB as u64),
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::start().await;

    let refused = t.engine.add(&origin.url(), &[]).await;
    let error = refused.expect_err("add without the header must fail").to_string();
    assert!(error.contains("401"), "error: {error}");
    assert!(t.engine.items().is_empty(), "nothing is added");
    let on_disk = std::fs::read_dir(t.dir.path().join("items")).map_or(0, |d| d.count());
    assert_eq!(on_disk, 0, "no item directory is left behind");

    let before = origin.gets().len();
    let header = ["Authorization: Bearer s3cret".to_string()];
    let item = t
        .engine
        .add(&origin.url(), &header)
        .await
        .expect("add with the header");
    let path = path_of(&item.stream_url);
    // A seek far ahead makes the engine open another origin request.
    let tail = exchange(t.port(), "GET", &path, &[("Range", "bytes=-1000")]).await;
    assert_eq!(tail.status, 206);
    assert_bytes(&tail.body, &data[len - 1000..], "tail");
    t.wait_complete(&item.id).await;

    // GETs: a warm-up HEAD of the refused add (no header) may arrive late.
    let log = &origin.gets()[before..];
    assert!(log.len() >= 2, "expected several origin requests: {log:?}");
    for entry in log {
        assert_eq!(
            entry.header("authorization"),
            Some("Bearer s3cret"),
            "origin request without the item's header: {entry:?}"
        );
        assert_ne!(entry.status, 401, "{entry:?}");
    }

    let item_json = t.dir.path().join("items").join(&item.id).join("item.json");
    let stored = std::fs::read_to_string(&item_json).expect("item.json");
    assert!(stored.contains("s3cret"), "item.json holds the header");
    let mode = std::fs::metadata(&item_json).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode of {}", item_json.display());
    let dir_mode = std::fs::metadata(t.dir.path())
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "mode of the data dir");
}
