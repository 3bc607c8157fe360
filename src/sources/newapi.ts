import { z } from 'zod';
import type { HttpResponse } from '../net/types.js';
import { excerpt } from '../channels/types.js';
import { fetchSource, hostOf, joinUrl, statusError, toNumber } from './http.js';
import { type AccountInfo, type Reading, type SourceContext, SourceError, type SourceType } from './types.js';

// new-api / one-api user wallet (SPEC §5; research/providers.md §1a, relays-newapi.md §5).
//
//   GET {base}/api/user/self   Authorization: Bearer <system access token>   [+ New-Api-User: <user id> on new-api]
//   → {"success":true,"data":{quota, used_quota, request_count, …}}   quota = the REMAINING balance, in quota units
//   GET {base}/api/status      (public) → data.quota_per_unit (500 000 quota = 1 USD unless the admin changed it)
//
// Quirks: an invalid token or a banned user answers HTTP 200 {"success":false,…}; new-api wants New-Api-User and
// answers 401 without it; the global per-IP limiter answers 429 with an empty body.
//
// Units and currency. Quota units are USD-based in both projects (QuotaPerUnit quota = 1 USD), whatever the relay
// *displays*: quota_display_type "CNY" / "TOKENS" / "CUSTOM" and display_in_currency=false only change how the web
// UI renders the same quota (CNY multiplies by an admin-set exchange rate that can change any day). So the balance
// is always quota / quota_per_unit in USD, and the display settings are kept in `raw` for troubleshooting. A user
// who wants the account in another unit sets the account's own `quota_per_unit` (e.g. quota per CNY) and currency:
// that wins over the relay's figure, /api/status is not called, and no currency is stated (the account's stays).

const LABEL = 'new-api / one-api';

/** one-api and new-api QuotaPerUnit default (config.go / constants.go). */
export const DEFAULT_QUOTA_PER_UNIT = 500_000;
const STATUS_TTL_MS = 60 * 60 * 1000;

/** What a relay's public /api/status says about its units. */
export interface RelayUnits {
  /** Quota units per USD. */
  quotaPerUnit: number;
  /** 'status' when read from /api/status; 'default' when it was missing or garbled there (500 000 assumed). */
  from: 'status' | 'default';
  /** new-api's quota_display_type (USD / CNY / TOKENS / CUSTOM) when given. */
  displayType?: string;
  /** one-api's (and older new-api's) display_in_currency when given. */
  displayInCurrency?: boolean;
  /** new-api's USD→CNY rate (usd_exchange_rate, else the older `price`) when given. */
  usdExchangeRate?: number;
}

interface CachedUnits {
  units: RelayUnits;
  at: number;
}

/** /api/status answers per base URL, kept about an hour so a poll usually costs one request. */
const statusCache = new Map<string, CachedUnits>();

/** Forgets every cached /api/status answer (tests). */
export function clearRelayStatusCache(): void {
  statusCache.clear();
}

/**
 * The relay's root: trailing slashes dropped, and a trailing "/v1" too (users paste the OpenAI-compatible base
 * URL; the relay's /api and /v1/dashboard routes live at the root).
 */
export function relayBase(baseUrl: string): string {
  return baseUrl
    .trim()
    .replace(/\/+$/, '')
    .replace(/\/v1$/i, '')
    .replace(/\/+$/, '');
}

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

/** The provider's own error text: body.message, body.error.message or a string body.error. */
export function bodyMessage(parsed: unknown): string | undefined {
  if (!isObject(parsed)) return undefined;
  if (typeof parsed.message === 'string' && parsed.message.trim() !== '') return parsed.message.trim();
  const e = parsed.error;
  if (isObject(e) && typeof e.message === 'string' && e.message.trim() !== '') return e.message.trim();
  if (typeof e === 'string' && e.trim() !== '') return e.trim();
  return undefined;
}

/**
 * Removes anything credential-like from a provider message before it is shown: the credential itself (with and
 * without its sk- prefix) and masked keys such as new-api's "[sk-abc***xyz]" or DeepSeek's "****abcd".
 */
export function scrubSecret(text: string, ...secrets: string[]): string {
  let out = text;
  for (const s of secrets) {
    for (const v of [s, s.replace(/^sk-/, '')]) if (v.length >= 4) out = out.split(v).join('***');
  }
  // A start or end of 4+ characters of a credential (a "…f809" hint, a "sk-or-v1-9f8e" prefix).
  const forms = secrets.filter((s) => s.length >= 8).flatMap((s) => [s, s.replace(/^sk-(or-v1-)?/, '')]);
  out = out.replace(/[A-Za-z0-9_-]{4,}/g, (run) => (forms.some((s) => s.length > run.length && (s.startsWith(run) || s.endsWith(run))) ? '***' : run));
  return out
    .replace(/\[?\bsk-[A-Za-z0-9*._-]{2,}\]?/g, '[key]')
    .replace(/TokenStatusExhausted\[[^\]]*\]/g, 'TokenStatusExhausted')
    .replace(/\*{2,}[A-Za-z0-9]{2,}/g, '[key]');
}

/** Parses a 2xx JSON body; garbage (an HTML page, a proxy's error) is bad_response with a hint about base_url. */
export function relayJson(label: string, res: HttpResponse, what: string): unknown {
  const parsed = tryJson(res.body);
  if (parsed === undefined)
    throw new SourceError(
      'bad_response',
      `${label} answered ${what} with HTTP ${res.status} and something that is not JSON ("${excerpt(res.body, 120)}"): check that base_url is the relay's root address (https://relay.example.com)`,
      { status: res.status },
    );
  return parsed;
}

function unitsFromStatus(parsed: unknown): RelayUnits {
  const data = isObject(parsed) && isObject(parsed.data) ? parsed.data : undefined;
  const qpu = data ? toNumber(data.quota_per_unit) : undefined;
  const units: RelayUnits = qpu !== undefined && qpu > 0 ? { quotaPerUnit: qpu, from: 'status' } : { quotaPerUnit: DEFAULT_QUOTA_PER_UNIT, from: 'default' };
  if (data) {
    if (typeof data.quota_display_type === 'string' && data.quota_display_type !== '') units.displayType = data.quota_display_type.toUpperCase();
    if (typeof data.display_in_currency === 'boolean') units.displayInCurrency = data.display_in_currency;
    const rate = toNumber(data.usd_exchange_rate) ?? toNumber(data.price);
    if (rate !== undefined && rate > 0) units.usdExchangeRate = rate;
  }
  return units;
}

/**
 * The relay's units from its public GET /api/status, cached per base URL for about an hour. A missing or garbled
 * quota_per_unit (or no /api/status at all: 404, non-JSON) means the default 500 000. A relay that cannot be
 * asked right now (timeout, 429, 5xx) reuses the last answer even if old, else the poll fails with that error:
 * guessing 500 000 for a relay that set its own figure would make the balance jump and raise a false alert.
 */
export async function relayUnits(ctx: SourceContext, label: string, base: string): Promise<RelayUnits> {
  const key = relayBase(base);
  const cached = statusCache.get(key);
  const now = ctx.now();
  if (cached && now - cached.at < STATUS_TTL_MS) return cached.units;
  let res: HttpResponse;
  try {
    res = await fetchSource(ctx, label, joinUrl(key, '/api/status'), { headers: { Accept: 'application/json' } });
  } catch (err) {
    if (cached) return cached.units;
    throw err;
  }
  if (res.status === 429 || res.status >= 500) {
    if (cached) return cached.units;
    const e = statusError(label, res, now);
    throw new SourceError(e.kind, `${e.message} (reading the relay's units from /api/status)`, e.extra);
  }
  const units = res.status >= 200 && res.status < 300 ? unitsFromStatus(tryJson(res.body)) : { quotaPerUnit: DEFAULT_QUOTA_PER_UNIT, from: 'default' as const };
  statusCache.set(key, { units, at: now });
  return units;
}

/** The account's own quota_per_unit when it has one (it wins over the relay's). */
export function accountQuotaPerUnit(account: AccountInfo): number | undefined {
  const q = account.quota_per_unit;
  return typeof q === 'number' && Number.isFinite(q) && q > 0 ? q : undefined;
}

/** The units info kept in `raw`. */
export function unitsRaw(qpu: number, units: RelayUnits | undefined): Record<string, unknown> {
  if (!units) return { quota_per_unit: qpu, quota_per_unit_from: 'account' };
  return {
    quota_per_unit: qpu,
    quota_per_unit_from: units.from,
    ...(units.displayType !== undefined ? { quota_display_type: units.displayType } : {}),
    ...(units.displayInCurrency !== undefined ? { display_in_currency: units.displayInCurrency } : {}),
    ...(units.usdExchangeRate !== undefined ? { usd_exchange_rate: units.usdExchangeRate } : {}),
  };
}

/** The relay's base URL: required (a relay has no official host), http(s) only. */
export function relayBaseUrl(what: string) {
  return z
    .url({
      protocol: /^https?$/,
      error: (iss) =>
        iss.input === undefined
          ? `base_url is required: the relay's address (e.g. https://relay.example.com): ${what} has no official host`
          : "base_url must be the relay's http:// or https:// address (e.g. https://relay.example.com)",
    })
    .max(2048, 'base_url is too long');
}

const USER_ID = "user_id must be your numeric relay user ID (e.g. 42, shown on the relay's personal settings page)";

const schema = z.strictObject({
  base_url: relayBaseUrl('new-api / one-api'),
  access_token: z
    .string({ error: "access_token is required: the relay's system access token (personal settings → generate system access token / 个人设置 → 生成系统访问令牌), not an sk- API key" })
    .trim()
    .min(1, 'access_token must not be empty')
    .max(4096, 'access_token is too long'),
  user_id: z
    .union(
      [
        z.number({ error: USER_ID }).int({ error: USER_ID }).positive({ error: USER_ID }).max(Number.MAX_SAFE_INTEGER, { error: USER_ID }),
        z.string({ error: USER_ID }).regex(/^[1-9][0-9]{0,15}$/, { error: USER_ID }),
      ],
      { error: USER_ID },
    )
    .optional(),
});

export type NewapiConfig = z.infer<typeof schema>;

function authError(res: HttpResponse, message: string | undefined, config: NewapiConfig): SourceError {
  const said = message ? excerpt(scrubSecret(message, config.access_token), 200) : undefined;
  const why = `HTTP ${res.status}${said ? `: ${said}` : ''}`;
  if (said && /new-api-user/i.test(said)) {
    const hint =
      config.user_id === undefined
        ? 'new-api needs user_id: set user_id to your numeric user ID (shown on the relay\'s personal settings page), it is sent as the New-Api-User header'
        : `new-api needs user_id to be the numeric ID of the user the access token belongs to (New-Api-User ${String(config.user_id)} was refused): check user_id on the relay's personal settings page`;
    return new SourceError('auth', `${LABEL} rejected the request (${why}): ${hint}`, { status: res.status });
  }
  if (said && /封禁|banned|disabled/i.test(said))
    return new SourceError('auth', `${LABEL} says this user is disabled (${why}): ask the relay's administrator to re-enable the account`, { status: res.status });
  return new SourceError(
    'auth',
    `${LABEL} rejected the access token (${why}): use the system access token from the relay's personal settings (个人设置 → 生成系统访问令牌; not an sk- API key), and on new-api also set user_id`,
    { status: res.status },
  );
}

export const newapiSource: SourceType<NewapiConfig> = {
  type: 'newapi',
  label: LABEL,
  schema,
  secretFields: ['access_token'],
  host: (config) => hostOf(relayBase(config.base_url)),
  async poll(config, ctx, account): Promise<Reading> {
    const base = relayBase(config.base_url);
    const headers: Record<string, string> = { Authorization: `Bearer ${config.access_token}`, Accept: 'application/json' };
    if (config.user_id !== undefined) headers['New-Api-User'] = String(config.user_id);
    const res = await fetchSource(ctx, LABEL, joinUrl(base, '/api/user/self'), { headers });
    const parsed = tryJson(res.body);
    const message = bodyMessage(parsed);
    if (res.status === 401 || res.status === 403) throw authError(res, message, config);
    if (res.status < 200 || res.status >= 300)
      throw statusError(LABEL, res, ctx.now(), message ? scrubSecret(message, config.access_token) : undefined);
    const body = relayJson(LABEL, res, 'GET /api/user/self');
    if (isObject(body) && body.success === false) throw authError(res, message, config);
    const data = isObject(body) && isObject(body.data) ? body.data : undefined;
    const quota = data ? toNumber(data.quota) : undefined;
    if (!data || quota === undefined)
      throw new SourceError(
        'bad_response',
        `${LABEL} answered GET /api/user/self without a numeric data.quota ("${excerpt(res.body, 120)}"): check that base_url is a new-api / one-api relay`,
        { status: res.status },
      );
    const own = accountQuotaPerUnit(account);
    const units = own === undefined ? await relayUnits(ctx, LABEL, base) : undefined;
    const qpu = own ?? units!.quotaPerUnit;
    const used = toNumber(data.used_quota);
    const requests = toNumber(data.request_count);
    return {
      balance: quota / qpu,
      ...(own === undefined ? { currency: 'USD' } : {}),
      ...(used !== undefined ? { used: used / qpu } : {}),
      ...(requests !== undefined ? { requests } : {}),
      raw: {
        quota,
        ...(used !== undefined ? { used_quota: used } : {}),
        ...(requests !== undefined ? { request_count: requests } : {}),
        ...(typeof data.id === 'number' ? { user_id: data.id } : {}),
        ...(typeof data.group === 'string' ? { group: data.group } : {}),
        ...unitsRaw(qpu, units),
      },
    };
  },
};
