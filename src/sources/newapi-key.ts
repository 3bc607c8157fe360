import { z } from 'zod';
import type { HttpResponse } from '../net/types.js';
import { excerpt } from '../channels/types.js';
import { fetchSource, hostOf, joinUrl, statusError, toNumber } from './http.js';
import {
  accountQuotaPerUnit,
  bodyMessage,
  type RelayUnits,
  relayBase,
  relayBaseUrl,
  relayJson,
  relayUnits,
  scrubSecret,
  unitsRaw,
} from './newapi.js';
import { type Reading, type SourceContext, SourceError, type SourceType } from './types.js';

// One relay API key (sk-…) on new-api / one-api (SPEC §5; research/providers.md §1b).
//
// 1. new-api: GET {base}/api/usage/token/ (the trailing slash matters: without it gin answers 301), Bearer sk-…
//    → {"code":true,"data":{total_granted,total_used,total_available,unlimited_quota,expires_at}} in quota units,
//    converted with the relay's /api/status quota_per_unit (see newapi.ts). It sits behind TokenAuthReadOnly, so an
//    exhausted or expired key can still read it.
// 2. one-api has no such route (404): the OpenAI-compatible GET /v1/dashboard/billing/subscription + /usage, where
//    remaining = hard_limit_usd − total_usage/100 (usage in cents, all-time). The relay computes these *display*
//    amounts: USD by default, raw quota when display_in_currency is off (or quota_display_type TOKENS), CNY at the
//    relay's usd_exchange_rate when quota_display_type is CNY; they are turned back into quota units first, so the
//    result is USD like every other relay reading (or the account's own unit when it has its own quota_per_unit).
//    The 404 is remembered per relay for an hour, so a one-api poll then costs the two billing requests only.
//
// Quirks: an unlimited key → {balance:null, unlimited:true} (never the 100000000 the billing route shows); a drained
// key answers 401 "该令牌额度已用尽" (new-api adds the masked key and RemainQuota) on the billing routes: that is a
// balance of 0, not a bad credential; "该令牌已过期" → auth (the key expired); "无效的令牌" → auth; HTTP 200 with
// {"error":{"type":"upstream_error"}} (the relay's database failed) → bad_response.

const LABEL = 'new-api key';
const NO_ROUTE_TTL_MS = 60 * 60 * 1000;
/** The billing routes' amount for an unlimited key. */
const UNLIMITED_AMOUNT = 100_000_000;

/** Relays (by base URL) whose /api/usage/token/ answered 404, and when. */
const noUsageRoute = new Map<string, number>();

/** Forgets which relays lack /api/usage/token/ (tests). */
export function clearNewapiKeyCache(): void {
  noUsageRoute.clear();
}

const schema = z.strictObject({
  base_url: relayBaseUrl('a relay'),
  api_key: z
    .string({ error: "api_key is required: the relay API key (sk-…) from the relay's token page (令牌管理)" })
    .trim()
    .min(1, 'api_key must not be empty')
    .max(4096, 'api_key is too long'),
});

export type NewapiKeyConfig = z.infer<typeof schema>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tryJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

type KeyProblem = 'exhausted' | 'expired' | 'banned' | 'disabled' | 'invalid';

/** What the relay's own message says is wrong with the key (one-api / new-api texts, Chinese and English). */
function keyProblem(message: string | undefined): KeyProblem | undefined {
  if (!message) return undefined;
  if (/额度已用尽|TokenStatusExhausted|quota (is |has been )?(exhausted|used up)/i.test(message)) return 'exhausted';
  if (/已过期|(token|key) (has )?expired/i.test(message)) return 'expired';
  if (/封禁|banned/i.test(message)) return 'banned';
  if (/状态不可用|(token|key) (is )?(disabled|unavailable)/i.test(message)) return 'disabled';
  if (/无效的令牌|未提供令牌|invalid (api )?(token|key)|no authorization|invalid bearer/i.test(message)) return 'invalid';
  return undefined;
}

/** A key the relay refused: exhausted is a reading of 0; everything else an auth error saying what to do. */
function refused(res: HttpResponse, message: string | undefined, config: NewapiKeyConfig, fallback: 'auth' | 'bad_response'): Reading {
  const problem = keyProblem(message);
  if (problem === 'exhausted') return { balance: 0, raw: { exhausted: true } };
  const said = message ? excerpt(scrubSecret(message.replace(/\s*\(request id:[^)]*\)\s*$/i, ''), config.api_key), 200) : undefined;
  const why = `HTTP ${res.status}${said ? `: ${said}` : ''}`;
  const status = { status: res.status };
  switch (problem) {
    case 'expired':
      throw new SourceError('auth', `${LABEL}: the API key has expired (${why}): extend its expiry on the relay's token page (令牌管理) or use a new key`, status);
    case 'banned':
      throw new SourceError('auth', `${LABEL}: the relay has disabled the user this API key belongs to (${why}): ask the relay's administrator`, status);
    case 'disabled':
      throw new SourceError('auth', `${LABEL}: the API key is disabled on the relay (${why}): enable it on the relay's token page (令牌管理) or use another key`, status);
    case 'invalid':
      throw new SourceError('auth', `${LABEL}: the relay does not know this API key (${why}): check api_key (an sk- key from the relay's token page) and that base_url is the relay that issued it`, status);
    default:
      if (fallback === 'auth')
        throw new SourceError('auth', `${LABEL}: the relay rejected the API key (${why}): check api_key (an sk- key from the relay's token page) and base_url`, status);
      throw new SourceError('bad_response', `${LABEL}: the relay answered with an error (${why}); will retry`, status);
  }
}

/** 2xx bodies that are errors: {"error":{…}} (OpenAI-style, incl. upstream_error) or {"success":false,…}. */
function errorInBody(res: HttpResponse, body: unknown, config: NewapiKeyConfig): Reading | undefined {
  if (!isObject(body)) return undefined;
  if (isObject(body.error) || typeof body.error === 'string') {
    const message = bodyMessage(body);
    if (isObject(body.error) && body.error.type === 'upstream_error' && keyProblem(message) === undefined) {
      const said = message ? `: ${excerpt(scrubSecret(message, config.api_key), 200)}` : '';
      throw new SourceError('bad_response', `${LABEL}: the relay failed internally (upstream_error${said}); will retry`, { status: res.status });
    }
    return refused(res, message, config, 'bad_response');
  }
  if (body.success === false) return refused(res, bodyMessage(body), config, 'auth');
  return undefined;
}

function notOk(res: HttpResponse, config: NewapiKeyConfig, now: number): Reading {
  const parsed = tryJson(res.body);
  const message = bodyMessage(parsed);
  if (res.status === 401 || res.status === 403) return refused(res, message, config, 'auth');
  // Some forks answer a drained key with 402 / 429 and the same message.
  if (keyProblem(message) === 'exhausted') return { balance: 0, raw: { exhausted: true } };
  throw statusError(LABEL, res, now, message ? scrubSecret(message, config.api_key) : undefined);
}

function badShape(res: HttpResponse, what: string): SourceError {
  return new SourceError('bad_response', `${LABEL}: the relay answered ${what} without ${excerpt(res.body, 120) === '' ? 'a body' : `the expected figures ("${excerpt(res.body, 120)}")`}; will retry`, {
    status: res.status,
  });
}

async function fromTokenUsage(res: HttpResponse, config: NewapiKeyConfig, ctx: SourceContext, base: string, own: number | undefined): Promise<Reading> {
  if (res.status < 200 || res.status >= 300) return notOk(res, config, ctx.now());
  const body = relayJson(LABEL, res, 'GET /api/usage/token/');
  const err = errorInBody(res, body, config);
  if (err) return err;
  const data = isObject(body) && isObject(body.data) ? body.data : undefined;
  if (!data) throw badShape(res, 'GET /api/usage/token/');
  const available = toNumber(data.total_available);
  const used = toNumber(data.total_used);
  const granted = toNumber(data.total_granted);
  const expiresAt = toNumber(data.expires_at);
  const raw: Record<string, unknown> = {
    source: 'usage_token',
    ...(typeof data.name === 'string' ? { name: data.name } : {}),
    ...(granted !== undefined ? { total_granted: granted } : {}),
    ...(used !== undefined ? { total_used: used } : {}),
    ...(available !== undefined ? { total_available: available } : {}),
    ...(typeof data.unlimited_quota === 'boolean' ? { unlimited_quota: data.unlimited_quota } : {}),
    ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
  };
  // The read-only route still answers for an expired key: say so rather than report a balance nobody can spend.
  if (expiresAt !== undefined && expiresAt > 0 && expiresAt * 1000 <= ctx.now())
    throw new SourceError(
      'auth',
      `${LABEL}: the API key expired on ${new Date(expiresAt * 1000).toISOString().slice(0, 10)}: extend its expiry on the relay's token page (令牌管理) or use a new key`,
      { status: res.status },
    );
  if (data.unlimited_quota === true || (available !== undefined && available < 0)) return { balance: null, unlimited: true, raw };
  if (available === undefined) throw badShape(res, 'GET /api/usage/token/');
  const units = own === undefined ? await relayUnits(ctx, LABEL, base) : undefined;
  const qpu = own ?? units!.quotaPerUnit;
  return {
    balance: available / qpu,
    ...(own === undefined ? { currency: 'USD' } : {}),
    ...(used !== undefined ? { used: used / qpu } : {}),
    raw: { ...raw, ...unitsRaw(qpu, units) },
  };
}

/** Rounds away float noise from subtracting decimal amounts (10 − 3.3 → 6.7). */
function tidy(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

/** A billing route's display amount back in quota units (the relay's display setting decides what it is). */
function displayToQuota(amount: number, units: RelayUnits, res: HttpResponse): number {
  const type = units.displayType;
  if (type === 'TOKENS' || (type === undefined && units.displayInCurrency === false)) return amount;
  if (type === 'CNY') {
    if (units.usdExchangeRate === undefined)
      throw new SourceError('bad_response', `${LABEL}: the relay shows amounts in CNY but its /api/status gives no usd_exchange_rate to convert them back to quota: ask the relay's administrator to set the exchange rate, or watch this key's user wallet with source type newapi`, {
        status: res.status,
      });
    return (amount / units.usdExchangeRate) * units.quotaPerUnit;
  }
  return amount * units.quotaPerUnit;
}

async function billingGet(ctx: SourceContext, base: string, path: string, config: NewapiKeyConfig): Promise<{ res: HttpResponse; body: Record<string, unknown> } | Reading> {
  const res = await fetchSource(ctx, LABEL, joinUrl(base, path), { headers: { Authorization: `Bearer ${config.api_key}`, Accept: 'application/json' } });
  if (res.status === 404)
    throw new SourceError(
      'bad_response',
      `${LABEL}: the relay has neither /api/usage/token/ nor ${path} (HTTP 404): check that base_url is the root address of a new-api / one-api relay`,
      { status: 404 },
    );
  if (res.status < 200 || res.status >= 300) return notOk(res, config, ctx.now());
  const body = relayJson(LABEL, res, `GET ${path}`);
  const err = errorInBody(res, body, config);
  if (err) return err;
  if (!isObject(body)) throw badShape(res, `GET ${path}`);
  return { res, body };
}

function isReading(v: unknown): v is Reading {
  return isObject(v) && 'balance' in v;
}

async function fromBilling(config: NewapiKeyConfig, ctx: SourceContext, base: string, own: number | undefined): Promise<Reading> {
  const sub = await billingGet(ctx, base, '/v1/dashboard/billing/subscription', config);
  if (isReading(sub)) return sub;
  const hard = toNumber(sub.body.hard_limit_usd);
  if (hard === undefined) throw badShape(sub.res, 'GET /v1/dashboard/billing/subscription');
  const accessUntil = toNumber(sub.body.access_until);
  if (hard === UNLIMITED_AMOUNT)
    return { balance: null, unlimited: true, raw: { source: 'billing', hard_limit_usd: hard, ...(accessUntil !== undefined ? { access_until: accessUntil } : {}) } };
  const usage = await billingGet(ctx, base, '/v1/dashboard/billing/usage', config);
  if (isReading(usage)) return usage;
  const cents = toNumber(usage.body.total_usage);
  if (cents === undefined) throw badShape(usage.res, 'GET /v1/dashboard/billing/usage');
  const units = await relayUnits(ctx, LABEL, base);
  const raw = { source: 'billing', hard_limit_usd: hard, total_usage: cents, ...(accessUntil !== undefined ? { access_until: accessUntil } : {}) };
  const usdDisplay = units.displayType === undefined ? units.displayInCurrency !== false : units.displayType !== 'TOKENS' && units.displayType !== 'CNY';
  if (own === undefined && usdDisplay) {
    // Already USD at the relay's own quota_per_unit: no round trip through quota units.
    return { balance: tidy(hard - cents / 100), currency: 'USD', used: tidy(cents / 100), raw: { ...raw, ...unitsRaw(units.quotaPerUnit, units) } };
  }
  const qpu = own ?? units.quotaPerUnit;
  const usedQuota = displayToQuota(cents / 100, units, usage.res);
  const totalQuota = displayToQuota(hard, units, sub.res);
  return {
    balance: tidy((totalQuota - usedQuota) / qpu),
    ...(own === undefined ? { currency: 'USD' } : {}),
    used: tidy(usedQuota / qpu),
    raw: { ...raw, ...unitsRaw(qpu, own === undefined ? units : undefined), relay_quota_per_unit: units.quotaPerUnit },
  };
}

export const newapiKeySource: SourceType<NewapiKeyConfig> = {
  type: 'newapi-key',
  label: LABEL,
  schema,
  secretFields: ['api_key'],
  host: (config) => hostOf(relayBase(config.base_url)),
  // new-api's CriticalRateLimit guards /api/usage: 20 requests per 20 min per IP by default. Stay under it; with
  // many keys on one relay their polls spread out instead of being refused.
  hostLimit: { count: 15, windowMs: 20 * 60_000 },
  async poll(config, ctx, account): Promise<Reading> {
    const base = relayBase(config.base_url);
    const own = accountQuotaPerUnit(account);
    const missingSince = noUsageRoute.get(base);
    if (missingSince === undefined || ctx.now() - missingSince >= NO_ROUTE_TTL_MS) {
      const res = await fetchSource(ctx, LABEL, joinUrl(base, '/api/usage/token/'), {
        headers: { Authorization: `Bearer ${config.api_key}`, Accept: 'application/json' },
      });
      if (res.status !== 404) {
        noUsageRoute.delete(base);
        return fromTokenUsage(res, config, ctx, base, own);
      }
      noUsageRoute.set(base, ctx.now());
    }
    return fromBilling(config, ctx, base, own);
  },
};
