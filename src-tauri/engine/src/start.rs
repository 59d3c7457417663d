//! Starting an engine: take the data directory, load its items, assemble
//! the handles, serve on the listener and resume the downloads. The only
//! module that knows both the engine and the server in front of it.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cache::{self, Cache};
use crate::catalog::Catalog;
use crate::clock::unix_millis;
use crate::collection::Collections;
use crate::config::{Config, LiveLimits};
use crate::download::{self, Downloader};
use crate::engine::{Engine, Parts, ServerIdentity};
use crate::error::{Error, Result};
use crate::item::Item;
use crate::name;
use crate::pairing::Pairings;
use crate::player::Players;
use crate::queue::Queue;
use crate::store::{EngineFile, ItemMeta, Store};
use crate::{proxy, token};

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
        let (cancel, tasks) = (CancellationToken::new(), TaskTracker::new());
        let limits = LiveLimits::new(config.limits());
        let data_dir = config.data_dir.clone();
        let collections = Collections::load(&data_dir);
        let catalog = Arc::new(Catalog::new(store, lock, port, collections));
        let queue = Arc::new(Queue::new(catalog.clone(), limits.clone()));
        let downloader = Arc::new(Downloader::start(
            catalog.clone(),
            config,
            limits.clone(),
            queue.clone(),
            cancel.clone(),
            tasks.clone(),
        )?);
        let cache = Arc::new(Cache::new(
            catalog.clone(),
            limits.clone(),
            downloader.space.clone(),
            queue,
        ));
        let server = ServerIdentity {
            port,
            control_token: token::secret(),
        };
        let pairings = Pairings::load(&data_dir);
        load_items(&catalog, &cancel);
        catalog.store.write_engine_file(&EngineFile {
            pid: std::process::id(),
            port,
            token: server.control_token.clone(),
        })?;
        // The engine lives as long as the runtime it was started on: when that
        // runtime goes without `shutdown` (a test's, say), this task is
        // dropped and its guard stops every task, the download thread's too.
        let (guard, stopped) = (cancel.clone().drop_guard(), cancel.clone());
        tokio::spawn(async move {
            let _guard = guard;
            stopped.cancelled().await;
        });
        let engine = Engine::new(Parts {
            catalog: catalog.clone(),
            downloader: downloader.clone(),
            cache: cache.clone(),
            limits,
            server,
            pairings,
            players: Players::default(),
            data_dir,
            cancel: cancel.clone(),
            tasks: tasks.clone(),
        });
        tasks.spawn(proxy::serve(listener, engine.clone()));
        tasks.spawn(cache::run(cache, cancel));
        let items: Vec<_> = catalog.items().values().cloned().collect();
        for item in items {
            download::spawn_supervisor(&downloader, item, None);
        }
        Ok(engine)
    }
}

/// Builds the live items from disk. A damaged state file costs that
/// item's progress, never the engine's start: the item is probed again. An
/// item whose identity is lost too is listed as failed, so that its bytes
/// count toward the cap and the user can remove it.
fn load_items(catalog: &Catalog, cancel: &CancellationToken) {
    let loaded = catalog.store.load_items();
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
        let file = match catalog.store.open_data(&id) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("item {id}: cannot open its data file: {e}; skipped");
                continue;
            }
        };
        let item = Arc::new(Item::new(source, meta, file, cancel.child_token()));
        catalog.items().insert(id, item);
    }
    for damaged in loaded.damaged {
        let id = damaged.id;
        let file = match catalog.store.open_data(&id) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("item {id}: cannot open its data file: {e}; skipped");
                continue;
            }
        };
        let cancel = cancel.child_token();
        let item = Item::damaged(id.clone(), damaged.meta, damaged.reason, file, cancel);
        catalog.items().insert(id, Arc::new(item));
    }
}
