//! What users type, checked before anything is sent: a media URL and the
//! request headers that go with it.

use crate::error::{Error, Result};

/// An `http` or `https` URL with a host, normalized.
pub(crate) fn validate_url(url: &str) -> Result<String> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("only http and https URLs can be streamed"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(parsed.to_string())
}

/// `Name: value` lines into pairs, rejecting what HTTP would reject.
pub(crate) fn parse_headers(lines: &[String]) -> Result<Vec<(String, String)>> {
    lines
        .iter()
        .map(|line| {
            let invalid = |reason: &str| Error::InvalidHeader {
                // Never echo the value: it may be a secret.
                header: line.split(':').next().unwrap_or_default().to_string(),
                reason: reason.to_string(),
            };
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid("expected 'Name: value'"))?;
            let (name, value) = (name.trim(), value.trim());
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("not a valid header name"))?;
            http::HeaderValue::from_str(value).map_err(|_| invalid("not a valid header value"))?;
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http() {
        assert!(validate_url("http://127.0.0.1:9/a.mp4").is_ok());
        assert!(validate_url("https://example.org/a").is_ok());
        assert!(matches!(validate_url("ftp://h/a"), Err(Error::InvalidUrl { .. })));
        assert!(matches!(validate_url("not a url"), Err(Error::InvalidUrl { .. })));
    }

    #[test]
    fn header_lines_are_parsed_and_secrets_not_echoed() {
        let ok = parse_headers(&["Authorization: Bearer abc".into(), "Cookie:a=b".into()]).unwrap();
        assert_eq!(ok[0], ("Authorization".into(), "Bearer abc".into()));
        assert_eq!(ok[1], ("Cookie".into(), "a=b".into()));
        let err = parse_headers(&["X-Secret: bad\u{7f}value".into()]).unwrap_err();
        assert!(!err.to_string().contains("bad"), "{err}");
        assert!(parse_headers(&["no colon".into()]).is_err());
        assert!(parse_headers(&["bad name: x".into()]).is_err());
    }
}
