// What a collection's group heading shows, as a value: its name, how many
// items, its total progress and its buttons. Pure, unit-tested in
// tests/collection.test.ts; drawn by render.ts.
import type { CollectionView } from "./bindings/CollectionView.ts";
import type { UiItem } from "./bindings/UiItem.ts";
import { formatSize, percent } from "./format.ts";
import type { ActionButton } from "./row.ts";

export interface GroupView {
  id: string;
  name: string;
  /** `4 items · 2 complete · 1 downloading`. */
  summary: string;
  /** `12.0 MiB of 40.0 MiB`, sizes still unknown said so. */
  bytes: string;
  /** Total progress in percent (for the bar), or null while a size is unknown. */
  pct: number | null;
  actions: ActionButton[];
}

/** `members`: the collection's items that the window has, in its order. */
export function groupView(c: CollectionView, members: readonly UiItem[]): GroupView {
  const known = members.every((m) => m.size !== null);
  const size = members.reduce((sum, m) => sum + (m.size ?? 0), 0);
  const downloaded = members.reduce((sum, m) => sum + m.downloaded, 0);
  const count = (state: UiItem["state"]) => members.filter((m) => m.state === state).length;
  const parts = [`${members.length} item${members.length === 1 ? "" : "s"}`];
  for (const [state, label] of [
    ["complete", "complete"],
    ["downloading", "downloading"],
    ["queued", "queued"],
    ["paused", "paused"],
    ["failed", "failed"],
  ] as const) {
    const n = count(state);
    if (n > 0) parts.push(`${n} ${label}`);
  }
  const allPaused = members.length > 0 && members.every((m) => m.state === "paused" || m.state === "complete");
  const allPinned = members.length > 0 && members.every((m) => m.pinned);
  return {
    id: c.id,
    name: c.name,
    summary: parts.join(" · "),
    bytes: `${formatSize(downloaded)} of ${known ? formatSize(size) : "size unknown"}`,
    pct: known ? percent(downloaded, size) : null,
    actions: [
      { label: "▶ Play all", action: "group-play", cls: "primary small" },
      allPaused
        ? { label: "Resume all", action: "group-resume", cls: "ghost small" }
        : { label: "Pause all", action: "group-pause", cls: "ghost small" },
      allPinned
        ? { label: "Unpin all", action: "group-unpin", cls: "ghost small" }
        : { label: "Pin all", action: "group-pin", cls: "ghost small" },
      { label: "Remove all", action: "group-remove", cls: "ghost small danger" },
    ],
  };
}

/** The ids of a collection's items in its order, those the window lacks left out. */
export function memberIds(c: CollectionView, has: (id: string) => boolean): string[] {
  return c.items.filter(has);
}
