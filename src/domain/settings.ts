import { z } from 'zod';
import { parseDuration } from './duration.js';
import { CONFIGURABLE_LEVELS, type ConfigurableLevel, severity } from './events.js';
import { MAX_ABS_AMOUNT } from './money.js';
import { templateSetSchema, validateTemplateSet } from '../template/custom.js';

// Notification settings: the seeds' "Notification Settings" page as data. Workspace settings give the defaults;
// an account may override any field (its `rules`).

const amount = z.number().finite().min(0).max(MAX_ABS_AMOUNT);
const duration = z
  .string()
  .max(32)
  .refine((s) => parseDuration(s) !== null, { message: 'expected a duration such as "30s", "10m", "24h" or "0s"' });

export const levelSchema = z
  .object({
    level: z.enum(CONFIGURABLE_LEVELS),
    below: z.number().finite().gt(0).max(MAX_ABS_AMOUNT),
  })
  .strict();

const settingsShape = {
  notify_low_balance: z.boolean(),
  low_balance_threshold: z.number().finite().gt(0).max(MAX_ABS_AMOUNT),
  levels: z.array(levelSchema).min(1).max(3).nullable(),
  notify_depleted: z.boolean(),
  notify_recovery: z.boolean(),
  recovery_margin: amount.nullable(),
  repeat_interval: duration.nullable(),
  min_notify_interval: duration,
  runway_days: z.number().finite().gt(0).max(365),
  notify_runway: z.boolean(),
  runway_window: duration,
  notify_spike: z.boolean(),
  spike_factor: z.number().finite().gt(1).max(1000),
  spike_min_amount: amount.nullable(),
  /** The workspace's message templates (template/custom.ts), null = the built-in messages. */
  templates: templateSetSchema.nullable(),
  /**
   * Notifications also go by e-mail to the workspace's admin members when SMTP is configured (SPEC §4: on by
   * default). Workspace-wide: accounts cannot override it (engine/admin-email.ts).
   */
  email_admins: z.boolean(),
};

export const notificationSettingsSchema = z.object(settingsShape).strict();
export type NotificationSettings = z.infer<typeof notificationSettingsSchema>;

/** A PATCH body, and an account's `rules` override: any subset of the fields. */
export const settingsPatchSchema = z.object(settingsShape).partial().strict();
export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

/**
 * An account's `rules`: the settings an account may override (message templates are per workspace or channel;
 * who receives the admins' e-mail is per workspace).
 */
export const accountRulesSchema = settingsPatchSchema.omit({ templates: true, email_admins: true });

export const DEFAULT_SETTINGS: NotificationSettings = {
  notify_low_balance: true,
  low_balance_threshold: 10,
  levels: null,
  notify_depleted: true,
  notify_recovery: true,
  recovery_margin: null,
  repeat_interval: null,
  min_notify_interval: '10m',
  runway_days: 3,
  notify_runway: true,
  runway_window: '24h',
  notify_spike: true,
  spike_factor: 3,
  spike_min_amount: null,
  templates: null,
  email_admins: true,
};

/** Settings as stored: fields added since they were saved take their defaults. */
export function parseStoredSettings(text: string): NotificationSettings {
  return { ...DEFAULT_SETTINGS, ...(JSON.parse(text) as Partial<NotificationSettings>) };
}

export class SettingsError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

/** Runs `fn`, re-rooting a SettingsError's path under `prefix` (settings nested in a larger body). */
export function settingsAt<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SettingsError) throw new SettingsError(err.message, `${prefix}.${err.path}`);
    throw err;
  }
}

/**
 * Applies a patch and keeps `levels` and `low_balance_threshold` consistent: with levels, the threshold is the
 * least severe level's line; patching only the threshold moves that line.
 */
export function applySettingsPatch(current: NotificationSettings, patch: SettingsPatch): NotificationSettings {
  const next: NotificationSettings = { ...current, ...patch };
  if (patch.levels !== undefined && patch.levels !== null) {
    next.low_balance_threshold = Math.max(...patch.levels.map((l) => l.below));
  } else if (patch.low_balance_threshold !== undefined && next.levels) {
    const sorted = sortLevels(next.levels);
    sorted[0] = { ...sorted[0]!, below: patch.low_balance_threshold };
    next.levels = sorted;
  }
  validateSettings(next);
  return next;
}

function sortLevels<T extends { below: number }>(levels: readonly T[]): T[] {
  return [...levels].sort((a, b) => b.below - a.below);
}

/** Checks what a schema cannot: level names unique, lines unique, lower lines more severe. Throws SettingsError. */
export function validateSettings(s: NotificationSettings): void {
  const repeat = s.repeat_interval ? parseDuration(s.repeat_interval) : null;
  const floor = parseDuration(s.min_notify_interval) ?? 0;
  const window = parseDuration(s.runway_window) ?? 0;
  if (window < 3_600_000 || window > 7 * 86_400_000)
    throw new SettingsError(`runway_window (${s.runway_window}) must be between 1h and 7d`, 'runway_window');
  if (repeat && repeat < floor)
    throw new SettingsError(
      `repeat_interval (${s.repeat_interval}) cannot be shorter than min_notify_interval (${s.min_notify_interval})`,
      'repeat_interval',
    );
  if (s.templates) {
    const problems = validateTemplateSet(s.templates);
    if (problems.length > 0) throw new SettingsError(problems[0]!.message, problems[0]!.path);
  }
  if (!s.levels) return;
  const names = new Set<string>();
  // Paths name the entry as the user wrote it, though the checks walk the levels sorted by line.
  const sorted = s.levels.map((l, index) => ({ ...l, index })).sort((a, b) => b.below - a.below);
  sorted.forEach((l, pos) => {
    const i = l.index;
    const prev = sorted[pos - 1];
    if (names.has(l.level)) throw new SettingsError(`level "${l.level}" is listed twice`, `levels.${i}.level`);
    names.add(l.level);
    if (prev && prev.below === l.below)
      throw new SettingsError(`levels "${prev.level}" and "${l.level}" have the same line ${l.below}`, `levels.${i}.below`);
    if (prev && severity(l.level) <= severity(prev.level))
      throw new SettingsError(
        `level "${l.level}" (below ${l.below}) must be more severe than "${prev.level}" (below ${prev.below}): a lower line means a more severe level`,
        `levels.${i}.level`,
      );
  });
}

/** The compiled threshold rule the state machine runs on. */
export interface ThresholdRule {
  enabled: boolean;
  /** Sorted by `below`, highest line (least severe) first. */
  levels: { level: ConfigurableLevel; below: number }[];
  depleted: boolean;
  /** Balance at or above which a firing alert resolves. */
  recoverAt: number;
  notifyRecovery: boolean;
  repeatMs: number | null;
  floorMs: number;
}

export function compileThresholdRule(s: NotificationSettings): ThresholdRule {
  const levels = s.levels ? sortLevels(s.levels) : [{ level: 'warning' as const, below: s.low_balance_threshold }];
  const top = levels[0]?.below ?? 0;
  const margin = s.recovery_margin ?? top * 0.1;
  return {
    enabled: s.notify_low_balance,
    levels,
    depleted: s.notify_depleted,
    recoverAt: top + margin,
    notifyRecovery: s.notify_recovery,
    repeatMs: s.repeat_interval ? parseDuration(s.repeat_interval) || null : null,
    floorMs: parseDuration(s.min_notify_interval) ?? 0,
  };
}

/** Workspace settings with an account's overrides on top. */
export function effectiveSettings(workspace: NotificationSettings, accountRules: SettingsPatch | null): NotificationSettings {
  return accountRules ? applySettingsPatch(workspace, accountRules) : workspace;
}

/** The forecast rules (SPEC §3.2) compiled from settings. */
export interface ForecastRules {
  runway: { enabled: boolean; days: number; windowMs: number; floorMs: number };
  spike: { enabled: boolean; factor: number; minAmount: number; floorMs: number };
}

export function compileForecastRules(s: NotificationSettings): ForecastRules {
  const floorMs = parseDuration(s.min_notify_interval) ?? 0;
  return {
    runway: { enabled: s.notify_runway, days: s.runway_days, windowMs: parseDuration(s.runway_window) ?? 86_400_000, floorMs },
    // Default minimum: a tenth of the low-balance line, so pennies of noise on an idle account are no "spike".
    spike: { enabled: s.notify_spike, factor: s.spike_factor, minAmount: s.spike_min_amount ?? s.low_balance_threshold * 0.1, floorMs },
  };
}
