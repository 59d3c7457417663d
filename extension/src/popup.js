// The toolbar popup: the media of the current page, each with Play and
// Download; pairing with the app the first time; options (port, cookies).
"use strict";

const $ = (id) => document.getElementById(id);
let page = { page: "", title: "", media: [] };
let polling = null;

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

/** The tab whose media is listed: `?tab=ID` (the popup opened as a page),
 * else the active tab of this window. */
async function targetTab() {
  const id = Number(new URLSearchParams(location.search).get("tab"));
  if (Number.isInteger(id) && id > 0) return id;
  const [tab] = await Spool.api.tabs.query({ active: true, currentWindow: true });
  return tab?.id;
}

function fileName(url) {
  try {
    const path = new URL(url).pathname;
    return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1)) || url;
  } catch {
    return url;
  }
}

function renderMedia() {
  const list = $("media");
  list.replaceChildren();
  $("empty").classList.toggle("hidden", page.media.length > 0);
  for (const entry of page.media) {
    const li = document.createElement("li");
    li.dataset.url = entry.url;
    const what = document.createElement("div");
    what.className = "what";
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = entry.label || fileName(entry.url);
    name.title = entry.url;
    const kind = document.createElement("div");
    kind.className = "kind";
    kind.textContent = entry.kind;
    what.append(name, kind);
    const play = document.createElement("button");
    play.textContent = "Play";
    play.className = "primary play";
    play.addEventListener("click", () => send("play", entry.url));
    const download = document.createElement("button");
    download.textContent = "Download";
    download.className = "download";
    download.addEventListener("click", () => send("download", entry.url));
    li.append(what, play, download);
    list.append(li);
  }
}

async function send(action, url) {
  status(action === "play" ? "Sending to your player…" : "Adding to Spool…");
  try {
    const { item, fallback } = await Spool.send(action, url, page.page);
    if (fallback) status("Spool did not answer: opened a spool: link instead");
    else status(action === "play" ? `Playing ${item.name}` : `Downloading ${item.name}`);
  } catch (e) {
    status(e.message, true);
    if (e.code === "not_paired") await showConnection();
  }
}

async function showConnection() {
  const { token, pairing, port } = await Spool.settings();
  $("port").value = String(port);
  $("pair").classList.toggle("hidden", Boolean(token));
  $("connection").textContent = token ? "paired" : "not paired";
  if (!token && pairing) waitForPairing(pairing.code);
}

function waitForPairing(code) {
  $("pair-code").textContent = code;
  $("pair-code").classList.remove("hidden");
  $("pair-text").textContent = "Confirm in Spool's window that it shows this code:";
  $("pair-button").disabled = true;
  if (polling) return;
  polling = setInterval(async () => {
    try {
      const state = await Spool.pollPairing();
      if (state === "pending") return;
      clearInterval(polling);
      polling = null;
      $("pair-code").classList.add("hidden");
      $("pair-button").disabled = false;
      $("pair-text").textContent = "Pair this browser with Spool to send it media.";
      if (state === "paired") status("Paired with Spool");
      else if (state === "refused") status("Spool refused the pairing", true);
      else status("The pairing request expired: try again", true);
      await showConnection();
    } catch (e) {
      status(e.message, true);
    }
  }, 500);
}

async function pair() {
  try {
    const { code } = await Spool.startPairing();
    status("Waiting for you to confirm in Spool…");
    waitForPairing(code);
  } catch (e) {
    status(e.message, true);
  }
}

async function showCookieOption() {
  let origin;
  try {
    origin = new URL(page.page).origin;
  } catch {
    $("cookies").disabled = true;
    return;
  }
  if (!/^https?:/.test(origin)) {
    $("cookies").disabled = true;
    return;
  }
  $("cookies").checked = await Spool.api.permissions.contains({ origins: [`${origin}/*`] });
  $("cookies").addEventListener("change", async () => {
    const origins = [`${origin}/*`];
    // A user gesture: the browser asks the user to allow this one site.
    const ok = $("cookies").checked
      ? await Spool.api.permissions.request({ origins })
      : !(await Spool.api.permissions.remove({ origins }));
    $("cookies").checked = $("cookies").checked ? ok : !ok;
  });
}

async function main() {
  $("pair-button").addEventListener("click", pair);
  $("port").addEventListener("change", async () => {
    const port = Number($("port").value);
    if (Number.isInteger(port) && port > 0 && port < 65536) {
      await Spool.api.storage.local.set({ port });
      status(`Spool's port is ${port}`);
    } else {
      status("A port is a number from 1 to 65535", true);
    }
  });
  await showConnection();
  try {
    const tab = await targetTab();
    page = await Spool.mediaOf(tab);
    $("page-title").textContent = page.title || page.page;
  } catch (e) {
    status(`Cannot read this page: ${e.message}`, true);
  }
  renderMedia();
  await showCookieOption();
  document.body.dataset.ready = "true";
}

main();
