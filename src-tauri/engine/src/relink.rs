//! Refreshing an item's link: a new URL replaces the old one only if it
//! serves the same file (same length; same ETag or Last-Modified where the
//! origin gives them; else the same bytes at a few sampled spans of those
//! already on disk). The item keeps its id, token, stream URL and bytes,
//! and resumes from its gaps.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use crate::byte_ranges::{ByteRange, RangeSet};
use crate::catalog::Catalog;
use crate::download::origin::{self, Body};
use crate::download::Downloader;
use crate::download::{self, persist::joined};
use crate::error::{Error, Result};
use crate::events::ItemView;
use crate::input::validate_url;
use crate::item::Item;
use crate::store::ItemMeta;

/// Spans of bytes on disk compared with the new URL's when no validator
/// proves the file is the same.
const SAMPLES: usize = 4;
const SAMPLE_LEN: u64 = 64 << 10;

/// What is known of a file: its length and validators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Known {
    fn of(meta: &ItemMeta) -> Known {
        Known {
            size: meta.size,
            etag: meta.etag.clone(),
            last_modified: meta.last_modified.clone(),
        }
    }
}

/// Whether a new URL serves the item's file, as far as its answer tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// A validator matches (and the length does).
    Same,
    /// Nothing contradicts it, nothing proves it: compare bytes.
    Unproven,
    /// Not the same file; why, for people.
    Different(String),
}

/// Compares what the item knows of its file with what the new URL says.
/// An ETag decides when both give one; else a Last-Modified.
pub fn compare(item: &Known, new: &Known) -> Comparison {
    match (item.size, new.size) {
        (Some(old), Some(new)) if old != new => {
            return Comparison::Different(format!("its length is {new} bytes, the item's is {old} bytes"))
        }
        (Some(old), None) => {
            return Comparison::Different(format!("it does not tell its length (the item's is {old} bytes)"))
        }
        _ => {}
    }
    if let (Some(old), Some(new)) = (&item.etag, &new.etag) {
        return if old == new {
            Comparison::Same
        } else {
            Comparison::Different(format!("its ETag is {new}, the item's is {old}"))
        };
    }
    if let (Some(old), Some(new)) = (&item.last_modified, &new.last_modified) {
        return if old == new {
            Comparison::Same
        } else {
            Comparison::Different(format!("its Last-Modified is {new}, the item's is {old}"))
        };
    }
    Comparison::Unproven
}

/// Up to `count` spans of at most `len` bytes within `present`, spread over
/// it: its first bytes, its last, and evenly between.
pub fn sample_spans(present: &RangeSet, count: usize, len: u64) -> Vec<ByteRange> {
    let total = present.total();
    if total == 0 || count == 0 || len == 0 {
        return Vec::new();
    }
    let mut spans: Vec<ByteRange> = Vec::new();
    for k in 0..count as u64 {
        // The k-th point, as an offset into the present bytes laid end to end.
        let at = if count == 1 {
            0
        } else {
            (total - 1) * k / (count as u64 - 1)
        };
        let mut skipped = 0;
        for range in present.iter() {
            if at < skipped + range.len() {
                let start =
                    (range.start + (at - skipped)).min(range.end.saturating_sub(len).max(range.start));
                let span = ByteRange::new(start, (start + len).min(range.end));
                if spans.last() != Some(&span) {
                    spans.push(span);
                }
                break;
            }
            skipped += range.len();
        }
    }
    spans
}

/// Whether a newly probed file is the file of a failed item: same name,
/// same length, and the same validators where both give them.
pub fn is_same_file(failed: &ItemMeta, new: &ItemMeta) -> bool {
    let same_if_both = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    failed.name == new.name
        && failed.size.is_some()
        && failed.size == new.size
        && same_if_both(&failed.etag, &new.etag)
        && same_if_both(&failed.last_modified, &new.last_modified)
}

/// The failed item (id, name) whose file a newly probed URL serves.
pub(crate) fn failed_item_matching(catalog: &Catalog, new: &ItemMeta) -> Option<(String, String)> {
    let items = catalog.items();
    let mut matching: Vec<_> = items
        .values()
        .filter(|item| !item.damaged)
        .filter_map(|item| {
            let st = item.lock();
            (st.meta.failure.is_some() && is_same_file(&st.meta, new))
                .then(|| (item.created, item.id().to_string(), st.meta.name.clone()))
        })
        .collect();
    // The oldest, so that the answer does not depend on map order.
    matching.sort();
    matching.into_iter().next().map(|(_, id, name)| (id, name))
}

/// Replaces item `id`'s origin URL with `url` if it serves the same file;
/// clears its failure and resumes it from its gaps.
pub(crate) async fn relink(downloader: &Arc<Downloader>, id: &str, url: &str) -> Result<ItemView> {
    let item = downloader.catalog.item(id)?;
    if item.damaged {
        return Err(Error::Damaged { id: id.to_string() });
    }
    let url = validate_url(url)?;
    let (generation, known, present, file) = {
        let st = item.lock();
        (
            st.meta.generation,
            Known::of(&st.meta),
            st.written.clone(),
            st.file.clone(),
        )
    };
    // Like every origin request, on the download thread.
    let check = Check {
        client: downloader.client.clone(),
        url: url.clone(),
        headers: item.headers.clone(),
        timeout: downloader.config.origin_timeout,
        known,
        present,
        file,
    };
    let Ok(checked) = downloader.thread.spawn(&downloader.tasks, check.run()).await else {
        return Err(Error::ShuttingDown);
    };
    let new = match checked? {
        Ok(new) => new,
        Err(difference) => {
            return Err(Error::NotTheSameFile {
                id: id.to_string(),
                difference,
            })
        }
    };
    commit(&downloader.catalog, &item, generation, url, new).await?;
    download::spawn_supervisor(downloader, item.clone(), None);
    item.kick.notify_one();
    item.notify_readers();
    downloader.catalog.emit_state(&item);
    Ok(downloader.catalog.view(&item))
}

/// Persists the new URL (`item.json`, atomically, then the state with its
/// copy) and applies it, unless the item moved on meanwhile.
async fn commit(catalog: &Catalog, item: &Item, generation: u64, url: String, new: NewFile) -> Result<()> {
    let _saving = item.save_lock.lock().await;
    {
        let st = item.lock();
        if st.removed {
            return Err(Error::NotFound(item.id().to_string()));
        }
        if st.meta.generation != generation {
            return Err(Error::NotTheSameFile {
                id: item.id().to_string(),
                difference: "the item's file changed at its origin while the new URL was checked".into(),
            });
        }
    }
    let mut source = item.source();
    source.source_url = url.clone();
    let store = catalog.store.clone();
    let identity = source.clone();
    joined(tokio::task::spawn_blocking(move || store.write_identity(&identity)).await)
        .map_err(|e| Error::io(format!("cannot save the new URL of item {}", item.id()), e))?;
    let meta = {
        let mut st = item.lock();
        st.url = url;
        if st.meta.probed {
            // The new URL's validators describe the file from now on.
            st.meta.etag = new.etag;
            st.meta.last_modified = new.last_modified;
            st.meta.accepts_ranges = new.accepts_ranges;
        }
        st.meta.failure = None;
        st.failures = 0;
        st.retry_at = None;
        st.last_error = None;
        st.short_end = None;
        st.last_progress = tokio::time::Instant::now();
        st.meta.clone()
    };
    let store = catalog.store.clone();
    let saved = joined(tokio::task::spawn_blocking(move || store.save_meta(&source, &meta)).await);
    if let Err(e) = saved {
        // `item.json` has the new URL and wins over the state's copy.
        tracing::warn!("item {}: cannot save its state after a relink: {e}", item.id());
    }
    tracing::info!("item {}: relinked", item.id());
    Ok(())
}

/// What the new URL said about its file.
struct NewFile {
    etag: Option<String>,
    last_modified: Option<String>,
    accepts_ranges: bool,
}

/// The origin requests of a relink: a probe, then samples if needed.
struct Check {
    client: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    known: Known,
    present: RangeSet,
    file: Arc<std::fs::File>,
}

/// `Ok(Err(difference))`: not the same file; `Err`: the origin could not
/// be asked.
type Checked = Result<std::result::Result<NewFile, String>>;

impl Check {
    async fn run(self) -> Checked {
        // One byte of the first gap: where the download goes on anyway, so
        // no byte already present is asked for when validators decide.
        let limit = self.known.size.unwrap_or(u64::MAX);
        let at = self.present.first_gap_from(0, limit).map_or(0, |gap| gap.start);
        let response = self.send(at, at + 1).await?;
        let answer = origin::answer(&response).map_err(Error::from)?;
        let (size, accepts_ranges) = answer.body.file_length_and_ranges();
        if matches!(answer.body, Body::Partial { .. }) {
            // One byte: read it so the connection serves the next request.
            let _ = tokio::time::timeout(self.timeout, response.bytes()).await;
        }
        let new = Known {
            size,
            etag: answer.etag.clone(),
            last_modified: answer.last_modified.clone(),
        };
        let file = NewFile {
            etag: answer.etag,
            last_modified: answer.last_modified,
            accepts_ranges,
        };
        match compare(&self.known, &new) {
            Comparison::Same => Ok(Ok(file)),
            Comparison::Different(why) => Ok(Err(why)),
            // Nothing on disk to lose, or to compare.
            Comparison::Unproven if self.present.is_empty() => Ok(Ok(file)),
            Comparison::Unproven => Ok(self.compare_samples().await?.map(|()| file)),
        }
    }

    async fn compare_samples(&self) -> Result<std::result::Result<(), String>> {
        for span in sample_spans(&self.present, SAMPLES, SAMPLE_LEN) {
            let response = self.send(span.start, span.end).await?;
            let answer = origin::answer(&response).map_err(Error::from)?;
            match answer.body {
                Body::Partial { start, last, .. } if start == span.start && last + 1 == span.end => {}
                _ => {
                    return Ok(Err(
                        "it gives no ETag or Last-Modified and does not send the byte \
                                   ranges asked for, so nothing shows it is the same file"
                            .into(),
                    ))
                }
            }
            let theirs = tokio::time::timeout(self.timeout, response.bytes())
                .await
                .map_err(|_| Error::OriginUnreachable("the origin stopped sending a sample".into()))?
                .map_err(|e| Error::OriginUnreachable(origin::error_chain(&e)))?;
            let file = self.file.clone();
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; span.len() as usize];
                file.read_exact_at(&mut buf, span.start).map(|()| buf)
            });
            let ours = joined(read.await).map_err(|e| Error::io("cannot read the item's data file", e))?;
            if theirs.as_ref() != ours.as_slice() {
                return Ok(Err(format!(
                    "its bytes {}-{} differ from those already downloaded",
                    span.start,
                    span.end - 1
                )));
            }
        }
        Ok(Ok(()))
    }

    /// `Range: bytes=start-(end-1)` to the new URL.
    async fn send(&self, start: u64, end: u64) -> Result<reqwest::Response> {
        let request = origin::Request {
            url: &self.url,
            headers: &self.headers,
            range: Some((start, Some(end))),
            if_range: None,
            timeout: self.timeout,
            resend_if_stale: false,
        };
        origin::send(&self.client, request).await.map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch_error::FetchError;

    fn known(size: Option<u64>, etag: Option<&str>, lm: Option<&str>) -> Known {
        Known {
            size,
            etag: etag.map(str::to_string),
            last_modified: lm.map(str::to_string),
        }
    }

    #[test]
    fn the_same_file_has_the_same_length_and_validators() {
        let lm = Some("Mon, 01 Jan 2024 00:00:00 GMT");
        let other_lm = Some("Mon, 01 Jan 2024 01:00:00 GMT");
        let table = [
            // (item, new, expected)
            (known(Some(10), Some("\"a\""), None), known(Some(10), Some("\"a\""), None), "same"),
            (known(Some(10), Some("\"a\""), None), known(Some(10), Some("\"b\""), None), "its ETag is \"b\", the item's is \"a\""),
            (known(Some(10), None, lm), known(Some(10), None, lm), "same"),
            (known(Some(10), None, lm), known(Some(10), None, other_lm), "its Last-Modified is Mon, 01 Jan 2024 01:00:00 GMT, the item's is Mon, 01 Jan 2024 00:00:00 GMT"),
            // The ETag decides when both give one.
            (known(Some(10), Some("\"a\""), lm), known(Some(10), Some("\"a\""), other_lm), "same"),
            // A validator on one side only proves nothing.
            (known(Some(10), Some("\"a\""), None), known(Some(10), None, lm), "unproven"),
            (known(Some(10), None, None), known(Some(10), None, None), "unproven"),
            (known(Some(10), Some("\"a\""), None), known(Some(11), Some("\"a\""), None), "its length is 11 bytes, the item's is 10 bytes"),
            (known(Some(10), None, None), known(None, None, None), "it does not tell its length (the item's is 10 bytes)"),
            // Never probed: nothing to compare.
            (known(None, None, None), known(Some(10), Some("\"a\""), None), "unproven"),
        ];
        for (item, new, expected) in table {
            let got = match compare(&item, &new) {
                Comparison::Same => "same".to_string(),
                Comparison::Unproven => "unproven".to_string(),
                Comparison::Different(why) => why,
            };
            assert_eq!(got, expected, "{item:?} vs {new:?}");
        }
    }

    fn set(spans: &[(u64, u64)]) -> RangeSet {
        let mut set = RangeSet::new();
        for &(a, b) in spans {
            set.insert(a, b);
        }
        set
    }

    fn spans(present: &RangeSet, count: usize, len: u64) -> Vec<(u64, u64)> {
        sample_spans(present, count, len)
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect()
    }

    #[test]
    fn samples_spread_over_the_present_bytes_and_stay_inside_them() {
        assert_eq!(spans(&set(&[]), 4, 10), vec![]);
        assert_eq!(
            spans(&set(&[(0, 1000)]), 4, 10),
            vec![(0, 10), (333, 343), (666, 676), (990, 1000)]
        );
        // Across two ranges, each sample within one of them.
        assert_eq!(
            spans(&set(&[(0, 100), (500, 600)]), 3, 30),
            vec![(0, 30), (70, 100), (570, 600)]
        );
        // Present bytes shorter than a sample: the whole of them.
        assert_eq!(spans(&set(&[(40, 45)]), 4, 10), vec![(40, 45)]);
        for (a, b) in spans(&set(&[(0, 7), (20, 90), (100, 1000)]), 4, 64) {
            assert!(set(&[(0, 7), (20, 90), (100, 1000)]).covers(a, b), "{a}..{b}");
        }
    }

    use reqwest::StatusCode;

    #[test]
    fn origin_faults_become_the_engines_errors() {
        let status = Error::from(FetchError::Refused {
            status: StatusCode::FORBIDDEN,
        });
        assert!(matches!(status, Error::OriginStatus { status } if status == StatusCode::FORBIDDEN));
        assert_eq!(status.to_string(), "origin answered 403 Forbidden");
        let unreachable = Error::from(FetchError::Unreachable {
            message: "connection refused by h".into(),
        });
        assert!(matches!(unreachable, Error::OriginUnreachable(_)));
        assert_eq!(unreachable.to_string(), "connection refused by h");
        let transient = Error::from(FetchError::Transient {
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            message: "origin answered 503 Service Unavailable".into(),
            retry_after: None,
        });
        assert_eq!(transient.code(), "origin_status");
        assert_eq!(transient.to_string(), "origin answered 503 Service Unavailable");
        let redirects = Error::from(FetchError::TooManyRedirects { cause: "loop".into() });
        assert_eq!(redirects.code(), "origin_unreachable");
    }

    fn meta(name: &str, size: Option<u64>, etag: Option<&str>) -> ItemMeta {
        ItemMeta {
            name: name.into(),
            size,
            etag: etag.map(str::to_string),
            ..ItemMeta::default()
        }
    }

    #[test]
    fn an_added_url_matches_a_failed_item_by_name_length_and_validators() {
        let failed = meta("film.mkv", Some(10), Some("\"a\""));
        assert!(is_same_file(&failed, &meta("film.mkv", Some(10), Some("\"a\""))));
        assert!(
            is_same_file(&failed, &meta("film.mkv", Some(10), None)),
            "no validator to compare"
        );
        assert!(!is_same_file(&failed, &meta("film.mkv", Some(10), Some("\"b\""))));
        assert!(!is_same_file(&failed, &meta("film.mkv", Some(11), Some("\"a\""))));
        assert!(!is_same_file(
            &failed,
            &meta("other.mkv", Some(10), Some("\"a\""))
        ));
        let unknown = meta("film.mkv", None, None);
        assert!(
            !is_same_file(&unknown, &unknown),
            "an unknown length matches nothing"
        );
    }
}
