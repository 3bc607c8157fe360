import { describe, expect, it } from 'vitest';
import { nextRetryDelay, type RetryPolicy, scheduleRetry } from '../../src/engine/backoff.js';

// Retry timing of deliveries: exponential backoff with jitter, Retry-After honoured, and a last try at the give-up
// moment, never skipped because an answer arrived late.

const policy: RetryPolicy = { giveUpMs: 60_000, baseMs: 1_000, maxMs: 16_000 };
const half = () => 0; // the smallest jitter: half the exponential delay
const full = () => 0.999_999; // the largest

describe('nextRetryDelay', () => {
  it.each([
    [1, half, 500],
    [1, full, 1_000],
    [2, half, 1_000],
    [3, full, 4_000],
    [10, full, 16_000], // capped at maxMs
  ])('attempt %i → %i ms', (attempt, random, ms) => {
    expect(nextRetryDelay(policy, attempt, undefined, random)).toBe(ms);
  });

  it('waits at least what Retry-After asks', () => {
    expect(nextRetryDelay(policy, 1, 7_000, half)).toBe(7_000);
    expect(nextRetryDelay(policy, 5, 100, full)).toBe(16_000);
  });
});

describe('scheduleRetry', () => {
  const created = 1_000_000;
  const deadline = created + policy.giveUpMs;
  it.each([
    ['early failure: backoff from the answer', created + 1_000, created + 1_000, created + 1_500],
    ['near the deadline: the last try is at the deadline', deadline - 200, deadline - 200, deadline],
    ['started before the deadline, answered after it: one more try, at once', deadline - 10, deadline + 300, deadline],
    ['started at the deadline: give up', deadline, deadline + 50, null],
    ['started after the deadline: give up', deadline + 1, deadline + 2, null],
  ])('%s', (_what, startedAt, now, expected) => {
    expect(scheduleRetry(policy, created, 1, undefined, now, half, startedAt)).toBe(expected);
  });

  it('without a start time, the answer time decides (as before)', () => {
    expect(scheduleRetry(policy, created, 1, undefined, deadline, half)).toBeNull();
    expect(scheduleRetry(policy, created, 1, undefined, deadline - 1, half)).toBe(deadline);
  });
});
