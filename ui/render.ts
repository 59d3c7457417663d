// The DOM: rows, the list, the footer, the toast, the banner and the offer
// made when an added URL is a failed item's file. Rows are built from a
// RowView (row.ts); a new view for a shown row updates only the nodes whose
// text changed when it can (progress), and builds the row again otherwise.
import type { UiItem } from "./bindings/UiItem.ts";
import type { GroupView } from "./collection.ts";
import { statusLine } from "./format.ts";
import { patchable, rowView, type Bar, type RowView } from "./row.ts";

export function $(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function button(label: string, action: string, cls = "ghost small"): HTMLButtonElement {
  const b = el("button", cls, label);
  b.type = "button";
  b.dataset.action = action;
  return b;
}

/** Assigns only what differs, so an unchanged node is not touched. */
function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

function setClass(node: Element, cls: string): void {
  if (node.className !== cls) node.className = cls;
}

// ---------- rows ----------

/** The view each shown row was last drawn from. */
const shown = new Map<string, RowView>();

function rowOf(id: string): HTMLElement | null {
  return $("items").querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"]`);
}

function drawBar(track: HTMLElement, bar: Bar): void {
  track.classList.toggle("indeterminate", bar.kind === "indeterminate");
  const parts = bar.kind === "parts" ? bar.parts : [];
  const full = bar.kind === "full";
  const wanted = full ? 1 : parts.length;
  while (track.children.length > wanted) track.lastElementChild?.remove();
  while (track.children.length < wanted) track.appendChild(el("div", "part"));
  if (full) {
    setClass(track.children[0], "part full");
    (track.children[0] as HTMLElement).removeAttribute("style");
    return;
  }
  parts.forEach((part, i) => {
    const node = track.children[i] as HTMLElement;
    setClass(node, "part");
    const left = `${part.left}%`;
    const width = `${part.width}%`;
    if (node.style.left !== left) node.style.left = left;
    if (node.style.width !== width) node.style.width = width;
  });
}

/** The optional `.pct` / `.rate` span of a row's meta line, kept in order. */
function drawOptional(meta: Element, cls: "pct" | "rate", text: string | null): void {
  const existing = meta.querySelector(`.${cls}`);
  if (text === null) {
    existing?.remove();
  } else if (existing) {
    setText(existing, text);
  } else {
    // Order: bytes, pct, rate, host.
    const before = cls === "pct" ? (meta.querySelector(".rate") ?? meta.querySelector(".host")) : meta.querySelector(".host");
    meta.insertBefore(el("span", cls, text), before);
  }
}

/** Updates the parts of a row that progress changes. */
function drawProgress(li: HTMLElement, view: RowView): void {
  setClass(li, `item state-${view.state}`);
  const badge = li.querySelector("[data-role=state]");
  if (badge) {
    setClass(badge, `badge ${view.state}`);
    setText(badge, view.stateLabel);
  }
  const track = li.querySelector<HTMLElement>(".bar");
  if (track) drawBar(track, view.bar);
  const meta = li.querySelector(".meta");
  if (meta) {
    const bytes = meta.querySelector(".bytes");
    if (bytes) setText(bytes, view.bytes);
    drawOptional(meta, "pct", view.pct);
    drawOptional(meta, "rate", view.rate);
    const host = meta.querySelector(".host");
    if (host) setText(host, view.host);
  }
}

function buildRow(view: RowView): HTMLLIElement {
  const li = el("li");
  li.dataset.id = view.id;

  const head = el("div", "head");
  const name = el("div", "name", view.name);
  name.title = view.title;
  head.appendChild(name);
  if (view.pinned) head.appendChild(el("span", "pin-badge", "Pinned"));
  if (view.watched) head.appendChild(el("span", "watched-badge", "✓ Watched"));
  const stateBadge = el("span");
  stateBadge.dataset.role = "state";
  head.appendChild(stateBadge);
  li.appendChild(head);

  const track = el("div", "bar");
  track.title = "Which parts of the file are on disk";
  li.appendChild(track);

  const meta = el("div", "meta");
  meta.appendChild(el("span", "bytes"));
  meta.appendChild(el("span", "host"));
  li.appendChild(meta);

  if (view.error) {
    const err = el("div", view.error.failed ? "reason failed" : "reason", view.error.text);
    err.dataset.role = "error";
    li.appendChild(err);
  }

  const actions = el("div", "actions");
  for (const a of view.actions) actions.appendChild(button(a.label, a.action, a.cls));
  li.appendChild(actions);
  drawProgress(li, view);
  return li;
}

/** An open panel in place of a row's buttons (remove confirmation, new
 * link) survives the row being built again while it still applies. */
function keepsPanel(panel: HTMLElement, view: RowView): boolean {
  return panel.dataset.panel === "remove" || (panel.dataset.panel === "relink" && view.state === "failed");
}

/** Shows `item` (new or changed). `closePanel`: the user's own action
 * finished, so an open panel in its row closes. */
export function showItem(item: UiItem, rate: number, closePanel = false): void {
  const view = rowView(item, rate);
  const old = rowOf(item.id);
  const before = shown.get(item.id);
  shown.set(item.id, view);
  if (old && before && patchable(before, view) && !(closePanel && old.querySelector(".panel"))) {
    drawProgress(old, view);
    return;
  }
  const row = buildRow(view);
  if (old) {
    const panel = old.querySelector<HTMLElement>(".panel");
    if (panel && !closePanel && keepsPanel(panel, view)) {
      row.querySelector(".actions")?.replaceWith(panel);
    }
    old.replaceWith(row);
  } else {
    const members = item.collection ? groupOf(item.collection)?.querySelector(".members") : null;
    if (members) members.appendChild(row);
    else $("items").prepend(row);
  }
}

// ---------- collections ----------

function groupOf(id: string): HTMLElement | null {
  return $("items").querySelector<HTMLElement>(`li[data-collection="${CSS.escape(id)}"]`);
}

/** A collection as one collapsible group: a heading with its total
 * progress and buttons, then its items' rows in `order`. */
export function showGroup(view: GroupView, order: readonly string[]): void {
  let group = groupOf(view.id);
  if (!group) {
    group = el("li", "group");
    group.dataset.collection = view.id;
    const details = el("details");
    details.open = true;
    const summary = el("summary", "group-head");
    const head = el("div", "head");
    head.append(el("span", "name"), el("span", "badge"));
    const track = el("div", "bar");
    track.appendChild(el("div", "part"));
    const meta = el("div", "meta");
    meta.append(el("span", "bytes"), el("span", "pct"));
    summary.append(head, track, meta, el("div", "actions"));
    details.append(summary, el("ul", "members items"));
    group.appendChild(details);
    $("items").prepend(group);
  }
  const name = group.querySelector(".group-head .name");
  if (name) setText(name, view.name);
  const badge = group.querySelector(".group-head .badge");
  if (badge) setText(badge, view.summary);
  const part = group.querySelector<HTMLElement>(".group-head .bar .part");
  if (part) {
    const width = `${view.pct ?? 0}%`;
    if (part.style.width !== width) part.style.width = width;
  }
  const bytes = group.querySelector(".group-head .bytes");
  if (bytes) setText(bytes, view.bytes);
  const pct = group.querySelector(".group-head .pct");
  if (pct) setText(pct, view.pct === null ? "" : `${view.pct} %`);
  const actions = group.querySelector(".group-head .actions");
  if (actions && !group.querySelector(".group-head .panel")) {
    const labels = [...actions.children].map((b) => b.textContent).join("|");
    if (labels !== view.actions.map((a) => a.label).join("|")) {
      actions.replaceChildren(...view.actions.map((a) => button(a.label, a.action, a.cls)));
    }
  }
  // Rows in the collection's order (moving a node keeps it as it is).
  const members = group.querySelector(".members");
  if (!members) return;
  let at = 0;
  for (const id of order) {
    const row = rowOf(id);
    if (!row) continue;
    if (members.children[at] !== row) members.insertBefore(row, members.children[at] ?? null);
    at++;
  }
}

export function removeGroup(id: string): void {
  groupOf(id)?.remove();
}

/** The confirmation before a whole collection goes. */
export function openGroupRemoveConfirm(group: HTMLElement, name: string, count: number): void {
  const actions = group.querySelector(".group-head .actions");
  if (!actions) return;
  const panel = el("div", "actions panel confirm");
  panel.dataset.panel = "remove";
  panel.append(
    el("span", "question", `Remove “${name}” and the cached data of its ${count} items?`),
    button("Remove all", "group-confirm-remove", "small danger-solid"),
    button("Cancel", "group-cancel", "ghost small"),
  );
  actions.replaceWith(panel);
}

export function closeGroupPanel(group: HTMLElement): void {
  group.querySelector(".group-head .panel")?.replaceWith(el("div", "actions"));
}

export function removeItemRow(id: string): void {
  shown.delete(id);
  rowOf(id)?.remove();
}

export function clearRows(): void {
  shown.clear();
  // Groups go too: each is drawn again from the list.
  $("items").replaceChildren();
}

/** Replaces a row's buttons with a panel (`data-panel` names it). */
function openPanel(row: HTMLElement, kind: string, children: Node[]): HTMLElement {
  const panel = el("div", `actions panel ${kind === "remove" ? "confirm" : kind}`);
  panel.dataset.panel = kind;
  panel.append(...children);
  (row.querySelector(".panel") ?? row.querySelector(".actions"))?.replaceWith(panel);
  return panel;
}

export function openRemoveConfirm(row: HTMLElement, name: string): void {
  openPanel(row, "remove", [
    el("span", "question", `Remove “${name}” and its cached data?`),
    button("Remove", "confirm-remove", "small danger-solid"),
    button("Cancel", "cancel-panel"),
  ]);
}

/** The field for a new URL of a failed item's file. */
export function openRelink(row: HTMLElement): void {
  const input = el("input", "relink-url");
  input.type = "url";
  input.placeholder = "A new URL of the same file";
  input.dataset.role = "relink-url";
  const message = el("div", "relink-error");
  message.dataset.role = "relink-error";
  openPanel(row, "relink", [
    input,
    button("Refresh link", "confirm-relink", "primary small"),
    button("Cancel", "cancel-panel"),
    message,
  ]);
  input.focus();
}

export function relinkUrl(row: HTMLElement): string {
  return row.querySelector<HTMLInputElement>("[data-role=relink-url]")?.value.trim() ?? "";
}

export function relinkError(row: HTMLElement, text: string): void {
  const message = row.querySelector("[data-role=relink-error]");
  if (message) setText(message, text);
}

// ---------- around the list ----------

export function showChrome(loaded: boolean, items: readonly UiItem[], port: number): void {
  $("loading").classList.toggle("hidden", loaded);
  $("empty").classList.toggle("hidden", !loaded || items.length > 0);
  setText($("status"), statusLine(items, port));
}

let toastTimer: number | undefined;
export function toast(text: string): void {
  const t = $("toast");
  t.textContent = text;
  t.classList.remove("hidden");
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => t.classList.add("hidden"), 4000);
}

export function banner(text: string | null): void {
  const b = $("banner");
  b.textContent = text ?? "";
  b.classList.toggle("hidden", !text);
  if (text) {
    const close = button("Dismiss", "dismiss", "ghost small");
    close.addEventListener("click", () => banner(null));
    b.appendChild(close);
  }
}

/** The choice offered when an added URL is the file of the failed item
 * `name`: refresh that item's link, or add a new copy. null hides it. */
export function addOffer(name: string | null): void {
  const offer = $("add-offer");
  offer.classList.toggle("hidden", name === null);
  if (name === null) {
    offer.replaceChildren();
    return;
  }
  const relink = button(`Refresh the link of ${name} instead`, "offer-relink", "primary small");
  relink.id = "offer-relink";
  const copy = button("Add as a new copy", "offer-copy", "ghost small");
  copy.id = "offer-copy";
  const cancel = button("Cancel", "offer-cancel", "ghost small");
  cancel.id = "offer-cancel";
  offer.replaceChildren(el("span", "question", `This URL is the file of “${name}”, which failed.`), relink, copy, cancel);
}
