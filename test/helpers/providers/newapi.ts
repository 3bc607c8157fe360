import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback fake of a new-api or one-api relay, answering the way the real ones do (research/providers.md §1,
// relays-newapi.md §5; checked against songquanpeng/one-api and QuantumNous/new-api middleware/auth.go,
// controller/billing.go, controller/token.go GetTokenUsage, router/api-router.go):
//
// - GET /api/status (public): quota_per_unit, display_in_currency (+ quota_display_type, usd_exchange_rate, price
//   on new-api).
// - GET /api/user/self (UserAuth): Authorization "<token>" or "Bearer <token>" (one "Bearer " is stripped); no header
//   → 401; an unknown token → HTTP 200 {"success":false,"message":"无权进行此操作，access token 无效"}; new-api then
//   requires New-Api-User (missing / not numeric / another user → 401); a banned user → HTTP 200 "用户已被封禁".
//   `authCodes: true` imitates the newest new-api instead: 401 {"success":false,"code":"AUTH_…"} and no
//   New-Api-User check.
// - GET /api/usage/token/ (new-api only; TokenAuthReadOnly: exhausted and expired keys can still read it):
//   {"code":true,"data":{total_granted,total_used,total_available,unlimited_quota,expires_at}}; without the trailing
//   slash gin answers 301 to it. one-api answers 404 {"error":{"message":"Invalid URL (GET …)",…}}.
// - GET [/v1]/dashboard/billing/subscription and /usage (TokenAuth): the key's figures (DisplayTokenStatEnabled),
//   in the display unit (USD / quota / CNY), 100000000 for an unlimited key, usage in cents; a bad key → 401
//   {"error":{"message":"… (request id: …)","type":"one_api_error"|"new_api_error"}} with 无效的令牌 / 该令牌已过期 /
//   该令牌额度已用尽 (new-api adds the masked key and RemainQuota) / 该令牌状态不可用; a banned user → 403.
// - A global per-IP limiter on /api/* and the dashboard routes (one-api 480 / 180 s, new-api 180 / 180 s) and, on
//   new-api, the critical limiter on /api/usage (20 / 20 min): over it, HTTP 429 with an EMPTY body.
//
// `set(behaviour, {on})` forces an answer (on every path, or on paths starting with `on`): 429 empty body (optionally
// with Retry-After), 500, an HTML page, non-JSON garbage, HTTP 200 {"error":{"type":"upstream_error"}} on the billing
// routes, or no answer at all. `state` is live: change users, tokens or /api/status settings between polls.

export type RelayFlavor = 'new-api' | 'one-api';

export interface FakeRelayUser {
  id: number;
  username: string;
  access_token: string;
  /** Remaining balance in quota units (anything, to fake garbled answers). */
  quota: unknown;
  used_quota: number;
  request_count: number;
  /** 1 enabled, 2 disabled. */
  status: 1 | 2;
  group: string;
  email: string;
}

export interface FakeRelayToken {
  /** The key without its "sk-" prefix, as the relays store it. */
  key: string;
  user_id: number;
  name: string;
  remain_quota: number;
  used_quota: number;
  unlimited_quota: boolean;
  /** Unix seconds, -1 = never. */
  expired_time: number;
  /** 1 enabled, 2 disabled, 3 expired, 4 exhausted. */
  status: 1 | 2 | 3 | 4;
}

export interface FakeRelayStatus {
  /** undefined leaves the field out; a string or anything else is sent as is. */
  quota_per_unit?: unknown;
  display_in_currency: boolean;
  /** new-api only. */
  quota_display_type?: 'USD' | 'CNY' | 'TOKENS' | 'CUSTOM';
  usd_exchange_rate?: number;
  price?: number;
}

export type RelayBehaviour = 'normal' | 'rate_limited' | 'error500' | 'html' | 'garbage' | 'upstream_error' | 'hang';

export interface FakeRelayOptions {
  flavor: RelayFlavor;
  users?: FakeRelayUser[];
  tokens?: FakeRelayToken[];
  status?: Partial<FakeRelayStatus>;
  /** new-api: whether GET /api/usage/token/ exists (older new-api builds lack it). Default true; one-api never. */
  usageRoute?: boolean;
  /** The newest new-api's dashboard auth (401 + code, no New-Api-User check). Default false. */
  authCodes?: boolean;
  /** DisplayTokenStatEnabled (default true): the billing routes show the key's figures, else the user's. */
  displayTokenStat?: boolean;
  /** Global per-IP limiter; default by flavor. */
  globalLimit?: { limit: number; windowMs: number };
  /** new-api's critical limiter on /api/usage; default 20 per 20 min. */
  criticalLimit?: { limit: number; windowMs: number };
}

export interface FakeRelayRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FakeRelay {
  url: string;
  requests: FakeRelayRequest[];
  state: { users: FakeRelayUser[]; tokens: FakeRelayToken[]; status: FakeRelayStatus };
  set(behaviour: RelayBehaviour, opts?: { on?: string; retryAfter?: string }): void;
  /** Counters of both limiters back to zero. */
  resetLimits(): void;
  close(): Promise<void>;
}

export const FAKE_USER: FakeRelayUser = {
  id: 1,
  username: 'alice',
  access_token: 'Xq3vN8pL2mR7tY9wK4sB6dF1gH5jZ0cA',
  quota: 12_500_000,
  used_quota: 2_500_000,
  request_count: 321,
  status: 1,
  group: 'default',
  email: 'alice@example.com',
};

export const FAKE_TOKEN: FakeRelayToken = {
  key: 'Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12Wx34',
  user_id: 1,
  name: 'bot',
  remain_quota: 3_000_000,
  used_quota: 1_000_000,
  unlimited_quota: false,
  expired_time: -1,
  status: 1,
};

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

let requestSeq = 0;
function requestId(): string {
  requestSeq += 1;
  return `2025041112000000000${requestSeq}fake`;
}

export async function startFakeRelay(opts: FakeRelayOptions): Promise<FakeRelay> {
  const flavor = opts.flavor;
  const newApi = flavor === 'new-api';
  const state = {
    users: (opts.users ?? [{ ...FAKE_USER }]).map((u) => ({ ...u })),
    tokens: (opts.tokens ?? [{ ...FAKE_TOKEN }]).map((t) => ({ ...t })),
    status: {
      quota_per_unit: 500_000,
      display_in_currency: true,
      ...(newApi ? { quota_display_type: 'USD' as const, usd_exchange_rate: 7.3, price: 7.3 } : {}),
      ...opts.status,
    } as FakeRelayStatus,
  };
  const usageRoute = newApi && opts.usageRoute !== false;
  const globalLimit = opts.globalLimit ?? (newApi ? { limit: 180, windowMs: 180_000 } : { limit: 480, windowMs: 180_000 });
  const criticalLimit = opts.criticalLimit ?? { limit: 20, windowMs: 20 * 60_000 };
  const hits = new Map<string, number[]>();
  const requests: FakeRelayRequest[] = [];
  let forced: { behaviour: RelayBehaviour; on?: string; retryAfter?: string } = { behaviour: 'normal' };

  /** True when this IP is over `limit` in the window (then the caller answers 429 with an empty body). */
  function limited(key: string, limit: { limit: number; windowMs: number }): boolean {
    const now = Date.now();
    const list = (hits.get(key) ?? []).filter((t) => now - t < limit.windowMs);
    if (list.length >= limit.limit) {
      hits.set(key, list);
      return true;
    }
    list.push(now);
    hits.set(key, list);
    return false;
  }

  function tooMany(res: ServerResponse, retryAfter?: string): void {
    // gin: c.Status(http.StatusTooManyRequests); c.Abort() — no body at all.
    res.writeHead(429, retryAfter ? { 'retry-after': retryAfter } : {});
    res.end();
  }

  function relayNotFound(res: ServerResponse, method: string, path: string): void {
    json(res, 404, { error: { message: `Invalid URL (${method} ${path})`, type: 'invalid_request_error', param: '', code: '' } });
  }

  function userSelf(res: ServerResponse, headers: IncomingHttpHeaders): void {
    const auth = headers.authorization ?? '';
    if (auth === '') {
      if (opts.authCodes) return json(res, 401, { success: false, code: 'AUTH_UNAUTHORIZED', message: '无权进行此操作，未登录且未提供 access token' });
      return json(res, 401, { success: false, message: '无权进行此操作，未登录且未提供 access token' });
    }
    // model.ValidateAccessToken: strings.Replace(token, "Bearer ", "", 1)
    const token = auth.replace('Bearer ', '');
    const user = state.users.find((u) => u.access_token === token);
    if (!user) {
      if (opts.authCodes) return json(res, 401, { success: false, code: 'AUTH_UNAUTHORIZED', message: '无权进行此操作，access token 无效' });
      return json(res, 200, { success: false, message: '无权进行此操作，access token 无效' });
    }
    if (newApi && !opts.authCodes) {
      const header = headers['new-api-user'];
      const idText = Array.isArray(header) ? header[0] : header;
      if (idText === undefined || idText === '') return json(res, 401, { success: false, message: '无权进行此操作，未提供 New-Api-User' });
      if (!/^[+-]?\d+$/.test(idText)) return json(res, 401, { success: false, message: '无权进行此操作，New-Api-User 格式错误' });
      if (Number(idText) !== user.id) return json(res, 401, { success: false, message: '无权进行此操作，New-Api-User 与登录用户不匹配' });
    }
    if (user.status === 2) {
      if (opts.authCodes) return json(res, 401, { success: false, code: 'AUTH_USER_DISABLED', message: '用户已被封禁' });
      return json(res, 200, { success: false, message: '用户已被封禁' });
    }
    const data: Record<string, unknown> = {
      id: user.id,
      username: user.username,
      display_name: user.username,
      role: 1,
      status: user.status,
      email: user.email,
      github_id: '',
      wechat_id: '',
      group: user.group,
      quota: user.quota,
      used_quota: user.used_quota,
      request_count: user.request_count,
      aff_code: 'a1b2',
      inviter_id: 0,
    };
    if (newApi) Object.assign(data, { aff_count: 0, aff_quota: 0, aff_history_quota: 0, setting: '{"notify_type":"email"}', stripe_customer: '', linux_do_id: '' });
    json(res, 200, { success: true, message: '', data });
  }

  function statusBody(): unknown {
    const s = state.status;
    const data: Record<string, unknown> = { version: newApi ? 'v0.6.6' : 'v0.6.10', system_name: 'Fake Relay', start_time: 1_700_000_000 };
    if (s.quota_per_unit !== undefined) data.quota_per_unit = s.quota_per_unit;
    data.display_in_currency = s.display_in_currency;
    if (newApi) {
      if (s.quota_display_type !== undefined) data.quota_display_type = s.quota_display_type;
      if (s.usd_exchange_rate !== undefined) data.usd_exchange_rate = s.usd_exchange_rate;
      if (s.price !== undefined) data.price = s.price;
    }
    return { success: true, message: '', data };
  }

  /** The key as the relays read it: Bearer / bearer stripped, then "sk-", then anything after a "-" (channel). */
  function keyOf(auth: string): string {
    let key = auth;
    if (key.startsWith('Bearer ') || key.startsWith('bearer ')) key = key.slice(7).trim();
    key = key.replace(/^sk-/, '');
    return key.split('-')[0] ?? '';
  }

  /** new-api TokenAuthReadOnly + controller.GetTokenUsage. */
  function tokenUsage(res: ServerResponse, headers: IncomingHttpHeaders): void {
    const auth = headers.authorization ?? '';
    if (auth === '') return json(res, 401, { success: false, message: '未提供令牌' });
    const token = state.tokens.find((t) => t.key === keyOf(auth));
    if (!token) return json(res, 401, { success: false, message: '无效的令牌' });
    if (token.status === 2) return json(res, 401, { success: false, message: '该令牌状态不可用' });
    const user = state.users.find((u) => u.id === token.user_id);
    if (user && user.status !== 1) return json(res, 403, { success: false, message: '用户已被封禁' });
    const parts = auth.split(' ');
    if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'bearer') return json(res, 401, { success: false, message: 'Invalid Bearer token' });
    json(res, 200, {
      code: true,
      message: 'ok',
      data: {
        object: 'token_usage',
        name: token.name,
        total_granted: token.remain_quota + token.used_quota,
        total_used: token.used_quota,
        total_available: token.remain_quota,
        unlimited_quota: token.unlimited_quota,
        model_limits: {},
        model_limits_enabled: false,
        expires_at: token.expired_time === -1 ? 0 : token.expired_time,
      },
    });
  }

  function abortWithMessage(res: ServerResponse, status: number, message: string): void {
    const error: Record<string, unknown> = { message: `${message} (request id: ${requestId()})`, type: newApi ? 'new_api_error' : 'one_api_error' };
    if (newApi) error.code = '';
    json(res, status, { error });
  }

  /** model.ValidateUserToken (both projects' messages) + the user check of TokenAuth. Null when it answered. */
  function tokenAuth(res: ServerResponse, headers: IncomingHttpHeaders): FakeRelayToken | null {
    const key = keyOf(headers.authorization ?? '');
    if (key === '') {
      abortWithMessage(res, 401, '未提供令牌');
      return null;
    }
    const token = state.tokens.find((t) => t.key === key);
    if (!token) {
      abortWithMessage(res, 401, '无效的令牌');
      return null;
    }
    const masked = `${key.slice(0, 3)}***${key.slice(-3)}`;
    if (token.status === 4) {
      abortWithMessage(res, 401, newApi ? `该令牌额度已用尽 TokenStatusExhausted[sk-${masked}]` : '该令牌额度已用尽');
      return null;
    }
    if (token.status === 3) {
      abortWithMessage(res, 401, '该令牌已过期');
      return null;
    }
    if (token.status !== 1) {
      abortWithMessage(res, 401, '该令牌状态不可用');
      return null;
    }
    if (token.expired_time !== -1 && token.expired_time < Date.now() / 1000) {
      token.status = 3;
      abortWithMessage(res, 401, '该令牌已过期');
      return null;
    }
    if (!token.unlimited_quota && token.remain_quota <= 0) {
      token.status = 4;
      abortWithMessage(res, 401, newApi ? `[sk-${masked}] 该令牌额度已用尽 !token.UnlimitedQuota && token.RemainQuota = ${token.remain_quota}` : '该令牌额度已用尽');
      return null;
    }
    const user = state.users.find((u) => u.id === token.user_id);
    if (user && user.status !== 1) {
      abortWithMessage(res, 403, '用户已被封禁');
      return null;
    }
    return token;
  }

  /** The billing routes' amount: one-api by display_in_currency; new-api by quota_display_type. */
  function displayAmount(quota: number): number {
    const s = state.status;
    const qpu = Number(s.quota_per_unit ?? 500_000);
    if (newApi && s.quota_display_type !== undefined) {
      if (s.quota_display_type === 'CNY') return (quota / qpu) * (s.usd_exchange_rate ?? 7.3);
      if (s.quota_display_type === 'TOKENS') return quota;
      return quota / qpu;
    }
    return s.display_in_currency ? quota / qpu : quota;
  }

  function figures(token: FakeRelayToken): { remain: number; used: number; viaToken: boolean } {
    if (opts.displayTokenStat === false) {
      const user = state.users.find((u) => u.id === token.user_id);
      return { remain: Number(user?.quota ?? 0), used: user?.used_quota ?? 0, viaToken: false };
    }
    return { remain: token.remain_quota, used: token.used_quota, viaToken: true };
  }

  function subscription(res: ServerResponse, headers: IncomingHttpHeaders): void {
    const token = tokenAuth(res, headers);
    if (!token) return;
    if (forced.behaviour === 'upstream_error') return json(res, 200, { error: { message: 'record not found', type: 'upstream_error' } });
    const f = figures(token);
    let amount = displayAmount(f.remain + f.used);
    if (f.viaToken && token.unlimited_quota) amount = 100_000_000;
    json(res, 200, {
      object: 'billing_subscription',
      has_payment_method: true,
      soft_limit_usd: amount,
      hard_limit_usd: amount,
      system_hard_limit_usd: amount,
      access_until: f.viaToken && token.expired_time > 0 ? token.expired_time : 0,
    });
  }

  function usage(res: ServerResponse, headers: IncomingHttpHeaders): void {
    const token = tokenAuth(res, headers);
    if (!token) return;
    if (forced.behaviour === 'upstream_error') return json(res, 200, { error: { message: 'record not found', type: newApi ? 'new_api_error' : 'one_api_error' } });
    json(res, 200, { object: 'list', total_usage: displayAmount(figures(token).used) * 100 });
  }

  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const path = (req.url ?? '/').split('?')[0]!;
      requests.push({ method, path, headers: req.headers });
      const ip = req.socket.remoteAddress ?? '?';
      const f = forced;
      if (f.behaviour !== 'normal' && f.behaviour !== 'upstream_error' && (f.on === undefined || path.startsWith(f.on))) {
        switch (f.behaviour) {
          case 'hang':
            return;
          case 'rate_limited':
            return tooMany(res, f.retryAfter);
          case 'error500':
            res.writeHead(500, { 'content-type': 'text/plain' });
            return res.end('Internal Server Error');
          case 'html':
            res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
            return res.end('<!doctype html><html lang="zh"><head><title>New API</title></head><body><div id="root"></div></body></html>');
          case 'garbage':
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end('{"success":true,"data":{"quota":12');
        }
      }
      const dashboard = /^\/(v1\/)?dashboard\/billing\//.test(path);
      if ((path.startsWith('/api/') || dashboard) && limited(`global:${ip}`, globalLimit)) return tooMany(res);
      if (method !== 'GET') return relayNotFound(res, method, path);
      if (path === '/api/status') return json(res, 200, statusBody());
      if (path === '/api/user/self') return userSelf(res, req.headers);
      if (path === '/api/usage/token' || path === '/api/usage/token/') {
        if (!usageRoute) return relayNotFound(res, method, path);
        if (limited(`critical:${ip}`, criticalLimit)) return tooMany(res);
        if (path === '/api/usage/token') {
          // gin RedirectTrailingSlash
          res.writeHead(301, { location: '/api/usage/token/', 'content-type': 'text/html; charset=utf-8' });
          return res.end('<a href="/api/usage/token/">Moved Permanently</a>.\n\n');
        }
        return tokenUsage(res, req.headers);
      }
      if (path === '/v1/dashboard/billing/subscription' || path === '/dashboard/billing/subscription') return subscription(res, req.headers);
      if (path === '/v1/dashboard/billing/usage' || path === '/dashboard/billing/usage') return usage(res, req.headers);
      if (path.startsWith('/api') || path.startsWith('/v1')) return relayNotFound(res, method, path);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><body><div id="root"></div></body></html>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    state,
    set(behaviour, o = {}) {
      forced = { behaviour, ...o };
    },
    resetLimits() {
      hits.clear();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
