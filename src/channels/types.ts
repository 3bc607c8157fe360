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
  /** source.failing: why the balance cannot be read (kind: auth | unreachable | timeout | rate_limited | bad_response | silent). */
  source_error?: { kind: string; message: string; failures: number };
  /** Free text for `test` notifications. */
  note?: string;
}

/** How urgent a notification is, for services with priorities (Bark level, Gotify/ntfy priority, PagerDuty severity). */
export type Severity = 'resolved' | 'info' | 'warning' | 'critical';

/**
 * A notification rendered in the workspace's language. `text` and `html` are complete (plain text / e-mail);
 * the parts (summary, facts, links) let each chat service lay the message out natively with its own escaping.
 */
export interface RenderedMessage {
  lang: 'en' | 'zh-CN';
  /** One line, no control characters. */
  title: string;
  /** Plain-text body: summary, then one "label: value" line per fact and link. */
  text: string;
  /** Full HTML e-mail document. */
  html: string;
  /** First paragraph: what happened and what to do. */
  summary: string;
  facts: Array<[label: string, value: string]>;
  /** http(s) links only (top-up page, dashboard). */
  links: Array<{ label: string; button: string; url: string }>;
  /** Accent colour, '#rrggbb'. */
  color: string;
  severity: Severity;
  footer: string;
  /**
   * True when a user template produced `title` and `text`: send `text` as the body as written (the service's
   * own markup, if any, is the template author's), instead of laying out summary / facts / links.
   */
  custom: boolean;
  /** Set on a digest: how many notifications this one message stands for. */
  digestOf?: number;
}

export interface OutgoingNotification {
  /** The delivery's idempotency key (SPEC §3.3): the same on every retry. */
  key: string;
  payload: NotificationPayload;
  message: RenderedMessage;
}

export interface Mailer {
  from: string;
  send(msg: { to: string[]; cc?: string[]; bcc?: string[]; from?: string | { name: string; address: string }; subject: string; text: string; html: string }): Promise<{ response: string }>;
}

export interface ChannelContext {
  http: HttpClient;
  /** Null when SMTP is not configured. */
  mailer: Mailer | null;
  now(): number;
  /** BALANCEWATCH_ALLOW_PRIVATE_TARGETS: for connections not made through `http` (a channel's own SMTP server). */
  allowPrivateTargets?: boolean;
}

/**
 * What one send did. `retryable` failures are retried with backoff; the others go to dead-letter at once.
 * `retryAfterMs` (on failures) and `pauseMs` (on success, e.g. Discord's X-RateLimit-Remaining: 0) also pause every
 * other notification queued for the channel that long.
 */
export type ChannelResult =
  | { ok: true; status?: number; response?: string; pauseMs?: number }
  | { ok: false; status?: number; response?: string; error: string; retryable: boolean; retryAfterMs?: number };

/** A service's rate limit: at most `count` requests in any `windowMs`. */
export interface RateLimit {
  count: number;
  windowMs: number;
}

/** A URL that names this channel but cannot be used; the message says what is wrong and how to fix it. */
export class ChannelUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelUrlError';
  }
}

/** One integration. Adding a channel = one file exporting this + one line in registry.ts. */
export interface ChannelType<C extends Record<string, unknown> = Record<string, unknown>> {
  type: string;
  /** Human name for messages ("DingTalk"). */
  label: string;
  /** Structured fields (besides the generic filters events / min_level / enabled / account_ids / template). */
  schema: z.ZodType<C>;
  /** Fields stored encrypted and shown masked. */
  secretFields: readonly string[];
  /** Apprise-style URL schemes this channel owns, without "://" (e.g. ['dingtalk']). */
  schemes?: readonly string[];
  /**
   * Turns a URL into config fields (validated by `schema` afterwards). Called with URLs of the channel's own
   * `schemes` (must return fields or throw ChannelUrlError), and with every http(s) URL to recognise the service's
   * native webhook URL (return null when the URL is not this service's). `scheme` is lower-case, without "://".
   * The raw string is given because Apprise URLs are not always WHATWG-parseable (tgram://123:abc/chat).
   */
  parseUrl?(raw: string, scheme: string): Record<string, unknown> | null;
  /** The service's per-channel limits; the dispatcher never exceeds them and merges what waits into a digest. */
  limits?: readonly RateLimit[];
  /** False when queued notifications must never be merged (PagerDuty: each alert is its own incident). */
  mergeable?: boolean;
  /**
   * True for services that open an incident per alert (PagerDuty): they get the end of every alert they may have
   * opened, even when the workspace turned recovery notices off, the channel's `events` leave recoveries out, or the
   * rule ends silently (a spend spike), so no incident is left open for good.
   */
  closesIncidents?: boolean;
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
