import httpModule from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpClient } from '../../src/net/http-client.js';
import type { HttpClient } from '../../src/net/types.js';
import { deepseekSource } from '../../src/sources/deepseek.js';
import { checkCondition, evaluatePath, httpJsonSource, parseCondition, parsePath } from '../../src/sources/http-json.js';
import { moonshotSource } from '../../src/sources/moonshot.js';
import { siliconflowSource } from '../../src/sources/siliconflow.js';
import { type AccountInfo, type SourceContext, SourceError, type SourceErrorKind, type SourceType } from '../../src/sources/types.js';
import { DEEPSEEK_KEY, type FakeDeepSeek, type FakeDeepSeekState, startFakeDeepSeek } from '../helpers/providers/deepseek.js';
import { type FakeGeneric, GENERIC_KEY, startFakeGeneric } from '../helpers/providers/generic.js';
import { type FakeMoonshot, type FakeMoonshotState, MOONSHOT_KEY, startFakeMoonshot } from '../helpers/providers/moonshot.js';
import { type FakeSiliconFlow, SILICONFLOW_KEY, startFakeSiliconFlow } from '../helpers/providers/siliconflow.js';

// Every server here is a loopback fake (test/helpers/providers/*): nothing leaves 127.0.0.1. Where a test needs the
// provider's real host (currency by host, default base_url), the HttpClient is wrapped to send the request to the
// fake while recording the URL the adapter asked for.

let http: HttpClient;
beforeAll(() => {
  http = createHttpClient({ allowPrivateTargets: true });
});
afterAll(async () => {
  await http.close();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function track<T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> {
  const f = await p;
  cleanups.push(() => f.close());
  return f;
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
const CNY: AccountInfo = { currency: 'CNY', quota_per_unit: null };

function ctx(o: Partial<SourceContext> = {}): SourceContext {
  return { http, now: Date.now, timeoutMs: 3000, ...o };
}

/** A client that sends every request to `fakeUrl` (keeping path and query) and records the URL asked for. */
function via(fakeUrl: string, asked: string[]): HttpClient {
  return {
    request: (url, req) => {
      asked.push(url);
      const u = new URL(url);
      return http.request(`${fakeUrl}${u.pathname}${u.search}`, req);
    },
    close: async () => {},
  };
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

/** Neither the credential nor a prefix / suffix / masked form of it. */
function expectNoSecret(text: string, secret: string): void {
  const bare = secret.replace(/^sk-/, '');
  expect(text).not.toContain(secret);
  expect(text).not.toContain(bare.slice(0, 4));
  expect(text).not.toContain(bare.slice(-4));
  expect(text).not.toMatch(/\*{2,}[A-Za-z0-9]{2,}/);
}

/** The schema's first complaint, or null when the config is accepted. */
function schemaError(type: SourceType<any>, config: unknown): string | null {
  const r = type.schema.safeParse(config);
  return r.success ? null : `${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`;
}

/** A never-answering server fails as `timeout` within about the deadline. */
async function expectTimeout(p: (c: SourceContext) => Promise<unknown>, label: string): Promise<void> {
  const started = Date.now();
  const e = await failure(p(ctx({ timeoutMs: 300 })));
  const took = Date.now() - started;
  expect(e.kind).toBe('timeout');
  expect(e.message).toContain(label);
  expect(took).toBeGreaterThanOrEqual(250);
  expect(took).toBeLessThan(2000);
}

const WRONG_KEY = 'sk-wrongwrong0000aaaa1111bbbb2222zq9x';

// ─────────────────────────────────────────────────────────────────────────────────────────────────── DeepSeek

describe('deepseek: GET /user/balance', () => {
  const fake = (o: Partial<FakeDeepSeekState> = {}) => track<FakeDeepSeek>(startFakeDeepSeek(o));
  const cfg = (f: { url: string }, extra: Record<string, unknown> = {}) => ({ base_url: f.url, api_key: DEEPSEEK_KEY, ...extra });
  const BOTH = [
    { currency: 'CNY', total_balance: '110.00', granted_balance: '10.00', topped_up_balance: '100.00' },
    { currency: 'USD', total_balance: '15.50', granted_balance: '0.00', topped_up_balance: '15.50' },
  ];

  it('one GET with the Bearer key; total_balance (a string) in the entry\'s currency; raw without secrets', async () => {
    const f = await fake();
    const got = await deepseekSource.poll(cfg(f), ctx(), USD);
    expect(got).toEqual({
      balance: 110,
      currency: 'CNY',
      raw: { is_available: true, balance_infos: [{ currency: 'CNY', total_balance: '110.00', granted_balance: '10.00', topped_up_balance: '100.00' }] },
    });
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]).toMatchObject({ method: 'GET', path: '/user/balance' });
    expect(f.requests[0]!.headers.authorization).toBe(`Bearer ${DEEPSEEK_KEY}`);
    expect(JSON.stringify(got.raw)).not.toContain(DEEPSEEK_KEY.slice(3, 10));
  });

  it.each([
    ['account CNY, both entries → CNY', BOTH, CNY, {}, 110, 'CNY'],
    ['account USD, both entries → USD', BOTH, USD, {}, 15.5, 'USD'],
    ['source currency CNY wins over the account\'s USD', BOTH, USD, { currency: 'CNY' }, 110, 'CNY'],
    ['source currency "usd" (any case) → USD', BOTH, CNY, { currency: 'usd' }, 15.5, 'USD'],
    ['account EUR matches nothing → the first entry', BOTH, { currency: 'EUR', quota_per_unit: null }, {}, 110, 'CNY'],
    ['USD only, account CNY → the first (USD)', [BOTH[1]!], CNY, {}, 15.5, 'USD'],
    ['lower-case currency in the answer', [{ currency: 'cny', total_balance: '3.2' }], CNY, {}, 3.2, 'CNY'],
    ['negative total', [{ currency: 'CNY', total_balance: '-1.25' }], CNY, {}, -1.25, 'CNY'],
  ] as const)('entry choice: %s', async (_name, infos, account, extra, balance, currency) => {
    const f = await fake({ balance_infos: infos.map((e) => ({ ...e })) });
    const got = await deepseekSource.poll(deepseekSource.schema.parse(cfg(f, extra)), ctx(), account);
    expect(got.balance).toBe(balance);
    expect(got.currency).toBe(currency);
  });

  it('amounts as numbers (early docs) are accepted', async () => {
    const f = await fake({ balance_infos: BOTH.map((e) => ({ ...e })) });
    f.set('numbers');
    const got = await deepseekSource.poll(cfg(f), ctx(), USD);
    expect(got).toMatchObject({ balance: 15.5, currency: 'USD' });
    expect((got.raw as { balance_infos: { total_balance: unknown }[] }).balance_infos[1]!.total_balance).toBe(15.5);
  });

  it('empty balance_infos with is_available false → balance 0 (nothing usable is left)', async () => {
    const f = await fake({ balance_infos: [], is_available: false });
    expect(await deepseekSource.poll(cfg(f), ctx(), USD)).toEqual({ balance: 0, raw: { is_available: false, balance_infos: [] } });
    expect(await deepseekSource.poll(cfg(f, { currency: 'CNY' }), ctx(), USD)).toMatchObject({ balance: 0, currency: 'CNY' });
  });

  it('is_available false with a balance entry: the entry is the reading', async () => {
    const f = await fake({ balance_infos: [{ currency: 'CNY', total_balance: '0.00', granted_balance: '0.00', topped_up_balance: '0.00' }], is_available: false });
    expect(await deepseekSource.poll(cfg(f), ctx(), CNY)).toMatchObject({ balance: 0, currency: 'CNY', raw: { is_available: false } });
  });

  it('402 Insufficient Balance → balance 0, not a failing poll', async () => {
    const f = await fake();
    f.set('insufficient');
    const got = await deepseekSource.poll(cfg(f), ctx(), CNY);
    expect(got).toEqual({ balance: 0, raw: { status: 402, message: 'Insufficient Balance' } });
  });

  it('the default base URL is https://api.deepseek.com; a pasted ".../v1/" base is accepted', async () => {
    const f = await fake();
    const asked: string[] = [];
    await deepseekSource.poll({ api_key: DEEPSEEK_KEY }, ctx({ http: via(f.url, asked) }), USD);
    await deepseekSource.poll({ api_key: DEEPSEEK_KEY, base_url: 'https://api.deepseek.com/v1/' }, ctx({ http: via(f.url, asked) }), USD);
    expect(asked).toEqual(['https://api.deepseek.com/user/balance', 'https://api.deepseek.com/user/balance']);
    expect(deepseekSource.host({ api_key: DEEPSEEK_KEY })).toBe('api.deepseek.com');
    expect(deepseekSource.host({ api_key: DEEPSEEK_KEY, base_url: 'https://ds.example.com:8443/v1' })).toBe('ds.example.com:8443');
  });

  it('a wrong key → auth; the message names DeepSeek and where to fix it, and echoes no part of the key', async () => {
    const f = await fake();
    const e = await failure(deepseekSource.poll(cfg(f, { api_key: WRONG_KEY }), ctx(), USD));
    expect(e.kind).toBe('auth');
    expect(e.extra.status).toBe(401);
    expect(e.message).toContain('DeepSeek');
    expect(e.message).toContain('Authentication Fails');
    expect(e.message).toContain('platform.deepseek.com');
    expectNoSecret(e.message, WRONG_KEY);
    expect(e.message).not.toContain('****');
  });

  it.each<[string, Parameters<FakeDeepSeek['set']>[0], Partial<FakeDeepSeekState>, Record<string, unknown>, SourceErrorKind, RegExp]>([
    ['429 with Retry-After', 'rate_limited', {}, {}, 'rate_limited', /DeepSeek is rate limiting us \(HTTP 429: Rate Limit Reached\); will retry in 7 s/],
    ['429 with an empty body', 'rate_limited_empty', {}, {}, 'rate_limited', /DeepSeek is rate limiting us \(HTTP 429\)/],
    ['500', 'error500', {}, {}, 'bad_response', /DeepSeek answered HTTP 500: Server Error; will retry/],
    ['an HTML error page', 'html', {}, {}, 'bad_response', /DeepSeek answered HTTP 502: 502 Bad Gateway/],
    ['a cut JSON body', 'garbage', {}, {}, 'bad_response', /DeepSeek answered GET \/user\/balance with HTTP 200 and something that is not JSON.*base_url/],
    ['no balance_infos', 'no_infos', {}, {}, 'bad_response', /without a balance_infos list/],
    ['an empty list while is_available is true', 'normal', { balance_infos: [] }, {}, 'bad_response', /empty balance_infos list while is_available is not false/],
    ['an entry without total_balance', 'normal', { balance_infos: [{ currency: 'CNY', granted_balance: '1' }] }, {}, 'bad_response', /without a numeric total_balance in the CNY entry \(got nothing\)/],
    ['a garbled total_balance', 'normal', { balance_infos: [{ currency: 'CNY', total_balance: '12,50' }] }, {}, 'bad_response', /numeric total_balance.*"12,50"/],
    ['source currency USD but only CNY listed', 'normal', {}, { currency: 'USD' }, 'bad_response', /lists no USD balance for this account \(it lists: CNY\)/],
  ])('%s → %s', async (_name, behaviour, state, extra, kind, message) => {
    const f = await fake(state);
    f.set(behaviour, { retryAfter: '7' });
    const e = await failure(deepseekSource.poll(deepseekSource.schema.parse(cfg(f, extra)), ctx(), USD));
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(message);
    if (kind === 'rate_limited' && behaviour === 'rate_limited') expect(e.extra.retryAfterMs).toBe(7000);
    expectNoSecret(e.message, DEEPSEEK_KEY);
  });

  it('a 402 that does not say insufficient balance is bad_response', async () => {
    const f = await fake();
    const server = await track(startRaw(402, '{"error":{"message":"Payment Required"}}'));
    expect(f.requests).toHaveLength(0);
    const e = await failure(deepseekSource.poll(cfg(server), ctx(), USD));
    expect(e.kind).toBe('bad_response');
    expect(e.message).toContain('HTTP 402');
  });

  it('never answers → timeout within about the deadline; refused → unreachable', async () => {
    const f = await fake();
    f.set('hang');
    await expectTimeout((c) => deepseekSource.poll(cfg(f), c, USD), 'DeepSeek');
    const u = await failure(deepseekSource.poll({ base_url: await deadUrl(), api_key: DEEPSEEK_KEY }, ctx(), USD));
    expect(u.kind).toBe('unreachable');
    expect(u.message).toContain('DeepSeek');
  });

  it.each<[string, unknown, RegExp | null]>([
    ['valid', { api_key: DEEPSEEK_KEY }, null],
    ['valid with base_url and currency', { api_key: DEEPSEEK_KEY, base_url: 'https://api.deepseek.com', currency: 'CNY' }, null],
    ['missing api_key', {}, /^api_key: api_key is required: a DeepSeek API key/],
    ['empty api_key', { api_key: '  ' }, /^api_key: api_key must not be empty/],
    ['api_key with a space', { api_key: 'sk-a b' }, /^api_key: .*spaces/],
    ['ftp base_url', { api_key: DEEPSEEK_KEY, base_url: 'ftp://api.deepseek.com' }, /^base_url: base_url must be an http/],
    ['currency EUR', { api_key: DEEPSEEK_KEY, currency: 'EUR' }, /^currency: currency must be "CNY" or "USD"/],
    ['an unknown field', { api_key: DEEPSEEK_KEY, token: 'x' }, /token/],
  ])('schema: %s', (_name, config, message) => {
    const got = schemaError(deepseekSource, config);
    if (message === null) expect(got).toBeNull();
    else expect(got).toMatch(message);
  });

  it('secretFields: the api key', () => {
    expect(deepseekSource.secretFields).toEqual(['api_key']);
  });
});

/** A server answering every request with one fixed status and body. */
async function startRaw(status: number, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const server = httpModule.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ─────────────────────────────────────────────────────────────────────────────────────────────── SiliconFlow

describe('siliconflow: GET /v1/user/info', () => {
  const fake = (o: Parameters<typeof startFakeSiliconFlow>[0] = {}) => track<FakeSiliconFlow>(startFakeSiliconFlow(o));
  const cfg = (f: { url: string }, extra: Record<string, unknown> = {}) => ({ base_url: f.url, api_key: SILICONFLOW_KEY, ...extra });

  it('totalBalance (a string) is the balance; raw keeps the amounts and status, not the profile', async () => {
    const f = await fake();
    const got = await siliconflowSource.poll(cfg(f), ctx(), USD);
    expect(got).toEqual({ balance: 88.88, raw: { balance: '0.88', chargeBalance: '88.00', totalBalance: '88.88', status: 'normal' } });
    expect(got.currency).toBeUndefined(); // a loopback host is neither .cn nor .com
    const raw = JSON.stringify(got.raw);
    for (const gone of ['alice@example.com', 'username', 'userid', 'avatar']) expect(raw).not.toContain(gone);
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]).toMatchObject({ method: 'GET', path: '/v1/user/info' });
    expect(f.requests[0]!.headers.authorization).toBe(`Bearer ${SILICONFLOW_KEY}`);
  });

  it.each([
    ['default (api.siliconflow.cn) → CNY', {}, 'https://api.siliconflow.cn/v1/user/info', 'CNY'],
    ['a pasted OpenAI base https://api.siliconflow.cn/v1 → CNY', { base_url: 'https://api.siliconflow.cn/v1' }, 'https://api.siliconflow.cn/v1/user/info', 'CNY'],
    ['international api.siliconflow.com → USD', { base_url: 'https://api.siliconflow.com' }, 'https://api.siliconflow.com/v1/user/info', 'USD'],
    ['a proxy states no currency', { base_url: 'https://sf-proxy.example.com/' }, 'https://sf-proxy.example.com/v1/user/info', undefined],
  ])('currency by host: %s', async (_name, extra, url, currency) => {
    const f = await fake();
    const asked: string[] = [];
    const got = await siliconflowSource.poll({ api_key: SILICONFLOW_KEY, ...extra }, ctx({ http: via(f.url, asked) }), USD);
    expect(asked).toEqual([url]);
    expect(got.balance).toBe(88.88);
    expect(got.currency).toBe(currency);
  });

  it('amounts as numbers are accepted; a zero balance is 0', async () => {
    const f = await fake({ data: { balance: '0', chargeBalance: '0', totalBalance: '0.00' } });
    expect((await siliconflowSource.poll(cfg(f), ctx(), USD)).balance).toBe(0);
    f.state.data.totalBalance = '12.5';
    f.set('numbers');
    expect((await siliconflowSource.poll(cfg(f), ctx(), USD)).balance).toBe(12.5);
  });

  it('a wrong key (HTTP 401 "Api key is invalid") → auth with an actionable message and no part of the key', async () => {
    const f = await fake();
    const e = await failure(siliconflowSource.poll(cfg(f, { api_key: WRONG_KEY }), ctx(), USD));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/^SiliconFlow rejected the API key \(HTTP 401: Api key is invalid\): check api_key/);
    expect(e.message).toContain('api.siliconflow.com');
    expectNoSecret(e.message, WRONG_KEY);
  });

  it.each<[string, Parameters<FakeSiliconFlow['set']>[0], SourceErrorKind, RegExp]>([
    ['a 200 envelope saying the key is invalid', 'envelope_auth', 'auth', /SiliconFlow rejected the API key \(HTTP 200, code 30001: Api key is invalid\)/],
    ['a 200 envelope with another error', 'envelope_error', 'bad_response', /code 50505, status false instead of code 20000: Service temporarily unavailable; will retry/],
    ['no totalBalance', 'no_total', 'bad_response', /without a numeric data.totalBalance \(got nothing\)/],
    ['429 with Retry-After', 'rate_limited', 'rate_limited', /SiliconFlow is rate limiting us \(HTTP 429: Request was rejected due to rate limiting\); will retry in 3 s/],
    ['429 with an empty body', 'rate_limited_empty', 'rate_limited', /SiliconFlow is rate limiting us \(HTTP 429\); will retry in 3 s/],
    ['500', 'error500', 'bad_response', /SiliconFlow answered HTTP 500: Internal Server Error; will retry/],
    ['an HTML error page', 'html', 'bad_response', /SiliconFlow answered HTTP 502: 502 Bad Gateway/],
    ['a cut JSON body', 'garbage', 'bad_response', /not JSON.*base_url/],
  ])('%s → %s', async (_name, behaviour, kind, message) => {
    const f = await fake();
    f.set(behaviour, { retryAfter: '3' });
    const e = await failure(siliconflowSource.poll(cfg(f), ctx(), USD));
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(message);
    if (kind === 'rate_limited') expect(e.extra.retryAfterMs).toBe(3000);
    expectNoSecret(e.message, SILICONFLOW_KEY);
  });

  it.each([
    ['no envelope at all', '{"totalBalance":"5"}', /without the \{"code":20000,…\} envelope/],
    ['code as a string "20000" is fine', '{"code":"20000","status":true,"data":{"totalBalance":"5"}}', null],
    ['status false with code 20000', '{"code":20000,"status":false,"message":"account frozen","data":{"totalBalance":"5"}}', /code 20000, status false instead of code 20000: account frozen/],
    ['a JSON array', '[1,2]', /without the \{"code":20000/],
  ])('envelope: %s', async (_name, body, message) => {
    const s = await track(startRaw(200, body));
    if (message === null) {
      expect((await siliconflowSource.poll(cfg(s), ctx(), USD)).balance).toBe(5);
      return;
    }
    const e = await failure(siliconflowSource.poll(cfg(s), ctx(), USD));
    expect(e.kind).toBe('bad_response');
    expect(e.message).toMatch(message);
  });

  it('never answers → timeout within about the deadline; refused → unreachable', async () => {
    const f = await fake();
    f.set('hang');
    await expectTimeout((c) => siliconflowSource.poll(cfg(f), c, USD), 'SiliconFlow');
    const u = await failure(siliconflowSource.poll({ base_url: await deadUrl(), api_key: SILICONFLOW_KEY }, ctx(), USD));
    expect(u.kind).toBe('unreachable');
  });

  it.each<[string, unknown, RegExp | null]>([
    ['valid', { api_key: SILICONFLOW_KEY }, null],
    ['missing api_key', { base_url: 'https://api.siliconflow.cn' }, /^api_key: api_key is required: a SiliconFlow API key/],
    ['javascript: base_url', { api_key: SILICONFLOW_KEY, base_url: 'javascript:alert(1)' }, /^base_url: base_url must be an http/],
    ['an unknown field', { api_key: SILICONFLOW_KEY, currency: 'CNY' }, /currency/],
  ])('schema: %s', (_name, config, message) => {
    const got = schemaError(siliconflowSource, config);
    if (message === null) expect(got).toBeNull();
    else expect(got).toMatch(message);
  });

  it('host and secretFields', () => {
    expect(siliconflowSource.host({ api_key: SILICONFLOW_KEY })).toBe('api.siliconflow.cn');
    expect(siliconflowSource.host({ api_key: SILICONFLOW_KEY, base_url: 'https://api.siliconflow.com/v1' })).toBe('api.siliconflow.com');
    expect(siliconflowSource.secretFields).toEqual(['api_key']);
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────────── Moonshot

describe('moonshot: GET /v1/users/me/balance', () => {
  const fake = (o: Partial<FakeMoonshotState> = {}) => track<FakeMoonshot>(startFakeMoonshot(o));
  const cfg = (f: { url: string }, extra: Record<string, unknown> = {}) => ({ base_url: f.url, api_key: MOONSHOT_KEY, ...extra });

  it('available_balance is the balance; raw keeps the three figures', async () => {
    const f = await fake();
    const got = await moonshotSource.poll(cfg(f), ctx(), CNY);
    expect(got).toEqual({ balance: 49.58894, raw: { available_balance: 49.58894, voucher_balance: 46.58893, cash_balance: 3.00001 } });
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]).toMatchObject({ method: 'GET', path: '/v1/users/me/balance' });
    expect(f.requests[0]!.headers.authorization).toBe(`Bearer ${MOONSHOT_KEY}`);
  });

  it('a negative cash_balance (arrears) stays in raw; available_balance (the vouchers) is the balance', async () => {
    const f = await fake({ data: { available_balance: 5, voucher_balance: 5, cash_balance: -3.25 } });
    const got = await moonshotSource.poll(cfg(f), ctx(), CNY);
    expect(got.balance).toBe(5);
    expect(got.raw).toEqual({ available_balance: 5, voucher_balance: 5, cash_balance: -3.25, arrears: 3.25 });
  });

  it('available_balance 0 and below are readings, not errors', async () => {
    const f = await fake({ data: { available_balance: 0, voucher_balance: 0, cash_balance: 0 } });
    expect((await moonshotSource.poll(cfg(f), ctx(), CNY)).balance).toBe(0);
    f.state.data = { available_balance: -2, voucher_balance: 0, cash_balance: -2 };
    expect((await moonshotSource.poll(cfg(f), ctx(), CNY)).balance).toBe(-2);
  });

  it('amounts as strings are accepted', async () => {
    const f = await fake();
    f.set('strings');
    expect((await moonshotSource.poll(cfg(f), ctx(), CNY)).balance).toBe(49.58894);
  });

  it.each([
    ['default (api.moonshot.cn) → CNY', {}, 'https://api.moonshot.cn/v1/users/me/balance', 'CNY'],
    ['api.moonshot.ai → USD', { base_url: 'https://api.moonshot.ai/v1' }, 'https://api.moonshot.ai/v1/users/me/balance', 'USD'],
    ['a proxy states no currency', { base_url: 'https://kimi.example.org' }, 'https://kimi.example.org/v1/users/me/balance', undefined],
  ])('currency by host: %s', async (_name, extra, url, currency) => {
    const f = await fake();
    const asked: string[] = [];
    const got = await moonshotSource.poll({ api_key: MOONSHOT_KEY, ...extra }, ctx({ http: via(f.url, asked) }), USD);
    expect(asked).toEqual([url]);
    expect(got.currency).toBe(currency);
  });

  it('a wrong key → auth: "Invalid Authentication", the region hint, no part of the key', async () => {
    const f = await fake();
    const e = await failure(moonshotSource.poll(cfg(f, { api_key: WRONG_KEY }), ctx(), CNY));
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/^Moonshot rejected the API key \(HTTP 401: Invalid Authentication\): check api_key; keys are per region/);
    expect(e.message).toContain('https://api.moonshot.ai');
    expectNoSecret(e.message, WRONG_KEY);
  });

  it.each<[string, Parameters<FakeMoonshot['set']>[0], SourceErrorKind, RegExp]>([
    ['a 200 envelope with status false', 'envelope_error', 'bad_response', /Moonshot answered GET \/v1\/users\/me\/balance with code 5, status false: internal error; will retry/],
    ['no available_balance', 'no_available', 'bad_response', /without a numeric data.available_balance \(got nothing\)/],
    ['429 with Retry-After', 'rate_limited', 'rate_limited', /Moonshot is rate limiting us \(HTTP 429: Your account org-xxx request reached max request.*\); will retry in 2 s/],
    ['429 with an empty body', 'rate_limited_empty', 'rate_limited', /Moonshot is rate limiting us \(HTTP 429\); will retry in 2 s/],
    ['500', 'error500', 'bad_response', /Moonshot answered HTTP 500: Internal Server Error; will retry/],
    ['an HTML error page', 'html', 'bad_response', /Moonshot answered HTTP 502: 502 Bad Gateway/],
    ['a cut JSON body', 'garbage', 'bad_response', /not JSON.*base_url/],
  ])('%s → %s', async (_name, behaviour, kind, message) => {
    const f = await fake();
    f.set(behaviour, { retryAfter: '2' });
    const e = await failure(moonshotSource.poll(cfg(f), ctx(), CNY));
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(message);
    if (kind === 'rate_limited') expect(e.extra.retryAfterMs).toBe(2000);
    expectNoSecret(e.message, MOONSHOT_KEY);
  });

  it('a 200 envelope that says authentication failed → auth', async () => {
    const s = await track(startRaw(200, '{"code":401,"data":null,"scode":"0x191","status":false,"error":{"message":"Invalid Authentication","type":"invalid_authentication_error"}}'));
    const e = await failure(moonshotSource.poll(cfg(s), ctx(), CNY));
    expect(e.kind).toBe('auth');
  });

  it('never answers → timeout within about the deadline; refused → unreachable', async () => {
    const f = await fake();
    f.set('hang');
    await expectTimeout((c) => moonshotSource.poll(cfg(f), c, CNY), 'Moonshot');
    const u = await failure(moonshotSource.poll({ base_url: await deadUrl(), api_key: MOONSHOT_KEY }, ctx(), CNY));
    expect(u.kind).toBe('unreachable');
  });

  it.each<[string, unknown, RegExp | null]>([
    ['valid', { api_key: MOONSHOT_KEY, base_url: 'https://api.moonshot.ai' }, null],
    ['missing api_key', {}, /^api_key: api_key is required: a Moonshot \/ Kimi API key/],
    ['not a URL', { api_key: MOONSHOT_KEY, base_url: 'api.moonshot.cn' }, /^base_url: base_url must be an http/],
    ['an unknown field', { api_key: MOONSHOT_KEY, region: 'cn' }, /region/],
  ])('schema: %s', (_name, config, message) => {
    const got = schemaError(moonshotSource, config);
    if (message === null) expect(got).toBeNull();
    else expect(got).toMatch(message);
  });

  it('host and secretFields', () => {
    expect(moonshotSource.host({ api_key: MOONSHOT_KEY })).toBe('api.moonshot.cn');
    expect(moonshotSource.secretFields).toEqual(['api_key']);
  });
});

// ────────────────────────────────────────────────────────────────────────────────────────────────── http-json

describe('http-json: JSON paths', () => {
  const doc = {
    data: {
      balance: '12.50',
      'odd key.x': 3,
      items: [
        { currency: 'CNY', amount: 1, nested: { k: 'a' } },
        { currency: 'USD', amount: '2', nested: { k: 'b' } },
        { currency: 'USD', amount: 3, nested: { k: 'c' } },
      ],
      zero: 0,
      nothing: null,
    },
    '中文': { 余额: 9 },
    top: 7,
  };

  it.each<[string, unknown]>([
    ['$', doc],
    ['$.top', 7],
    ['top', 7],
    ['data.balance', '12.50'],
    ['$.data.balance', '12.50'],
    ["$['data']['odd key.x']", 3],
    ['$["data"].items[0].currency', 'CNY'],
    ['$.data.items[-1].amount', 3],
    ['$.data.items[?(@.nested.k == "b")].amount', '2'],
    ["$.data.items[?(@.currency=='CNY')].amount", 1],
    ['$.data.items[?@.amount == 2].nested.k', 'b'],
    ['$.data.items[?(@.amount == "3")].nested.k', 'c'],
    ['$.中文.余额', 9],
    ['$.data.nothing', null],
    [' $.data.zero ', 0],
  ])('%s', (path, value) => {
    expect(evaluatePath(parsePath(path), doc)).toEqual({ ok: true, value });
  });

  it.each<[string, string, 'missing' | 'ambiguous']>([
    ['$.data.missing', '$.data.missing', 'missing'],
    ['$.data.items[3]', '$.data.items[3]', 'missing'],
    ['$.top.x', '$.top.x', 'missing'],
    ['$.data.balance[0]', '$.data.balance[0]', 'missing'],
    ['$.data.items[?(@.currency == "USD")].amount', '$.data.items[?(@.currency == "USD")]', 'ambiguous'],
    ['$.data.items[?(@.currency == "EUR")]', '$.data.items[?(@.currency == "EUR")]', 'missing'],
    ['$.constructor', '$.constructor', 'missing'],
    ['$.__proto__', '$.__proto__', 'missing'],
  ])('%s does not lead to one value', (path, at, why) => {
    expect(evaluatePath(parsePath(path), doc)).toMatchObject({ ok: false, at, why });
  });

  it.each<[string, RegExp]>([
    ['', /empty/],
    ['$..balance', /recursive descent/],
    ['$.data.*', /wildcards/],
    ['$.data[*]', /wildcards/],
    ['$.items[0:2]', /slices/],
    ['$.items[0,1]', /unions and slices/],
    ['$.data.', /expected a member name/],
    ['$.data[', /expected an index/],
    ["$['unterminated", /unterminated/],
    ['$.a == 1', /comparison is only allowed in success_path/],
    ['$.items[?(@.a)]', /a filter is/],
    ['$.items[?(x.a == 1)]', /must start with "@"/],
    ['$ .a', /unexpected "\."/],
    ['$.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g', /more than 32 steps/],
  ])('syntax error: %j', (path, message) => {
    expect(() => parsePath(path)).toThrow(message);
  });

  it.each<[string, unknown, boolean]>([
    ['$.success', { success: true }, true],
    ['$.success', { success: false }, false],
    ['$.success', {}, false],
    ['$.data', { data: {} }, true],
    ['$.code', { code: 0 }, false],
    ['$.msg', { msg: '' }, false],
    ['$.code == 0', { code: 0 }, true],
    ['$.code == 0', { code: '0' }, true],
    ['$.code == 0', { code: 20000 }, false],
    ['$.code==20000', { code: 20000 }, true],
    ['$.status == "ok"', { status: 'ok' }, true],
    ["$.status == 'ok'", { status: 'OK' }, false],
    ['$.status == ok', { status: 'ok' }, true],
    ['$.ok == true', { ok: true }, true],
    ['$.ok == true', { ok: 'true' }, false],
    ['$.error == null', { error: null }, true],
    ['$.error == null', {}, false],
    ['$.code == "200"', { code: 200 }, true],
    ['$.items[?(@.k == "a")].on == true', { items: [{ k: 'a', on: true }] }, true],
  ])('condition %s on %j → %s', (cond, doc2, ok) => {
    expect(checkCondition(parseCondition(cond), doc2).ok).toBe(ok);
  });

  it.each<[string, RegExp]>([
    ['$.code ==', /expected a value/],
    ['$.code = 0', /expected "=="/],
    ['$.code == 0 extra', /unexpected "e"/],
    ['$.code != 0', /expected "=="/],
  ])('condition syntax error: %j', (cond, message) => {
    expect(() => parseCondition(cond)).toThrow(message);
  });
});

describe('http-json: any JSON endpoint', () => {
  const fake = () => track<FakeGeneric>(startFakeGeneric());
  const bearerHeaders = { Authorization: `Bearer ${GENERIC_KEY}` };

  it('Novita: strings in 1/10000 USD with scale 0.0001; headers sent as configured; raw holds only the picked value', async () => {
    const f = await fake();
    const got = await httpJsonSource.poll(
      { url: `${f.url}/openapi/v1/billing/balance/detail`, headers: bearerHeaders, balance_path: '$.availableBalance', scale: 0.0001 },
      ctx(),
      USD,
    );
    expect(got).toEqual({ balance: 12.3456, raw: { balance: '123456', scale: 0.0001 } });
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]).toMatchObject({ method: 'GET', path: '/openapi/v1/billing/balance/detail', body: '' });
    expect(f.requests[0]!.headers.authorization).toBe(`Bearer ${GENERIC_KEY}`);
    expect(f.requests[0]!.headers.accept).toBe('application/json');
  });

  it('StepFun: a bare number, a path without "$"', async () => {
    const f = await fake();
    const got = await httpJsonSource.poll({ url: `${f.url}/v1/accounts`, headers: bearerHeaders, balance_path: 'balance' }, ctx(), CNY);
    expect(got).toEqual({ balance: 88.5, raw: { balance: 88.5 } });
  });

  it('z.ai: success_path, balance and used paths', async () => {
    const f = await fake();
    const config = {
      url: `${f.url}/api/biz/account/query-customer-account-report`,
      headers: { 'X-Api-Key': GENERIC_KEY },
      success_path: '$.success',
      balance_path: '$.data.availableBalance',
      used_path: 'data.totalSpendAmount',
    };
    expect(await httpJsonSource.poll(config, ctx(), CNY)).toEqual({ balance: 12.3, used: 12.7, raw: { balance: 12.3, used: 12.7 } });
    expect(await httpJsonSource.poll({ ...config, success_path: '$.code == 200' }, ctx(), CNY)).toMatchObject({ balance: 12.3 });
  });

  it('z.ai with a bad key: HTTP 200 {"code":401,"success":false} → auth with the provider\'s message and no key', async () => {
    const f = await fake();
    const badKey = 'gk-0badbadbad77aa88bb99cc00dd11ee22';
    const e = await failure(
      httpJsonSource.poll(
        { url: `${f.url}/api/biz/account/query-customer-account-report`, headers: { Authorization: `Bearer ${badKey}` }, success_path: '$.success', balance_path: '$.data.availableBalance' },
        ctx(),
        CNY,
      ),
    );
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/^HTTP JSON source 127\.0\.0\.1:\d+ refused the request \(HTTP 200, success_path "\$\.success" not met \(found false\): token expired or incorrect\): check the credentials in the source's headers$/);
    expectNoSecret(e.message, badKey);
  });

  it('without success_path the same answer is a missing balance, naming the path', async () => {
    const f = await fake();
    const e = await failure(
      httpJsonSource.poll({ url: `${f.url}/api/biz/account/query-customer-account-report`, headers: { Authorization: 'Bearer nope-nope-nope' }, balance_path: '$.data.availableBalance' }, ctx(), CNY),
    );
    expect(e.kind).toBe('bad_response');
    expect(e.message).toContain('balance_path "$.data.availableBalance" matches nothing in the answer (stopped at $.data)');
  });

  it('POST with a JSON body carrying the key; a filter picks the entry; currency_path; used_path', async () => {
    const f = await fake();
    const got = await httpJsonSource.poll(
      httpJsonSource.schema.parse({
        url: `${f.url}/balance`,
        method: 'post',
        body: JSON.stringify({ api_key: GENERIC_KEY }),
        balance_path: "$.data.items[?(@.currency == 'usd')].balance",
        currency_path: '$.data.items[0].currency',
        used_path: '$.data.used',
        success_path: '$.ok == true',
      }),
      ctx(),
      USD,
    );
    expect(got).toEqual({ balance: 7.5, used: 2.5, currency: 'USD', raw: { balance: '7.50', used: '2.50', currency: 'usd' } });
    expect(f.requests[0]).toMatchObject({ method: 'POST', path: '/balance', body: JSON.stringify({ api_key: GENERIC_KEY }) });
    expect(f.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('POST with a wrong key in the body → auth (HTTP 403), the key scrubbed', async () => {
    const f = await fake();
    const bad = 'gk-zzzzyyyyxxxxwwww1234';
    const e = await failure(httpJsonSource.poll({ url: `${f.url}/balance`, method: 'POST', body: `{"api_key":"${bad}"}`, balance_path: '$.x' }, ctx(), USD));
    expect(e.kind).toBe('auth');
    expect(e.extra.status).toBe(403);
    expect(e.message).toContain('HTTP 403: forbidden');
    expect(e.message).toContain("check the credentials in the source's headers and body");
  });

  it('cents with scale 0.01 and inverted-sign cents with scale -0.01', async () => {
    const f = await fake();
    f.state.custom = { status: 200, body: '{"total":{"val":"-25050"},"cents":1999}' };
    expect((await httpJsonSource.poll({ url: `${f.url}/custom`, balance_path: '$.cents', scale: 0.01 }, ctx(), USD)).balance).toBe(19.99);
    expect((await httpJsonSource.poll({ url: `${f.url}/custom`, balance_path: '$.total.val', scale: -0.01 }, ctx(), USD)).balance).toBe(250.5);
  });

  it.each<[string, string, Record<string, unknown>, SourceErrorKind, RegExp]>([
    ['balance not a number', '{"data":{"balance":"n/a"}}', { balance_path: '$.data.balance' }, 'bad_response', /balance_path "\$\.data\.balance" leads to "n\/a", which is not a number/],
    ['balance is an object', '{"data":{"balance":{"v":1}}}', { balance_path: '$.data.balance' }, 'bad_response', /leads to \{"v":1\}, which is not a number/],
    ['balance null', '{"balance":null}', { balance_path: 'balance' }, 'bad_response', /leads to null, which is not a number/],
    ['balance missing', '{"data":{}}', { balance_path: '$.data.balance' }, 'bad_response', /balance_path "\$\.data\.balance" matches nothing in the answer \(stopped at \$\.data\.balance\)/],
    ['ambiguous filter', '{"a":[{"c":"x","b":1},{"c":"x","b":2}]}', { balance_path: '$.a[?(@.c == "x")].b' }, 'bad_response', /is ambiguous: the filter at \$\.a\[\?\(@\.c == "x"\)\] matches 2 elements/],
    ['used missing', '{"b":1}', { balance_path: 'b', used_path: 'u' }, 'bad_response', /used_path "u" matches nothing/],
    ['currency a number', '{"b":1,"c":840}', { balance_path: 'b', currency_path: 'c' }, 'bad_response', /currency_path "c" leads to 840, not a currency code/],
    ['success condition not met, no auth words', '{"ok":false,"message":"maintenance until 10:00","b":1}', { balance_path: 'b', success_path: 'ok' }, 'bad_response', /answered without success: success_path "ok" is not met \(found false\): maintenance until 10:00$/],
    ['success path missing', '{"b":1}', { balance_path: 'b', success_path: '$.code == 0' }, 'bad_response', /success_path "\$\.code == 0" is not met \(nothing there\)/],
    ['success false saying the token is invalid', '{"success":false,"message":"invalid token"}', { balance_path: 'b', success_path: 'success' }, 'auth', /refused the request/],
    ['not JSON', 'OK 12.5', { balance_path: 'b' }, 'bad_response', /answered HTTP 200 with something that is not JSON \("OK 12\.5"\): check the source's url/],
  ])('%s → %s', async (_name, body, paths, kind, message) => {
    const f = await fake();
    f.state.custom = { status: 200, body };
    const e = await failure(httpJsonSource.poll({ url: `${f.url}/custom`, ...paths } as never, ctx(), USD));
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(message);
  });

  it.each<[string, number, string, Record<string, string>, SourceErrorKind, RegExp]>([
    ['401', 401, '{"message":"invalid api key"}', {}, 'auth', /refused the request \(HTTP 401: invalid api key\)/],
    ['403 empty', 403, '', {}, 'auth', /refused the request \(HTTP 403\)/],
    ['429 + Retry-After', 429, '', { 'retry-after': '11' }, 'rate_limited', /is rate limiting us \(HTTP 429\); will retry in 11 s/],
    ['404', 404, '{"error":"not found"}', {}, 'bad_response', /answered HTTP 404: not found: check the source's url and method/],
    ['503', 503, '{"error":{"message":"upstream down"}}', {}, 'bad_response', /answered HTTP 503: upstream down; will retry/],
  ])('status %s → %s', async (_name, status, body, headers, kind, message) => {
    const f = await fake();
    f.state.custom = { status, body, headers };
    const e = await failure(httpJsonSource.poll({ url: `${f.url}/custom`, balance_path: 'b' }, ctx(), USD));
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(message);
    expect(e.extra.status).toBe(status);
    if (kind === 'rate_limited') expect(e.extra.retryAfterMs).toBe(11_000);
  });

  it.each<[string, Parameters<FakeGeneric['set']>[0], SourceErrorKind, RegExp]>([
    ['429 with an empty body', 'rate_limited_empty', 'rate_limited', /HTTP 429\); will retry in 5 s/],
    ['500', 'error500', 'bad_response', /answered HTTP 500: internal error; will retry/],
    ['an HTML error page', 'html', 'bad_response', /answered HTTP 502: 502 Bad Gateway/],
    ['a cut JSON body', 'garbage', 'bad_response', /not JSON/],
  ])('forced %s → %s', async (_name, behaviour, kind, message) => {
    const f = await fake();
    f.set(behaviour, { retryAfter: '5' });
    const e = await failure(httpJsonSource.poll({ url: `${f.url}/v1/accounts`, headers: bearerHeaders, balance_path: 'balance' }, ctx(), USD));
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/^HTTP JSON source 127\.0\.0\.1:\d+ /);
  });

  it('an error answer echoing the credential: header values, bearer tokens, body strings and URL query values are scrubbed', async () => {
    const f = await fake();
    const token = 'tok_9Hq2Lm7Xv4Rb8Zc1Nd6Kw3Pj5';
    const bodyKey = 'bk_Ab12Cd34Ef56Gh78Ij90';
    const queryKey = 'qk_Zz99Yy88Xx77Ww66';
    f.state.custom = { status: 500, body: JSON.stringify({ message: `bad request: Bearer ${token} / ${bodyKey} / ${queryKey} / tok_9Hq2 / Pj5x` }) };
    const e = await failure(
      httpJsonSource.poll(
        { url: `${f.url}/custom?key=${queryKey}`, method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: JSON.stringify({ k: bodyKey }), balance_path: 'b' },
        ctx(),
        USD,
      ),
    );
    expect(e.kind).toBe('bad_response');
    for (const s of [token, bodyKey, queryKey]) {
      expect(e.message).not.toContain(s);
      expect(e.message).not.toContain(s.slice(0, 8));
      expect(e.message).not.toContain(s.slice(-6));
    }
    expect(e.message).toContain('bad request');
  });

  it('never answers → timeout within about the deadline; refused → unreachable', async () => {
    const f = await fake();
    f.set('hang');
    await expectTimeout((c) => httpJsonSource.poll({ url: `${f.url}/v1/accounts`, headers: bearerHeaders, balance_path: 'balance' }, c, USD), 'HTTP JSON source 127.0.0.1');
    const u = await failure(httpJsonSource.poll({ url: `${await deadUrl()}/x`, balance_path: 'b' }, ctx(), USD));
    expect(u.kind).toBe('unreachable');
    expect(u.message).toContain('HTTP JSON source 127.0.0.1');
  });

  it.each<[string, Record<string, unknown>, RegExp | null]>([
    ['minimal', { url: 'https://api.example.com/b', balance_path: '$.b' }, null],
    ['everything', { url: 'http://x.example/b', method: 'POST', headers: { 'X-Api-Key': 'k' }, body: '{}', balance_path: 'b', used_path: 'u', currency_path: 'c', scale: 0.0001, success_path: '$.code == 0' }, null],
    ['missing url', { balance_path: '$.b' }, /^url: /],
    ['ftp url', { url: 'ftp://x.example/b', balance_path: '$.b' }, /^url: url must be an http/],
    ['missing balance_path', { url: 'https://x.example' }, /^balance_path: balance_path is required/],
    ['bad balance_path', { url: 'https://x.example', balance_path: '$..b' }, /^balance_path: balance_path is not a supported JSON path: recursive descent/],
    ['bad used_path', { url: 'https://x.example', balance_path: 'b', used_path: '$.u[' }, /^used_path: used_path is not a supported JSON path/],
    ['bad success_path', { url: 'https://x.example', balance_path: 'b', success_path: '$.a = 1' }, /^success_path: success_path is not a supported JSON path: expected "=="/],
    ['method PUT', { url: 'https://x.example', balance_path: 'b', method: 'PUT' }, /^method: method must be GET or POST/],
    ['body with GET', { url: 'https://x.example', balance_path: 'b', body: '{}' }, /^body: body is only sent with method POST/],
    ['bad header name', { url: 'https://x.example', balance_path: 'b', headers: { 'Bad Header': 'x' } }, /not a valid HTTP header name/],
    ['header value with a line break', { url: 'https://x.example', balance_path: 'b', headers: { 'X-A': 'a\r\nX-B: b' } }, /line breaks/],
    ['Host header', { url: 'https://x.example', balance_path: 'b', headers: { host: 'evil.example' } }, /cannot set Host/],
    ['scale 0', { url: 'https://x.example', balance_path: 'b', scale: 0 }, /^scale: scale must be a non-zero number/],
    ['scale as a string', { url: 'https://x.example', balance_path: 'b', scale: '0.01' }, /^scale: scale must be a number/],
    ['an unknown field', { url: 'https://x.example', balance_path: 'b', api_key: 'x' }, /api_key/],
  ])('schema: %s', (_name, config, message) => {
    const got = schemaError(httpJsonSource, config);
    if (message === null) expect(got).toBeNull();
    else expect(got).toMatch(message);
  });

  it('host, secretFields, and the success_path syntax documented in the schema', () => {
    expect(httpJsonSource.host({ url: 'https://api.novita.ai/openapi/v1/billing/balance/detail', balance_path: 'b' })).toBe('api.novita.ai');
    expect(httpJsonSource.secretFields).toEqual(['headers', 'body']);
    const json = JSON.stringify(z.toJSONSchema(httpJsonSource.schema, { io: 'input', unrepresentable: 'any' }));
    expect(json).toContain('PATH == value');
  });
});
