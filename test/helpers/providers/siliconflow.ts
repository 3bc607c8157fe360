import { type CommonBehaviour, type Forced, type Loopback, bearer, sendJson, startLoopback } from './generic.js';

// A loopback fake of SiliconFlow's user info endpoint (research/providers.md §2, docs.siliconflow.cn "获取用户账户信息"):
//
// - GET /v1/user/info, Authorization: Bearer <key> → {"code":20000,"message":"OK","status":true,"data":{id, name,
//   image, email, isAdmin, balance:"0.88", status:"normal", introduction, role, chargeBalance:"88.00",
//   totalBalance:"88.88"}} (amounts as strings; 'numbers' sends numbers).
// - A wrong or missing key → HTTP 401 with the bare JSON string "Api key is invalid" (third-party reports; the docs
//   do not describe it).
// - 'envelope_auth' → HTTP 200 {"code":30001,"message":"Api key is invalid","status":false,"data":null} and
//   'envelope_error' → HTTP 200 {"code":50505,"message":"Service temporarily unavailable","status":false,"data":null}:
//   stand-ins for the undocumented 200-with-an-error envelope.
// - 429 (+ Retry-After / empty), 500, an HTML page, a cut body, or no answer.

export type SiliconFlowBehaviour = CommonBehaviour | 'numbers' | 'envelope_auth' | 'envelope_error' | 'no_total';

export const SILICONFLOW_KEY = 'sk-qwhzktnbmrvplxcyjdgaesfuoi1234567890abcdefgh';

export interface FakeSiliconFlowState {
  keys: string[];
  data: Record<string, unknown>;
}

export interface FakeSiliconFlow extends Loopback {
  state: FakeSiliconFlowState;
  set(behaviour: SiliconFlowBehaviour, opts?: { retryAfter?: string }): void;
}

export async function startFakeSiliconFlow(opts: { keys?: string[]; data?: Record<string, unknown> } = {}): Promise<FakeSiliconFlow> {
  const state: FakeSiliconFlowState = {
    keys: opts.keys ?? [SILICONFLOW_KEY],
    data: {
      id: 'userid',
      name: 'username',
      image: 'https://example.invalid/avatar.png',
      email: 'alice@example.com',
      isAdmin: false,
      balance: '0.88',
      status: 'normal',
      introduction: 'hello',
      role: '',
      chargeBalance: '88.00',
      totalBalance: '88.88',
      ...(opts.data ?? {}),
    },
  };
  let forced: Forced<SiliconFlowBehaviour> = { behaviour: 'normal' };
  const core = await startLoopback(
    () => forced,
    (r, res) => {
      if (r.path !== '/v1/user/info') return sendJson(res, 404, { code: 40400, message: 'Not Found', status: false, data: null });
      const key = bearer(r.headers);
      if (!key || !state.keys.includes(key)) return sendJson(res, 401, 'Api key is invalid');
      if (forced.behaviour === 'envelope_auth') return sendJson(res, 200, { code: 30001, message: 'Api key is invalid', status: false, data: null });
      if (forced.behaviour === 'envelope_error') return sendJson(res, 200, { code: 50505, message: 'Service temporarily unavailable', status: false, data: null });
      let data = state.data;
      if (forced.behaviour === 'numbers')
        data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, ['balance', 'chargeBalance', 'totalBalance'].includes(k) ? Number(v) : v]));
      if (forced.behaviour === 'no_total') data = Object.fromEntries(Object.entries(data).filter(([k]) => k !== 'totalBalance'));
      return sendJson(res, 200, { code: 20000, message: 'OK', status: true, data });
    },
    {
      rateLimited: { code: 42900, message: 'Request was rejected due to rate limiting', status: false, data: null },
      error500: { code: 50000, message: 'Internal Server Error', status: false, data: null },
      garbage: '{"code":20000,"message":"OK","status":true,"data":{"totalBal',
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
