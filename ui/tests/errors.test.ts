import { strict as assert } from "node:assert";
import { test } from "node:test";
import { addFailure, asCommandError, errorMessage, relinkFailure } from "../errors.ts";

test("a rejection is read as a code and a message, whatever its shape", () => {
  assert.equal(errorMessage({ code: "not_found", message: "no item x" }), "no item x");
  assert.equal(errorMessage("command relink_item not found"), "command relink_item not found");
  assert.equal(asCommandError("text").code, "unknown");
  assert.deepEqual(asCommandError({ code: "invalid_settings", message: "m", fields: [{ field: "cache_cap", message: "at least 16.0 MiB" }] }).fields, [
    { field: "cache_cap", message: "at least 16.0 MiB" },
  ]);
});

test("an added URL that is a failed item's file offers that item", () => {
  assert.deepEqual(addFailure({ code: "matches_failed_item", message: "same file as x", item: "x" }), {
    kind: "same_as_failed",
    id: "x",
  });
  assert.deepEqual(addFailure({ code: "matches_failed_item", message: "same file" }), {
    kind: "message",
    text: "Cannot add this URL: same file",
  });
  assert.deepEqual(addFailure({ code: "invalid_url", message: "not a URL" }), {
    kind: "message",
    text: "Cannot add this URL: not a URL",
  });
});

test("a new link to another file is told in the row; other failures in the banner", () => {
  assert.deepEqual(relinkFailure({ code: "not_the_same_file", message: "that URL is another file (12 MiB, not 40 MiB)" }), {
    where: "row",
    text: "that URL is another file (12 MiB, not 40 MiB)",
  });
  assert.deepEqual(relinkFailure({ code: "not_found", message: "no item x" }), {
    where: "banner",
    text: "Cannot refresh the link: no item x",
  });
});
