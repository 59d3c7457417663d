//! The real `spool` binary, driven as users and scripts drive it.

#[path = "../../src-tauri/engine/tests/support/mod.rs"]
mod support;

mod commands;
mod crash;
mod errors;
mod files;
mod headless;
mod help;
mod lifecycle;
mod play;
mod playback;
mod relink;
mod util;
mod watch;
