// Text for people: sizes, rates, percentages, hosts and the status line.
// Pure (no DOM, no IPC), unit-tested in tests/format.test.ts. Sizes follow
// the engine's `format_size` (the tray's and the CLI's) to the character:
// both are checked against src-tauri/engine/testdata/format_size.json.
import type { ItemState } from "./bindings/ItemState.ts";
import type { UiItem } from "./bindings/UiItem.ts";

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/** `512 B`, `1.5 KiB`, `10.0 GiB`: whole bytes below 1 KiB; else one
 * decimal, rounded half up, in the largest unit that keeps the rounded
 * number below 1024. BigInt, so the rounding is exact as in Rust. */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) return `${bytes} B`;
  if (bytes < 1024) return `${bytes} B`;
  const n = BigInt(bytes);
  for (let unit = 0; ; unit++) {
    const divisor = 1n << BigInt(10 * (unit + 1));
    const tenths = (n * 10n + divisor / 2n) / divisor;
    if (tenths < 10240n || unit + 1 === UNITS.length) {
      return `${tenths / 10n}.${tenths % 10n} ${UNITS[unit]}`;
    }
  }
}

/** A download rate: `1.5 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(bytesPerSecond)}/s`;
}

/** A position in a video, as players show it: `0:07`, `41:12`, `1:02:03`
 * (seconds rounded down). */
export function formatClock(seconds: number): string {
  const total = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Percent done, rounded down (as the tray), or null when the size is unknown. */
export function percent(downloaded: number, size: number | null): number | null {
  if (size === null) return null;
  if (size === 0) return 100;
  return Math.floor((Math.min(downloaded, size) * 100) / size);
}

export const STATE_LABEL: Record<ItemState, string> = {
  queued: "Queued",
  downloading: "Downloading",
  paused: "Paused",
  complete: "Complete",
  failed: "Failed",
};

/** The host of a URL, or "" when it is not one. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}

/** The footer: `3 items · 1.2 GiB cached · 1 downloading · 2 queued · engine on 127.0.0.1:PORT`. */
export function statusLine(items: readonly UiItem[], port: number): string {
  const active = items.filter((i) => i.state === "downloading").length;
  const queued = items.filter((i) => i.state === "queued").length;
  const bytes = items.reduce((sum, i) => sum + i.downloaded, 0);
  const parts = [`${items.length} item${items.length === 1 ? "" : "s"}`, `${formatSize(bytes)} cached`];
  if (active > 0) parts.push(`${active} downloading`);
  if (queued > 0) parts.push(`${queued} queued`);
  if (port) parts.push(`engine on 127.0.0.1:${port}`);
  return parts.join(" · ");
}
