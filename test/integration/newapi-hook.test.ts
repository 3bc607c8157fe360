import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOOK_RATE_LIMIT } from '../../src/http/routes/hooks.js';
import { databases } from '../helpers/db.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { ADMIN_KEY, type Running, startService } from '../helpers/service.js';

// The new-api webhook relay (issue #3 point 6): new-api's own per-user "quota_exceed" webhook, pointed at
// POST /api/v1/hooks/newapi/{token}, becomes a balance sample of the mapped account, and the account's rules decide.
// new-api re-sends it on every request below its threshold (at most ~2 per 10 minutes): only the first crossing of
// each level may notify.

const SECRET = 'newapi-webhook-secret';
const TOPUP = 'https://relay.example.com/console/topup';

/** The body exactly as new-api builds it (service/webhook.go): values substituted into content in order, then Go's
 * json.Marshal — fields in struct order, no spaces, and <, >, & escaped as \u003c, \u003e, \u0026. */
function newApiBody(figure: string, timestamp: number, type = 'quota_exceed'): string {
  const title = '您的额度即将用尽';
  const template = '{{value}}，当前剩余额度为 {{value}}，为了不影响您的使用，请及时充值。<br/>充值链接：<a href=\'{{value}}\'>{{value}}</a>';
  const values = [title, figure, TOPUP, TOPUP];
  let content = template;
  for (const v of values) content = content.replace('{{value}}', v);
  return JSON.stringify({ type, title, content, values, timestamp })
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026');
}

/** new-api's generateSignature: hex HMAC-SHA256 of the raw body keyed by the secret. */
const sign = (raw: string, secret = SECRET) => createHmac('sha256', secret).update(raw).digest('hex');

describe.each(databases())('new-api webhook relay on %s', (db) => {
  let svc: Running;
  let rx: Receiver;
  let ws: string;
  let otherKey: string;
  let ownKey: string;

  const nowS = () => Math.floor(Date.now() / 1000);

  /** POSTs a raw body to a hook path the way new-api does (no API key). */
  const deliver = async (path: string, raw: string, headers: Record<string, string> = {}) => {
    const res = await fetch(svc.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, body, headers: res.headers };
  };
  const pathOf = (url: string) => new URL(url).pathname;

  const newAccount = async (name: string, extra: object = {}) => {
    const a = await svc.api('POST', '/api/v1/accounts', {
      workspace_id: ws,
      name,
      currency: 'USD',
      // Levels 10 (warning) and 2 (critical); no anti-spam floor, so only the state machine stands between new-api's
      // repeats and the receiver; forecasts off so that a fast-falling test balance raises nothing else.
      rules: {
        levels: [
          { level: 'warning', below: 10 },
          { level: 'critical', below: 2 },
        ],
        min_notify_interval: '0s',
        notify_runway: false,
        notify_spike: false,
      },
      ...extra,
    });
    expect(a.status).toBe(201);
    return a.body.id as string;
  };
  const createHook = async (account: string, body?: object, key?: string) => {
    const r = await svc.api('POST', `/api/v1/accounts/${account}/hooks/newapi`, body, key);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { url: string; token: string; secret?: string };
  };
  const account = async (id: string) => (await svc.api('GET', `/api/v1/accounts/${id}`)).body;
  const forAccount = (id: string) => rx.received.filter((r) => r.body?.account?.id === id);

  beforeAll(async () => {
    rx = await new Receiver().start();
    svc = await startService(db);
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Relay users' });
    expect(w.status).toBe(201);
    ws = w.body.id;
    const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'ops', type: 'webhook', url: `${rx.url}/hook` });
    expect(ch.status).toBe(201);
    const own = await svc.api('POST', `/api/v1/workspaces/${ws}/api-keys`, { name: 'own' });
    ownKey = own.body.key;
    const other = await svc.api('POST', '/api/v1/workspaces', { name: 'Someone else' });
    const k = await svc.api('POST', `/api/v1/workspaces/${other.body.id}/api-keys`, { name: 'other' });
    expect(k.status).toBe(201);
    otherKey = k.body.key;
  });
  afterAll(async () => {
    await svc?.close();
    await rx?.close();
  });

  describe('a hook with a secret', () => {
    let id: string;
    let hook: { url: string; token: string; secret?: string };
    let path: string;
    const t0 = nowS() - 3600;

    beforeAll(async () => {
      id = await newAccount('main');
      hook = await createHook(id, { secret: SECRET }, ownKey);
      path = pathOf(hook.url);
    });

    it('answers the URL (on this host), the token and the secret once', async () => {
      expect(hook.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(hook.url).toBe(`${svc.url}/api/v1/hooks/newapi/${hook.token}`);
      expect(hook.secret).toBe(SECRET);
      const a = await account(id);
      expect(a.hook).toEqual({ newapi: true });
      const list = await svc.api('GET', `/api/v1/accounts?workspace_id=${ws}`);
      for (const text of [JSON.stringify(a), JSON.stringify(list.body)]) {
        expect(text).not.toContain(hook.token);
        expect(text).not.toContain(SECRET);
      }
    });

    it("applies new-api's signed quota_exceed body as a sample and notifies exactly once", async () => {
      const raw = newApiBody('＄8.000000', t0);
      const r = await deliver(path, raw, { 'x-webhook-signature': sign(raw) });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toEqual({ ok: true, applied: true, balance: 8, currency: 'USD', alert: { status: 'firing', level: 'warning' } });
      await rx.waitFor(1);
      await sleep(300);
      expect(forAccount(id).map((x) => [x.body.type, x.body.level, x.body.balance, x.body.threshold])).toEqual([['balance.low', 'warning', 8, 10]]);
      const a = await account(id);
      expect(a.balance).toBe(8);
      expect(a.observed_at).toBe(new Date(t0 * 1000).toISOString());
    });

    it("new-api's repeats (level-triggered, lower each time, above the next level) notify nobody", async () => {
      for (const [i, b] of [7.9, 7.8, 7.6, 7.5, 7.2].entries()) {
        const raw = newApiBody(`＄${b.toFixed(6)}`, t0 + 300 * (i + 1));
        const r = await deliver(path, raw, { 'x-webhook-signature': sign(raw) });
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ applied: true, balance: b, alert: { status: 'firing', level: 'warning' } });
      }
      await sleep(800);
      expect(forAccount(id)).toHaveLength(1);
      expect((await account(id)).balance).toBe(7.2);
      const d = await svc.api('GET', `/api/v1/deliveries?workspace_id=${ws}&account_id=${id}`);
      expect(d.body.data).toHaveLength(1);
    });

    it('the same call twice (same timestamp) is a no-op', async () => {
      const raw = newApiBody('＄7.200000', t0 + 1500); // the last repeat again
      const r = await deliver(path, raw, { 'x-webhook-signature': sign(raw) });
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ ok: true, applied: false, result: 'duplicate' });
    });

    it('a drop below the next level notifies once more (critical)', async () => {
      const raw = newApiBody('＄1.500000', t0 + 2100);
      const r = await deliver(path, raw, { 'x-webhook-signature': sign(raw) });
      expect(r.body).toMatchObject({ applied: true, balance: 1.5, alert: { status: 'firing', level: 'critical' } });
      const deadline = Date.now() + 5000;
      while (forAccount(id).length < 2 && Date.now() < deadline) await sleep(25);
      for (const [i, b] of [1.4, 1.3].entries()) {
        const again = newApiBody(`＄${b.toFixed(6)}`, t0 + 2400 + 300 * i);
        expect((await deliver(path, again, { 'x-webhook-signature': sign(again) })).status).toBe(200);
      }
      await sleep(600);
      expect(forAccount(id).map((x) => [x.body.type, x.body.level])).toEqual([
        ['balance.low', 'warning'],
        ['balance.low', 'critical'],
      ]);
    });

    it("accepts the proxy mode's Authorization: Bearer <secret>", async () => {
      const raw = newApiBody('＄1.200000', t0 + 3000);
      const r = await deliver(path, raw, { authorization: `Bearer ${SECRET}` });
      expect(r.status).toBe(200);
      expect(r.body.balance).toBe(1.2);
    });

    it('refuses a bad or missing signature (401) and changes nothing', async () => {
      const before = await account(id);
      const raw = newApiBody('＄50.000000', t0 + 3300);
      const cases: Record<string, string>[] = [
        {},
        { 'x-webhook-signature': sign(raw, 'wrong-secret') },
        { 'x-webhook-signature': sign(`${raw} `) },
        { 'x-webhook-signature': 'not-hex' },
        { 'x-webhook-signature': sign(raw).slice(0, 63) },
        { authorization: 'Bearer wrong-secret' },
        { authorization: `Bearer ${ADMIN_KEY}` }, // an API key is not the hook's secret
      ];
      for (const h of cases) {
        const r = await deliver(path, raw, h);
        expect(r.status, JSON.stringify(h)).toBe(401);
        expect(r.body.error.code).toBe('unauthorized');
        expect(r.body.error.message).toMatch(/secret/);
      }
      // A body changed after signing: the signature is over the raw bytes.
      const tampered = raw.replace('50.000000', '99.000000');
      expect((await deliver(path, tampered, { 'x-webhook-signature': sign(raw) })).status).toBe(401);
      await sleep(200);
      expect(await account(id)).toEqual(before);
      expect(forAccount(id)).toHaveLength(2);
    });

    it('answers 404 for an unknown token, with or without an API key, saying nothing about accounts', async () => {
      const raw = newApiBody('＄5.000000', nowS());
      for (const p of ['/api/v1/hooks/newapi/nope', `/api/v1/hooks/newapi/${hook.token.slice(0, -1)}x`, `/api/v1/hooks/newapi/${'A'.repeat(43)}`]) {
        const r = await deliver(p, raw, { 'x-webhook-signature': sign(raw) });
        expect(r.status, p).toBe(404);
        expect(r.body.error.code).toBe('not_found');
        expect(r.body.error.message).not.toContain(id);
      }
      const withKey = await deliver('/api/v1/hooks/newapi/nope', raw, { authorization: `Bearer ${ownKey}` });
      expect(withKey.status).toBe(404);
    });

    it('rejects hostile bodies with 400 (after authentication) and changes nothing', async () => {
      const before = await account(id);
      const ts = t0 + 3400;
      const base = { type: 'quota_exceed', title: 't', content: '当前剩余额度为 ＄0.100000，', values: [], timestamp: ts };
      const bodies: [string, string][] = [
        ['empty', ''],
        ['not JSON', '{"type":'],
        ['an array', '[]'],
        ['a string', '"quota_exceed"'],
        ['null', 'null'],
        ['no type', JSON.stringify({ ...base, type: undefined })],
        ['type not a string', JSON.stringify({ ...base, type: 7 })],
        ['content not a string', JSON.stringify({ ...base, content: { $gt: '' } })],
        ['content over 10 KB', JSON.stringify({ ...base, content: `当前剩余额度为 ＄0.1，${'x'.repeat(11_000)}` })],
        ['title over 10 KB', JSON.stringify({ ...base, title: 'x'.repeat(11_000) })],
        ['21 values', JSON.stringify({ ...base, values: Array.from({ length: 21 }, () => 'v') })],
        ['a nested value', JSON.stringify({ ...base, values: [{ a: 1 }] })],
        ['values not an array', JSON.stringify({ ...base, values: 'x' })],
        ['no timestamp', JSON.stringify({ ...base, timestamp: undefined })],
        ['timestamp as a string', JSON.stringify({ ...base, timestamp: String(ts) })],
        ['timestamp in ms', JSON.stringify({ ...base, timestamp: ts * 1000 })],
        ['timestamp before 2000', JSON.stringify({ ...base, timestamp: 5 })],
        ['huge number', `{"type":"quota_exceed","title":"","content":"","values":[],"timestamp":1e999}`],
      ];
      for (const [what, raw] of bodies) {
        const r = await deliver(path, raw, { 'x-webhook-signature': sign(raw) });
        expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(400);
        expect(['invalid_json', 'invalid_request']).toContain(r.body.error.code);
      }
      const big = JSON.stringify({ ...base, values: Array.from({ length: 20 }, () => 'x'.repeat(5000)) });
      expect((await deliver(path, big, { 'x-webhook-signature': sign(big) })).status).toBe(413);
      const text = await fetch(svc.url + path, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
      expect(text.status).toBe(415);
      // Without the secret, garbage is refused as unauthenticated before it is looked at.
      expect((await deliver(path, '{"type":')).status).toBe(401);
      await sleep(200);
      expect(await account(id)).toEqual(before);
      expect(forAccount(id)).toHaveLength(2);
    });

    it('accepts other notification types and unreadable figures with 202, recording no balance', async () => {
      const before = await account(id);
      const other = newApiBody('＄0.010000', t0 + 3500, 'channel_update');
      const r1 = await deliver(path, other, { 'x-webhook-signature': sign(other) });
      expect(r1.status).toBe(202);
      expect(r1.body).toEqual({ ok: true, applied: false, reason: expect.stringContaining('channel_update') });
      for (const figure of ['◎0.010000', '¥0.070000', '¤0.010000']) {
        const raw = newApiBody(figure, t0 + 3500);
        const r = await deliver(path, raw, { 'x-webhook-signature': sign(raw) });
        expect(r.status, figure).toBe(202);
        expect(r.body).toEqual({ ok: true, applied: false, reason: expect.any(String) });
      }
      expect(await account(id)).toEqual(before);
    });

    it("another workspace's key can neither create, rotate nor remove the hook (404), which keeps working", async () => {
      for (const [method, body] of [
        ['POST', { secret: 'mine now' }],
        ['POST', {}],
        ['DELETE', undefined],
      ] as const) {
        const r = await svc.api(method, `/api/v1/accounts/${id}/hooks/newapi`, body, otherKey);
        expect(r.status).toBe(404);
        expect(r.body.error.code).toBe('not_found');
      }
      const raw = newApiBody('＄1.100000', t0 + 3550);
      const r = await deliver(path, raw, { 'x-webhook-signature': sign(raw) });
      expect(r.status).toBe(200);
    });

    it('rotation: a new token (and secret) replaces the old URL; the secret is never shown again', async () => {
      const next = await createHook(id, { generate_secret: true });
      expect(next.token).not.toBe(hook.token);
      expect(next.secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const raw = newApiBody('＄1.000000', t0 + 3560);
      expect((await deliver(path, raw, { 'x-webhook-signature': sign(raw) })).status).toBe(404);
      expect((await deliver(pathOf(next.url), raw, { 'x-webhook-signature': sign(raw) })).status).toBe(401); // old secret
      const r = await deliver(pathOf(next.url), raw, { 'x-webhook-signature': sign(raw, next.secret) });
      expect(r.status).toBe(200);
      const text = JSON.stringify(await account(id));
      expect(text).not.toContain(next.token);
      expect(text).not.toContain(next.secret!);
      expect(
        (await svc.api('POST', `/api/v1/accounts/${id}/hooks/newapi`, { secret: 'a', generate_secret: true })).status,
      ).toBe(400);
      // Removal: the URL stops working and the account says so.
      expect((await svc.api('DELETE', `/api/v1/accounts/${id}/hooks/newapi`)).status).toBe(204);
      expect((await svc.api('DELETE', `/api/v1/accounts/${id}/hooks/newapi`)).status).toBe(204);
      expect((await account(id)).hook).toEqual({ newapi: false });
      const later = newApiBody('＄0.900000', t0 + 3570);
      expect((await deliver(pathOf(next.url), later, { 'x-webhook-signature': sign(later, next.secret) })).status).toBe(404);
    });
  });

  describe('a hook without a secret', () => {
    it('needs only the URL, reads raw quota units, and caps a future timestamp to now', async () => {
      const id = await newAccount('tokens', { quota_per_unit: 100_000 });
      const hook = await createHook(id);
      expect(hook.secret).toBeUndefined();
      const before = Date.now();
      const raw = newApiBody('450000', nowS() + 3600);
      const r = await deliver(pathOf(hook.url), raw);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ applied: true, balance: 4.5, alert: { status: 'firing', level: 'warning' } });
      const a = await account(id);
      const at = Date.parse(a.observed_at);
      expect(at).toBeGreaterThanOrEqual(before - 1000);
      expect(at).toBeLessThanOrEqual(Date.now());
      // A signature header sent anyway is ignored.
      await sleep(5);
      const again = newApiBody('400000', nowS() + 3600);
      const r2 = await deliver(pathOf(hook.url), again, { 'x-webhook-signature': 'whatever' });
      expect(r2.status).toBe(200);
      expect(r2.body.balance).toBe(4);
    });

    it(`rate-limits one token to ${HOOK_RATE_LIMIT} calls a minute (429 with Retry-After)`, async () => {
      const id = await newAccount('busy');
      const hook = await createHook(id);
      const raw = newApiBody('＄5.000000', nowS(), 'other');
      const statuses: number[] = [];
      for (let i = 0; i < HOOK_RATE_LIMIT; i++) statuses.push((await deliver(pathOf(hook.url), raw)).status);
      expect(statuses.every((s) => s === 202)).toBe(true);
      const over = await deliver(pathOf(hook.url), raw);
      expect(over.status).toBe(429);
      expect(over.body.error.code).toBe('rate_limited');
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      // Other tokens are not affected.
      const other = await createHook(await newAccount('calm'));
      expect((await deliver(pathOf(other.url), raw)).status).toBe(202);
    });

    it('is documented in the OpenAPI document as taking no API key', async () => {
      const doc = (await svc.api('GET', '/api/openapi.json', undefined, null)).body;
      expect(doc.paths['/api/v1/hooks/newapi/{token}'].post.security).toEqual([]);
      expect(Object.keys(doc.paths['/api/v1/accounts/{id}/hooks/newapi']).sort()).toEqual(['delete', 'post']);
    });

    it('uses BALANCEWATCH_PUBLIC_URL for the URL when set', async () => {
      const s2 = await startService('sqlite', { BALANCEWATCH_PUBLIC_URL: 'https://bw.example.com/watch/' });
      try {
        const w = await s2.api('POST', '/api/v1/workspaces', { name: 'p' });
        const a = await s2.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'p' });
        const h = await s2.api('POST', `/api/v1/accounts/${a.body.id}/hooks/newapi`);
        expect(h.status).toBe(201);
        expect(h.body.url).toBe(`https://bw.example.com/watch/api/v1/hooks/newapi/${h.body.token}`);
      } finally {
        await s2.close();
      }
    });
  });
});
