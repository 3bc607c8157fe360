// Spend rate from balance history (SPEC §3.2), computed incrementally: each new sample updates a small rolling
// state kept on the account (hourly buckets for the last day, daily buckets for the last week), so estimating
// never scans samples. Spend is the sum of decreases; rises (top-ups, refunds) are not negative spend.

export const HOUR = 3_600_000;
const FIVE_MIN = 300_000;
export const DAY = 24 * HOUR;
const MINS_KEPT = 26; // 5-minute buckets: the last hour (spike detection) with room for partial buckets
const HOURS_KEPT = 26; // a 24 h window plus the partial buckets at both ends
const DAYS_KEPT = 8; // a 7-day baseline plus the partial bucket at its start

/** [bucket index, spend] pairs: index = floor(t / bucket size). Sparse: no zero entries. */
type Buckets = [number, number][];

export interface SpendState {
  /** Time of the first sample seen (history length). */
  since: number | null;
  samples: number;
  lastAt: number | null;
  lastBalance: number | null;
  mins: Buckets;
  hours: Buckets;
  days: Buckets;
}

export const EMPTY_SPEND: SpendState = { since: null, samples: 0, lastAt: null, lastBalance: null, mins: [], hours: [], days: [] };

function addSpread(buckets: Buckets, size: number, from: number, to: number, amount: number, keepFrom: number): Buckets {
  // Spread `amount` evenly over (from, to] across buckets of `size` ms, keeping only buckets from `keepFrom` on.
  // Samples arrive in order, so new spend lands in the newest bucket or after it: append, never re-sort.
  let first = 0;
  while (first < buckets.length && (buckets[first]![0] + 1) * size <= keepFrom) first++;
  const start = Math.max(from, keepFrom);
  if (!(to > start && amount > 0)) return first === 0 ? buckets : buckets.slice(first);
  const out = buckets.slice(first);
  const rate = amount / (to - from);
  for (let i = Math.floor(start / size); i * size < to; i++) {
    const overlap = Math.min(to, (i + 1) * size) - Math.max(start, i * size);
    if (overlap <= 0) continue;
    const last = out[out.length - 1];
    if (last && last[0] === i) out[out.length - 1] = [i, last[1] + rate * overlap];
    else out.push([i, rate * overlap]);
  }
  return out;
}

/** Records a sample. Samples not newer than the newest seen are ignored (out of order, duplicates). */
export function recordSpend(s: SpendState, balance: number, at: number): SpendState {
  if (s.lastAt !== null && at <= s.lastAt) return s;
  const spent = s.lastBalance !== null ? Math.max(0, s.lastBalance - balance) : 0;
  // A sample after a long silence spreads its decrease over the whole gap, so a gap does not look like a spike.
  const from = s.lastAt ?? at;
  return {
    since: s.since ?? at,
    samples: Math.min(s.samples + 1, 1_000_000_000),
    lastAt: at,
    lastBalance: balance,
    mins: addSpread(s.mins ?? [], FIVE_MIN, from, at, spent, at - MINS_KEPT * FIVE_MIN),
    hours: addSpread(s.hours, HOUR, from, at, spent, at - HOURS_KEPT * HOUR),
    days: addSpread(s.days, DAY, from, at, spent, at - DAYS_KEPT * DAY),
  };
}

/**
 * Spend inside [from, to), assuming spend is even within the observed part of each bucket: the first bucket
 * starts at the first sample and the newest one ends at the newest sample, so partial buckets are not diluted.
 */
function spendBetween(s: SpendState, buckets: Buckets, size: number, from: number, to: number): number {
  let total = 0;
  for (const [i, amount] of buckets) {
    const lo = Math.max(i * size, s.since ?? i * size);
    const hi = Math.min((i + 1) * size, s.lastAt ?? (i + 1) * size);
    if (hi <= lo) {
      if (from <= lo && lo < to) total += amount; // a bucket observed at a single instant
      continue;
    }
    const overlap = Math.min(to, hi) - Math.max(from, lo);
    if (overlap > 0) total += (amount * overlap) / (hi - lo);
  }
  return total;
}

export interface SpendOptions {
  windowMs: number;
  minHistoryMs: number;
  minSamples: number;
  /** Baseline history needed before a spike can be judged. */
  minBaselineMs: number;
}

export const DEFAULT_SPEND_OPTIONS: SpendOptions = { windowMs: DAY, minHistoryMs: HOUR, minSamples: 3, minBaselineMs: DAY };

export interface SpendEstimate {
  /** Spend per day over the trailing window; null while history is too short. */
  spendPerDay: number | null;
  /** Average daily spend over the last 7 days (or the history, if shorter); null while history is too short. */
  typicalPerDay: number | null;
  /** Spend in the last hour, and the hourly average of the 7 days before it (null without a day of history). */
  lastHour: number | null;
  baselineHourly: number | null;
}

export function estimateSpend(s: SpendState, now: number, opts: SpendOptions = DEFAULT_SPEND_OPTIONS): SpendEstimate {
  const unknown = { spendPerDay: null, typicalPerDay: null, lastHour: null, baselineHourly: null };
  if (s.since === null || s.samples < opts.minSamples) return unknown;
  const history = now - s.since;
  if (history < opts.minHistoryMs) return unknown;
  // Windows up to a day read the hourly buckets; longer ones (runway_window allows up to 7 d) the daily ones.
  const window = Math.min(opts.windowMs, history, 7 * DAY);
  const windowSpend =
    window <= HOURS_KEPT * HOUR - 2 * HOUR
      ? spendBetween(s, s.hours, HOUR, now - window, now)
      : spendBetween(s, s.days, DAY, now - window, now);
  const spendPerDay = (windowSpend / window) * DAY;
  const week = Math.min(7 * DAY, history);
  const weekSpend = spendBetween(s, s.days, DAY, now - week, now);
  const lastHour = spendBetween(s, s.mins ?? [], FIVE_MIN, now - HOUR, now);
  const baselineSpan = week - HOUR;
  const baselineHourly = baselineSpan >= opts.minBaselineMs ? (Math.max(0, weekSpend - lastHour) / baselineSpan) * HOUR : null;
  return { spendPerDay, typicalPerDay: (weekSpend / week) * DAY, lastHour, baselineHourly };
}

/** Days until the balance reaches zero at this rate; null when unknown, Infinity when nothing is being spent. */
export function runwayDays(balance: number | null, spendPerDay: number | null): number | null {
  if (balance === null || spendPerDay === null) return null;
  if (balance <= 0) return 0;
  return spendPerDay > 0 ? balance / spendPerDay : Number.POSITIVE_INFINITY;
}

/** 5 days of typical spend, kept within 3–7 days of the current rate (SPEC §3.2: the seeds' 3–7 days advice). */
export function suggestedThreshold(e: SpendEstimate): number | null {
  if (e.spendPerDay === null || e.typicalPerDay === null) return null;
  const rate = e.spendPerDay;
  if (rate <= 0) return null; // nothing is being spent: no line to suggest
  const typical = e.typicalPerDay > 0 ? e.typicalPerDay : rate;
  return roundUp2(Math.min(7 * rate, Math.max(3 * rate, 5 * typical)));
}

function roundUp2(x: number): number {
  return Math.ceil(x * 100) / 100;
}
