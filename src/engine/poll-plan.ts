import type { AccountsTable } from '../store/schema.js';

// When a pulled account is polled next (SPEC §5): every interval (default 5 min, never below 60 s) with ±10%
// jitter so accounts created together do not poll together; after failures, exponential backoff capped at 30 min
// (or the interval when that is longer).

export const DEFAULT_POLL_INTERVAL_MS = 5 * 60_000;
export const MIN_POLL_INTERVAL_MS = 60_000;
export const DEFAULT_FAIL_AFTER = 3;
const MAX_BACKOFF_MS = 30 * 60_000;

export interface PollPlan {
  intervalMs: number;
  failAfter: number;
  /** Delay before the next poll after `failures` failures in a row (0 = after a success). */
  nextDelay(failures: number): number;
}

export function pollPlan(a: Pick<AccountsTable, 'poll_interval_ms' | 'source_config'>, random: () => number = Math.random): PollPlan {
  const intervalMs = Math.max(MIN_POLL_INTERVAL_MS, a.poll_interval_ms ?? DEFAULT_POLL_INTERVAL_MS);
  let failAfter = DEFAULT_FAIL_AFTER;
  try {
    const f = (JSON.parse(a.source_config ?? '{}') as { fail_after?: unknown }).fail_after;
    if (typeof f === 'number' && Number.isInteger(f) && f >= 1) failAfter = f;
  } catch {
    // keep the default
  }
  return {
    intervalMs,
    failAfter,
    nextDelay(failures) {
      const base = failures <= 0 ? intervalMs : Math.min(intervalMs * 2 ** Math.min(failures - 1, 20), Math.max(intervalMs, MAX_BACKOFF_MS));
      return Math.round(base * (0.9 + 0.2 * random()));
    },
  };
}
