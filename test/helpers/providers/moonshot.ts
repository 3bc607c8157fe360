import { type CommonBehaviour, type Forced, type Loopback, bearer, sendJson, startLoopback } from './generic.js';

// A loopback fake of Moonshot / Kimi's balance endpoint (research/providers.md §2, platform.moonshot.cn docs):
//
// - GET /v1/users/me/balance, Authorization: Bearer <key> → {"code":0,"data":{"available_balance":49.58894,
//   "voucher_balance":46.58893,"cash_balance":3.00001},"scode":"0x0","status":true}. `state.data` sets the figures
//   (a negative cash_balance is arrears: available = vouchers).
// - A wrong or missing key → 401 {"error":{"message":"Invalid Authentication","type":"invalid_authentication_error"}}
//   (observed body).
// - 'envelope_error' → HTTP 200 {"code":5,"data":null,"scode":"0x5","status":false,"error":{"message":"internal
//   error"}}: a stand-in for the undocumented 200-with-an-error envelope. 'strings' sends the amounts as strings.
// - 429 {"error":{"message":"…rate limit…","type":"rate_limit_reached_error"}} (+ Retry-After / empty), 500, an
//   HTML page, a cut body, or no answer.

export type MoonshotBehaviour = CommonBehaviour | 'envelope_error' | 'strings' | 'no_available';

export const MOONSHOT_KEY = 'sk-Zb3kQ9vLm2Xp7Rt4Wn8Yc1Hd6Fg0Js5Ae9Ku3Mi7Oq2Tz';

export interface FakeMoonshotState {
  keys: string[];
  data: { available_balance: number; voucher_balance: number; cash_balance: number };
}

export interface FakeMoonshot extends Loopback {
  state: FakeMoonshotState;
  set(behaviour: MoonshotBehaviour, opts?: { retryAfter?: string }): void;
}

export async function startFakeMoonshot(opts: Partial<FakeMoonshotState> = {}): Promise<FakeMoonshot> {
  const state: FakeMoonshotState = {
    keys: opts.keys ?? [MOONSHOT_KEY],
    data: { ...(opts.data ?? { available_balance: 49.58894, voucher_balance: 46.58893, cash_balance: 3.00001 }) },
  };
  let forced: Forced<MoonshotBehaviour> = { behaviour: 'normal' };
  const core = await startLoopback(
    () => forced,
    (r, res) => {
      if (r.path !== '/v1/users/me/balance') return sendJson(res, 404, { error: { message: 'Not Found', type: 'resource_not_found_error' } });
      const key = bearer(r.headers);
      if (!key || !state.keys.includes(key)) return sendJson(res, 401, { error: { message: 'Invalid Authentication', type: 'invalid_authentication_error' } });
      if (forced.behaviour === 'envelope_error') return sendJson(res, 200, { code: 5, data: null, scode: '0x5', status: false, error: { message: 'internal error' } });
      let data: Record<string, unknown> = { ...state.data };
      if (forced.behaviour === 'strings') data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, String(v)]));
      if (forced.behaviour === 'no_available') delete data.available_balance;
      return sendJson(res, 200, { code: 0, data, scode: '0x0', status: true });
    },
    {
      rateLimited: { error: { message: 'Your account org-xxx request reached max request: 3, please try again after 1 seconds', type: 'rate_limit_reached_error' } },
      error500: { error: { message: 'Internal Server Error', type: 'server_error' } },
      garbage: '{"code":0,"data":{"available_balance":49.5',
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
