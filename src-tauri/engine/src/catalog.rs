//! The catalog: the engine's items by id, the data directory that holds
//! them, and the events that tell the outside world what changed. Everyone
//! who finds an item, saves one or reports a change holds this handle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::collection::Collections;
use crate::error::{Error, Result};
use crate::events::{Event, ItemView};
use crate::item::Item;
use crate::name;
use crate::store::{DirLock, Store};

pub(crate) struct Catalog {
    items: Mutex<HashMap<String, Arc<Item>>>,
    pub store: Store,
    /// Items grouped as added from a listing or playlist.
    pub collections: Collections,
    events: broadcast::Sender<Event>,
    /// The loopback port, for the items' stream URLs.
    port: u16,
    /// Serializes the final check-and-insert of `add`.
    pub adding: tokio::sync::Mutex<()>,
    /// The data directory is ours as long as anyone may still write to it.
    _lock: DirLock,
}

impl Catalog {
    pub fn new(store: Store, lock: DirLock, port: u16, collections: Collections) -> Catalog {
        Catalog {
            items: Mutex::new(HashMap::new()),
            store,
            collections,
            events: broadcast::channel(1024).0,
            port,
            adding: tokio::sync::Mutex::new(()),
            _lock: lock,
        }
    }

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
        let mut view = item.view(self.stream_url(item));
        view.collection = self.collections.of(item.id());
        view
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The event channel itself, for a task that outlives no engine (a
    /// player's reaper) and must not hold the catalog.
    pub fn sender(&self) -> broadcast::Sender<Event> {
        self.events.clone()
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
