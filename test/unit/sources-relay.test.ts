import httpModule from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../src/net/http-client.js';
import type { HttpClient } from '../../src/net/types.js';
import { clearNewapiKeyCache, newapiKeySource } from '../../src/sources/newapi-key.js';
import { clearRelayStatusCache, newapiSource } from '../../src/sources/newapi.js';
import { openrouterKeySource } from '../../src/sources/openrouter-key.js';
import { openrouterSource } from '../../src/sources/openrouter.js';
import { type AccountInfo, type SourceContext, SourceError, type SourceErrorKind } from '../../src/sources/types.js';
import { FAKE_TOKEN, FAKE_USER, type FakeRelay, type FakeRelayOptions, type FakeRelayToken, startFakeRelay } from '../helpers/providers/newapi.js';
import { type FakeOpenRouter, OR_INFERENCE_KEY, OR_MANAGEMENT_KEY, OR_UNLIMITED_KEY, startFakeOpenRouter } from '../helpers/providers/openrouter.js';

// Every server here is a loopback fake (test/helpers/providers/*): nothing leaves 127.0.0.1.

let http: HttpClient;
beforeAll(() => {
  http = createHttpClient({ allowPrivateTargets: true });
});
afterAll(async () => {
  await http.close();
});

const cleanups: (() => Promise<void>)[] = [];
beforeEach(() => {
  clearRelayStatusCache();
  clearNewapiKeyCache();
});
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function relay(opts: FakeRelayOptions): Promise<FakeRelay> {
  const r = await startFakeRelay(opts);
  cleanups.push(() => r.close());
  return r;
}

async function openrouter(opts: Parameters<typeof startFakeOpenRouter>[0] = {}): Promise<FakeOpenRouter> {
  const r = await startFakeOpenRouter(opts);
  cleanups.push(() => r.close());
  return r;
}

/** A loopback port nobody listens on (connection refused). */
async function deadUrl(): Promise<string> {
  const s = httpModule.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const USD: AccountInfo = { currency: 'USD', quota_per_unit: null };

function ctx(o: Partial<SourceContext> = {}): SourceContext {
  return { http, now: Date.now, timeoutMs: 3000, ...o };
}

async function failure(p: Promise<unknown>): Promise<SourceError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SourceError) return e;
    throw e;
  }
  throw new Error('expected the poll to fail');
}

/** Neither the credential nor any prefix / suffix / masked form of it. */
function expectNoSecret(text: string, secret: string): void {
  const bare = secret.replace(/^sk-(or-v1-)?/, '');
  expect(text).not.toContain(secret);
  expect(text).not.toContain(bare.slice(0, 4));
  expect(text).not.toContain(bare.slice(-4));
  expect(text).not.toContain(`${bare.slice(0, 3)}***`);
  expect(text).not.toContain(`***${bare.slice(-3)}`);
}

const TOKEN = FAKE_USER.access_token;
const KEY = `sk-${FAKE_TOKEN.key}`;

// ─────────────────────────────────────────────────────────────────────────────────────────────── newapi (wallet)

describe('newapi: user wallet via /api/user/self', () => {
  const cfg = (r: { url: string }, extra: Record<string, unknown> = {}) => ({ base_url: r.url, access_token: TOKEN, ...extra });

  it('new-api: Bearer token + New-Api-User; quota (remaining) / quota_per_unit in USD; units cached so a poll is one request', async () => {
    const r = await relay({ flavor: 'new-api' });
    const got = await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD);
    expect(got).toMatchObject({ balance: 25, used: 5, requests: 321, currency: 'USD' });
    expect(got.unlimited).toBeUndefined();
    expect(got.raw).toMatchObject({ quota: 12_500_000, used_quota: 2_500_000, request_count: 321, quota_per_unit: 500_000, quota_per_unit_from: 'status' });
    const raw = JSON.stringify(got.raw);
    expect(raw).not.toContain('alice'); // neither username nor email
    expect(raw).not.toContain(TOKEN);
    expect(r.requests.map((q) => q.path)).toEqual(['/api/user/self', '/api/status']);
    expect(r.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(r.requests[0]!.headers['new-api-user']).toBe('1');
    expect(r.requests[1]!.headers.authorization).toBeUndefined(); // /api/status is public: no credential sent

    const again = await newapiSource.poll(cfg(r, { user_id: '1' }), ctx(), USD);
    expect(again.balance).toBe(25);
    expect(r.requests.map((q) => q.path)).toEqual(['/api/user/self', '/api/status', '/api/user/self']);
  });

  it('the /api/status answer is kept about an hour per base URL', async () => {
    const r = await relay({ flavor: 'new-api' });
    let now = 1_750_000_000_000;
    const c = ctx({ now: () => now });
    await newapiSource.poll(cfg(r, { user_id: 1 }), c, USD);
    now += 59 * 60_000;
    await newapiSource.poll(cfg(r, { user_id: 1 }), c, USD);
    expect(r.requests.filter((q) => q.path === '/api/status')).toHaveLength(1);
    r.state.status.quota_per_unit = 1_000_000;
    now += 2 * 60_000;
    const got = await newapiSource.poll(cfg(r, { user_id: 1 }), c, USD);
    expect(r.requests.filter((q) => q.path === '/api/status')).toHaveLength(2);
    expect(got.balance).toBe(12.5);
  });

  it('one-api: no New-Api-User header needed (none sent without user_id)', async () => {
    const r = await relay({ flavor: 'one-api' });
    const got = await newapiSource.poll(cfg(r), ctx(), USD);
    expect(got).toMatchObject({ balance: 25, used: 5, requests: 321, currency: 'USD' });
    expect(r.requests[0]!.headers['new-api-user']).toBeUndefined();
  });

  it('accepts a base_url pasted with /v1 and trailing slashes', async () => {
    const r = await relay({ flavor: 'new-api' });
    const got = await newapiSource.poll({ base_url: `${r.url}/v1/`, access_token: TOKEN, user_id: 1 }, ctx(), USD);
    expect(got.balance).toBe(25);
    expect(r.requests[0]!.path).toBe('/api/user/self');
    expect(newapiSource.host({ base_url: `${r.url}/v1/`, access_token: TOKEN })).toBe(new URL(r.url).host);
  });

  it.each([
    ['a custom quota_per_unit', 'new-api', { quota_per_unit: 1_000_000 }, 12.5, 'status'],
    ['quota_per_unit as a string', 'new-api', { quota_per_unit: '250000' }, 50, 'status'],
    ['no quota_per_unit → 500000', 'one-api', { quota_per_unit: undefined }, 25, 'default'],
    ['a garbled quota_per_unit → 500000', 'new-api', { quota_per_unit: 'lots' }, 25, 'default'],
    ['quota_per_unit 0 → 500000', 'new-api', { quota_per_unit: 0 }, 25, 'default'],
    ['display CNY: still USD (quota units are USD-based)', 'new-api', { quota_display_type: 'CNY', usd_exchange_rate: 7.3 }, 25, 'status'],
    ['display TOKENS: still USD', 'new-api', { quota_display_type: 'TOKENS' }, 25, 'status'],
    ['display_in_currency false: still USD', 'one-api', { display_in_currency: false }, 25, 'status'],
  ] as const)('units: %s', async (_name, flavor, status, balance, from) => {
    const r = await relay({ flavor, status: status as FakeRelayOptions['status'] });
    const got = await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD);
    expect(got.balance).toBe(balance);
    expect(got.currency).toBe('USD');
    expect(got.raw).toMatchObject({ quota_per_unit_from: from });
  });

  it('the display settings are kept in raw', async () => {
    const r = await relay({ flavor: 'new-api', status: { quota_display_type: 'CNY', usd_exchange_rate: 7.2 } });
    const got = await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD);
    expect(got.raw).toMatchObject({ quota_display_type: 'CNY', usd_exchange_rate: 7.2, display_in_currency: true });
  });

  it('/api/status answering HTML: 500000 assumed', async () => {
    const r = await relay({ flavor: 'new-api', status: { quota_per_unit: 1_000_000 } });
    r.set('html', { on: '/api/status' });
    const got = await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD);
    expect(got.balance).toBe(25);
    expect(got.raw).toMatchObject({ quota_per_unit_from: 'default' });
  });

  it('/api/status failing (500): the poll fails rather than guess; with an old answer cached it is reused', async () => {
    const r = await relay({ flavor: 'new-api', status: { quota_per_unit: 1_000_000 } });
    r.set('error500', { on: '/api/status' });
    const e = await failure(newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD));
    expect(e.kind).toBe('bad_response');
    expect(e.message).toContain('/api/status');

    let now = 1_750_000_000_000;
    r.set('normal');
    await newapiSource.poll(cfg(r, { user_id: 1 }), ctx({ now: () => now }), USD);
    r.set('error500', { on: '/api/status' });
    now += 3 * 60 * 60_000;
    const got = await newapiSource.poll(cfg(r, { user_id: 1 }), ctx({ now: () => now }), USD);
    expect(got.balance).toBe(12.5);
  });

  it("the account's own quota_per_unit wins: no /api/status request and no currency stated", async () => {
    const r = await relay({ flavor: 'new-api', status: { quota_per_unit: 1_000_000 } });
    const got = await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), { currency: 'CNY', quota_per_unit: 500_000 / 7 });
    expect(got.balance).toBeCloseTo(175, 9);
    expect(got.used).toBeCloseTo(35, 9);
    expect(got.currency).toBeUndefined();
    expect(got.raw).toMatchObject({ quota_per_unit_from: 'account' });
    expect(r.requests.map((q) => q.path)).toEqual(['/api/user/self']);
  });

  it('a quota sent as a numeric string is read; a negative quota stays negative', async () => {
    const r = await relay({ flavor: 'new-api' });
    r.state.users[0]!.quota = '12500000';
    expect((await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD)).balance).toBe(25);
    r.state.users[0]!.quota = -250_000;
    expect((await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD)).balance).toBe(-0.5);
  });

  type Case = {
    name: string;
    flavor: 'new-api' | 'one-api';
    opts?: Partial<FakeRelayOptions>;
    config?: Record<string, unknown>;
    prepare?: (r: FakeRelay) => void;
    kind: SourceErrorKind;
    status?: number;
    message: RegExp[];
    retryAfterMs?: number;
  };
  const cases: Case[] = [
    {
      name: 'new-api without user_id (401 未提供 New-Api-User)',
      flavor: 'new-api',
      kind: 'auth',
      status: 401,
      message: [/new-api needs user_id/, /New-Api-User/, /numeric user ID/],
    },
    {
      name: "new-api with another user's id (401 不匹配)",
      flavor: 'new-api',
      config: { user_id: 2 },
      kind: 'auth',
      status: 401,
      message: [/new-api needs user_id/, /refused/, /不匹配/],
    },
    {
      name: 'an invalid access token (HTTP 200 success:false)',
      flavor: 'one-api',
      config: { access_token: 'not-the-token-0000000000000000000' },
      kind: 'auth',
      status: 200,
      message: [/access token 无效/, /system access token/],
    },
    {
      name: 'new-api: an invalid access token with user_id (still HTTP 200 success:false)',
      flavor: 'new-api',
      config: { access_token: 'not-the-token-0000000000000000000', user_id: 1 },
      kind: 'auth',
      status: 200,
      message: [/access token 无效/],
    },
    {
      name: 'a banned user (HTTP 200 用户已被封禁)',
      flavor: 'new-api',
      config: { user_id: 1 },
      prepare: (r) => {
        r.state.users[0]!.status = 2;
      },
      kind: 'auth',
      status: 200,
      message: [/用户已被封禁/, /disabled/, /administrator/],
    },
    {
      name: 'newest new-api: 401 AUTH_UNAUTHORIZED',
      flavor: 'new-api',
      opts: { authCodes: true },
      config: { access_token: 'not-the-token-0000000000000000000' },
      kind: 'auth',
      status: 401,
      message: [/access token 无效/],
    },
    {
      name: '429 with an empty body (global limiter)',
      flavor: 'new-api',
      config: { user_id: 1 },
      prepare: (r) => r.set('rate_limited'),
      kind: 'rate_limited',
      status: 429,
      message: [/rate limiting/],
    },
    {
      name: '429 with Retry-After',
      flavor: 'one-api',
      prepare: (r) => r.set('rate_limited', { retryAfter: '30' }),
      kind: 'rate_limited',
      status: 429,
      message: [/in 30 s/],
      retryAfterMs: 30_000,
    },
    { name: '500', flavor: 'one-api', prepare: (r) => r.set('error500'), kind: 'bad_response', status: 500, message: [/HTTP 500/] },
    { name: 'an HTML page', flavor: 'new-api', config: { user_id: 1 }, prepare: (r) => r.set('html'), kind: 'bad_response', message: [/not JSON/, /base_url/] },
    { name: 'truncated JSON', flavor: 'new-api', config: { user_id: 1 }, prepare: (r) => r.set('garbage'), kind: 'bad_response', message: [/not JSON/] },
    {
      name: 'no data.quota (absent is not zero)',
      flavor: 'one-api',
      prepare: (r) => {
        r.state.users[0]!.quota = undefined;
      },
      kind: 'bad_response',
      message: [/data\.quota/],
    },
    {
      name: 'a garbled data.quota',
      flavor: 'one-api',
      prepare: (r) => {
        r.state.users[0]!.quota = 'n/a';
      },
      kind: 'bad_response',
      message: [/data\.quota/],
    },
  ];

  it.each(cases)('$name → $kind', async (c) => {
    const r = await relay({ flavor: c.flavor, ...c.opts });
    c.prepare?.(r);
    const e = await failure(newapiSource.poll({ ...cfg(r), ...c.config } as never, ctx(), USD));
    expect(e.kind).toBe(c.kind);
    if (c.status !== undefined) expect(e.extra.status).toBe(c.status);
    if (c.retryAfterMs !== undefined) expect(e.extra.retryAfterMs).toBe(c.retryAfterMs);
    for (const m of c.message) expect(e.message).toMatch(m);
    expect(e.message).toContain('new-api / one-api');
    expectNoSecret(e.message, TOKEN);
  });

  it("the relay's real per-IP limiter (429, empty body) comes back as rate_limited", async () => {
    const r = await relay({ flavor: 'new-api', globalLimit: { limit: 2, windowMs: 60_000 } });
    await newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD); // /api/user/self + /api/status
    const e = await failure(newapiSource.poll(cfg(r, { user_id: 1 }), ctx(), USD));
    expect(e.kind).toBe('rate_limited');
    expect(e.extra.retryAfterMs).toBeUndefined();
  });

  it('a relay that never answers → timeout within the deadline', async () => {
    const r = await relay({ flavor: 'new-api' });
    r.set('hang');
    const started = Date.now();
    const e = await failure(newapiSource.poll(cfg(r, { user_id: 1 }), ctx({ timeoutMs: 300 }), USD));
    expect(e.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
    expectNoSecret(e.message, TOKEN);
  });

  it('connection refused → unreachable', async () => {
    const e = await failure(newapiSource.poll({ base_url: await deadUrl(), access_token: TOKEN }, ctx(), USD));
    expect(e.kind).toBe('unreachable');
    expectNoSecret(e.message, TOKEN);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────── newapi-key

describe('newapi-key: one relay API key', () => {
  const cfg = (r: { url: string }, extra: Record<string, unknown> = {}) => ({ base_url: r.url, api_key: KEY, ...extra });

  it('new-api: GET /api/usage/token/ (trailing slash) with Bearer sk-…, quota units → USD', async () => {
    const r = await relay({ flavor: 'new-api' });
    const got = await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(got).toMatchObject({ balance: 6, used: 2, currency: 'USD' });
    expect(got.raw).toMatchObject({ source: 'usage_token', total_available: 3_000_000, total_used: 1_000_000, total_granted: 4_000_000, quota_per_unit: 500_000 });
    expect(r.requests.map((q) => q.path)).toEqual(['/api/usage/token/', '/api/status']);
    expect(r.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(r.requests.some((q) => q.path.includes('dashboard'))).toBe(false);
    expectNoSecret(JSON.stringify(got), KEY);
  });

  it('the fake answers the path without the trailing slash with a 301 (as gin does)', async () => {
    const r = await relay({ flavor: 'new-api' });
    const res = await new Promise<httpModule.IncomingMessage>((resolve, reject) =>
      httpModule.get(`${r.url}/api/usage/token`, { headers: { authorization: `Bearer ${KEY}` } }, resolve).on('error', reject),
    );
    res.resume();
    expect(res.statusCode).toBe(301);
    expect(res.headers.location).toBe('/api/usage/token/');
  });

  it('a base_url with /v1 still reaches the relay root', async () => {
    const r = await relay({ flavor: 'new-api' });
    const got = await newapiKeySource.poll({ base_url: `${r.url}/v1`, api_key: KEY }, ctx(), USD);
    expect(got.balance).toBe(6);
    expect(r.requests[0]!.path).toBe('/api/usage/token/');
  });

  it.each([
    ['unlimited_quota true', { unlimited_quota: true }],
    ['negative total_available', { remain_quota: -1_234 }],
  ])('new-api: %s → unlimited (balance null)', async (_n, token) => {
    const r = await relay({ flavor: 'new-api', tokens: [{ ...FAKE_TOKEN, ...token }] });
    const got = await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(got.balance).toBeNull();
    expect(got.unlimited).toBe(true);
  });

  it('new-api: a drained key still reads its balance on the read-only route (0)', async () => {
    const r = await relay({ flavor: 'new-api', tokens: [{ ...FAKE_TOKEN, remain_quota: 0, status: 4 }] });
    const got = await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(got.balance).toBe(0);
    expect(got.currency).toBe('USD');
  });

  it("the account's own quota_per_unit wins (no /api/status, no currency)", async () => {
    const r = await relay({ flavor: 'new-api' });
    const got = await newapiKeySource.poll(cfg(r), ctx(), { currency: 'credits', quota_per_unit: 1_000_000 });
    expect(got.balance).toBe(3);
    expect(got.currency).toBeUndefined();
    expect(r.requests.map((q) => q.path)).toEqual(['/api/usage/token/']);
  });

  it('one-api: /api/usage/token/ 404 → /v1/dashboard/billing/subscription + usage; the 404 is remembered', async () => {
    const r = await relay({ flavor: 'one-api' });
    const got = await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(got).toMatchObject({ balance: 6, used: 2, currency: 'USD' });
    expect(got.raw).toMatchObject({ source: 'billing', hard_limit_usd: 8, total_usage: 200 });
    expect(r.requests.map((q) => q.path)).toEqual(['/api/usage/token/', '/v1/dashboard/billing/subscription', '/v1/dashboard/billing/usage', '/api/status']);
    for (const q of r.requests.slice(1, 3)) expect(q.headers.authorization).toBe(`Bearer ${KEY}`);
    await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(r.requests.slice(4).map((q) => q.path)).toEqual(['/v1/dashboard/billing/subscription', '/v1/dashboard/billing/usage']);
  });

  it.each([
    ["one-api with a custom quota_per_unit", 'one-api', { quota_per_unit: 1_000_000 }, 3, 1],
    ['one-api with display_in_currency off (amounts in quota)', 'one-api', { display_in_currency: false }, 6, 2],
    ['new-api (no usage route) showing CNY at 7.3', 'new-api', { quota_display_type: 'CNY', usd_exchange_rate: 7.3 }, 6, 2],
    ['new-api (no usage route) showing TOKENS', 'new-api', { quota_display_type: 'TOKENS' }, 6, 2],
  ] as const)('billing units: %s', async (_n, flavor, status, balance, used) => {
    const r = await relay({ flavor, usageRoute: false, status: status as FakeRelayOptions['status'] });
    const got = await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(got.balance).toBeCloseTo(balance, 9);
    expect(got.used).toBeCloseTo(used, 9);
    expect(got.currency).toBe('USD');
  });

  it('billing with CNY display but no exchange rate → bad_response', async () => {
    const r = await relay({ flavor: 'new-api', usageRoute: false, status: { quota_display_type: 'CNY', usd_exchange_rate: undefined, price: undefined } });
    const e = await failure(newapiKeySource.poll(cfg(r), ctx(), USD));
    expect(e.kind).toBe('bad_response');
    expect(e.message).toMatch(/CNY/);
  });

  it("billing with the account's own quota_per_unit", async () => {
    const r = await relay({ flavor: 'one-api' });
    const got = await newapiKeySource.poll(cfg(r), ctx(), { currency: 'credits', quota_per_unit: 100_000 });
    expect(got.balance).toBeCloseTo(30, 9);
    expect(got.used).toBeCloseTo(10, 9);
    expect(got.currency).toBeUndefined();
  });

  it('one-api: an unlimited key (hard_limit_usd 100000000) → unlimited, not 1e8', async () => {
    const r = await relay({ flavor: 'one-api', tokens: [{ ...FAKE_TOKEN, unlimited_quota: true }] });
    const got = await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(got.balance).toBeNull();
    expect(got.unlimited).toBe(true);
  });

  it.each<[string, 'new-api' | 'one-api', Partial<FakeRelayToken>]>([
    ['one-api: remain 0 (401 该令牌额度已用尽)', 'one-api', { remain_quota: 0 }],
    ['one-api: status exhausted', 'one-api', { remain_quota: 0, status: 4 }],
    ['new-api billing: masked key + RemainQuota in the message', 'new-api', { remain_quota: -500 }],
    ['new-api billing: TokenStatusExhausted[sk-…]', 'new-api', { remain_quota: 0, status: 4 }],
  ])('%s → balance 0, not an auth failure', async (_n, flavor, token) => {
    const r = await relay({ flavor, usageRoute: false, tokens: [{ ...FAKE_TOKEN, ...token }] });
    const got = await newapiKeySource.poll(cfg(r), ctx(), USD);
    expect(got).toEqual({ balance: 0, raw: { exhausted: true } });
    // the relay's answer did carry the exhausted message (and, on new-api, the masked key): none of it is kept
    expect(r.requests.at(-1)!.path).toBe('/v1/dashboard/billing/subscription');
    expectNoSecret(JSON.stringify(got), KEY);
  });

  type Case = {
    name: string;
    flavor: 'new-api' | 'one-api';
    opts?: Partial<FakeRelayOptions>;
    config?: Record<string, unknown>;
    prepare?: (r: FakeRelay) => void;
    kind: SourceErrorKind;
    status?: number;
    message: RegExp[];
    retryAfterMs?: number;
  };
  const past = Math.floor(Date.now() / 1000) - 86_400;
  const cases: Case[] = [
    { name: 'one-api: an expired key (401 该令牌已过期)', flavor: 'one-api', opts: { tokens: [{ ...FAKE_TOKEN, expired_time: past }] }, kind: 'auth', status: 401, message: [/expired/, /该令牌已过期/] },
    { name: 'new-api: an expired key on /api/usage/token/', flavor: 'new-api', opts: { tokens: [{ ...FAKE_TOKEN, expired_time: past }] }, kind: 'auth', message: [/expired on \d{4}-\d\d-\d\d/] },
    { name: 'one-api: an unknown key (401 无效的令牌)', flavor: 'one-api', config: { api_key: 'sk-NotARealKey0000000000000000000000000000000000' }, kind: 'auth', status: 401, message: [/无效的令牌/, /does not know this API key/] },
    { name: 'new-api: an unknown key (401 success:false 无效的令牌)', flavor: 'new-api', config: { api_key: 'sk-NotARealKey0000000000000000000000000000000000' }, kind: 'auth', status: 401, message: [/无效的令牌/] },
    { name: 'new-api: a disabled key', flavor: 'new-api', opts: { tokens: [{ ...FAKE_TOKEN, status: 2 }] }, kind: 'auth', status: 401, message: [/disabled/, /状态不可用/] },
    { name: 'one-api: a disabled key', flavor: 'one-api', opts: { tokens: [{ ...FAKE_TOKEN, status: 2 }] }, kind: 'auth', status: 401, message: [/disabled/] },
    {
      name: 'new-api: the key’s user is banned (403)',
      flavor: 'new-api',
      prepare: (r) => {
        r.state.users[0]!.status = 2;
      },
      kind: 'auth',
      status: 403,
      message: [/用户已被封禁/],
    },
    { name: 'one-api: HTTP 200 {"error":{"type":"upstream_error"}}', flavor: 'one-api', prepare: (r) => r.set('upstream_error'), kind: 'bad_response', status: 200, message: [/upstream_error/] },
    { name: 'new-api: 429 with an empty body', flavor: 'new-api', prepare: (r) => r.set('rate_limited'), kind: 'rate_limited', status: 429, message: [/rate limiting/] },
    { name: 'one-api: 429 + Retry-After on the billing route', flavor: 'one-api', prepare: (r) => r.set('rate_limited', { on: '/v1/dashboard', retryAfter: '120' }), kind: 'rate_limited', status: 429, message: [/in 120 s/], retryAfterMs: 120_000 },
    { name: '500', flavor: 'new-api', prepare: (r) => r.set('error500'), kind: 'bad_response', status: 500, message: [/HTTP 500/] },
    { name: 'an HTML page', flavor: 'one-api', prepare: (r) => r.set('html'), kind: 'bad_response', message: [/not JSON/, /base_url/] },
    {
      name: 'no total_available (absent is not zero)',
      flavor: 'new-api',
      prepare: (r) => {
        (r.state.tokens[0] as { remain_quota: unknown }).remain_quota = undefined;
      },
      kind: 'bad_response',
      message: [/expected figures/],
    },
  ];

  it.each(cases)('$name → $kind', async (c) => {
    const r = await relay({ flavor: c.flavor, ...c.opts });
    c.prepare?.(r);
    const e = await failure(newapiKeySource.poll({ ...cfg(r), ...c.config } as never, ctx(), USD));
    expect(e.kind).toBe(c.kind);
    if (c.status !== undefined) expect(e.extra.status).toBe(c.status);
    if (c.retryAfterMs !== undefined) expect(e.extra.retryAfterMs).toBe(c.retryAfterMs);
    for (const m of c.message) expect(e.message).toMatch(m);
    expect(e.message).toContain('new-api key');
    expectNoSecret(e.message, (c.config?.api_key as string | undefined) ?? KEY);
    expectNoSecret(e.message, KEY);
  });

  it("new-api's critical limiter on /api/usage (429, empty body) → rate_limited", async () => {
    const r = await relay({ flavor: 'new-api', criticalLimit: { limit: 1, windowMs: 60_000 } });
    await newapiKeySource.poll(cfg(r), ctx(), USD);
    const e = await failure(newapiKeySource.poll(cfg(r), ctx(), USD));
    expect(e.kind).toBe('rate_limited');
  });

  it('a server that is no relay (404 everywhere) → bad_response naming base_url', async () => {
    const r = await openrouter();
    const e = await failure(newapiKeySource.poll({ base_url: r.url, api_key: KEY }, ctx(), USD));
    expect(e.kind).toBe('bad_response');
    expect(e.message).toMatch(/base_url/);
  });

  it('never answers → timeout; refused → unreachable', async () => {
    const r = await relay({ flavor: 'one-api' });
    r.set('hang');
    const started = Date.now();
    const t = await failure(newapiKeySource.poll(cfg(r), ctx({ timeoutMs: 300 }), USD));
    expect(t.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
    const u = await failure(newapiKeySource.poll({ base_url: await deadUrl(), api_key: KEY }, ctx(), USD));
    expect(u.kind).toBe('unreachable');
    expectNoSecret(t.message + u.message, KEY);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────── OpenRouter

describe('openrouter: account credits via /api/v1/credits', () => {
  it('management key → total_credits − total_usage in USD, used = total_usage', async () => {
    const r = await openrouter();
    const got = await openrouterSource.poll({ base_url: r.url, api_key: OR_MANAGEMENT_KEY }, ctx(), USD);
    expect(got).toEqual({ balance: 37.65, currency: 'USD', used: 12.35, raw: { total_credits: 50, total_usage: 12.35 } });
    expect(r.requests.map((q) => q.path)).toEqual(['/api/v1/credits']);
    expect(r.requests[0]!.headers.authorization).toBe(`Bearer ${OR_MANAGEMENT_KEY}`);
  });

  it('amounts as strings are read; a base_url pasted with /api/v1 works', async () => {
    const r = await openrouter();
    r.set('strings');
    const got = await openrouterSource.poll({ base_url: `${r.url}/api/v1/`, api_key: OR_MANAGEMENT_KEY }, ctx(), USD);
    expect(got.balance).toBe(37.65);
    expect(r.requests[0]!.path).toBe('/api/v1/credits');
  });

  it('defaults to https://openrouter.ai', () => {
    expect(openrouterSource.host({ api_key: 'x' })).toBe('openrouter.ai');
    expect(openrouterKeySource.host({ api_key: 'x' })).toBe('openrouter.ai');
    expect(openrouterSource.host({ api_key: 'x', base_url: 'http://127.0.0.1:9/' })).toBe('127.0.0.1:9');
  });

  type Case = { name: string; key?: string; prepare?: (r: FakeOpenRouter) => void; kind: SourceErrorKind; status?: number; message: RegExp[]; retryAfterMs?: number };
  const cases: Case[] = [
    {
      name: 'an inference key (403: management key required)',
      key: OR_INFERENCE_KEY,
      kind: 'auth',
      status: 403,
      message: [/management \(provisioning\) key/, /openrouter\.ai\/settings\/provisioning-keys/, /openrouter-key/],
    },
    { name: 'an unknown key (401)', key: 'sk-or-v1-ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', kind: 'auth', status: 401, message: [/management/, /User not found/] },
    { name: '429 + Retry-After', prepare: (r) => r.set('rate_limited', { retryAfter: '7' }), kind: 'rate_limited', status: 429, message: [/in 7 s/], retryAfterMs: 7000 },
    { name: '500', prepare: (r) => r.set('error500'), kind: 'bad_response', status: 500, message: [/HTTP 500/, /Internal Server Error/] },
    { name: 'an HTML 502 page', prepare: (r) => r.set('html'), kind: 'bad_response', status: 502, message: [/HTTP 502/] },
    { name: 'truncated JSON', prepare: (r) => r.set('garbage'), kind: 'bad_response', message: [/not JSON/] },
    {
      name: 'no total_usage (absent is not zero)',
      prepare: (r) => {
        r.state.credits.total_usage = undefined;
      },
      kind: 'bad_response',
      message: [/total_usage/],
    },
  ];

  it.each(cases)('$name → $kind', async (c) => {
    const r = await openrouter();
    c.prepare?.(r);
    const key = c.key ?? OR_MANAGEMENT_KEY;
    const e = await failure(openrouterSource.poll({ base_url: r.url, api_key: key }, ctx(), USD));
    expect(e.kind).toBe(c.kind);
    if (c.status !== undefined) expect(e.extra.status).toBe(c.status);
    if (c.retryAfterMs !== undefined) expect(e.extra.retryAfterMs).toBe(c.retryAfterMs);
    for (const m of c.message) expect(e.message).toMatch(m);
    expect(e.message).toContain('OpenRouter');
    expectNoSecret(e.message, key);
  });

  it('never answers → timeout; refused → unreachable', async () => {
    const r = await openrouter();
    r.set('hang');
    const t = await failure(openrouterSource.poll({ base_url: r.url, api_key: OR_MANAGEMENT_KEY }, ctx({ timeoutMs: 300 }), USD));
    expect(t.kind).toBe('timeout');
    const u = await failure(openrouterSource.poll({ base_url: await deadUrl(), api_key: OR_MANAGEMENT_KEY }, ctx(), USD));
    expect(u.kind).toBe('unreachable');
    expectNoSecret(t.message + u.message, OR_MANAGEMENT_KEY);
  });
});

describe('openrouter-key: one key via /api/v1/key', () => {
  it('a capped key → limit_remaining in USD, used = usage; the label (the masked key) is not kept', async () => {
    const r = await openrouter();
    const got = await openrouterKeySource.poll({ base_url: r.url, api_key: OR_INFERENCE_KEY }, ctx(), USD);
    expect(got).toMatchObject({ balance: 17.5, currency: 'USD', used: 7.5 });
    expect(got.raw).toMatchObject({ limit: 25, limit_remaining: 17.5, limit_reset: 'monthly', usage: 7.5 });
    expect(got.raw).not.toHaveProperty('label');
    expectNoSecret(JSON.stringify(got), OR_INFERENCE_KEY);
    expect(r.requests.map((q) => q.path)).toEqual(['/api/v1/key']);
    expect(r.requests[0]!.headers.authorization).toBe(`Bearer ${OR_INFERENCE_KEY}`);
  });

  it('limit null → unlimited (balance null)', async () => {
    const r = await openrouter();
    const got = await openrouterKeySource.poll({ base_url: r.url, api_key: OR_UNLIMITED_KEY }, ctx(), USD);
    expect(got.balance).toBeNull();
    expect(got.unlimited).toBe(true);
    expect(got.used).toBe(3.25);
  });

  it('numbers as strings are read', async () => {
    const r = await openrouter();
    r.set('strings');
    const got = await openrouterKeySource.poll({ base_url: r.url, api_key: OR_INFERENCE_KEY }, ctx(), USD);
    expect(got.balance).toBe(17.5);
  });

  it('a limit but no limit_remaining → bad_response (absent is not zero)', async () => {
    const r = await openrouter();
    r.state.keys[1]!.omit_limit_remaining = true;
    const e = await failure(openrouterKeySource.poll({ base_url: r.url, api_key: OR_INFERENCE_KEY }, ctx(), USD));
    expect(e.kind).toBe('bad_response');
    expect(e.message).toMatch(/limit_remaining/);
  });

  it.each<[string, string, ((r: FakeOpenRouter) => void) | undefined, SourceErrorKind, number]>([
    ['an unknown key', 'sk-or-v1-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', undefined, 'auth', 401],
    [
      'a disabled key',
      OR_INFERENCE_KEY,
      (r) => {
        r.state.keys[1]!.disabled = true;
      },
      'auth',
      401,
    ],
    ['429', OR_INFERENCE_KEY, (r) => r.set('rate_limited'), 'rate_limited', 429],
    ['500', OR_INFERENCE_KEY, (r) => r.set('error500'), 'bad_response', 500],
    ['garbage', OR_INFERENCE_KEY, (r) => r.set('garbage'), 'bad_response', 200],
  ])('%s → %s', async (_n, key, prepare, kind, status) => {
    const r = await openrouter();
    prepare?.(r);
    const e = await failure(openrouterKeySource.poll({ base_url: r.url, api_key: key }, ctx(), USD));
    expect(e.kind).toBe(kind);
    expect(e.extra.status).toBe(status);
    expect(e.message).toContain('OpenRouter');
    if (kind === 'auth') expect(e.message).toMatch(/check api_key/);
    expectNoSecret(e.message, key);
  });

  it('never answers → timeout', async () => {
    const r = await openrouter();
    r.set('hang');
    const e = await failure(openrouterKeySource.poll({ base_url: r.url, api_key: OR_INFERENCE_KEY }, ctx({ timeoutMs: 300 }), USD));
    expect(e.kind).toBe('timeout');
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────── schemas

describe('schemas', () => {
  function issues(schema: { safeParse(v: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } }, v: unknown): Record<string, string> {
    const r = schema.safeParse(v);
    expect(r.success).toBe(false);
    return Object.fromEntries(r.error!.issues.map((i) => [i.path.join('.'), i.message]));
  }

  it('newapi: base_url required (no official host), http(s) only; access_token non-empty; user_id numeric; strict', () => {
    const none = issues(newapiSource.schema, {});
    expect(none.base_url).toMatch(/required.*no official host/);
    expect(none.access_token).toMatch(/system access token/);
    expect(issues(newapiSource.schema, { base_url: 'ftp://relay.example.com', access_token: 't' }).base_url).toMatch(/http:\/\/ or https:\/\//);
    expect(issues(newapiSource.schema, { base_url: 'https://relay.example.com', access_token: '  ' }).access_token).toMatch(/empty/);
    for (const bad of ['abc', '4.5', 4.5, -1, 0, '0x10'])
      expect(issues(newapiSource.schema, { base_url: 'https://relay.example.com', access_token: 't', user_id: bad }).user_id).toMatch(/numeric relay user ID/);
    expect(Object.values(issues(newapiSource.schema, { base_url: 'https://relay.example.com', access_token: 't', api_key: 'x' })).join(' ')).toMatch(/api_key/);
    const ok = newapiSource.schema.safeParse({ base_url: 'https://relay.example.com/', access_token: ' tok ', user_id: '42' });
    expect(ok.success && ok.data).toEqual({ base_url: 'https://relay.example.com/', access_token: 'tok', user_id: '42' });
    expect(newapiSource.schema.safeParse({ base_url: 'http://relay.example.com', access_token: 'tok', user_id: 7 }).success).toBe(true);
    expect(newapiSource.secretFields).toEqual(['access_token']);
    expect(newapiSource.host({ base_url: 'https://relay.example.com:8443/v1', access_token: 't' })).toBe('relay.example.com:8443');
  });

  it('newapi-key: base_url required, api_key non-empty, strict', () => {
    const none = issues(newapiKeySource.schema, {});
    expect(none.base_url).toMatch(/required.*no official host/);
    expect(none.api_key).toMatch(/sk-/);
    expect(issues(newapiKeySource.schema, { base_url: 'https://r.example.com', api_key: '' }).api_key).toMatch(/empty/);
    expect(issues(newapiKeySource.schema, { base_url: 'https://r.example.com', api_key: 'sk-x', user_id: 1 })).toBeTruthy();
    expect(newapiKeySource.schema.safeParse({ base_url: 'https://r.example.com', api_key: 'sk-x' }).success).toBe(true);
    expect(newapiKeySource.secretFields).toEqual(['api_key']);
  });

  it('openrouter / openrouter-key: base_url optional (http(s)), api_key required with a hint', () => {
    expect(issues(openrouterSource.schema, {}).api_key).toMatch(/management key.*provisioning-keys.*openrouter-key/);
    expect(issues(openrouterKeySource.schema, {}).api_key).toMatch(/sk-or-v1/);
    expect(issues(openrouterSource.schema, { api_key: 'k', base_url: 'not a url' }).base_url).toMatch(/http/);
    expect(issues(openrouterKeySource.schema, { api_key: 'k', extra: true })).toBeTruthy();
    expect(openrouterSource.schema.safeParse({ api_key: 'k' }).success).toBe(true);
    expect(openrouterKeySource.schema.safeParse({ api_key: 'k', base_url: 'https://openrouter.ai' }).success).toBe(true);
    expect(openrouterSource.secretFields).toEqual(['api_key']);
    expect(openrouterKeySource.secretFields).toEqual(['api_key']);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────── echoed credentials

describe('a provider that echoes the credential in its error: the message never shows it', () => {
  /** A loopback server answering every request with `status` and `body(authorization)`. */
  async function echo(status: number, body: (auth: string) => unknown): Promise<string> {
    const s = httpModule.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body(req.headers.authorization ?? '')));
      });
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }
  const bare = (k: string) => k.replace(/^Bearer /, '').replace(/^sk-(or-v1-)?/, '');

  it('newapi: success:false quoting the token', async () => {
    const url = await echo(200, (a) => ({ success: false, message: `access token ${a.replace('Bearer ', '')} 无效 (${bare(a).slice(0, 3)}***${bare(a).slice(-3)})` }));
    const e = await failure(newapiSource.poll({ base_url: url, access_token: TOKEN }, ctx(), USD));
    expect(e.kind).toBe('auth');
    expectNoSecret(e.message, TOKEN);
  });

  it('newapi-key: 401 quoting the key in full and masked', async () => {
    const url = await echo(401, (a) => ({ error: { message: `无效的令牌 ${a.slice(7)} [sk-${bare(a).slice(0, 3)}***${bare(a).slice(-3)}] (request id: 1)`, type: 'new_api_error' } }));
    const e = await failure(newapiKeySource.poll({ base_url: url, api_key: KEY }, ctx(), USD));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/无效的令牌/);
    expect(e.message).not.toMatch(/request id/);
    expectNoSecret(e.message, KEY);
  });

  it('newapi-key: a 500 quoting the key', async () => {
    const url = await echo(500, (a) => ({ error: { message: `db error for key ${a.slice(7)}`, type: 'new_api_error' } }));
    const e = await failure(newapiKeySource.poll({ base_url: url, api_key: KEY }, ctx(), USD));
    expect(e.kind).toBe('bad_response');
    expectNoSecret(e.message, KEY);
  });

  it('openrouter and openrouter-key: 401 quoting the key', async () => {
    const url = await echo(401, (a) => ({ error: { code: 401, message: `Key ${a.slice(7)} (…${a.slice(-4)}) not found` } }));
    for (const source of [openrouterSource, openrouterKeySource]) {
      const e = await failure(source.poll({ base_url: url, api_key: OR_INFERENCE_KEY }, ctx(), USD));
      expect(e.kind).toBe('auth');
      expectNoSecret(e.message, OR_INFERENCE_KEY);
    }
  });

  it('openrouter: an error inside an HTTP 200 is classified by its code', async () => {
    const url = await echo(200, () => ({ error: { code: 403, message: 'Only management keys can fetch credits' } }));
    const e = await failure(openrouterSource.poll({ base_url: url, api_key: OR_INFERENCE_KEY }, ctx(), USD));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/management \(provisioning\) key/);
  });
});
