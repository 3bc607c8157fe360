import type { z } from 'zod';
import type { EventType } from '../domain/events.js';
import type { HttpClient } from '../net/types.js';

/** A notification as committed with its delivery: everything a channel needs to render and send it. */
export interface NotificationPayload {
  type: EventType;
  occurred_at: string;
  workspace: { id: string; name: string; external_id: string | null; locale: string; time_zone: string };
  account: { id: string; name: string; external_id: string | null; top_up_url: string | null } | null;
  balance: number | null;
  currency: string | null;
  /** The level notified (balance.low), null for recoveries and tests. */
  level: string | null;
  threshold: number | null;
  runway_days?: number | null;
  /** Spend per day over the trailing window, and in the last hour (forecast events). */
  spend_per_day?: number | null;
  spend_last_hour?: number | null;
  episode: number;
  reminder: number;
  /** Free text for `test` notifications. */
  note?: string;
}

export interface RenderedMessage {
  title: string;
  text: string;
  html: string;
}

export interface OutgoingNotification {
  /** The delivery's idempotency key (SPEC §3.3): the same on every retry. */
  key: string;
  payload: NotificationPayload;
  message: RenderedMessage;
}

export interface Mailer {
  from: string;
  send(msg: { to: string[]; subject: string; text: string; html: string }): Promise<{ response: string }>;
}

export interface ChannelContext {
  http: HttpClient;
  /** Null when SMTP is not configured. */
  mailer: Mailer | null;
  now(): number;
}

/** What one send did. `retryable` failures are retried with backoff; the others go to dead-letter at once. */
export type ChannelResult =
  | { ok: true; status?: number; response?: string }
  | { ok: false; status?: number; response?: string; error: string; retryable: boolean; retryAfterMs?: number };

/** One integration. Adding a channel = one file exporting this + one line in registry.ts. */
export interface ChannelType<C extends Record<string, unknown> = Record<string, unknown>> {
  type: string;
  /** Structured fields (besides the generic filters events / min_level / enabled / account_ids). */
  schema: z.ZodType<C>;
  /** Fields stored encrypted and shown masked. */
  secretFields: readonly string[];
  send(config: C, n: OutgoingNotification, ctx: ChannelContext): Promise<ChannelResult>;
}

/** Short, single-line excerpt of a receiver's answer for the deliveries log. */
export function excerpt(body: string, max = 500): string {
  const oneLine = body.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from now. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Generic outcome of an HTTP answer: 2xx ok; 408/425/429/5xx retryable; other 4xx a configuration problem. */
export function classifyHttp(status: number, body: string, headers: Record<string, string>, now: number): ChannelResult {
  const response = excerpt(body);
  if (status >= 200 && status < 300) return { ok: true, status, response };
  const retryable = status === 408 || status === 425 || status === 429 || status >= 500;
  const after = retryAfterMs(headers['retry-after'], now);
  return {
    ok: false,
    status,
    response,
    retryable,
    error: retryable ? `the receiver answered HTTP ${status}; will retry` : `the receiver refused the notification with HTTP ${status}: check the channel's URL and credentials`,
    ...(after !== undefined ? { retryAfterMs: after } : {}),
  };
}
