//! What a fetch asks the origin for, decided from what the item knows of
//! its file; `fetch` sends it and streams the answer.

use super::origin;
use crate::store::ItemMeta;

/// One fetch's origin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestPlan {
    /// `Range: bytes=start-` (`None`) or `bytes=start-(end-1)`.
    pub range: (u64, Option<u64>),
    /// `If-Range`: the validator that proves the bytes are of the file held.
    pub if_range: Option<String>,
    /// Ask on the connection kept warm for seeks, and send again once if
    /// that connection was closed under the request.
    pub warm_connection: bool,
}

/// The request of a fetch that writes `[pos, end)`; `seek`: it was started
/// for a reader waiting where no fetch was.
pub(crate) fn plan(meta: &ItemMeta, pos: u64, end: u64, seek: bool) -> RequestPlan {
    let ranged = meta.probed && meta.accepts_ranges && meta.size.is_some();
    RequestPlan {
        // Unprobed or no range support: ask from `pos` anyway; a 200 is handled.
        range: (pos, ranged.then_some(end)),
        // Before the first answer there is nothing to validate against.
        if_range: origin::if_range_validator(meta.etag.as_deref(), meta.last_modified.as_deref())
            .filter(|_| meta.probed)
            .map(str::to_string),
        warm_connection: seek,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LM: &str = "Tue, 15 Nov 1994 08:12:31 GMT";

    fn meta(probed: bool, ranges: bool, size: Option<u64>, etag: Option<&str>) -> ItemMeta {
        ItemMeta {
            probed,
            accepts_ranges: ranges,
            size,
            etag: etag.map(str::to_string),
            last_modified: Some(LM.into()),
            ..ItemMeta::default()
        }
    }

    #[test]
    fn what_a_fetch_asks_for() {
        let strong = Some("\"v1\"");
        let weak = Some("W/\"v1\"");
        let table = [
            (
                "a span of a ranged file, validated by its ETag",
                meta(true, true, Some(100), strong),
                false,
                (10, Some(50)),
                Some("\"v1\""),
            ),
            (
                "a weak ETag cannot validate: Last-Modified does",
                meta(true, true, Some(100), weak),
                false,
                (10, Some(50)),
                Some(LM),
            ),
            (
                "an origin without ranges: from the position to the end",
                meta(true, false, Some(100), strong),
                false,
                (10, None),
                Some("\"v1\""),
            ),
            (
                "a length not known: to the end",
                meta(true, true, None, strong),
                false,
                (10, None),
                Some("\"v1\""),
            ),
            (
                "not probed yet: no validator to send",
                meta(false, false, None, strong),
                false,
                (10, None),
                None,
            ),
            (
                "a seek asks the same way",
                meta(true, true, Some(100), strong),
                true,
                (10, Some(50)),
                Some("\"v1\""),
            ),
        ];
        for (why, meta, seek, range, if_range) in table {
            let want = RequestPlan {
                range,
                if_range: if_range.map(str::to_string),
                warm_connection: seek,
            };
            assert_eq!(plan(&meta, 10, 50, seek), want, "{why}");
        }
    }
}
