import type { z } from 'zod';
import type { HttpClient } from '../net/types.js';

// A source reads one account's balance from a provider's API (SPEC §5). Adding a provider = one file exporting a
// SourceType + one line in registry.ts; the scheduler, leases, backoff, rate limits and alerting are not its concern.

/** Why a poll failed (SPEC §5). `auth` raises source.failing at once; the others after N failures in a row. */
export type SourceErrorKind = 'auth' | 'unreachable' | 'timeout' | 'rate_limited' | 'bad_response';

/** A failed poll. The message is shown to users: it says what to do and never contains the credential. */
export class SourceError extends Error {
  constructor(
    readonly kind: SourceErrorKind,
    message: string,
    readonly extra: { status?: number; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'SourceError';
  }
}

/** One successful reading. Absent is not zero: leave optional figures out when the provider does not give them. */
export interface Reading {
  /** Balance in `currency` (already converted from quota units, cents, …). Null only when `unlimited`. */
  balance: number | null;
  /** The credential has no spending limit (an unlimited relay key): nothing to alert on. */
  unlimited?: boolean;
  /** The currency the provider states (CNY on DeepSeek's CNY entry, USD on OpenRouter…), when it states one. */
  currency?: string;
  /** Total used so far, in the same currency, when given. */
  used?: number;
  /** Requests made so far, when given. */
  requests?: number;
  /** The provider's answer (parsed JSON, no secrets), kept with the sample for troubleshooting. */
  raw?: unknown;
}

/** What the account itself says, for sources whose units depend on it. */
export interface AccountInfo {
  currency: string;
  quota_per_unit: number | null;
}

export interface SourceContext {
  http: HttpClient;
  now(): number;
  /** Per-request deadline (default 10 s). */
  timeoutMs: number;
}

export interface SourceType<C extends Record<string, unknown> = Record<string, unknown>> {
  /** The `source.type` in the API and config ("deepseek"). */
  type: string;
  /** Human name for messages ("DeepSeek"). */
  label: string;
  /** The source's fields besides `type` (strict zod object; `base_url` optional with the provider's default). */
  schema: z.ZodType<C>;
  /** Fields stored encrypted and shown masked (api keys, access tokens, header values). */
  secretFields: readonly string[];
  /** The host polled, for the per-host rate limit (e.g. "api.deepseek.com"). */
  host(config: C): string;
  /** A stricter per-host budget for this source's endpoint (new-api limits /api/usage to 20 per 20 min per IP). */
  hostLimit?: { count: number; windowMs: number };
  /** Reads the balance once; throws SourceError. */
  poll(config: C, ctx: SourceContext, account: AccountInfo): Promise<Reading>;
}
