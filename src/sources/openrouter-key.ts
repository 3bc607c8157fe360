import { z } from 'zod';
import { excerpt } from '../channels/types.js';
import { hostOf, toNumber } from './http.js';
import { openrouterBase, openrouterBaseUrl, openrouterError, openrouterGet, openrouterJson, openrouterKey } from './openrouter.js';
import { type Reading, SourceError, type SourceType } from './types.js';

// One OpenRouter API key's credit limit (SPEC §5; research/providers.md §2).
//
//   GET {base}/api/v1/key   Authorization: Bearer <any key>
//   → {"data":{label, limit:number|null, limit_remaining:number|null, limit_reset, usage, usage_daily, …}} in USD.
//
// limit null → the key has no cap: {balance:null, unlimited:true} (the account's credits still apply: watch them
// with source type openrouter and a management key). limit_remaining is the per-key cap left in the current
// limit_reset window, not the account balance. `label` is left out of raw: by default it is the masked key.

const LABEL = 'OpenRouter key';

const schema = z.strictObject({
  base_url: openrouterBaseUrl,
  api_key: openrouterKey('an OpenRouter API key (sk-or-v1-…)'),
});

export type OpenrouterKeyConfig = z.infer<typeof schema>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function authError(why: string, status: number): SourceError {
  return new SourceError('auth', `${LABEL}: OpenRouter rejected the API key (${why}): check api_key (openrouter.ai/settings/keys); it may have been deleted or disabled`, { status });
}

const KEPT = ['limit', 'limit_remaining', 'limit_reset', 'usage', 'usage_daily', 'usage_weekly', 'usage_monthly', 'is_free_tier', 'expires_at'] as const;

export const openrouterKeySource: SourceType<OpenrouterKeyConfig> = {
  type: 'openrouter-key',
  label: LABEL,
  schema,
  secretFields: ['api_key'],
  host: (config) => hostOf(openrouterBase(config.base_url)),
  async poll(config, ctx): Promise<Reading> {
    const res = await openrouterGet(ctx, LABEL, openrouterBase(config.base_url), '/api/v1/key', config.api_key);
    if (res.status < 200 || res.status >= 300) throw openrouterError(LABEL, res, ctx.now(), config.api_key, authError);
    const body = openrouterJson(LABEL, res, 'GET /api/v1/key');
    if (isObject(body) && body.error !== undefined && body.data === undefined) throw openrouterError(LABEL, res, ctx.now(), config.api_key, authError);
    const data = isObject(body) && isObject(body.data) ? body.data : undefined;
    if (!data || !('limit' in data))
      throw new SourceError('bad_response', `${LABEL}: OpenRouter answered GET /api/v1/key without data.limit ("${excerpt(res.body, 120)}"); will retry`, { status: res.status });
    const raw: Record<string, unknown> = {};
    for (const k of KEPT) if (data[k] !== undefined) raw[k] = data[k];
    const usage = toNumber(data.usage);
    const used = usage !== undefined ? { used: usage } : {};
    if (data.limit === null) return { balance: null, unlimited: true, currency: 'USD', ...used, raw };
    const limit = toNumber(data.limit);
    const remaining = toNumber(data.limit_remaining);
    if (limit === undefined || remaining === undefined)
      throw new SourceError(
        'bad_response',
        `${LABEL}: OpenRouter answered GET /api/v1/key with a limit but without a numeric data.limit_remaining ("${excerpt(res.body, 120)}"); will retry`,
        { status: res.status },
      );
    return { balance: remaining, currency: 'USD', ...used, raw };
  },
};
