import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { type FakePagerDuty, startFakePagerDuty } from '../helpers/protocol/pagerduty.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// Incident channels (PagerDuty) must never be left with an incident open for good: they get the end of every alert
// they may have opened, even when the workspace turned recovery notices off, the channel's `events` leave
// recoveries out, or the rule ends silently (a spend spike). Other channels still hear nothing of those ends.

const PD_KEY = randomBytes(16).toString('hex');
const HOUR = 3600;

async function until<T>(what: string, f: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe.each(databases())('incident channels on %s', (db) => {
  let svc: Running;
  let pd: FakePagerDuty;
  let rx: Receiver;

  beforeAll(async () => {
    pd = await startFakePagerDuty({ routingKeys: [PD_KEY] });
    rx = await new Receiver().start();
    svc = await startService(db);
  });
  afterAll(async () => {
    await svc?.close();
    await pd?.close();
    await rx?.close();
  });

  /** A workspace with a PagerDuty channel and a webhook, both with the given channel fields. */
  async function setup(settings: object, channelFields: object = {}): Promise<{ ws: string; account: string }> {
    const ws = (await svc.api('POST', '/api/v1/workspaces', { name: `ws-${randomBytes(3).toString('hex')}`, notification_settings: { min_notify_interval: '0s', ...settings } })).body.id;
    for (const c of [
      { name: 'pd', type: 'pagerduty', routing_key: PD_KEY, api_base: pd.url },
      { name: 'hook', type: 'webhook', url: rx.url },
    ]) {
      const r = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, ...c, ...channelFields });
      expect(r.status).toBe(201);
    }
    const account = (await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'prod key', currency: 'USD' })).body.id;
    return { ws, account };
  }

  const push = async (samples: object[]) => {
    const r = await svc.api('POST', '/api/v1/balances', { samples });
    expect(r.status).toBe(200);
  };
  const pdFor = (account: string) => pd.events.filter((e) => e.dedup_key.startsWith(`bw-${account}-`));
  const hooksFor = (account: string) => rx.received.filter((r) => r.body?.account?.id === account).map((r) => r.body.type);

  it('with recovery notices off, the webhook hears only the alert, and PagerDuty still resolves its incident', async () => {
    const { account } = await setup({ notify_recovery: false });
    const t = Math.floor(Date.now() / 1000) - 600;
    await push([{ account, balance: 50, at: t }]);
    await push([{ account, balance: 4, at: t + 60 }]);
    await until('the PagerDuty trigger', () => pdFor(account).length === 1);
    await push([{ account, balance: 60, at: t + 120 }]);
    const [trigger, resolve] = await until('the PagerDuty resolve', () => pdFor(account).length === 2 && pdFor(account));
    expect(trigger).toMatchObject({ event_action: 'trigger', outcome: 'opened' });
    expect(resolve).toMatchObject({ event_action: 'resolve', outcome: 'resolved', dedup_key: trigger!.dedup_key });
    expect(pd.alerts.find((a) => a.dedup_key === trigger!.dedup_key)?.status).toBe('resolved');
    await sleep(400);
    expect(hooksFor(account)).toEqual(['balance.low']);
    // The quiet resolve is in the deliveries log like any other delivery.
    const log = (await svc.api('GET', `/api/v1/deliveries?account_id=${account}`)).body.data;
    expect(log.map((d: any) => d.event).sort()).toEqual(['balance.low', 'balance.low', 'balance.recovered']);
  });

  it('a channel whose events name only balance.low still resolves the incidents it opened; a webhook like it does not hear recoveries', async () => {
    const { account } = await setup({}, { events: ['balance.low'] });
    const t = Math.floor(Date.now() / 1000) - 600;
    await push([{ account, balance: 50, at: t }, { account, balance: 3, at: t + 60 }, { account, balance: 80, at: t + 120 }]);
    const events = await until('trigger and resolve', () => pdFor(account).length === 2 && pdFor(account));
    expect(events.map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
    expect(events[1]!.dedup_key).toBe(events[0]!.dedup_key);
    await sleep(400);
    expect(hooksFor(account)).toEqual(['balance.low']);
  });

  it('a recovery waits for its alert: PagerDuty throttles the trigger, and the resolve goes out only after the trigger', async () => {
    const { account } = await setup({});
    const t = Math.floor(Date.now() / 1000) - 600;
    await push([{ account, balance: 50, at: t }]);
    pd.forceNext({ status: 429, body: '{"status":"throttle event","message":"Requests for this service are arriving too quickly."}', headers: { 'retry-after': '2' } });
    await push([{ account, balance: 4, at: t + 60 }]);
    // The trigger was throttled and waits 2 s; meanwhile the balance recovers.
    await until('the throttled trigger', async () => {
      const log = (await svc.api('GET', `/api/v1/deliveries?account_id=${account}`)).body.data as any[];
      return log.some((d) => d.event === 'balance.low' && d.attempts === 1 && d.status === 'pending');
    });
    await push([{ account, balance: 60, at: t + 120 }]);
    const events = await until('trigger and resolve', () => pdFor(account).length === 2 && pdFor(account), 10_000);
    expect(events.map((e) => [e.event_action, e.outcome])).toEqual([
      ['trigger', 'opened'],
      ['resolve', 'resolved'],
    ]);
    expect(pd.alerts.find((a) => a.dedup_key === events[0]!.dedup_key)?.status).toBe('resolved');
  });

  it('a spend spike, which ends silently, opens a PagerDuty incident and resolves it when spending is back to normal', async () => {
    const { account } = await setup({ notify_runway: false });
    const now = Math.floor(Date.now() / 1000);
    const start = now - 7 * 24 * HOUR - 4 * HOUR;
    const samples = [];
    for (let h = 0; h <= 7 * 24; h++) samples.push({ account, balance: 1000 - 0.5 * h, at: start + h * HOUR });
    const last = 1000 - 0.5 * 7 * 24;
    for (let i = 1; i <= 4; i++) samples.push({ account, balance: last - 10 * i, at: start + 7 * 24 * HOUR + i * 900 });
    await push(samples);
    const [trigger] = await until('the spike trigger', () => pdFor(account).length === 1 && pdFor(account));
    expect(trigger).toMatchObject({ event_action: 'trigger', outcome: 'opened' });
    expect(trigger!.payload?.class).toBe('spend.spike');
    // An hour and a half later, spending is back to 0.5/h: the spike is over.
    await push([{ account, balance: last - 40.75, at: start + (7 * 24 + 2) * HOUR + 1800 }]);
    const events = await until('the spike resolve', () => pdFor(account).length === 2 && pdFor(account));
    expect(events[1]).toMatchObject({ event_action: 'resolve', outcome: 'resolved', dedup_key: trigger!.dedup_key });
    const alerts = (await svc.api('GET', `/api/v1/alerts?account_id=${account}&state=firing`)).body.data;
    expect(alerts).toEqual([]);
    await sleep(400);
    expect(hooksFor(account)).toEqual(['spend.spike']);
  });
});
