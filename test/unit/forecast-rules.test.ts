import { describe, expect, it } from 'vitest';
import { type AlertState, INITIAL_ALERT_STATE, type Notification, type Transition } from '../../src/domain/alert-state.js';
import { type ConditionInput, type ConditionSpec, evaluateCondition } from '../../src/domain/condition.js';
import { compileForecastRules, DEFAULT_SETTINGS, type ForecastRules, type NotificationSettings } from '../../src/domain/settings.js';
import {
  DAY,
  DEFAULT_SPEND_OPTIONS,
  EMPTY_SPEND,
  estimateSpend,
  HOUR,
  recordSpend,
  runwayDays,
  type SpendEstimate,
  type SpendState,
} from '../../src/domain/spend.js';

// SPEC §3.2 runway and spend-spike rules, driven through the pure functions exactly as Evaluator.applyBalance
// drives them (src/engine/evaluator.ts): recordSpend → estimateSpend → runwayDays → evaluateCondition.
/** A UTC day boundary. */
const T0 = 1_700_006_400_000;
const SEC = 1000;
const MIN = 60_000;

type Patch = Partial<NotificationSettings>;

function rules(patch: Patch = {}): ForecastRules {
  return compileForecastRules({ ...DEFAULT_SETTINGS, ...patch });
}

/** The specs evaluator.ts passes to evaluateCondition. */
function runwaySpec(f: ForecastRules): ConditionSpec {
  return { enabled: f.runway.enabled, event: 'balance.runway_low', resolveEvent: 'balance.runway_recovered', level: 'warning', floorMs: f.runway.floorMs };
}
function spikeSpec(f: ForecastRules): ConditionSpec {
  return { enabled: f.spike.enabled, event: 'spend.spike', resolveEvent: null, level: 'warning', floorMs: f.spike.floorMs };
}

interface Step {
  at: number;
  balance: number;
  est: SpendEstimate;
  runway: number | null;
  runwayT: Transition;
  spikeT: Transition;
}

/** One account: its spend state and the two alerts, fed one sample at a time like Evaluator.applyBalance. */
class Account {
  spend: SpendState = EMPTY_SPEND;
  runwayAlert: AlertState = INITIAL_ALERT_STATE;
  spikeAlert: AlertState = INITIAL_ALERT_STATE;
  readonly steps: Step[] = [];

  constructor(
    public rules: ForecastRules,
    public t: number,
    public balance: number,
  ) {
    this.sample();
  }

  /** Evaluates the current balance at the current time. */
  sample(): Step {
    const f = this.rules;
    const at = this.t;
    const balance = this.balance;
    this.spend = recordSpend(this.spend, balance, at);
    const est = estimateSpend(this.spend, at, { ...DEFAULT_SPEND_OPTIONS, windowMs: f.runway.windowMs });
    const runway = runwayDays(balance, est.spendPerDay);
    const runwayT = evaluateCondition(
      this.runwayAlert,
      {
        breached: runway !== null && balance > 0 && runway < f.runway.days,
        cleared: runway !== null && runway > f.runway.days * 1.2,
        threshold: f.runway.days,
      },
      runwaySpec(f),
      at,
    );
    const line = est.baselineHourly !== null ? est.baselineHourly * f.spike.factor : null;
    const spikeT = evaluateCondition(
      this.spikeAlert,
      {
        breached: line !== null && est.lastHour !== null && est.lastHour > line && est.lastHour > f.spike.minAmount,
        cleared: line !== null && est.lastHour !== null && (est.lastHour <= line || est.lastHour <= f.spike.minAmount),
        threshold: line ?? 0,
      },
      spikeSpec(f),
      at,
    );
    this.runwayAlert = runwayT.next;
    this.spikeAlert = spikeT.next;
    const step = { at, balance, est, runway, runwayT, spikeT };
    this.steps.push(step);
    return step;
  }

  /** Spends `ratePerHour` for `durationMs`, a sample every `stepMs`. */
  spendFor(ratePerHour: number, durationMs: number, stepMs: number): this {
    for (let k = 0; k < Math.round(durationMs / stepMs); k++) {
      this.t += stepMs;
      this.balance -= (ratePerHour * stepMs) / HOUR;
      this.sample();
    }
    return this;
  }

  /** One sample `afterMs` later with the balance set to `balance`. */
  setBalance(balance: number, afterMs = SEC): Step {
    this.t += afterMs;
    this.balance = balance;
    return this.sample();
  }

  get last(): Step {
    return this.steps[this.steps.length - 1]!;
  }

  /** Notifications of one rule from step `from` on, as "event/level@time offset from T0". */
  sent(rule: 'runway' | 'spike', from = 0): Notification[] {
    return this.steps.slice(from).flatMap((s) => (rule === 'runway' ? s.runwayT : s.spikeT).notifications);
  }

  brief(rule: 'runway' | 'spike', from = 0): string[] {
    return this.sent(rule, from).map((n) => `${n.event}/${n.level ?? '-'}#${n.episode}`);
  }
}

/** The done-when runway account: 6/h from 290, a sample every 10 min; 284 left when the history is long enough. */
function runwayAccount(patch: Patch = {}): Account {
  return new Account(rules(patch), T0, 290).spendFor(6, HOUR, 10 * MIN);
}

/** The done-when spike account: 7 days at 0.5/h from 1000, a sample every 5 min. */
function steadyWeek(patch: Patch = {}): Account {
  return new Account(rules(patch), T0, 1000).spendFor(0.5, 7 * DAY, 5 * MIN);
}

describe('compileForecastRules', () => {
  it.each<[string, Patch, ForecastRules]>([
    [
      'defaults: 3 days over 24 h, spike ×3 above a tenth of the low-balance line, 10 min floor',
      {},
      {
        runway: { enabled: true, days: 3, windowMs: DAY, floorMs: 10 * MIN },
        spike: { enabled: true, factor: 3, minAmount: 1, floorMs: 10 * MIN },
      },
    ],
    [
      'custom fields',
      { runway_days: 5, runway_window: '6h', spike_factor: 4, spike_min_amount: 2.5, min_notify_interval: '1h' },
      {
        runway: { enabled: true, days: 5, windowMs: 6 * HOUR, floorMs: HOUR },
        spike: { enabled: true, factor: 4, minAmount: 2.5, floorMs: HOUR },
      },
    ],
    [
      'disabled, spike minimum from a low-balance line of 50',
      { notify_runway: false, notify_spike: false, low_balance_threshold: 50 },
      {
        runway: { enabled: false, days: 3, windowMs: DAY, floorMs: 10 * MIN },
        spike: { enabled: false, factor: 3, minAmount: 5, floorMs: 10 * MIN },
      },
    ],
    [
      'an explicit spike minimum of 0 is kept (not the default)',
      { spike_min_amount: 0 },
      {
        runway: { enabled: true, days: 3, windowMs: DAY, floorMs: 10 * MIN },
        spike: { enabled: true, factor: 3, minAmount: 0, floorMs: 10 * MIN },
      },
    ],
  ])('%s', (_name, patch, expected) => {
    expect(rules(patch)).toEqual(expected);
  });
});

describe('evaluateCondition transitions', () => {
  const NOW = T0 + DAY;
  const spec = (over: Partial<ConditionSpec> = {}): ConditionSpec => ({
    enabled: true,
    event: 'balance.runway_low',
    resolveEvent: 'balance.runway_recovered',
    level: 'warning',
    floorMs: 10 * MIN,
    ...over,
  });
  const ok: AlertState = { ...INITIAL_ALERT_STATE, episode: 2, lastNotified: { 'balance.runway_low:warning': T0 } };
  const firing: AlertState = {
    status: 'firing',
    level: 'warning',
    episode: 3,
    maxLevel: 'warning',
    lastFiringAt: NOW - HOUR,
    reminders: 0,
    lastNotified: { 'balance.runway_low:warning': NOW - HOUR },
  };
  const BREACHED: ConditionInput = { breached: true, cleared: false, threshold: 3 };
  const BAND: ConditionInput = { breached: false, cleared: false, threshold: 3 };
  const CLEARED: ConditionInput = { breached: false, cleared: true, threshold: 3 };

  it.each<[string, AlertState, ConditionInput, ConditionSpec, AlertState, Notification[]]>([
    [
      'ok → firing: a new episode, notified now',
      ok,
      BREACHED,
      spec(),
      { ...ok, status: 'firing', level: 'warning', episode: 3, maxLevel: 'warning', lastFiringAt: NOW, lastNotified: { 'balance.runway_low:warning': NOW } },
      [{ event: 'balance.runway_low', level: 'warning', routeLevel: 'warning', episode: 3, reminder: 0, threshold: 3, dueAt: NOW, deferred: false }],
    ],
    [
      'ok → firing at another level (spec.level critical)',
      INITIAL_ALERT_STATE,
      { breached: true, cleared: false, threshold: 2.5 },
      spec({ event: 'spend.spike', level: 'critical', resolveEvent: null }),
      { ...INITIAL_ALERT_STATE, status: 'firing', level: 'critical', episode: 1, maxLevel: 'critical', lastFiringAt: NOW, lastNotified: { 'spend.spike:critical': NOW } },
      [{ event: 'spend.spike', level: 'critical', routeLevel: 'critical', episode: 1, reminder: 0, threshold: 2.5, dueAt: NOW, deferred: false }],
    ],
    [
      'ok → firing inside the floor: deferred to its end, never dropped',
      { ...ok, lastNotified: { 'balance.runway_low:warning': NOW - 3 * MIN } },
      BREACHED,
      spec(),
      {
        ...ok,
        status: 'firing',
        level: 'warning',
        episode: 3,
        maxLevel: 'warning',
        lastFiringAt: NOW,
        lastNotified: { 'balance.runway_low:warning': NOW + 7 * MIN },
      },
      [{ event: 'balance.runway_low', level: 'warning', routeLevel: 'warning', episode: 3, reminder: 0, threshold: 3, dueAt: NOW + 7 * MIN, deferred: true }],
    ],
    [
      'ok → firing exactly at the end of the floor: due now',
      { ...ok, lastNotified: { 'balance.runway_low:warning': NOW - 10 * MIN } },
      BREACHED,
      spec(),
      { ...ok, status: 'firing', level: 'warning', episode: 3, maxLevel: 'warning', lastFiringAt: NOW, lastNotified: { 'balance.runway_low:warning': NOW } },
      [{ event: 'balance.runway_low', level: 'warning', routeLevel: 'warning', episode: 3, reminder: 0, threshold: 3, dueAt: NOW, deferred: false }],
    ],
    ['ok, in the hysteresis band: nothing', ok, BAND, spec(), ok, []],
    ['ok, cleared: nothing', ok, CLEARED, spec(), ok, []],
    ['firing, still breached: stays, no re-notification', firing, BREACHED, spec(), firing, []],
    ['firing, in the hysteresis band: stays', firing, BAND, spec(), firing, []],
    [
      'firing → ok with a resolve event',
      firing,
      CLEARED,
      spec(),
      { ...firing, status: 'ok', level: null, lastFiringAt: null, lastNotified: { ...firing.lastNotified, 'balance.runway_recovered:ok': NOW } },
      [{ event: 'balance.runway_recovered', level: null, routeLevel: 'warning', episode: 3, reminder: 0, threshold: 3, dueAt: NOW, deferred: false }],
    ],
    [
      'firing → ok with a resolve event inside its floor: deferred',
      { ...firing, lastNotified: { ...firing.lastNotified, 'balance.runway_recovered:ok': NOW - MIN } },
      CLEARED,
      spec(),
      { ...firing, status: 'ok', level: null, lastFiringAt: null, lastNotified: { ...firing.lastNotified, 'balance.runway_recovered:ok': NOW + 9 * MIN } },
      [{ event: 'balance.runway_recovered', level: null, routeLevel: 'warning', episode: 3, reminder: 0, threshold: 3, dueAt: NOW + 9 * MIN, deferred: true }],
    ],
    [
      'firing → ok without a resolve event: silent',
      firing,
      CLEARED,
      spec({ resolveEvent: null }),
      { ...firing, status: 'ok', level: null, lastFiringAt: null },
      [],
    ],
    ['disabled, ok, breached: nothing', ok, BREACHED, spec({ enabled: false }), ok, []],
    ['disabled, firing, still breached: ends silently', firing, BREACHED, spec({ enabled: false }), { ...firing, status: 'ok', level: null, lastFiringAt: null }, []],
    ['disabled, firing, cleared: ends silently (no resolve event)', firing, CLEARED, spec({ enabled: false }), { ...firing, status: 'ok', level: null, lastFiringAt: null }, []],
  ])('%s', (_name, prev, input, sp, next, notifications) => {
    const before = JSON.stringify(prev);
    const t = evaluateCondition(prev, input, sp, NOW);
    expect(t.next).toEqual(next);
    expect(t.notifications).toEqual(notifications);
    expect(t.changed).toBe(JSON.stringify(next) !== JSON.stringify(prev));
    expect(JSON.stringify(prev)).toBe(before);
  });

  it.each<[string, AlertState, ConditionInput, boolean]>([
    ['ok → firing', ok, BREACHED, true],
    ['ok in the band', ok, BAND, false],
    ['firing stays', firing, BREACHED, false],
    ['firing → ok', firing, CLEARED, true],
  ])('changed flag: %s → %s', (_name, prev, input, changed) => {
    expect(evaluateCondition(prev, input, spec(), NOW).changed).toBe(changed);
  });
});

describe('runway rule (done-when: 6/h with 284 left)', () => {
  it('fires exactly once, when the history is long enough, with runway ≈ 2 days', () => {
    const a = runwayAccount();
    // Unknown (under an hour of history) changes nothing.
    for (const s of a.steps.slice(0, -1)) {
      expect(s.runway).toBeNull();
      expect(s.runwayT.notifications).toEqual([]);
    }
    expect(a.last.at).toBe(T0 + HOUR);
    expect(a.last.balance).toBeCloseTo(284, 9);
    expect(a.last.est.spendPerDay).toBeCloseTo(144, 6);
    expect(a.last.runway).toBeCloseTo(284 / 144, 6);
    expect(a.last.runway).toBeCloseTo(2, 0);
    expect(a.sent('runway')).toEqual([
      { event: 'balance.runway_low', level: 'warning', routeLevel: 'warning', episode: 1, reminder: 0, threshold: 3, dueAt: T0 + HOUR, deferred: false },
    ]);
    expect(a.runwayAlert.status).toBe('firing');
    expect(a.brief('spike')).toEqual([]);
  });

  it.each<[string, number, number]>([
    ['every 10 min for 6 more hours', 10 * MIN, 6 * HOUR],
    ['every minute for 3 more hours', MIN, 3 * HOUR],
    ['hourly for 20 more hours', HOUR, 20 * HOUR],
  ])('stays firing without re-notifying as samples continue (%s)', (_name, step, duration) => {
    const a = runwayAccount();
    const from = a.steps.length;
    a.spendFor(6, duration, step);
    for (const s of a.steps.slice(from)) {
      expect(s.runwayT.notifications).toEqual([]);
      expect(s.runwayT.changed).toBe(false);
      expect(s.runwayT.next.status).toBe('firing');
      expect(s.est.spendPerDay).toBeCloseTo(144, 6);
    }
    expect(a.brief('runway')).toEqual(['balance.runway_low/warning#1']);
  });

  it.each<[string, number, string[]]>([
    ['3.3 days (between 3 and 3.6): still firing', 3.3, []],
    ['3.59 days: still firing', 3.59, []],
    ['3.61 days: resolves', 3.61, ['balance.runway_recovered/-#1']],
    ['5 days: resolves', 5, ['balance.runway_recovered/-#1']],
    ['100 days: resolves', 100, ['balance.runway_recovered/-#1']],
  ])('a top-up to %s', (_name, days, expected) => {
    const a = runwayAccount().spendFor(6, 2 * HOUR, 10 * MIN);
    const from = a.steps.length;
    const rate = a.last.est.spendPerDay!;
    const step = a.setBalance(days * rate);
    // The top-up is no spend: the same 18 spent, over 3 h and the second the top-up hides.
    expect(step.est.spendPerDay).toBeCloseTo(((18 / (3 * HOUR + SEC)) * DAY), 6);
    expect(step.runway).toBeCloseTo((days * (3 * HOUR + SEC)) / (3 * HOUR), 6);
    expect(a.brief('runway', from)).toEqual(expected);
    expect(a.runwayAlert.status).toBe(expected.length ? 'ok' : 'firing');
  });

  it('the recovery notification: routed like the episode, the line it is about, due now', () => {
    const a = runwayAccount().spendFor(6, 2 * HOUR, 10 * MIN);
    const from = a.steps.length;
    a.setBalance(600);
    expect(a.last.runway).toBeCloseTo(600 / 144, 2);
    expect(a.sent('runway', from)).toEqual([
      {
        event: 'balance.runway_recovered',
        level: null,
        routeLevel: 'warning',
        episode: 1,
        reminder: 0,
        threshold: 3,
        dueAt: a.last.at,
        deferred: false,
      },
    ]);
  });

  it('a top-up to 3.3 days does not resolve; spending on does not re-notify; a later top-up past 3.6 days does', () => {
    const a = runwayAccount();
    a.setBalance(3.3 * 144);
    a.spendFor(6, 3 * HOUR, 10 * MIN);
    expect(a.runwayAlert.status).toBe('firing');
    a.setBalance(4 * 144);
    expect(a.brief('runway')).toEqual(['balance.runway_low/warning#1', 'balance.runway_recovered/-#1']);
    expect(a.runwayAlert.status).toBe('ok');
  });

  it('once per episode: after the top-up, running low again starts episode 2 with one notification', () => {
    const a = runwayAccount();
    a.setBalance(600);
    // 600 at 144/day lasts 3 days below 432: 28 h later.
    a.spendFor(6, 36 * HOUR, 10 * MIN);
    expect(a.brief('runway')).toEqual(['balance.runway_low/warning#1', 'balance.runway_recovered/-#1', 'balance.runway_low/warning#2']);
    // It fires at the first sample under 3 days: about 432 left, 28 h after the top-up.
    const i = a.steps.findIndex((s) => s.runwayT.notifications.some((n) => n.episode === 2));
    const [before, fired] = [a.steps[i - 1]!, a.steps[i]!];
    expect(before.runway!).toBeGreaterThanOrEqual(3);
    expect(fired.runway!).toBeLessThan(3);
    expect(fired.runway!).toBeCloseTo(3, 1);
    expect(fired.est.spendPerDay).toBeCloseTo(144, 6);
    expect(fired.balance).toBeGreaterThan(430.9);
    expect(fired.balance).toBeLessThan(432.1);
    expect(fired.at - (T0 + HOUR + SEC)).toBeGreaterThanOrEqual(28 * HOUR);
    expect(fired.at - (T0 + HOUR + SEC)).toBeLessThanOrEqual(28 * HOUR + 10 * MIN);
    expect(a.runwayAlert).toMatchObject({ status: 'firing', episode: 2 });
  });

  it('a depleted account does not raise a runway alert (the threshold rule covers it)', () => {
    const a = new Account(rules(), T0, 20).spendFor(12, HOUR, 10 * MIN);
    a.setBalance(0, 10 * MIN);
    a.setBalance(-5, 10 * MIN);
    expect(a.last.runway).toBe(0);
    // 20 → 8 at 12/h fired once, with history; 0 and below neither fire again nor resolve.
    expect(a.brief('runway')).toEqual(['balance.runway_low/warning#1']);
    const b = new Account(rules(), T0, 0).spendFor(0, 2 * HOUR, 10 * MIN);
    expect(b.last.runway).toBe(0);
    expect(b.brief('runway')).toEqual([]);
  });

  it('runway_days and runway_window come from the settings', () => {
    // 10 days of runway: fires under runway_days 14, not under the default 3.
    expect(new Account(rules({ runway_days: 14 }), T0, 1440).spendFor(6, 2 * HOUR, 10 * MIN).brief('runway')).toEqual([
      'balance.runway_low/warning#1',
    ]);
    expect(new Account(rules(), T0, 1440).spendFor(6, 2 * HOUR, 10 * MIN).brief('runway')).toEqual([]);
    // 23 h at 1/h then an hour at 20/h, 200 left: 4.65 days over 24 h (no alert), 0.42 days over a 1 h window.
    const mk = (patch: Patch) => new Account(rules(patch), T0, 200 + 23 + 20).spendFor(1, 23 * HOUR, 10 * MIN).spendFor(20, HOUR, 10 * MIN);
    const day = mk({});
    expect(day.last.runway).toBeCloseTo(200 / 43, 6);
    expect(day.brief('runway')).toEqual([]);
    const hour = mk({ runway_window: '1h' });
    expect(hour.last.runway).toBeCloseTo(200 / 480, 6);
    expect(hour.brief('runway')).toEqual(['balance.runway_low/warning#1']);
  });
});

describe('accounts that raise no runway alert', () => {
  it.each<[string, number, number, number, number]>([
    ['steady low spend: 0.5/h from 200 for 8 days', 0.5, 200, 8 * DAY, 5 * MIN],
    ['steady 6/h from 3000 for 8 days', 6, 3000, 8 * DAY, 5 * MIN],
    ['steady 50/h from 20,000 for 2 days', 50, 20_000, 2 * DAY, MIN],
    ['steady 1/h from 100 for 24 h, hourly', 1, 100, DAY, HOUR],
  ])('%s', (_name, rate, start, duration, step) => {
    const a = new Account(rules(), T0, start).spendFor(rate, duration, step);
    expect(a.brief('runway')).toEqual([]);
    expect(a.brief('spike')).toEqual([]);
    expect(a.last.est.spendPerDay).toBeCloseTo(24 * rate, 6);
    expect(a.last.runway).toBeCloseTo(a.last.balance / (24 * rate), 6);
    expect(a.last.runway!).toBeGreaterThan(3);
  });

  it.each<[string, number, boolean, number]>([
    ['the top-up in a regular minute sample', MIN, false, 24 - 1 / 60],
    ['the top-up in its own sample', MIN, true, 24 - 1 / 3600],
    ['5-minute samples', 5 * MIN, false, 24 - 5 / 60],
  ])('1/h, topped up by 500 ten hours ago (%s): no alert, spend_per_day ≈ 24 (not negative)', (_name, step, ownSample, perDay) => {
    const a = new Account(rules(), T0, 100).spendFor(1, 14 * HOUR - step, step);
    if (ownSample) {
      // A regular sample at 14 h, the top-up a second later (hiding that second's spend), back on the grid.
      a.spendFor(1, step, step);
      a.setBalance(a.balance + 500 - 1 / 3600, SEC);
      a.spendFor(1, step - SEC, step - SEC);
    } else {
      // The sample at 14 h already includes the top-up, hiding the spend of the interval before it.
      a.setBalance(a.balance - step / HOUR + 500, step);
    }
    a.spendFor(1, T0 + DAY - a.t, step);
    expect(a.t).toBe(T0 + DAY);
    expect(a.balance).toBeCloseTo(576, 6);
    expect(a.brief('runway')).toEqual([]);
    expect(a.brief('spike')).toEqual([]);
    expect(a.last.est.spendPerDay).toBeCloseTo(perDay, 6);
    expect(a.last.est.spendPerDay).toBeCloseTo(24, 0);
    expect(a.last.runway).toBeCloseTo(576 / perDay, 6);
    // Never negative, never near the line, all along.
    for (const s of a.steps) {
      if (s.est.spendPerDay !== null) expect(s.est.spendPerDay).toBeGreaterThanOrEqual(0);
      if (s.runway !== null) expect(s.runway).toBeGreaterThan(3.5);
    }
  });
});

describe('spend-spike rule (done-when: 7 days at 0.5/h, then 40 in one hour)', () => {
  it('fires exactly one spend.spike, then resolves silently when spending is back to normal', () => {
    const a = steadyWeek();
    expect(a.brief('spike')).toEqual([]);
    const from = a.steps.length;
    a.spendFor(40, HOUR, 5 * MIN);
    const spike = a.steps.slice(from);
    // The first 5 minutes of it already cross the line: 3.79 > 3 × 0.5 and > the minimum of 1.
    expect(spike[0]!.est.lastHour).toBeCloseTo((40 * 5) / 60 + (0.5 * 55) / 60, 6);
    expect(spike[0]!.est.baselineHourly).toBeCloseTo(0.5, 6);
    expect(a.sent('spike')).toEqual([
      { event: 'spend.spike', level: 'warning', routeLevel: 'warning', episode: 1, reminder: 0, threshold: expect.closeTo(1.5, 6), dueAt: spike[0]!.at, deferred: false },
    ]);
    expect(a.last.est.lastHour).toBeCloseTo(40, 6);
    expect(a.spikeAlert.status).toBe('firing');
    for (const s of spike.slice(1)) expect(s.spikeT.changed).toBe(false);

    // Back to 0.5/h for two days: the alert resolves without a message, and nothing else fires.
    const back = a.steps.length;
    a.spendFor(0.5, 2 * DAY, 5 * MIN);
    const resolvedAt = a.steps.slice(back).findIndex((s) => s.spikeT.next.status === 'ok');
    expect(resolvedAt).toBeGreaterThanOrEqual(0);
    const resolving = a.steps[back + resolvedAt]!;
    expect(resolving.spikeT.changed).toBe(true);
    expect(resolving.spikeT.notifications).toEqual([]);
    // It resolves within the hour after the spike ended (the last hour is back under 3 × the baseline).
    expect(resolving.at - a.steps[back - 1]!.at).toBeLessThanOrEqual(HOUR);
    expect(resolving.est.lastHour!).toBeLessThanOrEqual(3 * resolving.est.baselineHourly!);
    expect(a.brief('spike')).toEqual(['spend.spike/warning#1']);
    expect(a.spikeAlert).toMatchObject({ status: 'ok', episode: 1 });
    // 1000 − 84 − 40 − 24 left at ~12/day: no runway alert either.
    expect(a.brief('runway')).toEqual([]);
  });

  it.each<[string, number, number, number]>([
    ['steady 0.5/h for 8 days', 0.5, 1000, 5 * MIN],
    ['steady 6/h for 8 days', 6, 10_000, 5 * MIN],
    ['steady 100/h for 8 days, every 10 min', 100, 100_000, 10 * MIN],
    ['steady 0.5/h for 8 days, hourly', 0.5, 1000, HOUR],
  ])('%s: no spike', (_name, rate, start, step) => {
    const a = new Account(rules(), T0 + 7 * MIN, start).spendFor(rate, 8 * DAY, step);
    expect(a.brief('spike')).toEqual([]);
    expect(a.brief('runway')).toEqual([]);
    expect(a.last.est.lastHour).toBeCloseTo(rate, 6);
    expect(a.last.est.baselineHourly).toBeCloseTo(rate, 6);
  });

  it('an uneven but regular account (alternating hours of 0.25 and 0.75 for 8 days): no spike', () => {
    const a = new Account(rules(), T0, 1000);
    for (let h = 0; h < 8 * 24; h++) a.spendFor(h % 2 ? 0.75 : 0.25, HOUR, 5 * MIN);
    expect(a.brief('spike')).toEqual([]);
    expect(a.last.est.baselineHourly).toBeCloseTo(0.5, 2);
  });

  it('a 10 h gap with the usual drop is no spike', () => {
    const a = steadyWeek();
    a.setBalance(a.balance - 5, 10 * HOUR);
    a.spendFor(0.5, 2 * HOUR, 5 * MIN);
    expect(a.last.est.lastHour).toBeCloseTo(0.5, 6);
    expect(a.brief('spike')).toEqual([]);
  });

  it.each<[string, Patch, number, number, string[]]>([
    ['pennies: 0.01/h then 0.5 in an hour stays under the default minimum of 1', {}, 0.01, 0.5, []],
    ['pennies with spike_min_amount 0.1', { spike_min_amount: 0.1 }, 0.01, 0.5, ['spend.spike/warning#1']],
    ['40 in an hour under spike_factor 100 (line 50)', { spike_factor: 100 }, 0.5, 40, []],
    ['40 in an hour under spike_factor 50 (line 25)', { spike_factor: 50 }, 0.5, 40, ['spend.spike/warning#1']],
    ['40 in an hour with spike_min_amount 50', { spike_min_amount: 50 }, 0.5, 40, []],
    ['2 in an hour (4× the rate, above a minimum of 1)', {}, 0.5, 2, ['spend.spike/warning#1']],
    ['1.4 in an hour (under 3 × 0.5)', {}, 0.5, 1.4, []],
  ])('%s', (_name, patch, rate, burst, expected) => {
    const a = new Account(rules(patch), T0, 1000).spendFor(rate, 7 * DAY, 5 * MIN).spendFor(burst, HOUR, 5 * MIN);
    expect(a.brief('spike')).toEqual(expected);
  });

  it('needs a day of baseline: a burst on the first day is no spike', () => {
    const a = new Account(rules(), T0, 1000).spendFor(0.5, 20 * HOUR, 5 * MIN).spendFor(40, HOUR, 5 * MIN);
    expect(a.last.est.baselineHourly).toBeNull();
    expect(a.brief('spike')).toEqual([]);
  });
});

describe('the anti-spam floor and disabled rules', () => {
  it('a runway re-fire inside min_notify_interval is deferred to the end of the floor', () => {
    const a = new Account(rules(), T0, 290).spendFor(6, HOUR, MIN);
    expect(a.brief('runway')).toEqual(['balance.runway_low/warning#1']);
    a.setBalance(600, MIN); // resolves at T0 + 61 min
    a.setBalance(250, 2 * MIN); // runs low again at T0 + 63 min
    expect(a.last.runway!).toBeLessThan(3);
    expect(a.sent('runway')).toEqual([
      { event: 'balance.runway_low', level: 'warning', routeLevel: 'warning', episode: 1, reminder: 0, threshold: 3, dueAt: T0 + HOUR, deferred: false },
      { event: 'balance.runway_recovered', level: null, routeLevel: 'warning', episode: 1, reminder: 0, threshold: 3, dueAt: T0 + 61 * MIN, deferred: false },
      { event: 'balance.runway_low', level: 'warning', routeLevel: 'warning', episode: 2, reminder: 0, threshold: 3, dueAt: T0 + 70 * MIN, deferred: true },
    ]);
  });

  it.each<[string, string, number]>([
    ['1h', '1h', HOUR],
    ['0s (no floor)', '0s', 0],
  ])('min_notify_interval %s', (_name, interval, floorMs) => {
    const a = new Account(rules({ min_notify_interval: interval }), T0, 290).spendFor(6, HOUR, MIN);
    a.setBalance(600, MIN);
    a.setBalance(250, 2 * MIN);
    const refire = a.sent('runway')[2]!;
    expect(refire.dueAt).toBe(floorMs ? T0 + HOUR + floorMs : T0 + 63 * MIN);
    expect(refire.deferred).toBe(floorMs > 0);
  });

  it('a spike re-fire inside the floor is deferred too', () => {
    const a = steadyWeek({ min_notify_interval: '6h' }).spendFor(40, HOUR, 5 * MIN);
    const first = a.sent('spike')[0]!;
    a.spendFor(0.5, 3 * HOUR, 5 * MIN);
    expect(a.spikeAlert.status).toBe('ok');
    a.spendFor(40, 30 * MIN, 5 * MIN);
    expect(a.sent('spike')).toEqual([
      first,
      expect.objectContaining({ event: 'spend.spike', episode: 2, dueAt: first.dueAt + 6 * HOUR, deferred: true }),
    ]);
  });

  it.each<[string, () => Account]>([
    ['notify_runway false: the runway account', () => runwayAccount({ notify_runway: false }).spendFor(6, 30 * HOUR, 10 * MIN)],
    ['notify_spike false: the spike account', () => steadyWeek({ notify_spike: false }).spendFor(40, HOUR, 5 * MIN)],
  ])('%s never fires', (_name, make) => {
    const a = make();
    expect(a.brief('runway')).toEqual([]);
    expect(a.brief('spike')).toEqual([]);
    expect(a.runwayAlert).toEqual(INITIAL_ALERT_STATE);
    expect(a.spikeAlert).toEqual(INITIAL_ALERT_STATE);
  });

  it('disabling the runway rule ends a firing alert silently; re-enabling while still low starts a new episode', () => {
    const a = runwayAccount();
    expect(a.runwayAlert.status).toBe('firing');
    a.rules = rules({ notify_runway: false });
    const off = a.setBalance(a.balance - 1, 10 * MIN);
    expect(off.runwayT.changed).toBe(true);
    expect(off.runwayT.notifications).toEqual([]);
    expect(a.runwayAlert).toMatchObject({ status: 'ok', level: null, episode: 1, lastFiringAt: null });
    a.spendFor(6, 2 * HOUR, 10 * MIN);
    expect(a.brief('runway')).toEqual(['balance.runway_low/warning#1']);
    a.rules = rules();
    a.spendFor(6, 10 * MIN, 10 * MIN);
    expect(a.brief('runway')).toEqual(['balance.runway_low/warning#1', 'balance.runway_low/warning#2']);
  });

  it('disabling the spike rule ends a firing spike silently', () => {
    const a = steadyWeek().spendFor(40, 30 * MIN, 5 * MIN);
    expect(a.spikeAlert.status).toBe('firing');
    a.rules = rules({ notify_spike: false });
    const off = a.setBalance(a.balance - 4, 5 * MIN);
    expect(off.spikeT).toMatchObject({ changed: true, notifications: [] });
    expect(a.spikeAlert.status).toBe('ok');
    expect(a.brief('spike')).toEqual(['spend.spike/warning#1']);
  });
});
