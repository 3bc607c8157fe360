import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

const SECRET = 'whsec_test_secret';

function verifySignature(raw: string, header: string | undefined): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const mac = createHmac('sha256', SECRET).update(`${m[1]}.${raw}`).digest('hex');
  return mac === m[2] && Math.abs(Date.now() / 1000 - Number(m[1])) < 60;
}

describe.each(databases())('alert flow over HTTP on %s', (db) => {
  let svc: Running;
  let rx: Receiver;
  let ws: string;

  beforeAll(async () => {
    rx = await new Receiver().start();
    svc = await startService(db);
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Acme', external_id: 'acme' });
    expect(w.status).toBe(201);
    ws = w.body.id;
    const s = await svc.api('PATCH', `/api/v1/workspaces/${ws}/notification-settings`, {
      levels: [
        { level: 'warning', below: 20 },
        { level: 'critical', below: 5 },
      ],
      min_notify_interval: '0s',
    });
    expect(s.status).toBe(200);
    expect(s.body.low_balance_threshold).toBe(20);
    const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'ops hook', type: 'webhook', url: `${rx.url}/hook`, secret: SECRET });
    expect(ch.status).toBe(201);
    expect(ch.body.secret).not.toContain('secret'); // masked
  });
  afterAll(async () => {
    await svc?.close();
    await rx?.close();
  });

  const newAccount = async (name: string, extra: object = {}) => {
    const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name, external_id: name, currency: 'USD', ...extra });
    expect(a.status).toBe(201);
    return a.body.id as string;
  };
  const push = (account: string, balance: number, atSec: number) =>
    svc.api('POST', '/api/v1/balances', { samples: [{ account, balance, at: atSec }] });
  const forAccount = (id: string) => rx.received.filter((r) => r.body?.account?.id === id);

  it('turns 50, 15, 14, 3, 4, 60, 19, 18 into exactly warning, critical, recovered, warning — signed, unique keys', async () => {
    const id = await newAccount('main');
    const t0 = Math.floor(Date.now() / 1000) - 100;
    const seq = [50, 15, 14, 3, 4, 60, 19, 18];
    for (const [i, b] of seq.entries()) {
      const r = await push(id, b, t0 + i);
      expect(r.status).toBe(200);
      expect(r.body.results[0].result).toBe('applied');
    }
    await sleep(300);
    const deadline = Date.now() + 5000;
    while (forAccount(id).length < 4 && Date.now() < deadline) await sleep(50);
    await sleep(500); // nothing more may arrive
    const got = forAccount(id);
    expect(got.map((r) => [r.body.type, r.body.level])).toEqual([
      ['balance.low', 'warning'],
      ['balance.low', 'critical'],
      ['balance.recovered', null],
      ['balance.low', 'warning'],
    ]);
    for (const r of got) {
      expect(verifySignature(r.raw, r.headers['x-balancewatch-signature'] as string)).toBe(true);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-balancewatch-event']).toBe(r.body.type);
      expect(r.headers['x-balancewatch-delivery']).toBe(r.body.id);
      expect(r.body.workspace).toEqual({ id: ws, name: 'Acme', external_id: 'acme' });
      expect(r.body.currency).toBe('USD');
      expect(typeof r.body.message.title).toBe('string');
    }
    expect(new Set(got.map((r) => r.headers['x-balancewatch-delivery'])).size).toBe(4);
    expect(got.map((r) => [r.body.balance, r.body.threshold])).toEqual([
      [15, 20],
      [3, 5],
      [60, 22],
      [19, 20],
    ]);
    const alerts = await svc.api('GET', `/api/v1/alerts?workspace_id=${ws}&state=firing&account_id=${id}`);
    expect(alerts.body.data).toHaveLength(1);
    expect(alerts.body.data[0]).toMatchObject({ state: 'firing', level: 'warning', episode: 2 });
    const del = await svc.api('GET', `/api/v1/deliveries?workspace_id=${ws}&account_id=${id}`);
    expect(del.body.data).toHaveLength(4);
    expect(del.body.data.every((d: any) => d.status === 'delivered' && d.attempt_log.length === 1)).toBe(true);
  });

  it('alerts on a new account whose first sample is already low, by external id', async () => {
    const id = await newAccount('fresh');
    const r = await svc.api('POST', '/api/v1/balances', { samples: [{ account: 'fresh', workspace: 'acme', balance: '2.40' }] });
    expect(r.status).toBe(200);
    expect(r.body.results[0]).toMatchObject({ account_id: id, result: 'applied', alert: { status: 'firing', level: 'critical' } });
    await rx.waitFor(1);
    const deadline = Date.now() + 5000;
    while (forAccount(id).length < 1 && Date.now() < deadline) await sleep(50);
    expect(forAccount(id).map((x) => [x.body.type, x.body.level, x.body.balance])).toEqual([['balance.low', 'critical', 2.4]]);
  });

  it('ignores an older sample and a repeated one', async () => {
    const id = await newAccount('order');
    const t = Math.floor(Date.now() / 1000) - 50;
    expect((await push(id, 50, t)).body.results[0].result).toBe('applied');
    const older = await push(id, 1, t - 10);
    expect(older.body.results[0]).toMatchObject({ result: 'stale', alert: null });
    const again = await push(id, 1, t);
    expect(again.body.results[0]).toMatchObject({ result: 'duplicate' });
    const acc = await svc.api('GET', `/api/v1/accounts/${id}`);
    expect(acc.body.balance).toBe(50);
    expect(acc.body.alert.status).toBe('ok');
    await sleep(400);
    expect(forAccount(id)).toHaveLength(0);
  });

  it('re-evaluates the latest balance when the threshold changes', async () => {
    const id = await newAccount('rethink');
    await push(id, 30, Math.floor(Date.now() / 1000) - 5);
    const p = await svc.api('PATCH', `/api/v1/accounts/${id}`, { rules: { levels: [{ level: 'warning', below: 40 }] } });
    expect(p.status).toBe(200);
    expect(p.body.alert).toMatchObject({ status: 'firing', level: 'warning' });
    const deadline = Date.now() + 5000;
    while (forAccount(id).length < 1 && Date.now() < deadline) await sleep(50);
    expect(forAccount(id).map((x) => [x.body.type, x.body.threshold])).toEqual([['balance.low', 40]]);
  });

  it('defers a re-breach inside the anti-spam floor to the end of the floor', async () => {
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Floor', notification_settings: { low_balance_threshold: 10, min_notify_interval: '4s' } });
    const rx2 = await new Receiver().start();
    try {
      await svc.api('POST', '/api/v1/channels', { workspace_id: w.body.id, name: 'h', type: 'webhook', url: rx2.url });
      const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'floor' });
      const id = a.body.id;
      const t = Math.floor(Date.now() / 1000) - 20;
      await push(id, 5, t);
      const first = (await rx2.waitFor(1))[0]!;
      await push(id, 50, t + 1); // recovered (a different event: not held by the floor)
      await rx2.waitFor(2);
      await push(id, 5, t + 2); // re-breach within 4 s of the first low
      await rx2.waitFor(3, 8000);
      const third = rx2.received[2]!;
      expect(rx2.received.map((r) => r.body.type)).toEqual(['balance.low', 'balance.recovered', 'balance.low']);
      expect(third.at - first.at).toBeGreaterThanOrEqual(3900);
      expect(third.headers['x-balancewatch-delivery']).not.toBe(first.headers['x-balancewatch-delivery']);
    } finally {
      await rx2.close();
    }
  });
});
