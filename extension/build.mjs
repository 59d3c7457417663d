// Builds the extension from src/ for each browser: an unpacked folder and a
// zip under target/extension/. One source; Firefox's manifest differs only
// in what Firefox needs (a background script instead of a service worker,
// an add-on id and the minimum version).
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const out = join(here, "..", "target", "extension");
const base = JSON.parse(readFileSync(join(src, "manifest.json"), "utf8"));

const browsers = {
  chromium: (m) => m,
  firefox: (m) => ({
    ...m,
    // Firefox runs MV3 background code as an event page, not a worker.
    background: { scripts: ["spool.js", "background.js"] },
    browser_specific_settings: {
      gecko: {
        id: "extension@spool.invalid",
        strict_min_version: "142.0",
        // Nothing leaves the machine: the extension talks to 127.0.0.1 only.
        data_collection_permissions: { required: ["none"] },
      },
    },
  }),
};

mkdirSync(out, { recursive: true });
for (const [browser, adapt] of Object.entries(browsers)) {
  const dir = join(out, browser);
  rmSync(dir, { recursive: true, force: true });
  cpSync(src, dir, { recursive: true });
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(adapt(structuredClone(base)), null, 2)}\n`);
  const zip = join(out, `spool-${browser}-${base.version}.zip`);
  rmSync(zip, { force: true });
  execFileSync("zip", ["-q", "-r", "-X", zip, "."], { cwd: dir });
  console.log(`${dir}\n${zip}`);
}
