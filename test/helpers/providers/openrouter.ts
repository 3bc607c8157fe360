import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback fake of OpenRouter's key and credits endpoints (research/providers.md §2, openrouter.ai/docs):
//
// - GET /api/v1/credits (management key required) → {"data":{"total_credits","total_usage"}} (USD). An ordinary
//   inference key gets 403 (the docs list 401/403; the exact wording is not documented, ours is a stand-in).
// - GET /api/v1/key (any key; older alias /api/v1/auth/key) → {"data":{label, limit|null, limit_remaining|null,
//   limit_reset, usage, usage_daily/weekly/monthly, is_free_tier, is_management_key, rate_limit, …}}.
// - Errors: {"error":{"code":<status>,"message":…}}; no header → 401 "No auth credentials found"; 429 with
//   Retry-After when rate limited.
//
// `set(behaviour)` forces: 429 (+ Retry-After), 500, an HTML page (Cloudflare), non-JSON garbage, numbers as strings,
// or no answer at all. `state` is live.

export interface FakeOpenRouterKey {
  key: string;
  management: boolean;
  label: string;
  /** null = no cap. */
  limit: number | null;
  limit_remaining?: number | null;
  limit_reset: string | null;
  usage: number;
  disabled?: boolean;
  /** Leave limit_remaining out of /key (a garbled answer). */
  omit_limit_remaining?: boolean;
}

export type OpenRouterBehaviour = 'normal' | 'rate_limited' | 'error500' | 'html' | 'garbage' | 'strings' | 'hang';

export interface FakeOpenRouterRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FakeOpenRouter {
  url: string;
  requests: FakeOpenRouterRequest[];
  state: { keys: FakeOpenRouterKey[]; credits: { total_credits: unknown; total_usage: unknown } };
  set(behaviour: OpenRouterBehaviour, opts?: { retryAfter?: string }): void;
  close(): Promise<void>;
}

export const OR_MANAGEMENT_KEY = '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';
export const OR_INFERENCE_KEY = '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';
export const OR_UNLIMITED_KEY = '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';

export async function startFakeOpenRouter(opts: { keys?: FakeOpenRouterKey[]; credits?: { total_credits: unknown; total_usage: unknown } } = {}): Promise<FakeOpenRouter> {
  const state = {
    keys: (
      opts.keys ?? [
        { key: OR_MANAGEMENT_KEY, management: true, label: 'sk-or-v1-9f8...1a0', limit: null, limit_reset: null, usage: 0 },
        { key: OR_INFERENCE_KEY, management: false, label: 'sk-or-v1-1a2...809', limit: 25, limit_remaining: 17.5, limit_reset: 'monthly', usage: 7.5 },
        { key: OR_UNLIMITED_KEY, management: false, label: 'sk-or-v1-001...cdd', limit: null, limit_reset: null, usage: 3.25 },
      ]
    ).map((k) => ({ ...k })),
    credits: { ...(opts.credits ?? { total_credits: 50, total_usage: 12.35 }) },
  };
  const requests: FakeOpenRouterRequest[] = [];
  let forced: { behaviour: OpenRouterBehaviour; retryAfter?: string } = { behaviour: 'normal' };

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, code: number, message: string, headers: Record<string, string> = {}) => json(res, code, { error: { code, message } }, headers);
  const num = (v: unknown) => (forced.behaviour === 'strings' && typeof v === 'number' ? String(v) : v);

  function authed(res: ServerResponse, headers: IncomingHttpHeaders): FakeOpenRouterKey | null {
    const auth = headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || auth.length <= 7) {
      error(res, 401, 'No auth credentials found');
      return null;
    }
    const k = state.keys.find((x) => x.key === auth.slice(7));
    if (!k) {
      error(res, 401, 'User not found.');
      return null;
    }
    if (k.disabled) {
      error(res, 401, 'API key is disabled');
      return null;
    }
    return k;
  }

  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      requests.push({ method: req.method ?? 'GET', path, headers: req.headers });
      switch (forced.behaviour) {
        case 'hang':
          return;
        case 'rate_limited':
          return error(res, 429, 'Rate limit exceeded: limit_rpm/…', forced.retryAfter ? { 'retry-after': forced.retryAfter } : {});
        case 'error500':
          return error(res, 500, 'Internal Server Error');
        case 'html':
          res.writeHead(502, { 'content-type': 'text/html' });
          return res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>');
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('{"data":{"total_credits":');
        default:
      }
      if (path === '/api/v1/credits') {
        const k = authed(res, req.headers);
        if (!k) return;
        if (!k.management) return error(res, 403, 'Only management keys can fetch credits');
        const data: Record<string, unknown> = {};
        if (state.credits.total_credits !== undefined) data.total_credits = num(state.credits.total_credits);
        if (state.credits.total_usage !== undefined) data.total_usage = num(state.credits.total_usage);
        return json(res, 200, { data });
      }
      if (path === '/api/v1/key' || path === '/api/v1/auth/key') {
        const k = authed(res, req.headers);
        if (!k) return;
        const remaining = k.limit_remaining !== undefined ? k.limit_remaining : k.limit === null ? null : k.limit - k.usage;
        const data: Record<string, unknown> = {
          label: k.label,
          limit: num(k.limit),
          limit_reset: k.limit_reset,
          include_byok_in_limit: false,
          usage: num(k.usage),
          usage_daily: num(0.5),
          usage_weekly: num(2),
          usage_monthly: num(k.usage),
          byok_usage: 0,
          byok_usage_daily: 0,
          byok_usage_weekly: 0,
          byok_usage_monthly: 0,
          is_free_tier: false,
          is_management_key: k.management,
          is_provisioning_key: k.management,
          creator_user_id: 'user_2abc',
          expires_at: null,
          rate_limit: { requests: -1, interval: '10s', note: 'This field is deprecated and safe to ignore.' },
        };
        if (!k.omit_limit_remaining) data.limit_remaining = num(remaining);
        return json(res, 200, { data });
      }
      return error(res, 404, 'Not Found');
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
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
