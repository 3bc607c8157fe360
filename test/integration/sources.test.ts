import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases, freshPostgresUrl } from '../helpers/db.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// The poller end to end: a loopback provider that speaks DeepSeek's /user/balance, the real service polling it,
// source health alerts on a loopback webhook. Each API key is one account; its behaviour is set per key.

type Behaviour = { balance: string } | { status: number; body: string } | 'hang';

class FakeDeepSeek {
  readonly keys = new Map<string, Behaviour>();
  readonly hits = new Map<string, number>();
  private server: Server | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      this.hits.set(key, (this.hits.get(key) ?? 0) + 1);
      const b = this.keys.get(key);
      if (req.url !== '/user/balance' || !b) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'Authentication Fails, Your api key: ****abcd is invalid', type: 'authentication_error', param: null, code: 'invalid_request_error' } }));
        return;
      }
      if (b === 'hang') return;
      if ('status' in b) {
        res.writeHead(b.status, { 'content-type': 'application/json' });
        res.end(b.body);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ is_available: true, balance_infos: [{ currency: 'CNY', total_balance: b.balance, granted_balance: '0.00', topped_up_balance: b.balance }] }));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

async function until<T>(what: string, f: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.each(databases())('polled sources on %s', (db) => {
  let svc: Running;
  let rx: Receiver;
  let fake: FakeDeepSeek;
  let ws: string;

  beforeAll(async () => {
    rx = await new Receiver().start();
    fake = await new FakeDeepSeek().start();
    svc = await startService(db, { BALANCEWATCH_POLL_TIMEOUT: '1s' });
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Acme', notification_settings: { low_balance_threshold: 10, min_notify_interval: '0s' } });
    ws = w.body.id;
    const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'hook', type: 'webhook', url: `${rx.url}/hook` });
    expect(ch.status).toBe(201);
  });
  afterAll(async () => {
    await svc?.close();
    await rx?.close();
    await fake?.close();
  });

  const account = async (key: string, extra: object = {}) => {
    const r = await svc.api('POST', '/api/v1/accounts', {
      workspace_id: ws,
      name: `acct ${key.length}-${Math.random().toString(36).slice(2, 8)}`, // never the key itself
      currency: 'CNY',
      source: { type: 'deepseek', api_key: key, base_url: fake.url, interval: '1h', ...extra },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  const events = (id: string) => rx.received.filter((r) => r.body?.account?.id === id).map((r) => r.event);

  it('polls a new account at once, stores the balance, and masks the key', async () => {
    fake.keys.set('sk-good-000000000001', { balance: '42.50' });
    const a = await account('sk-good-000000000001');
    expect(a.source.api_key).not.toContain('good');
    expect(JSON.stringify(a)).not.toContain('sk-good-000000000001');
    expect(a.source.interval).toBe('1h');
    const polled = await until('the first poll', async () => {
      const g = await svc.api('GET', `/api/v1/accounts/${a.id}`);
      return g.body.balance !== null ? g.body : null;
    });
    expect(polled.balance).toBe(42.5);
    expect(polled.currency).toBe('CNY');
    expect(polled.source.status.failures).toBe(0);
    expect(polled.source.status.last_error).toBeNull();
    expect(polled.source.status.next_poll_at).not.toBeNull();
    // The next scheduled poll is about an hour away (±10% jitter).
    const next = Date.parse(polled.source.status.next_poll_at) - Date.now();
    expect(next).toBeGreaterThan(50 * 60_000);
    expect(next).toBeLessThan(67 * 60_000);
  });

  it('POST /poll polls now and answers {ok, balance, currency}; a low balance alerts once', async () => {
    fake.keys.set('sk-low-0000000000002', { balance: '30.00' });
    const a = await account('sk-low-0000000000002');
    fake.keys.set('sk-low-0000000000002', { balance: '3.20' });
    const r = await svc.api('POST', `/api/v1/accounts/${a.id}/poll`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, balance: 3.2, currency: 'CNY' });
    await until('balance.low', () => events(a.id).includes('balance.low'));
    await svc.api('POST', `/api/v1/accounts/${a.id}/poll`);
    await sleep(300);
    expect(events(a.id).filter((e) => e === 'balance.low')).toHaveLength(1);
  });

  it('a revoked key raises source.failing at once, and never a balance alert', async () => {
    fake.keys.set('sk-revoked-000000003', { balance: '50.00' });
    const a = await account('sk-revoked-000000003');
    await until('first poll', async () => (await svc.api('GET', `/api/v1/accounts/${a.id}`)).body.balance === 50);
    fake.keys.delete('sk-revoked-000000003'); // the provider now answers 401
    const r = await svc.api('POST', `/api/v1/accounts/${a.id}/poll`);
    expect(r.body.ok).toBe(false);
    expect(r.body.error.kind).toBe('auth');
    expect(r.body.error.message).not.toContain('sk-revoked');
    const failing = await until('source.failing', () => rx.received.find((x) => x.body?.account?.id === a.id && x.event === 'source.failing'));
    expect(failing.body.message.text).toMatch(/DeepSeek/);
    const g = await svc.api('GET', `/api/v1/accounts/${a.id}`);
    expect(g.body.balance).toBe(50); // a failed poll never changes the balance state
    expect(g.body.source.status.last_error.kind).toBe('auth');
    expect(g.body.source.status.failures).toBe(1);
    // Fixed: the next success resolves it.
    fake.keys.set('sk-revoked-000000003', { balance: '49.00' });
    expect((await svc.api('POST', `/api/v1/accounts/${a.id}/poll`)).body.ok).toBe(true);
    await until('source.recovered', () => events(a.id).includes('source.recovered'));
    expect(events(a.id).filter((e) => e.startsWith('balance.'))).toEqual([]);
  });

  it('other failures raise source.failing only after fail_after in a row; errors come back classified', async () => {
    fake.keys.set('sk-flaky-00000000004', { balance: '80.00' });
    const a = await account('sk-flaky-00000000004', { fail_after: 3 });
    await until('first poll', async () => (await svc.api('GET', `/api/v1/accounts/${a.id}`)).body.balance === 80);
    fake.keys.set('sk-flaky-00000000004', { status: 500, body: '{"error":{"message":"internal"}}' });
    const kinds: string[] = [];
    for (let i = 0; i < 2; i++) kinds.push((await svc.api('POST', `/api/v1/accounts/${a.id}/poll`)).body.error.kind);
    await sleep(300);
    expect(events(a.id)).toEqual([]);
    fake.keys.set('sk-flaky-00000000004', 'hang');
    const started = Date.now();
    const t = await svc.api('POST', `/api/v1/accounts/${a.id}/poll`);
    expect(t.body.error.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(5000);
    kinds.push(t.body.error.kind);
    expect(kinds).toEqual(['bad_response', 'bad_response', 'timeout']);
    const failing = await until('source.failing', () => rx.received.find((x) => x.body?.account?.id === a.id && x.event === 'source.failing'));
    expect(failing.body.balance).toBe(80);
    expect(events(a.id).filter((e) => e.startsWith('balance.'))).toEqual([]);
  });

  it('rejects bad source fields with the path, and a push account cannot be polled', async () => {
    const bad = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'x', source: { type: 'deepseek', api_key: 'k', interval: '10s' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/body\.source\.interval: must be at least 1m/);
    const unknown = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'x', source: { type: 'nope' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unsupported_source');
    const push = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'p', source: { type: 'push' } });
    const r = await svc.api('POST', `/api/v1/accounts/${push.body.id}/poll`);
    expect(r.status).toBe(409);
  });

  it('a push account silent past expected_every raises source.failing; the next sample resolves it', async () => {
    const p = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'pushy', source: { type: 'push', expected_every: '1h' } });
    expect(p.status).toBe(201);
    expect(p.body.source).toEqual({ type: 'push', expected_every: '1h' });
    // Pretend it was created two hours ago.
    await svc.service.store.db.updateTable('accounts').set({ created_at: Date.now() - 2 * 3_600_000 }).where('id', '=', p.body.id).execute();
    const failing = await until('source.failing (silence)', () => rx.received.find((x) => x.body?.account?.id === p.body.id && x.event === 'source.failing'), 25_000);
    expect(failing.body.message.text).toMatch(/expected at least every 1h/);
    await svc.api('POST', '/api/v1/balances', { samples: [{ account: p.body.id, balance: 100 }] });
    await until('source.recovered', () => events(p.body.id).includes('source.recovered'));
  });
});

describe.runIf(databases().includes('postgres'))('two instances on one PostgreSQL', () => {
  it('never poll the same account twice for one due time', async () => {
    const fake = await new FakeDeepSeek().start();
    const url = await freshPostgresUrl();
    const env = { DATABASE_URL: url, BALANCEWATCH_SECRET_KEY: 'two-instances-secret-key-0123456789' };
    const a = await startService('postgres', env);
    const b = await startService('postgres', env);
    try {
      const w = await a.api('POST', '/api/v1/workspaces', { name: 'Two' });
      // Stop both pollers while the accounts are created, so both race for the same due accounts afterwards.
      await a.service.poller.stop();
      await b.service.poller.stop();
      const keys = Array.from({ length: 40 }, (_, i) => `sk-two-${String(i).padStart(12, '0')}`);
      for (const k of keys) {
        fake.keys.set(k, { balance: '100.00' });
        const r = await a.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: k, currency: 'CNY', source: { type: 'deepseek', api_key: k, base_url: fake.url, interval: '1h' } });
        expect(r.status).toBe(201);
      }
      a.service.poller.start();
      b.service.poller.start();
      await until('every account polled', () => keys.every((k) => (fake.hits.get(k) ?? 0) >= 1), 30_000);
      await sleep(1500);
      expect(keys.map((k) => fake.hits.get(k))).toEqual(keys.map(() => 1));
    } finally {
      await a.close();
      await b.close();
      await fake.close();
    }
  });
});
