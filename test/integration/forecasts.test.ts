import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// SPEC §3.2 end to end: history pushed over HTTP, forecasts on the account read and in /metrics, runway and spike
// alerts through a webhook.

const HOUR = 3600;

describe.each(databases())('forecasts on %s', (db) => {
  let svc: Running;
  let rx: Receiver;
  let ws: string;

  beforeAll(async () => {
    rx = await new Receiver().start();
    svc = await startService(db);
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Forecasts', notification_settings: { min_notify_interval: '0s' } });
    ws = w.body.id;
    await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'hook', type: 'webhook', url: rx.url });
  });
  afterAll(async () => {
    await svc?.close();
    await rx?.close();
  });

  const account = async (name: string, currency = 'CNY') => (await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name, currency })).body.id as string;
  const push = async (samples: object[]) => {
    const r = await svc.api('POST', '/api/v1/balances', { samples });
    expect(r.status).toBe(200);
    return r.body;
  };
  const eventsFor = (id: string) => rx.received.filter((r) => r.body?.account?.id === id);
  const settle = async (id: string, n: number) => {
    const until = Date.now() + 5000;
    while (eventsFor(id).length < n && Date.now() < until) await sleep(50);
    await sleep(300);
    return eventsFor(id);
  };

  it('an account spending 6/h with 284 left raises one runway alert (≈ 2 days); a top-up past 3.6 days resolves it', async () => {
    const id = await account('DeepSeek prod');
    const now = Math.floor(Date.now() / 1000);
    // Ten hours of history, a sample every 30 minutes, 3 spent per sample: 6/h, ending at 284.
    const history = Array.from({ length: 21 }, (_, i) => ({ account: id, balance: 344 - 3 * i, at: now - 10 * HOUR + i * 1800 - 60 }));
    await push(history);
    const acc = (await svc.api('GET', `/api/v1/accounts/${id}`)).body;
    expect(acc.balance).toBe(284);
    expect(acc.spend_per_day).toBeCloseTo(144, 0);
    expect(acc.runway_days).toBeCloseTo(284 / 144, 1);
    expect(acc.suggested_threshold).toBeGreaterThanOrEqual(3 * acc.spend_per_day);
    expect(acc.suggested_threshold).toBeLessThanOrEqual(7 * acc.spend_per_day);
    let got = await settle(id, 1);
    expect(got.map((r) => r.body.type)).toEqual(['balance.runway_low']);
    // It fires at the first sample with enough history (an hour, three samples), when the runway was already < 3 days.
    expect(got[0]!.body.runway_days).toBeLessThan(3);
    expect(got[0]!.body.runway_days).toBeCloseTo(got[0]!.body.balance / 144, 1);
    expect(got[0]!.body.spend_per_day).toBeCloseTo(144, 0);
    expect(got[0]!.body.message.text).toContain('144.00/day');

    // More of the same spending: still one alert.
    await push([{ account: id, balance: 281, at: now - 30 }]);
    // Top-up to 600: 600 / 144 ≈ 4.2 days > 3.6.
    await push([{ account: id, balance: 600, at: now - 10 }]);
    got = await settle(id, 2);
    expect(got.map((r) => r.body.type)).toEqual(['balance.runway_low', 'balance.runway_recovered']);
    const metrics = (await svc.api('GET', '/metrics', undefined, null)).body as string;
    const line = metrics.split('\n').find((l) => l.startsWith('balancewatch_account_runway_seconds') && l.includes(id));
    expect(line).toBeDefined();
    expect(Number(line!.split(' ').pop()) / 86_400).toBeGreaterThan(3.6);
  });

  it('a topped-up account spending 1/h raises no runway alert and its spend ignores the top-up', async () => {
    const id = await account('topped up');
    const now = Math.floor(Date.now() / 1000);
    const samples = [];
    let balance = 100;
    for (let h = 20; h >= 0; h--) {
      if (h === 10) balance += 500; // top-up ten hours ago
      samples.push({ account: id, balance, at: now - h * HOUR - 60 });
      balance -= 1;
    }
    await push(samples);
    const acc = (await svc.api('GET', `/api/v1/accounts/${id}`)).body;
    // ≈ 24: the hour of the top-up shows only its net rise, so that hour's spend (1) is not seen: 19 over 20 h.
    expect(acc.spend_per_day).toBeGreaterThan(22);
    expect(acc.spend_per_day).toBeLessThanOrEqual(24);
    expect(acc.runway_days).toBeGreaterThan(20);
    await sleep(500);
    expect(eventsFor(id)).toEqual([]);
  });

  it('seven days at 0.5/h then 40 in one hour raises exactly one spend spike; a steady account raises none', async () => {
    const spiky = await account('leaky key', 'USD');
    const steady = await account('steady', 'USD');
    const now = Math.floor(Date.now() / 1000);
    const start = now - 7 * 24 * HOUR - 2 * HOUR;
    const samples = [];
    for (let h = 0; h <= 7 * 24; h++) {
      samples.push({ account: spiky, balance: 1000 - 0.5 * h, at: start + h * HOUR });
      samples.push({ account: steady, balance: 1000 - 0.5 * h, at: start + h * HOUR });
    }
    const last = 1000 - 0.5 * 7 * 24;
    samples.push({ account: steady, balance: last - 0.5, at: start + (7 * 24 + 1) * HOUR });
    // The spike: 40 within the last hour, in four steps.
    for (let i = 1; i <= 4; i++) samples.push({ account: spiky, balance: last - 10 * i, at: start + 7 * 24 * HOUR + i * 900 });
    await push(samples);
    const got = await settle(spiky, 1);
    expect(got.map((r) => r.body.type)).toEqual(['spend.spike']);
    // It fires at the first step of the spike: 10 in 15 minutes is already far above 3 × 0.5/h.
    expect(got[0]!.body.spend_last_hour).toBeCloseTo(10, 0);
    expect(eventsFor(steady)).toEqual([]);
    const alerts = (await svc.api('GET', `/api/v1/alerts?workspace_id=${ws}&account_id=${spiky}&state=firing`)).body.data;
    expect(alerts.map((a: any) => a.rule)).toEqual(['spend.spike']);
  });

  it('a runway re-alert inside the anti-spam interval is deferred to its end and then sent', async () => {
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'floor', notification_settings: { min_notify_interval: '3s' } });
    const rx2 = await new Receiver().start();
    try {
      await svc.api('POST', '/api/v1/channels', { workspace_id: w.body.id, name: 'hook', type: 'webhook', url: rx2.url });
      const id = (await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'floored' })).body.id;
      const now = Math.floor(Date.now() / 1000);
      await push(Array.from({ length: 7 }, (_, i) => ({ account: id, balance: 100 - 10 * i, at: now - 4 * HOUR + i * 1800 })));
      await rx2.waitFor(1);
      await push([{ account: id, balance: 100_000, at: now - 60 }]); // top-up: runway recovered
      await rx2.waitFor(2);
      await push([{ account: id, balance: 1, at: now - 30 }]); // spending 99,999 in 30 s: runway low again
      const runway = () => rx2.received.filter((r) => r.body.type.startsWith('balance.runway'));
      const until = Date.now() + 8000;
      while (runway().length < 3 && Date.now() < until) await sleep(50);
      expect(runway().map((r) => r.body.type)).toEqual(['balance.runway_low', 'balance.runway_recovered', 'balance.runway_low']);
      expect(runway()[2]!.at - runway()[0]!.at).toBeGreaterThanOrEqual(2900);
      const list = async () => (await svc.api('GET', `/api/v1/deliveries?workspace_id=${w.body.id}&event=balance.runway_low`)).body.data;
      let d = await list();
      for (let i = 0; i < 100 && d.some((x: any) => x.status === 'pending'); i++) {
        await sleep(50); // results are recorded in batches just after the receiver answers
        d = await list();
      }
      expect(d.map((x: any) => [x.status, x.deferred])).toEqual([
        ['delivered', true],
        ['delivered', false],
      ]);
    } finally {
      await rx2.close();
    }
  });

  it('switching runway alerts off in the settings ends a firing runway alert silently', async () => {
    const id = await account('switch');
    const now = Math.floor(Date.now() / 1000);
    await push(Array.from({ length: 7 }, (_, i) => ({ account: id, balance: 100 - 10 * i, at: now - 3 * HOUR + i * 1800 })));
    expect((await settle(id, 1)).map((r) => r.body.type)).toEqual(['balance.runway_low']);
    const p = await svc.api('PATCH', `/api/v1/accounts/${id}`, { rules: { notify_runway: false } });
    expect(p.status).toBe(200);
    const firing = (await svc.api('GET', `/api/v1/alerts?workspace_id=${ws}&account_id=${id}&state=firing`)).body.data;
    expect(firing.map((a: any) => a.rule)).toEqual([]);
    await sleep(300);
    expect(eventsFor(id).map((r) => r.body.type)).toEqual(['balance.runway_low']);
  });
});
