//! The engine handle: the item operations the CLI and the desktop use, and
//! shutdown (`start` assembles it). The handle is cheap to clone: it holds
//! the catalog, the downloader, the cache and the server's identity, each
//! behind its own `Arc`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use crate::batch::Batch;
use crate::byte_ranges::RangeSet;
use crate::cache::{self, Cache};
use crate::catalog::Catalog;
use crate::clock::unix_millis;
use crate::config::{Limits, LiveLimits};
use crate::download::{self, origin, Downloader};
use crate::error::{Error, Result};
use crate::events::{Event, ItemView, RemoveReason};
use crate::input::{parse_headers, validate_url};
use crate::item::Item;
use crate::pairing::{PairedView, Pairings, PairingsView, PollAnswer, RequestView};
use crate::player::{self, Entry, PlayOptions, Players, Playing};
use crate::probe::{self, Admit, Probe};
use crate::store::{Durable, ItemMeta, ItemSource};
use crate::{queue, relink, token};

/// How [`Engine::add_with`] adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOptions {
    /// Add the file even when it is the file of a failed item (instead of
    /// [`Error::MatchesFailedItem`], which suggests relinking that item).
    pub new_copy: bool,
    /// A directory listing's sub-folders are followed, one level down.
    pub recursive: bool,
}

/// What a client of the engine needs to reach it.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub port: u16,
    pub data_dir: PathBuf,
    /// Bearer token of the control API.
    pub control_token: String,
}

/// A running engine. Clones share it; [`Engine::shutdown`] stops it.
#[derive(Clone)]
pub struct Engine {
    parts: Arc<Parts>,
}

/// The handles an engine is made of; each subsystem holds only the ones it
/// works with.
pub(crate) struct Parts {
    pub catalog: Arc<Catalog>,
    pub downloader: Arc<Downloader>,
    pub cache: Arc<Cache>,
    pub limits: LiveLimits,
    pub server: ServerIdentity,
    pub data_dir: PathBuf,
    /// Cancelled once, at shutdown; every task selects on it.
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
    /// Paired browser extensions and pending pairing requests.
    pub pairings: Pairings,
    /// Player settings (see `player`).
    pub players: Players,
}

/// The loopback server as its clients know it.
pub(crate) struct ServerIdentity {
    pub port: u16,
    /// Bearer token of the control API.
    pub control_token: String,
}

impl Engine {
    /// The engine of these parts (see `start`).
    pub(crate) fn new(parts: Parts) -> Engine {
        Engine {
            parts: Arc::new(parts),
        }
    }

    pub(crate) fn catalog(&self) -> &Arc<Catalog> {
        &self.parts.catalog
    }

    pub(crate) fn downloader(&self) -> &Arc<Downloader> {
        &self.parts.downloader
    }

    /// A batch of adds (see `batch`).
    pub(crate) fn batch(&self) -> Batch {
        Batch::new(
            unix_millis(),
            self.parts.downloader.clone(),
            self.parts.cache.clone(),
            self.parts.tasks.clone(),
        )
    }

    pub(crate) fn server(&self) -> &ServerIdentity {
        &self.parts.server
    }

    pub(crate) fn cancel(&self) -> &CancellationToken {
        &self.parts.cancel
    }

    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.parts.tasks
    }

    /// Paired extensions and pending requests (the control API checks
    /// tokens against it).
    pub(crate) fn pairing_book(&self) -> &Pairings {
        &self.parts.pairings
    }

    pub fn info(&self) -> EngineInfo {
        EngineInfo {
            port: self.parts.server.port,
            data_dir: self.parts.data_dir.clone(),
            control_token: self.parts.server.control_token.clone(),
        }
    }

    /// The settings that can change at run time.
    pub fn limits(&self) -> Limits {
        self.parts.limits.get()
    }

    /// Applies new limits at once: the cache is re-checked, downloads use the
    /// new connection count and bandwidth on their next decision.
    pub fn set_limits(&self, limits: Limits) {
        self.parts.limits.set(limits);
        self.parts.downloader.rate.set_rate(limits.rate_limit);
        for item in self.parts.catalog.items().values() {
            item.kick.notify_one();
        }
        queue::rebalance(&self.parts.downloader.queue);
    }

    /// A browser extension at `origin` asks to pair; the app is told by
    /// [`Event::PairingRequested`] and the user answers there.
    pub fn request_pairing(&self, origin: &str, name: &str) -> Result<RequestView> {
        let request = self
            .parts
            .pairings
            .request(origin, name, std::time::Instant::now())?;
        self.parts.catalog.emit(Event::PairingRequested {
            request: request.clone(),
        });
        Ok(request)
    }

    /// The extension's poll of its pairing request.
    pub fn poll_pairing(&self, request: &str, origin: Option<&str>) -> Result<PollAnswer> {
        self.parts
            .pairings
            .poll(request, origin, std::time::Instant::now())
    }

    /// Pairing requests waiting for the user, and the paired extensions.
    pub fn pairings(&self) -> PairingsView {
        self.parts.pairings.view(std::time::Instant::now())
    }

    /// The user confirms a pairing request.
    pub fn confirm_pairing(&self, request: &str) -> Result<PairedView> {
        self.parts
            .pairings
            .confirm(request, std::time::Instant::now(), unix_millis())
    }

    /// The user refuses a pairing request.
    pub fn refuse_pairing(&self, request: &str) -> Result<()> {
        self.parts.pairings.refuse(request, std::time::Instant::now())
    }

    /// Forgets a paired extension; its token stops working at once.
    pub fn unpair(&self, id: &str) -> Result<()> {
        self.parts.pairings.remove(id)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.parts.catalog.subscribe()
    }

    /// [`Engine::add_with`] with the default options.
    pub async fn add(&self, url: &str, headers: &[String]) -> Result<ItemView> {
        self.add_with(url, headers, AddOptions::default()).await
    }

    /// Adds `url` (or returns the item that already has it). `headers` are
    /// `Name: value` lines sent on every origin request of the item.
    ///
    /// Probes the origin first: a definitive refusal (401, 403, 404, 410, an
    /// unknown host, a refused connection) is an error and adds nothing; a
    /// transient fault adds the item anyway and the downloader retries. A
    /// file that is a failed item's (same name, length and validators) is
    /// [`Error::MatchesFailedItem`] unless `options.new_copy`.
    pub async fn add_with(&self, url: &str, headers: &[String], options: AddOptions) -> Result<ItemView> {
        self.add_in(url, headers, options, None).await
    }

    /// [`Engine::add_with`]; an item added as part of `batch` (a
    /// collection's), at place `n` in it, gets its files written without an
    /// fsync each, and no download yet: [`Batch::finish`] syncs once, makes
    /// room once and starts them. Its creation time is the batch's plus `n`
    /// milliseconds, so the queue takes a batch in its order, not in the
    /// order its probes happened to answer.
    pub(crate) async fn add_in(
        &self,
        url: &str,
        headers: &[String],
        options: AddOptions,
        batch: Option<(&Batch, usize)>,
    ) -> Result<ItemView> {
        let (catalog, downloader) = (&self.parts.catalog, &self.parts.downloader);
        let url = validate_url(url)?;
        let headers = parse_headers(headers)?;
        if let Some(existing) = find_by_url(catalog, &url) {
            return Ok(catalog.view(&existing));
        }
        let probe = spawn_probe(downloader, &url, &headers);
        // Meanwhile, a connection for the player's first seek (a moov atom
        // at the end, a jump forward), ready when `add` returns; not needed
        // if nothing is added.
        // (A batch's items wait for their turn in the queue: no warm-up.)
        let warm = match batch {
            None => download::warm_for_seeks(downloader, &url, &headers).map(AbortOnDropHandle::new),
            Some(_) => None,
        };
        let Ok(sent) = probe.await else {
            return Err(Error::ShuttingDown);
        };
        let Probed {
            meta,
            first,
            come_back,
        } = probed(sent, &url)?;
        if downloader.cancel.is_cancelled() {
            return Err(Error::ShuttingDown);
        }
        // Two adds of one URL may race through the probe: the first wins.
        let _guard = catalog.adding.lock().await;
        let existing = find_by_url(catalog, &url);
        let failed_twin = relink::failed_item_matching(catalog, &meta);
        match probe::admit(existing, failed_twin, meta.probed, options.new_copy) {
            Admit::Existing(item) => return Ok(catalog.view(&item)),
            Admit::MatchesFailed { id, name } => return Err(Error::MatchesFailedItem { id, name }),
            Admit::Add => {}
        }
        let source = ItemSource {
            id: unique_id(catalog),
            token: token::secret(),
            source_url: url,
            headers,
            created: match batch {
                Some((batch, n)) => batch.created(n),
                None => unix_millis(),
            },
        };
        let durable = if batch.is_some() {
            Durable::AtSync
        } else {
            Durable::Now
        };
        let file = catalog.store.create_item_with(&source, &meta, durable)?;
        let item = Arc::new(Item::new(source, meta, file, downloader.cancel.child_token()));
        if let Some(fault) = come_back {
            download::book_fault(&mut item.lock(), &fault);
        }
        catalog.items().insert(item.id().to_string(), item.clone());
        let view = catalog.view(&item);
        if let Some((batch, _)) = batch {
            catalog.emit(Event::Added { item: view.clone() });
            batch.added(item);
            return Ok(view);
        }
        queue::rebalance(&downloader.queue);
        if let Some(warm) = warm {
            warm.detach();
        }
        catalog.emit(Event::Added { item: view.clone() });
        // Make room (or hold the item) before its first byte lands.
        cache::enforce(&self.parts.cache).await;
        download::spawn_supervisor(downloader, item, first);
        Ok(view)
    }

    /// Every item but subtitles of a collection's videos (they go with
    /// their video: [`Engine::subtitles_of`]).
    pub fn items(&self) -> Vec<ItemView> {
        let items: Vec<_> = self.parts.catalog.items().values().cloned().collect();
        let items: Vec<_> = items
            .into_iter()
            .filter(|i| !self.parts.catalog.collections.is_subtitle(i.id()))
            .collect();
        let mut views: Vec<_> = items
            .iter()
            .map(|i| (i.created, self.parts.catalog.view(i)))
            .collect();
        views.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        views.into_iter().map(|(_, v)| v).collect()
    }

    pub fn item(&self, id: &str) -> Result<ItemView> {
        let item = self.parts.catalog.item(id)?;
        Ok(self.parts.catalog.view(&item))
    }

    /// True while a player holds a response of the item open (such an item
    /// is never evicted; removing it would cut the player off).
    pub fn in_use(&self, id: &str) -> bool {
        self.parts.catalog.item(id).is_ok_and(|item| item.in_use())
    }

    /// Which byte ranges of an item are present (for a progress bar).
    pub fn present(&self, id: &str) -> Result<RangeSet> {
        Ok(self.parts.catalog.item(id)?.lock().written.clone())
    }

    /// Removes an item: its open responses end, its files are deleted.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let item = self.parts.catalog.item(id)?;
        cache::remove_item(
            &self.parts.catalog,
            &self.parts.downloader.queue,
            &item,
            RemoveReason::User,
        )
        .await
    }

    pub async fn set_pinned(&self, id: &str, pinned: bool) -> Result<ItemView> {
        let item = self.parts.catalog.item(id)?;
        item.lock().meta.pinned = pinned;
        download::save(&self.parts.catalog, &item).await;
        // Views refresh on it (the state itself is unchanged).
        self.parts.catalog.emit_state(&item);
        Ok(self.parts.catalog.view(&item))
    }

    /// Limits one item's download speed (bytes per second; `None`: no limit
    /// beyond the engine's).
    pub async fn set_item_rate_limit(&self, id: &str, rate: Option<u64>) -> Result<ItemView> {
        let item = self.parts.catalog.item(id)?;
        let rate = rate.filter(|r| *r > 0);
        item.lock().meta.rate_limit = rate;
        item.rate.set_rate(rate);
        download::save(&self.parts.catalog, &item).await;
        Ok(self.parts.catalog.view(&item))
    }

    pub async fn pause(&self, id: &str) -> Result<ItemView> {
        let item = self.parts.catalog.item(id)?;
        item.lock().meta.paused = true;
        queue::rebalance(&self.parts.downloader.queue);
        item.kick.notify_one();
        download::save(&self.parts.catalog, &item).await;
        self.parts.catalog.emit_state(&item);
        Ok(self.parts.catalog.view(&item))
    }

    /// Resumes a paused item, or retries a failed one.
    pub async fn resume(&self, id: &str) -> Result<ItemView> {
        let item = self.parts.catalog.item(id)?;
        if item.damaged {
            return Err(Error::Damaged { id: id.to_string() });
        }
        let was_failed = {
            let mut st = item.lock();
            st.meta.paused = false;
            st.failures = 0;
            st.retry_at = None;
            st.last_progress = tokio::time::Instant::now();
            st.meta.failure.take().is_some()
        };
        download::save(&self.parts.catalog, &item).await;
        queue::rebalance(&self.parts.downloader.queue);
        if was_failed {
            download::spawn_supervisor(&self.parts.downloader, item.clone(), None);
        }
        item.kick.notify_one();
        self.parts.catalog.emit_state(&item);
        Ok(self.parts.catalog.view(&item))
    }

    /// Puts a queued item ahead of every other queued item (also after a
    /// restart).
    pub async fn move_to_front(&self, id: &str) -> Result<ItemView> {
        let item = self.parts.catalog.item(id)?;
        self.parts.downloader.queue.move_to_front(&item);
        queue::rebalance(&self.parts.downloader.queue);
        download::save(&self.parts.catalog, &item).await;
        Ok(self.parts.catalog.view(&item))
    }

    /// Replaces item `id`'s origin URL with `url` (an expired signed link
    /// refreshed, say) if it serves the same file: same length, and the same
    /// ETag or Last-Modified where the origin gives them, else the same
    /// bytes at a few sampled spans of those on disk. Else
    /// [`Error::NotTheSameFile`] and nothing changes. The item keeps its id,
    /// stream URL and bytes; a failed one resumes from its gaps.
    pub async fn relink(&self, id: &str, url: &str) -> Result<ItemView> {
        relink::relink(&self.parts.downloader, id, url).await
    }

    /// Stops serving, stops downloads, saves progress, releases the data
    /// directory. Returns within a few seconds.
    pub async fn shutdown(&self) {
        self.parts.cancel.cancel();
        self.parts.tasks.close();
        if tokio::time::timeout(Duration::from_secs(4), self.parts.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop in time");
        }
        self.parts.downloader.thread.stop();
        self.parts.catalog.store.remove_engine_file();
    }

    /// Sets the player command used when a play names none (empty: the
    /// first known player found). Refused if it cannot be split into words.
    pub fn set_player_command(&self, command: &str) -> Result<()> {
        self.parts.players.set_configured(command)
    }

    /// Starts a player on item `id` and the rest of its collection (or on
    /// collection `id` from its first unwatched item), each with its
    /// subtitles, so the player goes on to the next episode by itself; the
    /// first starts at its saved position unless `options.from_start` (or
    /// the position is near either end). Returns at once with its process
    /// id. The next episodes download ahead of the queue.
    pub async fn play(&self, id: &str, options: PlayOptions) -> Result<Playing> {
        let (first_id, start_at) = self.where_to_start(id)?;
        let playlist = self.playlist_to_play(&first_id)?;
        if let Some(first) = playlist.first() {
            self.parts.downloader.queue.played(&first.item_id);
            queue::rebalance(&self.parts.downloader.queue);
        }
        let entries: Vec<Entry> = playlist.into_iter().map(Entry::from).collect();
        let start_at = start_at.filter(|_| !options.from_start);
        self.start_player(&entries, start_at, options.player.as_deref())
    }

    /// Starts a player on `entries` in order, the first from `start`
    /// seconds (`None`: its beginning); `player` as in [`PlayOptions`].
    pub async fn play_entries(
        &self,
        entries: &[Entry],
        start_at: Option<f64>,
        player: Option<&str>,
    ) -> Result<Playing> {
        self.start_player(entries, start_at, player)
    }

    fn start_player(
        &self,
        entries: &[Entry],
        start_at: Option<f64>,
        player: Option<&str>,
    ) -> Result<Playing> {
        let parts = &self.parts;
        let watch = player::Watch {
            catalog: parts.catalog.clone(),
            port: parts.server.port,
            tasks: parts.tasks.clone(),
            cancel: parts.cancel.clone(),
        };
        player::start(&parts.players, &watch, &parts.data_dir, entries, start_at, player)
    }
}

fn find_by_url(catalog: &Catalog, url: &str) -> Option<Arc<Item>> {
    catalog.items().values().find(|i| i.lock().url == url).cloned()
}

/// What a probe's answer means for a new item.
struct Probed {
    meta: ItemMeta,
    /// The answer, whose body feeds the first fetch.
    first: Option<reqwest::Response>,
    /// A transient refusal that said when to come back (`Retry-After`):
    /// the download waits for it.
    come_back: Option<origin::FetchError>,
}

/// Judges the probe of `url`: an item to add (answered, or not ready yet
/// and retried by its download), or the origin's refusal.
fn probed(sent: std::result::Result<reqwest::Response, origin::FetchError>, url: &str) -> Result<Probed> {
    let (response, answer) = match sent {
        Ok(response) => {
            let answer = origin::answer(&response);
            (Some(response), answer)
        }
        Err(e) => (None, Err(e)),
    };
    let judged = Probe::judge(answer);
    let meta = judged.meta(url, unix_millis());
    match judged {
        Probe::Answered(_) => Ok(Probed {
            meta,
            first: response,
            come_back: None,
        }),
        Probe::Refused(fault) => Err(fault.into()),
        Probe::NotReady { fault, come_back } => {
            tracing::info!("origin not ready yet ({fault}); the download will retry");
            Ok(Probed {
                meta,
                first: None,
                come_back: come_back.then_some(fault),
            })
        }
    }
}

/// Sends the probe of `add` (`Range: bytes=0-`) on the download thread:
/// its connection, and its response, carry the first fetch.
fn spawn_probe(
    downloader: &Downloader,
    url: &str,
    headers: &[(String, String)],
) -> tokio::task::JoinHandle<std::result::Result<reqwest::Response, origin::FetchError>> {
    let (client, url, headers) = (downloader.client.clone(), url.to_string(), headers.to_vec());
    let timeout = downloader.config.origin_timeout;
    downloader.thread.spawn(&downloader.tasks, async move {
        let request = origin::Request {
            url: &url,
            headers: &headers,
            range: Some((0, None)),
            if_range: None,
            timeout,
            resend_if_stale: false,
        };
        origin::send(&client, request).await
    })
}

fn unique_id(catalog: &Catalog) -> String {
    let items = catalog.items();
    loop {
        let id = token::item_id();
        if !items.contains_key(&id) {
            return id;
        }
    }
}
