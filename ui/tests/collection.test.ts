import { strict as assert } from "node:assert";
import { test } from "node:test";
import type { CollectionView } from "../bindings/CollectionView.ts";
import type { UiItem } from "../bindings/UiItem.ts";
import { groupView, memberIds } from "../collection.ts";

function item(id: string, fields: Partial<UiItem> = {}): UiItem {
  return {
    id,
    source_url: `http://origin.test/s1/${id}.mkv`,
    stream_url: `http://127.0.0.1:1/m/t/${id}.mkv`,
    name: `${id}.mkv`,
    size: 1000,
    downloaded: 0,
    state: "queued",
    pinned: false,
    error: null,
    collection: "c00000001",
    ranges: [],
    position: null,
    duration: null,
    watched: false,
    resume_at: null,
    last_played: null,
    ...fields,
  };
}

const season: CollectionView = {
  id: "c00000001",
  name: "Season 1",
  source_url: "http://origin.test/s1/",
  items: ["e1", "e2", "e3", "e10"],
};

test("a group shows its total progress and how many items are in each state", () => {
  const members = [
    item("e1", { state: "complete", downloaded: 1000 }),
    item("e2", { state: "downloading", downloaded: 500 }),
    item("e3"),
    item("e10"),
  ];
  const view = groupView(season, members);
  assert.equal(view.name, "Season 1");
  assert.equal(view.summary, "4 items · 1 complete · 1 downloading · 2 queued");
  assert.equal(view.pct, 37);
  assert.equal(view.bytes, "1.5 KiB of 3.9 KiB");
  assert.deepEqual(
    view.actions.map((a) => a.action),
    ["group-play", "group-pause", "group-pin", "group-remove"],
  );
});

test("a size not known yet gives no percentage; paused and pinned groups offer the way back", () => {
  const members = [item("e1", { size: null, state: "paused", pinned: true }), item("e2", { state: "complete", pinned: true })];
  const view = groupView(season, members);
  assert.equal(view.pct, null);
  assert.match(view.bytes, /size unknown/);
  assert.deepEqual(
    view.actions.map((a) => a.label),
    ["▶ Play all", "Resume all", "Unpin all", "Remove all"],
  );
});

test("members keep the collection's order, without items the window lacks", () => {
  assert.deepEqual(
    memberIds(season, (id) => id !== "e3"),
    ["e1", "e2", "e10"],
  );
});
