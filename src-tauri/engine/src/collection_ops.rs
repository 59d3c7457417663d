//! The engine's collection operations: add a listing or playlist, list,
//! remove, pin, pause and resume a collection as a whole.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::clock::unix_millis;
use crate::collection::{Collection, CollectionView};
use crate::engine::{AddOptions, Engine};
use crate::error::{Error, Result};
use crate::events::ItemView;
use crate::input::{parse_headers, validate_url};
use crate::listing::{self, ListingError, Skipped};

/// Origin probes under way at once while a collection's entries are added.
const ADDING_AT_ONCE: usize = 4;

/// What `spool add URL` added.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Added {
    Item(ItemView),
    Collection(CollectionAdded),
}

/// A listing or playlist added as a collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectionAdded {
    pub collection: CollectionView,
    /// The media items, in the collection's order.
    pub items: Vec<ItemView>,
    /// Links of the listing left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Media entries beyond the limit of one listing, not added.
    pub dropped: usize,
    /// Sub-folders of the listing not followed.
    pub folders: usize,
    /// Sub-folders followed (`recursive`), their files among the items.
    #[serde(default)]
    pub followed: usize,
    /// Entries the origin refused (404, …): not added.
    pub failed: Vec<Failed>,
}

/// An entry that could not be added.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failed {
    pub url: String,
    pub error: String,
}

impl Engine {
    /// Adds `url`: a directory listing or playlist becomes a collection of
    /// its media files (see [`Engine::add_listing`]); anything else is one
    /// item ([`Engine::add_with`]).
    pub async fn add_any(&self, url: &str, headers: &[String], options: AddOptions) -> Result<Added> {
        let parsed = reqwest::Url::parse(&validate_url(url)?).map_err(|e| Error::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if listing::looks_like_listing(&parsed) {
            match self.add_listing_with(url, headers, options.recursive).await {
                Err(Error::Listing(ListingError::NotAListing(why))) => {
                    tracing::debug!("{url} is not a listing ({why}): added as one item");
                }
                other => return other.map(Added::Collection),
            }
        }
        self.add_with(url, headers, options).await.map(Added::Item)
    }

    /// Reads the listing or playlist at `url` and adds each of its media
    /// files (and their subtitles) as an item with `headers`. Adding the same
    /// listing again returns the same collection; new entries join it.
    pub async fn add_listing(&self, url: &str, headers: &[String]) -> Result<CollectionAdded> {
        self.add_listing_with(url, headers, false).await
    }

    /// [`Engine::add_listing`], following the listing's sub-folders one
    /// level down if `recursive` (see `listing::tree`). Without it, a
    /// listing of sub-folders alone is [`ListingError::OnlyFolders`].
    pub async fn add_listing_with(
        &self,
        url: &str,
        headers: &[String],
        recursive: bool,
    ) -> Result<CollectionAdded> {
        let downloader = self.downloader();
        let source_url = validate_url(url)?;
        let page = reqwest::Url::parse(&source_url).map_err(|e| Error::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let parsed_headers = parse_headers(headers)?;
        let (client, timeout) = (downloader.client.clone(), downloader.config.origin_timeout);
        let fetch = downloader.thread.spawn(&downloader.tasks, async move {
            let listing = listing::fetch::fetch(&client, &page, &parsed_headers, timeout).await?;
            if !recursive {
                return Ok((listing, Vec::new()));
            }
            let folders = listing::tree::to_follow(&listing);
            let read: Vec<_> = futures_util::stream::iter(folders)
                .map(|folder| {
                    let (client, headers) = (&client, &parsed_headers);
                    async move {
                        let result = match reqwest::Url::parse(&folder) {
                            Ok(url) => listing::fetch::fetch(client, &url, headers, timeout).await,
                            Err(e) => Err(Error::InvalidUrl {
                                url: folder.clone(),
                                reason: e.to_string(),
                            }),
                        };
                        (folder, result)
                    }
                })
                .buffered(ADDING_AT_ONCE)
                .collect()
                .await;
            Ok::<_, Error>(listing::tree::merge(listing, read))
        });
        let (listing, unread) = fetch.await.map_err(|_| Error::ShuttingDown)??;
        if listing.entries.is_empty() {
            return Err(ListingError::OnlyFolders(listing.folders).into());
        }
        let listing = listing.bound(downloader.config.max_listing_entries);
        let mut added = self.add_entries(&source_url, listing, headers).await?;
        added
            .failed
            .extend(unread.into_iter().map(|(url, error)| Failed { url, error }));
        Ok(added)
    }

    /// Adds the http(s) entries of a playlist read from a local file, whose
    /// `file:` URL is `file_url` (relative entries name local files: they
    /// are left out and reported).
    pub async fn add_playlist_text(
        &self,
        file_url: &str,
        text: &str,
        headers: &[String],
    ) -> Result<CollectionAdded> {
        let page = reqwest::Url::parse(file_url)
            .ok()
            .filter(|u| u.scheme() == "file")
            .ok_or_else(|| Error::InvalidUrl {
                url: file_url.to_string(),
                reason: "a local playlist is named by its file: URL".into(),
            })?;
        if text.len() > listing::MAX_PAGE {
            return Err(ListingError::TooLarge.into());
        }
        parse_headers(headers)?;
        let format = listing::detect(&page, None, text.as_bytes())?;
        if !matches!(format, listing::Format::M3u | listing::Format::Pls) {
            return Err(ListingError::NotAListing(
                "a local file must be an .m3u, .m3u8 or .pls playlist".into(),
            )
            .into());
        }
        let listing = listing::parse(format, &page, text.as_bytes())?
            .bound(self.downloader().config.max_listing_entries);
        self.add_entries(file_url, listing, headers).await
    }

    /// Adds the entries of a listing read by the caller (a playlist from a
    /// local file, say: its relative entries are already left out).
    pub async fn add_entries(
        &self,
        source_url: &str,
        listing: listing::Listing,
        headers: &[String],
    ) -> Result<CollectionAdded> {
        let catalog = self.catalog();
        // Media entries and their subtitles, added a few at a time, in order.
        let jobs: Vec<(usize, Option<usize>, String)> = listing
            .entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                std::iter::once((i, None, e.url.clone())).chain(
                    e.subtitles
                        .iter()
                        .enumerate()
                        .map(move |(s, u)| (i, Some(s), u.clone())),
                )
            })
            .collect();
        // One batch: the items' files are synced once and their downloads
        // start once all are added.
        let batch = self.batch();
        let results: Vec<_> = futures_util::stream::iter(jobs.into_iter().enumerate())
            .map(|(n, (i, sub, url))| {
                let batch = &batch;
                async move {
                    let added = self
                        .add_in(&url, headers, AddOptions::default(), Some((batch, n)))
                        .await;
                    (i, sub, url, added)
                }
            })
            .buffered(ADDING_AT_ONCE)
            .collect()
            .await;
        batch.finish().await;
        let mut media: Vec<Option<String>> = vec![None; listing.entries.len()];
        let mut subtitles: Vec<(usize, String)> = Vec::new();
        let mut failed = Vec::new();
        for (i, sub, url, added) in results {
            match (added, sub) {
                (Ok(view), None) => media[i] = Some(view.id),
                (Ok(view), Some(_)) => subtitles.push((i, view.id)),
                (Err(Error::ShuttingDown), _) => return Err(Error::ShuttingDown),
                (Err(e), _) => failed.push(Failed {
                    url,
                    error: e.to_string(),
                }),
            }
        }
        // A subtitle whose video failed to add belongs to nothing.
        let subtitles = subtitles
            .into_iter()
            .filter_map(|(i, sub)| Some((media[i].clone()?, sub)))
            .collect();
        let mut collection = catalog
            .collections
            .by_source(source_url)
            .unwrap_or_else(|| Collection {
                id: catalog.collections.new_id(),
                name: listing.name.clone(),
                source_url: source_url.to_string(),
                items: Vec::new(),
                subtitles: HashMap::new(),
                created: unix_millis(),
            });
        collection.merge(media.into_iter().flatten().collect(), subtitles);
        catalog.collections.put(collection.clone())?;
        // Their views now carry the collection: tell the window (whose first
        // views of the members, from their adds and first state changes,
        // may have none) to draw them in their group.
        for id in &collection.items {
            if let Ok(item) = catalog.item(id) {
                catalog.emit_state(&item);
            }
        }
        // Views again: they now carry the collection.
        let items = collection
            .items
            .iter()
            .filter_map(|id| self.item(id).ok())
            .collect();
        Ok(CollectionAdded {
            collection: CollectionView::from(&collection),
            items,
            skipped: listing.skipped,
            dropped: listing.dropped,
            folders: listing.folders,
            followed: listing.followed,
            failed,
        })
    }

    /// Every collection, members that are gone left out.
    pub fn collections(&self) -> Vec<CollectionView> {
        self.forget_gone();
        self.catalog()
            .collections
            .list()
            .iter()
            .map(CollectionView::from)
            .collect()
    }

    pub fn collection(&self, id: &str) -> Result<CollectionView> {
        self.forget_gone();
        Ok(CollectionView::from(&self.catalog().collections.get(id)?))
    }

    /// Whether an item is a video's subtitle: it goes with its video, and
    /// [`Engine::items`] does not list it.
    pub fn is_subtitle(&self, item: &str) -> bool {
        self.catalog().collections.is_subtitle(item)
    }

    /// The subtitle items of a video item, if it has any.
    pub fn subtitles_of(&self, item: &str) -> Vec<String> {
        let catalog = self.catalog();
        let Some(cid) = catalog.collections.of(item) else {
            return Vec::new();
        };
        catalog
            .collections
            .get(&cid)
            .ok()
            .and_then(|c| c.subtitles.get(item).cloned())
            .unwrap_or_default()
    }

    /// Removes an item and the subtitles that go with it.
    pub async fn remove_with_subtitles(&self, id: &str) -> Result<()> {
        let subtitles = self.subtitles_of(id);
        self.remove(id).await?;
        for sub in subtitles {
            match self.remove(&sub).await {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.forget_gone();
        Ok(())
    }

    /// Removes every member of a collection, then the collection.
    pub async fn remove_collection(&self, id: &str) -> Result<()> {
        let collection = self.catalog().collections.get(id)?;
        for member in collection.members() {
            match self.remove(member).await {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.forget_gone();
        Ok(())
    }

    pub async fn set_collection_pinned(&self, id: &str, pinned: bool) -> Result<CollectionView> {
        self.each_member(id, |engine, member| async move {
            engine.set_pinned(&member, pinned).await.map(drop)
        })
        .await
    }

    pub async fn pause_collection(&self, id: &str) -> Result<CollectionView> {
        self.each_member(id, |engine, member| async move {
            engine.pause(&member).await.map(drop)
        })
        .await
    }

    pub async fn resume_collection(&self, id: &str) -> Result<CollectionView> {
        self.each_member(id, |engine, member| async move {
            match engine.resume(&member).await {
                // A damaged member stays failed; the others go on.
                Ok(_) | Err(Error::Damaged { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn each_member<F, Fut>(&self, id: &str, action: F) -> Result<CollectionView>
    where
        F: Fn(Engine, String) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let collection = self.catalog().collections.get(id)?;
        for member in collection.members() {
            match action(self.clone(), member.clone()).await {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.collection(id)
    }

    fn forget_gone(&self) {
        let catalog = self.catalog();
        let items = catalog.items();
        if let Err(e) = catalog.collections.retain_items(|id| items.contains_key(id)) {
            tracing::warn!("{e}");
        }
    }
}
