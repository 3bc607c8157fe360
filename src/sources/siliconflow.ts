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

// SiliconFlow account balance (SPEC §5; research/providers.md §2, docs.siliconflow.cn "获取用户账户信息").
//
//   GET {base}/v1/user/info   Authorization: Bearer <api key>
//   → {"code":20000,"message":"OK","status":true,"data":{id, name, image, email, isAdmin, balance:"0.88",
//      status:"normal", introduction, role, chargeBalance:"88.00", totalBalance:"88.88"}}
//
// Amounts are strings. balance = the gift balance, chargeBalance = topped up, totalBalance = their sum, which is
// what can be spent: the reading is totalBalance. The envelope matters: one-api's own poller requires code 20000,
// so code ≠ 20000 or status false is an error even with HTTP 200 (auth when it says so, else bad_response).
// A bad key answers HTTP 401 with the bare JSON string "Api key is invalid" (seen in third-party reports; the
// docs do not describe it).
//
// Currency (unconfirmed: the docs do not state it): api.siliconflow.cn bills in CNY, the international
// api.siliconflow.com in USD. It is decided by the host polled; any other host (a proxy) states no currency and
// the account's own stays. raw keeps only the three amounts and the account status (no id, name, email, image).

const LABEL = 'SiliconFlow';
export const SILICONFLOW_DEFAULT_BASE = 'https://api.siliconflow.cn';
const KEY_HINT = 'a SiliconFlow API key (sk-…) from cloud.siliconflow.cn/account/ak (international: cloud.siliconflow.com)';

const schema = z.strictObject({
  base_url: baseUrlSchema(SILICONFLOW_DEFAULT_BASE),
  api_key: credentialSchema('api_key', KEY_HINT),
});

export type SiliconflowConfig = z.infer<typeof schema>;

function base(config: SiliconflowConfig): string {
  return apiRoot(config.base_url ?? SILICONFLOW_DEFAULT_BASE);
}

function authError(why: string, status: number): SourceError {
  return new SourceError(
    'auth',
    `${LABEL} rejected the API key (${why}): check api_key in the SiliconFlow console (API keys); a key from siliconflow.com works only with base_url https://api.siliconflow.com, a siliconflow.cn key with https://api.siliconflow.cn`,
    { status },
  );
}

const KEPT = ['balance', 'chargeBalance', 'totalBalance', 'status'] as const;

export const siliconflowSource: SourceType<SiliconflowConfig> = {
  type: 'siliconflow',
  label: LABEL,
  schema,
  secretFields: ['api_key'],
  host: (config) => hostOf(base(config)),
  async poll(config, ctx): Promise<Reading> {
    const secrets = [config.api_key];
    const url = base(config);
    const res = await fetchSource(ctx, LABEL, joinUrl(url, '/v1/user/info'), {
      headers: { Authorization: `Bearer ${config.api_key}`, Accept: 'application/json' },
    });
    if (res.status < 200 || res.status >= 300) throw errorForStatus(LABEL, res, ctx.now(), secrets, authError);

    const body = tryJson(res.body);
    if (body === undefined)
      throw notJsonError(LABEL, res, 'GET /v1/user/info', secrets, `check that base_url is SiliconFlow's API address (${SILICONFLOW_DEFAULT_BASE} or https://api.siliconflow.com)`);
    const code = isObject(body) ? toNumber(body.code) : undefined;
    if (!isObject(body) || code !== 20000 || body.status === false) {
      const message = providerMessage(body);
      const said = message ? safeText(message, secrets) : undefined;
      if (saysAuth(body, message)) throw authError(`HTTP ${res.status}, code ${isObject(body) ? String(body.code) : '?'}${said ? `: ${said}` : ''}`, res.status);
      throw new SourceError(
        'bad_response',
        isObject(body) && body.code !== undefined
          ? `${LABEL} answered GET /v1/user/info with code ${excerpt(String(body.code), 20)}${body.status === false ? ', status false' : ''} instead of code 20000${said ? `: ${said}` : ''}; will retry`
          : `${LABEL} answered GET /v1/user/info without the {"code":20000,…} envelope ("${safeText(res.body, secrets, 120)}"); will retry`,
        { status: res.status },
      );
    }

    const data = isObject(body.data) ? body.data : undefined;
    const total = data ? toNumber(data.totalBalance) : undefined;
    if (!data || total === undefined)
      throw new SourceError(
        'bad_response',
        `${LABEL} answered GET /v1/user/info without a numeric data.totalBalance (got ${data?.totalBalance === undefined ? 'nothing' : excerpt(JSON.stringify(data.totalBalance), 40)}); will retry`,
        { status: res.status },
      );
    const currency = currencyByHost(hostOf(url), { cn: 'siliconflow.cn', intl: 'siliconflow.com' });
    const raw = Object.fromEntries(KEPT.filter((k) => data[k] !== undefined).map((k) => [k, data[k]]));
    return { balance: total, ...(currency ? { currency } : {}), raw };
  },
};
