//! An item at run time: its saved state plus what only lives in memory
//! (bytes written but not yet fsynced, waiting readers, running fetches).
//!
//! Locking: `Item::state` is a `std::sync::Mutex`; nothing is awaited and no
//! file I/O happens while it is held. Every change readers care about bumps
//! `changed`, so a reader checks the state, then awaits the next bump, and
//! cannot miss one (`watch` remembers what a receiver has seen).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::byte_ranges::RangeSet;
use crate::events::{ItemState, ItemView};
use crate::rate_limit::RateLimiter;
use crate::store::{ItemMeta, ItemSource};

/// A fetch running for an item: it writes `[pos, end)` from one origin response.
#[derive(Debug, Clone)]
pub(crate) struct RunningFetch {
    pub id: u64,
    pub pos: u64,
    /// Exclusive; `u64::MAX` when the length is unknown. The scheduler may
    /// lower it while the fetch runs (another fetch took over the rest).
    pub end: u64,
    pub cancel: CancellationToken,
    /// When it started and how much it wrote since: its speed.
    pub started: Instant,
    pub written: u64,
    /// Started for a reader waiting where no fetch was (a seek): it asks on
    /// the connection kept warm for seeks (see `download::warm_for_seeks`).
    pub seek: bool,
}

impl RunningFetch {
    /// How far ahead a reader may wait for this fetch (see `schedule`):
    /// half a second of its measured speed, within `[64 KiB, limit]`.
    pub fn reach(&self, limit: u64) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs < 0.25 || self.written == 0 {
            return limit;
        }
        let half_second = (self.written as f64 / secs / 2.0) as u64;
        half_second.clamp((64 << 10).min(limit), limit)
    }
}

/// Where an open reader reads or waits, and since when it waits there
/// (`None` while it streams bytes already present): the scheduler serves
/// the longest-waiting reader first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Demand {
    pub pos: u64,
    pub waiting_since: Option<Instant>,
}

/// Mutable state of an item, behind `Item::state`.
#[derive(Debug)]
pub(crate) struct LiveState {
    /// The data file of the current generation. A changed origin file gets a
    /// new data file, so a fetch of the old version that is still writing
    /// can only write into the old, unlinked one.
    pub file: Arc<File>,
    /// The origin URL; a relink replaces it (see [`crate::relink`]).
    pub url: String,
    /// What is saved in `state.json`; `meta.present` lags `written`.
    pub meta: ItemMeta,
    /// Bytes in the data file (fsynced or not): what readers may read.
    pub written: RangeSet,
    /// Why downloading is held back by the engine (e.g. low disk space).
    pub hold: Option<String>,
    /// A write failed with ENOSPC; cleared once space returns.
    pub disk_full: bool,
    /// A fetch was refused a grant of disk space (see `disk`); cleared
    /// once there is room again.
    pub space_wait: bool,
    /// Where each open reader reads or waits, by reader id (until it ends);
    /// it waits there while those bytes are missing.
    pub demands: HashMap<u64, Demand>,
    pub fetches: Vec<RunningFetch>,
    pub next_fetch: u64,
    /// Bytes written since the last checkpoint.
    pub unsynced: u64,
    /// Last time a byte arrived (or the download was (re)started).
    pub last_progress: Instant,
    /// Transient faults since the last progress.
    pub failures: u32,
    pub last_error: Option<String>,
    /// No new fetch before this (backoff after a fault).
    pub retry_at: Option<Instant>,
    /// For throttling progress events and measuring the rate.
    pub progress_mark: (Instant, u64),
    /// Where the last whole-file response ended early (see `download`).
    pub short_end: Option<u64>,
    /// The item was removed: readers abort, fetches stop.
    pub removed: bool,
}

impl LiveState {
    /// A reader waits for bytes that are not there yet.
    pub fn reader_waits(&self) -> bool {
        self.demands
            .values()
            .any(|d| !self.written.covers(d.pos, d.pos + 1))
    }

    pub fn size_known_and_complete(&self) -> bool {
        matches!(self.meta.size, Some(size) if self.written.covers(0, size))
    }

    pub fn state(&self) -> ItemState {
        if self.meta.failure.is_some() {
            ItemState::Failed
        } else if self.size_known_and_complete() {
            ItemState::Complete
        } else if self.meta.paused || self.hold.is_some() {
            ItemState::Paused
        } else if !self.fetches.is_empty() {
            ItemState::Downloading
        } else {
            ItemState::Queued
        }
    }

    /// The reason shown beside the state: the failure, or why it is held.
    pub fn reason(&self) -> Option<String> {
        self.meta.failure.clone().or_else(|| self.hold.clone())
    }

    pub fn start_fetch(
        &mut self,
        pos: u64,
        end: u64,
        seek: bool,
        parent: &CancellationToken,
    ) -> RunningFetch {
        self.next_fetch += 1;
        let running = RunningFetch {
            id: self.next_fetch,
            pos,
            end,
            cancel: parent.child_token(),
            started: Instant::now(),
            written: 0,
            seek,
        };
        self.fetches.push(running.clone());
        running
    }

    pub fn fetch_mut(&mut self, id: u64) -> Option<&mut RunningFetch> {
        self.fetches.iter_mut().find(|f| f.id == id)
    }

    pub fn cancel_fetches(&mut self) {
        for f in self.fetches.drain(..) {
            f.cancel.cancel();
        }
    }
}

/// Why a reader must stop: the only cases in which a response may be cut
/// short (docs/CONTRACT.md: failed, removed, changed at the origin, or shutdown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Abort {
    #[error("the item's download failed: {0}")]
    Failed(String),
    #[error("the item was removed")]
    Removed,
    #[error("the item's content changed at the origin")]
    Changed,
    #[error("the engine is shutting down")]
    Shutdown,
    #[error("reading the data file failed: {0}")]
    Io(String),
}

/// What a reader finds at its offset.
pub(crate) enum Readable {
    /// This many bytes are present from the offset on.
    Run(u64),
    /// The offset is at or past the end of the item.
    End,
}

pub(crate) struct Item {
    id: String,
    /// The secret in the stream URL; it never changes, so a player's URL
    /// keeps working across restarts and relinks.
    pub token: String,
    /// Request headers sent on every origin request (secrets: never logged).
    pub headers: Vec<(String, String)>,
    /// Unix milliseconds of the addition (orders the list).
    pub created: u64,
    /// Its metadata was damaged and its origin URL is lost: it is listed as
    /// failed and can only be removed. Nothing is written for it.
    pub damaged: bool,
    pub state: Mutex<LiveState>,
    changed: watch::Sender<u64>,
    /// Wakes the item's download supervisor.
    pub kick: Notify,
    /// Cancelled when the item is removed or the engine stops.
    pub cancel: CancellationToken,
    /// Serializes writes of `state.json`.
    pub save_lock: tokio::sync::Mutex<()>,
    /// Open responses ("in use": never evicted).
    pub readers: AtomicUsize,
    /// A download supervisor is running for the item.
    pub supervised: AtomicBool,
    /// This item's own bandwidth limit (the engine's applies too).
    pub rate: RateLimiter,
    next_reader: AtomicU64,
}

impl Item {
    /// An item for unit tests: id `i`, token `t`, `meta` as given, its data
    /// file in `dir`.
    #[cfg(test)]
    pub(crate) fn for_test(dir: &std::path::Path, meta: ItemMeta) -> Item {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("data"))
            .expect("a data file");
        let source = ItemSource {
            id: "i".into(),
            token: "t".into(),
            source_url: "http://127.0.0.1:1/f".into(),
            headers: vec![],
            created: 0,
        };
        Item::new(source, meta, file, CancellationToken::new())
    }

    pub fn new(source: ItemSource, meta: ItemMeta, file: File, cancel: CancellationToken) -> Item {
        let written = meta.present.clone();
        let rate = RateLimiter::new(meta.rate_limit);
        Item {
            id: source.id,
            token: source.token,
            headers: source.headers,
            created: source.created,
            damaged: false,
            state: Mutex::new(LiveState {
                file: Arc::new(file),
                url: source.source_url,
                meta,
                written,
                hold: None,
                disk_full: false,
                space_wait: false,
                demands: HashMap::new(),
                fetches: Vec::new(),
                next_fetch: 0,
                unsynced: 0,
                last_progress: Instant::now(),
                failures: 0,
                last_error: None,
                retry_at: None,
                progress_mark: (Instant::now(), 0),
                short_end: None,
                removed: false,
            }),
            changed: watch::Sender::new(0),
            kick: Notify::new(),
            cancel,
            save_lock: tokio::sync::Mutex::new(()),
            readers: AtomicUsize::new(0),
            supervised: AtomicBool::new(false),
            rate,
            next_reader: AtomicU64::new(1),
        }
    }

    /// An item whose metadata is damaged beyond repair (see
    /// `store::salvage`): failed with `reason`, a fresh stream token, no
    /// origin URL; `meta` is what its state file still told, if anything.
    pub fn damaged(
        id: String,
        meta: Option<ItemMeta>,
        reason: String,
        file: File,
        cancel: CancellationToken,
    ) -> Item {
        let mut meta = meta.unwrap_or_default();
        if meta.name.is_empty() {
            meta.name = format!("item {id}");
        }
        // Its bytes cannot be trusted to be what `present` says, nor served.
        meta.present.clear();
        meta.failure = Some(reason);
        let source = ItemSource {
            id,
            token: crate::token::secret(),
            source_url: String::new(),
            headers: Vec::new(),
            created: 0,
        };
        Item {
            damaged: true,
            ..Item::new(source, meta, file, cancel)
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The origin URL as of now.
    pub fn url(&self) -> String {
        self.lock().url.clone()
    }

    /// The identity as `item.json` holds it.
    pub fn source(&self) -> ItemSource {
        ItemSource {
            id: self.id.clone(),
            token: self.token.clone(),
            source_url: self.url(),
            headers: self.headers.clone(),
            created: self.created,
        }
    }

    /// Locks the live state. A poisoned lock means a thread panicked while
    /// holding it; the state is still the best we have, so carry on with it.
    pub fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes readers (call after changing anything they wait on).
    pub fn notify_readers(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes at every later `notify_readers`.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn view(&self, stream_url: String) -> ItemView {
        let st = self.lock();
        ItemView {
            id: self.id.clone(),
            source_url: st.url.clone(),
            stream_url,
            name: st.meta.name.clone(),
            size: st.meta.size,
            downloaded: st.written.total(),
            state: st.state(),
            pinned: st.meta.pinned,
            error: st.reason(),
            collection: None,
            playback: crate::events::PlaybackView::of(&st.meta.playback),
        }
    }

    /// A player has a response of this item open.
    pub fn in_use(&self) -> bool {
        self.readers.load(Ordering::SeqCst) > 0
    }

    /// Registers an open response until the guard drops.
    pub fn open_reader(self: &Arc<Self>) -> ReaderGuard {
        self.readers.fetch_add(1, Ordering::SeqCst);
        ReaderGuard {
            item: self.clone(),
            id: self.next_reader.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Waits until the item's origin has answered at least once, so that its
    /// length and validators are known.
    pub async fn wait_probed(&self) -> Result<(), Abort> {
        let mut rx = self.changed.subscribe();
        loop {
            {
                let st = self.lock();
                self.check_alive(&st, None)?;
                if st.meta.probed {
                    return Ok(());
                }
            }
            self.wait_change(&mut rx).await?;
        }
    }

    fn check_alive(&self, st: &LiveState, generation: Option<u64>) -> Result<(), Abort> {
        if st.removed {
            return Err(Abort::Removed);
        }
        if let Some(failure) = &st.meta.failure {
            return Err(Abort::Failed(failure.clone()));
        }
        if generation.is_some_and(|g| g != st.meta.generation) {
            return Err(Abort::Changed);
        }
        Ok(())
    }

    async fn wait_change(&self, rx: &mut watch::Receiver<u64>) -> Result<(), Abort> {
        tokio::select! {
            changed = rx.changed() => changed.map_err(|_| Abort::Shutdown),
            () = self.cancel.cancelled() => {
                Err(if self.lock().removed { Abort::Removed } else { Abort::Shutdown })
            }
        }
    }
}

/// One open response on an item. Dropping it withdraws its demand.
pub(crate) struct ReaderGuard {
    pub item: Arc<Item>,
    id: u64,
}

impl ReaderGuard {
    /// Waits until bytes at `pos` are present (registering a demand, so the
    /// downloader fetches them) or `pos` is known to be the end.
    pub async fn wait_readable(&self, generation: u64, pos: u64) -> Result<Readable, Abort> {
        let item = &self.item;
        let mut rx = item.changed.subscribe();
        loop {
            {
                let mut st = item.lock();
                item.check_alive(&st, Some(generation))?;
                let run = st.written.run_from(pos);
                if run > 0 {
                    // The demand stays, following the reader, while it
                    // streams: it tells the fetch it reads behind to keep the
                    // link (`schedule::gives_way`); on present bytes it plans
                    // nothing, so no kick.
                    let streaming = Demand {
                        pos,
                        waiting_since: None,
                    };
                    st.demands.insert(self.id, streaming);
                    return Ok(Readable::Run(run));
                }
                if st.meta.size.is_some_and(|size| pos >= size) {
                    st.demands.remove(&self.id);
                    return Ok(Readable::End);
                }
                // Waiting on: its wait is counted from when it came here.
                if st
                    .demands
                    .get(&self.id)
                    .is_none_or(|d| d.pos != pos || d.waiting_since.is_none())
                {
                    let waiting = Demand {
                        pos,
                        waiting_since: Some(Instant::now()),
                    };
                    st.demands.insert(self.id, waiting);
                    item.kick.notify_one();
                }
            }
            item.wait_change(&mut rx).await?;
        }
    }

    /// Reads up to `len` present bytes at `pos`, then checks that the content
    /// was not replaced meanwhile (a changed origin file gets a new data file).
    pub async fn read(&self, generation: u64, pos: u64, len: usize) -> Result<Bytes, Abort> {
        let file = self.item.lock().file.clone();
        let bytes = match read_cached(&file, pos, len) {
            Some(bytes) => bytes,
            // Not in the page cache: read on a blocking thread.
            None => tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; len];
                file.read_exact_at(&mut buf, pos).map(|()| Bytes::from(buf))
            })
            .await
            .map_err(|e| Abort::Io(e.to_string()))?
            .map_err(|e| Abort::Io(e.to_string()))?,
        };
        let st = self.item.lock();
        self.item.check_alive(&st, Some(generation))?;
        Ok(bytes)
    }
}

/// Reads what the page cache holds of `[pos, pos + len)` without blocking
/// (`preadv2` with `RWF_NOWAIT`), so that the common case, bytes just
/// written or recently read, costs no thread hop and no buffer zeroing.
/// `None` when nothing could be read that way.
fn read_cached(file: &File, pos: u64, len: usize) -> Option<Bytes> {
    use std::os::fd::AsRawFd;
    let offset = libc::off_t::try_from(pos).ok()?;
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    // SAFETY: `iov` points at `len` bytes of `buf`'s allocation, which
    // outlives the call; the kernel writes at most `len` bytes there.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
    let n = usize::try_from(n).ok().filter(|n| *n > 0)?;
    // SAFETY: the kernel initialized the first `n <= len` bytes.
    unsafe { buf.set_len(n.min(len)) };
    Some(Bytes::from(buf))
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        let had_demand = self.item.lock().demands.remove(&self.id).is_some();
        if had_demand {
            self.item.kick.notify_one();
            // Fetches standing by for this reader go on.
            self.item.notify_readers();
        }
        self.item.readers.fetch_sub(1, Ordering::SeqCst);
    }
}
