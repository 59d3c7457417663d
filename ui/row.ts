// What one row of the list shows, as a value: the renderer builds a row from
// it, and on a progress event updates only the nodes whose text changed.
// Pure, unit-tested in tests/row.test.ts.
import type { UiEvent } from "./bindings/UiEvent.ts";
import type { UiItem } from "./bindings/UiItem.ts";
import { formatClock, formatRate, formatSize, hostOf, percent, STATE_LABEL } from "./format.ts";

type Progress = Extract<UiEvent, { type: "progress" }>;

/** A row button: its label, its `data-action` and its classes. */
export interface ActionButton {
  label: string;
  action: string;
  cls: string;
}

/** A bar segment, in percent of the bar's width. */
export interface BarPart {
  left: number;
  width: number;
}

export type Bar = { kind: "parts"; parts: BarPart[] } | { kind: "full" } | { kind: "indeterminate" };

export interface RowView {
  id: string;
  name: string;
  /** The name's tooltip: the source URL. */
  title: string;
  pinned: boolean;
  /** Played to its end (or 90 %): the row shows a mark. */
  watched: boolean;
  state: UiItem["state"];
  stateLabel: string;
  bar: Bar;
  /** `12.0 MiB of 40.0 MiB`. */
  bytes: string;
  pct: string | null;
  rate: string | null;
  host: string;
  error: { text: string; failed: boolean } | null;
  actions: ActionButton[];
}

/** Narrowest a present range is drawn, in percent, so one is visible. */
const MIN_PART_WIDTH = 0.3;

export function bar(item: UiItem): Bar {
  const size = item.size;
  if (size && size > 0) {
    return {
      kind: "parts",
      parts: item.ranges.map(([start, end]) => ({
        left: (start / size) * 100,
        width: Math.max(((end - start) / size) * 100, MIN_PART_WIDTH),
      })),
    };
  }
  return item.state === "complete" ? { kind: "full" } : { kind: "indeterminate" };
}

export function actions(item: UiItem): ActionButton[] {
  // A saved position: Play resumes there, and playing from the start is offered.
  const out: ActionButton[] =
    item.resume_at === null
      ? [{ label: "▶ Play", action: "play", cls: "primary small" }]
      : [
          { label: `▶ Resume at ${formatClock(item.resume_at)}`, action: "play", cls: "primary small" },
          { label: "Play from start", action: "play-from-start", cls: "ghost small" },
        ];
  if (item.state === "paused") out.push({ label: "Resume", action: "resume", cls: "ghost small" });
  else if (item.state === "failed") {
    out.push({ label: "Retry", action: "resume", cls: "ghost small" });
    out.push({ label: "Refresh link", action: "relink", cls: "ghost small" });
  } else if (item.state !== "complete") out.push({ label: "Pause", action: "pause", cls: "ghost small" });
  if (item.state === "queued") out.push({ label: "Download next", action: "front", cls: "ghost small" });
  out.push(
    item.pinned
      ? { label: "Unpin", action: "unpin", cls: "ghost small" }
      : { label: "Pin", action: "pin", cls: "ghost small" },
  );
  out.push({ label: "Copy URL", action: "copy", cls: "ghost small" });
  out.push({ label: "Remove", action: "remove", cls: "ghost small danger" });
  return out;
}

/** `rate`: the item's last rate in bytes per second (shown while downloading). */
export function rowView(item: UiItem, rate: number): RowView {
  const p = percent(item.downloaded, item.size);
  return {
    id: item.id,
    name: item.name,
    title: item.source_url,
    pinned: item.pinned,
    watched: item.watched,
    state: item.state,
    stateLabel: STATE_LABEL[item.state],
    bar: bar(item),
    bytes: `${formatSize(item.downloaded)} of ${item.size === null ? "size unknown" : formatSize(item.size)}`,
    pct: p === null ? null : `${p} %`,
    rate: item.state === "downloading" && rate > 0 ? formatRate(rate) : null,
    host: hostOf(item.source_url),
    error: item.error ? { text: item.error, failed: item.state === "failed" } : null,
    actions: actions(item),
  };
}

/** Whether `next` can be shown by updating `shown`'s nodes in place (text,
 * bar, state badge) rather than building the row again: the same name, pin,
 * error line and buttons. */
export function patchable(shown: RowView, next: RowView): boolean {
  return (
    shown.id === next.id &&
    shown.name === next.name &&
    shown.title === next.title &&
    shown.pinned === next.pinned &&
    shown.watched === next.watched &&
    shown.error?.text === next.error?.text &&
    shown.error?.failed === next.error?.failed &&
    shown.actions.length === next.actions.length &&
    shown.actions.every((a, i) => a.action === next.actions[i].action && a.label === next.actions[i].label)
  );
}

/** The item after a progress event. Bytes arriving mean downloading, even
 * if no state change said so yet. */
export function withProgress(item: UiItem, ev: Progress): UiItem {
  const state = item.state === "queued" && ev.rate > 0 ? "downloading" : item.state;
  return { ...item, state, downloaded: ev.downloaded, size: ev.size, ranges: ev.ranges };
}
