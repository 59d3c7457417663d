// Every command the window invokes, with its argument names and result type
// (the Rust commands are in src-tauri/desktop/commands.rs). Rejections are
// `UiError`s (see `asCommandError` in errors.ts).
import { invoke } from "@tauri-apps/api/core";
import type { Choice } from "./bindings/Choice.ts";
import type { Handoff } from "./bindings/Handoff.ts";
import type { PairingsView } from "./bindings/PairingsView.ts";
import type { CollectionView } from "./bindings/CollectionView.ts";
import type { SettingsForm } from "./bindings/SettingsForm.ts";
import type { SettingsView } from "./bindings/SettingsView.ts";
import type { UiItem } from "./bindings/UiItem.ts";

export const commands = {
  listItems: () => invoke<UiItem[]>("list_items"),
  /** `headers`: one `Name: value` per line. `newCopy`: add the URL even when
   * it is the file of a failed item (else that is refused with
   * `matches_failed_item`). A listing or playlist adds a collection: the
   * first item is returned, the others arrive as events. */
  addItem: (url: string, headers: string, newCopy: boolean, recursive = false) =>
    invoke<UiItem>("add_item", { url, headers, newCopy, recursive }),
  /** Gives a failed item a new URL of the same file; refused with
   * `not_the_same_file` when the URL is another file. */
  relinkItem: (id: string, url: string) => invoke<UiItem>("relink_item", { id, url }),
  /** Returns the command that was started. */
  /** At the saved position unless `fromStart`. */
  playItem: (id: string, fromStart = false) => invoke<string>("play_item", { id, fromStart }),
  pauseItem: (id: string) => invoke<UiItem>("pause_item", { id }),
  resumeItem: (id: string) => invoke<UiItem>("resume_item", { id }),
  pinItem: (id: string, pinned: boolean) => invoke<UiItem>("pin_item", { id, pinned }),
  removeItem: (id: string) => invoke<null>("remove_item", { id }),
  /** "Download next": ahead of every other queued item. */
  frontItem: (id: string) => invoke<UiItem>("front_item", { id }),
  listCollections: () => invoke<CollectionView[]>("list_collections"),
  /** `action`: pause, resume, pin, unpin or remove, on every member. */
  collectionAction: (id: string, action: string) => invoke<null>("collection_action", { id, action }),
  /** Puts the stream URL on the clipboard and returns it. */
  copyStreamUrl: (id: string) => invoke<string>("copy_stream_url", { id }),
  getSettings: () => invoke<SettingsView>("get_settings"),
  saveSettings: (form: SettingsForm) => invoke<SettingsView>("save_settings", { form }),
  openCacheFolder: () => invoke<null>("open_cache_folder"),
  /** `spool:` links waiting for an answer. */
  pendingHandoffs: () => invoke<Handoff[]>("pending_handoffs"),
  /** Play: the command started; Download: the item's id; Cancel: null. */
  answerHandoff: (id: string, choice: Choice) => invoke<string | null>("answer_handoff", { id, choice }),
  listPairings: () => invoke<PairingsView>("list_pairings"),
  answerPairing: (request: string, confirm: boolean) => invoke<PairingsView>("answer_pairing", { request, confirm }),
  unpair: (id: string) => invoke<PairingsView>("unpair", { id }),
};
