//! Response bodies whose length is decided before the first byte is sent.
//!
//! [`ItemBody`] streams an item's bytes from the store, waiting for bytes
//! that are not there yet. Its `size_hint` is exact and shrinks as frames go
//! out, so hyper's `Content-Length` always equals what is sent. It never
//! yields more than it declared; when the item fails, is removed or changes,
//! it returns an error and hyper closes the connection (a short read the
//! client sees and retries), which is the only way a response ends early.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

use crate::http_range::Segment;
use crate::item::{Abort, Readable, ReaderGuard};

/// Bytes read from the store per frame.
const CHUNK: u64 = 256 * 1024;

pub type ProxyBody = UnsyncBoxBody<Bytes, Abort>;

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body built from literal bytes and item byte ranges.
pub struct ItemBody {
    /// Bytes still to send; `None` for an item of unknown length (chunked).
    remaining: Option<u64>,
    stream: Pin<Box<dyn Stream<Item = Result<Bytes, Abort>> + Send>>,
}

impl ItemBody {
    /// `len` is the exact total of `segments`, or `None` when the one data
    /// segment runs to an end not known yet.
    pub(crate) fn stream(
        reader: ReaderGuard,
        generation: u64,
        segments: Vec<Segment>,
        len: Option<u64>,
    ) -> ProxyBody {
        let state = Reader {
            reader,
            generation,
            segments: segments.into(),
        };
        ItemBody {
            remaining: len,
            stream: Box::pin(futures_util::stream::unfold(state, Reader::next)),
        }
        .boxed_unsync()
    }
}

impl Body for ItemBody {
    type Data = Bytes;
    type Error = Abort;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Abort>>> {
        if self.remaining == Some(0) {
            return Poll::Ready(None);
        }
        let next = ready!(self.stream.as_mut().poll_next(cx));
        Poll::Ready(match (next, self.remaining.as_mut()) {
            (Some(Ok(bytes)), Some(remaining)) => {
                let len = bytes.len() as u64;
                if len > *remaining {
                    // Unreachable by construction; refuse rather than mis-frame.
                    Some(Err(Abort::Io(format!(
                        "{len} bytes exceed the {remaining} declared"
                    ))))
                } else {
                    *remaining -= len;
                    Some(Ok(Frame::data(bytes)))
                }
            }
            (Some(Ok(bytes)), None) => Some(Ok(Frame::data(bytes))),
            (Some(Err(abort)), _) => Some(Err(abort)),
            (None, Some(remaining)) => Some(Err(Abort::Io(format!("ended {remaining} bytes early")))),
            (None, None) => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining.map(SizeHint::with_exact).unwrap_or_default()
    }
}

/// The body's cursor over its segments.
struct Reader {
    reader: ReaderGuard,
    generation: u64,
    segments: VecDeque<Segment>,
}

impl Reader {
    async fn next(mut self) -> Option<(Result<Bytes, Abort>, Reader)> {
        loop {
            match self.segments.front_mut()? {
                Segment::Literal(bytes) => {
                    let bytes = bytes.clone();
                    self.segments.pop_front();
                    return Some((Ok(bytes), self));
                }
                Segment::Data(range) if range.is_empty() => {
                    self.segments.pop_front();
                }
                Segment::Data(range) => {
                    let pos = range.start;
                    let want = range.len().min(CHUNK);
                    let read = match self.reader.wait_readable(self.generation, pos).await {
                        Ok(Readable::Run(run)) => {
                            let len = run.min(want) as usize;
                            self.reader.read(self.generation, pos, len).await
                        }
                        Ok(Readable::End) => {
                            self.segments.pop_front();
                            continue;
                        }
                        Err(abort) => Err(abort),
                    };
                    match read {
                        Ok(bytes) => {
                            if let Some(Segment::Data(range)) = self.segments.front_mut() {
                                range.start += bytes.len() as u64;
                            }
                            return Some((Ok(bytes), self));
                        }
                        Err(abort) => {
                            self.segments.clear();
                            return Some((Err(abort), self));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The core promise, as a property: whatever order the bytes arrive in,
    //! a response body equals `origin[range]` and its length equals the
    //! length it declared before the first byte.

    use std::os::unix::fs::FileExt;
    use std::sync::Arc;

    use http_body_util::BodyExt;
    use proptest::prelude::*;

    use super::*;
    use crate::byte_ranges::ByteRange;
    use crate::http_range::{self, Plan, Representation};
    use crate::item::Item;
    use crate::store::ItemMeta;

    fn item(dir: &tempfile::TempDir, len: u64) -> Arc<Item> {
        let meta = ItemMeta {
            size: Some(len),
            probed: true,
            accepts_ranges: true,
            ..ItemMeta::default()
        };
        Arc::new(Item::for_test(dir.path(), meta))
    }

    /// Writes `content` chunk by chunk in the given order, as fetches would.
    async fn arrive(item: Arc<Item>, content: Arc<Vec<u8>>, chunks: Vec<ByteRange>) {
        for chunk in chunks {
            let file = item.lock().file.clone();
            let bytes = &content[chunk.start as usize..chunk.end as usize];
            file.write_all_at(bytes, chunk.start).unwrap();
            item.lock().written.insert(chunk.start, chunk.end);
            item.notify_readers();
            tokio::task::yield_now().await;
        }
    }

    fn chunks(len: u64, size: u64, order: &[usize]) -> Vec<ByteRange> {
        let all: Vec<_> = (0..len.div_ceil(size))
            .map(|i| ByteRange::new(i * size, ((i + 1) * size).min(len)))
            .collect();
        // `order` is a permutation source: pick remaining chunks by index.
        let mut left = all;
        let mut out = Vec::new();
        let mut k = 0;
        while !left.is_empty() {
            let i = order.get(k).copied().unwrap_or(0) % left.len();
            out.push(left.remove(i));
            k += 1;
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn body_equals_origin_range_and_declared_length(
            len in 1u64..300_000,
            chunk in 1u64..40_000,
            order in proptest::collection::vec(0usize..1000, 0..64),
            specs in proptest::collection::vec((0u64..320_000, 0u64..320_000, 0u8..3), 1..4),
            seed in any::<u64>(),
        ) {
            let content: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2654435761) ^ seed) as u8).collect();
            let content = Arc::new(content);
            let header = specs
                .iter()
                .map(|&(a, b, kind)| match kind {
                    0 => format!("{}-{}", a.min(b), a.max(b)),
                    1 => format!("{a}-"),
                    _ => format!("-{}", b % 400_000),
                })
                .collect::<Vec<_>>()
                .join(",");
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::RANGE, format!("bytes={header}").parse().unwrap());
            let rep = Representation { len: Some(len), etag: None, last_modified: None };
            let plan = http_range::plan(&http::Method::GET, &headers, &rep);
            let (segments, declared) = match plan {
                Plan::Full => (vec![Segment::Data(ByteRange::new(0, len))], len),
                Plan::Partial(r) => (vec![Segment::Data(r)], r.len()),
                Plan::Multipart(ranges) => http_range::multipart_layout("B", "video/mp4", &ranges, len),
                Plan::Unsatisfiable => return Ok(()),
                other => panic!("unexpected plan {other:?}"),
            };
            let expected: Vec<u8> = segments
                .iter()
                .flat_map(|s| match s {
                    Segment::Literal(b) => b.to_vec(),
                    Segment::Data(r) => content[r.start as usize..r.end as usize].to_vec(),
                })
                .collect();

            let dir = tempfile::tempdir().unwrap();
            let item = item(&dir, len);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let got = runtime.block_on(async {
                let body = ItemBody::stream(item.open_reader(), 0, segments, Some(declared));
                prop_assert_eq!(body.size_hint().exact(), Some(declared));
                let writer = tokio::spawn(arrive(item.clone(), content.clone(), chunks(len, chunk, &order)));
                let collected = tokio::time::timeout(std::time::Duration::from_secs(20), body.collect())
                    .await
                    .expect("the body completes once every byte has arrived")
                    .expect("no abort");
                writer.await.unwrap();
                Ok(collected.to_bytes())
            })?;
            prop_assert_eq!(got.len() as u64, declared);
            prop_assert!(got[..] == expected[..], "body differs from origin[range]");
        }
    }
}
