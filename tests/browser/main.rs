//! End-to-end test of the browser extension: a real Chromium (Debian's
//! `chromium` + `chromium-driver`) with the unpacked extension loaded
//! (`--load-extension`), under Xvfb, against a test page with a `<video>`
//! served on loopback and a real `spool serve`.
//!
//! Needs a display, `chromium` and `chromedriver`, so it is ignored by a
//! plain `cargo test`; `scripts/test` runs it as
//! `xvfb-run -a cargo test --test browser -- --ignored`.
//!
//! The pairing is confirmed through the control API with the full control
//! token (read from `engine.json`), which is exactly what the app's
//! "Confirm" does (`Engine::confirm_pairing`); see the README's Decisions.

#[path = "../../src-tauri/engine/tests/support/mod.rs"]
mod support;
// The CLI tests' helpers (Sandbox, a `spool serve` child); most go unused here.
#[path = "../cli/util.rs"]
#[allow(dead_code, unused_imports)]
mod util;
// The desktop test's WebDriver client, here speaking to chromedriver.
#[path = "../desktop/webdriver.rs"]
#[allow(dead_code)]
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::origin::{Faults, Origin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::Sandbox;
use webdriver::Session;

/// Upper bound of every wait: a failure, never a fixed sleep.
const PATIENCE: Duration = Duration::from_secs(30);

async fn until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    support::until(what, PATIENCE, Duration::from_millis(100), check).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Builds the extension (scripts/build-extension) and returns the unpacked
/// Chromium folder.
fn build_extension() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(root.join("scripts/build-extension"))
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/build-extension");
    assert!(status.success(), "scripts/build-extension failed");
    root.join("target/extension/chromium")
        .canonicalize()
        .expect("the built extension")
}

/// Chromium's id for an unpacked extension: the first 128 bits of the
/// SHA-256 of its absolute path, each hex digit written as a letter a–p.
fn extension_id(dir: &Path) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
    hash[..16]
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|n| char::from(b'a' + n))
        .collect()
}

/// A loopback web server with the test page: a `<video>` of the origin's
/// file, and a link to it. Serves every request the same page.
async fn serve_page(video: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let page = format!(
        "<!doctype html><html><head><title>Lecture 7</title></head><body>\
         <h1>Lecture 7</h1><video id=v controls preload=none title=\"Lecture 7 (video)\" src=\"{video}\"></video>\
         <p><a href=\"/notes.pdf\">Notes</a></p></body></html>"
    );
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = stream.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/lecture.html"), task)
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(port: u16) -> Api {
        Api {
            client: reqwest::Client::builder().no_proxy().build().expect("client"),
            base: format!("http://127.0.0.1:{port}/api"),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        origin: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/{path}", self.base))
            .bearer_auth(token);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let response = request.send().await.expect("API request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn control_token(data: &Path) -> String {
    let text = std::fs::read_to_string(data.join("engine.json")).expect("engine.json");
    let json: Value = serde_json::from_str(&text).expect("engine.json is JSON");
    json["token"].as_str().expect("token").to_string()
}

/// Runs `script` in the current page, an extension page, and returns what
/// it resolves to (a string, for simple comparisons).
async fn in_page(session: &Session, script: &str) -> Value {
    session
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1];
                 (async () => {{ {script} }})().then(done, (e) => done('error: ' + e));"
            ),
            &[],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, chromium and chromedriver: scripts/test runs it"]
async fn the_extension_pairs_and_sends_a_pages_video_with_its_referer() {
    let display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty());
    if !support::require(
        display && on_path("chromium") && on_path("chromedriver"),
        "this test needs DISPLAY (xvfb-run), chromium and chromedriver (scripts/install-deps)",
    ) {
        return;
    }
    let extension = build_extension();
    let id = extension_id(&extension);
    let ext_origin = format!("chrome-extension://{id}");

    // The media origin, the page that shows it, and the engine.
    let origin = Origin::start(support::content(1 << 20, 7), Faults::default()).await;
    let video = origin.url();
    let (page, _page_task) = serve_page(video.clone()).await;
    let mut sandbox = Sandbox::new();
    let player_log = sandbox.dir.path().join("player.log");
    let player = sandbox.dir.path().join("stub-player");
    std::fs::write(
        &player,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\n", player_log.display()),
    )
    .expect("write the stub player");
    std::fs::set_permissions(&player, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let serve = sandbox.serve(&["--player", &player.to_string_lossy()]);
    let api = Api::new(serve.port);
    let token = control_token(&sandbox.data());

    // Chromium with the unpacked extension, driven by chromedriver.
    let driver_port = free_port();
    let _driver = support::ChildGuard(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let profile = sandbox.dir.path().join("chromium-profile");
    let mut args = vec![
        format!("--load-extension={}", extension.display()),
        format!("--disable-extensions-except={}", extension.display()),
        format!("--user-data-dir={}", profile.display()),
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--no-first-run".to_string(),
        "--disable-sync".to_string(),
        "--window-size=900,700".to_string(),
    ];
    // Chromium refuses to run as root without this.
    if unsafe { libc::geteuid() } == 0 {
        args.push("--no-sandbox".to_string());
    }
    let session = Session::start_with(
        driver_port,
        json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}),
    )
    .await;

    // The page, then the popup (opened as a tab, pointed at the page's tab).
    session.navigate(&page).await;
    session.new_tab().await;
    session.navigate(&format!("{ext_origin}/popup.html")).await;
    let tab = in_page(
        &session,
        &format!(
            "await chrome.storage.local.set({{ port: {} }});
             const tabs = await chrome.tabs.query({{}});
             return tabs.find((t) => t.url === {page:?}).id;",
            serve.port
        ),
    )
    .await;
    let tab = tab.as_i64().unwrap_or_else(|| panic!("the page's tab: {tab}"));
    session
        .navigate(&format!("{ext_origin}/popup.html?tab={tab}"))
        .await;
    let entry = format!("li[data-url={video:?}]");
    until("the popup to list the page's video", || async {
        let listed = session.text("#media").await;
        listed.contains("Lecture 7 (video)").then_some(())
    })
    .await;

    // Unpaired: the extension's own request is refused (403), nothing added.
    let refused = in_page(
        &session,
        &format!(
            "const r = await fetch('http://127.0.0.1:{}/api/items', {{ method: 'POST',
               headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({{ url: {video:?} }}) }});
             return r.status;",
            serve.port
        ),
    )
    .await;
    assert_eq!(refused, json!(403), "an unpaired extension must be refused");
    session.click(&format!("{entry} button.play")).await;
    until("the popup to ask for pairing", || async {
        session
            .text("#status")
            .await
            .contains("Pair with Spool first")
            .then_some(())
    })
    .await;
    assert!(sandbox.ls().is_empty(), "nothing may be added unpaired");

    // Pair: the popup shows a code; the app's pending request has the same
    // code and the extension's origin; confirming it pairs the popup.
    session.click("#pair-button").await;
    let code = until("the popup to show a pairing code", || async {
        let code = session.text("#pair-code").await;
        (code.len() == 6).then_some(code)
    })
    .await;
    let (status, pairings) = api.call(reqwest::Method::GET, "pairings", &token, None).await;
    assert_eq!(status, 200, "{pairings}");
    let request = &pairings["requests"][0];
    assert_eq!(request["code"], code.as_str(), "{pairings}");
    assert_eq!(request["origin"], ext_origin.as_str(), "{pairings}");
    let path = format!(
        "pairings/{}/confirm",
        request["request"].as_str().expect("request id")
    );
    let (status, paired) = api.call(reqwest::Method::POST, &path, &token, None).await;
    assert_eq!(status, 200, "{paired}");
    until("the popup to say it is paired", || async {
        (session.text("#connection").await == "paired").then_some(())
    })
    .await;

    // One click on the video's Play: added with the page as Referer, played.
    session.click(&format!("{entry} button.play")).await;
    let item = until("the video in spool ls --json", || async {
        sandbox
            .ls()
            .into_iter()
            .find(|i| i["source_url"] == video.as_str())
    })
    .await;
    let stream_url = item["stream_url"].as_str().expect("stream_url").to_string();
    until("the stub player to receive the stream URL", || async {
        let args = std::fs::read_to_string(&player_log).unwrap_or_default();
        args.lines().any(|l| l == stream_url).then_some(())
    })
    .await;
    let log = origin.log();
    assert!(!log.is_empty());
    for entry in &log {
        assert_eq!(
            entry.header("referer"),
            Some(page.as_str()),
            "every origin request carries the page as Referer"
        );
    }
    until("the popup to confirm", || async {
        session.text("#status").await.starts_with("Playing").then_some(())
    })
    .await;

    // The paired token adds and plays, nothing more: DELETE is refused,
    // from the extension and from anywhere else.
    let paired_token = in_page(
        &session,
        "return (await chrome.storage.local.get('token')).token;",
    )
    .await;
    let paired_token = paired_token.as_str().expect("the stored token").to_string();
    let item_id = item["id"].as_str().expect("id");
    let deleted = in_page(
        &session,
        &format!(
            "const r = await fetch('http://127.0.0.1:{}/api/items/{item_id}', {{ method: 'DELETE',
               headers: {{ Authorization: 'Bearer {paired_token}' }} }});
             return r.status;",
            serve.port
        ),
    )
    .await;
    assert_eq!(deleted, json!(403), "a paired token may not delete");
    let play_with = in_page(
        &session,
        &format!(
            "const r = await fetch('http://127.0.0.1:{}/api/items/{item_id}/play', {{ method: 'POST',
               headers: {{ Authorization: 'Bearer {paired_token}' }}, body: JSON.stringify({{ player: 'sh -c id' }}) }});
             return r.status;",
            serve.port
        ),
    )
    .await;
    assert_eq!(play_with, json!(403), "a paired token may not name the player");
    let path = format!("items/{item_id}");
    let (status, _) = api
        .call(reqwest::Method::DELETE, &path, &paired_token, None)
        .await;
    assert_eq!(
        status, 403,
        "a paired token may not delete, with no Origin either"
    );
    let (status, _) = api
        .call(reqwest::Method::GET, "pairings", &paired_token, Some(&ext_origin))
        .await;
    assert_eq!(status, 403, "a paired token may not list pairings");

    // A web page's fetch is refused, even with the paired token in hand.
    session.navigate(&page).await;
    let from_page = in_page(
        &session,
        &format!(
            "try {{
               const r = await fetch('http://127.0.0.1:{}/api/items', {{ method: 'POST',
                 headers: {{ Authorization: 'Bearer {paired_token}', 'Content-Type': 'application/json' }},
                 body: JSON.stringify({{ url: 'http://127.0.0.1:1/other.mkv' }}) }});
               return 'answered ' + r.status;
             }} catch (e) {{ return 'refused'; }}",
            serve.port
        ),
    )
    .await;
    assert_eq!(from_page, json!("refused"), "a web page cannot use the API");
    // A "simple" request needs no preflight and its answer is opaque to
    // the page: the server itself must refuse it.
    let opaque = in_page(
        &session,
        &format!(
            "await fetch('http://127.0.0.1:{}/api/items', {{ method: 'POST', mode: 'no-cors',
               body: JSON.stringify({{ url: 'http://127.0.0.1:1/simple.mkv' }}) }});
             return 'sent';",
            serve.port
        ),
    )
    .await;
    assert_eq!(opaque, json!("sent"));
    let page_origin = page.trim_end_matches("/lecture.html");
    let (status, _) = api
        .call(reqwest::Method::POST, "items", &paired_token, Some(page_origin))
        .await;
    assert_eq!(status, 403, "requests with a web page's Origin are refused");
    assert_eq!(sandbox.ls().len(), 1, "only the video was added");

    // The README's screenshot of the popup listing the page's media.
    if let Some(path) = std::env::var_os("SPOOL_POPUP_SCREENSHOT") {
        session
            .navigate(&format!("{ext_origin}/popup.html?tab={tab}"))
            .await;
        until("the popup to render", || async {
            session.text("#media").await.contains("Lecture 7").then_some(())
        })
        .await;
        let png = session.element_screenshot("body").await;
        std::fs::write(&path, png).expect("write the popup screenshot");
    }
    session.close().await;
}
