import { z } from 'zod';
import type { HttpResponse } from '../net/types.js';
import { excerpt } from '../channels/types.js';
import { fetchSource, hostOf, joinUrl, statusError, toNumber } from './http.js';
import { bodyMessage, scrubSecret } from './newapi.js';
import { type Reading, type SourceContext, SourceError, type SourceType } from './types.js';

// OpenRouter account credits (SPEC §5; research/providers.md §2).
//
//   GET {base}/api/v1/credits   Authorization: Bearer <management key>
//   → {"data":{"total_credits":number,"total_usage":number}} in USD; balance = total_credits − total_usage.
//
// The docs say "Management key required": an ordinary sk-or-v1 inference key gets 401/403 here. That is an auth
// error whose message says what to do (create a management key, or watch the key's own limit with openrouter-key).
// Errors are {"error":{"code":number,"message":string,"metadata"?}} with the HTTP status equal to code.

export const OPENROUTER_DEFAULT_BASE = 'https://openrouter.ai';

/** The API root: trailing slashes dropped, and a pasted ".../api/v1" (the OpenAI-compatible base URL) too. */
export function openrouterBase(baseUrl: string | undefined): string {
  return (baseUrl ?? OPENROUTER_DEFAULT_BASE)
    .trim()
    .replace(/\/+$/, '')
    .replace(/\/api\/v1$/i, '')
    .replace(/\/+$/, '');
}

export const openrouterBaseUrl = z.url({ protocol: /^https?$/, error: 'base_url must be an http:// or https:// URL (default https://openrouter.ai)' }).max(2048).optional();

export function openrouterKey(what: string) {
  return z
    .string({ error: `api_key is required: ${what}` })
    .trim()
    .min(1, 'api_key must not be empty')
    .max(4096, 'api_key is too long');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a JSON body; garbage is bad_response naming the request. */
export function openrouterJson(label: string, res: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(res.body);
  } catch {
    throw new SourceError('bad_response', `${label} answered ${what} with HTTP ${res.status} and something that is not JSON ("${excerpt(res.body, 120)}"); will retry`, {
      status: res.status,
    });
  }
}

/** OpenRouter's error: the HTTP status, or error.code when the body carries an error with a 200. */
export function openrouterError(
  label: string,
  res: HttpResponse,
  now: number,
  key: string,
  onAuth: (why: string, status: number) => SourceError,
): SourceError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {}
  const message = bodyMessage(parsed);
  const said = message ? scrubSecret(message, key) : undefined;
  const code = isObject(parsed) && isObject(parsed.error) ? toNumber(parsed.error.code) : undefined;
  const status = res.status >= 200 && res.status < 300 && code !== undefined ? code : res.status;
  if (status === 401 || status === 403) return onAuth(`HTTP ${status}${said ? `: ${excerpt(said, 200)}` : ''}`, status);
  return statusError(label, { ...res, status }, now, said);
}

const LABEL = 'OpenRouter';

const schema = z.strictObject({
  base_url: openrouterBaseUrl,
  api_key: openrouterKey('an OpenRouter management key (openrouter.ai/settings/provisioning-keys); for a single key\'s limit use source type openrouter-key'),
});

export type OpenrouterConfig = z.infer<typeof schema>;

function authError(why: string, status: number): SourceError {
  return new SourceError(
    'auth',
    `${LABEL} refused GET /api/v1/credits (${why}): the account balance needs a management (provisioning) key, created at openrouter.ai/settings/provisioning-keys; an ordinary sk-or-v1 inference key cannot read it. To watch a single key's credit limit instead, use source type openrouter-key`,
    { status },
  );
}

export async function openrouterGet(ctx: SourceContext, label: string, base: string, path: string, key: string): Promise<HttpResponse> {
  return fetchSource(ctx, label, joinUrl(base, path), { headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' } });
}

export const openrouterSource: SourceType<OpenrouterConfig> = {
  type: 'openrouter',
  label: LABEL,
  schema,
  secretFields: ['api_key'],
  host: (config) => hostOf(openrouterBase(config.base_url)),
  async poll(config, ctx): Promise<Reading> {
    const res = await openrouterGet(ctx, LABEL, openrouterBase(config.base_url), '/api/v1/credits', config.api_key);
    if (res.status < 200 || res.status >= 300) throw openrouterError(LABEL, res, ctx.now(), config.api_key, authError);
    const body = openrouterJson(LABEL, res, 'GET /api/v1/credits');
    if (isObject(body) && body.error !== undefined && body.data === undefined) throw openrouterError(LABEL, res, ctx.now(), config.api_key, authError);
    const data = isObject(body) && isObject(body.data) ? body.data : undefined;
    const credits = data ? toNumber(data.total_credits) : undefined;
    const usage = data ? toNumber(data.total_usage) : undefined;
    if (credits === undefined || usage === undefined)
      throw new SourceError('bad_response', `${LABEL} answered GET /api/v1/credits without numeric data.total_credits and data.total_usage ("${excerpt(res.body, 120)}"); will retry`, {
        status: res.status,
      });
    return {
      balance: Math.round((credits - usage) * 1e9) / 1e9,
      currency: 'USD',
      used: usage,
      raw: { total_credits: credits, total_usage: usage },
    };
  },
};
