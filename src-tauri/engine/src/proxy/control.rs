//! The JSON control API under `/api/`, for the CLI and scripts. The bearer
//! token (from `engine.json`) is checked before routing, so unknown paths
//! say 401 too. Errors are `{code, message}`.

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;

use super::body::{self, ProxyBody};
use crate::engine::Engine;
use crate::error::Error;
use crate::item::Abort;

/// Largest request body accepted (an add request is a URL and a few headers).
const MAX_BODY: usize = 64 * 1024;

/// `POST /api/items`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddRequest {
    pub url: String,
    /// `Name: value` lines.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Add the file even if it is a failed item's (else `matches_failed_item`).
    #[serde(default)]
    pub new_copy: bool,
}

/// `POST /api/items/{id}/relink`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RelinkRequest {
    pub url: String,
}

/// Every error the API returns.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    /// The existing item the error is about (`matches_failed_item`: the
    /// failed item to relink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

pub(crate) async fn handle(req: Request<Incoming>, engine: &Engine) -> Response<ProxyBody> {
    if !authorized(&req, &engine.server().control_token) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').skip(2).collect(); // after "", "api"
    match (method, segments.as_slice()) {
        (Method::GET, ["items"]) => json(StatusCode::OK, &engine.items()),
        (Method::POST, ["items"]) => {
            let add: AddRequest = match read_json(req).await {
                Ok(add) => add,
                Err(response) => return response,
            };
            let options = crate::AddOptions {
                new_copy: add.new_copy,
            };
            match engine.add_with(&add.url, &add.headers, options).await {
                Ok(view) => json(StatusCode::CREATED, &view),
                Err(e) => engine_error(&e),
            }
        }
        (Method::POST, ["items", id, "relink"]) => {
            let relink: RelinkRequest = match read_json(req).await {
                Ok(relink) => relink,
                Err(response) => return response,
            };
            result(engine.relink(id, &relink.url).await)
        }
        (Method::GET, ["items", id]) => result(engine.item(id)),
        (Method::DELETE, ["items", id]) => match engine.remove(id).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "removed": id })),
            Err(e) => engine_error(&e),
        },
        (Method::POST, ["items", id, action]) => match *action {
            "pin" => result(engine.set_pinned(id, true).await),
            "unpin" => result(engine.set_pinned(id, false).await),
            "pause" => result(engine.pause(id).await),
            "resume" => result(engine.resume(id).await),
            _ => error(StatusCode::NOT_FOUND, "not_found", "no such action"),
        },
        (Method::GET, ["events"]) => events(engine),
        (_, ["items"] | ["items", _] | ["items", _, _] | ["events"]) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed here",
        ),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such API path"),
    }
}

/// Compares the bearer token in constant time.
fn authorized<B>(req: &Request<B>, token: &str) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Some(given) = value.as_bytes().strip_prefix(b"Bearer ") else {
        return false;
    };
    let expected = token.as_bytes();
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn read_json<T: for<'de> Deserialize<'de>>(req: Request<Incoming>) -> Result<T, Response<ProxyBody>> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("cannot read the body: {e}"),
            ))
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("invalid JSON: {e}"),
        )
    })
}

/// `GET /api/events`: server-sent events, one JSON [`crate::Event`] each.
fn events(engine: &Engine) -> Response<ProxyBody> {
    let cancel = engine.cancel().clone();
    let stream = BroadcastStream::new(engine.subscribe())
        .take_until(async move { cancel.cancelled().await })
        .map(|event| {
            let line = match event {
                Ok(event) => match serde_json::to_string(&event) {
                    Ok(json) => format!("data: {json}\n\n"),
                    // Never an empty event: tell the client to re-read the list.
                    Err(e) => {
                        tracing::warn!("cannot serialize an event: {e}");
                        "event: lagged\ndata: 1\n\n".to_string()
                    }
                },
                // Lagged: tell the client to re-read the list.
                Err(missed) => format!("event: lagged\ndata: {missed}\n\n"),
            };
            Ok::<_, Abort>(Frame::data(Bytes::from(line)))
        });
    let body = StreamBody::new(stream).boxed_unsync();
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot build the response",
            )
        })
}

fn result<T: Serialize>(value: Result<T, Error>) -> Response<ProxyBody> {
    match value {
        Ok(value) => json(StatusCode::OK, &value),
        Err(e) => engine_error(&e),
    }
}

fn engine_error(e: &Error) -> Response<ProxyBody> {
    let status = match e {
        Error::InvalidUrl { .. } | Error::InvalidHeader { .. } => StatusCode::BAD_REQUEST,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::OriginStatus { .. } | Error::OriginUnreachable(_) => StatusCode::BAD_GATEWAY,
        Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        Error::NotTheSameFile { .. } | Error::MatchesFailedItem { .. } | Error::Damaged { .. } => {
            StatusCode::CONFLICT
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json(
        status,
        &ApiError {
            code: e.code().to_string(),
            message: e.to_string(),
            item: e.item().map(str::to_string),
        },
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    json(
        status,
        &ApiError {
            code: code.to_string(),
            message: message.to_string(),
            item: None,
        },
    )
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<ProxyBody> {
    let (status, bytes) = match serde_json::to_vec(value) {
        Ok(bytes) => (status, bytes),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(r#"{{"code":"internal","message":"cannot serialize the answer: {e}"}}"#).into_bytes(),
        ),
    };
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_cannot_be_serialized_is_a_500_not_an_empty_body() {
        // JSON maps need string keys: a tuple key cannot be serialized.
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let response = json(StatusCode::OK, &bad);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        let req = |value: Option<&str>| {
            let mut builder = Request::builder();
            if let Some(v) = value {
                builder = builder.header(header::AUTHORIZATION, v);
            }
            builder.body(()).unwrap()
        };
        assert!(authorized(&req(Some("Bearer abc")), "abc"));
        assert!(!authorized(&req(Some("Bearer abd")), "abc"));
        assert!(!authorized(&req(Some("Bearer ab")), "abc"));
        assert!(!authorized(&req(Some("bearer abc")), "abc"));
        assert!(!authorized(&req(Some("abc")), "abc"));
        assert!(!authorized(&req(None), "abc"));
    }
}
