//! Spool's desktop shell: the Tauri app that hosts the engine in-process.
//! Everything that is not UI lives in `spool_engine`; this crate wires it to
//! a window, a tray menu, a player and desktop notifications. Empty in the
//! headless build (without the `desktop` feature).

#[cfg(feature = "desktop")]
pub mod desktop;
