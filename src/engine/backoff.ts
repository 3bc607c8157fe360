// Retry timing for failed deliveries: exponential backoff with "equal jitter" (half fixed, half random) so a
// recovering receiver is not hit by every instance at once, never sooner than the receiver's Retry-After.

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  giveUpMs: number;
}

/** Longest Retry-After we honour; a receiver asking for more still gets retried within the hour. */
const MAX_RETRY_AFTER_MS = 3_600_000;

export function nextRetryDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, random = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS)));
}

/**
 * After a failed attempt that started at `startedAt` and whose answer came at `now`: when to try next, or null to
 * give up. An attempt that started before the give-up moment is never the last one, however long its answer took:
 * the last try is made at the give-up moment itself (or at once, if that has passed) rather than skipped.
 */
export function scheduleRetry(
  policy: RetryPolicy,
  createdAt: number,
  attempt: number,
  retryAfterMs: number | undefined,
  now: number,
  random = Math.random,
  startedAt = now,
): number | null {
  const deadline = createdAt + policy.giveUpMs;
  if (startedAt >= deadline) return null;
  return Math.min(now + nextRetryDelay(policy, attempt, retryAfterMs, random), deadline);
}
