// The confirmation dialog: one question at a time from a queue (spool:
// links and pairing requests can arrive together). What each says comes
// from handoff.ts; the answers go to the app's commands.
import type { Handoff } from "./bindings/Handoff.ts";
import type { RequestView } from "./bindings/RequestView.ts";
import { commands } from "./commands.ts";
import { errorMessage } from "./errors.ts";
import { type Dialog, handoffDialog, pairingDialog } from "./handoff.ts";
import { $, banner, toast } from "./render.ts";

type Prompt = { kind: "handoff"; handoff: Handoff } | { kind: "pairing"; request: RequestView };

const queue: Prompt[] = [];

function key(p: Prompt): string {
  return p.kind === "handoff" ? `h:${p.handoff.id}` : `p:${p.request.request}`;
}

/** Adds a prompt, or replaces the queued one with the same id (a handoff's
 * size arrives after it was first shown). */
export function ask(p: Prompt): void {
  const index = queue.findIndex((q) => key(q) === key(p));
  if (index >= 0) queue[index] = p;
  else queue.push(p);
  if (index <= 0) draw();
}

function draw(): void {
  const box = $("prompt");
  const current = queue[0];
  box.classList.toggle("hidden", !current);
  if (!current) return;
  const dialog: Dialog = current.kind === "handoff" ? handoffDialog(current.handoff) : pairingDialog(current.request);
  box.dataset.kind = current.kind;
  $("prompt-title").textContent = dialog.title;
  const lines = $("prompt-lines");
  lines.replaceChildren(
    ...dialog.lines.map((text) => {
      const p = document.createElement("p");
      p.textContent = text;
      return p;
    }),
  );
  const buttons = $("prompt-buttons");
  buttons.replaceChildren(
    ...dialog.buttons.map(([action, label], i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.answer = action;
      b.className = i === 0 ? "primary" : "ghost";
      b.addEventListener("click", () => void answer(current, action));
      return b;
    }),
  );
  (buttons.firstElementChild as HTMLButtonElement | null)?.focus();
}

async function answer(p: Prompt, action: string): Promise<void> {
  queue.splice(
    queue.findIndex((q) => key(q) === key(p)),
    1,
  );
  draw();
  try {
    if (p.kind === "handoff") {
      const choice = action === "play" || action === "download" ? action : "cancel";
      const result = await commands.answerHandoff(p.handoff.id, choice);
      if (choice === "play" && result) toast(`Playing with ${result}`);
      else if (choice === "download") toast("Added to Spool");
    } else {
      await commands.answerPairing(p.request.request, action === "confirm");
      toast(action === "confirm" ? "The browser extension is paired" : "Pairing refused");
    }
  } catch (e) {
    banner(errorMessage(e));
  }
}

/** What was waiting before the window listened (the first launch's link,
 * a pairing request made while the window was closed). */
export async function loadPending(): Promise<void> {
  for (const handoff of await commands.pendingHandoffs()) ask({ kind: "handoff", handoff });
  for (const request of (await commands.listPairings()).requests) ask({ kind: "pairing", request });
}
