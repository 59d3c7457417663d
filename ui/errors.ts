// What a rejected command means for the window. Pure, unit-tested.
import type { UiError } from "./bindings/UiError.ts";

/** Any rejection of a command as a `UiError` (Tauri rejects with the
 * serialized `UiError`; anything else, e.g. a missing command, is text).
 * `item` names the failed item an added URL is the same file as
 * (`matches_failed_item`). */
export function asCommandError(e: unknown): UiError {
  if (typeof e === "object" && e !== null && "message" in e) {
    const o = e as Partial<UiError>;
    const err: UiError = { code: typeof o.code === "string" ? o.code : "unknown", message: String(o.message) };
    if (Array.isArray(o.fields)) err.fields = o.fields;
    if (typeof o.item === "string") err.item = o.item;
    return err;
  }
  return { code: "unknown", message: String(e) };
}

export function errorMessage(e: unknown): string {
  return asCommandError(e).message;
}

/** What to do when adding a URL failed. */
export type AddFailure =
  /** The URL is the same file as the failed item `id`: offer to refresh
   * that item's link instead, or to add a new copy. */
  | { kind: "same_as_failed"; id: string }
  | { kind: "message"; text: string };

export function addFailure(e: unknown): AddFailure {
  const err = asCommandError(e);
  if (err.code === "matches_failed_item" && err.item) return { kind: "same_as_failed", id: err.item };
  return { kind: "message", text: `Cannot add this URL: ${err.message}` };
}

/** Where a failed link refresh is told: beside the URL the user typed when
 * the URL is a different file, in the banner for anything else. */
export type RelinkFailure = { where: "row" | "banner"; text: string };

export function relinkFailure(e: unknown): RelinkFailure {
  const err = asCommandError(e);
  if (err.code === "not_the_same_file") return { where: "row", text: err.message };
  return { where: "banner", text: `Cannot refresh the link: ${err.message}` };
}
