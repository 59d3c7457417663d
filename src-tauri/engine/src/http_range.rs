//! Range and conditional requests (RFC 9110 §13, §14) as pure functions:
//! parse `Range`, resolve it against a length, decide the response with
//! [`plan`], and lay out a `multipart/byteranges` body of exactly known length.
//! Everything here reads untrusted headers, so nothing may panic on input.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method};

use crate::byte_ranges::ByteRange;

/// A `Range` with more specs than this is ignored (served 200): RFC 9110 §14.2
/// lets a server ignore ranges that look like a denial-of-service attempt.
pub const MAX_RANGE_SPECS: usize = 100;

/// Ranges separated by a gap smaller than this are merged into one part:
/// sending the gap costs less than another part's headers (RFC 9110 §14.6).
pub const COALESCE_GAP: u64 = 80;

/// One `range-spec` of `Range: bytes=...` (RFC 9110 §14.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last`, both inclusive, `last >= first`.
    FromTo { first: u64, last: u64 },
    /// `first-`: from `first` to the end.
    From { first: u64 },
    /// `-len`: the last `len` bytes.
    Suffix { len: u64 },
}

/// Parses a `Range` field value; `None` means "ignore the header, serve 200".
///
/// The unit is `bytes`, case-insensitive, with no whitespace before `=`.
/// Whitespace is tolerated after `=` and around commas, and empty list
/// elements are skipped (RFC 9110 §5.6.1). Numbers are plain digits.
/// A number too large for `u64` saturates to `u64::MAX`: as a first-pos that
/// lies past the end of any item (unsatisfiable), as a last-pos or suffix
/// length it means "to the end". Any `last < first`, or more than
/// [`MAX_RANGE_SPECS`] specs, invalidates the whole header.
pub fn parse_range(value: &[u8]) -> Option<Vec<RangeSpec>> {
    let value = trim_ows(value);
    let eq = value.iter().position(|&b| b == b'=')?;
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in value[eq + 1..].split(|&b| b == b',').map(trim_ows) {
        if element.is_empty() {
            continue;
        }
        if specs.len() == MAX_RANGE_SPECS {
            return None;
        }
        specs.push(parse_spec(element)?);
    }
    (!specs.is_empty()).then_some(specs)
}

fn parse_spec(element: &[u8]) -> Option<RangeSpec> {
    let dash = element.iter().position(|&b| b == b'-')?;
    let (first, last) = (&element[..dash], &element[dash + 1..]);
    if first.is_empty() {
        return Some(RangeSpec::Suffix {
            len: parse_digits(last)?,
        });
    }
    let first = parse_digits(first)?;
    if last.is_empty() {
        return Some(RangeSpec::From { first });
    }
    let last = parse_digits(last)?;
    (last >= first).then_some(RangeSpec::FromTo { first, last })
}

/// `1*DIGIT`, saturating at `u64::MAX` (see [`parse_range`]).
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Resolves specs against an item of `len` bytes: drops unsatisfiable specs,
/// clamps to the end, then sorts and merges ranges that overlap, touch, or are
/// separated by less than [`COALESCE_GAP`] bytes. Empty means 416.
pub fn resolve(specs: &[RangeSpec], len: u64) -> Vec<ByteRange> {
    let mut ranges: Vec<ByteRange> = specs.iter().filter_map(|s| resolve_one(*s, len)).collect();
    ranges.sort_unstable();
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(prev) if r.start.saturating_sub(prev.end) < COALESCE_GAP => {
                prev.end = prev.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    merged
}

fn resolve_one(spec: RangeSpec, len: u64) -> Option<ByteRange> {
    match spec {
        // `first <= last` is re-checked because callers may build specs by hand.
        RangeSpec::FromTo { first, last } if first < len && first <= last => {
            Some(ByteRange::new(first, last.min(len - 1) + 1))
        }
        RangeSpec::From { first } if first < len => Some(ByteRange::new(first, len)),
        RangeSpec::Suffix { len: n } if n > 0 && len > 0 => Some(ByteRange::new(len - n.min(len), len)),
        _ => None,
    }
}

/// What the server knows about the representation it would send.
#[derive(Debug, Clone, Copy, Default)]
pub struct Representation<'a> {
    /// `None`: not known yet (the origin sent a chunked body).
    pub len: Option<u64>,
    /// A full entity-tag including quotes, e.g. `"\"abc\""`.
    pub etag: Option<&'a str>,
    pub last_modified: Option<SystemTime>,
}

/// The response to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// 200 with the whole representation.
    Full,
    /// 206, single part, `Content-Range: bytes start-(end-1)/len`.
    Partial(ByteRange),
    /// 206 `multipart/byteranges`: at least two sorted, coalesced parts.
    Multipart(Vec<ByteRange>),
    /// 304.
    NotModified,
    /// 412.
    PreconditionFailed,
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Evaluates preconditions in RFC 9110 §13.2.2 order, then `Range`.
///
/// `Range` is honoured for HEAD as for GET so that HEAD reports the headers GET
/// would (RFC 9110 §9.3.2). HTTP-dates compare at whole seconds, since that
/// is all a date can carry. An `If-Range` date counts as strong if it equals
/// `last_modified` exactly: leave `last_modified` out if it is not trustworthy.
/// The representation is assumed to exist, so `If-Match: *` holds and
/// `If-None-Match: *` matches.
pub fn plan(method: &Method, headers: &HeaderMap, rep: &Representation) -> Plan {
    let get_or_head = method == Method::GET || method == Method::HEAD;
    let rep_tag = rep.etag.and_then(|t| parse_one_tag(t.as_bytes()));
    let last_modified = rep.last_modified.map(whole_seconds);

    if headers.contains_key(header::IF_MATCH) {
        // Step 1: If-Match, strong comparison (§13.1.1).
        if !tags_match(headers, header::IF_MATCH, rep_tag, strong_eq) {
            return Plan::PreconditionFailed;
        }
    } else if matches!(
        (last_modified, single_date(headers, header::IF_UNMODIFIED_SINCE)),
        (Some(lm), Some(date)) if lm > date
    ) {
        // Step 2: If-Unmodified-Since, only without If-Match (§13.1.4).
        return Plan::PreconditionFailed;
    }

    if headers.contains_key(header::IF_NONE_MATCH) {
        // Step 3: If-None-Match, weak comparison (§13.1.2).
        if tags_match(headers, header::IF_NONE_MATCH, rep_tag, weak_eq) {
            return if get_or_head {
                Plan::NotModified
            } else {
                Plan::PreconditionFailed
            };
        }
    } else if get_or_head {
        // Step 4: If-Modified-Since, only for GET/HEAD without If-None-Match.
        if matches!(
            (last_modified, single_date(headers, header::IF_MODIFIED_SINCE)),
            (Some(lm), Some(date)) if lm <= date
        ) {
            return Plan::NotModified;
        }
    }

    // Step 5: Range, only for GET (and HEAD, see above), gated by If-Range.
    if !get_or_head {
        return Plan::Full;
    }
    let Some(range) = single_value(headers, header::RANGE) else {
        return Plan::Full;
    };
    if headers.contains_key(header::IF_RANGE) && !if_range_holds(headers, rep_tag, last_modified) {
        return Plan::Full;
    }
    let (Some(specs), Some(len)) = (parse_range(range.as_bytes()), rep.len) else {
        return Plan::Full; // an invalid Range is ignored; an unknown length can't be resolved
    };
    let ranges = resolve(&specs, len);
    match ranges.as_slice() {
        [] => Plan::Unsatisfiable,
        [one] => Plan::Partial(*one),
        _ => Plan::Multipart(ranges),
    }
}

/// RFC 9110 §13.1.5: an entity-tag must match strongly (a weak tag never
/// does); otherwise the value must be an HTTP-date equal to Last-Modified.
fn if_range_holds(
    headers: &HeaderMap,
    rep_tag: Option<EntityTag>,
    last_modified: Option<SystemTime>,
) -> bool {
    let Some(value) = single_value(headers, header::IF_RANGE) else {
        return false;
    };
    let value = trim_ows(value.as_bytes());
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return parse_one_tag(value).is_some_and(|t| strong_eq(&t, rep_tag));
    }
    let date = std::str::from_utf8(value)
        .ok()
        .and_then(|s| httpdate::parse_http_date(s).ok());
    matches!((date, last_modified), (Some(d), Some(lm)) if d == lm)
}

/// The field's only line; a repeated singleton field is treated as invalid.
fn single_value(headers: &HeaderMap, name: HeaderName) -> Option<&HeaderValue> {
    let mut lines = headers.get_all(name).iter();
    let first = lines.next()?;
    lines.next().is_none().then_some(first)
}

/// A valid HTTP-date, else `None` so the condition is ignored (§13.1.3-4).
fn single_date(headers: &HeaderMap, name: HeaderName) -> Option<SystemTime> {
    let value = single_value(headers, name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    t.duration_since(UNIX_EPOCH)
        .map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs()))
        .unwrap_or(t)
}

/// `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE` (RFC 9110 §8.8.3).
#[derive(Debug, Clone, Copy)]
struct EntityTag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

fn strong_eq(a: &EntityTag, b: Option<EntityTag>) -> bool {
    b.is_some_and(|b| !a.weak && !b.weak && a.opaque == b.opaque)
}

fn weak_eq(a: &EntityTag, b: Option<EntityTag>) -> bool {
    b.is_some_and(|b| a.opaque == b.opaque)
}

/// Whether the field (`"*"` or entity-tags, all its lines combined as one
/// list) matches. `*` matches because the representation exists; a malformed
/// or empty list matches nothing.
fn tags_match(headers: &HeaderMap, name: HeaderName, rep_tag: Option<EntityTag>, eq: TagEq) -> bool {
    let lines: Vec<&[u8]> = headers
        .get_all(name)
        .iter()
        .map(|v| trim_ows(v.as_bytes()))
        .collect();
    if let [b"*"] = lines.as_slice() {
        return true;
    }
    let mut tags = Vec::new();
    for line in lines {
        if parse_tags(line, &mut tags).is_none() {
            return false;
        }
    }
    tags.iter().any(|t| eq(t, rep_tag))
}

type TagEq = fn(&EntityTag, Option<EntityTag>) -> bool;

/// Appends the tags of one comma-separated line; commas may occur inside
/// quotes, so the line is scanned rather than split.
fn parse_tags<'a>(mut s: &'a [u8], out: &mut Vec<EntityTag<'a>>) -> Option<()> {
    loop {
        while let [b' ' | b'\t' | b',', rest @ ..] = s {
            s = rest;
        }
        if s.is_empty() {
            return Some(());
        }
        let (tag, rest) = take_tag(s)?;
        out.push(tag);
        s = trim_ows(rest);
        if !(s.is_empty() || s.starts_with(b",")) {
            return None;
        }
    }
}

fn parse_one_tag(s: &[u8]) -> Option<EntityTag<'_>> {
    match take_tag(trim_ows(s))? {
        (tag, []) => Some(tag),
        _ => None,
    }
}

fn take_tag(s: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let s = s.strip_prefix(b"\"")?;
    let close = s.iter().position(|&b| b == b'"')?;
    let opaque = &s[..close];
    let etagc = |b: &u8| *b == 0x21 || (0x23..=0x7e).contains(b) || *b >= 0x80;
    opaque
        .iter()
        .all(etagc)
        .then_some((EntityTag { weak, opaque }, &s[close + 1..]))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A piece of a response body: bytes to send as they are, or item data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(Bytes),
    Data(ByteRange),
}

/// Lays out a `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046 §5.1.1)
/// and returns it with its exact length, for `Content-Length`.
///
/// Each part is `--B CRLF [Content-Type: CT CRLF] Content-Range: ... CRLF CRLF
/// data`, the first with nothing before it and the others preceded by CRLF;
/// the body ends `CRLF --B-- CRLF`. An empty `content_type` omits that line.
/// Adjacent literals are merged, so segments alternate Literal and Data.
/// `boundary` and `content_type` are copied verbatim: they must be valid
/// header text, and `boundary` must not occur in the data (RFC 2046).
pub fn multipart_layout(
    boundary: &str,
    content_type: &str,
    ranges: &[ByteRange],
    len: u64,
) -> (Vec<Segment>, u64) {
    let mut segments = Vec::with_capacity(2 * ranges.len() + 1);
    let mut pending = String::new();
    let mut total: u64 = 0;
    for r in ranges {
        if !segments.is_empty() {
            pending.push_str("\r\n");
        }
        // Writing into a String cannot fail.
        let _ = write!(pending, "--{boundary}\r\n");
        if !content_type.is_empty() {
            let _ = write!(pending, "Content-Type: {content_type}\r\n");
        }
        let _ = write!(pending, "Content-Range: {}\r\n\r\n", content_range(*r, len));
        total = total.saturating_add(pending.len() as u64).saturating_add(r.len());
        segments.push(Segment::Literal(Bytes::from(std::mem::take(&mut pending))));
        segments.push(Segment::Data(*r));
    }
    if !segments.is_empty() {
        pending.push_str("\r\n");
    }
    let _ = write!(pending, "--{boundary}--\r\n");
    total = total.saturating_add(pending.len() as u64);
    segments.push(Segment::Literal(Bytes::from(pending)));
    (segments, total)
}

/// `Content-Range` of a part or single-range 206; `r` must be non-empty.
pub fn content_range(r: ByteRange, len: u64) -> String {
    format!("bytes {}-{}/{len}", r.start, r.end.saturating_sub(1))
}

/// `Content-Range` of a 416.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Compact forms for tables: specs as in the header, ranges as `start..end`.
    fn show_specs(specs: &[RangeSpec]) -> String {
        let show = |s: &RangeSpec| match *s {
            RangeSpec::FromTo { first, last } => format!("{first}-{last}"),
            RangeSpec::From { first } => format!("{first}-"),
            RangeSpec::Suffix { len } => format!("-{len}"),
        };
        specs.iter().map(show).collect::<Vec<_>>().join(",")
    }

    fn show_ranges(ranges: &[ByteRange]) -> String {
        let show = |r: &ByteRange| format!("{}..{}", r.start, r.end);
        ranges.iter().map(show).collect::<Vec<_>>().join(",")
    }

    fn show_plan(plan: &Plan) -> String {
        match plan {
            Plan::Full => "200".into(),
            Plan::Partial(r) => format!("206 {}", show_ranges(&[*r])),
            Plan::Multipart(rs) => format!("206 multipart {}", show_ranges(rs)),
            Plan::NotModified => "304".into(),
            Plan::PreconditionFailed => "412".into(),
            Plan::Unsatisfiable => "416".into(),
        }
    }

    /// One `#[test]` per row, named by the behaviour it pins down.
    macro_rules! parse_cases { ($($name:ident: $input:literal => $want:expr;)*) => {$(
        #[test]
        fn $name() {
            let got = parse_range($input.as_bytes()).map(|s| show_specs(&s));
            assert_eq!(got.as_deref(), $want, "{:?}", $input);
        }
    )*} }

    parse_cases! {
        single_range: "bytes=0-99" => Some("0-99");
        open_ended_range: "bytes=100-" => Some("100-");
        suffix_range: "bytes=-500" => Some("-500");
        multiple_ranges_keep_order: "bytes=5-6,0-1,-2" => Some("5-6,0-1,-2");
        whitespace_around_commas_and_after_eq_is_tolerated: " bytes= 0-1 ,\t5- , " => Some("0-1,5-");
        empty_list_elements_are_skipped: "bytes=,0-1,," => Some("0-1");
        unit_is_case_insensitive: "ByTeS=0-0" => Some("0-0");
        overflowing_first_pos_saturates: "bytes=99999999999999999999-" => Some("18446744073709551615-");
        overflowing_last_pos_saturates: "bytes=0-99999999999999999999" => Some("0-18446744073709551615");
        overflowing_suffix_saturates: "bytes=-99999999999999999999" => Some("-18446744073709551615");
        leading_zeros_do_not_overflow: "bytes=000000000000000000000001-2" => Some("1-2");
        bad_unit_is_invalid: "items=0-1" => None;
        missing_equals_is_invalid: "bytes 0-1" => None;
        space_before_equals_is_invalid: "bytes =0-1" => None;
        empty_set_is_invalid: "bytes=" => None;
        only_commas_is_invalid: "bytes= , ," => None;
        lone_dash_is_invalid: "bytes=-" => None;
        garbage_is_invalid: "bytes=abc" => None;
        two_dashes_is_invalid: "bytes=1-2-3" => None;
        sign_is_invalid: "bytes=+1-2" => None;
        space_inside_spec_is_invalid: "bytes=1 -2" => None;
        negative_suffix_is_invalid: "bytes=--1" => None;
        last_before_first_is_invalid: "bytes=5-4" => None;
        one_bad_spec_invalidates_header: "bytes=0-1,5-4" => None;
        empty_value_is_invalid: "" => None;
    }

    #[test]
    fn too_many_specs_are_ignored() {
        let many = |n: usize| format!("bytes={}", vec!["0-0"; n].join(","));
        assert_eq!(
            parse_range(many(MAX_RANGE_SPECS).as_bytes()).map(|s| s.len()),
            Some(100)
        );
        assert_eq!(parse_range(many(MAX_RANGE_SPECS + 1).as_bytes()), None);
    }

    macro_rules! resolve_cases { ($($name:ident: $set:literal in $len:literal => $want:literal;)*) => {$(
        #[test]
        fn $name() {
            let specs = parse_range(format!("bytes={}", $set).as_bytes()).unwrap_or_default();
            assert_eq!(show_ranges(&resolve(&specs, $len)), $want);
        }
    )*} }

    resolve_cases! {
        single_range_resolves: "0-99" in 1000 => "0..100";
        last_byte_pos_past_end_is_clamped: "900-5000" in 1000 => "900..1000";
        first_pos_past_end_is_unsatisfiable: "1000-2000,1000-" in 1000 => "";
        open_ended_runs_to_end: "10-" in 1000 => "10..1000";
        suffix_is_tail: "-10" in 1000 => "990..1000";
        suffix_larger_than_file_is_whole_file: "-5000" in 1000 => "0..1000";
        zero_suffix_is_unsatisfiable: "-0" in 1000 => "";
        zero_length_file_has_no_satisfiable_range: "0-0,0-,-1" in 0 => "";
        unsatisfiable_specs_are_dropped: "5000-6000,0-9" in 1000 => "0..10";
        overlapping_ranges_coalesce: "0-500,100-600" in 1000 => "0..601";
        adjacent_ranges_coalesce: "0-9,10-19" in 1000 => "0..20";
        gap_below_coalesce_gap_coalesces: "0-9,89-99" in 1000 => "0..100";
        gap_of_coalesce_gap_stays_apart: "0-9,90-99" in 1000 => "0..10,90..100";
        unordered_ranges_are_sorted: "-100,0-9" in 1000 => "0..10,900..1000";
        contained_range_is_absorbed: "0-999,10-20" in 1000 => "0..1000";
    }

    #[test]
    fn hand_built_inverted_spec_is_dropped() {
        assert_eq!(resolve(&[RangeSpec::FromTo { first: 10, last: 5 }], 1000), vec![]);
    }

    // The representation's Last-Modified is 1_000_000_000.5 s: the half second
    // checks that dates compare at whole seconds.
    const LM: &str = "Sun, 09 Sep 2001 01:46:40 GMT";
    const BEFORE: &str = "Sun, 09 Sep 2001 01:46:39 GMT";
    const AFTER: &str = "Sun, 09 Sep 2001 01:46:41 GMT";

    fn full() -> Representation<'static> {
        let last_modified = Some(UNIX_EPOCH + Duration::new(1_000_000_000, 500_000_000));
        Representation {
            len: Some(1000),
            etag: Some("\"abc\""),
            last_modified,
        }
    }
    fn unknown_len() -> Representation<'static> {
        Representation { len: None, ..full() }
    }
    fn empty() -> Representation<'static> {
        Representation {
            len: Some(0),
            ..full()
        }
    }
    fn no_validators() -> Representation<'static> {
        Representation {
            len: Some(1000),
            ..Representation::default()
        }
    }
    fn weak_etag() -> Representation<'static> {
        Representation {
            etag: Some("W/\"abc\""),
            ..full()
        }
    }

    fn plan_for(method: &Method, fields: &[(&str, &str)], rep: &Representation) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("test header name");
            headers.append(name, HeaderValue::from_str(value).expect("test header value"));
        }
        show_plan(&plan(method, &headers, rep))
    }

    #[test]
    fn date_constants_match_representation() {
        assert_eq!(
            full().last_modified.map(httpdate::fmt_http_date).as_deref(),
            Some(LM)
        );
    }

    /// Every GET row is also checked for HEAD, which must get the same plan.
    macro_rules! plan_cases { ($($name:ident: $method:ident $rep:ident [$($field:expr),*] => $want:literal;)*) => {$(
        #[test]
        fn $name() {
            let fields: &[(&str, &str)] = &[$($field),*];
            assert_eq!(plan_for(&Method::$method, fields, &$rep()), $want);
            if Method::$method == Method::GET {
                assert_eq!(plan_for(&Method::HEAD, fields, &$rep()), $want, "HEAD");
            }
        }
    )*} }

    plan_cases! {
        no_conditions_is_full: GET full [] => "200";
        single_range_is_partial: GET full [("range", "bytes=0-99")] => "206 0..100";
        whole_file_range_is_still_partial: GET full [("range", "bytes=0-")] => "206 0..1000";
        several_ranges_are_multipart: GET full [("range", "bytes=0-9,-10")] => "206 multipart 0..10,990..1000";
        range_past_end_is_unsatisfiable: GET full [("range", "bytes=1000-")] => "416";
        invalid_range_is_ignored: GET full [("range", "bytes=5-4")] => "200";
        bad_unit_range_is_ignored: GET full [("range", "items=0-1")] => "200";
        repeated_range_field_is_ignored: GET full [("range", "bytes=0-1"), ("range", "bytes=5-6")] => "200";
        unknown_length_is_full: GET unknown_len [("range", "bytes=0-9")] => "200";
        zero_length_file_is_unsatisfiable: GET empty [("range", "bytes=0-")] => "416";
        post_ignores_range: POST full [("range", "bytes=0-9")] => "200";
        if_range_strong_etag_match_applies_range: GET full [("range", "bytes=0-9"), ("if-range", "\"abc\"")] => "206 0..10";
        if_range_etag_mismatch_is_full: GET full [("range", "bytes=0-9"), ("if-range", "\"xyz\"")] => "200";
        if_range_weak_etag_never_matches: GET full [("range", "bytes=0-9"), ("if-range", "W/\"abc\"")] => "200";
        if_range_against_weak_etag_is_full: GET weak_etag [("range", "bytes=0-9"), ("if-range", "\"abc\"")] => "200";
        if_range_equal_date_applies_range: GET full [("range", "bytes=0-9"), ("if-range", LM)] => "206 0..10";
        if_range_earlier_date_is_full: GET full [("range", "bytes=0-9"), ("if-range", BEFORE)] => "200";
        if_range_later_date_is_full: GET full [("range", "bytes=0-9"), ("if-range", AFTER)] => "200";
        if_range_date_without_last_modified_is_full: GET no_validators [("range", "bytes=0-9"), ("if-range", LM)] => "200";
        if_range_garbage_is_full: GET full [("range", "bytes=0-9"), ("if-range", "yesterday")] => "200";
        if_range_failing_hides_unsatisfiable: GET full [("range", "bytes=5000-"), ("if-range", "\"xyz\"")] => "200";
        if_range_without_range_is_ignored: GET full [("if-range", "\"xyz\"")] => "200";
        if_match_strong_match_passes: GET full [("if-match", "\"abc\""), ("range", "bytes=0-0")] => "206 0..1";
        if_match_mismatch_fails: GET full [("if-match", "\"xyz\"")] => "412";
        if_match_weak_tag_fails: GET full [("if-match", "W/\"abc\"")] => "412";
        if_match_against_weak_etag_fails: GET weak_etag [("if-match", "\"abc\"")] => "412";
        if_match_without_etag_fails: GET no_validators [("if-match", "\"abc\"")] => "412";
        if_match_star_passes: GET no_validators [("if-match", "*")] => "200";
        if_match_list_may_hold_commas_in_tags: GET full [("if-match", "\"a,b\", \"abc\"")] => "200";
        if_match_field_lines_are_combined: GET full [("if-match", "\"xyz\""), ("if-match", "\"abc\"")] => "200";
        if_match_malformed_fails: GET full [("if-match", "abc")] => "412";
        if_match_star_in_list_is_malformed: GET full [("if-match", "*, \"abc\"")] => "412";
        if_match_is_evaluated_before_if_none_match: GET full [("if-match", "\"x\""), ("if-none-match", "*")] => "412";
        if_unmodified_since_before_change_fails: GET full [("if-unmodified-since", BEFORE)] => "412";
        if_unmodified_since_equal_passes: GET full [("if-unmodified-since", LM)] => "200";
        if_unmodified_since_garbage_is_ignored: GET full [("if-unmodified-since", "soon")] => "200";
        if_unmodified_since_is_ignored_with_if_match: GET full [("if-match", "*"), ("if-unmodified-since", BEFORE)] => "200";
        if_unmodified_since_fails_put: PUT full [("if-unmodified-since", BEFORE)] => "412";
        if_none_match_gives_304: GET full [("if-none-match", "\"abc\"")] => "304";
        if_none_match_weak_compare_gives_304: GET full [("if-none-match", "\"x\", W/\"abc\"")] => "304";
        if_none_match_against_weak_etag_gives_304: GET weak_etag [("if-none-match", "\"abc\"")] => "304";
        if_none_match_star_gives_304: GET full [("if-none-match", "*")] => "304";
        if_none_match_mismatch_is_full: GET full [("if-none-match", "\"xyz\"")] => "200";
        if_none_match_malformed_does_not_match: GET full [("if-none-match", "\"abc")] => "200";
        if_none_match_on_post_gives_412: POST full [("if-none-match", "*")] => "412";
        not_modified_beats_range: GET full [("if-none-match", "\"abc\""), ("range", "bytes=0-0")] => "304";
        if_modified_since_equal_gives_304: GET full [("if-modified-since", LM)] => "304";
        if_modified_since_later_gives_304: GET full [("if-modified-since", AFTER)] => "304";
        if_modified_since_earlier_is_full: GET full [("if-modified-since", BEFORE)] => "200";
        if_modified_since_garbage_is_ignored: GET full [("if-modified-since", "then")] => "200";
        if_modified_since_list_is_ignored: GET full [("if-modified-since", LM), ("if-modified-since", LM)] => "200";
        if_modified_since_without_last_modified_is_full: GET no_validators [("if-modified-since", AFTER)] => "200";
        if_modified_since_is_ignored_for_post: POST full [("if-modified-since", AFTER)] => "200";
        if_none_match_present_ignores_if_modified_since: GET full [("if-none-match", "\"x\""), ("if-modified-since", AFTER)] => "200";
    }

    #[test]
    fn content_range_formats() {
        assert_eq!(content_range(ByteRange::new(0, 100), 1000), "bytes 0-99/1000");
        assert_eq!(
            content_range(ByteRange::new(999, 1000), 1000),
            "bytes 999-999/1000"
        );
        assert_eq!(unsatisfied_range(1000), "bytes */1000");
    }

    /// The body a layout stands for, with `item` as the representation.
    fn render(segments: &[Segment], item: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for segment in segments {
            match segment {
                Segment::Literal(b) => out.extend_from_slice(b),
                Segment::Data(r) => out.extend_from_slice(&item[r.start as usize..r.end as usize]),
            }
        }
        out
    }

    #[test]
    fn multipart_body_is_exact() {
        let item: Vec<u8> = (b'a'..=b'z').collect();
        let ranges = [ByteRange::new(0, 2), ByteRange::new(24, 26)];
        let (segments, total) = multipart_layout("SEP", "video/mp4", &ranges, 26);
        let want = "--SEP\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/26\r\n\r\nab\
            \r\n--SEP\r\nContent-Type: video/mp4\r\nContent-Range: bytes 24-25/26\r\n\r\nyz\
            \r\n--SEP--\r\n";
        assert_eq!(String::from_utf8_lossy(&render(&segments, &item)), want);
        assert_eq!(total, want.len() as u64);
    }

    #[test]
    fn multipart_without_content_type_omits_the_line() {
        let (segments, _) = multipart_layout("SEP", "", &[ByteRange::new(0, 1)], 26);
        let body = render(&segments, &[b'x'; 26]);
        assert_eq!(
            body,
            b"--SEP\r\nContent-Range: bytes 0-0/26\r\n\r\nx\r\n--SEP--\r\n"
        );
    }

    #[test]
    fn multipart_total_length_matches_segments() {
        let r = ByteRange::new;
        for ranges in [
            vec![r(0, 10), r(500, 1000)],
            vec![r(3, 4), r(100, 200), r(999, 1000)],
        ] {
            let (segments, total) = multipart_layout("0123456789abcdef", "audio/mpeg", &ranges, 1000);
            assert_eq!(total, render(&segments, &[0; 1000]).len() as u64);
            let adjacent_literals = segments
                .windows(2)
                .any(|w| matches!(w, [Segment::Literal(_), Segment::Literal(_)]));
            assert!(!adjacent_literals, "adjacent literals are merged");
            let data: Vec<ByteRange> = segments
                .iter()
                .filter_map(|s| if let Segment::Data(r) = s { Some(*r) } else { None })
                .collect();
            assert_eq!(data, ranges);
        }
    }

    fn position() -> impl Strategy<Value = u64> {
        prop_oneof![4 => 0..12_000u64, 1 => any::<u64>()]
    }

    fn spec() -> impl Strategy<Value = RangeSpec> {
        prop_oneof![
            (position(), position()).prop_map(|(a, b)| RangeSpec::FromTo {
                first: a.min(b),
                last: a.max(b)
            }),
            position().prop_map(|first| RangeSpec::From { first }),
            position().prop_map(|len| RangeSpec::Suffix { len }),
        ]
    }

    proptest! {
        #[test]
        fn resolved_ranges_are_in_bounds_sorted_and_apart(
            len in 0..10_000u64,
            specs in prop::collection::vec(spec(), 0..20),
        ) {
            let ranges = resolve(&specs, len);
            for r in &ranges {
                prop_assert!(!r.is_empty() && r.end <= len, "{:?} in {}", r, len);
            }
            for w in ranges.windows(2) {
                prop_assert!(w[1].start >= w[0].end + COALESCE_GAP, "{:?}", w);
            }
            // Coalescing never loses a requested byte.
            for one in specs.iter().flat_map(|s| resolve(&[*s], len)) {
                prop_assert!(ranges.iter().any(|r| r.start <= one.start && one.end <= r.end));
            }
        }

        #[test]
        fn parser_never_panics_on_arbitrary_bytes(value in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_range(&value);
        }

        #[test]
        fn parsed_specs_are_well_formed(value in "[bB][yY][tT][eE][sS]=[0-9 \t,-]{0,40}") {
            if let Some(specs) = parse_range(value.as_bytes()) {
                prop_assert!(!specs.is_empty() && specs.len() <= MAX_RANGE_SPECS);
                let inverted = |s: &RangeSpec| matches!(*s, RangeSpec::FromTo { first, last } if last < first);
                prop_assert!(!specs.iter().any(inverted));
            }
        }

        #[test]
        fn plan_never_panics_on_header_values(
            value in "(W/)?[\"*, a-z0-9\u{80}-\u{10ffff}-]{0,24}",
            etag in "[\"W/a-c]{0,6}",
        ) {
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                let mut headers = HeaderMap::new();
                for name in [header::IF_MATCH, header::IF_NONE_MATCH, header::IF_RANGE, header::RANGE] {
                    headers.insert(name, value.clone());
                }
                let rep = Representation { etag: Some(&etag), ..full() };
                let _ = plan(&Method::GET, &headers, &rep);
                headers.remove(header::IF_MATCH);
                let _ = plan(&Method::GET, &headers, &rep);
            }
        }
    }
}
