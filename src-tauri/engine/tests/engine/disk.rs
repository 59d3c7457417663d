//! The minimum free space holds at any download speed: on a real small
//! filesystem, with an origin fast enough to beat any periodic check, free
//! space never drops below the reserve minus one grant.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spool_engine::disk::GRANT;
use spool_engine::ItemState;

use crate::support::origin::{Faults, Origin};
use crate::util::{assert_bytes, bounded, content, http, waits_for_space, TestEngine, Tmpfs, MIB};

/// Bytes free on the filesystem of `path`, as the engine measures them.
fn free_space(path: &Path) -> u64 {
    spool_engine::store::free_space(path).expect("statvfs")
}

/// Samples the free space of a filesystem every 5 ms (finer than the 20 ms
/// asked: the whole download takes tens of milliseconds) on a thread of its
/// own (so a busy runtime cannot delay it) and keeps the lowest seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Sampler {
    fn start(path: PathBuf) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut lowest = u64::MAX;
            while !stop2.load(Ordering::SeqCst) {
                lowest = lowest.min(free_space(&path));
                std::thread::sleep(Duration::from_millis(5));
            }
            lowest.min(free_space(&path))
        });
        Sampler { stop, thread }
    }

    /// The lowest free space sampled.
    fn lowest(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the sampler thread")
    }
}

// An item larger than what fits above the reserve, from an unthrottled
// origin over 4 connections: it downloads up to the reserve and waits with
// the reason shown; the first bytes play at once while it waits, a read of
// bytes not on disk waits for them; freeing space resumes it by itself and
// it completes byte-exact. Free space never went below the reserve minus
// one grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reserve_holds_at_full_speed_and_the_item_waits_for_space() {
    let Some(fs) = Tmpfs::mount("48m") else { return };
    let reserve = 8 * MIB as u64;
    // Ballast another program wrote: 48 - 16 = 32 MiB free, 24 MiB above
    // the reserve, for a 32 MiB item.
    let ballast = fs.dir.path().join("ballast");
    std::fs::write(&ballast, vec![7u8; 16 * MIB]).expect("write the ballast");
    let data_dir = fs.dir.path().join("data");
    let engine = TestEngine::with(|c| {
        c.data_dir = data_dir.clone();
        c.min_free = reserve;
        c.connections_per_item = 4;
    })
    .await;
    let bytes = content(32 * MIB, 21);
    let origin = Origin::start(
        bytes.clone(),
        Faults {
            etag: Some("\"v1\"".into()),
            ..Faults::default()
        },
    )
    .await;

    let sampler = Sampler::start(fs.dir.path().to_path_buf());
    let started = Instant::now();
    let item = engine.add(&origin.url()).await;
    let waiting = engine
        .wait_item(&item.id, "the download to wait for disk space", |v| {
            assert_ne!(v.state, ItemState::Complete, "it cannot fit, yet it completed");
            waits_for_space(v)
        })
        .await;
    let took = started.elapsed();
    let free_while_waiting = free_space(fs.dir.path());
    println!(
        "downloaded {:.1} MiB in {:.0} ms ({:.0} MiB/s) before waiting: {:?}",
        waiting.downloaded as f64 / MIB as f64,
        took.as_secs_f64() * 1000.0,
        waiting.downloaded as f64 / MIB as f64 / took.as_secs_f64(),
        waiting.error
    );
    assert!(
        waiting.downloaded > 0 && waiting.downloaded < bytes.len() as u64,
        "{waiting:?}"
    );

    // The first bytes are on disk and play at once while it waits.
    let present = engine.engine.present(&item.id).expect("present ranges");
    assert!(
        present.covers(0, 65536),
        "the first bytes were fetched first: {present:?}"
    );
    let head = bounded("the first bytes while waiting", async {
        http()
            .get(&item.stream_url)
            .header("Range", "bytes=0-65535")
            .send()
            .await
            .expect("GET the first bytes")
    })
    .await;
    assert_eq!(head.status(), 206);
    let head = bounded("the first bytes' body", head.bytes())
        .await
        .expect("body");
    assert_bytes(&head, &bytes[..65536], "the first bytes");

    // A read of bytes not on disk is answered (its length declared) and
    // waits for them; it is still waiting, with the item, after that answer.
    let gap = present
        .first_gap_from(0, bytes.len() as u64)
        .expect("some bytes are missing")
        .start;
    let missing = bounded("the headers of a read of missing bytes", async {
        http()
            .get(&item.stream_url)
            .header("Range", format!("bytes={gap}-{}", gap + 65535))
            .send()
            .await
            .expect("GET missing bytes")
    })
    .await;
    assert_eq!(missing.status(), 206);
    assert_eq!(missing.content_length(), Some(65536));
    let missing = tokio::spawn(missing.bytes());
    assert_eq!(engine.item(&item.id).state, ItemState::Paused, "still waiting");

    // Space returns: it resumes by itself, the waiting read gets its bytes.
    std::fs::remove_file(&ballast).expect("delete the ballast");
    engine.wait_complete(&item.id).await;
    let missing = bounded("the read of missing bytes", missing)
        .await
        .expect("the read's task")
        .expect("its body");
    assert_bytes(
        &missing,
        &bytes[gap as usize..gap as usize + 65536],
        "the waiting read",
    );
    let on_disk = std::fs::read(data_dir.join("items").join(&item.id).join("data")).expect("data file");
    assert_bytes(&on_disk, &bytes, "the completed file");

    let lowest = sampler.lowest().min(free_while_waiting);
    println!(
        "lowest free space sampled: {:.2} MiB ({:.2} MiB while waiting); reserve {:.2} MiB; one grant {:.2} MiB",
        lowest as f64 / MIB as f64,
        free_while_waiting as f64 / MIB as f64,
        reserve as f64 / MIB as f64,
        GRANT as f64 / MIB as f64
    );
    assert!(
        lowest >= reserve - GRANT,
        "free space dropped to {lowest} bytes, below the reserve ({reserve}) minus one grant ({GRANT})"
    );
    drop(engine);
}

// Admission: a second download that does not fit beside the first waits
// for it, without writing a byte, instead of both filling half the disk;
// once the first is done it goes as far as space allows, and when the user
// removes the first it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_does_not_fit_beside_another_waits_its_turn() {
    let Some(fs) = Tmpfs::mount("48m") else { return };
    let reserve = 8 * MIB as u64;
    let data_dir = fs.dir.path().join("data");
    let engine = TestEngine::with(|c| {
        c.data_dir = data_dir.clone();
        c.min_free = reserve;
    })
    .await;
    // 40 MiB above the reserve: room for one 24 MiB file, not two.
    let first_bytes = content(24 * MIB, 22);
    let second_bytes = content(24 * MIB, 23);
    let throttled = Faults {
        rate: Some(4 * MIB as u64),
        ..Faults::default()
    };
    let first_origin = Origin::start(first_bytes.clone(), throttled).await;
    let second_origin = Origin::start(second_bytes.clone(), Faults::default()).await;
    let sampler = Sampler::start(fs.dir.path().to_path_buf());

    let first = engine.add(&first_origin.url()).await;
    let second = engine.add(&second_origin.url()).await;
    let waiting = engine.item(&second.id);
    assert_eq!(waiting.state, ItemState::Paused, "{waiting:?}");
    assert!(
        waiting
            .error
            .as_deref()
            .unwrap_or("")
            .contains("after other downloads"),
        "{waiting:?}"
    );
    assert_eq!(waiting.downloaded, 0, "it waits before its first byte");
    assert_eq!(
        second_origin.gets().len(),
        1,
        "no request beyond the probe of `add`"
    );

    // The first completes; the second then goes as far as space allows.
    engine.wait_complete(&first.id).await;
    let stopped = engine
        .wait_item(&second.id, "the second to stop at the reserve", |v| {
            v.downloaded > 0
                && v.state == ItemState::Paused
                && v.error.as_deref().unwrap_or("").contains("free, keeping")
        })
        .await;
    assert!(stopped.downloaded < second_bytes.len() as u64, "{stopped:?}");

    // The user removes the first: the second resumes by itself.
    engine.engine.remove(&first.id).await.expect("remove the first");
    engine.wait_complete(&second.id).await;
    let on_disk = std::fs::read(data_dir.join("items").join(&second.id).join("data")).expect("data file");
    assert_bytes(&on_disk, &second_bytes, "the second file");
    let lowest = sampler.lowest();
    println!(
        "lowest free space sampled: {:.2} MiB; reserve 8 MiB",
        lowest as f64 / MIB as f64
    );
    assert!(lowest >= reserve - GRANT, "free space dropped to {lowest} bytes");
    drop(engine);
}
