// Drag and drop onto the window: links and `.m3u` / `.url` files are added;
// dropped on the Play area, the first one is also played. Reading the drop
// is here; what it means is decided in drop.ts.
import { fileKind, fromFile, fromStrings } from "./drop.ts";
import { $ } from "./render.ts";

/** `urls` were dropped; `play`: on the Play area. */
export type OnDrop = (urls: string[], play: boolean) => void;

async function urlsOf(data: DataTransfer): Promise<string[]> {
  const files = [...data.files].filter((f) => fileKind(f.name) !== null);
  if (files.length > 0) {
    const texts = await Promise.all(files.map(async (f) => fromFile(f.name, await f.text())));
    return [...new Set(texts.flat())];
  }
  return fromStrings(data.getData("text/uri-list"), data.getData("text/plain"));
}

export function wireDrop(onDrop: OnDrop): void {
  const overlay = $("drop");
  let depth = 0;
  const hide = () => {
    depth = 0;
    overlay.classList.add("hidden");
    for (const z of overlay.querySelectorAll(".drop-zone")) z.classList.remove("over");
  };
  document.addEventListener("dragenter", (e) => {
    e.preventDefault();
    depth++;
    overlay.classList.remove("hidden");
  });
  document.addEventListener("dragleave", () => {
    depth--;
    if (depth <= 0) hide();
  });
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    const zone = (e.target as HTMLElement).closest?.(".drop-zone");
    for (const z of overlay.querySelectorAll(".drop-zone")) z.classList.toggle("over", z === zone);
  });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    const play = (e.target as HTMLElement).closest?.("[data-zone='play']") !== null;
    const data = e.dataTransfer;
    hide();
    if (!data) return;
    void urlsOf(data).then((urls) => onDrop(urls, play));
  });
}
