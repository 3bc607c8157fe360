import { type CommonBehaviour, type Forced, type Loopback, bearer, sendJson, startLoopback } from './generic.js';

// A loopback fake of DeepSeek's balance endpoint (research/providers.md §2, api-docs.deepseek.com "Get User Balance"):
//
// - GET /user/balance, Authorization: Bearer <key> → {"is_available":bool,"balance_infos":[{currency, total_balance,
//   granted_balance, topped_up_balance}]}, amounts as strings ('numbers' switches to the early docs' numbers).
// - A wrong or missing key → 401 {"error":{"message":"Authentication Fails, Your api key: ****abcd is invalid",
//   "type":"authentication_error","param":null,"code":"invalid_request_error"}} (observed body; it echoes the last
//   four characters of the key it got).
// - 'insufficient' → 402 {"error":{"message":"Insufficient Balance",…}} (DeepSeek's documented 402).
// - 429 {"error":{"message":"Rate Limit Reached",…}} (+ Retry-After), 500, an HTML page, a cut body, or no answer.

export type DeepSeekBehaviour = CommonBehaviour | 'numbers' | 'insufficient' | 'no_infos';

export const DEEPSEEK_KEY = 'sk-5e0c9b7a4d2f4c1e8a6b3d9f0e7c2a14';

export interface FakeDeepSeekState {
  keys: string[];
  is_available: boolean;
  balance_infos: Record<string, unknown>[];
}

export interface FakeDeepSeek extends Loopback {
  state: FakeDeepSeekState;
  set(behaviour: DeepSeekBehaviour, opts?: { retryAfter?: string }): void;
}

function error(message: string, type: string, code: string) {
  return { error: { message, type, param: null, code } };
}

export const DEEPSEEK_CNY_ONLY = [{ currency: 'CNY', total_balance: '110.00', granted_balance: '10.00', topped_up_balance: '100.00' }];

export async function startFakeDeepSeek(opts: Partial<FakeDeepSeekState> = {}): Promise<FakeDeepSeek> {
  const state: FakeDeepSeekState = {
    keys: opts.keys ?? [DEEPSEEK_KEY],
    is_available: opts.is_available ?? true,
    balance_infos: (opts.balance_infos ?? DEEPSEEK_CNY_ONLY).map((e) => ({ ...e })),
  };
  let forced: Forced<DeepSeekBehaviour> = { behaviour: 'normal' };
  const core = await startLoopback(
    () => forced,
    (r, res) => {
      if (r.path !== '/user/balance') return sendJson(res, 404, error('Not Found', 'invalid_request_error', 'invalid_request_error'));
      const key = bearer(r.headers);
      if (!key || !state.keys.includes(key))
        return sendJson(res, 401, error(`Authentication Fails, Your api key: ****${(key ?? '').slice(-4)} is invalid`, 'authentication_error', 'invalid_request_error'));
      if (forced.behaviour === 'insufficient') return sendJson(res, 402, error('Insufficient Balance', 'unknown_error', 'invalid_request_error'));
      if (forced.behaviour === 'no_infos') return sendJson(res, 200, { is_available: state.is_available });
      const infos =
        forced.behaviour === 'numbers'
          ? state.balance_infos.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, k !== 'currency' && typeof v === 'string' ? Number(v) : v])))
          : state.balance_infos;
      return sendJson(res, 200, { is_available: state.is_available, balance_infos: infos });
    },
    {
      rateLimited: error('Rate Limit Reached', 'rate_limit_error', 'rate_limit_exceeded'),
      error500: error('Server Error', 'server_error', 'internal_error'),
      garbage: '{"is_available":true,"balance_infos":[{"currency":"CNY","total_bal',
    },
  );
  return {
    ...core,
    state,
    set(behaviour, o = {}) {
      forced = { behaviour, ...o };
    },
  };
}
