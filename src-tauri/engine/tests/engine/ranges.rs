//! RFC 9110 §14 range semantics on the media endpoint: multiple ranges,
//! coalescing, 416, ignored invalid headers, suffix, open-ended and clamped
//! ranges.

use crate::support::origin::{Faults, Origin};
use crate::util::{assert_bytes, content, exchange, get_exact, path_of, TestEngine, KIB, MIB};

const LEN: usize = 512 * KIB;

/// An engine serving a `LEN`-byte item; `rate` throttles the origin.
async fn setup(seed: u64, rate: Option<u64>) -> (Origin, TestEngine, String, Vec<u8>) {
    let data = content(LEN, seed);
    let faults = Faults {
        rate,
        ..Faults::default()
    };
    let origin = Origin::start(data.clone(), faults).await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    (origin, t, path_of(&item.stream_url), data)
}

/// One part of a `multipart/byteranges` body.
#[derive(Debug)]
struct Part {
    first: u64,
    last: u64,
    total: u64,
    bytes: Vec<u8>,
}

/// Parses a multipart/byteranges body strictly: each part is a delimiter,
/// header fields with a Content-Range, exactly that many bytes, CRLF; the
/// body ends with the close delimiter.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    let mut parts = Vec::new();
    assert!(
        rest.starts_with(delimiter.as_bytes()),
        "no delimiter at the start"
    );
    loop {
        rest = &rest[delimiter.len()..];
        if rest == b"--\r\n" || rest == b"--" {
            return parts;
        }
        assert!(rest.starts_with(b"\r\n"), "no CRLF after a delimiter");
        rest = &rest[2..];
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part headers end");
        let headers = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let range = headers
            .split("\r\n")
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-range").then(|| value.trim())
            })
            .unwrap_or_else(|| panic!("part without Content-Range: {headers:?}"));
        let (span, total) = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .expect("Content-Range bytes a-b/len");
        let (first, last) = span.split_once('-').expect("a-b");
        let (first, last): (u64, u64) = (first.parse().unwrap(), last.parse().unwrap());
        let n = (last - first + 1) as usize;
        assert!(rest.len() >= n + 2, "part {range} is cut short");
        parts.push(Part {
            first,
            last,
            total: total.parse().unwrap(),
            bytes: rest[..n].to_vec(),
        });
        rest = &rest[n..];
        assert!(rest.starts_with(b"\r\n"), "no CRLF after part {range}");
        rest = &rest[2..];
        assert!(
            rest.starts_with(delimiter.as_bytes()),
            "no delimiter after part {range}"
        );
    }
}

/// Several ranges (asked while still downloading) give one 206
/// multipart/byteranges response whose parts are the right bytes and whose
/// length is exactly the declared Content-Length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_ranges_give_exact_multipart_byteranges() {
    let (_origin, t, path, data) = setup(20, Some(MIB as u64)).await;
    let range = [("Range", "bytes=0-99,200000-200999,-500")];
    let response = get_exact(t.port(), &path, &range, 206).await;
    let content_type = response.header("content-type").unwrap_or_default();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("Content-Type {content_type:?}"));
    assert_eq!(response.header("content-range"), None);

    let parts = parse_multipart(&response.body, boundary);
    let want = [(0, 99), (200_000, 200_999), (LEN as u64 - 500, LEN as u64 - 1)];
    assert_eq!(parts.len(), want.len(), "{parts:?}");
    for (part, (first, last)) in parts.iter().zip(want) {
        assert_eq!((part.first, part.last, part.total), (first, last, LEN as u64));
        let want = &data[first as usize..=last as usize];
        assert_bytes(&part.bytes, want, &format!("part {first}-{last}"));
    }
}

/// Overlapping (and out-of-order) ranges are merged into one part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_ranges_coalesce() {
    let (_origin, t, path, data) = setup(21, None).await;
    for range in ["bytes=0-500,100-600", "bytes=500-600,0-99,50-550"] {
        let response = get_exact(t.port(), &path, &[("Range", range)], 206).await;
        assert_eq!(
            response.header("content-range"),
            Some(format!("bytes 0-600/{LEN}").as_str()),
            "{range}"
        );
        assert_bytes(&response.body, &data[..601], range);
    }
}

/// A range that starts at or past the end is 416 with the length, so the
/// client learns the size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsatisfiable_range_is_416_with_length() {
    let (_origin, t, path, _) = setup(22, None).await;
    let past_end = format!("bytes={}-{}", LEN + 10, LEN + 20);
    for range in [format!("bytes={LEN}-"), past_end, "bytes=-0".to_string()] {
        let response = exchange(t.port(), "GET", &path, &[("Range", &range)]).await;
        assert_eq!(response.status, 416, "{range}");
        assert_eq!(
            response.header("content-range"),
            Some(format!("bytes */{LEN}").as_str()),
            "{range}"
        );
    }
}

/// A Range header that does not parse is ignored: 200 with the whole file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_range_header_is_ignored() {
    let (_origin, t, path, data) = setup(23, None).await;
    for range in ["bytes=5-4", "items=0-1", "bytes=abc", "bytes 0-1", "bytes=1-2-3"] {
        let response = get_exact(t.port(), &path, &[("Range", range)], 200).await;
        assert_eq!(response.header("content-range"), None, "{range}");
        assert_bytes(&response.body, &data, range);
    }
}

/// Suffix (`-n`), open-ended (`a-`) and too-long (`a-b` past the end)
/// ranges resolve against the length; the last is clamped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suffix_open_ended_and_clamped_ranges() {
    let (_origin, t, path, data) = setup(24, None).await;
    let cases = [
        ("bytes=-500".to_string(), LEN - 500, LEN),
        (format!("bytes={}-", LEN - 1000), LEN - 1000, LEN),
        (format!("bytes={}-{}", LEN - 10, LEN + 1000), LEN - 10, LEN),
        (format!("bytes=-{}", 2 * LEN), 0, LEN),
        ("bytes=0-".to_string(), 0, LEN),
    ];
    for (range, from, to) in cases {
        let response = get_exact(t.port(), &path, &[("Range", &range)], 206).await;
        assert_eq!(
            response.header("content-range"),
            Some(format!("bytes {from}-{}/{LEN}", to - 1).as_str()),
            "{range}"
        );
        assert_bytes(&response.body, &data[from..to], &range);
    }
}
