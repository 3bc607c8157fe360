// The validated content of a config file (what config/file.ts produces and config/apply.ts applies): workspaces
// with their accounts and channels, as plain data.
import type { EventType, Level } from '../domain/events.js';
import type { LOCALES } from '../domain/fields.js';
import type { SettingsPatch } from '../domain/settings.js';
import type { TemplateSet } from '../template/custom.js';

export interface AccountSpec {
  /** The key in the file; `external_id` is the identity in the database (the key unless given). */
  key: string;
  external_id: string;
  name: string;
  currency: string;
  quota_per_unit: number | null;
  top_up_url: string | null;
  /** The `source` as written (interpolated), validated; resolved again with the real secret key when applied. */
  source: Record<string, unknown>;
  rules: SettingsPatch | null;
}

export interface ChannelSpec {
  name: string;
  type: string;
  /** The type's fields, validated by its schema (secrets in clear: encrypted when applied). */
  fields: Record<string, unknown>;
  events: EventType[] | null;
  min_level: Level | null;
  enabled: boolean;
  /** External ids of accounts of the same workspace the channel is limited to; null = every account. */
  accounts: string[] | null;
  template: TemplateSet | null;
}

export interface WorkspaceSpec {
  key: string;
  external_id: string;
  name: string;
  locale: (typeof LOCALES)[number];
  time_zone: string;
  /** The settings patch as written; applied over the defaults. Null = keep the stored settings. */
  notification_settings: SettingsPatch | null;
  accounts: AccountSpec[];
  channels: ChannelSpec[];
}

export interface ConfigSpec {
  file: string;
  workspaces: WorkspaceSpec[];
}
