// Spool's window: wiring. State arrives as Tauri events ("spool://event");
// the UI never polls. Clicks and events become commands and renders here;
// what to show is decided in row.ts, format.ts and errors.ts (pure, tested),
// and drawn by render.ts; the settings panel is settings.ts.
import { listen } from "@tauri-apps/api/event";
import type { CollectionView } from "./bindings/CollectionView.ts";
import type { UiEvent } from "./bindings/UiEvent.ts";
import type { UiItem } from "./bindings/UiItem.ts";
import { groupView, memberIds } from "./collection.ts";
import { commands } from "./commands.ts";
import { addFailure, errorMessage, relinkFailure } from "./errors.ts";
import {
  $,
  addOffer,
  banner,
  clearRows,
  closeGroupPanel,
  openGroupRemoveConfirm,
  openRelink,
  openRemoveConfirm,
  relinkError,
  relinkUrl,
  removeGroup,
  removeItemRow,
  showChrome,
  showGroup,
  showItem,
  toast,
} from "./render.ts";
import { wireDrop } from "./dropzone.ts";
import { ask, loadPending } from "./prompts.ts";
import { withProgress } from "./row.ts";
import { saveSettings, settingsForm, showSettings } from "./settings.ts";

const items = new Map<string, UiItem>();
const collections = new Map<string, CollectionView>();
/** The last download rate of each item, bytes per second. */
const rates = new Map<string, number>();
let port = 0;
let loaded = false;
/** The URL and headers of an add that matched a failed item, while the
 * choice between refreshing its link and a new copy is offered. */
let pendingAdd: { url: string; headers: string; id: string } | null = null;

function refreshChrome(): void {
  showChrome(loaded, [...items.values()], port);
}

function upsert(item: UiItem, closePanel = false): void {
  items.set(item.id, item);
  showItem(item, rates.get(item.id) ?? 0, closePanel);
  if (item.collection) {
    if (collections.has(item.collection)) refreshGroup(item.collection);
    else void loadCollections();
  }
  refreshChrome();
}

function forget(id: string): void {
  const collection = items.get(id)?.collection;
  items.delete(id);
  rates.delete(id);
  removeItemRow(id);
  if (collection) refreshGroup(collection);
  refreshChrome();
}

/** Draws a collection's group from the items the window has. */
function refreshGroup(id: string): void {
  const c = collections.get(id);
  if (!c) return;
  const ids = memberIds(c, (i) => items.has(i));
  if (ids.length === 0) {
    removeGroup(id);
    return;
  }
  const members = ids.map((i) => items.get(i)).filter((i): i is UiItem => i !== undefined);
  showGroup(groupView(c, members), ids);
}

let loadingCollections: Promise<void> | null = null;
/** Reads the collections again (a new one was added, or one changed). */
function loadCollections(): Promise<void> {
  loadingCollections ??= commands
    .listCollections()
    .then((list) => {
      collections.clear();
      for (const c of list) collections.set(c.id, c);
      for (const c of list) refreshGroup(c.id);
    })
    .catch((e) => banner(`Cannot read the collections: ${errorMessage(e)}`))
    .finally(() => {
      loadingCollections = null;
    });
  return loadingCollections;
}

async function groupAct(id: string, action: string, group: HTMLElement): Promise<void> {
  const c = collections.get(id);
  if (!c) return;
  try {
    switch (action) {
      case "group-play":
        // From the first episode on: the player goes on to the next by itself.
        toast(`Playing with ${await commands.playItem(id)}`);
        break;
      case "group-pause":
      case "group-resume":
      case "group-pin":
      case "group-unpin":
        await commands.collectionAction(id, action.slice("group-".length));
        break;
      case "group-remove":
        openGroupRemoveConfirm(group, c.name, memberIds(c, (i) => items.has(i)).length);
        break;
      case "group-confirm-remove":
        await commands.collectionAction(id, "remove");
        for (const member of c.items) forget(member);
        collections.delete(id);
        removeGroup(id);
        break;
      case "group-cancel":
        closeGroupPanel(group);
        refreshGroup(id);
        break;
    }
  } catch (e) {
    banner(errorMessage(e));
  }
}

async function reload(): Promise<void> {
  try {
    const [list, groups] = await Promise.all([commands.listItems(), commands.listCollections()]);
    items.clear();
    collections.clear();
    clearRows();
    for (const c of groups) collections.set(c.id, c);
    loaded = true;
    for (const item of list) upsert(item);
    for (const c of groups) refreshGroup(c.id);
    refreshChrome();
  } catch (e) {
    loaded = true;
    refreshChrome();
    banner(`Cannot read the cache: ${errorMessage(e)}`);
  }
}

function onEvent(ev: UiEvent): void {
  switch (ev.type) {
    case "item":
      upsert(ev.item);
      if (ev.note) toast(`${ev.item.name}: ${ev.note}`);
      break;
    case "progress": {
      const item = items.get(ev.id);
      if (!item) return;
      rates.set(ev.id, ev.rate);
      upsert(withProgress(item, ev));
      break;
    }
    case "removed":
      forget(ev.id);
      if (ev.reason === "evicted") toast("An item was evicted to keep the cache under its limit");
      break;
    case "unlisted":
      forget(ev.id);
      break;
    case "resync":
      void reload();
      break;
    case "player_failed":
      banner(`The player failed: ${ev.message}`);
      break;
    case "error":
      banner(ev.message);
      break;
    case "pairing":
      ask({ kind: "pairing", request: ev.request });
      break;
    case "handoff":
      ask({ kind: "handoff", handoff: ev.handoff });
      break;
  }
}

/** Links dropped on the window: added one by one; on the Play area, the
 * first is played once added. */
async function dropped(urls: string[], play: boolean): Promise<void> {
  if (urls.length === 0) {
    banner("Nothing to add: drop a link, or a .m3u or .url file");
    return;
  }
  for (const [i, url] of urls.entries()) {
    try {
      const item = await commands.addItem(url, "", false);
      upsert(item);
      if (play && i === 0) toast(`Playing with ${await commands.playItem(item.id)}`);
    } catch (e) {
      banner(`${url}: ${errorMessage(e)}`);
    }
  }
}

async function relink(id: string, row: HTMLElement): Promise<void> {
  const url = relinkUrl(row);
  if (!url) {
    relinkError(row, "Paste the new URL first");
    return;
  }
  try {
    const item = await commands.relinkItem(id, url);
    upsert(item, true);
    toast(`${item.name}: link refreshed`);
  } catch (e) {
    const failure = relinkFailure(e);
    if (failure.where === "row") relinkError(row, failure.text);
    else banner(failure.text);
  }
}

async function act(id: string, action: string, row: HTMLElement): Promise<void> {
  const item = items.get(id);
  if (!item) return;
  try {
    switch (action) {
      case "play":
      case "play-from-start":
        toast(`Playing with ${await commands.playItem(id, action === "play-from-start")}`);
        break;
      case "pause":
        upsert(await commands.pauseItem(id));
        break;
      case "front":
        upsert(await commands.frontItem(id));
        toast(`${item.name} downloads next`);
        break;
      case "resume":
        upsert(await commands.resumeItem(id));
        break;
      case "pin":
      case "unpin":
        upsert(await commands.pinItem(id, action === "pin"));
        break;
      case "copy":
        await commands.copyStreamUrl(id);
        toast("Stream URL copied");
        break;
      case "remove":
        openRemoveConfirm(row, item.name);
        break;
      case "confirm-remove":
        await commands.removeItem(id);
        forget(id);
        break;
      case "relink":
        openRelink(row);
        break;
      case "confirm-relink":
        await relink(id, row);
        break;
      case "cancel-panel":
        upsert(item, true);
        break;
    }
  } catch (e) {
    banner(action === "play" || action === "play-from-start" ? `Cannot play: ${errorMessage(e)}` : errorMessage(e));
  }
}

// ---------- adding ----------

function addFormDone(): void {
  ($("url-input") as HTMLInputElement).value = "";
  banner(null);
  pendingAdd = null;
  addOffer(null);
}

/** Adds `url`; `newCopy`: even when it is the file of a failed item; a
 * listing's sub-folders too when the Sub-folders box is ticked. */
async function add(url: string, headers: string, newCopy: boolean): Promise<void> {
  const addButton = $("add-button") as HTMLButtonElement;
  addButton.disabled = true;
  addButton.textContent = "Adding…";
  pendingAdd = null;
  addOffer(null);
  try {
    const recursive = ($("recursive-input") as HTMLInputElement).checked;
    upsert(await commands.addItem(url, headers, newCopy, recursive));
    addFormDone();
  } catch (e) {
    const failure = addFailure(e);
    if (failure.kind === "same_as_failed") {
      banner(null);
      pendingAdd = { url, headers, id: failure.id };
      addOffer(items.get(failure.id)?.name ?? failure.id);
    } else {
      banner(failure.text);
    }
  } finally {
    addButton.disabled = false;
    addButton.textContent = "Add";
  }
}

/** The user chose to refresh the failed item's link with the added URL. */
async function relinkInstead(): Promise<void> {
  if (!pendingAdd) return;
  const { id, url } = pendingAdd;
  try {
    const item = await commands.relinkItem(id, url.trim());
    upsert(item, true);
    addFormDone();
    toast(`${item.name}: link refreshed`);
  } catch (e) {
    addOffer(null);
    pendingAdd = null;
    banner(relinkFailure(e).text);
  }
}

// ---------- wiring ----------

async function start(): Promise<void> {
  await listen<UiEvent>("spool://event", (e) => onEvent(e.payload));
  wireDrop((urls, play) => void dropped(urls, play));

  $("add-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = ($("url-input") as HTMLInputElement).value;
    const headers = ($("headers-input") as HTMLTextAreaElement).value;
    void add(url, headers, false);
  });
  $("add-offer").addEventListener("click", (e) => {
    const action = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]")?.dataset.action;
    if (action === "offer-relink") void relinkInstead();
    else if (action === "offer-copy" && pendingAdd) void add(pendingAdd.url, pendingAdd.headers, true);
    else if (action === "offer-cancel") {
      pendingAdd = null;
      addOffer(null);
    }
  });
  $("headers-toggle").addEventListener("click", () => $("headers-input").classList.toggle("hidden"));
  $("settings-toggle").addEventListener("click", () => $("settings").classList.toggle("hidden"));
  $("open-folder").addEventListener("click", () => {
    commands.openCacheFolder().catch((e) => banner(errorMessage(e)));
  });
  settingsForm().addEventListener("submit", (e) => {
    e.preventDefault();
    void saveSettings().then((view) => {
      if (view) port = view.port;
      refreshChrome();
    });
  });
  $("items").addEventListener("click", (e) => {
    const target = e.target as HTMLElement;
    const b = target.closest<HTMLButtonElement>("button[data-action]");
    const row = target.closest<HTMLElement>("li[data-id]");
    const group = target.closest<HTMLElement>("li[data-collection]");
    if (b && row?.dataset.id) void act(row.dataset.id, b.dataset.action ?? "", row);
    else if (b && group?.dataset.collection) {
      // A button in the group's heading must not fold the group.
      e.preventDefault();
      void groupAct(group.dataset.collection, b.dataset.action ?? "", group);
    }
  });
  // Enter in a row's new-URL field confirms it.
  $("items").addEventListener("keydown", (e) => {
    const target = e.target as HTMLElement;
    const row = target.closest<HTMLElement>("li[data-id]");
    if (e.key === "Enter" && target.dataset.role === "relink-url" && row?.dataset.id) {
      e.preventDefault();
      void act(row.dataset.id, "confirm-relink", row);
    }
  });

  try {
    const view = await commands.getSettings();
    port = view.port;
    showSettings(view);
    refreshChrome();
  } catch (e) {
    banner(`Cannot read the settings: ${errorMessage(e)}`);
  }
  await reload();
  await loadPending().catch((e) => banner(errorMessage(e)));
}

window.addEventListener("DOMContentLoaded", () => {
  start().catch((e) => banner(`Spool's window failed to start: ${errorMessage(e)}`));
});
