// The settings panel: fills the form from a SettingsView, reads it back,
// and shows each invalid field's message beside it.
import type { SettingsForm } from "./bindings/SettingsForm.ts";
import type { SettingsView } from "./bindings/SettingsView.ts";
import { commands } from "./commands.ts";
import { asCommandError } from "./errors.ts";
import { $ } from "./render.ts";

const TEXT_FIELDS = [
  "cache_cap",
  "player_command",
  "connections_per_item",
  "rate_limit",
  "max_active",
  "remove_watched_after_days",
] as const;

export function settingsForm(): HTMLFormElement {
  return $("settings-form") as HTMLFormElement;
}

function field(name: keyof SettingsForm): HTMLInputElement {
  return settingsForm().elements.namedItem(name) as HTMLInputElement;
}

export function showSettings(view: SettingsView): void {
  $("cache-dir").textContent = view.cache_dir;
  for (const key of TEXT_FIELDS) field(key).value = view.form[key];
  field("notifications").checked = view.form.notifications;
  field("start_at_login").checked = view.form.start_at_login;
}

function readForm(): SettingsForm {
  return {
    cache_cap: field("cache_cap").value,
    player_command: field("player_command").value,
    connections_per_item: field("connections_per_item").value,
    rate_limit: field("rate_limit").value,
    max_active: field("max_active").value,
    remove_watched_after_days: field("remove_watched_after_days").value,
    notifications: field("notifications").checked,
    start_at_login: field("start_at_login").checked,
  };
}

/** Saves the form; returns the applied settings, or null when refused. */
export async function saveSettings(): Promise<SettingsView | null> {
  for (const small of settingsForm().querySelectorAll<HTMLElement>(".err")) small.textContent = "";
  try {
    const view = await commands.saveSettings(readForm());
    showSettings(view);
    $("settings-status").textContent = "Saved and applied";
    return view;
  } catch (e) {
    const err = asCommandError(e);
    for (const f of err.fields ?? []) {
      const small = settingsForm().querySelector<HTMLElement>(`.err[data-field="${CSS.escape(f.field)}"]`);
      if (small) small.textContent = f.message;
    }
    $("settings-status").textContent = err.message;
    return null;
  }
}
