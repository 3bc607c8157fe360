import { z } from 'zod';
import { excerpt } from '../channels/types.js';
import { fetchSource, hostOf, joinUrl, toNumber } from './http.js';
import { apiRoot, baseUrlSchema, credentialSchema, errorForStatus, isObject, notJsonError, providerMessage, safeText, saysAuth, tryJson } from './provider-util.js';
import { type AccountInfo, type Reading, SourceError, type SourceType } from './types.js';

// DeepSeek account balance (SPEC §5; research/providers.md §2, api-docs.deepseek.com "Get User Balance").
//
//   GET {base}/user/balance   Authorization: Bearer <api key>
//   → {"is_available":bool,"balance_infos":[{"currency":"CNY"|"USD","total_balance":"110.00",
//      "granted_balance":"10.00","topped_up_balance":"100.00"}]}
//
// Amounts are strings (an early version of the docs typed them as numbers: both are accepted). total_balance =
// unexpired granted + topped-up, so it is the balance. Errors are OpenAI-shaped:
// 401 {"error":{"message":"Authentication Fails, Your api key: ****abcd is invalid","type":"authentication_error",…}}
// (the masked key is scrubbed from what we show), 402 Insufficient Balance, 429, 5xx.
//
// Which entry. An account can hold a CNY and a USD balance. The entry read is, in order:
//   1. the source's `currency` field when set (an explicit choice; no such entry → bad_response listing the ones
//      there are, since absent is not zero);
//   2. the entry in the account's own currency (AccountInfo.currency) when there is one;
//   3. the first entry.
// The source field comes first because every account has a currency (USD unless set), so with the account's
// currency first the source's `currency` could never pick CNY on an account holding both. The reading states the
// entry's currency; a new account adopts it, an account kept in another currency gets a clear mismatch error.
//
// Decisions where the docs are silent:
// - An empty balance_infos with is_available:false is balance 0: DeepSeek states that nothing usable is left and
//   lists nothing to add up. With is_available true (or missing) an empty list contradicts itself → bad_response.
// - 402 "Insufficient Balance" should not come from the balance endpoint, but if DeepSeek's gateway applies its
//   balance check there too, it is DeepSeek saying the balance is exhausted: that is balance 0 (an alert the user
//   must see as "low balance", not a failing source), with the answer kept in raw. A 402 that does not say so is
//   bad_response.

const LABEL = 'DeepSeek';
export const DEEPSEEK_DEFAULT_BASE = 'https://api.deepseek.com';
const KEY_HINT = 'a DeepSeek API key (sk-…) from platform.deepseek.com/api_keys';

const schema = z.strictObject({
  base_url: baseUrlSchema(DEEPSEEK_DEFAULT_BASE),
  api_key: credentialSchema('api_key', KEY_HINT),
  currency: z
    .string({ error: 'currency must be "CNY" or "USD"' })
    .trim()
    .toUpperCase()
    .pipe(z.enum(['CNY', 'USD'], { error: 'currency must be "CNY" or "USD": the balance_infos entry to read (default: the account\'s currency, else the first)' }))
    .optional(),
});

export type DeepseekConfig = z.infer<typeof schema>;

function base(config: DeepseekConfig): string {
  return apiRoot(config.base_url ?? DEEPSEEK_DEFAULT_BASE);
}

function authError(why: string, status: number): SourceError {
  return new SourceError(
    'auth',
    `${LABEL} rejected the API key (${why}): check api_key at platform.deepseek.com/api_keys; the key may have been deleted`,
    { status },
  );
}

function upper(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim().toUpperCase() : undefined;
}

const ENTRY_KEYS = ['currency', 'total_balance', 'granted_balance', 'topped_up_balance'] as const;

export const deepseekSource: SourceType<DeepseekConfig> = {
  type: 'deepseek',
  label: LABEL,
  schema,
  secretFields: ['api_key'],
  host: (config) => hostOf(base(config)),
  async poll(config, ctx, account: AccountInfo): Promise<Reading> {
    const secrets = [config.api_key];
    const res = await fetchSource(ctx, LABEL, joinUrl(base(config), '/user/balance'), {
      headers: { Authorization: `Bearer ${config.api_key}`, Accept: 'application/json' },
    });

    if (res.status === 402) {
      const message = providerMessage(tryJson(res.body));
      if (message && /insufficient[\s_-]*balance/i.test(message))
        return {
          balance: 0,
          ...(config.currency ? { currency: config.currency } : {}),
          raw: { status: 402, message: safeText(message, secrets) },
        };
    }
    if (res.status < 200 || res.status >= 300) throw errorForStatus(LABEL, res, ctx.now(), secrets, authError);

    const body = tryJson(res.body);
    if (body === undefined)
      throw notJsonError(LABEL, res, 'GET /user/balance', secrets, `check that base_url is DeepSeek's API address (${DEEPSEEK_DEFAULT_BASE})`);
    if (!isObject(body) || !Array.isArray(body.balance_infos)) {
      const message = providerMessage(body);
      if (isObject(body) && body.error !== undefined && saysAuth(body, message)) throw authError(`HTTP ${res.status}: ${safeText(message ?? 'error', secrets)}`, res.status);
      throw new SourceError(
        'bad_response',
        `${LABEL} answered GET /user/balance without a balance_infos list (${message ? safeText(message, secrets) : `"${safeText(res.body, secrets, 120)}"`}); will retry`,
        { status: res.status },
      );
    }

    const infos = body.balance_infos.filter(isObject);
    const raw = {
      ...(typeof body.is_available === 'boolean' ? { is_available: body.is_available } : {}),
      balance_infos: infos.map((e) => Object.fromEntries(ENTRY_KEYS.filter((k) => e[k] !== undefined).map((k) => [k, e[k]]))),
    };
    if (infos.length === 0) {
      if (body.is_available === false) return { balance: 0, ...(config.currency ? { currency: config.currency } : {}), raw };
      throw new SourceError('bad_response', `${LABEL} answered GET /user/balance with an empty balance_infos list while is_available is not false; will retry`, {
        status: res.status,
      });
    }

    let entry: Record<string, unknown> | undefined;
    if (config.currency) {
      entry = infos.find((e) => upper(e.currency) === config.currency);
      if (!entry) {
        const have = infos.map((e) => upper(e.currency) ?? '?').join(', ');
        throw new SourceError(
          'bad_response',
          `${LABEL} lists no ${config.currency} balance for this account (it lists: ${have}): set the source's currency to one of those, or remove it`,
          { status: res.status },
        );
      }
    } else {
      const mine = upper(account.currency);
      entry = infos.find((e) => upper(e.currency) === mine) ?? infos[0]!;
    }

    const currency = upper(entry.currency);
    const balance = toNumber(entry.total_balance);
    if (balance === undefined)
      throw new SourceError(
        'bad_response',
        `${LABEL} answered GET /user/balance without a numeric total_balance in the ${currency ?? 'first'} entry (got ${entry.total_balance === undefined ? 'nothing' : excerpt(JSON.stringify(entry.total_balance), 40)}); will retry`,
        { status: res.status },
      );
    return { balance, ...(currency ? { currency } : {}), raw };
  },
};
