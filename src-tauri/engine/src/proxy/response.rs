//! The answer to `GET|HEAD /m/<token>/<name>` as a value: status, every
//! header, and what the body carries. [`plan`] builds it from the request
//! and what the item offers, without I/O; `media` only carries it out.
//!
//! HEAD is planned as GET and then loses its body ([`BodyPlan::Empty`]), so
//! the two agree on every header by construction (RFC 9110 §9.3.2).

use std::time::SystemTime;

use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use crate::byte_ranges::ByteRange;
use crate::http_range::{self, Plan, Representation, Segment};
use crate::item::Abort;

/// What the item offers, read once its origin has answered.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    /// `None` until a chunked origin body has ended.
    pub len: Option<u64>,
    /// Strong, new for every version of the origin's file, quotes included.
    pub etag: String,
    pub last_modified: Option<SystemTime>,
    /// Valid header text (see [`content_type`]).
    pub content_type: String,
}

/// Why there is no item to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// No item has this token.
    NoSuchItem,
    /// The item went away or failed before its origin answered.
    Aborted(Abort),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponsePlan {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: BodyPlan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyPlan {
    /// No body: a HEAD, or a status that has none.
    Empty,
    /// A short message (with `Content-Type: text/plain`).
    Text(String),
    /// Literal bytes and item bytes, in order; `len` is their exact total,
    /// or `None` when the one data segment runs to an end not known yet.
    Item {
        segments: Vec<Segment>,
        len: Option<u64>,
    },
}

impl BodyPlan {
    /// The exact number of bytes the body will carry, if known.
    #[cfg(test)]
    pub fn byte_len(&self) -> Option<u64> {
        match self {
            BodyPlan::Empty => Some(0),
            BodyPlan::Text(text) => Some(text.len() as u64),
            BodyPlan::Item { segments, len } => {
                let sum = segments.iter().try_fold(0u64, |n, s| match s {
                    Segment::Literal(bytes) => n.checked_add(bytes.len() as u64),
                    Segment::Data(r) if r.end == u64::MAX => None,
                    Segment::Data(r) => n.checked_add(r.len()),
                });
                debug_assert!(len.is_none() || *len == sum, "declared {len:?}, laid out {sum:?}");
                sum
            }
        }
    }
}

/// 405 for anything but GET and HEAD; `None` for those.
pub(crate) fn refuse_method(method: &Method) -> Option<ResponsePlan> {
    if method == Method::GET || method == Method::HEAD {
        return None;
    }
    let mut plan = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
    plan.headers
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(plan)
}

/// The answer when there is no item to serve.
pub(crate) fn unavailable(why: &Unavailable) -> ResponsePlan {
    match why {
        Unavailable::NoSuchItem => text(StatusCode::NOT_FOUND, "no such item"),
        Unavailable::Aborted(Abort::Removed) => text(StatusCode::NOT_FOUND, "the item was removed"),
        Unavailable::Aborted(Abort::Shutdown) => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        Unavailable::Aborted(other) => text(StatusCode::BAD_GATEWAY, &other.to_string()),
    }
}

/// The response to a GET or HEAD of an item offering `offer`, given the
/// request's range and conditional headers. `boundary` is asked for only
/// when the answer is `multipart/byteranges`.
pub(crate) fn plan(
    method: &Method,
    request: &HeaderMap,
    offer: &Offer,
    boundary: impl FnOnce() -> String,
) -> ResponsePlan {
    let rep = Representation {
        len: offer.len,
        etag: Some(&offer.etag),
        last_modified: offer.last_modified,
    };
    // HEAD is planned as GET; only the body differs, below.
    let mut planned = plan_get(http_range::plan(&Method::GET, request, &rep), offer, boundary);
    if method == Method::HEAD {
        planned.body = BodyPlan::Empty;
    }
    planned
}

fn plan_get(decision: Plan, offer: &Offer, boundary: impl FnOnce() -> String) -> ResponsePlan {
    let len = offer.len;
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(&offer.etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(lm) = offer.last_modified {
        headers.insert(header::LAST_MODIFIED, header_value(httpdate::fmt_http_date(lm)));
    }
    if len.is_some() {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let content_type = header_value(offer.content_type.clone());
    let (status, body) = match decision {
        Plan::NotModified => (StatusCode::NOT_MODIFIED, BodyPlan::Empty),
        Plan::PreconditionFailed => {
            // An explicit `Content-Length: 0` on the empty-bodied answers:
            // hyper adds one to GET's but not to HEAD's, and they must agree.
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            (StatusCode::PRECONDITION_FAILED, BodyPlan::Empty)
        }
        Plan::Unsatisfiable => {
            let unsatisfied = http_range::unsatisfied_range(len.unwrap_or(0));
            headers.insert(header::CONTENT_RANGE, header_value(unsatisfied));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            (StatusCode::RANGE_NOT_SATISFIABLE, BodyPlan::Empty)
        }
        Plan::Full => {
            headers.insert(header::CONTENT_TYPE, content_type);
            let end = len.unwrap_or(u64::MAX);
            let segments = vec![Segment::Data(ByteRange::new(0, end))];
            (StatusCode::OK, item_body(&mut headers, segments, len))
        }
        Plan::Partial(r) => {
            let total = len.unwrap_or(r.end);
            headers.insert(header::CONTENT_TYPE, content_type);
            headers.insert(
                header::CONTENT_RANGE,
                header_value(http_range::content_range(r, total)),
            );
            let body = item_body(&mut headers, vec![Segment::Data(r)], Some(r.len()));
            (StatusCode::PARTIAL_CONTENT, body)
        }
        Plan::Multipart(ranges) => {
            let boundary = boundary();
            let (segments, total) =
                http_range::multipart_layout(&boundary, &offer.content_type, &ranges, len.unwrap_or(0));
            let multipart = format!("multipart/byteranges; boundary={boundary}");
            headers.insert(header::CONTENT_TYPE, header_value(multipart));
            let body = item_body(&mut headers, segments, Some(total));
            (StatusCode::PARTIAL_CONTENT, body)
        }
    };
    ResponsePlan {
        status,
        headers,
        body,
    }
}

/// An item body; its length, when known, is declared up front.
fn item_body(headers: &mut HeaderMap, segments: Vec<Segment>, len: Option<u64>) -> BodyPlan {
    if let Some(n) = len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    BodyPlan::Item { segments, len }
}

fn text(status: StatusCode, message: &str) -> ResponsePlan {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    ResponsePlan {
        status,
        headers,
        body: BodyPlan::Text(format!("{message}\n")),
    }
}

/// Text built here is header-safe (digits, a token, a checked type); should
/// it ever not be, a generic value beats a panic in a handler.
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// The origin's type unless it is missing or generic, else a guess from the name.
pub(crate) fn content_type(origin: Option<&str>, name: &str) -> String {
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
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    const LEN: u64 = 10_000;
    const ETAG: &str = "\"abc.1\"";

    fn lm() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn offer(len: Option<u64>) -> Offer {
        Offer {
            len,
            etag: ETAG.into(),
            last_modified: Some(lm()),
            content_type: "video/mp4".into(),
        }
    }

    fn request(lines: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn plan_for(method: &Method, lines: &[(&str, &str)], len: Option<u64>) -> ResponsePlan {
        plan(method, &request(lines), &offer(len), || "BOUNDARY".into())
    }

    fn content_length(plan: &ResponsePlan) -> Option<u64> {
        let value = plan.headers.get(header::CONTENT_LENGTH)?;
        value.to_str().ok()?.parse().ok()
    }

    /// Why, the request's header lines, the item's length, GET's status.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<u64>, u16);

    #[test]
    fn get_and_head_agree_on_every_header_for_every_range_case() {
        let date = httpdate::fmt_http_date(lm());
        let older = httpdate::fmt_http_date(lm() - Duration::from_secs(60));
        let cases: &[Case] = &[
            ("no range", &[], Some(LEN), 200),
            ("single", &[("range", "bytes=0-99")], Some(LEN), 206),
            ("open-ended", &[("range", "bytes=9000-")], Some(LEN), 206),
            ("suffix", &[("range", "bytes=-500")], Some(LEN), 206),
            (
                "suffix longer than the item",
                &[("range", "bytes=-20000")],
                Some(LEN),
                206,
            ),
            (
                "past the end, clamped",
                &[("range", "bytes=9990-20000")],
                Some(LEN),
                206,
            ),
            ("multiple", &[("range", "bytes=0-9,5000-5009")], Some(LEN), 206),
            (
                "multiple, coalesced to one",
                &[("range", "bytes=0-9,10-19")],
                Some(LEN),
                206,
            ),
            ("unsatisfiable", &[("range", "bytes=10000-")], Some(LEN), 416),
            ("malformed", &[("range", "bytes=x-y")], Some(LEN), 200),
            ("another unit", &[("range", "items=0-1")], Some(LEN), 200),
            ("reversed", &[("range", "bytes=9-1")], Some(LEN), 200),
            (
                "two Range lines",
                &[("range", "bytes=0-1"), ("range", "bytes=2-3")],
                Some(LEN),
                200,
            ),
            (
                "If-Range etag matches",
                &[("range", "bytes=0-9"), ("if-range", ETAG)],
                Some(LEN),
                206,
            ),
            (
                "If-Range etag differs",
                &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
                Some(LEN),
                200,
            ),
            (
                "If-Range weak etag",
                &[("range", "bytes=0-9"), ("if-range", "W/\"abc.1\"")],
                Some(LEN),
                200,
            ),
            (
                "If-Range date matches",
                &[("range", "bytes=0-9"), ("if-range", date.as_str())],
                Some(LEN),
                206,
            ),
            (
                "If-Range date differs",
                &[("range", "bytes=0-9"), ("if-range", older.as_str())],
                Some(LEN),
                200,
            ),
            (
                "If-None-Match matches",
                &[("if-none-match", ETAG)],
                Some(LEN),
                304,
            ),
            (
                "If-None-Match with a range",
                &[("if-none-match", ETAG), ("range", "bytes=0-9")],
                Some(LEN),
                304,
            ),
            (
                "If-Modified-Since now",
                &[("if-modified-since", date.as_str())],
                Some(LEN),
                304,
            ),
            (
                "If-Modified-Since earlier",
                &[("if-modified-since", older.as_str())],
                Some(LEN),
                200,
            ),
            ("If-Match fails", &[("if-match", "\"old\"")], Some(LEN), 412),
            (
                "If-Match holds, range",
                &[("if-match", ETAG), ("range", "bytes=5-")],
                Some(LEN),
                206,
            ),
            (
                "If-Unmodified-Since earlier",
                &[("if-unmodified-since", older.as_str())],
                Some(LEN),
                412,
            ),
            ("unknown length", &[], None, 200),
            ("unknown length, range", &[("range", "bytes=0-99")], None, 200),
            ("empty item", &[], Some(0), 200),
            ("empty item, range", &[("range", "bytes=0-")], Some(0), 416),
            ("empty item, suffix", &[("range", "bytes=-1")], Some(0), 416),
        ];
        for &(why, lines, len, status) in cases {
            let get = plan_for(&Method::GET, lines, len);
            let head = plan_for(&Method::HEAD, lines, len);
            assert_eq!(get.status.as_u16(), status, "{why}");
            assert_eq!(get.status, head.status, "{why}");
            assert_eq!(get.headers, head.headers, "{why}: HEAD's headers are GET's");
            assert_eq!(head.body, BodyPlan::Empty, "{why}: HEAD has no body");
            match content_length(&get) {
                Some(n) => assert_eq!(get.body.byte_len(), Some(n), "{why}: body matches Content-Length"),
                None => assert!(
                    status == 304 || (len.is_none() && get.body.byte_len().is_none()),
                    "{why}: only a 304 or a body of unknown length goes without Content-Length"
                ),
            }
            let accepts = get.headers.get(header::ACCEPT_RANGES).is_some();
            assert_eq!(
                accepts,
                len.is_some(),
                "{why}: Accept-Ranges once the length is known"
            );
            assert_eq!(get.headers[header::ETAG], ETAG, "{why}");
        }
    }

    #[test]
    fn the_body_plan_carries_the_ranges_asked_for() {
        let data = |a, b| Segment::Data(ByteRange::new(a, b));
        let get = plan_for(&Method::GET, &[("range", "bytes=-500")], Some(LEN));
        assert_eq!(get.headers[header::CONTENT_RANGE], "bytes 9500-9999/10000");
        assert_eq!(
            get.body,
            BodyPlan::Item {
                segments: vec![data(9500, LEN)],
                len: Some(500)
            }
        );

        let get = plan_for(&Method::GET, &[("range", "bytes=0-9,5000-5009")], Some(LEN));
        assert_eq!(
            get.headers[header::CONTENT_TYPE],
            "multipart/byteranges; boundary=BOUNDARY"
        );
        let BodyPlan::Item { segments, .. } = &get.body else {
            panic!("a multipart body: {:?}", get.body);
        };
        let parts: Vec<_> = segments
            .iter()
            .filter(|s| matches!(s, Segment::Data(_)))
            .cloned()
            .collect();
        assert_eq!(parts, vec![data(0, 10), data(5000, 5010)]);

        let get = plan_for(&Method::GET, &[], None);
        assert_eq!(
            get.body,
            BodyPlan::Item {
                segments: vec![data(0, u64::MAX)],
                len: None
            }
        );
    }

    #[test]
    fn a_boundary_is_drawn_only_for_multipart_answers() {
        let mut drawn = false;
        let _ = plan(
            &Method::GET,
            &request(&[("range", "bytes=0-9")]),
            &offer(Some(LEN)),
            || {
                drawn = true;
                "B".into()
            },
        );
        assert!(!drawn);
    }

    #[test]
    fn answers_without_an_item() {
        let cases = [
            (Unavailable::NoSuchItem, 404),
            (Unavailable::Aborted(Abort::Removed), 404),
            (Unavailable::Aborted(Abort::Shutdown), 503),
            (
                Unavailable::Aborted(Abort::Failed("origin answered 404".into())),
                502,
            ),
        ];
        for (why, status) in cases {
            let plan = unavailable(&why);
            assert_eq!(plan.status.as_u16(), status, "{why:?}");
            assert!(matches!(plan.body, BodyPlan::Text(_)), "{why:?}");
        }
        assert!(refuse_method(&Method::GET).is_none());
        assert!(refuse_method(&Method::HEAD).is_none());
        let post = refuse_method(&Method::POST).expect("POST is refused");
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers[header::ALLOW], "GET, HEAD");
    }

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
