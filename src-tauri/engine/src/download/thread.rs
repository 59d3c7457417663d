//! The downloader's own runtime thread.
//!
//! Serving is latency work (a player waits for each response); downloading
//! is throughput work (an origin burst is megabytes to write). On one tokio
//! runtime they share worker threads, and a task never preempts another: a
//! response could wait behind a burst of writes. On their own thread, the
//! kernel interleaves the two.

use std::future::Future;
use std::sync::Mutex;

use tokio::runtime::{Handle, Runtime};
use tokio_util::task::TaskTracker;

use crate::error::{Error, Result};

pub(crate) struct DownloadThread {
    handle: Handle,
    /// Taken at shutdown; `None` after.
    runtime: Mutex<Option<Runtime>>,
}

impl DownloadThread {
    pub fn start() -> Result<DownloadThread> {
        let runtime = crate::one_worker("spool-download")
            .map_err(|e| Error::io("cannot start the download thread", e))?;
        Ok(DownloadThread {
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// Runs `task` on the download thread, tracked by `tasks` (so shutdown
    /// waits for it like for any other task of the engine).
    pub fn spawn<F>(&self, tasks: &TaskTracker, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tasks.spawn_on(task, &self.handle)
    }

    /// Stops the thread without waiting (callable from async code, unlike a
    /// `Runtime`'s drop); its tasks have been told to stop before.
    pub fn stop(&self) {
        let runtime = self.runtime.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
    }
}

impl Drop for DownloadThread {
    fn drop(&mut self) {
        self.stop();
    }
}
