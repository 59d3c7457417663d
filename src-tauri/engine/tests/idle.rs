//! An idle engine stays idle: measured as the CPU time of the whole process,
//! so this test has a test binary of its own (cargo runs test binaries one
//! after another, and nothing else runs in this one).

#[path = "support/mod.rs"]
mod support;
#[allow(dead_code)]
#[path = "engine/util.rs"]
mod util;

use std::time::Duration;

use spool_engine::ItemState;
use tokio::time::{sleep, Instant};

use crate::support::origin::{Faults, Origin};
use crate::util::{content, TestEngine, MIB};

/// CPU time used by this process, all threads.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Why: an item with nothing to do (paused) must not keep a core busy. The
/// only test of this binary, so the process's CPU time is the engine's (its
/// proxy and its download thread) and the origin's.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_item_does_not_spin() {
    let len = 4 * MIB;
    let origin = Origin::start(
        content(len, 52),
        Faults {
            rate: Some(MIB as u64),
            ..Faults::default()
        },
    )
    .await;
    let t = TestEngine::start().await;
    let item = t.add(&origin.url()).await;
    t.wait_item(&item.id, "some progress", |v| v.downloaded > 0).await;
    t.engine.pause(&item.id).await.expect("pause");
    t.wait_item(&item.id, "the item to pause", |v| v.state == ItemState::Paused)
        .await;
    // Past the first checkpoint interval (1 s) after the last byte.
    sleep(Duration::from_millis(1500)).await;
    let (cpu, wall) = (process_cpu(), Instant::now());
    sleep(Duration::from_secs(2)).await;
    let (cpu, wall) = (process_cpu() - cpu, wall.elapsed());
    println!("idle paused item: {cpu:?} of CPU in {wall:?}");
    assert!(
        cpu < wall / 4,
        "{cpu:?} of CPU in {wall:?} while the only item is paused"
    );
}
