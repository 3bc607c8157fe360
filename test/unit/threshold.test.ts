import { describe, expect, it } from 'vitest';
import { type AlertState, INITIAL_ALERT_STATE, type Notification } from '../../src/domain/alert-state.js';
import type { Level } from '../../src/domain/events.js';
import {
  compileThresholdRule,
  DEFAULT_SETTINGS,
  type NotificationSettings,
  type ThresholdRule,
} from '../../src/domain/settings.js';
import { evaluateBalance, evaluateTick, levelFor, nextReminderAt } from '../../src/domain/threshold.js';

// SPEC §3.1, table by table. Times are absolute ms; T0 is an arbitrary epoch.
const T0 = 1_700_000_000_000;
const SEC = 1000;
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

type Patch = Partial<NotificationSettings>;

/** The seeds' single threshold (default 10, one `warning` level), recoverAt 11, floor 10m. */
const SINGLE: Patch = {};
/** warning below 20, critical below 5 (+ built-in depleted); recoverAt 22. */
const TWO: Patch = {
  low_balance_threshold: 20,
  levels: [
    { level: 'warning', below: 20 },
    { level: 'critical', below: 5 },
  ],
};
/** info below 50, warning below 20, critical below 5; recoverAt 55. */
const THREE: Patch = {
  low_balance_threshold: 50,
  levels: [
    { level: 'info', below: 50 },
    { level: 'warning', below: 20 },
    { level: 'critical', below: 5 },
  ],
};
const NO_FLOOR: Patch = { min_notify_interval: '0s' };

function rule(...patches: Patch[]): ThresholdRule {
  return compileThresholdRule(Object.assign({}, DEFAULT_SETTINGS, ...patches));
}

interface Run {
  state: AlertState;
  notifications: Notification[];
  /** Notifications per step. */
  perStep: Notification[][];
  changed: boolean[];
}

/** Feeds [time, balance] samples through evaluateBalance. */
function feedAt(r: ThresholdRule, samples: ReadonlyArray<readonly [number, number]>, start: AlertState = INITIAL_ALERT_STATE): Run {
  let state = start;
  const perStep: Notification[][] = [];
  const changed: boolean[] = [];
  for (const [t, balance] of samples) {
    const tr = evaluateBalance(state, balance, r, t);
    perStep.push(tr.notifications);
    changed.push(tr.changed);
    state = tr.next;
  }
  return { state, notifications: perStep.flat(), perStep, changed };
}

/** Feeds balances one `step` apart, starting at T0. */
function feed(r: ThresholdRule, balances: readonly number[], step = HOUR, start: AlertState = INITIAL_ALERT_STATE): Run {
  return feedAt(
    r,
    balances.map((b, i) => [T0 + i * step, b] as const),
    start,
  );
}

/** "event/level" (level "-" for recoveries), a compact way to compare notification sequences. */
function brief(n: Notification): string {
  return `${n.event}/${n.level ?? '-'}`;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

describe('levelFor', () => {
  it.each<[string, Patch, number, Level | null]>([
    ['two levels, well above', TWO, 50, null],
    ['two levels, exactly on the warning line (not below)', TWO, 20, null],
    ['two levels, just under warning', TWO, 19.99, 'warning'],
    ['two levels, exactly on the critical line', TWO, 5, 'warning'],
    ['two levels, just under critical', TWO, 4.99, 'critical'],
    ['two levels, a cent left', TWO, 0.01, 'critical'],
    ['two levels, zero is depleted', TWO, 0, 'depleted'],
    ['two levels, negative is depleted', TWO, -3, 'depleted'],
    ['two levels without depleted, zero', { ...TWO, notify_depleted: false }, 0, 'critical'],
    ['two levels without depleted, negative', { ...TWO, notify_depleted: false }, -3, 'critical'],
    ['single default, on the line', SINGLE, 10, null],
    ['single default, under the line', SINGLE, 9.99, 'warning'],
    ['single default, zero', SINGLE, 0, 'depleted'],
    ['single default without depleted, zero', { notify_depleted: false }, 0, 'warning'],
    ['single custom threshold 25', { low_balance_threshold: 25 }, 24, 'warning'],
    ['three levels, under info', THREE, 49, 'info'],
    ['three levels, under warning', THREE, 19, 'warning'],
    ['three levels, under critical', THREE, 4, 'critical'],
    ['three levels, depleted', THREE, 0, 'depleted'],
    [
      'levels listed most severe first are sorted by compile',
      {
        levels: [
          { level: 'critical', below: 5 },
          { level: 'warning', below: 20 },
        ],
      },
      4,
      'critical',
    ],
    [
      'levels listed most severe first, between lines',
      {
        levels: [
          { level: 'critical', below: 5 },
          { level: 'warning', below: 20 },
        ],
      },
      10,
      'warning',
    ],
  ])('%s: %d → %s', (_name, patch, balance, expected) => {
    expect(levelFor(balance, rule(patch))).toBe(expected);
  });
});

describe('first sample counts', () => {
  it.each<[string, Patch, number, Level, number]>([
    ['single threshold, already low', SINGLE, 5, 'warning', 10],
    ['single threshold, already depleted (0)', SINGLE, 0, 'depleted', 0],
    ['single threshold, already negative', SINGLE, -2, 'depleted', 0],
    ['two levels, below warning', TWO, 15, 'warning', 20],
    ['two levels, below critical', TWO, 3, 'critical', 5],
    ['two levels, depleted', TWO, 0, 'depleted', 0],
    ['two levels, depleted off, zero', { ...TWO, notify_depleted: false }, 0, 'critical', 5],
    ['single, depleted off, zero', { notify_depleted: false }, 0, 'warning', 10],
    ['three levels, info', THREE, 30, 'info', 50],
  ])('%s: %d fires balance.low/%s', (_name, patch, balance, level, threshold) => {
    const tr = evaluateBalance(INITIAL_ALERT_STATE, balance, rule(patch), T0);
    expect(tr.notifications).toEqual([
      {
        event: 'balance.low',
        level,
        routeLevel: level,
        episode: 1,
        reminder: 0,
        threshold,
        dueAt: T0,
        deferred: false,
      },
    ]);
    expect(tr.next).toEqual({
      status: 'firing',
      level,
      episode: 1,
      maxLevel: level,
      lastFiringAt: T0,
      reminders: 0,
      lastNotified: { [`balance.low:${level}`]: T0 },
    });
    expect(tr.changed).toBe(true);
  });

  it.each<[string, Patch, number]>([
    ['single, above', SINGLE, 50],
    ['single, exactly on the line', SINGLE, 10],
    ['single, inside the hysteresis band but never fired', SINGLE, 10.5],
    ['two levels, above', TWO, 20],
  ])('%s: %d sends nothing and changes nothing', (_name, patch, balance) => {
    const tr = evaluateBalance(INITIAL_ALERT_STATE, balance, rule(patch), T0);
    expect(tr.notifications).toEqual([]);
    expect(tr.next).toEqual(INITIAL_ALERT_STATE);
    expect(tr.changed).toBe(false);
  });

  it('does not mutate the previous state (pure)', () => {
    const frozen = deepFreeze({ ...INITIAL_ALERT_STATE, lastNotified: { 'balance.low:warning': T0 - DAY } });
    const snapshot = JSON.stringify(frozen);
    const r = feed(rule(TWO), [15, 3, 10, 3, 60, 15], MIN, frozen);
    expect(r.notifications.length).toBeGreaterThan(0);
    expect(JSON.stringify(frozen)).toBe(snapshot);
    expect(INITIAL_ALERT_STATE).toEqual({
      status: 'ok',
      level: null,
      episode: 0,
      maxLevel: null,
      lastFiringAt: null,
      reminders: 0,
      lastNotified: {},
    });
  });
});

describe('once per breach', () => {
  it.each<[string, Patch, number[]]>([
    ['single: staying below', SINGLE, [5, 5, 4, 9.99, 1, 0.5]],
    ['two levels: staying in warning', TWO, [15, 14, 19.99, 5, 12]],
    ['two levels: staying in critical', TWO, [3, 4, 4.99, 0.01, 2]],
    ['two levels: staying depleted', TWO, [0, -1, -100, 0]],
    ['three levels: staying in info', THREE, [49, 30, 20, 45]],
  ])('%s: only the first sample notifies', (_name, patch, balances) => {
    // Spaced a day apart with no repeat_interval: nothing is re-sent, however long it stays low.
    const r = feed(rule(patch), balances, DAY);
    expect(r.notifications).toHaveLength(1);
    expect(r.perStep[0]).toHaveLength(1);
    expect(r.changed).toEqual([true, ...balances.slice(1).map(() => false)]);
    expect(r.state.episode).toBe(1);
    expect(r.state.reminders).toBe(0);
  });
});

describe('escalation notifies at once, even inside the floor', () => {
  it.each<[string, Patch, number[], string[]]>([
    ['warning → critical → depleted', TWO, [15, 3, 0], ['balance.low/warning', 'balance.low/critical', 'balance.low/depleted']],
    ['warning → depleted (skipping critical)', TWO, [15, -1], ['balance.low/warning', 'balance.low/depleted']],
    ['critical → depleted', TWO, [3, 0], ['balance.low/critical', 'balance.low/depleted']],
    ['single: warning → depleted', SINGLE, [5, 0], ['balance.low/warning', 'balance.low/depleted']],
    [
      'info → warning → critical → depleted',
      THREE,
      [40, 15, 3, 0],
      ['balance.low/info', 'balance.low/warning', 'balance.low/critical', 'balance.low/depleted'],
    ],
  ])('%s', (_name, patch, balances, expected) => {
    // One second apart, default 10-minute floor: escalations must not wait for it.
    const r = feed(rule(patch), balances, SEC);
    expect(r.notifications.map(brief)).toEqual(expected);
    r.notifications.forEach((n, i) => {
      expect(n.dueAt).toBe(T0 + i * SEC);
      expect(n.deferred).toBe(false);
      expect(n.episode).toBe(1);
      expect(n.reminder).toBe(0);
      expect(n.routeLevel).toBe(n.level);
    });
    const last = expected[expected.length - 1]!.split('/')[1] as Level;
    expect(r.state.level).toBe(last);
    expect(r.state.maxLevel).toBe(last);
    expect(r.state.lastFiringAt).toBe(T0 + (balances.length - 1) * SEC);
  });

  it.each<[Level, number]>([
    ['warning', 20],
    ['critical', 5],
    ['depleted', 0],
  ])('the %s notification carries its line %d as threshold', (level, threshold) => {
    const r = feed(rule(TWO), [15, 3, 0], SEC);
    expect(r.notifications.find((n) => n.level === level)?.threshold).toBe(threshold);
  });

  it('an escalation the episode has not reached yet ignores the floor even if that level was sent in the previous episode', () => {
    const r = feedAt(rule(TWO), [
      [T0, 15], // ep1 warning
      [T0 + 1 * MIN, 3], // ep1 critical
      [T0 + 2 * MIN, 60], // recovered
      [T0 + 3 * MIN, 15], // ep2 warning: same event+level 3 min after the last → deferred
      [T0 + 4 * MIN, 3], // ep2 critical: an escalation → at once
    ]);
    expect(r.notifications.map((n) => [brief(n), n.episode, n.dueAt, n.deferred])).toEqual([
      ['balance.low/warning', 1, T0, false],
      ['balance.low/critical', 1, T0 + 1 * MIN, false],
      ['balance.recovered/-', 1, T0 + 2 * MIN, false],
      ['balance.low/warning', 2, T0 + 10 * MIN, true],
      ['balance.low/critical', 2, T0 + 4 * MIN, false],
    ]);
  });
});

describe('re-escalation to a level already announced this episode respects the floor', () => {
  const steps = (reEscalateAt: number) =>
    [
      [T0, 15], // warning
      [T0 + 1 * MIN, 3], // critical (first time: at once)
      [T0 + 2 * MIN, 10], // partial recovery: silent, level → warning
      [T0 + reEscalateAt, 3], // critical again
    ] as const;

  it.each<[string, Patch, number, number, boolean]>([
    ['inside the default 10m floor: deferred to its end', {}, 3 * MIN, T0 + 11 * MIN, true],
    ['one ms before the floor ends: deferred', {}, 11 * MIN - 1, T0 + 11 * MIN, true],
    ['exactly at the floor end: at once', {}, 11 * MIN, T0 + 11 * MIN, false],
    ['after the floor: at once', {}, 20 * MIN, T0 + 20 * MIN, false],
    ['floor off (0s): at once', NO_FLOOR, 3 * MIN, T0 + 3 * MIN, false],
    ['1h floor: deferred to T0+1m+1h', { min_notify_interval: '1h' }, 30 * MIN, T0 + MIN + HOUR, true],
  ])('%s', (_name, patch, at, dueAt, deferred) => {
    const r = feedAt(rule(TWO, patch), steps(at));
    expect(r.perStep.map((ns) => ns.map(brief))).toEqual([['balance.low/warning'], ['balance.low/critical'], [], ['balance.low/critical']]);
    const re = r.perStep[3]![0]!;
    expect(re).toEqual({
      event: 'balance.low',
      level: 'critical',
      routeLevel: 'critical',
      episode: 1,
      // A repeat announcement carries its own sequence number, so its idempotency key differs from the first.
      reminder: 1,
      threshold: 5,
      dueAt,
      deferred,
    });
    expect(r.state).toMatchObject({ status: 'firing', level: 'critical', maxLevel: 'critical', episode: 1, lastFiringAt: T0 + at, reminders: 1 });
    expect(r.state.lastNotified['balance.low:critical']).toBe(dueAt);
  });

  it('re-escalating to a level below the worst one keeps maxLevel; returning to the worst one respects the floor', () => {
    const r = feedAt(rule(TWO), [
      [T0, 0], // depleted
      [T0 + 1 * MIN, 15], // partial → warning (silent)
      [T0 + 2 * MIN, 3], // critical: more severe than the current level, never announced in this episode
      [T0 + 3 * MIN, 0], // depleted again: already announced → floor (10m from T0)
      [T0 + HOUR, 60], // recovered: routes like depleted
    ]);
    expect(r.notifications.map((n) => [brief(n), n.routeLevel, n.dueAt, n.deferred])).toEqual([
      ['balance.low/depleted', 'depleted', T0, false],
      ['balance.low/critical', 'critical', T0 + 2 * MIN, false],
      ['balance.low/depleted', 'depleted', T0 + 10 * MIN, true],
      ['balance.recovered/-', 'depleted', T0 + HOUR, false],
    ]);
    expect(r.state.maxLevel).toBe('depleted');
  });

  it('going past the announced level again is a first time and ignores the floor', () => {
    const r = feedAt(rule(TWO), [
      [T0, 3], // critical
      [T0 + 1 * MIN, 10], // partial → warning (silent)
      [T0 + 2 * MIN, 0], // depleted: never announced this episode → at once
    ]);
    expect(r.notifications.map((n) => [brief(n), n.dueAt, n.deferred])).toEqual([
      ['balance.low/critical', T0, false],
      ['balance.low/depleted', T0 + 2 * MIN, false],
    ]);
  });
});

describe('partial recovery is silent and lowers the level', () => {
  it.each<[string, Patch, number[], Level, Level]>([
    ['critical → above 5, below 20', TWO, [3, 10], 'warning', 'critical'],
    ['critical → exactly 5', TWO, [3, 5], 'warning', 'critical'],
    ['depleted → critical band', TWO, [0, 3], 'critical', 'depleted'],
    ['depleted → warning band', TWO, [-1, 10], 'warning', 'depleted'],
    ['critical → hysteresis band (20..22): mildest level', TWO, [3, 21], 'warning', 'critical'],
    ['warning → hysteresis band: stays warning', TWO, [15, 21.99], 'warning', 'warning'],
    ['single: depleted → below 10', SINGLE, [0, 5], 'warning', 'depleted'],
    ['single: depleted → band 10..11', SINGLE, [0, 10.5], 'warning', 'depleted'],
    ['three: critical → info band', THREE, [3, 30], 'info', 'critical'],
  ])('%s', (_name, patch, balances, level, maxLevel) => {
    const r = feed(rule(patch), balances, SEC);
    expect(r.perStep[1]).toEqual([]);
    expect(r.state).toMatchObject({ status: 'firing', episode: 1, level, maxLevel, lastFiringAt: T0 });
    expect(r.changed[1]).toBe(level !== r.perStep[0]![0]!.level);
  });

  it('a later drop back to the mildest level does not notify (not an escalation past the announced one)', () => {
    const r = feed(rule(TWO), [3, 10, 12, 15], MIN);
    expect(r.notifications.map(brief)).toEqual(['balance.low/critical']);
    expect(r.changed).toEqual([true, true, false, false]);
  });
});

describe('recovery with hysteresis', () => {
  it.each<[string, Patch, number, number, boolean, number]>([
    ['19.9 → 20.1 does not resolve (20 + 10%)', TWO, 19.9, 20.1, false, 22],
    ['15 → 21.99 does not resolve', TWO, 15, 21.99, false, 22],
    ['15 → 22 resolves (at the line)', TWO, 15, 22, true, 22],
    ['4 → 60 resolves', TWO, 4, 60, true, 22],
    ['0 → 60 resolves from depleted', TWO, 0, 60, true, 22],
    ['single: 9 → 10.5 does not resolve (10 + 10%)', SINGLE, 9, 10.5, false, 11],
    ['single: 9 → 11 resolves', SINGLE, 9, 11, true, 11],
    ['threshold 25: 20 → 27.49 does not resolve', { low_balance_threshold: 25 }, 20, 27.49, false, 27.5],
    ['threshold 25: 20 → 27.5 resolves', { low_balance_threshold: 25 }, 20, 27.5, true, 27.5],
    ['margin 0: 15 → 20 resolves right at the line', { ...TWO, recovery_margin: 0 }, 15, 20, true, 20],
    ['margin 0: 15 → 19.99 does not', { ...TWO, recovery_margin: 0 }, 15, 19.99, false, 20],
    ['margin is an amount (0.5), not a percentage', { ...TWO, recovery_margin: 0.5 }, 15, 20.5, true, 20.5],
    ['margin 0.5: 20.49 does not resolve', { ...TWO, recovery_margin: 0.5 }, 15, 20.49, false, 20.5],
    ['margin 5: 24.99 does not resolve', { ...TWO, recovery_margin: 5 }, 15, 24.99, false, 25],
    ['margin 5: 25 resolves', { ...TWO, recovery_margin: 5 }, 15, 25, true, 25],
    ['three levels: highest line is info 50 (+5)', THREE, 3, 54.99, false, 55],
    ['three levels: 3 → 55 resolves', THREE, 3, 55, true, 55],
  ])('%s', (_name, patch, low, next, resolves, recoverAt) => {
    const r = rule(patch, NO_FLOOR);
    expect(r.recoverAt).toBe(recoverAt);
    const run = feed(r, [low, next], MIN);
    const firstLevel = run.perStep[0]![0]!.level!;
    if (resolves) {
      expect(run.perStep[1]).toEqual([
        {
          event: 'balance.recovered',
          level: null,
          routeLevel: firstLevel,
          episode: 1,
          reminder: 0,
          threshold: recoverAt,
          dueAt: T0 + MIN,
          deferred: false,
        },
      ]);
      expect(run.state).toMatchObject({ status: 'ok', level: null, lastFiringAt: null, episode: 1, maxLevel: firstLevel });
    } else {
      expect(run.perStep[1]).toEqual([]);
      expect(run.state).toMatchObject({ status: 'firing', episode: 1 });
      expect(run.state.level).not.toBeNull();
    }
    expect(run.changed[1]).toBe(resolves || run.state.level !== firstLevel);
  });

  it('a wobble around the line (19.9, 20.1, 19.9, 20.1) notifies once', () => {
    const r = feed(rule(TWO, NO_FLOOR), [19.9, 20.1, 19.9, 20.1, 19.95], MIN);
    expect(r.notifications.map(brief)).toEqual(['balance.low/warning']);
    expect(r.changed).toEqual([true, false, false, false, false]);
  });

  it('after resolving, staying above sends nothing and changes nothing', () => {
    const r = feed(rule(TWO), [15, 60, 70, 21, 20], HOUR);
    expect(r.notifications.map(brief)).toEqual(['balance.low/warning', 'balance.recovered/-']);
    expect(r.changed).toEqual([true, true, false, false, false]);
  });
});

describe('recovery re-arms every level (the next breach is a new episode)', () => {
  it.each<[string, number[], Array<[string, number]>]>([
    [
      'warning, recover, warning',
      [15, 60, 15],
      [
        ['balance.low/warning', 1],
        ['balance.recovered/-', 1],
        ['balance.low/warning', 2],
      ],
    ],
    [
      'critical, recover, critical',
      [3, 60, 3],
      [
        ['balance.low/critical', 1],
        ['balance.recovered/-', 1],
        ['balance.low/critical', 2],
      ],
    ],
    [
      'three episodes',
      [15, 30, 15, 30, 0, 30],
      [
        ['balance.low/warning', 1],
        ['balance.recovered/-', 1],
        ['balance.low/warning', 2],
        ['balance.recovered/-', 2],
        ['balance.low/depleted', 3],
        ['balance.recovered/-', 3],
      ],
    ],
    [
      'new episode starts at the worst level directly, then escalates',
      [15, 3, 60, 3, 0],
      [
        ['balance.low/warning', 1],
        ['balance.low/critical', 1],
        ['balance.recovered/-', 1],
        ['balance.low/critical', 2],
        ['balance.low/depleted', 2],
      ],
    ],
  ])('%s', (_name, balances, expected) => {
    const r = feed(rule(TWO), balances, HOUR);
    expect(r.notifications.map((n) => [brief(n), n.episode])).toEqual(expected);
    expect(r.notifications.every((n) => !n.deferred && n.reminder === 0)).toBe(true);
  });

  it('a new episode resets maxLevel, reminders and lastFiringAt', () => {
    const r = feed(rule(TWO, { repeat_interval: '1h' }), [3, 3, 60, 15], HOUR);
    // 3 (critical), 3 an hour later → reminder 1, 60 → recovered, 15 → episode 2 at warning.
    expect(r.notifications.map((n) => [brief(n), n.episode, n.reminder])).toEqual([
      ['balance.low/critical', 1, 0],
      ['balance.low/critical', 1, 1],
      ['balance.recovered/-', 1, 0],
      ['balance.low/warning', 2, 0],
    ]);
    expect(r.state).toMatchObject({
      status: 'firing',
      level: 'warning',
      episode: 2,
      maxLevel: 'warning',
      reminders: 0,
      lastFiringAt: T0 + 3 * HOUR,
    });
  });
});

describe('notify_recovery = false', () => {
  it('resolves silently and still re-arms', () => {
    const r = feed(rule(TWO, { notify_recovery: false }), [15, 60, 70, 15], HOUR);
    expect(r.perStep.map((ns) => ns.map(brief))).toEqual([['balance.low/warning'], [], [], ['balance.low/warning']]);
    expect(r.changed).toEqual([true, true, false, true]);
    expect(r.notifications[1]!.episode).toBe(2);
  });

  it('the resolved state is stored without a recovery floor entry', () => {
    const r = feed(rule(TWO, { notify_recovery: false }), [3, 60], HOUR);
    expect(r.state).toEqual({
      status: 'ok',
      level: null,
      episode: 1,
      maxLevel: 'critical',
      lastFiringAt: null,
      reminders: 0,
      lastNotified: { 'balance.low:critical': T0 },
    });
  });
});

describe('notify_low_balance = false', () => {
  const off = rule(TWO, { notify_low_balance: false, repeat_interval: '1h' });

  it.each([50, 15, 3, 0, -10])('from scratch, balance %d fires nothing and changes nothing', (balance) => {
    const tr = evaluateBalance(INITIAL_ALERT_STATE, balance, off, T0);
    expect(tr).toEqual({ next: INITIAL_ALERT_STATE, notifications: [], changed: false });
  });

  it.each([50, 15, 3, 0])('a firing alert ends silently (balance %d)', (balance) => {
    const firing = feed(rule(TWO), [3], HOUR).state;
    const tr = evaluateBalance(firing, balance, off, T0 + HOUR);
    expect(tr.notifications).toEqual([]);
    expect(tr.changed).toBe(true);
    expect(tr.next).toMatchObject({ status: 'ok', level: null, episode: 1 });
    // and stays silent
    const again = evaluateBalance(tr.next, 0, off, T0 + 2 * HOUR);
    expect(again.notifications).toEqual([]);
    expect(again.changed).toBe(false);
    expect(evaluateTick(tr.next, off, T0 + DAY)).toEqual({ next: tr.next, notifications: [], changed: false });
  });

  it('no reminders come due on a tick while switched off', () => {
    const firing = feed(rule(TWO, { repeat_interval: '1h' }), [3], HOUR).state;
    const tr = evaluateTick(firing, off, T0 + 5 * HOUR);
    expect(tr).toEqual({ next: firing, notifications: [], changed: false });
  });

  it('switching back on with the balance still low starts a new episode', () => {
    const firing = feed(rule(TWO), [15], HOUR).state;
    const silenced = evaluateBalance(firing, 15, off, T0 + HOUR).next;
    const tr = evaluateBalance(silenced, 15, rule(TWO), T0 + 2 * HOUR);
    expect(tr.notifications.map((n) => [brief(n), n.episode, n.deferred])).toEqual([['balance.low/warning', 2, false]]);
  });
});

describe('notify_depleted = false', () => {
  it.each<[string, Patch, number[], string[], Level]>([
    ['two levels: critical → 0 does not escalate', TWO, [3, 0, -5], ['balance.low/critical'], 'critical'],
    ['two levels: warning → 0 escalates to critical only', TWO, [15, 0], ['balance.low/warning', 'balance.low/critical'], 'critical'],
    ['two levels: first sample 0 is critical', TWO, [0], ['balance.low/critical'], 'critical'],
    ['single: first sample 0 is warning', SINGLE, [0, -1], ['balance.low/warning'], 'warning'],
  ])('%s', (_name, patch, balances, expected, level) => {
    const r = feed(rule(patch, { notify_depleted: false }), balances, SEC);
    expect(r.notifications.map(brief)).toEqual(expected);
    expect(r.state.level).toBe(level);
    expect(r.state.maxLevel).toBe(level);
  });
});

describe('repeat_interval reminders', () => {
  const daily = rule(TWO, { repeat_interval: '24h' });

  it('nextReminderAt is lastFiringAt + repeat', () => {
    const s = feed(daily, [15], HOUR).state;
    expect(nextReminderAt(s, daily)).toBe(T0 + DAY);
  });

  it.each<[string, Partial<AlertState>, ThresholdRule, number | null]>([
    ['ok state', { status: 'ok', level: null, lastFiringAt: T0 }, daily, null],
    ['firing without repeat_interval', { status: 'firing', level: 'warning', lastFiringAt: T0 }, rule(TWO), null],
    ['repeat_interval 0s is off', { status: 'firing', level: 'warning', lastFiringAt: T0 }, rule(TWO, { repeat_interval: '0s' }), null],
    ['firing without lastFiringAt', { status: 'firing', level: 'warning', lastFiringAt: null }, daily, null],
    ['firing, 24h', { status: 'firing', level: 'warning', lastFiringAt: T0 }, daily, T0 + DAY],
    ['firing, 1h30m', { status: 'firing', level: 'critical', lastFiringAt: T0 }, rule(TWO, { repeat_interval: '1h30m' }), T0 + 90 * MIN],
  ])('nextReminderAt: %s', (_name, patch, r, expected) => {
    expect(nextReminderAt({ ...INITIAL_ALERT_STATE, episode: 1, ...patch }, r)).toBe(expected);
  });

  it('evaluateTick: nothing before the interval, a reminder at it, numbers increase', () => {
    let s = feed(daily, [15], HOUR).state;
    const before = evaluateTick(s, daily, T0 + DAY - 1);
    expect(before).toEqual({ next: s, notifications: [], changed: false });

    const sent: Notification[] = [];
    for (let i = 1; i <= 4; i++) {
      const tr = evaluateTick(s, daily, T0 + i * DAY);
      expect(tr.changed).toBe(true);
      sent.push(...tr.notifications);
      s = tr.next;
      expect(s.reminders).toBe(i);
      expect(s.lastFiringAt).toBe(T0 + i * DAY);
      expect(nextReminderAt(s, daily)).toBe(T0 + (i + 1) * DAY);
      // in between, nothing
      expect(evaluateTick(s, daily, T0 + i * DAY + HOUR).notifications).toEqual([]);
    }
    expect(sent).toEqual(
      [1, 2, 3, 4].map((i) => ({
        event: 'balance.low',
        level: 'warning',
        routeLevel: 'warning',
        episode: 1,
        reminder: i,
        threshold: 20,
        dueAt: T0 + i * DAY,
        deferred: false,
      })),
    );
  });

  it('a late tick sends one reminder (not a backlog) and restarts the clock from now', () => {
    const s = feed(daily, [15], HOUR).state;
    const tr = evaluateTick(s, daily, T0 + 3 * DAY + 5 * HOUR);
    expect(tr.notifications.map((n) => [n.reminder, n.dueAt])).toEqual([[1, T0 + 3 * DAY + 5 * HOUR]]);
    expect(nextReminderAt(tr.next, daily)).toBe(T0 + 4 * DAY + 5 * HOUR);
  });

  it('reminders also come due via samples that stay low', () => {
    const r = feed(daily, [15, 14, 13, 12], 12 * HOUR);
    // samples at T0, +12h, +24h, +36h: the +24h one carries reminder 1
    expect(r.perStep.map((ns) => ns.map((n) => [brief(n), n.reminder]))).toEqual([
      [['balance.low/warning', 0]],
      [],
      [['balance.low/warning', 1]],
      [],
    ]);
    expect(r.changed).toEqual([true, false, true, false]);
  });

  it('a reminder announces the current level after a partial recovery', () => {
    const r = feedAt(daily, [
      [T0, 3],
      [T0 + HOUR, 10],
      [T0 + DAY, 12],
    ]);
    expect(r.perStep[2]).toEqual([
      { event: 'balance.low', level: 'warning', routeLevel: 'warning', episode: 1, reminder: 1, threshold: 20, dueAt: T0 + DAY, deferred: false },
    ]);
  });

  it('a reminder inside the hysteresis band announces the mildest level', () => {
    const r = feedAt(daily, [
      [T0, 3],
      [T0 + DAY, 21],
    ]);
    expect(r.perStep[1]!.map((n) => [brief(n), n.reminder, n.threshold])).toEqual([['balance.low/warning', 1, 20]]);
  });

  it('an escalation restarts the reminder clock', () => {
    const s = feedAt(daily, [
      [T0, 15],
      [T0 + 20 * HOUR, 3],
    ]).state;
    expect(nextReminderAt(s, daily)).toBe(T0 + 44 * HOUR);
    expect(evaluateTick(s, daily, T0 + DAY).notifications).toEqual([]);
    expect(evaluateTick(s, daily, T0 + 44 * HOUR).notifications.map((n) => [brief(n), n.reminder])).toEqual([['balance.low/critical', 1]]);
  });

  it.each<[string, ThresholdRule]>([
    ['no repeat_interval', rule(TWO)],
    ['repeat_interval 0s', rule(TWO, { repeat_interval: '0s' })],
  ])('%s: never a reminder, by tick or by sample', (_name, r) => {
    const s = feed(r, [15], HOUR).state;
    for (const t of [T0 + HOUR, T0 + DAY, T0 + 365 * DAY]) {
      expect(evaluateTick(s, r, t)).toEqual({ next: s, notifications: [], changed: false });
      expect(evaluateBalance(s, 15, r, t)).toEqual({ next: s, notifications: [], changed: false });
    }
  });

  it('evaluateTick on an ok alert does nothing', () => {
    const s = feed(daily, [15, 60], HOUR).state;
    expect(evaluateTick(s, daily, T0 + 10 * DAY)).toEqual({ next: s, notifications: [], changed: false });
    expect(evaluateTick(INITIAL_ALERT_STATE, daily, T0)).toEqual({ next: INITIAL_ALERT_STATE, notifications: [], changed: false });
  });

  it('evaluateTick does not mutate the previous state', () => {
    const s = deepFreeze(feed(daily, [15], HOUR).state);
    const snapshot = JSON.stringify(s);
    expect(evaluateTick(s, daily, T0 + DAY).notifications).toHaveLength(1);
    expect(JSON.stringify(s)).toBe(snapshot);
  });

  it('a reminder shorter than the floor is deferred to the end of the floor, not dropped', () => {
    const r = rule(TWO, { repeat_interval: '5m', min_notify_interval: '10m' });
    const s = feed(r, [15], HOUR).state;
    const tr = evaluateTick(s, r, T0 + 5 * MIN);
    expect(tr.notifications).toEqual([
      { event: 'balance.low', level: 'warning', routeLevel: 'warning', episode: 1, reminder: 1, threshold: 20, dueAt: T0 + 10 * MIN, deferred: true },
    ]);
    expect(tr.next.lastNotified['balance.low:warning']).toBe(T0 + 10 * MIN);
  });
});

describe('anti-spam floor: defers to its end, never drops', () => {
  it('flapping across the recovery line: every notification recorded, later ones wait behind earlier ones', () => {
    const r = feedAt(rule(TWO), [
      [T0, 15],
      [T0 + 1 * MIN, 60],
      [T0 + 2 * MIN, 15],
      [T0 + 3 * MIN, 60],
      [T0 + 4 * MIN, 15],
    ]);
    expect(r.perStep.map((ns) => ns.length)).toEqual([1, 1, 1, 1, 1]);
    expect(r.notifications.map((n) => [brief(n), n.episode, n.dueAt, n.deferred])).toEqual([
      ['balance.low/warning', 1, T0, false],
      ['balance.recovered/-', 1, T0 + 1 * MIN, false],
      ['balance.low/warning', 2, T0 + 10 * MIN, true],
      ['balance.recovered/-', 2, T0 + 11 * MIN, true],
      ['balance.low/warning', 3, T0 + 20 * MIN, true],
    ]);
    expect(r.state.lastNotified).toEqual({
      'balance.low:warning': T0 + 20 * MIN,
      'balance.recovered:ok': T0 + 11 * MIN,
    });
  });

  it.each<[string, Patch, number, number, boolean]>([
    ['default 10m, second breach after 2m', {}, 2 * MIN, T0 + 10 * MIN, true],
    ['default 10m, one ms before the end', {}, 10 * MIN - 1, T0 + 10 * MIN, true],
    ['default 10m, exactly at the end', {}, 10 * MIN, T0 + 10 * MIN, false],
    ['default 10m, well after', {}, HOUR, T0 + HOUR, false],
    ['30s floor, after 10s', { min_notify_interval: '30s' }, 10 * SEC, T0 + 30 * SEC, true],
    ['1h floor, after 30m', { min_notify_interval: '1h' }, 30 * MIN, T0 + HOUR, true],
    ['floor 0s is off, even 1 ms later', NO_FLOOR, 2, T0 + 2, false],
    ['floor 0s is off, same millisecond', NO_FLOOR, 0, T0, false],
  ])('new breach of the same level: %s', (_name, patch, at, dueAt, deferred) => {
    // first breach at T0, recovery at T0 + 1ms (recovered has its own floor key), second breach at T0 + at
    const r = feedAt(rule(TWO, patch), [
      [T0, 15],
      [T0 + Math.min(1, at), 60],
      [T0 + at, 15],
    ]);
    expect(r.perStep[2]).toEqual([
      { event: 'balance.low', level: 'warning', routeLevel: 'warning', episode: 2, reminder: 0, threshold: 20, dueAt, deferred },
    ]);
  });

  it('the floor is per event and level: a recent warning does not defer a first critical', () => {
    const r = feedAt(rule(TWO), [
      [T0, 15],
      [T0 + MIN, 60],
      [T0 + 2 * MIN, 3],
    ]);
    expect(r.perStep[2]!.map((n) => [brief(n), n.episode, n.dueAt, n.deferred])).toEqual([['balance.low/critical', 2, T0 + 2 * MIN, false]]);
  });

  it('recoveries have their own floor', () => {
    const r = feedAt(rule(TWO), [
      [T0, 15],
      [T0 + HOUR, 60],
      [T0 + 2 * HOUR, 15],
      [T0 + 2 * HOUR + 5 * MIN, 60],
    ]);
    expect(r.perStep[3]).toEqual([
      {
        event: 'balance.recovered',
        level: null,
        routeLevel: 'warning',
        episode: 2,
        reminder: 0,
        threshold: 22,
        dueAt: T0 + 2 * HOUR + 5 * MIN,
        deferred: false,
      },
    ]);
    const fast = feedAt(rule(TWO), [
      [T0, 15],
      [T0 + MIN, 60],
      [T0 + 2 * MIN, 15],
      [T0 + 3 * MIN, 60],
    ]);
    expect(fast.perStep[3]!.map((n) => [brief(n), n.dueAt, n.deferred])).toEqual([['balance.recovered/-', T0 + 11 * MIN, true]]);
  });
});

describe('SPEC sequence 50, 15, 14, 3, 4, 60, 19, 18 (warning 20 / critical 5)', () => {
  const balances = [50, 15, 14, 3, 4, 60, 19, 18];
  const expected = [
    { event: 'balance.low', level: 'warning', routeLevel: 'warning', episode: 1, reminder: 0, threshold: 20 },
    { event: 'balance.low', level: 'critical', routeLevel: 'critical', episode: 1, reminder: 0, threshold: 5 },
    { event: 'balance.recovered', level: null, routeLevel: 'critical', episode: 1, reminder: 0, threshold: 22 },
    { event: 'balance.low', level: 'warning', routeLevel: 'warning', episode: 2, reminder: 0, threshold: 20 },
  ];

  it.each<[string, Patch, number]>([
    ['floor 0s, samples a minute apart', NO_FLOOR, MIN],
    ['floor 0s, samples in the same millisecond', NO_FLOOR, 0],
    ['default floor, samples an hour apart', {}, HOUR],
  ])('%s', (_name, patch, step) => {
    const r = feed(rule(TWO, patch), balances, step);
    expect(r.notifications.map(({ dueAt: _d, deferred: _x, ...rest }) => rest)).toEqual(expected);
    expect(r.notifications.map((n) => n.deferred)).toEqual([false, false, false, false]);
    expect(r.perStep.map((ns) => ns.map(brief))).toEqual([
      [],
      ['balance.low/warning'],
      [],
      ['balance.low/critical'],
      [],
      ['balance.recovered/-'],
      ['balance.low/warning'],
      [],
    ]);
    expect(r.changed).toEqual([false, true, false, true, false, true, true, false]);
    expect(r.state).toMatchObject({ status: 'firing', level: 'warning', episode: 2, maxLevel: 'warning' });
  });
});

describe('recovery routes like the worst level of its episode', () => {
  it.each<[string, Patch, number[], Level]>([
    ['warning only', TWO, [15, 60], 'warning'],
    ['warning → critical', TWO, [15, 3, 60], 'critical'],
    ['critical, partial recovery, then resolve', TWO, [15, 3, 10, 60], 'critical'],
    ['depleted then resolve', TWO, [0, 60], 'depleted'],
    ['depleted → partial → partial → resolve', TWO, [0, 3, 15, 21, 60], 'depleted'],
    ['info only', THREE, [40, 60], 'info'],
    ['single threshold, depleted off', { notify_depleted: false }, [0, 11], 'warning'],
  ])('%s → routeLevel %s', (_name, patch, balances, routeLevel) => {
    const r = feed(rule(patch), balances, HOUR);
    const rec = r.notifications.filter((n) => n.event === 'balance.recovered');
    expect(rec).toHaveLength(1);
    expect(rec[0]!.routeLevel).toBe(routeLevel);
    expect(rec[0]!.level).toBeNull();
    expect(rec[0]!.episode).toBe(1);
  });

  it('the second episode routes by its own worst level, not the previous one', () => {
    const r = feed(rule(TWO), [0, 60, 15, 60], HOUR);
    expect(r.notifications.filter((n) => n.event === 'balance.recovered').map((n) => [n.episode, n.routeLevel])).toEqual([
      [1, 'depleted'],
      [2, 'warning'],
    ]);
  });
});

describe('changed flag', () => {
  it.each<[string, Patch, number[], boolean[]]>([
    ['nothing low at all', TWO, [50, 40, 30, 20], [false, false, false, false]],
    ['fire, stay', TWO, [15, 15, 16], [true, false, false]],
    ['escalate', TWO, [15, 3], [true, true]],
    ['partial recovery changes the level', TWO, [3, 10], [true, true]],
    ['band after warning changes nothing', TWO, [15, 21], [true, false]],
    ['resolve', TWO, [15, 30], [true, true]],
    ['after resolve, above', TWO, [15, 30, 40], [true, true, false]],
    ['after resolve, inside the band (not below any line) changes nothing', TWO, [15, 30, 21], [true, true, false]],
  ])('%s', (_name, patch, balances, changed) => {
    expect(feed(rule(patch), balances, HOUR).changed).toEqual(changed);
  });
});
