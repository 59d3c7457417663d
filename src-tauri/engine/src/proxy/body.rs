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

use crate::item::{Abort, Readable, ReaderGuard};
use crate::range::Segment;

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
