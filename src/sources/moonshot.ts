import { z } from 'zod';
import { excerpt } from '../channels/types.js';
import { fetchSource, hostOf, joinUrl, toNumber } from './http.js';
import {
  apiRoot,
  baseUrlSchema,
  credentialSchema,
  currencyByHost,
  errorForStatus,
  isObject,
  notJsonError,
  providerMessage,
  safeText,
  saysAuth,
  tryJson,
} from './provider-util.js';
import { type Reading, SourceError, type SourceType } from './types.js';

// Moonshot / Kimi account balance (SPEC §5; research/providers.md §2, platform.moonshot.cn / platform.moonshot.ai).
//
//   GET {base}/v1/users/me/balance   Authorization: Bearer <api key>
//   → {"code":0,"data":{"available_balance":49.58894,"voucher_balance":46.58893,"cash_balance":3.00001},
//      "scode":"0x0","status":true}
//
// available_balance = cash + voucher and is what can be spent (≤ 0 blocks inference): it is the reading.
// cash_balance can be negative (arrears; available then equals the vouchers): kept in raw, never used as the
// balance. The envelope is checked like new-api's own poller does (status true and code 0): code ≠ 0 or status
// false is an error even with HTTP 200 (auth when it says so, else bad_response).
// 401 {"error":{"message":"Invalid Authentication","type":"invalid_authentication_error"}} → auth.
//
// Currency by host: api.moonshot.cn bills in CNY, api.moonshot.ai in USD; keys are region-specific, so a .ai key
// polled on .cn is a 401 (the auth message says so). Another host (a proxy) states no currency.

const LABEL = 'Moonshot';
export const MOONSHOT_DEFAULT_BASE = 'https://api.moonshot.cn';
const KEY_HINT = 'a Moonshot / Kimi API key (sk-…) from platform.moonshot.cn (international: platform.moonshot.ai)';

const schema = z.strictObject({
  base_url: baseUrlSchema(MOONSHOT_DEFAULT_BASE),
  api_key: credentialSchema('api_key', KEY_HINT),
});

export type MoonshotConfig = z.infer<typeof schema>;

function base(config: MoonshotConfig): string {
  return apiRoot(config.base_url ?? MOONSHOT_DEFAULT_BASE);
}

function authError(why: string, status: number): SourceError {
  return new SourceError(
    'auth',
    `${LABEL} rejected the API key (${why}): check api_key; keys are per region: a platform.moonshot.ai key needs base_url https://api.moonshot.ai, a platform.moonshot.cn key https://api.moonshot.cn`,
    { status },
  );
}

const KEPT = ['available_balance', 'voucher_balance', 'cash_balance'] as const;

export const moonshotSource: SourceType<MoonshotConfig> = {
  type: 'moonshot',
  label: LABEL,
  schema,
  secretFields: ['api_key'],
  host: (config) => hostOf(base(config)),
  async poll(config, ctx): Promise<Reading> {
    const secrets = [config.api_key];
    const url = base(config);
    const res = await fetchSource(ctx, LABEL, joinUrl(url, '/v1/users/me/balance'), {
      headers: { Authorization: `Bearer ${config.api_key}`, Accept: 'application/json' },
    });
    if (res.status < 200 || res.status >= 300) throw errorForStatus(LABEL, res, ctx.now(), secrets, authError);

    const body = tryJson(res.body);
    if (body === undefined)
      throw notJsonError(LABEL, res, 'GET /v1/users/me/balance', secrets, `check that base_url is Moonshot's API address (${MOONSHOT_DEFAULT_BASE} or https://api.moonshot.ai)`);
    const code = isObject(body) ? toNumber(body.code) : undefined;
    if (!isObject(body) || code !== 0 || body.status === false) {
      const message = providerMessage(body);
      const said = message ? safeText(message, secrets) : undefined;
      if (saysAuth(body, message)) throw authError(`HTTP ${res.status}${said ? `: ${said}` : ''}`, res.status);
      throw new SourceError(
        'bad_response',
        isObject(body) && body.code !== undefined
          ? `${LABEL} answered GET /v1/users/me/balance with code ${excerpt(String(body.code), 20)}${body.status === false ? ', status false' : ''}${said ? `: ${said}` : ''}; will retry`
          : `${LABEL} answered GET /v1/users/me/balance without the {"code":0,"status":true,…} envelope ("${safeText(res.body, secrets, 120)}"); will retry`,
        { status: res.status },
      );
    }

    const data = isObject(body.data) ? body.data : undefined;
    const available = data ? toNumber(data.available_balance) : undefined;
    if (!data || available === undefined)
      throw new SourceError(
        'bad_response',
        `${LABEL} answered GET /v1/users/me/balance without a numeric data.available_balance (got ${data?.available_balance === undefined ? 'nothing' : excerpt(JSON.stringify(data.available_balance), 40)}); will retry`,
        { status: res.status },
      );
    const currency = currencyByHost(hostOf(url), { cn: 'moonshot.cn', intl: 'moonshot.ai' });
    const raw: Record<string, unknown> = Object.fromEntries(KEPT.filter((k) => data[k] !== undefined).map((k) => [k, data[k]]));
    const cash = toNumber(data.cash_balance);
    if (cash !== undefined && cash < 0) raw.arrears = -cash;
    return { balance: available, ...(currency ? { currency } : {}), raw };
  },
};
