//! The engine handle: start, the item operations the CLI and the desktop
//! use, and shutdown. Shared state lives behind an `Arc`; the handle is
//! cheap to clone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use crate::config::{Config, Limits};
use crate::download::limit::RateLimiter;
use crate::download::{self, origin, DownloadThread};
use crate::error::{Error, Result};
use crate::events::{Event, ItemView, RemoveReason};
use crate::item::Item;
use crate::name;
use crate::probe::{self, Admit, Probe};
use crate::ranges::RangeSet;
use crate::store::{DirLock, EngineFile, ItemMeta, ItemSource, Store};
use crate::{cache, disk, proxy, relink, token};

/// How [`Engine::add_with`] adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOptions {
    /// Add the file even when it is the file of a failed item (instead of
    /// [`Error::MatchesFailedItem`], which suggests relinking that item).
    pub new_copy: bool,
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
    shared: Arc<Shared>,
}

/// Everything the engine's tasks share.
pub(crate) struct Shared {
    /// Settings as started; the run-time changeable ones live in `limits`.
    pub config: Config,
    limits: std::sync::RwLock<Limits>,
    /// The bandwidth limit shared by every fetch.
    pub rate: RateLimiter,
    pub store: Store,
    /// Free space granted to fetches before they write (see `disk`).
    pub space: Arc<disk::Space>,
    pub items: Mutex<HashMap<String, Arc<Item>>>,
    pub events: broadcast::Sender<Event>,
    /// Origin requests of downloads.
    pub client: reqwest::Client,
    /// Origin requests of seeks, with a pool of their own: the connection
    /// kept warm for the next seek stays free for it (see
    /// `download::warm_for_seeks`).
    pub seek_client: reqwest::Client,
    /// Origins a warm-up for seeks is under way for: one at a time each.
    pub warming: download::WarmingSet,
    /// Where supervisors and fetches run (see `download::DownloadThread`).
    pub downloads: DownloadThread,
    /// Cancelled once, at shutdown; every task selects on it.
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
    pub port: u16,
    pub control_token: String,
    /// Serializes the final check-and-insert of `add`.
    adding: tokio::sync::Mutex<()>,
    /// Serializes cache checks, so two never evict for the same shortfall.
    pub enforcing: tokio::sync::Mutex<()>,
    _lock: DirLock,
}

impl Shared {
    pub fn items(&self) -> MutexGuard<'_, HashMap<String, Arc<Item>>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn item(&self, id: &str) -> Result<Arc<Item>> {
        self.items()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    pub fn item_by_token(&self, token: &str) -> Option<Arc<Item>> {
        self.items().values().find(|i| i.token == token).cloned()
    }

    pub fn stream_url(&self, item: &Item) -> String {
        let name = item.lock().meta.name.clone();
        format!(
            "http://127.0.0.1:{}/m/{}/{}",
            self.port,
            item.token,
            name::url_segment(&name)
        )
    }

    pub fn view(&self, item: &Item) -> ItemView {
        item.view(self.stream_url(item))
    }

    pub fn limits(&self) -> Limits {
        *self.limits.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn emit(&self, event: Event) {
        // No receivers is fine: nobody is listening.
        let _ = self.events.send(event);
    }

    pub fn emit_state(&self, item: &Item) {
        let (state, error) = {
            let st = item.lock();
            (st.state(), st.reason())
        };
        self.emit(Event::StateChanged {
            id: item.id().to_string(),
            state,
            error,
        });
    }
}

impl Engine {
    /// Takes the data directory, loads its items, starts serving on
    /// `listener` (bound by the caller: tests bind `127.0.0.1:0`) and resumes
    /// unfinished downloads.
    pub async fn start(config: Config, listener: TcpListener) -> Result<Engine> {
        let store = Store::open(&config.data_dir)?;
        let lock = store.lock()?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the listening address", e))?
            .port();
        let client = http_client(usize::MAX)?;
        // One idle connection per origin is all a seek needs.
        let seek_client = http_client(1)?;
        let shared = Arc::new(Shared {
            limits: std::sync::RwLock::new(config.limits()),
            rate: RateLimiter::new(config.rate_limit),
            config,
            space: disk::Space::new(store.clone()),
            store,
            items: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
            client,
            seek_client,
            warming: Default::default(),
            downloads: DownloadThread::start()?,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            port,
            control_token: token::secret(),
            adding: tokio::sync::Mutex::new(()),
            enforcing: tokio::sync::Mutex::new(()),
            _lock: lock,
        });
        load_items(&shared);
        shared.store.write_engine_file(&EngineFile {
            pid: std::process::id(),
            port,
            token: shared.control_token.clone(),
        })?;
        // The engine lives as long as the runtime it was started on: when that
        // runtime goes without `shutdown` (a test's, say), this task is
        // dropped and its guard stops every task, the download thread's too.
        let (guard, stopped) = (shared.cancel.clone().drop_guard(), shared.cancel.clone());
        tokio::spawn(async move {
            let _guard = guard;
            stopped.cancelled().await;
        });
        shared.tasks.spawn(proxy::serve(listener, shared.clone()));
        shared.tasks.spawn(cache::run(shared.clone()));
        let items: Vec<_> = shared.items().values().cloned().collect();
        for item in items {
            download::spawn_supervisor(&shared, item, None);
        }
        Ok(Engine { shared })
    }

    pub fn info(&self) -> EngineInfo {
        EngineInfo {
            port: self.shared.port,
            data_dir: self.shared.config.data_dir.clone(),
            control_token: self.shared.control_token.clone(),
        }
    }

    /// The settings that can change at run time.
    pub fn limits(&self) -> Limits {
        self.shared.limits()
    }

    /// Applies new limits at once: the cache is re-checked, downloads use the
    /// new connection count and bandwidth on their next decision.
    pub fn set_limits(&self, limits: Limits) {
        *self.shared.limits.write().unwrap_or_else(|p| p.into_inner()) = limits;
        self.shared.rate.set_rate(limits.rate_limit);
        for item in self.shared.items().values() {
            item.kick.notify_one();
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
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
        let shared = &self.shared;
        let url = validate_url(url)?;
        let headers = parse_headers(headers)?;
        if let Some(existing) = find_by_url(shared, &url) {
            return Ok(shared.view(&existing));
        }
        let probe = spawn_probe(shared, &url, &headers);
        // Meanwhile, a connection for the player's first seek (a moov atom
        // at the end, a jump forward), ready when `add` returns; not needed
        // if nothing is added.
        let warm = download::warm_for_seeks(shared, &url, &headers).map(AbortOnDropHandle::new);
        let Ok(sent) = probe.await else {
            return Err(Error::ShuttingDown);
        };
        let (response, answer) = match sent {
            Ok(response) => {
                let answer = origin::answer(&response);
                (Some(response), answer)
            }
            Err(e) => (None, Err(e)),
        };
        let judged = Probe::judge(answer);
        let meta = judged.meta(&url, unix_millis());
        // The answer's body feeds the first fetch; a transient refusal that
        // says when to come back (`Retry-After`) is waited for by it.
        let (first, come_back) = match judged {
            Probe::Answered(_) => (response, None),
            Probe::Refused(fault) => return Err(fault.into()),
            Probe::NotReady { fault, come_back } => {
                tracing::info!("origin not ready yet ({fault}); the download will retry");
                (None, come_back.then_some(fault))
            }
        };
        if shared.cancel.is_cancelled() {
            return Err(Error::ShuttingDown);
        }
        // Two adds of one URL may race through the probe: the first wins.
        let _guard = shared.adding.lock().await;
        let existing = find_by_url(shared, &url);
        let failed_twin = relink::failed_item_matching(shared, &meta);
        match probe::admit(existing, failed_twin, meta.probed, options.new_copy) {
            Admit::Existing(item) => return Ok(shared.view(&item)),
            Admit::MatchesFailed { id, name } => return Err(Error::MatchesFailedItem { id, name }),
            Admit::Add => {}
        }
        let source = ItemSource {
            id: unique_id(shared),
            token: token::secret(),
            source_url: url,
            headers,
            created: unix_millis(),
        };
        let file = shared.store.create_item(&source, &meta)?;
        let item = Arc::new(Item::new(source, meta, file, shared.cancel.child_token()));
        if let Some(fault) = come_back {
            download::book_fault(&mut item.lock(), &fault);
        }
        shared.items().insert(item.id().to_string(), item.clone());
        if let Some(warm) = warm {
            warm.detach();
        }
        let view = shared.view(&item);
        shared.emit(Event::Added { item: view.clone() });
        // Make room (or hold the item) before its first byte lands.
        cache::enforce(shared).await;
        download::spawn_supervisor(shared, item, first);
        Ok(view)
    }

    pub fn items(&self) -> Vec<ItemView> {
        let items: Vec<_> = self.shared.items().values().cloned().collect();
        let mut views: Vec<_> = items.iter().map(|i| (i.created, self.shared.view(i))).collect();
        views.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        views.into_iter().map(|(_, v)| v).collect()
    }

    pub fn item(&self, id: &str) -> Result<ItemView> {
        let item = self.shared.item(id)?;
        Ok(self.shared.view(&item))
    }

    /// True while a player holds a response of the item open (such an item
    /// is never evicted; removing it would cut the player off).
    pub fn in_use(&self, id: &str) -> bool {
        self.shared.item(id).is_ok_and(|item| item.in_use())
    }

    /// Which byte ranges of an item are present (for a progress bar).
    pub fn present(&self, id: &str) -> Result<RangeSet> {
        Ok(self.shared.item(id)?.lock().written.clone())
    }

    /// Removes an item: its open responses end, its files are deleted.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let item = self.shared.item(id)?;
        cache::remove_item(&self.shared, &item, RemoveReason::User).await
    }

    pub async fn set_pinned(&self, id: &str, pinned: bool) -> Result<ItemView> {
        let item = self.shared.item(id)?;
        item.lock().meta.pinned = pinned;
        download::save(&self.shared, &item).await;
        // Views refresh on it (the state itself is unchanged).
        self.shared.emit_state(&item);
        Ok(self.shared.view(&item))
    }

    /// Limits one item's download speed (bytes per second; `None`: no limit
    /// beyond the engine's).
    pub async fn set_item_rate_limit(&self, id: &str, rate: Option<u64>) -> Result<ItemView> {
        let item = self.shared.item(id)?;
        let rate = rate.filter(|r| *r > 0);
        item.lock().meta.rate_limit = rate;
        item.rate.set_rate(rate);
        download::save(&self.shared, &item).await;
        Ok(self.shared.view(&item))
    }

    pub async fn pause(&self, id: &str) -> Result<ItemView> {
        let item = self.shared.item(id)?;
        item.lock().meta.paused = true;
        item.kick.notify_one();
        download::save(&self.shared, &item).await;
        self.shared.emit_state(&item);
        Ok(self.shared.view(&item))
    }

    /// Resumes a paused item, or retries a failed one.
    pub async fn resume(&self, id: &str) -> Result<ItemView> {
        let item = self.shared.item(id)?;
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
        download::save(&self.shared, &item).await;
        if was_failed {
            download::spawn_supervisor(&self.shared, item.clone(), None);
        }
        item.kick.notify_one();
        self.shared.emit_state(&item);
        Ok(self.shared.view(&item))
    }

    /// Replaces item `id`'s origin URL with `url` (an expired signed link
    /// refreshed, say) if it serves the same file: same length, and the same
    /// ETag or Last-Modified where the origin gives them, else the same
    /// bytes at a few sampled spans of those on disk. Else
    /// [`Error::NotTheSameFile`] and nothing changes. The item keeps its id,
    /// stream URL and bytes; a failed one resumes from its gaps.
    pub async fn relink(&self, id: &str, url: &str) -> Result<ItemView> {
        relink::relink(&self.shared, id, url).await
    }

    /// Stops serving, stops downloads, saves progress, releases the data
    /// directory. Returns within a few seconds.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        if tokio::time::timeout(Duration::from_secs(4), self.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop in time");
        }
        self.shared.downloads.stop();
        self.shared.store.remove_engine_file();
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Engine {
        Engine { shared }
    }
}

fn http_client(max_idle_per_origin: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(max_idle_per_origin)
        .redirect(reqwest::redirect::Policy::limited(10))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("spool/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::io("cannot create the HTTP client", std::io::Error::other(e)))
}

/// Sends the probe of `add` (`Range: bytes=0-`) on the download thread:
/// its connection, and its response, carry the first fetch.
fn spawn_probe(
    shared: &Shared,
    url: &str,
    headers: &[(String, String)],
) -> tokio::task::JoinHandle<std::result::Result<reqwest::Response, origin::FetchError>> {
    let (client, url, headers) = (shared.client.clone(), url.to_string(), headers.to_vec());
    let timeout = shared.config.origin_timeout;
    shared.downloads.spawn(&shared.tasks, async move {
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

fn find_by_url(shared: &Shared, url: &str) -> Option<Arc<Item>> {
    shared.items().values().find(|i| i.lock().url == url).cloned()
}

fn unique_id(shared: &Shared) -> String {
    let items = shared.items();
    loop {
        let id = token::item_id();
        if !items.contains_key(&id) {
            return id;
        }
    }
}

/// Unix time in milliseconds (access times order evictions).
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

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
fn parse_headers(lines: &[String]) -> Result<Vec<(String, String)>> {
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

/// Builds the runtime items from disk. A damaged state file costs that
/// item's progress, never the engine's start: the item is probed again. An
/// item whose identity is lost too is listed as failed, so that its bytes
/// count toward the cap and the user can remove it.
fn load_items(shared: &Arc<Shared>) {
    let loaded = shared.store.load_items();
    for note in loaded.notes {
        tracing::warn!("{note}");
    }
    for (source, meta) in loaded.items {
        let id = source.id.clone();
        let meta = match meta {
            Ok(meta) => meta,
            Err(reason) => {
                tracing::warn!("item {id}: {reason}; its download starts over");
                ItemMeta {
                    name: name::display_name(None, &source.source_url),
                    last_access: unix_millis(),
                    ..ItemMeta::default()
                }
            }
        };
        let file = match shared.store.open_data(&id) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("item {id}: cannot open its data file: {e}; skipped");
                continue;
            }
        };
        let item = Arc::new(Item::new(source, meta, file, shared.cancel.child_token()));
        shared.items().insert(id, item);
    }
    for damaged in loaded.damaged {
        let id = damaged.id;
        let file = match shared.store.open_data(&id) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("item {id}: cannot open its data file: {e}; skipped");
                continue;
            }
        };
        let cancel = shared.cancel.child_token();
        let item = Item::damaged(id.clone(), damaged.meta, damaged.reason, file, cancel);
        shared.items().insert(id, Arc::new(item));
    }
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
