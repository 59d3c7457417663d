import { strict as assert } from "node:assert";
import { test } from "node:test";
import type { Handoff } from "../bindings/Handoff.ts";
import { handoffDialog, pairingDialog } from "../handoff.ts";

const base: Handoff = {
  id: "1",
  link: "spool:play?url=…",
  action: "play",
  url: "https://media.example/a.mkv",
  host: "media.example",
  size: 1536,
  refused: null,
};

test("a play link offers Play first and shows the URL, host and size", () => {
  const d = handoffDialog(base);
  assert.deepEqual(
    d.buttons.map(([a]) => a),
    ["play", "download", "cancel"],
  );
  assert.ok(d.lines.includes("https://media.example/a.mkv"));
  assert.ok(d.lines.some((l) => l.includes("media.example") && l.includes("1.5 KiB")));
});

test("an add link offers Download first; an unknown size says so", () => {
  const d = handoffDialog({ ...base, action: "add", size: null });
  assert.equal(d.buttons[0][0], "download");
  assert.ok(d.lines.some((l) => l.includes("size unknown")));
});

test("a refused link can only be closed and says why", () => {
  const d = handoffDialog({ ...base, action: null, url: null, host: null, size: null, refused: "Spool refused this link: only http and https URLs can be opened from a link, not \"file\". Nothing was added." });
  assert.deepEqual(d.buttons, [["cancel", "Close"]]);
  assert.ok(d.lines[0].includes("file"));
});

test("a pairing request shows the extension's origin and code", () => {
  const d = pairingDialog({ request: "r", origin: "chrome-extension://abc", name: "Spool browser extension", code: "123456" });
  assert.ok(d.lines.some((l) => l.includes("chrome-extension://abc")));
  assert.ok(d.lines.some((l) => l.includes("123456")));
  assert.deepEqual(
    d.buttons.map(([a]) => a),
    ["confirm", "refuse"],
  );
});
