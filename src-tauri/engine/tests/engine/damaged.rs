//! Damaged metadata, as a torn write or a failing disk leaves it: the
//! engine starts, repairs what it can, lists what it cannot as failed with
//! the reason (its bytes still count toward the cap), and removing such an
//! item frees its space. Nothing under the data directory goes unseen.

use std::fs;
use std::path::{Path, PathBuf};

use spool_engine::{ItemState, ItemView};

use crate::support::origin::{Faults, Origin};
use crate::util::{assert_bytes, content, get_exact, path_of, until, TestEngine, KIB};

/// A torn write: the first half of the file.
fn truncate(path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    fs::write(path, &bytes[..bytes.len() / 2]).expect("truncate");
}

/// A write that never reached the disk: zero bytes.
fn zero(path: &Path) {
    fs::write(path, b"").expect("empty the file");
}

/// Allocated bytes of every file under `dir` but the metadata files (the
/// cap counts media bytes).
fn allocated(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().contains(".json"))
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => allocated(&e.path()),
                Ok(m) => m.blocks() * 512,
                Err(_) => 0,
            })
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_metadata_is_listed_repaired_or_removed_never_dropped() {
    let len = 256 * KIB;
    let data = content(len, 141);
    let origin = Origin::start(data.clone(), Faults::default()).await;
    let t = TestEngine::start().await;
    let mut added: Vec<ItemView> = Vec::new();
    for name in ["rebuilt", "reprobed", "intact", "lost-a", "lost-b"] {
        let item = t.add(&format!("{}?{name}", origin.url())).await;
        t.wait_complete(&item.id).await;
        added.push(item);
    }
    let [rebuilt, reprobed, intact, lost_a, lost_b] = &added[..] else {
        unreachable!()
    };
    let items_dir = t.dir.path().join("items");
    let file = |id: &str, name: &str| -> PathBuf { items_dir.join(id).join(name) };

    let t = t
        .restart(|_| {
            // item.json torn; state.json holds a copy of the identity.
            truncate(&file(&rebuilt.id, "item.json"));
            // state.json lost: only the progress is lost.
            zero(&file(&reprobed.id, "state.json"));
            // Both lost, in both ways.
            zero(&file(&lost_a.id, "item.json"));
            truncate(&file(&lost_a.id, "state.json"));
            truncate(&file(&lost_b.id, "item.json"));
            zero(&file(&lost_b.id, "state.json"));
            // Strays: a crash's temporary file, a data file without any
            // metadata, a directory with nothing in it, a file where only
            // item directories belong.
            fs::write(file(&intact.id, "state.json.tmp"), b"{\"na").expect("tmp");
            fs::create_dir_all(items_dir.join("0rphan00")).expect("mkdir");
            fs::write(file("0rphan00", "data"), vec![9u8; 64 * KIB]).expect("orphan data");
            fs::create_dir_all(items_dir.join("hollow00")).expect("mkdir");
            fs::write(items_dir.join("stray"), b"?").expect("stray file");
        })
        .await;

    let items = t.engine.items();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(items.len(), 6, "five items and the orphan data file: {ids:?}");
    for damaged in [&lost_a.id, &lost_b.id, &"0rphan00".to_string()] {
        let view = t.item(damaged);
        assert_eq!(view.state, ItemState::Failed, "{view:?}");
        let reason = view.error.unwrap_or_default();
        assert!(
            reason.starts_with("its metadata is damaged: ") && reason.contains("item.json"),
            "{reason}"
        );
        println!("{damaged}: {reason}");
        assert!(t.engine.resume(damaged).await.is_err(), "nothing to resume from");
    }
    // (The engine may be writing a temporary file of its own there.)
    let leftover = fs::read(file(&intact.id, "state.json.tmp")).ok();
    assert_ne!(
        leftover.as_deref(),
        Some(&b"{\"na"[..]),
        "the crash leftover is gone"
    );
    assert!(
        !items_dir.join("hollow00").exists(),
        "the empty directory is gone"
    );
    assert!(!items_dir.join("stray").exists(), "the stray file is gone");

    // The repaired and the intact items are whole; the one without state
    // downloads again. All serve the exact bytes at their old stream URLs.
    let identity: serde_json::Value =
        serde_json::from_slice(&fs::read(file(&rebuilt.id, "item.json")).expect("item.json"))
            .expect("item.json is rebuilt");
    assert_eq!(identity["source_url"], rebuilt.source_url.as_str());
    for item in [rebuilt, intact, reprobed] {
        let view = t.wait_complete(&item.id).await;
        // The port is new; the token and name are the same.
        assert_eq!(path_of(&view.stream_url), path_of(&item.stream_url), "{view:?}");
        let body = get_exact(t.port(), &path_of(&item.stream_url), &[], 200).await;
        assert_bytes(&body.body, &data, &item.id);
    }

    // Removing a damaged item deletes its files.
    t.engine.remove(&lost_a.id).await.expect("remove a damaged item");
    assert!(!items_dir.join(&lost_a.id).exists(), "its files are gone");
    assert!(t.engine.item(&lost_a.id).is_err());

    // The cache counts damaged items' bytes: a cap one byte under what the
    // items hold evicts one of them (they were never used, so first).
    let total: u64 = fs::read_dir(&items_dir)
        .expect("items")
        .flatten()
        .map(|e| allocated(&e.path()))
        .sum();
    let mut limits = t.engine.limits();
    limits.cache_cap = total - 1;
    t.engine.set_limits(limits);
    until("the cap to evict a damaged item", || {
        t.engine.item(&lost_b.id).is_err() || t.engine.item("0rphan00").is_err()
    })
    .await;
    for item in [rebuilt, intact, reprobed] {
        assert_eq!(t.item(&item.id).state, ItemState::Complete, "kept: {}", item.id);
    }
    let left: Vec<String> = fs::read_dir(&items_dir)
        .expect("items")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 4, "the evicted item's files are gone: {left:?}");
}
