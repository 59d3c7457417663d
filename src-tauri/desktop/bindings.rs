//! The TypeScript types of everything the window receives or sends, rendered
//! from the Rust types (ts-rs) and checked in as `ui/bindings/`. The test
//! fails when a file differs from what the Rust types render; to regenerate:
//! `SPOOL_WRITE_BINDINGS=1 cargo test --lib bindings` (or `npm run bindings`).

use std::path::{Path, PathBuf};

use ts_rs::{Config, TS};

use super::actions::UiError;
use super::commands::SettingsView;
use super::events::{UiEvent, UiItem};
use super::handoff::{Choice, Handoff};
use super::settings::{FieldError, SettingsForm};
use spool_engine::link::LinkAction;
use spool_engine::pairing::{PairedView, PairingsView, RequestView};
use spool_engine::{CollectionView, ItemState, ItemView, RemoveReason};

const REGENERATE: &str = "SPOOL_WRITE_BINDINGS=1 cargo test --lib bindings";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui").join("bindings")
}

/// (file name, contents) for every type that crosses IPC.
fn rendered() -> Vec<(String, String)> {
    // JSON numbers: the UI reads u64 sizes as `number` (exact up to 2^53 bytes).
    let cfg = Config::new()
        .with_large_int("number")
        .with_import_extension(Some("ts"));
    fn one<T: TS + 'static>(cfg: &Config) -> (String, String) {
        let text = T::export_to_string(cfg).expect("a TS declaration");
        (format!("{}.ts", T::ident(cfg)), text)
    }
    vec![
        one::<ItemState>(&cfg),
        one::<ItemView>(&cfg),
        one::<CollectionView>(&cfg),
        one::<RemoveReason>(&cfg),
        one::<UiItem>(&cfg),
        one::<UiEvent>(&cfg),
        one::<UiError>(&cfg),
        one::<FieldError>(&cfg),
        one::<SettingsForm>(&cfg),
        one::<SettingsView>(&cfg),
        one::<Handoff>(&cfg),
        one::<Choice>(&cfg),
        one::<LinkAction>(&cfg),
        one::<RequestView>(&cfg),
        one::<PairedView>(&cfg),
        one::<PairingsView>(&cfg),
    ]
}

#[test]
fn ui_bindings_are_current() {
    let dir = dir();
    let files = rendered();
    if std::env::var_os("SPOOL_WRITE_BINDINGS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ts") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &files {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let mut extra: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".ts") && !files.iter().any(|(name, _)| name == n))
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "ui/bindings/ is not what the Rust types render (stale or missing: {stale:?}; \
         no longer rendered: {extra:?}): run `{REGENERATE}`"
    );
}
