import { describe, expect, it } from 'vitest';
import {
  applySettingsPatch,
  compileThresholdRule,
  DEFAULT_SETTINGS,
  effectiveSettings,
  type NotificationSettings,
  notificationSettingsSchema,
  SettingsError,
  type SettingsPatch,
  settingsPatchSchema,
  type ThresholdRule,
  validateSettings,
} from '../../src/domain/settings.js';

const TWO_LEVELS: NotificationSettings = {
  ...DEFAULT_SETTINGS,
  low_balance_threshold: 20,
  levels: [
    { level: 'warning', below: 20 },
    { level: 'critical', below: 5 },
  ],
};

describe('DEFAULT_SETTINGS', () => {
  it('are the documented defaults', () => {
    expect(DEFAULT_SETTINGS).toEqual({
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
      // SPEC §4: e-mail to the workspace's admin members is on by default (when SMTP is configured).
      email_admins: true,
    });
    expect(notificationSettingsSchema.parse(DEFAULT_SETTINGS)).toEqual(DEFAULT_SETTINGS);
  });
});

describe('notificationSettingsSchema', () => {
  it.each<[string, Partial<NotificationSettings>]>([
    ['defaults', {}],
    ['two levels', { levels: TWO_LEVELS.levels }],
    [
      'three levels',
      {
        levels: [
          { level: 'info', below: 50 },
          { level: 'warning', below: 20 },
          { level: 'critical', below: 5 },
        ],
      },
    ],
    ['fractional threshold', { low_balance_threshold: 0.01 }],
    ['threshold at the maximum', { low_balance_threshold: 1e15 }],
    ['recovery margin 0', { recovery_margin: 0 }],
    ['recovery margin amount', { recovery_margin: 2.5 }],
    ['repeat 24h', { repeat_interval: '24h' }],
    ['repeat compound', { repeat_interval: '1h30m' }],
    ['repeat 0s', { repeat_interval: '0s' }],
    ['floor 0s', { min_notify_interval: '0s' }],
    ['floor 30s', { min_notify_interval: '30s' }],
    ['runway 365 days', { runway_days: 365 }],
    ['runway half a day', { runway_days: 0.5 }],
    ['everything off', { notify_low_balance: false, notify_depleted: false, notify_recovery: false }],
  ])('accepts %s', (_name, patch) => {
    const input = { ...DEFAULT_SETTINGS, ...patch };
    const r = notificationSettingsSchema.safeParse(input);
    expect(r.success).toBe(true);
    expect(r.data).toEqual(input);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['threshold 0', { low_balance_threshold: 0 }, 'low_balance_threshold'],
    ['negative threshold', { low_balance_threshold: -1 }, 'low_balance_threshold'],
    ['threshold as a string', { low_balance_threshold: '10' }, 'low_balance_threshold'],
    ['threshold NaN', { low_balance_threshold: Number.NaN }, 'low_balance_threshold'],
    ['threshold Infinity', { low_balance_threshold: Number.POSITIVE_INFINITY }, 'low_balance_threshold'],
    ['threshold above 1e15', { low_balance_threshold: 1e16 }, 'low_balance_threshold'],
    ['threshold null', { low_balance_threshold: null }, 'low_balance_threshold'],
    ['empty levels', { levels: [] }, 'levels'],
    [
      'four levels',
      {
        levels: [
          { level: 'info', below: 50 },
          { level: 'warning', below: 20 },
          { level: 'critical', below: 5 },
          { level: 'critical', below: 1 },
        ],
      },
      'levels',
    ],
    ['depleted is not configurable', { levels: [{ level: 'depleted', below: 1 }] }, 'levels.0.level'],
    ['unknown level name', { levels: [{ level: 'fatal', below: 1 }] }, 'levels.0.level'],
    ['level line 0', { levels: [{ level: 'warning', below: 0 }] }, 'levels.0.below'],
    ['level line negative', { levels: [{ level: 'warning', below: -5 }] }, 'levels.0.below'],
    ['level without a line', { levels: [{ level: 'warning' }] }, 'levels.0.below'],
    ['negative recovery margin', { recovery_margin: -1 }, 'recovery_margin'],
    ['recovery margin as a percentage string', { recovery_margin: '10%' }, 'recovery_margin'],
    ['repeat in words', { repeat_interval: 'daily' }, 'repeat_interval'],
    ['repeat without unit', { repeat_interval: '10' }, 'repeat_interval'],
    ['repeat negative', { repeat_interval: '-5m' }, 'repeat_interval'],
    ['repeat too long a string', { repeat_interval: '1s'.repeat(17) }, 'repeat_interval'],
    ['floor null (not nullable)', { min_notify_interval: null }, 'min_notify_interval'],
    ['floor empty', { min_notify_interval: '' }, 'min_notify_interval'],
    ['floor as number of ms', { min_notify_interval: 600000 }, 'min_notify_interval'],
    ['runway 0 days', { runway_days: 0 }, 'runway_days'],
    ['runway 366 days', { runway_days: 366 }, 'runway_days'],
    ['boolean as string', { notify_low_balance: 'yes' }, 'notify_low_balance'],
    ['unknown key (strict)', { notify_sms: true }, ''],
  ])('rejects %s (path %s)', (_name, patch, path) => {
    const r = notificationSettingsSchema.safeParse({ ...DEFAULT_SETTINGS, ...patch });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual([path]);
  });

  it.each(Object.keys(DEFAULT_SETTINGS))('rejects a full settings object missing %s', (key) => {
    const input: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    delete input[key];
    const r = notificationSettingsSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual([key]);
  });
});

describe('settingsPatchSchema', () => {
  it.each<[string, Record<string, unknown>]>([
    ['empty', {}],
    ['threshold only', { low_balance_threshold: 5 }],
    ['levels null', { levels: null }],
    ['levels', { levels: [{ level: 'critical', below: 3 }] }],
    ['repeat null', { repeat_interval: null }],
    ['several', { notify_recovery: false, min_notify_interval: '1h', recovery_margin: 1 }],
  ])('accepts %s', (_name, patch) => {
    const r = settingsPatchSchema.safeParse(patch);
    expect(r.success).toBe(true);
    expect(r.data).toEqual(patch);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['unknown key', { threshold: 5 }, ''],
    ['bad duration', { min_notify_interval: '5x' }, 'min_notify_interval'],
    ['floor null', { min_notify_interval: null }, 'min_notify_interval'],
    ['threshold null', { low_balance_threshold: null }, 'low_balance_threshold'],
    ['threshold 0', { low_balance_threshold: 0 }, 'low_balance_threshold'],
    ['boolean as string', { notify_low_balance: 'false' }, 'notify_low_balance'],
    ['empty levels', { levels: [] }, 'levels'],
  ])('rejects %s', (_name, patch, path) => {
    const r = settingsPatchSchema.safeParse(patch);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual([path]);
  });
});

describe('validateSettings', () => {
  const withLevels = (levels: NotificationSettings['levels']): NotificationSettings => ({ ...DEFAULT_SETTINGS, levels });

  it.each<[string, NotificationSettings['levels']]>([
    ['no levels', null],
    ['one level', [{ level: 'critical', below: 3 }]],
    ['two levels in order', TWO_LEVELS.levels],
    [
      'two levels listed most severe first',
      [
        { level: 'critical', below: 5 },
        { level: 'warning', below: 20 },
      ],
    ],
    [
      'three levels',
      [
        { level: 'info', below: 50 },
        { level: 'warning', below: 20 },
        { level: 'critical', below: 5 },
      ],
    ],
    [
      'info and critical only',
      [
        { level: 'info', below: 50 },
        { level: 'critical', below: 5 },
      ],
    ],
  ])('accepts %s', (_name, levels) => {
    expect(() => validateSettings(withLevels(levels))).not.toThrow();
  });

  // Input already listed highest line first, so the reported index is the input index.
  it.each<[string, NotificationSettings['levels'], string, string]>([
    [
      'duplicate level',
      [
        { level: 'warning', below: 20 },
        { level: 'warning', below: 5 },
      ],
      'level "warning" is listed twice',
      'levels.1.level',
    ],
    [
      'equal lines',
      [
        { level: 'warning', below: 20 },
        { level: 'critical', below: 20 },
      ],
      'levels "warning" and "critical" have the same line 20',
      'levels.1.below',
    ],
    [
      'wrong severity order (critical line above warning line)',
      [
        { level: 'critical', below: 20 },
        { level: 'warning', below: 5 },
      ],
      'level "warning" (below 5) must be more severe than "critical" (below 20): a lower line means a more severe level',
      'levels.1.level',
    ],
    [
      'wrong order in the third level',
      [
        { level: 'info', below: 50 },
        { level: 'critical', below: 20 },
        { level: 'warning', below: 5 },
      ],
      'level "warning" (below 5) must be more severe than "critical" (below 20): a lower line means a more severe level',
      'levels.2.level',
    ],
    [
      'duplicate in the third level',
      [
        { level: 'info', below: 50 },
        { level: 'warning', below: 20 },
        { level: 'info', below: 5 },
      ],
      'level "info" is listed twice',
      'levels.2.level',
    ],
  ])('rejects %s', (_name, levels, message, path) => {
    let err: unknown;
    try {
      validateSettings(withLevels(levels));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as SettingsError).message).toBe(message);
    expect((err as SettingsError).path).toBe(path);
  });
});

describe('applySettingsPatch', () => {
  it.each<[string, NotificationSettings, SettingsPatch, Partial<NotificationSettings>]>([
    ['threshold without levels', DEFAULT_SETTINGS, { low_balance_threshold: 25 }, { low_balance_threshold: 25, levels: null }],
    ['levels set the threshold to the highest line', DEFAULT_SETTINGS, { levels: TWO_LEVELS.levels }, { low_balance_threshold: 20, levels: TWO_LEVELS.levels }],
    [
      'levels listed most severe first still take the highest line',
      DEFAULT_SETTINGS,
      {
        levels: [
          { level: 'critical', below: 3 },
          { level: 'warning', below: 30 },
        ],
      },
      { low_balance_threshold: 30 },
    ],
    [
      'levels win over a threshold in the same patch',
      DEFAULT_SETTINGS,
      { levels: [{ level: 'critical', below: 7 }], low_balance_threshold: 99 },
      { low_balance_threshold: 7, levels: [{ level: 'critical', below: 7 }] },
    ],
    [
      'patching only the threshold moves the least severe line',
      TWO_LEVELS,
      { low_balance_threshold: 30 },
      {
        low_balance_threshold: 30,
        levels: [
          { level: 'warning', below: 30 },
          { level: 'critical', below: 5 },
        ],
      },
    ],
    [
      'patching only the threshold down (still above critical)',
      TWO_LEVELS,
      { low_balance_threshold: 6 },
      {
        low_balance_threshold: 6,
        levels: [
          { level: 'warning', below: 6 },
          { level: 'critical', below: 5 },
        ],
      },
    ],
    [
      'patching the threshold with unsorted stored levels moves the highest line',
      {
        ...TWO_LEVELS,
        levels: [
          { level: 'critical', below: 5 },
          { level: 'warning', below: 20 },
        ],
      },
      { low_balance_threshold: 40 },
      {
        low_balance_threshold: 40,
        levels: [
          { level: 'warning', below: 40 },
          { level: 'critical', below: 5 },
        ],
      },
    ],
    ['levels: null drops the levels, keeps the threshold', TWO_LEVELS, { levels: null }, { levels: null, low_balance_threshold: 20 }],
    [
      'levels: null with a threshold',
      TWO_LEVELS,
      { levels: null, low_balance_threshold: 8 },
      { levels: null, low_balance_threshold: 8 },
    ],
    ['other fields leave levels alone', TWO_LEVELS, { notify_recovery: false, repeat_interval: '24h' }, { ...TWO_LEVELS, notify_recovery: false, repeat_interval: '24h' }],
    ['empty patch', TWO_LEVELS, {}, TWO_LEVELS],
  ])('%s', (_name, current, patch, expected) => {
    const before = JSON.stringify(current);
    const next = applySettingsPatch(current, patch);
    expect(next).toMatchObject(expected);
    expect(JSON.stringify(current)).toBe(before); // not mutated
    expect(next).not.toBe(current);
  });

  it.each<[string, NotificationSettings, SettingsPatch, string]>([
    ['threshold moved onto the critical line', TWO_LEVELS, { low_balance_threshold: 5 }, 'levels.1.below'],
    ['threshold moved below the critical line', TWO_LEVELS, { low_balance_threshold: 3 }, 'levels.0.level'],
    [
      'duplicate levels in a patch',
      DEFAULT_SETTINGS,
      {
        levels: [
          { level: 'critical', below: 20 },
          { level: 'critical', below: 5 },
        ],
      },
      'levels.1.level',
    ],
  ])('rejects %s', (_name, current, patch, path) => {
    expect(() => applySettingsPatch(current, patch)).toThrow(SettingsError);
    try {
      applySettingsPatch(current, patch);
    } catch (e) {
      expect((e as SettingsError).path).toBe(path);
    }
  });
});

describe('compileThresholdRule', () => {
  it('defaults: a single warning level at low_balance_threshold', () => {
    expect(compileThresholdRule(DEFAULT_SETTINGS)).toEqual({
      enabled: true,
      levels: [{ level: 'warning', below: 10 }],
      depleted: true,
      recoverAt: 11,
      notifyRecovery: true,
      repeatMs: null,
      floorMs: 600_000,
    } satisfies ThresholdRule);
  });

  it.each<[string, Partial<NotificationSettings>, Partial<ThresholdRule>]>([
    ['platform default threshold 25', { low_balance_threshold: 25 }, { levels: [{ level: 'warning', below: 25 }], recoverAt: 27.5 }],
    ['two levels: 20 + 10%', { low_balance_threshold: 20, levels: TWO_LEVELS.levels }, { levels: TWO_LEVELS.levels!, recoverAt: 22 }],
    [
      'levels are sorted highest line first',
      {
        levels: [
          { level: 'critical', below: 5 },
          { level: 'info', below: 50 },
          { level: 'warning', below: 20 },
        ],
      },
      {
        levels: [
          { level: 'info', below: 50 },
          { level: 'warning', below: 20 },
          { level: 'critical', below: 5 },
        ],
        recoverAt: 55,
      },
    ],
    [
      'levels win over low_balance_threshold for the recovery line',
      { low_balance_threshold: 99, levels: [{ level: 'critical', below: 5 }] },
      { levels: [{ level: 'critical', below: 5 }], recoverAt: 5.5 },
    ],
    ['margin as an amount', { low_balance_threshold: 20, levels: TWO_LEVELS.levels, recovery_margin: 3 }, { recoverAt: 23 }],
    ['margin 0', { recovery_margin: 0 }, { recoverAt: 10 }],
    ['repeat 24h', { repeat_interval: '24h' }, { repeatMs: 86_400_000 }],
    ['repeat 1h30m', { repeat_interval: '1h30m' }, { repeatMs: 5_400_000 }],
    ['repeat 0s means off', { repeat_interval: '0s' }, { repeatMs: null }],
    ['repeat null', { repeat_interval: null }, { repeatMs: null }],
    ['floor 0s', { min_notify_interval: '0s' }, { floorMs: 0 }],
    ['floor 30s', { min_notify_interval: '30s' }, { floorMs: 30_000 }],
    ['floor 1h', { min_notify_interval: '1h' }, { floorMs: 3_600_000 }],
    ['low balance off', { notify_low_balance: false }, { enabled: false }],
    ['depleted off', { notify_depleted: false }, { depleted: false }],
    ['recovery off', { notify_recovery: false }, { notifyRecovery: false }],
  ])('%s', (_name, patch, expected) => {
    expect(compileThresholdRule({ ...DEFAULT_SETTINGS, ...patch })).toMatchObject(expected);
  });

  it('does not reorder the settings’ own levels array', () => {
    const levels: NotificationSettings['levels'] = [
      { level: 'critical', below: 5 },
      { level: 'warning', below: 20 },
    ];
    compileThresholdRule({ ...DEFAULT_SETTINGS, levels });
    expect(levels.map((l) => l.level)).toEqual(['critical', 'warning']);
  });
});

describe('effectiveSettings', () => {
  it('without account rules: the workspace settings themselves', () => {
    expect(effectiveSettings(TWO_LEVELS, null)).toBe(TWO_LEVELS);
  });

  it('with empty account rules: an equal copy', () => {
    const e = effectiveSettings(TWO_LEVELS, {});
    expect(e).toEqual(TWO_LEVELS);
    expect(e).not.toBe(TWO_LEVELS);
  });

  it.each<[string, NotificationSettings, SettingsPatch, Partial<NotificationSettings>]>([
    ['account overrides one field', DEFAULT_SETTINGS, { repeat_interval: '24h' }, { ...DEFAULT_SETTINGS, repeat_interval: '24h' }],
    ['account threshold on a single-threshold workspace', DEFAULT_SETTINGS, { low_balance_threshold: 50 }, { low_balance_threshold: 50, levels: null }],
    [
      'account threshold moves the workspace’s least severe line',
      TWO_LEVELS,
      { low_balance_threshold: 100 },
      {
        low_balance_threshold: 100,
        levels: [
          { level: 'warning', below: 100 },
          { level: 'critical', below: 5 },
        ],
      },
    ],
    ['account levels replace the workspace’s', TWO_LEVELS, { levels: [{ level: 'critical', below: 2 }] }, { low_balance_threshold: 2, levels: [{ level: 'critical', below: 2 }] }],
    ['account turns levels off', TWO_LEVELS, { levels: null }, { levels: null, low_balance_threshold: 20 }],
  ])('%s', (_name, ws, rules, expected) => {
    expect(effectiveSettings(ws, rules)).toMatchObject(expected);
  });

  it('an account override that breaks the level order throws SettingsError', () => {
    expect(() => effectiveSettings(TWO_LEVELS, { low_balance_threshold: 1 })).toThrow(SettingsError);
  });
});
