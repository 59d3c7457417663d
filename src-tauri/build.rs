fn main() {
    // tauri-build prepares what the desktop app embeds (its config, icons and
    // UI); the headless build has no desktop app, so nothing to prepare.
    #[cfg(feature = "desktop")]
    tauri_build::build();
    // Without it nothing names what this script reads, and cargo would rerun
    // it on every change in the package.
    #[cfg(not(feature = "desktop"))]
    println!("cargo:rerun-if-changed=src-tauri/build.rs");
}
