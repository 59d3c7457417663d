// The client of Spool's loopback control API, shared by the background
// script and the popup (a classic script: both load it the same way in
// Chromium and Firefox). It defines one global, `Spool`.
"use strict";

// eslint-disable-next-line no-unused-vars
const Spool = (() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const DEFAULT_PORT = 17173;
  const NAME = "Spool browser extension";
  const MEDIA_EXTENSIONS = [
    "mp4", "m4v", "mkv", "webm", "mov", "avi", "ogv", "mpg", "mpeg", "ts", "flv", "wmv",
    "mp3", "m4a", "aac", "ogg", "oga", "opus", "flac", "wav", "mka",
  ];

  /** The app answered with an error (`{code, message}`). */
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** The app did not answer at all (not running, wrong port). */
  class Unreachable extends Error {}

  async function settings() {
    const got = await api.storage.local.get(["port", "token", "pairing"]);
    return {
      port: Number.isInteger(got.port) ? got.port : DEFAULT_PORT,
      token: typeof got.token === "string" ? got.token : null,
      pairing: got.pairing ?? null,
    };
  }

  async function call(method, path, body, token) {
    const { port } = await settings();
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(`http://127.0.0.1:${port}/api/${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (e) {
      throw new Unreachable(`Spool is not running on port ${port} (${e.message})`);
    }
    let json = null;
    try {
      json = await response.json();
    } catch {
      json = null;
    }
    if (!response.ok) {
      throw new ApiError(
        response.status,
        json?.code ?? "error",
        json?.message ?? `Spool answered ${response.status}`,
      );
    }
    return json;
  }

  /** Starts pairing: returns `{request, code}` and remembers it. */
  async function startPairing() {
    const started = await call("POST", "pair", { name: NAME });
    await api.storage.local.set({ pairing: { ...started, since: Date.now() } });
    return started;
  }

  /** Polls the pending pairing once: "pending", "paired", "refused" or "none". */
  async function pollPairing() {
    const { pairing } = await settings();
    if (!pairing) return "none";
    let answer;
    try {
      answer = await call("GET", `pair/${encodeURIComponent(pairing.request)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        await api.storage.local.remove("pairing");
        return "none";
      }
      throw e;
    }
    if (answer.state === "paired") {
      await api.storage.local.set({ token: answer.token });
      await api.storage.local.remove("pairing");
    } else if (answer.state === "refused") {
      await api.storage.local.remove("pairing");
    }
    return answer.state;
  }

  /** The request headers sent with a URL: the page as Referer, and the
   * site's cookies only if the user allowed this extension on that site. */
  async function headersFor(url, referer) {
    const headers = [];
    if (referer && /^https?:/i.test(referer)) headers.push(`Referer: ${referer}`);
    try {
      const origin = new URL(url).origin;
      const allowed = await api.permissions.contains({ origins: [`${origin}/*`] });
      if (allowed) {
        const cookies = await api.cookies.getAll({ url });
        if (cookies.length > 0) {
          headers.push(`Cookie: ${cookies.map((c) => `${c.name}=${c.value}`).join("; ")}`);
        }
      }
    } catch {
      // No cookies then: the Referer alone.
    }
    return headers;
  }

  /** The `spool:` link for when the app does not answer. */
  function link(action, url) {
    return `spool:${action === "play" ? "play" : "add"}?url=${encodeURIComponent(url)}`;
  }

  /**
   * Sends `url` to Spool: `action` is "play" or "download". Returns
   * `{item, fallback}`: the item, or `fallback: true` when the app did not
   * answer and a `spool:` link was opened instead (the app asks the user).
   */
  async function send(action, url, referer) {
    if (!/^https?:\/\//i.test(url)) {
      throw new ApiError(0, "not_http", "Spool plays http and https URLs only");
    }
    const { token } = await settings();
    try {
      if (!token) {
        // Is the app there at all? Pairing needs it running.
        await call("GET", "items").catch((e) => {
          if (e instanceof Unreachable) throw e;
        });
        throw new ApiError(0, "not_paired", "Pair with Spool first (in this popup)");
      }
      const headers = await headersFor(url, referer);
      const item = await call("POST", "items", { url, headers }, token);
      // No options: a paired extension plays with Spool's own player.
      if (action === "play") await call("POST", `items/${encodeURIComponent(item.id)}/play`, undefined, token);
      return { item, fallback: false };
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403) && token) {
        // The pairing was removed in the app: forget the token.
        await api.storage.local.remove("token");
        throw new ApiError(e.status, "not_paired", "Spool no longer knows this browser: pair again");
      }
      if (!(e instanceof Unreachable)) throw e;
      await api.tabs.create({ url: link(action, url) });
      return { item: null, fallback: true };
    }
  }

  /** Collects the media of the page it runs in (injected into the tab: it
   * must be self-contained). */
  function collectMedia(extensions) {
    const found = new Map();
    const add = (raw, kind, label) => {
      if (!raw) return;
      let url;
      try {
        url = new URL(raw, document.baseURI);
      } catch {
        return;
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") return;
      const key = url.href;
      if (!found.has(key)) found.set(key, { url: key, kind, label: (label || "").trim().slice(0, 120) });
    };
    for (const media of document.querySelectorAll("video, audio")) {
      const kind = media.tagName.toLowerCase();
      const label = media.getAttribute("title") || media.getAttribute("aria-label") || "";
      add(media.currentSrc, kind, label);
      add(media.getAttribute("src"), kind, label);
      for (const source of media.querySelectorAll("source[src]")) add(source.getAttribute("src"), kind, label);
    }
    for (const a of document.querySelectorAll("a[href]")) {
      let path;
      try {
        path = new URL(a.href, document.baseURI).pathname.toLowerCase();
      } catch {
        continue;
      }
      const ext = path.includes(".") ? path.slice(path.lastIndexOf(".") + 1) : "";
      if (extensions.includes(ext)) add(a.href, "link", a.textContent);
    }
    return { page: location.href, title: document.title, media: [...found.values()] };
  }

  /** The media of tab `tabId`. */
  async function mediaOf(tabId) {
    const [result] = await api.scripting.executeScript({
      target: { tabId },
      func: collectMedia,
      args: [MEDIA_EXTENSIONS],
    });
    return result?.result ?? { page: "", title: "", media: [] };
  }

  return {
    api,
    ApiError,
    Unreachable,
    settings,
    startPairing,
    pollPairing,
    send,
    mediaOf,
    collectMedia,
    link,
    MEDIA_EXTENSIONS,
    DEFAULT_PORT,
  };
})();
