//! `spool:` links: `spool:play?url=ENC` and `spool:add?url=ENC`, where ENC
//! is a percent-encoded `http` or `https` URL. Any web page can open such a
//! link, so the parser obeys nothing else: no other parameter, no other
//! action, no other target scheme. A link only ever proposes a URL; the app
//! asks the user before adding it.

use percent_encoding::percent_decode_str;

/// Longest link accepted (browsers cap URLs around here too).
const MAX_LINK: usize = 16 * 1024;

/// What a link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    /// Add the URL, then start the player on it.
    Play,
    /// Add the URL (download it into the cache).
    Add,
}

/// A parsed link: an action and the `http(s)` URL it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub action: LinkAction,
    pub url: String,
}

/// Why a link was refused; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a spool: link")]
    NotSpool,
    #[error("the link is too long")]
    TooLong,
    #[error("unknown action {0:?}: a spool: link is spool:play?url=… or spool:add?url=…")]
    UnknownAction(String),
    #[error("the link names no URL (spool:play?url=…)")]
    MissingUrl,
    #[error("the link carries a parameter Spool does not accept: {0:?} (only url=…)")]
    ExtraParameter(String),
    #[error("the link's URL is not valid percent-encoded UTF-8")]
    BadEncoding,
    #[error("only http and https URLs can be opened from a link, not {0:?}")]
    NotHttp(String),
    #[error("the link's URL is not a valid URL: {0}")]
    InvalidUrl(String),
}

impl LinkError {
    /// A short machine-readable code (the UI and tests match on it).
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::NotSpool => "not_spool",
            LinkError::TooLong => "too_long",
            LinkError::UnknownAction(_) => "unknown_action",
            LinkError::MissingUrl => "missing_url",
            LinkError::ExtraParameter(_) => "extra_parameter",
            LinkError::BadEncoding => "bad_encoding",
            LinkError::NotHttp(_) => "not_http",
            LinkError::InvalidUrl(_) => "invalid_url",
        }
    }
}

/// Parses a `spool:` link. Pure; every refusal is a [`LinkError`].
pub fn parse(link: &str) -> Result<Link, LinkError> {
    if link.len() > MAX_LINK {
        return Err(LinkError::TooLong);
    }
    let link = link.trim();
    // The scheme is case-insensitive (RFC 3986 §3.1); `spool://play?…` is the
    // form some tools produce from the documented one.
    let (scheme, rest) = link.split_once(':').ok_or(LinkError::NotSpool)?;
    if !scheme.eq_ignore_ascii_case("spool") {
        return Err(LinkError::NotSpool);
    }
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (action, query) = rest.split_once('?').unwrap_or((rest, ""));
    let action = match action.trim_end_matches('/') {
        "play" => LinkAction::Play,
        "add" => LinkAction::Add,
        other => return Err(LinkError::UnknownAction(other.to_string())),
    };
    // A fragment is not part of the query; refuse it rather than guess.
    if query.contains('#') {
        return Err(LinkError::ExtraParameter("#fragment".to_string()));
    }
    let mut url = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "url" || url.is_some() {
            return Err(LinkError::ExtraParameter(name.to_string()));
        }
        url = Some(value);
    }
    let encoded = url.filter(|u| !u.is_empty()).ok_or(LinkError::MissingUrl)?;
    let decoded = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| LinkError::BadEncoding)?;
    let target = http_url(&decoded)?;
    Ok(Link { action, url: target })
}

/// Checks that `text` is an absolute `http(s)` URL with a host.
fn http_url(text: &str) -> Result<String, LinkError> {
    if text.chars().any(char::is_control) {
        return Err(LinkError::InvalidUrl(
            "it contains control characters".to_string(),
        ));
    }
    let scheme = text.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => {}
        Some(other) if !other.is_empty() && !other.contains('/') => {
            return Err(LinkError::NotHttp(other.to_string()))
        }
        _ => return Err(LinkError::InvalidUrl("it is not an absolute URL".to_string())),
    }
    let url = reqwest::Url::parse(text).map_err(|e| LinkError::InvalidUrl(e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(LinkError::InvalidUrl("it names no host".to_string()));
    }
    Ok(url.to_string())
}

/// The `spool:` link for an action on `url` (the inverse of [`parse`]).
pub fn build(action: LinkAction, url: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let action = match action {
        LinkAction::Play => "play",
        LinkAction::Add => "add",
    };
    format!(
        "spool:{action}?url={}",
        utf8_percent_encode(url, NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_or_are_refused_with_a_reason() {
        use LinkAction::{Add, Play};
        let ok = |action, url: &str| {
            Ok(Link {
                action,
                url: url.to_string(),
            })
        };
        let table: Vec<(&str, Result<Link, &str>)> = vec![
            (
                "spool:play?url=http%3A%2F%2Fexample.org%2Fa%20b.mkv",
                ok(Play, "http://example.org/a%20b.mkv"),
            ),
            (
                "spool:add?url=https%3A%2F%2Fh%2Fv.mp4",
                ok(Add, "https://h/v.mp4"),
            ),
            (
                "SPOOL:play?url=https://h/v.mp4?x=1",
                ok(Play, "https://h/v.mp4?x=1"),
            ),
            ("spool://play?url=http%3A%2F%2Fh%2F", ok(Play, "http://h/")),
            ("spool://play/?url=http%3A%2F%2Fh%2F", ok(Play, "http://h/")),
            (
                "spool:play?url=http%3A%2F%2Fh%2Fq%3Fa%3D1%26b%3D2",
                ok(Play, "http://h/q?a=1&b=2"),
            ),
            ("  spool:add?url=http%3A%2F%2Fh%2Ff\n", ok(Add, "http://h/f")),
            ("http://h/v.mp4", Err("not_spool")),
            ("file:///etc/passwd", Err("not_spool")),
            ("javascript:alert(1)", Err("not_spool")),
            ("spoolx:play?url=http%3A%2F%2Fh%2F", Err("not_spool")),
            ("spool", Err("not_spool")),
            ("spool:run?url=http%3A%2F%2Fh%2F", Err("unknown_action")),
            ("spool:?url=http%3A%2F%2Fh%2F", Err("unknown_action")),
            ("spool:play", Err("missing_url")),
            ("spool:play?", Err("missing_url")),
            ("spool:play?url=", Err("missing_url")),
            ("spool:play?url", Err("missing_url")),
            ("spool:play?url=file%3A%2F%2F%2Fetc%2Fpasswd", Err("not_http")),
            ("spool:play?url=javascript%3Aalert(1)", Err("not_http")),
            ("spool:play?url=data%3Atext%2Fplain%2Chi", Err("not_http")),
            ("spool:play?url=ftp%3A%2F%2Fh%2Ff", Err("not_http")),
            ("spool:play?url=%2Fetc%2Fpasswd", Err("invalid_url")),
            ("spool:play?url=http%3A%2F%2F", Err("invalid_url")),
            ("spool:play?url=http%3A%2F%2Fh%2F%0Aevil", Err("invalid_url")),
            (
                "spool:play?url=http%3A%2F%2Fh%2F&player=sh",
                Err("extra_parameter"),
            ),
            (
                "spool:play?player=sh&url=http%3A%2F%2Fh%2F",
                Err("extra_parameter"),
            ),
            (
                "spool:play?url=http%3A%2F%2Fh%2F&url=http%3A%2F%2Fe%2F",
                Err("extra_parameter"),
            ),
            ("spool:play?url=http%3A%2F%2Fh%2F#x", Err("extra_parameter")),
            ("spool:play?url=http%3A%2F%2Fh%2F%FF", Err("bad_encoding")),
        ];
        for (link, want) in table {
            let got = parse(link).map_err(|e| e.code());
            assert_eq!(got, want, "{link:?}");
        }
        assert_eq!(
            parse(&format!(
                "spool:play?url=http%3A%2F%2Fh%2F{}",
                "a".repeat(MAX_LINK)
            )),
            Err(LinkError::TooLong)
        );
    }

    #[test]
    fn built_links_parse_back() {
        for url in [
            "http://h/a b.mkv",
            "https://h:8443/q?a=1&b=%2F#frag",
            "http://[::1]:80/ü",
        ] {
            for action in [LinkAction::Play, LinkAction::Add] {
                let link = build(action, url);
                let parsed = parse(&link).unwrap();
                assert_eq!(parsed.action, action);
                assert_eq!(
                    parsed.url,
                    reqwest::Url::parse(url).unwrap().to_string(),
                    "{link}"
                );
            }
        }
    }
}
