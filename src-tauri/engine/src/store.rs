//! On-disk layout of the data directory, and durable writes.
//!
//! ```text
//! DATA_DIR/            0700
//!   engine.lock        held (flock) by the engine that owns the directory
//!   engine.json        {pid, port, token}, 0600, for the CLI
//!   items/<id>/
//!     item.json        identity, written once: id, token, URL, request headers (0600)
//!     state.json       saved state, rewritten atomically: size, validators, present ranges…
//!     data             the sparse data file
//! ```
//!
//! Identity and state are separate files so that a damaged state file loses
//! only progress: the item can be probed again from its identity.
//! `state.json` never claims bytes that were not fsynced before it was written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ranges::RangeSet;

/// What never changes about an item (`item.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ItemSource {
    pub id: String,
    pub token: String,
    pub source_url: String,
    /// Request headers sent on every origin request of this item. Secrets:
    /// the file is 0600 and the values are never logged.
    pub headers: Vec<(String, String)>,
    /// Unix milliseconds.
    pub created: u64,
}

/// What the engine saves about an item's progress (`state.json`). Fields
/// missing from an older file take their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ItemMeta {
    pub name: String,
    pub content_type: Option<String>,
    /// `None` until the origin tells it (or forever, for a chunked origin
    /// until the download ends).
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The origin answered a range request with 206.
    pub accepts_ranges: bool,
    /// The origin has answered at least once (size and validators are known).
    pub probed: bool,
    /// Bytes of `data` that were fsynced before this state was written.
    pub present: RangeSet,
    /// Increments each time the origin's file changed and the bytes were
    /// discarded; part of the ETag Spool serves.
    pub generation: u64,
    pub pinned: bool,
    pub paused: bool,
    /// Why the download failed, when it did.
    pub failure: Option<String>,
    /// Unix milliseconds of the last time a player read the item.
    pub last_access: u64,
    /// Bytes per second for this item's downloads; `None`: unlimited.
    pub rate_limit: Option<u64>,
}

/// An item found on disk at start-up.
pub struct LoadedItem {
    pub source: ItemSource,
    /// `Err` with the reason when `state.json` is missing or unreadable.
    pub meta: std::result::Result<ItemMeta, String>,
}

/// `{pid, port, token}`: how the CLI finds the running engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EngineFile {
    pub pid: u32,
    pub port: u16,
    pub token: String,
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Holds the data directory's lock until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl Store {
    /// Creates the directory (0700) if needed.
    pub fn open(root: &Path) -> Result<Store> {
        let items = root.join("items");
        fs::create_dir_all(&items).map_err(|e| Error::io(format!("cannot create {}", items.display()), e))?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("cannot restrict {}", root.display()), e))?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the lock that makes this engine the directory's only owner.
    pub fn lock(&self) -> Result<DirLock> {
        let path = self.root.join("engine.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(match read_engine_file(&self.root) {
                Ok(Some(info)) => Error::Locked {
                    dir: self.root.clone(),
                    pid: info.pid,
                    port: info.port,
                },
                _ => Error::LockedUnknown {
                    dir: self.root.clone(),
                },
            }),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(format!("cannot lock {}", path.display()), e)),
        }
    }

    pub fn write_engine_file(&self, info: &EngineFile) -> Result<()> {
        let path = self.root.join("engine.json");
        write_atomically(&path, &to_json(info))
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    }

    pub fn remove_engine_file(&self) {
        let _ = fs::remove_file(self.root.join("engine.json"));
    }

    /// Every item directory, with its state or the reason it is unreadable.
    /// Directories without a readable identity are reported and skipped.
    pub fn load_items(&self) -> (Vec<LoadedItem>, Vec<String>) {
        let mut items = Vec::new();
        let mut problems = Vec::new();
        let entries = match fs::read_dir(self.root.join("items")) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(format!("cannot list items: {e}"));
                return (items, problems);
            }
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            let _ = fs::remove_file(dir.join("state.json.tmp"));
            let source: ItemSource = match read_json(&dir.join("item.json")) {
                Ok(source) => source,
                Err(reason) => {
                    problems.push(format!("skipping {}: {reason}", dir.display()));
                    continue;
                }
            };
            let meta = read_json(&dir.join("state.json"));
            items.push(LoadedItem { source, meta });
        }
        (items, problems)
    }

    /// Creates an item's directory, identity, state and empty data file.
    pub fn create_item(&self, source: &ItemSource, meta: &ItemMeta) -> Result<File> {
        let dir = self.item_dir(&source.id);
        let context = |what: &str| format!("cannot {what} {}", dir.display());
        fs::create_dir_all(&dir).map_err(|e| Error::io(context("create"), e))?;
        write_atomically(&dir.join("item.json"), &to_json(source))
            .map_err(|e| Error::io(context("write the identity of"), e))?;
        self.save_meta(&source.id, meta)
            .map_err(|e| Error::io(context("write the state of"), e))?;
        self.open_data(&source.id)
            .map_err(|e| Error::io(context("create the data file in"), e))
    }

    /// Writes `state.json` atomically: temp file, fsync, rename, fsync dir.
    pub fn save_meta(&self, id: &str, meta: &ItemMeta) -> io::Result<()> {
        write_atomically(&self.item_dir(id).join("state.json"), &to_json(meta))
    }

    /// Opens (creating if needed) an item's data file for reading and writing.
    pub fn open_data(&self, id: &str) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.item_dir(id).join("data"))
    }

    /// Creates the data file for a new version of an item's content, beside
    /// the current one; [`Store::commit_next_data`] puts it in place.
    pub fn create_next_data(&self, id: &str) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(self.item_dir(id).join("data.next"))
    }

    pub fn commit_next_data(&self, id: &str) -> io::Result<()> {
        let dir = self.item_dir(id);
        fs::rename(dir.join("data.next"), dir.join("data"))?;
        File::open(&dir)?.sync_all()
    }

    /// Deletes an item's directory. Open handles stay valid until closed.
    pub fn remove_item(&self, id: &str) -> io::Result<()> {
        fs::remove_dir_all(self.item_dir(id))
    }

    /// Bytes the data file occupies on disk (allocated blocks: it is sparse).
    pub fn allocated(&self, id: &str) -> u64 {
        fs::metadata(self.item_dir(id).join("data")).map_or(0, |m| m.blocks() * 512)
    }

    /// Bytes free for an unprivileged user on the data directory's filesystem.
    pub fn free_space(&self) -> io::Result<u64> {
        free_space(&self.root)
    }

    pub fn item_dir(&self, id: &str) -> PathBuf {
        self.root.join("items").join(id)
    }
}

/// Reads `DATA_DIR/engine.json`; `Ok(None)` when there is none.
pub fn read_engine_file(root: &Path) -> io::Result<Option<EngineFile>> {
    match fs::read(root.join("engine.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys, no maps with
    // non-string keys, no custom serializers that error).
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> std::result::Result<T, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is corrupt: {e}", path.display()))
}

/// Temp file (0600), fsync, rename over `path`, fsync the directory: a crash
/// leaves either the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn free_space(path: &Path) -> io::Result<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spool-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn source(id: &str) -> ItemSource {
        ItemSource {
            id: id.into(),
            token: "t".into(),
            source_url: "http://127.0.0.1:1/a".into(),
            headers: vec![("Authorization".into(), "Bearer s3cret".into())],
            created: 1,
        }
    }

    #[test]
    fn items_round_trip_and_secrets_are_private() {
        let root = temp_dir("roundtrip");
        let store = Store::open(&root).unwrap();
        let mut meta = ItemMeta {
            name: "a.mp4".into(),
            size: Some(10),
            ..ItemMeta::default()
        };
        meta.present.insert(0, 4);
        store.create_item(&source("abc"), &meta).unwrap();
        let (items, problems) = store.load_items();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].source, source("abc"));
        assert_eq!(items[0].meta.as_ref().unwrap(), &meta);
        let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(root.clone()), 0o700);
        assert_eq!(mode(store.item_dir("abc").join("item.json")), 0o600);
        assert_eq!(mode(store.item_dir("abc").join("state.json")), 0o600);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_corrupt_state_file_is_reported_not_fatal() {
        let root = temp_dir("corrupt");
        let store = Store::open(&root).unwrap();
        store.create_item(&source("abc"), &ItemMeta::default()).unwrap();
        fs::write(store.item_dir("abc").join("state.json"), b"{\"name\": tru").unwrap();
        fs::create_dir_all(store.item_dir("zzz")).unwrap();
        fs::write(store.item_dir("zzz").join("item.json"), b"").unwrap();
        let (items, problems) = store.load_items();
        assert_eq!(items.len(), 1);
        assert!(items[0].meta.as_ref().unwrap_err().contains("corrupt"));
        assert_eq!(
            problems.len(),
            1,
            "the item without identity is skipped: {problems:?}"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_second_lock_names_the_owner() {
        let root = temp_dir("lock");
        let store = Store::open(&root).unwrap();
        let _held = store.lock().unwrap();
        store
            .write_engine_file(&EngineFile {
                pid: 42,
                port: 7,
                token: "x".into(),
            })
            .unwrap();
        let err = store.lock().unwrap_err();
        assert!(matches!(err, Error::Locked { pid: 42, port: 7, .. }), "{err}");
        fs::remove_dir_all(root).unwrap();
    }
}
