//! The stream file name: from `Content-Disposition`, else the URL's last path
//! segment, made safe for a URL path. It never matters for routing.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters kept as they are in the name's path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The name a person would give the file: the `Content-Disposition` filename if
/// the origin sent one, else the last segment of the URL path, else `media`.
pub fn display_name(content_disposition: Option<&str>, url: &str) -> String {
    let raw = content_disposition
        .and_then(disposition_filename)
        .or_else(|| url_file_name(url))
        .unwrap_or_default();
    // Never a path: keep the last component, drop control characters.
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    if clean.is_empty() {
        "media".to_string()
    } else {
        clean
    }
}

/// The name as one percent-encoded URL path segment.
pub fn url_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// `filename*=UTF-8''…` (RFC 6266, preferred) or `filename="…"`.
fn disposition_filename(value: &str) -> Option<String> {
    let mut plain = None;
    for param in value.split(';').skip(1) {
        let Some((key, val)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let val = val.trim();
        if key == "filename*" {
            // charset'language'percent-encoded
            let mut parts = val.splitn(3, '\'');
            let charset = parts.next()?.to_ascii_lowercase();
            let encoded = parts.nth(1)?;
            if charset == "utf-8" {
                if let Ok(decoded) = percent_decode_str(encoded).decode_utf8() {
                    return Some(decoded.into_owned());
                }
            }
        } else if key == "filename" {
            plain = Some(val.trim_matches('"').replace("\\\"", "\""));
        }
    }
    plain
}

fn url_file_name(url: &str) -> Option<String> {
    let without_query = url.split(['?', '#']).next()?;
    let path = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest);
    let path = path.split_once('/').map(|(_, p)| p)?;
    let segment = path.rsplit('/').find(|s| !s.is_empty())?;
    Some(percent_decode_str(segment).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_sources_in_order_of_preference() {
        let table = [
            (
                Some("attachment; filename=\"film.mkv\""),
                "http://h/x/y.bin",
                "film.mkv",
            ),
            (
                Some("inline; filename*=UTF-8''caf%C3%A9.mp4; filename=\"cafe.mp4\""),
                "http://h/a",
                "café.mp4",
            ),
            (
                Some("attachment"),
                "http://h/media/talk%20one.webm?sig=1",
                "talk one.webm",
            ),
            (None, "http://h/dir/", "dir"),
            (None, "http://h/", "media"),
            (None, "http://h", "media"),
            (
                Some("attachment; filename=\"../../etc/passwd\""),
                "http://h/a",
                "passwd",
            ),
            (Some("attachment; filename=\"..\""), "http://h/a", "media"),
        ];
        for (disposition, url, want) in table {
            assert_eq!(display_name(disposition, url), want, "{disposition:?} {url}");
        }
    }

    #[test]
    fn url_segment_escapes_everything_but_unreserved() {
        assert_eq!(url_segment("talk one.webm"), "talk%20one.webm");
        assert_eq!(url_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(url_segment("café.mp4"), "caf%C3%A9.mp4");
    }
}
