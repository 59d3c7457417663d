//! The few W3C WebDriver calls the test needs, over plain HTTP + JSON.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Session {
    client: reqwest::Client,
    base: String,
}

impl Session {
    /// Opens a session on tauri-driver at `port` for the app at `application`
    /// (tauri-driver may still be starting: retried for a while).
    pub async fn start(port: u16, application: &str) -> Session {
        Session::start_with(port, json!({"tauri:options": {"application": application}})).await
    }

    /// Opens a session on the WebDriver at `port` (tauri-driver, chromedriver)
    /// with these capabilities (`alwaysMatch`).
    pub async fn start_with(port: u16, capabilities: Value) -> Session {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("HTTP client");
        let base = format!("http://127.0.0.1:{port}");
        let body = json!({ "capabilities": {"alwaysMatch": capabilities} });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client.post(format!("{base}/session")).json(&body).send().await {
                Ok(response) => {
                    let status = response.status();
                    let value: Value = response.json().await.expect("session JSON");
                    assert!(status.is_success(), "new session: {status} {value}");
                    let id = value["value"]["sessionId"]
                        .as_str()
                        .expect("sessionId")
                        .to_string();
                    return Session {
                        client,
                        base: format!("{base}/session/{id}"),
                    };
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "tauri-driver did not answer: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("WebDriver request");
        let status = response.status();
        let value: Value = response.json().await.expect("WebDriver JSON");
        assert!(status.is_success(), "WebDriver {path}: {status} {value}");
        value["value"].clone()
    }

    pub async fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs an async script: it resolves by calling `arguments[arguments.length - 1]`.
    pub async fn execute_async(&self, script: &str, args: &[Value]) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    pub async fn navigate(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Opens a new tab and switches to it.
    pub async fn new_tab(&self) {
        let handle = self
            .call(reqwest::Method::POST, "/window/new", Some(json!({"type": "tab"})))
            .await;
        let handle = handle["handle"].as_str().expect("window handle").to_string();
        self.call(
            reqwest::Method::POST,
            "/window",
            Some(json!({ "handle": handle })),
        )
        .await;
    }

    /// A PNG of one element.
    pub async fn element_screenshot(&self, css: &str) -> Vec<u8> {
        use base64::Engine as _;
        let id = self.find(css).await;
        let value = self
            .call(reqwest::Method::GET, &format!("/element/{id}/screenshot"), None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("screenshot base64"))
            .expect("screenshot PNG")
    }

    /// Finds `css`, waiting for it to exist.
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .client
                .post(format!("{}/element", self.base))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .expect("WebDriver request");
            if response.status().is_success() {
                let value: Value = response.json().await.expect("WebDriver JSON");
                return value["value"][ELEMENT].as_str().expect("element id").to_string();
            }
            assert!(Instant::now() < deadline, "no element {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks `css`. Rows re-render on live progress events, so the element
    /// found can be replaced before the click lands: find it again then
    /// (a bounded number of times).
    pub async fn click(&self, css: &str) {
        for _ in 0..20 {
            let id = self.find(css).await;
            let response = self
                .client
                .post(format!("{}/element/{id}/click", self.base))
                .json(&json!({}))
                .send()
                .await
                .expect("WebDriver request");
            let status = response.status();
            let value: Value = response.json().await.expect("WebDriver JSON");
            if status.is_success() {
                return;
            }
            assert_eq!(
                value["value"]["error"], "stale element reference",
                "WebDriver click {css}: {status} {value}"
            );
        }
        panic!("{css} was replaced before every one of 20 clicks");
    }

    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let value = self
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
                &[Value::from(css)],
            )
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// A PNG of the window's content.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("screenshot base64"))
            .expect("screenshot PNG")
    }

    /// The handles of the app's windows (webviews) now open.
    pub async fn window_handles(&self) -> Vec<String> {
        let response = self
            .client
            .get(format!("{}/window/handles", self.base))
            .send()
            .await
            .expect("WebDriver request");
        let value: Value = response.json().await.expect("WebDriver JSON");
        value["value"]
            .as_array()
            .map(|a| a.iter().filter_map(|h| h.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// Makes `handle` the window the next commands go to.
    pub async fn switch_to_window(&self, handle: &str) {
        self.call(reqwest::Method::POST, "/window", Some(json!({"handle": handle})))
            .await;
    }

    pub async fn close(self) {
        let _ = self.client.delete(&self.base).send().await;
    }
}
