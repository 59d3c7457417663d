//! The JSON control API under `/api/`, for the CLI and scripts. The bearer
//! token (from `engine.json`) is checked before routing, so unknown paths
//! say 401 too. Errors are `{code, message}`.

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;

use super::body::{self, ProxyBody};
use crate::engine::Engine;
use crate::error::Error;
use crate::item::Abort;
use crate::pairing::{self, Access, OriginKind, Presented, Route};

/// Largest request body accepted: an add request is a URL and a few
/// headers, or the text of a local playlist (up to a listing's bound).
const MAX_BODY: usize = crate::listing::MAX_PAGE + 64 * 1024;

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
    /// Follow a directory listing's sub-folders, one level down.
    #[serde(default)]
    pub recursive: bool,
    /// The text of a playlist read from a local file (`url` is then its
    /// `file:` URL): its http(s) entries become a collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playlist: Option<String>,
}

/// `POST /api/items/{id}/relink`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RelinkRequest {
    pub url: String,
}

/// `POST /api/pair`: the name the extension gives itself (shown beside its origin).
#[derive(Debug, Serialize, Deserialize)]
pub struct PairRequest {
    #[serde(default)]
    pub name: String,
}

/// The answer to `POST /api/pair`: poll `GET /api/pair/{request}`; show `code`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PairStarted {
    pub request: String,
    pub code: String,
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
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').skip(2).collect(); // after "", "api"
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("null"));
    let origin = pairing::origin_kind(origin, engine.server().port);
    let presented = engine
        .pairing_book()
        .presented(bearer(&req), &engine.server().control_token);
    let route = Route::of(&method, &segments);
    let access = pairing::decide(&origin, &presented, route);
    if access == Access::Pairing {
        return pair(req, engine, &origin, &segments).await;
    }
    let empty_body = req.body().size_hint().exact() == Some(0);
    if let Some(refused) = refusal(&access, route, &presented, empty_body) {
        return refused;
    }
    match segments.as_slice() {
        ["items", rest @ ..] => items(req, engine, method, rest).await,
        ["collections", rest @ ..] => collections(req, engine, method, rest).await,
        ["pairings", rest @ ..] => pairings(engine, method, rest),
        ["events"] if method == Method::GET => events(engine),
        ["events"] => method_not_allowed(),
        _ => not_found("no such API path"),
    }
}

/// The answer to a request its access does not allow; `None` if allowed.
fn refusal(
    access: &Access,
    route: Route,
    presented: &Presented,
    empty_body: bool,
) -> Option<Response<ProxyBody>> {
    match access {
        // A paired token plays with the engine's own player: a play request
        // from it carries no options (one could name a command to run).
        Access::Paired if route == Route::Play && !empty_body => Some(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a paired browser extension plays with Spool's own player: send no options",
        )),
        Access::Full | Access::Paired | Access::Pairing => None,
        Access::Unauthorized => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Some(response)
        }
        Access::Forbidden if matches!(presented, Presented::Paired { .. }) => Some(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a paired browser extension may only add and play items",
        )),
        Access::Forbidden => Some(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "requests from web pages and unpaired browser extensions are refused",
        )),
    }
}

/// `/api/items…`: `path` is what follows `items`.
async fn items(
    req: Request<Incoming>,
    engine: &Engine,
    method: Method,
    path: &[&str],
) -> Response<ProxyBody> {
    match (method, path) {
        (Method::GET, []) => json(StatusCode::OK, &engine.items()),
        (Method::POST, []) => add(req, engine).await,
        (Method::GET, [id]) => result(engine.item(id)),
        (Method::DELETE, [id]) => match engine.remove_with_subtitles(id).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "removed": id })),
            Err(e) => engine_error(&e),
        },
        (Method::GET, [id, "playlist.m3u"]) => playlist_m3u(engine, id),
        (Method::GET, [id, "playlist"]) => result(engine.playlist_from(id)),
        (Method::POST, [id, "relink"]) => {
            let relink: RelinkRequest = match read_json(req).await {
                Ok(relink) => relink,
                Err(response) => return response,
            };
            result(engine.relink(id, &relink.url).await)
        }
        (Method::POST, [id, "play"]) => play(req, engine, id).await,
        (Method::POST, [id, action]) => match *action {
            "pin" => result(engine.set_pinned(id, true).await),
            "unpin" => result(engine.set_pinned(id, false).await),
            "pause" => result(engine.pause(id).await),
            "resume" => result(engine.resume(id).await),
            "front" => result(engine.move_to_front(id).await),
            _ => not_found("no such action"),
        },
        (_, [] | [_] | [_, _]) => method_not_allowed(),
        _ => not_found("no such API path"),
    }
}

/// `POST /api/items/{id}/play` and `POST /api/collections/{id}/play`. The
/// body is optional: none plays with the defaults.
async fn play(req: Request<Incoming>, engine: &Engine, id: &str) -> Response<ProxyBody> {
    match read_json_or_default::<crate::PlayOptions>(req).await {
        Ok(options) => result(engine.play(id, options).await),
        Err(response) => response,
    }
}

/// `POST /api/items`: a file, a listing or a playlist (by URL or its text).
async fn add(req: Request<Incoming>, engine: &Engine) -> Response<ProxyBody> {
    let add: AddRequest = match read_json(req).await {
        Ok(add) => add,
        Err(response) => return response,
    };
    let options = crate::AddOptions {
        new_copy: add.new_copy,
        recursive: add.recursive,
    };
    let added = match &add.playlist {
        Some(text) => engine
            .add_playlist_text(&add.url, text, &add.headers)
            .await
            .map(crate::Added::Collection),
        None => engine.add_any(&add.url, &add.headers, options).await,
    };
    match added {
        Ok(added) => json(StatusCode::CREATED, &added),
        Err(e) => engine_error(&e),
    }
}

/// `GET /api/items/{id}/playlist.m3u`: the item and those after it in its
/// collection, for a player to open.
fn playlist_m3u(engine: &Engine, id: &str) -> Response<ProxyBody> {
    match engine.playlist_from(id) {
        Ok(entries) => {
            let mut response = Response::new(body::full(crate::playlist::m3u(&entries).into_bytes()));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/x-mpegurl"));
            response
        }
        Err(e) => engine_error(&e),
    }
}

/// `/api/collections…`: `path` is what follows `collections`.
async fn collections(
    req: Request<Incoming>,
    engine: &Engine,
    method: Method,
    path: &[&str],
) -> Response<ProxyBody> {
    match (method, path) {
        (Method::GET, []) => json(StatusCode::OK, &engine.collections()),
        (Method::GET, [id]) => result(engine.collection(id)),
        (Method::DELETE, [id]) => match engine.remove_collection(id).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "removed": id })),
            Err(e) => engine_error(&e),
        },
        // Its first unwatched item, at its position (see continue_watching).
        (Method::POST, [id, "play"]) => play(req, engine, id).await,
        (Method::POST, [id, action]) => match *action {
            "pin" => result(engine.set_collection_pinned(id, true).await),
            "unpin" => result(engine.set_collection_pinned(id, false).await),
            "pause" => result(engine.pause_collection(id).await),
            "resume" => result(engine.resume_collection(id).await),
            _ => not_found("no such action"),
        },
        (_, [] | [_] | [_, _]) => method_not_allowed(),
        _ => not_found("no such API path"),
    }
}

/// `/api/pairings…`, the app's view of paired extensions: `path` is what
/// follows `pairings`.
fn pairings(engine: &Engine, method: Method, path: &[&str]) -> Response<ProxyBody> {
    match (method, path) {
        (Method::GET, []) => json(StatusCode::OK, &engine.pairings()),
        (Method::POST, [request, "confirm"]) => result(engine.confirm_pairing(request)),
        (Method::POST, [request, "refuse"]) => match engine.refuse_pairing(request) {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "refused": request })),
            Err(e) => engine_error(&e),
        },
        (Method::DELETE, [id]) => match engine.unpair(id) {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "removed": id })),
            Err(e) => engine_error(&e),
        },
        (_, [] | [_] | [_, _]) => method_not_allowed(),
        _ => not_found("no such API path"),
    }
}

fn method_not_allowed() -> Response<ProxyBody> {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed here",
    )
}

fn not_found(message: &str) -> Response<ProxyBody> {
    error(StatusCode::NOT_FOUND, "not_found", message)
}

/// The bearer token the request presents, if any.
fn bearer<B>(req: &Request<B>) -> Option<&[u8]> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .as_bytes()
        .strip_prefix(b"Bearer ")
}

/// `POST /api/pair` and `GET /api/pair/{request}`: a browser extension
/// asks to pair, then polls until the user has answered in the app.
async fn pair(
    req: Request<Incoming>,
    engine: &Engine,
    origin: &OriginKind,
    segments: &[&str],
) -> Response<ProxyBody> {
    let origin = match origin {
        OriginKind::Extension(origin) => Some(origin.as_str()),
        _ => None,
    };
    match (segments, origin) {
        (["pair"], Some(origin)) => {
            let ask: PairRequest = match read_json(req).await {
                Ok(ask) => ask,
                Err(response) => return response,
            };
            match engine.request_pairing(origin, &ask.name) {
                Ok(request) => json(
                    StatusCode::CREATED,
                    &PairStarted {
                        request: request.request,
                        code: request.code,
                    },
                ),
                Err(e) => engine_error(&e),
            }
        }
        (["pair", request], origin) => result(engine.poll_pairing(request, origin)),
        _ => not_found("no such API path"),
    }
}

async fn read_json<T: for<'de> Deserialize<'de>>(req: Request<Incoming>) -> Result<T, Response<ProxyBody>> {
    serde_json::from_slice(&read_body(req).await?).map_err(invalid_json)
}

/// Like [`read_json`], but an empty body is `T::default()`.
async fn read_json_or_default<T: for<'de> Deserialize<'de> + Default>(
    req: Request<Incoming>,
) -> Result<T, Response<ProxyBody>> {
    let bytes = read_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(invalid_json)
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<ProxyBody>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("cannot read the body: {e}"),
        )),
    }
}

fn invalid_json(e: serde_json::Error) -> Response<ProxyBody> {
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        &format!("invalid JSON: {e}"),
    )
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
        Error::InvalidUrl { .. } | Error::InvalidHeader { .. } | Error::PlayerCommand(_) => {
            StatusCode::BAD_REQUEST
        }
        Error::NotFound(_) | Error::NoSuchPairing(_) | Error::CollectionNotFound(_) => StatusCode::NOT_FOUND,
        Error::Listing(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::OriginStatus { .. } | Error::OriginUnreachable(_) => StatusCode::BAD_GATEWAY,
        Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        Error::TooManyPairingRequests => StatusCode::TOO_MANY_REQUESTS,
        Error::TooManyPairings { .. } => StatusCode::CONFLICT,
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
}
