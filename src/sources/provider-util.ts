import { z } from 'zod';
import { excerpt } from '../channels/types.js';
import type { HttpResponse } from '../net/types.js';
import { statusError } from './http.js';
import { scrubSecret } from './newapi.js';
import { SourceError } from './types.js';

// Small helpers shared by the direct-provider adapters (deepseek, siliconflow, moonshot, http-json): schema pieces,
// the provider's own error text, "does this envelope say the credential is wrong", and the non-2xx classification
// with the credential scrubbed from anything shown.

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function tryJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** `base_url`: an http(s) URL, optional (the adapter applies the provider's official host). */
export function baseUrlSchema(def: string) {
  return z.url({ protocol: /^https?$/, error: `base_url must be an http:// or https:// URL (default ${def})` }).max(2048).optional();
}

/** A non-empty credential string; `what` says what it is and where to get one. */
export function credentialSchema(field: string, what: string) {
  return z
    .string({ error: `${field} is required: ${what}` })
    .trim()
    .min(1, `${field} must not be empty: ${what}`)
    .max(4096, `${field} is too long`)
    .regex(/^[^\s]+$/, `${field} must not contain spaces or line breaks`);
}

/** The API root: trailing slashes dropped, and a pasted OpenAI-compatible ".../v1" too (the balance routes sit at the root). */
export function apiRoot(baseUrl: string): string {
  return baseUrl
    .trim()
    .replace(/\/+$/, '')
    .replace(/\/v1$/i, '')
    .replace(/\/+$/, '');
}

/**
 * The provider's own error text: `message`, `msg`, `error.message`, a string `error`, `detail`, or a body that is
 * a bare JSON string (SiliconFlow answers 401 with `"Api key is invalid"`).
 */
export function providerMessage(parsed: unknown): string | undefined {
  if (typeof parsed === 'string') return parsed.trim() || undefined;
  if (!isObject(parsed)) return undefined;
  for (const k of ['message', 'msg', 'detail'] as const) {
    const v = parsed[k];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  const e = parsed.error;
  if (isObject(e) && typeof e.message === 'string' && e.message.trim() !== '') return e.message.trim();
  if (typeof e === 'string' && e.trim() !== '') return e.trim();
  return undefined;
}

const AUTH_WORDS =
  /unauthori[sz]ed|unauthenticated|authenticat|api[ _-]?key|access[ _-]?key|credential|forbidden|permission denied|\b(invalid|incorrect|expired|missing)\b[^.]{0,20}\btoken\b|\btoken\b[^.]{0,20}\b(invalid|incorrect|expired)\b|无权|令牌|未登录|未授权|鉴权|认证|密钥|api密钥/i;

/**
 * True when a 200-with-an-error envelope says the credential is the problem: a numeric code/status of 401 or 403
 * (z.ai style `{"code":401,…,"success":false}`), an `error.type` about authentication, or a message saying so.
 */
export function saysAuth(parsed: unknown, message: string | undefined): boolean {
  if (isObject(parsed)) {
    for (const k of ['code', 'status', 'status_code', 'statusCode'] as const) {
      const v = parsed[k];
      if (v === 401 || v === 403 || v === '401' || v === '403') return true;
    }
    const e = parsed.error;
    if (isObject(e) && typeof e.type === 'string' && /auth/i.test(e.type)) return true;
  }
  return message !== undefined && AUTH_WORDS.test(message);
}

/** A provider message made safe to show: every credential (and its prefixes, suffixes, masked forms) removed, cut short. */
export function safeText(text: string, secrets: readonly string[], max = 200): string {
  // A masked key (DeepSeek's "****abcd") or what is left of one after scrubbing becomes "[key]".
  return excerpt(scrubSecret(text, ...secrets.filter((s) => s.length > 0)).replace(/\*{3,}[A-Za-z0-9]*/g, '[key]'), max);
}

/** What a non-JSON body looks like, for a message: an HTML page's <title>, else an excerpt; scrubbed. */
export function bodyHint(body: string, secrets: readonly string[]): string | undefined {
  const title = /<title[^>]*>([^<]{1,200})<\/title>/i.exec(body)?.[1];
  const text = (title ?? body).trim();
  return text === '' ? undefined : safeText(text, secrets, 120);
}

/**
 * The meaning of a non-2xx answer. 401/403 → `onAuth(why, status)` (the adapter's actionable auth message); 429 →
 * rate_limited honouring Retry-After (an empty body is fine); anything else (5xx, 404, an HTML error page) →
 * bad_response. The provider's message is included, scrubbed of the credential.
 */
export function errorForStatus(
  label: string,
  res: HttpResponse,
  now: number,
  secrets: readonly string[],
  onAuth: (why: string, status: number) => SourceError,
): SourceError {
  const parsed = tryJson(res.body);
  const message = parsed === undefined ? bodyHint(res.body, secrets) : providerMessage(parsed);
  const said = message ? safeText(message, secrets) : undefined;
  if (res.status === 401 || res.status === 403) return onAuth(`HTTP ${res.status}${said ? `: ${said}` : ''}`, res.status);
  return statusError(label, res, now, said);
}

/** A 2xx body that is not JSON (a captive portal, a proxy's HTML page, a cut answer). */
export function notJsonError(label: string, res: HttpResponse, what: string, secrets: readonly string[], hint: string): SourceError {
  return new SourceError('bad_response', `${label} answered ${what} with HTTP ${res.status} and something that is not JSON ("${bodyHint(res.body, secrets) ?? ''}"): ${hint}`, {
    status: res.status,
  });
}

/** Drops float noise from a conversion (12345 × 0.0001 = 1.2345000000000002 → 1.2345). */
export function cleanNumber(n: number): number {
  return Number(n.toPrecision(15));
}

/** The currency stated by a provider's host: `cn` for the mainland site, `intl` for the international one. */
export function currencyByHost(host: string, domains: { cn: string; intl: string }): 'CNY' | 'USD' | undefined {
  const h = host.toLowerCase().replace(/:\d+$/, '');
  const is = (d: string) => h === d || h.endsWith(`.${d}`);
  if (is(domains.cn)) return 'CNY';
  if (is(domains.intl)) return 'USD';
  return undefined;
}
