import { strict as assert } from "node:assert";
import { test } from "node:test";
import type { UiItem } from "../bindings/UiItem.ts";
import { patchable, rowView, withProgress } from "../row.ts";

function item(fields: Partial<UiItem> = {}): UiItem {
  return {
    id: "a1",
    source_url: "http://origin.test/films/film.mkv",
    stream_url: "http://127.0.0.1:1/m/t/film.mkv",
    name: "film.mkv",
    size: 1000,
    downloaded: 250,
    state: "downloading",
    pinned: false,
    error: null,
    collection: null,
    ranges: [[0, 250]],
    position: null,
    duration: null,
    watched: false,
    resume_at: null,
    last_played: null,
    ...fields,
  };
}

const actionsOf = (i: UiItem) => rowView(i, 0).actions.map((a) => a.action);

test("each state has its buttons; a failed item offers to refresh its link", () => {
  const table: [UiItem["state"], string[]][] = [
    ["queued", ["play", "pause", "front", "pin", "copy", "remove"]],
    ["downloading", ["play", "pause", "pin", "copy", "remove"]],
    ["paused", ["play", "resume", "pin", "copy", "remove"]],
    ["complete", ["play", "pin", "copy", "remove"]],
    ["failed", ["play", "resume", "relink", "pin", "copy", "remove"]],
  ];
  for (const [state, want] of table) assert.deepEqual(actionsOf(item({ state })), want, state);
  assert.deepEqual(
    rowView(item({ state: "failed" }), 0).actions.slice(1, 3).map((a) => a.label),
    ["Retry", "Refresh link"],
  );
  assert.deepEqual(actionsOf(item({ pinned: true })), ["play", "pause", "unpin", "copy", "remove"]);
});

test("the row's texts", () => {
  const view = rowView(item(), 2048);
  assert.equal(view.stateLabel, "Downloading");
  assert.equal(view.bytes, "250 B of 1000 B");
  assert.equal(view.pct, "25 %");
  assert.equal(view.rate, "2.0 KiB/s");
  assert.equal(view.host, "origin.test");
  assert.equal(view.title, "http://origin.test/films/film.mkv");
  assert.equal(view.error, null);

  const unknown = rowView(item({ size: null, ranges: [] }), 0);
  assert.equal(unknown.bytes, "250 B of size unknown");
  assert.equal(unknown.pct, null);
  assert.equal(unknown.rate, null, "no rate shown at 0 B/s");
  assert.equal(rowView(item({ state: "paused" }), 2048).rate, null, "a rate only while downloading");

  const failed = rowView(item({ state: "failed", error: "the origin answered 404" }), 0);
  assert.deepEqual(failed.error, { text: "the origin answered 404", failed: true });
  assert.deepEqual(rowView(item({ state: "paused", error: "disk full" }), 0).error, { text: "disk full", failed: false });
});

test("the bar: present ranges in percent, full, or indeterminate", () => {
  assert.deepEqual(rowView(item({ ranges: [[0, 250], [500, 501]] }), 0).bar, {
    kind: "parts",
    parts: [
      { left: 0, width: 25 },
      { left: 50, width: 0.3 },
    ],
  });
  assert.deepEqual(rowView(item({ size: null, state: "complete", ranges: [] }), 0).bar, { kind: "full" });
  assert.deepEqual(rowView(item({ size: null, ranges: [] }), 0).bar, { kind: "indeterminate" });
});

test("progress is drawn in place; a change of buttons, pin, name or error builds the row again", () => {
  const shown = rowView(item(), 100);
  const progressed = withProgress(item(), {
    type: "progress",
    id: "a1",
    downloaded: 600,
    size: 1000,
    rate: 300,
    ranges: [[0, 600]],
  });
  assert.ok(patchable(shown, rowView(progressed, 300)), "bytes, percent, rate and bar only");
  assert.ok(
    !patchable(rowView(item({ state: "queued" }), 0), shown),
    "a queued row has its own button (Download next): it is built again when it starts",
  );
  const rebuilt: Partial<UiItem>[] = [
    { state: "paused" },
    { state: "failed", error: "gone" },
    { pinned: true },
    { name: "other.mkv" },
    { error: "slow origin" },
  ];
  for (const fields of rebuilt) assert.ok(!patchable(shown, rowView(item(fields), 100)), JSON.stringify(fields));
});

test("bytes arriving mean downloading; other states stay", () => {
  const ev = { type: "progress" as const, id: "a1", downloaded: 10, size: 1000, rate: 5, ranges: [[0, 10]] as [number, number][] };
  assert.equal(withProgress(item({ state: "queued" }), ev).state, "downloading");
  assert.equal(withProgress(item({ state: "queued" }), { ...ev, rate: 0 }).state, "queued");
  assert.equal(withProgress(item({ state: "paused" }), ev).state, "paused");
  const next = withProgress(item(), ev);
  assert.deepEqual([next.downloaded, next.size, next.ranges], [10, 1000, [[0, 10]]]);
});

test("a saved position: Play resumes there, and playing from the start is offered", () => {
  const resumable = item({ state: "complete", position: 2472.4, duration: 5400, resume_at: 2472.4 });
  const view = rowView(resumable, 0);
  assert.deepEqual(
    view.actions.slice(0, 2).map((a) => [a.label, a.action]),
    [
      ["▶ Resume at 41:12", "play"],
      ["Play from start", "play-from-start"],
    ],
  );
  assert.deepEqual(rowView(item({ state: "complete" }), 0).actions[0].label, "▶ Play");
  // A new position changes the button: the row is built again.
  assert.equal(patchable(view, rowView({ ...resumable, resume_at: 2500 }, 0)), false);
});

test("a watched item shows its mark and plays from the start", () => {
  const watched = rowView(item({ state: "complete", position: 29.9, duration: 30, watched: true }), 0);
  assert.equal(watched.watched, true);
  assert.deepEqual(watched.actions[0].label, "▶ Play");
  assert.equal(patchable(rowView(item({ state: "complete" }), 0), watched), false);
});
