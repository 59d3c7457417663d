// The context menu ("Play with Spool", "Download with Spool" on links,
// videos and audio). Chromium loads this as a service worker, Firefox as a
// background script after spool.js (see build.mjs).
"use strict";

if (typeof importScripts === "function") importScripts("spool.js");

const menus = [
  { id: "spool-play", title: "Play with Spool" },
  { id: "spool-download", title: "Download with Spool" },
];

Spool.api.runtime.onInstalled.addListener(() => {
  for (const { id, title } of menus) {
    Spool.api.contextMenus.create({ id, title, contexts: ["link", "video", "audio"] });
  }
});

Spool.api.contextMenus.onClicked.addListener((info) => {
  const action = info.menuItemId === "spool-play" ? "play" : "download";
  // On a <video> or <audio>, its source; on a link, its target.
  const url = info.srcUrl || info.linkUrl;
  const referer = info.frameUrl || info.pageUrl;
  if (!url) return;
  Spool.send(action, url, referer).catch((e) => {
    console.warn(`Spool: ${e.message}`);
  });
});
