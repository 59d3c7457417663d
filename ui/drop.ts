// What a drop on the window carries: the URLs in a dragged link
// (text/uri-list, text/plain) or in dropped `.m3u` / `.url` files. Pure (no
// DOM, no IPC), unit-tested in tests/drop.test.ts; main.ts reads the
// DataTransfer and adds (or plays) what this returns.

/** Only these are added; anything else in a drop is ignored. */
function isHttp(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.host !== "";
  } catch {
    return false;
  }
}

function unique(urls: string[]): string[] {
  return [...new Set(urls)];
}

/** `text/uri-list` (RFC 2483): one URI per line, `#` lines are comments. */
export function fromUriList(text: string): string[] {
  return unique(
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#") && isHttp(l)),
  );
}

/** `text/plain`: a dragged URL, or several separated by whitespace. */
export function fromPlainText(text: string): string[] {
  return unique(text.split(/\s+/).filter(isHttp));
}

/** An M3U playlist: every non-comment line that is an http(s) URL
 * (relative entries have no base to resolve against and are skipped). */
export function fromM3u(text: string): string[] {
  return fromUriList(text.replace(/^\uFEFF/, ""));
}

/** A Windows / KDE internet shortcut: `URL=` in `[InternetShortcut]`. */
export function fromUrlFile(text: string): string[] {
  let inSection = false;
  for (const raw of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("[")) inSection = line.toLowerCase() === "[internetshortcut]";
    else if (inSection && /^url\s*=/i.test(line)) {
      const url = line.slice(line.indexOf("=") + 1).trim();
      return isHttp(url) ? [url] : [];
    }
  }
  return [];
}

/** How to read a dropped file, from its name; `null`: not one Spool reads. */
export function fileKind(name: string): "m3u" | "url" | null {
  const lower = name.toLowerCase();
  if (lower.endsWith(".m3u") || lower.endsWith(".m3u8")) return "m3u";
  if (lower.endsWith(".url")) return "url";
  return null;
}

/** The URLs of a dropped file's text. */
export function fromFile(name: string, text: string): string[] {
  switch (fileKind(name)) {
    case "m3u":
      return fromM3u(text);
    case "url":
      return fromUrlFile(text);
    default:
      return [];
  }
}

/** The URLs of a drop's string data: the URI list first, else the text. */
export function fromStrings(uriList: string, plain: string): string[] {
  const listed = fromUriList(uriList);
  return listed.length > 0 ? listed : fromPlainText(plain);
}
