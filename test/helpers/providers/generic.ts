import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// Loopback plumbing shared by the direct-provider fakes (deepseek, siliconflow, moonshot), and a fake of "any JSON
// balance endpoint" for the http-json source, whose routes reproduce documented shapes of providers that have no
// adapter of their own (research/providers.md §2):
//
// - GET  /openapi/v1/billing/balance/detail   Novita: Bearer key → {availableBalance, cashBalance, creditLimit,
//        pendingCharges, outstandingInvoices}, all strings in 1/10000 USD; bad key → 401 {"message":…} (stand-in).
// - GET  /v1/accounts                          StepFun: Bearer key → {object:"account", type, balance,
//        total_cash_balance, total_voucher_balance} (numbers, CNY); bad key → 401 OpenAI-shaped error (stand-in).
// - GET  /api/biz/account/query-customer-account-report   z.ai / BigModel: Bearer key → {code:200, msg, success:true,
//        data:{balance, availableBalance, totalSpendAmount, …}}; a bad key answers HTTP 200
//        {"code":401,"msg":"token expired or incorrect","success":false} (third-party observation).
// - POST /balance                              a made-up endpoint taking the key in a JSON body {"api_key": …} →
//        {"ok":true,"data":{"items":[{"currency":"usd","balance":"7.50"},{"currency":"cny","balance":"54"}]}};
//        a wrong key → 403 {"error":"forbidden"}.
// - GET  /custom                               answers whatever `state.custom` says (status, body, headers).
//
// The key is checked on every route (`X-Api-Key: <key>` is accepted too, like many gateways). `set(behaviour)`
// forces: 429 (+ Retry-After, or an empty body), 500, an HTML page, a cut JSON body, or no answer at all.

export type CommonBehaviour = 'normal' | 'rate_limited' | 'rate_limited_empty' | 'error500' | 'html' | 'garbage' | 'hang';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Forced<B extends string> {
  behaviour: B | CommonBehaviour;
  retryAfter?: string;
}

export interface Loopback {
  url: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain'): void {
  res.writeHead(status, { 'content-type': contentType });
  res.end(body);
}

export const CLOUDFLARE_502 =
  '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>';

/**
 * Starts a loopback server. The common forced behaviours are answered here (with the provider's own 429 and 500
 * bodies); everything else goes to `handler`.
 */
export async function startLoopback<B extends string>(
  forced: () => Forced<B>,
  handler: (req: FakeRequest, res: ServerResponse) => void,
  bodies: { rateLimited: unknown; error500: unknown; garbage: string },
): Promise<Loopback> {
  const requests: FakeRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://fake');
      const r: FakeRequest = { method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(r);
      const f = forced();
      switch (f.behaviour) {
        case 'hang':
          return; // never answers; the socket stays open until close()
        case 'rate_limited':
          return sendJson(res, 429, bodies.rateLimited, f.retryAfter !== undefined ? { 'retry-after': f.retryAfter } : {});
        case 'rate_limited_empty':
          res.writeHead(429, f.retryAfter !== undefined ? { 'retry-after': f.retryAfter } : {});
          return res.end();
        case 'error500':
          return sendJson(res, 500, bodies.error500);
        case 'html':
          return sendText(res, 502, CLOUDFLARE_502, 'text/html');
        case 'garbage':
          return sendText(res, 200, bodies.garbage, 'application/json');
        default:
          return handler(r, res);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The Bearer token of a request, or undefined when there is none. */
export function bearer(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  return typeof auth === 'string' && auth.startsWith('Bearer ') && auth.length > 7 ? auth.slice(7) : undefined;
}

// ───────────────────────────────────────────────────────────────────────────────────────── generic JSON endpoint

export const GENERIC_KEY = 'gk-4f1d9a7c2b8e6035d1c4a9f7e2b80c6d';

export interface FakeGenericState {
  key: string;
  novita: Record<string, unknown>;
  stepfun: Record<string, unknown>;
  zai: Record<string, unknown>;
  post: Record<string, unknown>;
  custom: { status: number; body: string; headers?: Record<string, string> };
}

export interface FakeGeneric extends Loopback {
  state: FakeGenericState;
  set(behaviour: CommonBehaviour, opts?: { retryAfter?: string }): void;
}

export async function startFakeGeneric(): Promise<FakeGeneric> {
  const state: FakeGenericState = {
    key: GENERIC_KEY,
    novita: { availableBalance: '123456', cashBalance: '100000', creditLimit: '0', pendingCharges: '0', outstandingInvoices: '0' },
    stepfun: { object: 'account', type: 'prepaid', balance: 88.5, total_cash_balance: 80, total_voucher_balance: 8.5 },
    zai: {
      balance: 12.3,
      rechargeAmount: 20,
      giveAmount: 5,
      totalSpendAmount: 12.7,
      availableBalance: 12.3,
      frozenBalance: 0,
      creditBalance: 0,
    },
    post: { ok: true, data: { items: [{ currency: 'usd', balance: '7.50' }, { currency: 'cny', balance: '54' }], used: '2.50' } },
    custom: { status: 200, body: '{}' },
  };
  let forced: Forced<never> = { behaviour: 'normal' };
  const keyOf = (r: FakeRequest) => bearer(r.headers) ?? (typeof r.headers['x-api-key'] === 'string' ? r.headers['x-api-key'] : undefined);

  const core = await startLoopback(
    () => forced,
    (r, res) => {
      if (r.path === '/custom') {
        res.writeHead(state.custom.status, { 'content-type': 'application/json', ...(state.custom.headers ?? {}) });
        return res.end(state.custom.body);
      }
      if (r.path === '/openapi/v1/billing/balance/detail' && r.method === 'GET') {
        if (keyOf(r) !== state.key) return sendJson(res, 401, { message: 'invalid api key' });
        return sendJson(res, 200, state.novita);
      }
      if (r.path === '/v1/accounts' && r.method === 'GET') {
        if (keyOf(r) !== state.key) return sendJson(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_api_key' } });
        return sendJson(res, 200, state.stepfun);
      }
      if (r.path === '/api/biz/account/query-customer-account-report' && r.method === 'GET') {
        if (keyOf(r) !== state.key) return sendJson(res, 200, { code: 401, msg: 'token expired or incorrect', success: false });
        return sendJson(res, 200, { code: 200, msg: '操作成功', success: true, data: state.zai });
      }
      if (r.path === '/balance') {
        if (r.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
        let sent: unknown;
        try {
          sent = JSON.parse(r.body);
        } catch {
          return sendJson(res, 400, { error: 'body must be JSON' });
        }
        if (typeof sent !== 'object' || sent === null || (sent as { api_key?: unknown }).api_key !== state.key) return sendJson(res, 403, { error: 'forbidden' });
        return sendJson(res, 200, state.post);
      }
      return sendJson(res, 404, { error: 'not found' });
    },
    { rateLimited: { error: 'too many requests' }, error500: { error: 'internal error' }, garbage: '{"availableBalance":"12' },
  );
  return {
    ...core,
    state,
    set(behaviour, o = {}) {
      forced = { behaviour, ...o };
    },
  };
}
