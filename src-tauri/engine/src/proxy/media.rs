//! `GET|HEAD /m/<token>/<name>`: plan the response from the request's range
//! and conditional headers (see [`crate::http_range`]), then stream it.

use std::sync::Arc;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use super::body::{self, ItemBody, ProxyBody};
use super::text;
use crate::byte_ranges::ByteRange;
use crate::download;
use crate::engine::{unix_millis, Engine};
use crate::http_range::{self, Plan, Representation, Segment};
use crate::item::{Abort, Item};

pub(super) async fn serve<B>(req: Request<B>, engine: &Engine, token: &str) -> Response<ProxyBody> {
    let method = req.method().clone();
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(item) = engine.catalog().item_by_token(token) else {
        return text(StatusCode::NOT_FOUND, "no such item");
    };
    // A response holds a reader from the start: the item counts as in use.
    let reader = item.open_reader();
    touch(engine, &item);
    // Until the origin answers, the length is unknown: wait for it.
    if let Err(abort) = item.wait_probed().await {
        return match abort {
            Abort::Removed => text(StatusCode::NOT_FOUND, "the item was removed"),
            Abort::Shutdown => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            other => text(StatusCode::BAD_GATEWAY, &other.to_string()),
        };
    }
    let (len, generation, etag, last_modified, content_type) = {
        let st = item.lock();
        let last_modified = st
            .meta
            .last_modified
            .as_deref()
            .and_then(|lm| httpdate::parse_http_date(lm).ok());
        let content_type = content_type(st.meta.content_type.as_deref(), &st.meta.name);
        // Strong, and new for every version of the origin's file.
        let etag = format!("\"{}.{}\"", item.id(), st.meta.generation);
        (
            st.meta.size,
            st.meta.generation,
            etag,
            last_modified,
            content_type,
        )
    };
    let rep = Representation {
        len,
        etag: Some(&etag),
        last_modified,
    };
    let plan = http_range::plan(&method, req.headers(), &rep);

    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(lm) = last_modified {
        builder = builder.header(header::LAST_MODIFIED, httpdate::fmt_http_date(lm));
    }
    if len.is_some() {
        builder = builder.header(header::ACCEPT_RANGES, "bytes");
    }
    let (status, segments, body_len) = match plan {
        Plan::NotModified => return finish(builder.status(StatusCode::NOT_MODIFIED), body::empty()),
        // An explicit `Content-Length: 0` on the empty-bodied answers: hyper
        // adds one to GET's but not to HEAD's, and HEAD must match GET.
        Plan::PreconditionFailed => {
            let builder = builder
                .status(StatusCode::PRECONDITION_FAILED)
                .header(header::CONTENT_LENGTH, 0);
            return finish(builder, body::empty());
        }
        Plan::Unsatisfiable => {
            let builder = builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(
                    header::CONTENT_RANGE,
                    http_range::unsatisfied_range(len.unwrap_or(0)),
                )
                .header(header::CONTENT_LENGTH, 0);
            return finish(builder, body::empty());
        }
        Plan::Full => {
            builder = builder.header(header::CONTENT_TYPE, &content_type);
            let end = len.unwrap_or(u64::MAX);
            (StatusCode::OK, vec![Segment::Data(ByteRange::new(0, end))], len)
        }
        Plan::Partial(r) => {
            let total = len.unwrap_or(r.end);
            builder = builder
                .header(header::CONTENT_TYPE, &content_type)
                .header(header::CONTENT_RANGE, http_range::content_range(r, total));
            (StatusCode::PARTIAL_CONTENT, vec![Segment::Data(r)], Some(r.len()))
        }
        Plan::Multipart(ranges) => {
            let boundary = crate::token::secret();
            let (segments, total) =
                http_range::multipart_layout(&boundary, &content_type, &ranges, len.unwrap_or(0));
            builder = builder.header(
                header::CONTENT_TYPE,
                format!("multipart/byteranges; boundary={boundary}"),
            );
            (StatusCode::PARTIAL_CONTENT, segments, Some(total))
        }
    };
    let builder = builder.status(status);
    if method == Method::HEAD {
        // The headers GET would send, without a body.
        let builder = match body_len {
            Some(n) => builder.header(header::CONTENT_LENGTH, n),
            None => builder,
        };
        return finish(builder, body::empty());
    }
    finish(builder, ItemBody::stream(reader, generation, segments, body_len))
}

/// Records the access for eviction order; saved at once when the item's
/// download is over (no checkpoint would save it), at most once a minute.
fn touch(engine: &Engine, item: &Arc<Item>) {
    let now = unix_millis();
    let stale = {
        let mut st = item.lock();
        let stale = now.saturating_sub(st.meta.last_access) >= 60_000;
        st.meta.last_access = now;
        stale
    };
    if stale {
        let (catalog, item) = (engine.catalog().clone(), item.clone());
        engine
            .tasks()
            .spawn(async move { download::save(&catalog, &item).await });
    }
}

fn finish(builder: http::response::Builder, body: ProxyBody) -> Response<ProxyBody> {
    builder.body(body).unwrap_or_else(|e| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot build the response: {e}"),
        )
    })
}

/// The origin's type unless it is missing or generic, else a guess from the name.
fn content_type(origin: Option<&str>, name: &str) -> String {
    match origin {
        Some(ct) if !ct.starts_with("application/octet-stream") && HeaderValue::from_str(ct).is_ok() => {
            ct.to_string()
        }
        _ => mime_guess::from_path(name)
            .first()
            .map_or_else(|| "application/octet-stream".to_string(), |m| m.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_prefers_a_specific_origin_type() {
        assert_eq!(content_type(Some("video/webm"), "a.mp4"), "video/webm");
        assert_eq!(
            content_type(Some("application/octet-stream"), "a.mp4"),
            "video/mp4"
        );
        assert_eq!(content_type(None, "a.mkv"), "video/x-matroska");
        assert_eq!(content_type(None, "noext"), "application/octet-stream");
    }
}
