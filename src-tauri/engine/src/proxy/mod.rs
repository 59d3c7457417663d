//! The loopback HTTP server: accepts connections, applies the checks every
//! request gets (Host allow-list against DNS rebinding, Origin against web
//! pages), and routes to the media endpoint or the control API.

pub mod body;
pub mod control;
mod media;
mod response;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{header, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::engine::Engine;
use crate::pairing::{self, OriginKind};
pub use body::ProxyBody;

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 512;

pub(crate) async fn serve(listener: TcpListener, engine: Engine) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let cancel = engine.cancel().clone();
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return, // never closed
            },
            () = cancel.cancelled() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = cancel.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let engine = engine.clone();
        let tasks = engine.tasks().clone();
        tasks.spawn(async move {
            let _permit = permit;
            let cancel = engine.cancel().clone();
            let service = service_fn(move |req| {
                let engine = engine.clone();
                async move { Ok::<_, Infallible>(handle(req, &engine).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
}

async fn handle(req: Request<Incoming>, engine: &Engine) -> Response<ProxyBody> {
    if let Err((status, why)) = check_caller(&req, engine.server().port) {
        return text(status, why);
    }
    let path = req.uri().path().to_string();
    if is_api(&path) {
        return control::handle(req, engine).await;
    }
    if let Some(rest) = path.strip_prefix("/m/") {
        let token = rest.split('/').next().unwrap_or_default().to_string();
        return media::serve(req, engine, &token).await;
    }
    text(StatusCode::NOT_FOUND, "not found")
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The Host and Origin checks (docs/CONTRACT.md, "Security of the loopback server").
fn check_caller<B>(req: &Request<B>, port: u16) -> Result<(), (StatusCode, &'static str)> {
    let allowed = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    let hosts: Vec<_> = req.headers().get_all(header::HOST).iter().collect();
    // An absolute-form request target carries the host itself (RFC 9112 §3.2.2).
    let host = match (req.uri().authority(), hosts.as_slice()) {
        (Some(authority), _) => Some(authority.as_str().to_string()),
        (None, [one]) => Some(one.to_str().unwrap_or_default().to_string()),
        (None, []) => None,
        (None, _) => return Err((StatusCode::BAD_REQUEST, "more than one Host header")),
    };
    match host {
        None if req.version() == Version::HTTP_10 => {}
        None => return Err((StatusCode::BAD_REQUEST, "HTTP/1.1 requests need a Host header")),
        Some(host) if allowed.iter().any(|a| a.eq_ignore_ascii_case(&host)) => {}
        Some(_) => {
            return Err((
                StatusCode::MISDIRECTED_REQUEST,
                "this server answers only to 127.0.0.1, localhost and [::1]",
            ))
        }
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("null"));
    match pairing::origin_kind(origin, port) {
        OriginKind::Absent | OriginKind::Loopback => {}
        // Extensions reach the control API, which decides what they may do
        // (pairing::decide); never the media endpoint.
        OriginKind::Extension(_) if is_api(req.uri().path()) => {}
        OriginKind::Extension(_) | OriginKind::Foreign => {
            return Err((StatusCode::FORBIDDEN, "requests from other origins are refused"))
        }
    }
    Ok(())
}

pub(crate) fn text(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(host: Option<&str>, origin: Option<&str>, version: Version) -> u16 {
        status_at("/m/x/y", host, origin, version)
    }

    fn status_at(path: &str, host: Option<&str>, origin: Option<&str>, version: Version) -> u16 {
        let mut req = Request::builder().uri(path).version(version);
        if let Some(host) = host {
            req = req.header(header::HOST, host);
        }
        if let Some(origin) = origin {
            req = req.header(header::ORIGIN, origin);
        }
        match check_caller(&req.body(()).unwrap(), 8000) {
            Ok(()) => 200,
            Err((status, _)) => status.as_u16(),
        }
    }

    #[test]
    fn host_and_origin_checks() {
        const HTTP_10: Version = Version::HTTP_10;
        const HTTP_11: Version = Version::HTTP_11;
        let table = [
            (Some("127.0.0.1:8000"), None, HTTP_11, 200),
            (Some("LOCALHOST:8000"), None, HTTP_11, 200),
            (Some("[::1]:8000"), None, HTTP_11, 200),
            (Some("127.0.0.1:8001"), None, HTTP_11, 421),
            (Some("evil.example:8000"), None, HTTP_11, 421),
            (Some("127.0.0.1"), None, HTTP_11, 421),
            (None, None, HTTP_11, 400),
            (None, None, HTTP_10, 200),
            (
                Some("127.0.0.1:8000"),
                Some("http://127.0.0.1:8000"),
                HTTP_11,
                200,
            ),
            (
                Some("127.0.0.1:8000"),
                Some("http://localhost:8000"),
                HTTP_11,
                200,
            ),
            (Some("127.0.0.1:8000"), Some("https://evil.example"), HTTP_11, 403),
            (Some("127.0.0.1:8000"), Some("null"), HTTP_11, 403),
            (
                Some("127.0.0.1:8000"),
                Some("http://127.0.0.1:8001"),
                HTTP_11,
                403,
            ),
        ];
        for (host, origin, version, want) in table {
            assert_eq!(
                status(host, origin, version),
                want,
                "{host:?} {origin:?} {version:?}"
            );
        }
    }

    #[test]
    fn extensions_reach_the_control_api_only() {
        let ext = Some("chrome-extension://abcdefghijklmnopabcdefghijklmnop");
        let host = Some("127.0.0.1:8000");
        let table = [
            ("/api/pair", ext, 200),
            ("/api/items", ext, 200),
            ("/m/x/y", ext, 403),
            ("/", ext, 403),
            ("/api/pair", Some("https://evil.example"), 403),
            ("/api/pair", Some("chrome-extension://a/b"), 403),
        ];
        for (path, origin, want) in table {
            assert_eq!(
                status_at(path, host, origin, Version::HTTP_11),
                want,
                "{path} {origin:?}"
            );
        }
    }
}
