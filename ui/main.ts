// Spool's window: the cache list, the add box and the settings.
// State arrives as Tauri events ("spool://event"); the UI never polls.
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";

type ItemState = "queued" | "downloading" | "paused" | "complete" | "failed";

interface Item {
  id: string;
  source_url: string;
  stream_url: string;
  name: string;
  size: number | null;
  downloaded: number;
  state: ItemState;
  pinned: boolean;
  error: string | null;
  ranges: [number, number][];
}

type UiEvent =
  | { type: "item"; item: Item; note: string | null }
  | { type: "progress"; id: string; downloaded: number; size: number | null; rate: number; ranges: [number, number][] }
  | { type: "removed"; id: string; reason: "user" | "evicted" }
  | { type: "resync" }
  | { type: "player_failed"; command: string; message: string }
  | { type: "error"; message: string };

interface UiError {
  code: string;
  message: string;
  fields?: { field: string; message: string }[];
}

interface SettingsForm {
  cache_cap: string;
  player_command: string;
  connections_per_item: string;
  rate_limit: string;
  notifications: boolean;
  start_at_login: boolean;
}

interface SettingsView {
  form: SettingsForm;
  cache_dir: string;
  port: number;
}

const items = new Map<string, Item>();
const rates = new Map<string, number>();
let port = 0;
let loaded = false;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

function errorMessage(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e) return String((e as UiError).message);
  return String(e);
}

// ---------- formatting ----------

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

function percent(item: Item): number | null {
  if (item.size === null) return null;
  if (item.size === 0) return 100;
  return Math.floor((Math.min(item.downloaded, item.size) * 100) / item.size);
}

const STATE_LABEL: Record<ItemState, string> = {
  queued: "Queued",
  downloading: "Downloading",
  paused: "Paused",
  complete: "Complete",
  failed: "Failed",
};

// ---------- rendering ----------

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label: string, action: string, cls = "ghost small"): HTMLButtonElement {
  const b = el("button", cls, label);
  b.type = "button";
  b.dataset.action = action;
  return b;
}

function renderBar(item: Item): HTMLElement {
  const track = el("div", "bar");
  track.title = "Which parts of the file are on disk";
  const size = item.size;
  if (size && size > 0) {
    for (const [start, end] of item.ranges) {
      const part = el("div", "part");
      part.style.left = `${(start / size) * 100}%`;
      part.style.width = `${Math.max(((end - start) / size) * 100, 0.3)}%`;
      track.appendChild(part);
    }
  } else if (item.state === "complete") {
    track.appendChild(el("div", "part full"));
  } else {
    track.classList.add("indeterminate");
  }
  return track;
}

function renderRow(item: Item): HTMLLIElement {
  const li = el("li", `item state-${item.state}`);
  li.dataset.id = item.id;

  const head = el("div", "head");
  const name = el("div", "name", item.name);
  name.title = item.source_url;
  head.appendChild(name);
  if (item.pinned) head.appendChild(el("span", "pin-badge", "Pinned"));
  const stateBadge = el("span", `badge ${item.state}`, STATE_LABEL[item.state]);
  stateBadge.dataset.role = "state";
  head.appendChild(stateBadge);
  li.appendChild(head);

  li.appendChild(renderBar(item));

  const meta = el("div", "meta");
  const p = percent(item);
  const sizeText = item.size === null ? "size unknown" : formatBytes(item.size);
  meta.appendChild(el("span", "", `${formatBytes(item.downloaded)} of ${sizeText}`));
  if (p !== null) meta.appendChild(el("span", "pct", `${p} %`));
  const rate = rates.get(item.id) ?? 0;
  if (item.state === "downloading" && rate > 0) meta.appendChild(el("span", "rate", `${formatBytes(rate)}/s`));
  meta.appendChild(el("span", "host", hostOf(item.source_url)));
  li.appendChild(meta);

  if (item.error) {
    const err = el("div", item.state === "failed" ? "reason failed" : "reason", item.error);
    err.dataset.role = "error";
    li.appendChild(err);
  }

  const actions = el("div", "actions");
  actions.appendChild(button("▶ Play", "play", "primary small"));
  if (item.state === "paused") actions.appendChild(button("Resume", "resume"));
  else if (item.state === "failed") actions.appendChild(button("Retry", "resume"));
  else if (item.state !== "complete") actions.appendChild(button("Pause", "pause"));
  actions.appendChild(button(item.pinned ? "Unpin" : "Pin", item.pinned ? "unpin" : "pin"));
  actions.appendChild(button("Copy URL", "copy"));
  actions.appendChild(button("Remove", "remove", "ghost small danger"));
  li.appendChild(actions);
  return li;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}

function upsert(item: Item): void {
  items.set(item.id, item);
  const list = $("items");
  const row = renderRow(item);
  const old = list.querySelector<HTMLElement>(`li[data-id="${CSS.escape(item.id)}"]`);
  if (old) {
    // Keep an open remove confirmation open across progress updates.
    const confirm = old.querySelector(".confirm");
    if (confirm) row.replaceChild(confirm.cloneNode(true), row.querySelector(".actions") as Node);
    old.replaceWith(row);
  } else {
    list.prepend(row);
  }
  refreshChrome();
}

function removeRow(id: string): void {
  items.delete(id);
  rates.delete(id);
  document.querySelector(`li[data-id="${CSS.escape(id)}"]`)?.remove();
  refreshChrome();
}

function refreshChrome(): void {
  $("loading").classList.toggle("hidden", loaded);
  $("empty").classList.toggle("hidden", !loaded || items.size > 0);
  const all = [...items.values()];
  const active = all.filter((i) => i.state === "downloading" || i.state === "queued").length;
  const bytes = all.reduce((sum, i) => sum + i.downloaded, 0);
  const parts = [`${all.length} item${all.length === 1 ? "" : "s"}`, `${formatBytes(bytes)} cached`];
  if (active > 0) parts.push(`${active} downloading`);
  if (port) parts.push(`engine on 127.0.0.1:${port}`);
  $("status").textContent = parts.join(" · ");
}

let toastTimer: number | undefined;
function toast(text: string): void {
  const t = $("toast");
  t.textContent = text;
  t.classList.remove("hidden");
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => t.classList.add("hidden"), 4000);
}

function banner(text: string | null): void {
  const b = $("banner");
  b.textContent = text ?? "";
  b.classList.toggle("hidden", !text);
  if (text) {
    const close = button("Dismiss", "dismiss", "ghost small");
    close.addEventListener("click", () => banner(null));
    b.appendChild(close);
  }
}

// ---------- data ----------

async function reload(): Promise<void> {
  try {
    const list = await invoke<Item[]>("list_items");
    items.clear();
    $("items").replaceChildren();
    loaded = true;
    for (const item of list) upsert(item);
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
      // Bytes arriving means downloading, even if no state change said so yet.
      const state = item.state === "queued" && ev.rate > 0 ? "downloading" : item.state;
      upsert({ ...item, state, downloaded: ev.downloaded, size: ev.size, ranges: ev.ranges });
      break;
    }
    case "removed":
      removeRow(ev.id);
      if (ev.reason === "evicted") toast("An item was evicted to keep the cache under its limit");
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
  }
}

async function act(id: string, action: string, row: HTMLElement): Promise<void> {
  const item = items.get(id);
  if (!item) return;
  try {
    switch (action) {
      case "play": {
        const command = await invoke<string>("play_item", { id });
        toast(`Playing with ${command}`);
        break;
      }
      case "pause":
        upsert(await invoke<Item>("pause_item", { id }));
        break;
      case "resume":
        upsert(await invoke<Item>("resume_item", { id }));
        break;
      case "pin":
      case "unpin":
        upsert(await invoke<Item>("pin_item", { id, pinned: action === "pin" }));
        break;
      case "copy":
        await invoke<string>("copy_stream_url", { id });
        toast("Stream URL copied");
        break;
      case "remove": {
        const confirm = el("div", "actions confirm");
        confirm.appendChild(el("span", "question", `Remove “${item.name}” and its cached data?`));
        confirm.appendChild(button("Remove", "confirm-remove", "small danger-solid"));
        confirm.appendChild(button("Cancel", "cancel-remove"));
        row.querySelector(".actions")?.replaceWith(confirm);
        break;
      }
      case "confirm-remove":
        await invoke("remove_item", { id });
        removeRow(id);
        break;
      case "cancel-remove":
        upsert(item);
        break;
    }
  } catch (e) {
    banner(action === "play" ? `Cannot play: ${errorMessage(e)}` : errorMessage(e));
  }
}

// ---------- settings ----------

function settingsForm(): HTMLFormElement {
  return $("settings-form") as HTMLFormElement;
}

function field(name: keyof SettingsForm): HTMLInputElement {
  return settingsForm().elements.namedItem(name) as HTMLInputElement;
}

function showSettings(view: SettingsView): void {
  port = view.port;
  $("cache-dir").textContent = view.cache_dir;
  for (const key of ["cache_cap", "player_command", "connections_per_item", "rate_limit"] as const) {
    field(key).value = view.form[key];
  }
  field("notifications").checked = view.form.notifications;
  field("start_at_login").checked = view.form.start_at_login;
  refreshChrome();
}

async function saveSettings(): Promise<void> {
  const form: SettingsForm = {
    cache_cap: field("cache_cap").value,
    player_command: field("player_command").value,
    connections_per_item: field("connections_per_item").value,
    rate_limit: field("rate_limit").value,
    notifications: field("notifications").checked,
    start_at_login: field("start_at_login").checked,
  };
  for (const small of settingsForm().querySelectorAll<HTMLElement>(".err")) small.textContent = "";
  try {
    showSettings(await invoke<SettingsView>("save_settings", { form }));
    $("settings-status").textContent = "Saved and applied";
  } catch (e) {
    const err = e as UiError;
    for (const f of err.fields ?? []) {
      const small = settingsForm().querySelector<HTMLElement>(`.err[data-field="${f.field}"]`);
      if (small) small.textContent = f.message;
    }
    $("settings-status").textContent = errorMessage(e);
  }
}

// ---------- wiring ----------

async function start(): Promise<void> {
  await listen<UiEvent>("spool://event", (e) => onEvent(e.payload));

  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("url-input") as HTMLInputElement;
    const headers = ($("headers-input") as HTMLTextAreaElement).value;
    const addButton = $("add-button") as HTMLButtonElement;
    addButton.disabled = true;
    addButton.textContent = "Adding…";
    try {
      const item = await invoke<Item>("add_item", { url: input.value, headers });
      upsert(item);
      input.value = "";
      banner(null);
    } catch (err) {
      banner(`Cannot add this URL: ${errorMessage(err)}`);
    } finally {
      addButton.disabled = false;
      addButton.textContent = "Add";
    }
  });
  $("headers-toggle").addEventListener("click", () => $("headers-input").classList.toggle("hidden"));
  $("settings-toggle").addEventListener("click", () => $("settings").classList.toggle("hidden"));
  $("open-folder").addEventListener("click", () => {
    invoke("open_cache_folder").catch((e) => banner(errorMessage(e)));
  });
  settingsForm().addEventListener("submit", (e) => {
    e.preventDefault();
    void saveSettings();
  });
  $("items").addEventListener("click", (e) => {
    const target = e.target as HTMLElement;
    const b = target.closest<HTMLButtonElement>("button[data-action]");
    const row = target.closest<HTMLElement>("li[data-id]");
    if (b && row?.dataset.id) void act(row.dataset.id, b.dataset.action ?? "", row);
  });

  try {
    showSettings(await invoke<SettingsView>("get_settings"));
  } catch (e) {
    banner(`Cannot read the settings: ${errorMessage(e)}`);
  }
  await reload();
}

window.addEventListener("DOMContentLoaded", () => {
  start().catch((e) => banner(`Spool's window failed to start: ${errorMessage(e)}`));
});
