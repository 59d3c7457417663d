//! HTTP/1.1 framing on the wire: HEAD without a body, keep-alive and
//! pipelined requests each framed by exactly their Content-Length.

use crate::support::origin::{Faults, Origin};
use crate::util::{assert_bytes, content, exchange, path_of, request, Conn, Response, TestEngine, KIB, MIB};

/// The header fields that must be the same for HEAD as for GET.
fn described(response: &Response) -> Vec<(&'static str, Option<String>)> {
    let fields = [
        "content-length",
        "content-range",
        "etag",
        "last-modified",
        "accept-ranges",
        "content-type",
        "transfer-encoding",
    ];
    fields
        .into_iter()
        .map(|name| {
            let value = response.header(name).map(|v| {
                // A multipart boundary is new for every response.
                match v.split_once("boundary=") {
                    Some((kind, _)) => format!("{kind}boundary=…"),
                    None => v.to_string(),
                }
            });
            (name, value)
        })
        .collect()
}

/// HEAD answers with exactly the status and headers GET would, and no body
/// (a body after a HEAD response would be read as the next response).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_returns_get_headers_without_body() {
    let len = 256 * KIB;
    let faults = Faults {
        etag: Some("\"e1\"".into()),
        last_modified: true,
        content_type: Some("video/mp4".into()),
        ..Faults::default()
    };
    let origin = Origin::start(content(len, 40), faults).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    t.wait_complete(&item.id).await;
    let path = path_of(&item.stream_url);
    let etag = exchange(t.port(), "HEAD", &path, &[]).await;
    let etag = etag.header("etag").expect("ETag").to_string();

    let past_end = format!("bytes={len}-");
    let cases: [&[(&str, &str)]; 7] = [
        &[],
        &[("Range", "bytes=100-199")],
        &[("Range", "bytes=-10")],
        &[("Range", "bytes=0-9,1000-1009")],
        &[("Range", &past_end)],
        &[("If-None-Match", &etag)],
        &[("If-Match", "\"not-it\"")],
    ];
    for headers in cases {
        let get = exchange(t.port(), "GET", &path, headers).await;
        let head = exchange(t.port(), "HEAD", &path, headers).await;
        assert_eq!(head.status, get.status, "status for {headers:?}");
        assert_eq!(described(&head), described(&get), "headers for {headers:?}");
        assert!(
            head.body.is_empty(),
            "HEAD {headers:?}: {} body bytes followed",
            head.body.len()
        );
    }
}

/// Three requests written at once on one connection (GET range, HEAD, GET
/// range) while the item is still downloading: the responses come back in
/// order, each exactly as long as it says, and nothing follows the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_framed_in_order() {
    let len = MIB;
    let data = content(len, 41);
    let origin = Origin::start(
        data.clone(),
        Faults {
            rate: Some(MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    let (port, path) = (t.port(), path_of(&item.stream_url));

    let mut conn = Conn::open(port).await;
    let batch = [
        request("GET", &path, port, &[("Range", "bytes=0-99999")]),
        request("HEAD", &path, port, &[("Range", "bytes=500000-599999")]),
        request(
            "GET",
            &path,
            port,
            &[("Range", "bytes=900000-999999"), ("Connection", "close")],
        ),
    ];
    conn.send(&batch.concat()).await;

    let first = conn.response(false).await;
    assert_eq!(first.status, 206);
    assert_eq!(
        first.header("content-range"),
        Some(format!("bytes 0-99999/{len}").as_str())
    );
    assert_bytes(&first.body, &data[..100_000], "first response");

    let second = conn.response(true).await;
    assert_eq!(second.status, 206);
    assert_eq!(second.content_length(), Some(100_000));
    assert_eq!(
        second.header("content-range"),
        Some(format!("bytes 500000-599999/{len}").as_str())
    );

    let third = conn.response(false).await;
    assert_eq!(third.status, 206, "the HEAD response must have had no body");
    assert_bytes(&third.body, &data[900_000..1_000_000], "third response");
    let trailing = conn.rest().await;
    assert!(
        trailing.is_empty(),
        "{} bytes after the last response",
        trailing.len()
    );
}

/// Requests one after another on a kept-alive connection, each response
/// read by its Content-Length before the next request goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_serves_requests_in_sequence() {
    let len = 300 * KIB;
    let data = content(len, 42);
    let origin = Origin::start(data.clone(), Faults::default()).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    let (port, path) = (t.port(), path_of(&item.stream_url));

    let mut conn = Conn::open(port).await;
    for round in 0..3 {
        conn.send(&request("GET", &path, port, &[])).await;
        let full = conn.response(false).await;
        assert_eq!(full.status, 200, "round {round}");
        assert_bytes(&full.body, &data, "full body");
        conn.send(&request("HEAD", &path, port, &[])).await;
        let head = conn.response(true).await;
        assert_eq!(head.content_length(), Some(len as u64));
        conn.send(&request("GET", &path, port, &[("Range", "bytes=-7")]))
            .await;
        let tail = conn.response(false).await;
        assert_bytes(&tail.body, &data[len - 7..], "tail");
    }
}
