//! The HTTP client side: one origin request, and what its answer means.

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode};

use crate::error::describe;
pub(crate) use crate::fetch_error::FetchError;

/// What to ask the origin for.
pub(crate) struct Request<'a> {
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    /// `Range: bytes=start-` or `bytes=start-(end-1)`.
    pub range: Option<(u64, Option<u64>)>,
    /// `If-Range`: the stored ETag or Last-Modified.
    pub if_range: Option<&'a str>,
    /// Bound on the wait for the response headers.
    pub timeout: Duration,
    /// Send again at once if the request failed before any answer: on a
    /// connection kept idle, the server may close it (its keep-alive timeout)
    /// just as the request goes out, and hyper cannot resend what it wrote.
    pub resend_if_stale: bool,
}

/// What an answer says about the bytes in its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// 206: bytes `start..=last` of a file of `total` bytes (`None`: `*`).
    Partial {
        start: u64,
        last: u64,
        total: Option<u64>,
    },
    /// 200: the whole file; `len` is `None` when chunked.
    Full { len: Option<u64> },
    /// 416 with `Content-Range: bytes */total`.
    Unsatisfiable { total: Option<u64> },
}

impl Body {
    /// What the answer says of the file: its length, if told, and whether
    /// the origin serves ranges of it.
    pub fn file_length_and_ranges(&self) -> (Option<u64>, bool) {
        match *self {
            Body::Partial { total, .. } => (total, total.is_some()),
            Body::Full { len } => (len, false),
            Body::Unsatisfiable { total } => (total, true),
        }
    }
}

/// The parts of an answer the downloader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub body: Body,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
}

pub(crate) async fn send(client: &reqwest::Client, req: Request<'_>) -> Result<Response, FetchError> {
    let mut builder = with_headers(client.get(req.url), req.headers);
    if let Some((start, end)) = req.range {
        let value = match end {
            Some(end) => format!("bytes={start}-{}", end.saturating_sub(1)),
            None => format!("bytes={start}-"),
        };
        builder = builder.header(header::RANGE, value);
    }
    if let Some(validator) = req.if_range {
        builder = builder.header(header::IF_RANGE, validator);
    }
    let again = req.resend_if_stale.then(|| builder.try_clone()).flatten();
    let mut sent = tokio::time::timeout(req.timeout, builder.send()).await;
    if let (Some(again), Ok(Err(e))) = (again, &sent) {
        if !e.is_timeout() && !e.is_redirect() {
            tracing::debug!(
                "origin request failed before an answer ({}); sending it again",
                error_chain(e)
            );
            sent = tokio::time::timeout(req.timeout, again.send()).await;
        }
    }
    let response = sent
        .map_err(|_| {
            FetchError::transient(format!(
                "origin did not answer within {} s",
                req.timeout.as_secs()
            ))
        })?
        .map_err(|e| classify_error(&e))?;
    check_status(response)
}

/// Opens a connection to the origin of `url` that stays idle in `client`'s
/// pool, ready for the next request: a `HEAD` whose answer, whatever it
/// is, is read to the end. Failures only mean the next request connects
/// anew, so they are logged, not returned.
pub(crate) async fn warm(
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    timeout: Duration,
) {
    let head = async {
        with_headers(client.head(url), headers)
            .send()
            .await?
            .bytes()
            .await
    };
    match tokio::time::timeout(timeout, head).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!("no warm connection for seeks: {}", error_chain(&e)),
        Err(_) => tracing::debug!(
            "no warm connection for seeks: no answer within {} s",
            timeout.as_secs()
        ),
    }
}

pub(crate) fn with_headers(
    mut builder: reqwest::RequestBuilder,
    headers: &[(String, String)],
) -> reqwest::RequestBuilder {
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
}

pub(crate) fn check_status(response: Response) -> Result<Response, FetchError> {
    let status = response.status();
    if status.is_success() || status == StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(response);
    }
    let transient = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if transient {
        let described = describe(status);
        Err(FetchError::Transient {
            status: Some(status),
            message: format!("origin answered {described}"),
            retry_after: retry_after(response.headers()),
        })
    } else {
        // 3xx here means a redirect loop or one reqwest would not follow.
        Err(FetchError::Refused { status })
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    when.duration_since(std::time::SystemTime::now()).ok()
}

pub(crate) fn classify_error(e: &reqwest::Error) -> FetchError {
    let chain = error_chain(e);
    if e.is_timeout() {
        return FetchError::transient(format!("origin timed out: {chain}"));
    }
    if e.is_redirect() {
        return FetchError::TooManyRedirects { cause: chain };
    }
    if e.is_connect() {
        let host = e
            .url()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let lower = chain.to_ascii_lowercase();
        if lower.contains("dns error")
            || lower.contains("failed to lookup")
            || lower.contains("name or service not known")
        {
            return FetchError::Unreachable {
                message: format!("cannot resolve host {host}"),
            };
        }
        if lower.contains("connection refused") {
            return FetchError::Unreachable {
                message: format!("connection refused by {host}"),
            };
        }
        return FetchError::Unreachable {
            message: format!("cannot connect to {host}: {chain}"),
        };
    }
    FetchError::transient(format!("origin connection failed: {chain}"))
}

/// "a: b: c" from an error and its sources.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Reads the framing and validators of an answer.
pub(crate) fn answer(response: &Response) -> Result<Answer, FetchError> {
    let headers = response.headers();
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let body = match response.status() {
        StatusCode::PARTIAL_CONTENT => {
            let range = text(header::CONTENT_RANGE)
                .ok_or_else(|| FetchError::transient("origin sent 206 without Content-Range"))?;
            parse_content_range(&range).ok_or_else(|| {
                FetchError::transient(format!("origin sent a malformed Content-Range {range:?}"))
            })?
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let total = text(header::CONTENT_RANGE)
                .and_then(|r| r.strip_prefix("bytes */").and_then(|n| n.trim().parse().ok()));
            Body::Unsatisfiable { total }
        }
        _ => Body::Full {
            len: response.content_length(),
        },
    };
    Ok(Answer {
        body,
        etag: text(header::ETAG),
        last_modified: text(header::LAST_MODIFIED),
        content_type: text(header::CONTENT_TYPE),
        content_disposition: text(header::CONTENT_DISPOSITION),
    })
}

/// `bytes 0-99/1000` or `bytes 0-99/*`.
fn parse_content_range(value: &str) -> Option<Body> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (start, last) = span.trim().split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse::<u64>().ok()?),
    };
    if last < start || total.is_some_and(|t| last >= t) {
        return None;
    }
    Some(Body::Partial { start, last, total })
}

/// The validator to send in `If-Range`: a strong ETag, else Last-Modified
/// (RFC 9110 §13.1.5 forbids weak tags there).
pub(crate) fn if_range_validator<'a>(
    etag: Option<&'a str>,
    last_modified: Option<&'a str>,
) -> Option<&'a str> {
    etag.filter(|e| !e.starts_with("W/")).or(last_modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose first connection reads one request and closes without
    /// answering (a keep-alive timeout firing as the request arrives); later
    /// connections answer `204`. Returns its URL and a count of requests.
    async fn closes_its_first_connection() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/f", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        tokio::spawn(async move {
            for first in [true, false, false] {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                if !first {
                    let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                }
                // Dropped: closed, answered or not.
            }
        });
        (url, requests)
    }

    fn request(url: &str, resend_if_stale: bool) -> Request<'_> {
        Request {
            url,
            headers: &[],
            range: None,
            if_range: None,
            timeout: Duration::from_secs(10),
            resend_if_stale,
        }
    }

    #[tokio::test]
    async fn a_request_that_met_a_closing_connection_is_sent_again_once() {
        let client = reqwest::Client::new();
        let (url, requests) = closes_its_first_connection().await;
        let answer = send(&client, request(&url, true))
            .await
            .expect("the resend is answered");
        assert_eq!(answer.status(), 204);
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 2);

        // Without it, the closed connection is the request's fault.
        let (url, requests) = closes_its_first_connection().await;
        assert!(send(&client, request(&url, false)).await.is_err());
        assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn content_range_values() {
        let table = [
            (
                "bytes 0-99/1000",
                Some(Body::Partial {
                    start: 0,
                    last: 99,
                    total: Some(1000),
                }),
            ),
            (
                "bytes 5-5/*",
                Some(Body::Partial {
                    start: 5,
                    last: 5,
                    total: None,
                }),
            ),
            (
                "bytes  10-19/20",
                Some(Body::Partial {
                    start: 10,
                    last: 19,
                    total: Some(20),
                }),
            ),
            ("bytes 10-20/20", None),
            ("bytes 9-1/20", None),
            ("bytes */20", None),
            ("items 0-1/2", None),
            ("bytes -1/2", None),
        ];
        for (value, want) in table {
            assert_eq!(parse_content_range(value), want, "{value}");
        }
    }

    #[test]
    fn if_range_prefers_a_strong_etag() {
        assert_eq!(if_range_validator(Some("\"a\""), Some("date")), Some("\"a\""));
        assert_eq!(if_range_validator(Some("W/\"a\""), Some("date")), Some("date"));
        assert_eq!(if_range_validator(Some("W/\"a\""), None), None);
        assert_eq!(if_range_validator(None, None), None);
    }

    #[test]
    fn retry_after_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
