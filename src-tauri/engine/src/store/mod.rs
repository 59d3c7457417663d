//! On-disk layout of the data directory, and durable writes.
//!
//! ```text
//! DATA_DIR/            0700
//!   engine.lock        held (flock) by the engine that owns the directory
//!   engine.json        {pid, port, token}, 0600, for the CLI
//!   items/<id>/
//!     item.json        identity: id, token, URL, request headers (0600);
//!                      rewritten atomically only when a relink changes the URL
//!     state.json       saved state, rewritten atomically: size, validators,
//!                      present ranges…, and a copy of the identity
//!     data             the sparse data file
//! ```
//!
//! Identity and state are separate files so that a damaged state file loses
//! only progress: the item can be probed again from its identity. A damaged
//! identity is rebuilt from the copy in the state file; with both damaged
//! the item is listed as failed until removed (see [`salvage`]).
//! `state.json` never claims bytes that were not fsynced before it was written.

mod salvage;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::byte_ranges::RangeSet;
use crate::error::{Error, Result};

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
    /// Where its player was last seen, and whether it was watched.
    pub playback: crate::playback::Playback,
    /// When it was moved to the front of the download queue (unix
    /// milliseconds; the latest move goes first); `None`: never.
    pub front: Option<u64>,
}

/// When a new item's files must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durable {
    /// Before the call returns (an fsync of each file and its directory).
    Now,
    /// At the caller's [`Store::sync`], after a batch of items.
    AtSync,
}

/// `state.json` as written: the meta and a copy of the identity.
#[derive(Serialize)]
struct StateOut<'a> {
    #[serde(flatten)]
    meta: &'a ItemMeta,
    identity: &'a ItemSource,
}

impl<'a> StateOut<'a> {
    fn of(identity: &'a ItemSource, meta: &'a ItemMeta) -> StateOut<'a> {
        StateOut { meta, identity }
    }
}

/// `state.json`: the progress, and a copy of the identity so that a damaged
/// `item.json` can be rebuilt (files written before the copy existed have none).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateFile {
    #[serde(flatten)]
    pub meta: ItemMeta,
    #[serde(default)]
    pub identity: Option<ItemSource>,
}

/// What was found under `items/` at start-up: every directory is either an
/// item or a damaged item; `notes` say what was repaired or cleaned up.
#[derive(Default)]
pub struct Loaded {
    pub items: Vec<(ItemSource, std::result::Result<ItemMeta, String>)>,
    pub damaged: Vec<DamagedItem>,
    pub notes: Vec<String>,
}

/// An item directory whose origin URL is lost.
pub struct DamagedItem {
    pub id: String,
    /// What its state file still tells (name, size), when it was readable.
    pub meta: Option<ItemMeta>,
    /// "its metadata is damaged: …"
    pub reason: String,
}

/// Files a crash can leave behind in an item directory: a temporary file
/// not yet renamed over its target, a new data file not yet put in place.
const LEFTOVERS: [&str; 3] = ["item.json.tmp", "state.json.tmp", "data.next"];

/// The metadata files of an item directory: a few KiB that the cache cap
/// leaves out (it counts the media bytes).
fn is_metadata(name: &std::ffi::OsStr) -> bool {
    matches!(
        name.to_str(),
        Some("item.json" | "state.json" | "item.json.tmp" | "state.json.tmp")
    )
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
        to_json(info)
            .and_then(|json| write_atomically(&path, &json))
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    }

    pub fn remove_engine_file(&self) {
        let _ = fs::remove_file(self.root.join("engine.json"));
    }

    /// Every item directory, judged by [`salvage::judge`]: items (with an
    /// identity rebuilt from the state file's copy where `item.json` was
    /// damaged) and damaged items. Stray files are deleted: crash leftovers
    /// in item directories, files directly under `items/`, and directories
    /// with nothing in them; nothing stays that the cache does not count.
    pub fn load_items(&self) -> Loaded {
        let mut loaded = Loaded::default();
        let _ = fs::remove_file(self.root.join("engine.json.tmp"));
        let entries = match fs::read_dir(self.root.join("items")) {
            Ok(entries) => entries,
            Err(e) => {
                loaded.notes.push(format!("cannot list items: {e}"));
                return loaded;
            }
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir {
                // Spool writes nothing directly under `items/`.
                let note = match fs::remove_file(&dir) {
                    Ok(()) => format!("removed the stray file {}", dir.display()),
                    Err(e) => format!("cannot remove the stray file {}: {e}", dir.display()),
                };
                loaded.notes.push(note);
                continue;
            }
            let id = entry.file_name().to_string_lossy().into_owned();
            for leftover in LEFTOVERS {
                let _ = fs::remove_file(dir.join(leftover));
            }
            let found = salvage::Found {
                identity: read_json(&dir.join("item.json")),
                state: read_json(&dir.join("state.json")),
                other_content: has_other_content(&dir),
                id: id.clone(),
            };
            match salvage::judge(found) {
                salvage::Verdict::Item {
                    source,
                    meta,
                    rebuild_identity,
                } => {
                    if rebuild_identity {
                        let note = match self.write_identity(&source) {
                            Ok(()) => format!(
                                "item {id}: item.json was damaged; rebuilt from the copy in state.json"
                            ),
                            Err(e) => format!(
                                "item {id}: item.json was damaged; cannot rebuild it from state.json: {e}"
                            ),
                        };
                        loaded.notes.push(note);
                    }
                    loaded.items.push((source, meta));
                }
                salvage::Verdict::Damaged { meta, reason } => {
                    loaded.notes.push(format!("item {id}: {reason}"));
                    loaded.damaged.push(DamagedItem { id, meta, reason });
                }
                salvage::Verdict::Empty => {
                    let note = match fs::remove_dir_all(&dir) {
                        Ok(()) => format!("removed the empty item directory {}", dir.display()),
                        Err(e) => format!("cannot remove the empty item directory {}: {e}", dir.display()),
                    };
                    loaded.notes.push(note);
                }
            }
        }
        loaded
    }

    /// Creates an item's directory, identity, state and empty data file.
    pub fn create_item(&self, source: &ItemSource, meta: &ItemMeta) -> Result<File> {
        self.create_item_with(source, meta, Durable::Now)
    }

    /// [`Store::create_item`]; with [`Durable::AtSync`] its files are
    /// written without an fsync each, and [`Store::sync`] makes a batch of
    /// them durable at once.
    pub fn create_item_with(&self, source: &ItemSource, meta: &ItemMeta, durable: Durable) -> Result<File> {
        let dir = self.item_dir(&source.id);
        let context = |what: &str| format!("cannot {what} {}", dir.display());
        fs::create_dir_all(&dir).map_err(|e| Error::io(context("create"), e))?;
        let sync = durable == Durable::Now;
        to_json(source)
            .and_then(|json| write_replacing(&dir.join("item.json"), &json, sync))
            .map_err(|e| Error::io(context("write the identity of"), e))?;
        to_json(&StateOut::of(source, meta))
            .and_then(|json| write_replacing(&dir.join("state.json"), &json, sync))
            .map_err(|e| Error::io(context("write the state of"), e))?;
        self.open_data(&source.id)
            .map_err(|e| Error::io(context("create the data file in"), e))
    }

    /// Writes `item.json` atomically (a relink rewrites it with the new URL).
    pub fn write_identity(&self, source: &ItemSource) -> io::Result<()> {
        write_atomically(&self.item_dir(&source.id).join("item.json"), &to_json(source)?)
    }

    /// Writes `state.json` atomically: temp file, fsync, rename, fsync dir.
    /// It carries a copy of the identity.
    pub fn save_meta(&self, source: &ItemSource, meta: &ItemMeta) -> io::Result<()> {
        write_atomically(
            &self.item_dir(&source.id).join("state.json"),
            &to_json(&StateOut::of(source, meta))?,
        )
    }

    /// Makes everything written to the data directory's filesystem durable
    /// (one `syncfs`): the end of a batch of [`Durable::AtSync`] writes.
    pub fn sync(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let dir = File::open(&self.root)?;
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
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

    /// Bytes an item's directory occupies on disk (allocated blocks: the
    /// data file is sparse): every file in it but the two small metadata
    /// files, so a data file being replaced, or anything else found there,
    /// counts too.
    pub fn allocated(&self, id: &str) -> u64 {
        allocated_in(&self.item_dir(id))
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

fn to_json<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    // An error here would otherwise write an empty file over good state.
    serde_json::to_vec_pretty(value).map_err(io::Error::other)
}

/// A metadata file as [`salvage`] judges it; reasons read after the
/// file's name ("item.json is empty").
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> salvage::Read<T> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return salvage::Read::Missing,
        Err(e) => return salvage::Read::Bad(format!("cannot be read: {e}")),
    };
    if bytes.is_empty() {
        return salvage::Read::Bad("is empty".to_string());
    }
    match serde_json::from_slice(&bytes) {
        Ok(value) => salvage::Read::Ok(value),
        Err(e) => salvage::Read::Bad(format!("is corrupt: {e}")),
    }
}

/// Whether an item directory holds anything besides its metadata files:
/// a data file with bytes, or anything Spool did not write.
fn has_other_content(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        // Unlistable: certainly not known to be empty.
        return true;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        match name.to_str() {
            Some("item.json" | "state.json") => false,
            Some("data") => entry.metadata().map_or(true, |m| m.len() > 0),
            _ => true,
        }
    })
}

/// Allocated bytes of every file under `dir` but the metadata files.
fn allocated_in(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|entry| !is_metadata(&entry.file_name()))
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => allocated_in(&entry.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Temp file (0600), fsync, rename over `path`, fsync the directory: a crash
/// leaves either the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_replacing(path, bytes, true)
}

/// Writes `path` through a temporary file and a rename; with `sync`, the
/// file and its directory are fsynced (else a later [`Store::sync`] does).
fn write_replacing(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
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
    if sync {
        file.sync_all()?;
    }
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|_| sync) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Bytes free for an unprivileged user on the filesystem of `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is a plain C struct of integers, for which all zero
    // bytes are a valid value; the call below fills it in.
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
        let loaded = store.load_items();
        assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
        assert_eq!(loaded.items.len(), 1);
        assert_eq!(loaded.items[0].0, source("abc"));
        assert_eq!(loaded.items[0].1.as_ref().unwrap(), &meta);
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
        let loaded = store.load_items();
        assert_eq!(loaded.items.len(), 1);
        assert!(loaded.items[0].1.as_ref().unwrap_err().contains("corrupt"));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_damaged_identity_is_rebuilt_from_the_state_file() {
        let root = temp_dir("rebuild");
        let store = Store::open(&root).unwrap();
        let meta = ItemMeta {
            name: "a.mp4".into(),
            ..ItemMeta::default()
        };
        store.create_item(&source("abc"), &meta).unwrap();
        let identity = store.item_dir("abc").join("item.json");
        fs::write(&identity, b"{\"id\": \"ab").unwrap();
        let loaded = store.load_items();
        assert_eq!(loaded.items.len(), 1, "{:?}", loaded.notes);
        assert_eq!(loaded.items[0].0, source("abc"));
        assert_eq!(loaded.items[0].1.as_ref().unwrap(), &meta);
        // Repaired on disk too.
        let again: ItemSource = serde_json::from_slice(&fs::read(&identity).unwrap()).unwrap();
        assert_eq!(again, source("abc"));
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn every_directory_is_accounted_for_and_strays_are_removed() {
        let root = temp_dir("strays");
        let store = Store::open(&root).unwrap();
        store.create_item(&source("abc"), &ItemMeta::default()).unwrap();
        fs::write(store.item_dir("abc").join("state.json.tmp"), b"{").unwrap();
        fs::write(store.item_dir("abc").join("data.next"), b"half").unwrap();
        // Both metadata files garbled; the data stays listed.
        fs::create_dir_all(store.item_dir("bad")).unwrap();
        fs::write(store.item_dir("bad").join("item.json"), b"").unwrap();
        fs::write(store.item_dir("bad").join("state.json"), b"{\"na").unwrap();
        fs::write(store.item_dir("bad").join("data"), vec![7u8; 8192]).unwrap();
        // A data file without any metadata.
        fs::create_dir_all(store.item_dir("orphan")).unwrap();
        fs::write(store.item_dir("orphan").join("data"), b"bytes").unwrap();
        // Nothing at all, and a file where only directories belong.
        fs::create_dir_all(store.item_dir("hollow")).unwrap();
        fs::write(root.join("items").join("stray"), b"x").unwrap();

        let loaded = store.load_items();
        assert_eq!(loaded.items.len(), 1);
        let mut damaged: Vec<&str> = loaded.damaged.iter().map(|d| d.id.as_str()).collect();
        damaged.sort_unstable();
        assert_eq!(damaged, ["bad", "orphan"]);
        assert!(loaded.damaged[0].reason.starts_with("its metadata is damaged: "));
        assert!(store.allocated("bad") >= 8192, "the damaged item's bytes count");
        assert!(!store.item_dir("abc").join("state.json.tmp").exists());
        assert!(!store.item_dir("abc").join("data.next").exists());
        assert!(!store.item_dir("hollow").exists());
        assert!(!root.join("items").join("stray").exists());
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
