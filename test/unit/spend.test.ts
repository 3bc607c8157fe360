import { describe, expect, it } from 'vitest';
import {
  DAY,
  DEFAULT_SPEND_OPTIONS,
  EMPTY_SPEND,
  estimateSpend,
  HOUR,
  recordSpend,
  runwayDays,
  type SpendEstimate,
  type SpendOptions,
  type SpendState,
  suggestedThreshold,
} from '../../src/domain/spend.js';

// SPEC §3.2 spend rate, runway and suggested threshold, table by table. Times are absolute ms.
/** A UTC day boundary (so also an hour boundary). */
const T0 = 1_700_006_400_000;
const SEC = 1000;
const MIN = 60_000;

type Sample = readonly [at: number, balance: number];

/** Builds a balance history step by step: steady spending, top-ups, gaps. */
class Timeline {
  readonly samples: Sample[] = [];
  constructor(
    public t: number,
    public balance: number,
  ) {
    this.samples.push([t, balance]);
  }

  /** Spends `ratePerHour` for `durationMs`, one sample every `stepMs` (the last one at the end of the stretch). */
  spend(ratePerHour: number, durationMs: number, stepMs: number): this {
    const steps = Math.round(durationMs / stepMs);
    for (let k = 0; k < steps; k++) {
      this.t += stepMs;
      this.balance -= (ratePerHour * stepMs) / HOUR;
      this.samples.push([this.t, this.balance]);
    }
    return this;
  }

  /** One sample `afterMs` later with the balance changed by `delta` (negative: spent, positive: top-up). */
  jump(delta: number, afterMs: number): this {
    this.t += afterMs;
    this.balance += delta;
    this.samples.push([this.t, this.balance]);
    return this;
  }

  state(start: SpendState = EMPTY_SPEND): SpendState {
    return record(this.samples, start);
  }

  estimate(opts?: SpendOptions): SpendEstimate {
    return estimateSpend(this.state(), this.t, opts);
  }
}

function record(samples: readonly Sample[], start: SpendState = EMPTY_SPEND): SpendState {
  let s = start;
  for (const [at, balance] of samples) s = recordSpend(s, balance, at);
  return s;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

// Nothing may mutate the shared empty state.
deepFreeze(EMPTY_SPEND);

const UNKNOWN: SpendEstimate = { spendPerDay: null, typicalPerDay: null, lastHour: null, baselineHourly: null };

describe('estimateSpend: steady spend', () => {
  // 30 h of history: a full 24 h window and a full day of baseline before the last hour.
  it.each<[string, number, number, number]>([
    ['6/h, every minute, hour-aligned', 6, MIN, 0],
    ['6/h, every minute, ending mid-hour', 6, MIN, 17 * MIN + 23 * SEC],
    ['6/h, every 5 min, hour-aligned', 6, 5 * MIN, 0],
    ['6/h, every 5 min, ending mid-hour', 6, 5 * MIN, 32 * MIN],
    ['6/h, hourly, hour-aligned', 6, HOUR, 0],
    ['6/h, hourly, ending mid-hour', 6, HOUR, 25 * MIN],
    ['0.5/h, every minute', 0.5, MIN, 7 * MIN],
    ['0.5/h, every 5 min', 0.5, 5 * MIN, 0],
    ['0.5/h, hourly', 0.5, HOUR, 45 * MIN],
    ['120/h, every 5 min', 120, 5 * MIN, 11 * MIN],
    ['0.01/h, hourly', 0.01, HOUR, 0],
  ])('%s → %d/h exactly', (_name, rate, step, offset) => {
    const est = new Timeline(T0 + offset, 10_000).spend(rate, 30 * HOUR, step).estimate();
    expect(est.spendPerDay).toBeCloseTo(24 * rate, 6);
    expect(est.lastHour).toBeCloseTo(rate, 6);
    expect(est.baselineHourly).toBeCloseTo(rate, 6);
    expect(est.typicalPerDay).toBeCloseTo(24 * rate, 6);
  });

  it.each<[string, number, number]>([
    ['every minute', MIN, 0],
    ['every 5 min, start mid-hour', 5 * MIN, 7 * MIN],
    ['every 10 min', 10 * MIN, 0],
  ])('%s: the estimate is the same at every sample once the window is full, wherever in the hour', (_name, step, offset) => {
    const tl = new Timeline(T0 + offset, 5000).spend(6, 25 * HOUR, step);
    let s = tl.state();
    for (let k = 1; k <= Math.round((3 * HOUR) / step); k++) {
      const at = tl.t + k * step;
      s = recordSpend(s, tl.balance - (6 * k * step) / HOUR, at);
      const est = estimateSpend(s, at);
      expect(est.spendPerDay).toBeCloseTo(144, 6);
      expect(est.lastHour).toBeCloseTo(6, 6);
    }
  });

  it('history shorter than the window: the rate is over the history so far', () => {
    // 3 h at 2/h: spendPerDay is 48, not 3 h of spend divided by a whole day.
    const est = new Timeline(T0 + 13 * MIN, 100).spend(2, 3 * HOUR, 10 * MIN).estimate();
    expect(est).toEqual({
      spendPerDay: expect.closeTo(48, 6),
      typicalPerDay: expect.closeTo(48, 6),
      lastHour: expect.closeTo(2, 6),
      baselineHourly: null,
    });
  });
});

describe('estimateSpend: the done-when figures', () => {
  it.each<[string, Timeline]>([
    ['hourly: 296, 290, 284', new Timeline(T0, 296).spend(6, 2 * HOUR, HOUR)],
    ['every 10 min for an hour: 290 → 284', new Timeline(T0, 290).spend(6, HOUR, 10 * MIN)],
    ['every minute for a day: 428 → 284', new Timeline(T0 + 3 * MIN, 428).spend(6, DAY, MIN)],
  ])('6/h with 284 left (%s) → 144/day, runway 284/144 ≈ 1.97 days', (_name, tl) => {
    const est = tl.estimate();
    expect(tl.balance).toBeCloseTo(284, 9);
    expect(est.spendPerDay).toBeCloseTo(144, 6);
    const runway = runwayDays(tl.balance, est.spendPerDay);
    expect(runway).toBeCloseTo(284 / 144, 6);
    expect(runway).toBeCloseTo(1.97, 2);
  });

  it.each<[string, number, number]>([
    ['a top-up to 520 is more than 3.6 days', 520, 520 / 144],
    ['a top-up to 475.2 is 3.3 days', 475.2, 3.3],
  ])('%s', (_name, balance, days) => {
    const tl = new Timeline(T0, 290).spend(6, HOUR, 10 * MIN);
    // The top-up shows up in its own sample a second later: that second's spend is hidden by the rise.
    tl.jump(balance - tl.balance, SEC);
    const est = tl.estimate();
    expect(est.spendPerDay).toBeCloseTo(((6 * HOUR) / (HOUR + SEC)) * 24, 6);
    expect(runwayDays(tl.balance, est.spendPerDay)).toBeCloseTo(days, 2);
  });
});

describe('estimateSpend: top-ups and refunds are not negative spend', () => {
  // 1/h from 100 for 24 h; 500 added 10 h before the end. Only the decrease hidden inside the interval that
  // contains the top-up is lost; nothing is ever subtracted.
  it.each<[string, number, boolean, number]>([
    ['every minute, the top-up shows in a regular sample', MIN, false, 24 - 1 / 60],
    ['every 5 min, the top-up shows in a regular sample', 5 * MIN, false, 24 - 5 / 60],
    ['hourly, the top-up shows in a regular sample', HOUR, false, 23],
    ['hourly, the top-up in its own sample a second later', HOUR, true, 24 - 1 / 3600],
    ['every minute, the top-up in its own sample a second later', MIN, true, 24 - 1 / 3600],
  ])('%s', (_name, step, ownSample, expected) => {
    const tl = new Timeline(T0, 100);
    if (ownSample) {
      // Regular samples up to 14 h, the top-up a second later (that second's spend of 1/3600 hidden by the rise).
      tl.spend(1, 14 * HOUR, step).jump(500 - 1 / 3600, SEC).spend(1, step - SEC, step - SEC);
    } else {
      // The sample at 14 h already includes the top-up: the spend of the interval before it is hidden.
      tl.spend(1, 14 * HOUR, step);
      tl.balance += 500;
      tl.samples[tl.samples.length - 1] = [tl.t, tl.balance];
      tl.spend(1, step, step);
    }
    tl.spend(1, 10 * HOUR - step, step);
    expect(tl.t).toBe(T0 + DAY);
    expect(tl.balance).toBeCloseTo(100 - 24 + 500, 6);
    const est = tl.estimate();
    expect(est.spendPerDay).toBeCloseTo(expected, 6);
    expect(est.lastHour).toBeCloseTo(1, 6);
    expect(runwayDays(tl.balance, est.spendPerDay)).toBeCloseTo(576 / expected, 6);
  });

  it.each<[string, number]>([
    ['a refund of 3', 3],
    ['a top-up of 500', 500],
    ['a top-up of 1,000,000', 1_000_000],
  ])('%s in the last sample: lastHour 0 (not negative), the day keeps its earlier spend', (_name, amount) => {
    const tl = new Timeline(T0, 200).spend(1, 23 * HOUR, HOUR).jump(amount - 1, HOUR);
    const est = tl.estimate();
    expect(est.lastHour).toBe(0);
    expect(est.spendPerDay).toBeCloseTo(23, 6);
    expect(est.typicalPerDay).toBeCloseTo(23, 6);
  });

  it('an account that only ever rises spends nothing: spendPerDay 0, runway Infinity', () => {
    const tl = new Timeline(T0, 10);
    for (let k = 1; k <= 30; k++) tl.jump(5, HOUR);
    const est = tl.estimate();
    expect(est).toEqual({ spendPerDay: 0, typicalPerDay: 0, lastHour: 0, baselineHourly: 0 });
    expect(runwayDays(tl.balance, est.spendPerDay)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('estimateSpend: gaps spread a drop over the gap', () => {
  // 48 h at 0.5/h every 5 min, then nothing for 10 h, then one sample.
  it.each<[string, number, number, number, number]>([
    ['the usual 0.5/h over the gap (drop of 5)', 5, 0.5, 12, 28.5 / 57],
    ['1/h over the gap (drop of 10)', 10, 1, 7 + 10, 33 / 57],
    ['no drop over the gap', 0, 0, 7, 24 / 57],
  ])('%s', (_name, drop, lastHour, perDay, baseline) => {
    const tl = new Timeline(T0, 1000).spend(0.5, 2 * DAY, 5 * MIN).jump(-drop, 10 * HOUR);
    const est = tl.estimate();
    expect(est.lastHour).toBeCloseTo(lastHour, 6);
    expect(est.spendPerDay).toBeCloseTo(perDay, 6);
    expect(est.baselineHourly).toBeCloseTo(baseline, 6);
    // No false spike: the last hour is nowhere near 3× the baseline.
    expect(est.lastHour!).toBeLessThan(3 * est.baselineHourly!);
  });

  it('a gap longer than the window keeps only the part of the drop inside it', () => {
    // 30 h of silence with a drop of 30 (1/h): the 24 h window sees 24 of it.
    const tl = new Timeline(T0, 1000).spend(1, 2 * DAY, HOUR).jump(-30, 30 * HOUR);
    const est = tl.estimate();
    expect(est.spendPerDay).toBeCloseTo(24, 6);
    expect(est.lastHour).toBeCloseTo(1, 6);
  });
});

describe('recordSpend: out-of-order and duplicate samples are ignored', () => {
  const base = new Timeline(T0, 500).spend(6, 30 * HOUR, 10 * MIN);
  const state = base.state();

  it.each<[string, number, number]>([
    ['a duplicate (same time, same balance)', base.t, base.balance],
    ['same time, a lower balance', base.t, base.balance - 50],
    ['same time, a higher balance', base.t, base.balance + 50],
    ['a minute older, a much lower balance', base.t - MIN, 0],
    ['a day older', base.t - DAY, 1000],
    ['older than the first sample', T0 - HOUR, 1],
  ])('%s: the state is returned unchanged', (_name, at, balance) => {
    const next = recordSpend(state, balance, at);
    expect(next).toBe(state);
    expect(estimateSpend(next, base.t)).toEqual(estimateSpend(state, base.t));
  });

  it('a history with duplicates and stragglers interleaved estimates like the clean one', () => {
    const noisy: Sample[] = [];
    base.samples.forEach((sample, i) => {
      noisy.push(sample);
      if (i % 3 === 0) noisy.push(sample); // duplicate
      if (i % 7 === 0 && i > 0) noisy.push([sample[0] - 5 * MIN, sample[1] - 100]); // late, out of order
    });
    const s = record(noisy);
    expect(s).toEqual(state);
    expect(s.samples).toBe(base.samples.length);
  });
});

describe('estimateSpend: sparse history is unknown', () => {
  it.each<[string, Sample[], Partial<SpendOptions>]>([
    ['no samples', [], {}],
    ['one sample', [[T0, 100]], {}],
    [
      'two samples two hours apart',
      [
        [T0, 100],
        [T0 + 2 * HOUR, 90],
      ],
      {},
    ],
    [
      'three samples within 59 min',
      [
        [T0, 100],
        [T0 + 30 * MIN, 95],
        [T0 + 59 * MIN, 90],
      ],
      {},
    ],
    ['ten samples within 30 min', Array.from({ length: 10 }, (_, i) => [T0 + i * 3 * MIN, 100 - i] as const), {}],
    [
      'four samples when five are required',
      Array.from({ length: 4 }, (_, i) => [T0 + i * HOUR, 100 - i] as const),
      { minSamples: 5 },
    ],
    [
      'five hours when six are required',
      Array.from({ length: 6 }, (_, i) => [T0 + i * HOUR, 100 - i] as const),
      { minHistoryMs: 6 * HOUR },
    ],
  ])('%s → all null, no runway, no suggestion', (_name, samples, opts) => {
    const s = record(samples);
    const now = samples.at(-1)?.[0] ?? T0;
    const est = estimateSpend(s, now, { ...DEFAULT_SPEND_OPTIONS, ...opts });
    expect(est).toEqual(UNKNOWN);
    expect(runwayDays(samples.at(-1)?.[1] ?? null, est.spendPerDay)).toBeNull();
    expect(suggestedThreshold(est)).toBeNull();
  });

  it('three samples and exactly one hour is enough', () => {
    const s = record([
      [T0, 100],
      [T0 + 30 * MIN, 98],
      [T0 + HOUR, 96],
    ]);
    expect(estimateSpend(s, T0 + HOUR)).toEqual({
      spendPerDay: expect.closeTo(96, 6),
      typicalPerDay: expect.closeTo(96, 6),
      lastHour: expect.closeTo(4, 6),
      baselineHourly: null,
    });
  });
});

describe('estimateSpend: the spend spike inputs', () => {
  it.each<[string, number]>([
    ['starting on a day boundary', 0],
    ['starting 15 min past the hour', 15 * MIN],
    ['starting mid-day', 13 * HOUR + 40 * MIN],
  ])('7 days at 0.5/h then 40 in one hour (%s) → lastHour 40, baselineHourly 0.5', (_name, offset) => {
    const tl = new Timeline(T0 + offset, 1000).spend(0.5, 7 * DAY, 5 * MIN).spend(40, HOUR, 5 * MIN);
    const est = tl.estimate();
    expect(est.lastHour).toBeCloseTo(40, 6);
    expect(est.baselineHourly).toBeCloseTo(0.5, 6);
    expect(est.spendPerDay).toBeCloseTo(23 * 0.5 + 40, 6);
    expect(est.typicalPerDay).toBeCloseTo((167 * 0.5 + 40) / 7, 6);
  });

  it('samples off the 5-minute grid (every 5 min from 17 min past the hour): off by at most one 5-minute bucket', () => {
    // The hour starts 2 min into a 5-minute bucket whose spend is assumed even: 3/5 of its 0.017 + 2 is counted.
    const tl = new Timeline(T0 + 17 * MIN, 1000).spend(0.5, 7 * DAY, 5 * MIN).spend(40, HOUR, 5 * MIN);
    const est = tl.estimate();
    const edge = (0.5 * 2) / 60 + (40 * 3) / 60;
    const lastHour = 40 - (40 * 3) / 60 + (3 / 5) * edge;
    expect(est.lastHour).toBeCloseTo(lastHour, 6);
    expect(Math.abs(est.lastHour! - 40)).toBeLessThan(40 / 12);
    expect(est.baselineHourly).toBeCloseTo((167 * 0.5 + 40 - lastHour) / 167, 6);
    expect(est.baselineHourly).toBeCloseTo(0.5, 2);
  });

  it.each<[string, number, number]>([
    ['5 min into it', 5 * MIN, (40 * 5) / 60 + (0.5 * 55) / 60],
    ['30 min into it', 30 * MIN, 20 + 0.25],
    ['the whole hour', HOUR, 40],
  ])('a spike in progress, %s: lastHour counts it, the baseline does not', (_name, into, lastHour) => {
    const tl = new Timeline(T0 + 10 * MIN, 1000).spend(0.5, 7 * DAY, 5 * MIN).spend(40, into, 5 * MIN);
    const est = tl.estimate();
    expect(est.lastHour).toBeCloseTo(lastHour, 6);
    expect(est.baselineHourly).toBeCloseTo(0.5, 6);
  });

  it.each<[string, number, number | null]>([
    ['2 h of history', 2 * HOUR, null],
    ['24 h of history (23 h before the last hour)', DAY, null],
    ['24 h 55 min of history', DAY + 55 * MIN, null],
    ['25 h of history (a day before the last hour)', DAY + HOUR, 0.5],
    ['3 days of history', 3 * DAY, 0.5],
    ['10 days of history (the baseline is the last 7 days)', 10 * DAY, 0.5],
  ])('the baseline needs a day of history: %s', (_name, history, baseline) => {
    const est = new Timeline(T0, 1000).spend(0.5, history, 5 * MIN).estimate();
    expect(est.lastHour).toBeCloseTo(0.5, 6);
    if (baseline === null) expect(est.baselineHourly).toBeNull();
    else expect(est.baselineHourly).toBeCloseTo(baseline, 6);
  });

  it('the baseline forgets what is older than 7 days', () => {
    // 2 days at 10/h, then 7 days at 1/h: the week before the last hour is all 1/h.
    const est = new Timeline(T0, 10_000).spend(10, 2 * DAY, 10 * MIN).spend(1, 7 * DAY, 10 * MIN).estimate();
    expect(est.baselineHourly).toBeCloseTo(1, 6);
    expect(est.typicalPerDay).toBeCloseTo(24, 6);
  });
});

describe('estimateSpend: the window option', () => {
  // 2 days: 1/h for 42 h, then 4/h for the last 6 h.
  const tl = new Timeline(T0, 1000).spend(1, 42 * HOUR, 10 * MIN).spend(4, 6 * HOUR, 10 * MIN);
  it.each<[string, number, number]>([
    ['1 h', HOUR, 96],
    ['6 h', 6 * HOUR, 96],
    ['12 h', 12 * HOUR, ((6 * 1 + 6 * 4) / 12) * 24],
    ['24 h (the default)', DAY, 18 * 1 + 6 * 4],
    ['48 h', 2 * DAY, ((42 * 1 + 6 * 4) / 48) * 24],
    ['7 days (longer than the history: the history)', 7 * DAY, ((42 * 1 + 6 * 4) / 48) * 24],
  ])('window %s', (_name, windowMs, expected) => {
    const est = tl.estimate({ ...DEFAULT_SPEND_OPTIONS, windowMs });
    expect(est.spendPerDay).toBeCloseTo(expected, 6);
    // The window does not change the spike inputs.
    expect(est.lastHour).toBeCloseTo(4, 6);
  });

  it('the default options are a 24 h window, 1 h and 3 samples of history, a day of baseline', () => {
    expect(DEFAULT_SPEND_OPTIONS).toEqual({ windowMs: DAY, minHistoryMs: HOUR, minSamples: 3, minBaselineMs: DAY });
    expect(tl.estimate()).toEqual(tl.estimate(DEFAULT_SPEND_OPTIONS));
  });

  it('a 7-day window over 9 days of history sees the last 7 days only', () => {
    // 2 days at 10/h, 6 days at 1/h, 1 day at 2/h: the last 7 days spent 6 × 24 + 48.
    const long = new Timeline(T0, 10_000).spend(10, 2 * DAY, 10 * MIN).spend(1, 6 * DAY, 10 * MIN).spend(2, DAY, 10 * MIN);
    expect(long.estimate({ ...DEFAULT_SPEND_OPTIONS, windowMs: 7 * DAY }).spendPerDay).toBeCloseTo((6 * 24 + 48) / 7, 6);
    expect(long.estimate({ ...DEFAULT_SPEND_OPTIONS, windowMs: 3 * DAY }).spendPerDay).toBeCloseTo((2 * 24 + 48) / 3, 6);
    expect(long.estimate().spendPerDay).toBeCloseTo(48, 6);
  });
});

describe('runwayDays', () => {
  it.each<[string, number | null, number | null, number | null]>([
    ['284 at 144/day', 284, 144, 284 / 144],
    ['520 at 144/day', 520, 144, 520 / 144],
    ['1 at 24/day', 1, 24, 1 / 24],
    ['1000 at 0.24/day', 1000, 0.24, 1000 / 0.24],
    ['zero balance', 0, 144, 0],
    ['negative balance', -5, 144, 0],
    ['zero balance, nothing spent', 0, 0, 0],
    ['nothing spent', 100, 0, Number.POSITIVE_INFINITY],
    ['spend unknown', 100, null, null],
    ['balance unknown', null, 144, null],
    ['both unknown', null, null, null],
    ['zero balance, spend unknown', 0, null, null],
  ])('%s → %s', (_name, balance, perDay, expected) => {
    const r = runwayDays(balance, perDay);
    if (expected === null || !Number.isFinite(expected)) expect(r).toBe(expected);
    else expect(r).toBeCloseTo(expected, 9);
  });
});

describe('suggestedThreshold', () => {
  const est = (spendPerDay: number | null, typicalPerDay: number | null): SpendEstimate => ({
    spendPerDay,
    typicalPerDay,
    lastHour: null,
    baselineHourly: null,
  });

  it.each<[string, number | null, number | null, number | null]>([
    ['typical equals current: 5 days', 24, 24, 120],
    ['typical lower than 3/5 of current: clamped to 3 days', 24, 10, 72],
    ['typical higher than 7/5 of current: clamped to 7 days', 24, 100, 168],
    ['typical just inside the band', 10, 13, 65],
    ['typical 0 (no spend this week): 5 days of the current rate', 24, 0, 120],
    ['rounded up to the cent', 1 / 3, 1 / 3, 1.67],
    ['nothing spent: no suggestion', 0, 0, null],
    ['nothing spent now, spent earlier: no suggestion', 0, 50, null],
    ['current unknown', null, 24, null],
    ['typical unknown', 24, null, null],
    ['both unknown', null, null, null],
  ])('%s: (%s, %s) → %s', (_name, spendPerDay, typicalPerDay, expected) => {
    expect(suggestedThreshold(est(spendPerDay, typicalPerDay))).toBe(expected);
  });

  const rates = [0.01, 0.3, 1, 7.77, 24, 144, 1234.5];
  const typicalFactors = [0, 0.01, 0.5, 0.6, 0.9, 1, 1.2, 1.4, 2, 10, 1000];
  it.each(rates.flatMap((r) => typicalFactors.map((f) => [r, f] as const)))(
    'spendPerDay %d, typical %d× that: between 3 and 7 days of spend',
    (rate, factor) => {
      const t = suggestedThreshold(est(rate, rate * factor));
      expect(t).not.toBeNull();
      expect(t!).toBeGreaterThanOrEqual(3 * rate);
      expect(t!).toBeLessThanOrEqual(Math.ceil(7 * rate * 100) / 100);
      if (factor >= 0.6 && factor <= 1.4) expect(t!).toBeCloseTo(5 * rate * factor, 1);
    },
  );

  it.each<[string, Timeline]>([
    ['steady 6/h for 2 days', new Timeline(T0, 1000).spend(6, 2 * DAY, 10 * MIN)],
    ['6/h for an hour', new Timeline(T0, 290).spend(6, HOUR, 10 * MIN)],
    ['the spike: 7 days at 0.5/h then 40 in an hour', new Timeline(T0, 1000).spend(0.5, 7 * DAY, 5 * MIN).spend(40, HOUR, 5 * MIN)],
    ['a week at 10/h then a day at 1/h', new Timeline(T0, 5000).spend(10, 6 * DAY, 10 * MIN).spend(1, DAY, 10 * MIN)],
    ['1/h topped up by 500 ten hours ago', new Timeline(T0, 100).spend(1, 14 * HOUR, MIN).jump(500, SEC).spend(1, 10 * HOUR - SEC, MIN)],
  ])('from a real estimate (%s): between 3 and 7 days of spend', (_name, tl) => {
    const e = tl.estimate();
    const t = suggestedThreshold(e);
    expect(e.spendPerDay).not.toBeNull();
    expect(t).not.toBeNull();
    expect(t!).toBeGreaterThanOrEqual(3 * e.spendPerDay!);
    expect(t!).toBeLessThanOrEqual(Math.ceil(7 * e.spendPerDay! * 100) / 100);
  });

  it('steady 6/h for 2 days → 5 days of spend (720)', () => {
    expect(suggestedThreshold(new Timeline(T0, 1000).spend(6, 2 * DAY, 10 * MIN).estimate())).toBeCloseTo(720, 2);
  });
});

describe('the spend state stays small and is incremental', () => {
  it('a month of minute samples: 43,200 samples, bounded buckets, the right rate at the end', () => {
    // Spend varies by the hour (1 + 0.1 × (hour mod 5) per hour); a top-up every 3 days.
    const rate = (h: number) => 1 + 0.1 * (h % 5);
    let s: SpendState = EMPTY_SPEND;
    let balance = 10_000;
    let maxMins = 0;
    let maxHours = 0;
    let maxDays = 0;
    const n = 30 * 24 * 60;
    for (let i = 1; i <= n; i++) {
      // The minute ending at sample i lies in hour floor((i − 1) / 60).
      balance -= rate(Math.floor((i - 1) / 60)) / 60;
      if (i % (3 * 24 * 60) === 1000) balance += 1000;
      s = recordSpend(s, balance, T0 + i * MIN);
      maxMins = Math.max(maxMins, s.mins.length);
      maxHours = Math.max(maxHours, s.hours.length);
      maxDays = Math.max(maxDays, s.days.length);
    }
    const last = T0 + n * MIN;
    expect(s.samples).toBe(n);
    expect(s.since).toBe(T0 + MIN);
    expect(s.lastAt).toBe(last);
    expect(maxMins).toBeLessThanOrEqual(27);
    expect(maxHours).toBeLessThanOrEqual(27);
    expect(maxDays).toBeLessThanOrEqual(9);
    expect(JSON.stringify(s).length).toBeLessThan(2000);
    for (const [i] of s.mins) expect((i + 1) * 5 * MIN).toBeGreaterThan(last - 26 * 5 * MIN);
    for (const [i] of s.hours) expect((i + 1) * HOUR).toBeGreaterThan(last - 26 * HOUR);
    for (const [i] of s.days) expect((i + 1) * DAY).toBeGreaterThan(last - 8 * DAY);
    // The last 24 h are hours 696…719 of the month (the last top-up was days before).
    let expected = 0;
    for (let h = 696; h < 720; h++) expected += rate(h);
    const est = estimateSpend(s, last);
    expect(est.spendPerDay).toBeCloseTo(expected, 6);
    expect(est.lastHour).toBeCloseTo(rate(719), 6);
  });

  it('an idle account keeps no buckets at all', () => {
    let s: SpendState = EMPTY_SPEND;
    for (let i = 0; i < 3 * 24 * 60; i++) s = recordSpend(s, 42, T0 + i * MIN);
    expect(s.mins).toEqual([]);
    expect(s.hours).toEqual([]);
    expect(s.days).toEqual([]);
    expect(estimateSpend(s, s.lastAt!)).toEqual({ spendPerDay: 0, typicalPerDay: 0, lastHour: 0, baselineHourly: 0 });
  });

  it('recordSpend never mutates the state it is given', () => {
    const tl = new Timeline(T0, 1000).spend(3, 2 * DAY, 10 * MIN);
    const frozen = deepFreeze(tl.state());
    const snapshot = JSON.stringify(frozen);
    let s = frozen;
    for (let k = 1; k <= 20; k++) s = recordSpend(s, tl.balance - k, tl.t + k * 10 * MIN);
    expect(JSON.stringify(frozen)).toBe(snapshot);
    expect(EMPTY_SPEND).toEqual({ since: null, samples: 0, lastAt: null, lastBalance: null, mins: [], hours: [], days: [] });
  });

  it('the state survives a JSON round trip (it is stored on the account row)', () => {
    const tl = new Timeline(T0 + 3 * MIN, 1000).spend(2, 3 * DAY, 10 * MIN);
    const half = Math.floor(tl.samples.length / 2);
    const direct = record(tl.samples);
    const stored = JSON.parse(JSON.stringify(record(tl.samples.slice(0, half)))) as SpendState;
    const resumed = record(tl.samples.slice(half), stored);
    expect(resumed).toEqual(direct);
    expect(estimateSpend(resumed, tl.t)).toEqual(estimateSpend(direct, tl.t));
  });

  it('a state stored before 5-minute buckets existed (no `mins`) keeps working: the last hour refills', () => {
    const tl = new Timeline(T0, 1000).spend(2, 2 * DAY, 10 * MIN);
    const old = JSON.parse(JSON.stringify(tl.state())) as Partial<SpendState>;
    delete old.mins;
    let s = old as SpendState;
    for (let k = 1; k <= 6; k++) s = recordSpend(s, tl.balance - (2 * k) / 6, tl.t + k * 10 * MIN);
    const est = estimateSpend(s, tl.t + HOUR);
    expect(est.lastHour).toBeCloseTo(2, 6);
    expect(est.spendPerDay).toBeCloseTo(48, 6);
  });
});
