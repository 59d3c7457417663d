//! The cache's limits: the size cap with least-recently-used
//! eviction that spares pinned items, items being read and the download
//! itself, and a full disk that pauses downloads until space returns.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use spool_engine::{Event, ItemState, RemoveReason};

use crate::support::origin::{Faults, Origin};
use crate::util::{
    bounded, content, get_exact, http, path_of, until, waits_for_space, TestEngine, Tmpfs, MIB,
};

/// Bytes the data files under `data_dir` occupy (allocated blocks).
fn allocated(data_dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(data_dir.join("items")) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

async fn origin(len: usize, seed: u64, faults: Faults) -> (Origin, Vec<u8>) {
    let bytes = content(len, seed);
    (Origin::start(bytes.clone(), faults).await, bytes)
}

/// Adds the origin's file and waits until it is complete; returns its id.
async fn cached(engine: &TestEngine, origin: &Origin) -> String {
    let item = engine.add(&origin.url()).await;
    engine.wait_complete(&item.id).await;
    item.id
}

/// Reads the whole stream once (a player's access).
async fn play(engine: &TestEngine, stream_url: &str) {
    let body = get_exact(engine.port(), &path_of(stream_url), &[], 200)
        .await
        .body;
    assert!(!body.is_empty());
}

// Least recently *played* goes first, not least recently added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_item_is_evicted_first() {
    let engine = TestEngine::with(|c| c.cache_cap = 3 * MIB as u64 + 64 * 1024).await;
    let mut events = engine.engine.subscribe();
    let (a, _) = origin(MIB, 1, Faults::default()).await;
    let (b, _) = origin(MIB, 2, Faults::default()).await;
    let (c, _) = origin(MIB, 3, Faults::default()).await;
    let a_id = cached(&engine, &a).await;
    let b_id = cached(&engine, &b).await;
    let c_id = cached(&engine, &c).await;
    // A is played again: B is now the least recently used.
    play(&engine, &engine.item(&a_id).stream_url).await;

    let (d, _) = origin(MIB, 4, Faults::default()).await;
    let d_id = cached(&engine, &d).await;
    bounded("B to be evicted", async {
        loop {
            match events.recv().await {
                Ok(Event::Removed { id, reason }) => {
                    assert_eq!((id.as_str(), reason), (b_id.as_str(), RemoveReason::Evicted));
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await;
    let ids: Vec<_> = engine.engine.items().into_iter().map(|i| i.id).collect();
    assert!(
        ids.contains(&a_id) && ids.contains(&c_id) && ids.contains(&d_id),
        "{ids:?}"
    );
    assert!(!ids.contains(&b_id), "{ids:?}");
    assert!(
        !engine.dir.path().join("items").join(&b_id).exists(),
        "B's files are deleted"
    );
}

// A pinned item and an item a player is reading are kept, whatever their age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_and_playing_items_are_kept() {
    // B is larger than the socket buffers, so an unread response stays open.
    let engine = TestEngine::with(|c| c.cache_cap = 17 * MIB as u64 + 64 * 1024).await;
    let (a, _) = origin(MIB, 5, Faults::default()).await;
    let (b, _) = origin(16 * MIB, 6, Faults::default()).await;
    let a_id = cached(&engine, &a).await;
    let b_id = cached(&engine, &b).await;
    engine.engine.set_pinned(&a_id, true).await.expect("pin");
    // A player holds B open: a response that has not been read to the end.
    let open = http()
        .get(&engine.item(&b_id).stream_url)
        .send()
        .await
        .expect("GET B");
    assert_eq!(open.status(), 200);

    // C needs room that only A or B could give: it must wait, not evict them.
    let (c, _) = origin(MIB, 7, Faults::default()).await;
    let c_item = engine.add(&c.url()).await;
    let held = engine
        .wait_item(&c_item.id, "C to wait for room", |v| v.state == ItemState::Paused)
        .await;
    assert!(
        held.error.as_deref().unwrap_or("").contains("room in the cache"),
        "{held:?}"
    );
    assert!(engine.engine.item(&a_id).is_ok() && engine.engine.item(&b_id).is_ok());

    // The player leaves: B may go, and C completes.
    drop(open);
    engine.wait_complete(&c_item.id).await;
    assert!(
        engine.engine.item(&b_id).is_err(),
        "B was evicted once no longer read"
    );
    assert!(engine.engine.item(&a_id).is_ok(), "the pinned item stays");
}

// The download counts toward the cap with the size it will have: the disk
// never holds more than the cap while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_while_downloading() {
    let cap = 3 * MIB as u64;
    let engine = TestEngine::with(|c| c.cache_cap = cap).await;
    let (a, _) = origin(MIB, 8, Faults::default()).await;
    let (b, _) = origin(MIB, 9, Faults::default()).await;
    cached(&engine, &a).await;
    cached(&engine, &b).await;
    let (c, _) = origin(
        2 * MIB,
        10,
        Faults {
            rate: Some(4 * MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let item = engine.add(&c.url()).await;
    let mut max_seen = 0;
    until("the download to complete", || {
        max_seen = max_seen.max(allocated(engine.dir.path()));
        engine.item(&item.id).state == ItemState::Complete
    })
    .await;
    max_seen = max_seen.max(allocated(engine.dir.path()));
    // Block rounding of the sparse files is the only slack.
    assert!(
        max_seen <= cap + 64 * 1024,
        "{max_seen} bytes on disk with a cap of {cap}"
    );
    assert_eq!(engine.engine.items().len(), 2, "one old item made room");
}

// A file larger than the whole cap cannot fit: it fails with the reason
// instead of overflowing the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_the_cap_fails_with_a_reason() {
    let engine = TestEngine::with(|c| c.cache_cap = MIB as u64).await;
    let (big, _) = origin(
        2 * MIB,
        11,
        Faults {
            rate: Some(MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let item = engine.add(&big.url()).await;
    let failed = engine
        .wait_item(&item.id, "the item to fail", |v| v.state == ItemState::Failed)
        .await;
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("larger than the cache cap"),
        "{failed:?}"
    );
}

// A real small filesystem, filled: even with no reserve, the download
// stops at its last grant instead of writing the disk full, pauses with the
// reason shown, present bytes still play, and it resumes by itself and
// completes byte-exact once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_pauses_downloads_until_space_returns() {
    let Some(fs) = Tmpfs::mount("12m") else { return };
    let filler = fs.dir.path().join("filler");
    std::fs::write(&filler, vec![1u8; 6 * MIB]).expect("fill the disk");
    let data_dir = fs.dir.path().join("data");
    let engine = TestEngine::with(|c| c.data_dir = data_dir.clone()).await;
    let (o, bytes) = origin(
        8 * MIB,
        12,
        Faults {
            rate: Some(8 * MIB as u64),
            etag: Some("\"v1\"".into()),
            ..Faults::default()
        },
    )
    .await;
    let item = engine.add(&o.url()).await;
    let paused = engine
        .wait_item(&item.id, "the download to pause on a full disk", |v| {
            waits_for_space(v)
        })
        .await;
    assert!(paused.downloaded < bytes.len() as u64, "{paused:?}");
    // What is on disk still plays.
    let head = bounded("the first bytes while paused", async {
        let head = http()
            .get(&item.stream_url)
            .header("Range", "bytes=0-65535")
            .send()
            .await
            .expect("GET");
        assert_eq!(head.status(), 206);
        head.bytes().await.expect("body")
    })
    .await;
    assert_eq!(&head[..], &bytes[..65536]);

    std::fs::remove_file(&filler).expect("free space");
    engine.wait_complete(&item.id).await;
    let on_disk = std::fs::read(data_dir.join("items").join(&item.id).join("data")).expect("data file");
    assert!(on_disk == bytes, "the completed file equals the origin's");
    drop(engine);
}

// Below the minimum free space downloads pause with the reason shown, and
// resume by themselves when space returns (here: when the minimum drops).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_free_space_pauses_downloads_until_it_returns() {
    let engine = TestEngine::with(|c| c.min_free = u64::MAX / 2).await;
    let (o, bytes) = origin(MIB, 13, Faults::default()).await;
    let item = engine.add(&o.url()).await;
    let held = engine
        .wait_item(&item.id, "the download to wait for disk space", |v| {
            waits_for_space(v)
        })
        .await;
    assert!(held.downloaded < bytes.len() as u64, "{held:?}");
    let mut limits = engine.engine.limits();
    limits.min_free = 0;
    engine.engine.set_limits(limits);
    let done = engine.wait_complete(&item.id).await;
    assert_eq!(done.error, None);
}
