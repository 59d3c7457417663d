// Confirmation dialogs for what arrives from outside the window: a URL from
// a `spool:` link (Play / Download / Cancel) and a browser extension asking
// to pair (Confirm / Refuse). What to say is decided here (pure, tested in
// tests/handoff.test.ts); main.ts draws it and sends the answer.
import type { Handoff } from "./bindings/Handoff.ts";
import type { RequestView } from "./bindings/RequestView.ts";
import { formatSize } from "./format.ts";

export interface Dialog {
  title: string;
  lines: string[];
  /** [action, label], the first is the default. */
  buttons: [string, string][];
}

export function handoffDialog(h: Handoff): Dialog {
  if (h.refused !== null || h.url === null) {
    return {
      title: "A link was refused",
      lines: [h.refused ?? "Spool refused this link. Nothing was added.", h.link],
      buttons: [["cancel", "Close"]],
    };
  }
  const size = h.size === null ? "size unknown" : formatSize(h.size);
  const asks = h.action === "play" ? "A link asks Spool to play:" : "A link asks Spool to download:";
  const play: [string, string] = ["play", "Play"];
  const download: [string, string] = ["download", "Download"];
  return {
    title: "Open this media?",
    lines: [asks, h.url, `From ${h.host ?? "an unknown host"} · ${size}`],
    buttons: h.action === "play" ? [play, download, ["cancel", "Cancel"]] : [download, play, ["cancel", "Cancel"]],
  };
}

export function pairingDialog(r: RequestView): Dialog {
  return {
    title: "Pair a browser extension?",
    lines: [
      `${r.name} asks to add and play media in Spool.`,
      `Extension: ${r.origin}`,
      `Its popup shows the code ${r.code}. Confirm only if it is the same.`,
    ],
    buttons: [
      ["confirm", "Confirm"],
      ["refuse", "Refuse"],
    ],
  };
}
