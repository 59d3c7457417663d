// Run from the repository root (npm test): the size table is the engine's.
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { UiItem } from "../bindings/UiItem.ts";
import { formatClock, formatRate, formatSize, hostOf, percent, statusLine } from "../format.ts";

/** The table `format_size` (tray, CLI) is tested against in Rust. */
const SIZE_CASES: [number, string][] = JSON.parse(
  readFileSync("src-tauri/engine/testdata/format_size.json", "utf8"),
);

test("sizes are formatted as the tray formats them", () => {
  assert.ok(SIZE_CASES.length >= 10);
  for (const [bytes, want] of SIZE_CASES) assert.equal(formatSize(bytes), want, `${bytes}`);
});

test("ten GiB reads as the tray says it", () => {
  assert.equal(formatSize(10 * 2 ** 30), "10.0 GiB");
});

test("a rate is a size per second", () => {
  assert.equal(formatRate(0), "0 B/s");
  assert.equal(formatRate(1536), "1.5 KiB/s");
  assert.equal(formatRate(3 * 2 ** 20), "3.0 MiB/s");
});

test("percent is rounded down, 100 for an empty file, null when the size is unknown", () => {
  const table: [number, number | null, number | null][] = [
    [0, 100, 0],
    [99, 100, 99],
    [999, 1000, 99],
    [1000, 1000, 100],
    [1200, 1000, 100],
    [0, 0, 100],
    [5, null, null],
  ];
  for (const [downloaded, size, want] of table) assert.equal(percent(downloaded, size), want, `${downloaded}/${size}`);
});

test("a position reads as players show it", () => {
  const table: [number, string][] = [
    [0, "0:00"],
    [7.9, "0:07"],
    [2472, "41:12"],
    [3723.5, "1:02:03"],
    [Number.NaN, "0:00"],
    [-3, "0:00"],
  ];
  for (const [seconds, want] of table) assert.equal(formatClock(seconds), want, String(seconds));
});

test("the host of a URL, or nothing", () => {
  assert.equal(hostOf("https://example.org:8443/film.mkv"), "example.org:8443");
  assert.equal(hostOf("not a url"), "");
});

function item(id: string, state: UiItem["state"], downloaded: number): UiItem {
  return {
    id,
    source_url: `http://origin/${id}.mkv`,
    stream_url: `http://127.0.0.1:1/m/t/${id}.mkv`,
    name: `${id}.mkv`,
    size: 4 << 20,
    downloaded,
    state,
    pinned: false,
    error: null,
    collection: null,
    ranges: [],
    position: null,
    duration: null,
    watched: false,
    resume_at: null,
    last_played: null,
  };
}

test("the status line counts items, bytes, downloads and the queue", () => {
  assert.equal(statusLine([], 0), "0 items · 0 B cached");
  assert.equal(statusLine([item("a", "complete", 1 << 20)], 0), "1 item · 1.0 MiB cached");
  assert.equal(
    statusLine([item("a", "downloading", 1 << 20), item("b", "queued", 0), item("c", "paused", 1 << 20)], 9000),
    "3 items · 2.0 MiB cached · 1 downloading · 1 queued · engine on 127.0.0.1:9000",
  );
});
