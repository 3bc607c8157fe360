import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { type FakeBark, startFakeBark } from '../helpers/protocol/bark.js';
import { type FakeGotify, startFakeGotify } from '../helpers/protocol/gotify.js';
import { type FakeNtfy, startFakeNtfy } from '../helpers/protocol/ntfy.js';
import { type FakePagerDuty, startFakePagerDuty } from '../helpers/protocol/pagerduty.js';
import { type FakeTeams, startFakeTeams } from '../helpers/protocol/teams.js';
import { sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// Push and incident channels end to end: the real service (HTTP API, evaluator, outbox dispatcher) against
// loopback fakes of Bark, Gotify, ntfy, PagerDuty and Teams Workflows that verify each protocol.

const DEV1 = 'ynJ5Ft4atkMkWeo2PAvFhF';
const DEV2 = 'Q9pLmZx81TqvB2kHs6Wd0a';
const BARK_USER = 'bw';
const BARK_PASS = 'teapot-pass-9921';
const GOTIFY_TOKEN = 'AqqCEN7lJX5bB0f';
const NTFY_TOKEN = 'tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2';
const PD_KEY = randomBytes(16).toString('hex');
const TEAMS_SIG = 'KODuebWbDGYFr0z0eu-6Rj8aUKz7108W3wrNJZxFE5A';

async function until<T>(what: string, f: () => T | undefined | null | false, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

interface Fakes {
  bark: FakeBark;
  gotify: FakeGotify;
  ntfy: FakeNtfy;
  pd: FakePagerDuty;
  teams: FakeTeams;
}

async function startFakes(): Promise<Fakes> {
  return {
    bark: await startFakeBark({ deviceKeys: [DEV1, DEV2], username: BARK_USER, password: BARK_PASS }),
    gotify: await startFakeGotify({ tokens: [GOTIFY_TOKEN], prefix: '/gotify' }),
    ntfy: await startFakeNtfy({ tokens: [NTFY_TOKEN], writable: ['billing'], anonymous: false }),
    pd: await startFakePagerDuty({ routingKeys: [PD_KEY] }),
    teams: await startFakeTeams({ workflowId: 'a1b2c3d4e5', sig: TEAMS_SIG }),
  };
}

async function closeFakes(f: Fakes | undefined): Promise<void> {
  if (!f) return;
  await Promise.all([f.bark.close(), f.gotify.close(), f.ntfy.close(), f.pd.close(), f.teams.close()]);
}

const port = (url: string) => new URL(url).port;

/** The five channels of one workspace: three from pasted Apprise URLs, PagerDuty from a URL plus api_base, Teams by type. */
async function createChannels(svc: Running, ws: string, f: Fakes): Promise<Record<'bark' | 'gotify' | 'ntfy' | 'pagerduty' | 'teams', string>> {
  const create = async (name: string, body: Record<string, unknown>, type: string) => {
    const r = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name, ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.type).toBe(type);
    return r.body.id as string;
  };
  return {
    bark: await create('iPhone', { url: `bark://${BARK_USER}:${BARK_PASS}@127.0.0.1:${port(f.bark.url)}/${DEV1}/${DEV2}/?sound=alarm&group=billing` }, 'bark'),
    gotify: await create('Gotify', { url: `gotify://127.0.0.1:${port(f.gotify.url)}/gotify/${GOTIFY_TOKEN}` }, 'gotify'),
    ntfy: await create('ntfy', { url: `ntfy://${NTFY_TOKEN}@127.0.0.1:${port(f.ntfy.url)}/billing` }, 'ntfy'),
    pagerduty: await create('PagerDuty', { url: `pagerduty://${PD_KEY}@apikey/balancewatch-ci`, api_base: f.pd.url }, 'pagerduty'),
    teams: await create('Teams', { type: 'teams', url: f.teams.webhookUrl }, 'teams'),
  };
}

const SECRETS = [DEV1, DEV2, BARK_PASS, GOTIFY_TOKEN, NTFY_TOKEN, PD_KEY, TEAMS_SIG];
const leaks = (v: unknown) => SECRETS.filter((s) => JSON.stringify(v).includes(s));

describe.each(databases())('push and incident channels on %s', (db) => {
  let svc: Running;
  let f: Fakes;
  let ws: string;
  let ids: Awaited<ReturnType<typeof createChannels>>;

  beforeAll(async () => {
    f = await startFakes();
    svc = await startService(db);
    const w = await svc.api('POST', '/api/v1/workspaces', { name: '深度求索', locale: 'zh-CN' });
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
    ids = await createChannels(svc, ws, f);
  });
  afterAll(async () => {
    await svc?.close();
    await closeFakes(f);
  });

  it('stores what the URLs mean and never shows a credential', async () => {
    const bark = await svc.api('GET', `/api/v1/channels/${ids.bark}`);
    expect(bark.body).toMatchObject({ type: 'bark', server: `http://127.0.0.1:${port(f.bark.url)}`, username: BARK_USER, sound: 'alarm.caf', group: 'billing' });
    const gotify = await svc.api('GET', `/api/v1/channels/${ids.gotify}`);
    expect(gotify.body.server).toBe(`http://127.0.0.1:${port(f.gotify.url)}/gotify`);
    const ntfy = await svc.api('GET', `/api/v1/channels/${ids.ntfy}`);
    expect(ntfy.body).toMatchObject({ server: `http://127.0.0.1:${port(f.ntfy.url)}`, topic: 'billing' });
    const pd = await svc.api('GET', `/api/v1/channels/${ids.pagerduty}`);
    expect(pd.body).toMatchObject({ source: 'balancewatch-ci', api_base: f.pd.url });
    const list = await svc.api('GET', `/api/v1/channels?workspace_id=${ws}`);
    expect(list.body.data).toHaveLength(5);
    expect(leaks(list.body)).toEqual([]);
    for (const id of Object.values(ids)) expect(leaks((await svc.api('GET', `/api/v1/channels/${id}`)).body)).toEqual([]);
  });

  it('Test sends a real message to every service, in the workspace language', async () => {
    const answers: Record<string, any> = {};
    for (const [name, id] of Object.entries(ids)) {
      const r = await svc.api('POST', `/api/v1/channels/${id}/test`, {});
      expect(r.status).toBe(200);
      answers[name] = r.body;
      expect(leaks(r.body)).toEqual([]);
    }
    expect(answers.bark).toMatchObject({ ok: true, status: 200, error: null });
    expect(answers.gotify).toMatchObject({ ok: true, status: 200, error: null });
    expect(answers.ntfy).toMatchObject({ ok: true, status: 200, error: null });
    expect(answers.pagerduty).toMatchObject({ ok: true, status: 202, error: null });
    expect(answers.pagerduty.response).toMatch(/triggered and resolved/);
    expect(answers.teams).toMatchObject({ ok: true, status: 202, error: null });

    // Bark: both devices, Basic auth accepted, "active" level for a test.
    expect(f.bark.pushes.map((p) => p.deviceKey)).toEqual([DEV1, DEV2]);
    expect(f.bark.pushes[0]).toMatchObject({ title: '【测试】balancewatch 测试通知', sound: 'alarm.caf' });
    expect(f.bark.pushes[0]!.payload).toMatchObject({ level: 'active', group: 'billing' });
    expect(f.bark.pushes[0]!.body).toContain('这是 balancewatch 为工作区 深度求索 发送的测试通知');
    expect(f.gotify.messages).toHaveLength(1);
    expect(f.gotify.messages[0]).toMatchObject({ title: '【测试】balancewatch 测试通知', priority: 3 });
    expect(f.ntfy.messages).toHaveLength(1);
    expect(f.ntfy.messages[0]).toMatchObject({ topic: 'billing', title: '【测试】balancewatch 测试通知', by: `token:${NTFY_TOKEN}`, markdown: true });
    // PagerDuty: an info alert opened and resolved at once.
    expect(f.pd.events.map((e) => [e.event_action, e.outcome])).toEqual([
      ['trigger', 'opened'],
      ['resolve', 'resolved'],
    ]);
    expect(f.pd.events[0]!.payload).toMatchObject({ severity: 'info', source: 'balancewatch-ci' });
    expect(f.pd.alerts.every((a) => a.status === 'resolved')).toBe(true);
    expect(f.teams.posts).toHaveLength(1);
    expect(f.teams.posts[0]!.card.body[0].text).toBe('【测试】balancewatch 测试通知');
    for (const fake of [f.bark, f.gotify, f.ntfy, f.pd, f.teams]) expect(fake.rejections).toEqual([]);
  });

  it('low balance → alert everywhere; top-up → resolve with the same dedup_key; low again → a new incident', async () => {
    const base = { bark: f.bark.pushes.length, gotify: f.gotify.messages.length, ntfy: f.ntfy.messages.length, pd: f.pd.events.length, teams: f.teams.posts.length };
    const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'DeepSeek 生产', currency: 'CNY', top_up_url: 'https://platform.deepseek.com/top_up' });
    expect(a.status).toBe(201);
    const acc = a.body.id as string;
    const t0 = Math.floor(Date.now() / 1000) - 100;
    const push = async (balance: number, i: number) => {
      const r = await svc.api('POST', '/api/v1/balances', { samples: [{ account: acc, balance, at: t0 + i }] });
      expect(r.status).toBe(200);
      expect(r.body.results[0].result).toBe('applied');
    };

    // 1. Low: 50 → 3 (critical).
    await push(50, 0);
    await push(3, 1);
    await until('the low alert on every service', () =>
      f.bark.pushes.length >= base.bark + 2 && f.gotify.messages.length > base.gotify && f.ntfy.messages.length > base.ntfy && f.pd.events.length > base.pd && f.teams.posts.length > base.teams,
    );
    const lowBark = f.bark.pushes.slice(base.bark);
    expect(lowBark.map((p) => p.deviceKey)).toEqual([DEV1, DEV2]);
    expect(lowBark[0]!.title).toMatch(/^【严重】DeepSeek 生产 余额不足：/);
    expect(lowBark[0]!.payload).toMatchObject({ level: 'critical', volume: 5, url: 'https://platform.deepseek.com/top_up' });
    expect(lowBark[0]!.body).toContain('余额');
    const lowGotify = f.gotify.messages[base.gotify]!;
    expect(lowGotify.priority).toBe(8);
    expect(lowGotify.message).toContain('**余额**');
    expect(lowGotify.extras?.['client::notification']).toEqual({ click: { url: 'https://platform.deepseek.com/top_up' } });
    const lowNtfy = f.ntfy.messages[base.ntfy]!;
    expect(lowNtfy).toMatchObject({ priority: 5, tags: ['rotating_light'], click: 'https://platform.deepseek.com/top_up' });
    expect(lowNtfy.title).toMatch(/余额不足/);
    const trigger = f.pd.events[base.pd]!;
    expect(trigger).toMatchObject({ event_action: 'trigger', outcome: 'opened' });
    expect(trigger.payload).toMatchObject({ severity: 'critical', component: 'DeepSeek 生产', group: '深度求索', class: 'balance.low', custom_details: { balance: 3, currency: 'CNY', threshold: 5, level: 'critical' } });
    expect(trigger.payload!.summary).toMatch(/余额不足/);
    expect(trigger.links).toContainEqual({ href: 'https://platform.deepseek.com/top_up', text: '立即充值' });
    const D = trigger.dedup_key;
    expect(D).toContain(acc);
    const lowCard = f.teams.posts[base.teams]!.card;
    expect(lowCard.body[0]).toMatchObject({ color: 'attention' });
    expect(lowCard.body[0].text).toMatch(/余额不足/);
    expect(lowCard.actions[0]).toEqual({ type: 'Action.OpenUrl', title: '立即充值', url: 'https://platform.deepseek.com/top_up' });

    // 2. Top-up: 3 → 60 resolves.
    await push(60, 2);
    await until('the recovery on every service', () =>
      f.bark.pushes.length >= base.bark + 4 && f.gotify.messages.length > base.gotify + 1 && f.ntfy.messages.length > base.ntfy + 1 && f.pd.events.length > base.pd + 1 && f.teams.posts.length > base.teams + 1,
    );
    const resolve = f.pd.events[base.pd + 1]!;
    expect(resolve).toMatchObject({ event_action: 'resolve', dedup_key: D, outcome: 'resolved' });
    expect(resolve.raw).toEqual({ routing_key: PD_KEY, event_action: 'resolve', dedup_key: D });
    expect(f.pd.alerts.find((x) => x.dedup_key === D)?.status).toBe('resolved');
    expect(f.bark.pushes[base.bark + 2]!.title).toMatch(/^【已恢复】/);
    expect(f.bark.pushes[base.bark + 2]!.payload.level).toBe('active');
    expect(f.gotify.messages[base.gotify + 1]!.priority).toBe(3);
    expect(f.ntfy.messages[base.ntfy + 1]!.tags).toEqual(['white_check_mark']);
    expect(f.teams.posts[base.teams + 1]!.card.body[0].color).toBe('good');

    // 3. Low again later (warning): a new incident with a different dedup_key.
    await push(15, 3);
    await until('the second low alert', () => f.pd.events.length > base.pd + 2 && f.bark.pushes.length >= base.bark + 6 && f.teams.posts.length > base.teams + 2);
    const again = f.pd.events[base.pd + 2]!;
    expect(again).toMatchObject({ event_action: 'trigger', outcome: 'opened' });
    expect(again.payload!.severity).toBe('warning');
    expect(again.dedup_key).not.toBe(D);
    const mine = f.pd.alerts.filter((x) => x.dedup_key === D || x.dedup_key === again.dedup_key);
    expect(mine.map((x) => x.status)).toEqual(['resolved', 'triggered']);
    expect(f.bark.pushes[base.bark + 4]!.payload.level).toBe('timeSensitive');
    expect(f.teams.posts[base.teams + 2]!.card.body[0].color).toBe('warning');

    await sleep(300); // nothing else may arrive
    expect(f.pd.events).toHaveLength(base.pd + 3);
    for (const fake of [f.bark, f.gotify, f.ntfy, f.pd, f.teams]) expect(fake.rejections).toEqual([]);
    const del = await svc.api('GET', `/api/v1/deliveries?workspace_id=${ws}&account_id=${acc}`);
    expect(del.body.data).toHaveLength(15);
    expect(del.body.data.every((d: any) => d.status === 'delivered')).toBe(true);
    expect(leaks(del.body)).toEqual([]);
  });
});

describe('wrong credentials give a clear error in the Test answer', () => {
  let svc: Running;
  let f: Fakes;
  let ws: string;

  beforeAll(async () => {
    f = await startFakes();
    svc = await startService('sqlite');
    ws = (await svc.api('POST', '/api/v1/workspaces', { name: 'Acme' })).body.id;
  });
  afterAll(async () => {
    await svc?.close();
    await closeFakes(f);
  });

  const testWith = async (body: Record<string, unknown>) => {
    const c = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'x', ...body });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const r = await svc.api('POST', `/api/v1/channels/${c.body.id}/test`, {});
    expect(r.status).toBe(200);
    return r.body;
  };

  it('Bark: wrong Basic auth password (418) and an unknown device key', async () => {
    const wrongPass = 'not-the-password';
    const a = await testWith({ url: `bark://${BARK_USER}:${wrongPass}@127.0.0.1:${port(f.bark.url)}/${DEV1}` });
    expect(a).toMatchObject({ ok: false, status: 418 });
    expect(a.error).toMatch(/refused the Basic auth user name or password \(HTTP 418/);
    expect(JSON.stringify(a)).not.toContain(wrongPass);
    const unknownKey = 'ZZunknownDeviceKey0001';
    const b = await testWith({ type: 'bark', server: f.bark.url, device_key: unknownKey, username: BARK_USER, password: BARK_PASS });
    expect(b).toMatchObject({ ok: false, status: 400 });
    expect(b.error).toMatch(/Bark does not know this device key .*: check the device key/);
    expect(JSON.stringify(b)).not.toContain(unknownKey);
    expect(f.bark.rejections.map((r) => r.reason)).toEqual(['basic auth', 'unknown device']);
  });

  it('Gotify: wrong app token', async () => {
    const bad = 'WrongToken123';
    const r = await testWith({ type: 'gotify', server: `${f.gotify.url}`, token: bad });
    expect(r).toMatchObject({ ok: false, status: 401 });
    expect(r.error).toMatch(/^Gotify rejected the app token \(401 Unauthorized: .*\): check the token/);
    expect(JSON.stringify(r)).not.toContain(bad);
    expect(f.gotify.messages).toHaveLength(0);
  });

  it('ntfy: wrong token, and a user without write access to the topic', async () => {
    const bad = 'tk_wrongwrongwrongwrongwrong00';
    const a = await testWith({ url: `ntfy://${bad}@127.0.0.1:${port(f.ntfy.url)}/billing` });
    expect(a).toMatchObject({ ok: false, status: 401 });
    expect(a.error).toMatch(/^ntfy rejected the credentials \(40101 unauthorized\)/);
    expect(JSON.stringify(a)).not.toContain(bad);
    const b = await testWith({ type: 'ntfy', server: f.ntfy.url, topic: 'secret-topic', token: NTFY_TOKEN });
    expect(b).toMatchObject({ ok: false, status: 403 });
    expect(b.error).toMatch(/^ntfy refused to publish to this topic \(40301 forbidden\)/);
    const c = await testWith({ type: 'ntfy', server: f.ntfy.url, topic: 'billing' });
    expect(c).toMatchObject({ ok: false, status: 403 });
  });

  it('PagerDuty: a routing key it does not know, and a malformed one', async () => {
    const unknown = randomBytes(16).toString('hex');
    const a = await testWith({ type: 'pagerduty', routing_key: unknown, api_base: f.pd.url });
    expect(a).toMatchObject({ ok: false, status: 400 });
    expect(a.error).toMatch(/^PagerDuty rejected the event \(Event object is invalid: .*\): check the routing key$/);
    expect(JSON.stringify(a)).not.toContain(unknown);
    const b = await testWith({ url: 'pagerduty://shortkey@apikey', api_base: f.pd.url });
    expect(b.error).toMatch(/Length of 'routing_key' is incorrect \(should be 32 characters\)\): check the routing key/);
    expect(f.pd.alerts).toHaveLength(0);
  });

  it('Teams: a wrong signature is refused and never echoed', async () => {
    const wrong = 'WrongSignatureValue123';
    const r = await testWith({ type: 'teams', url: f.teams.webhookUrl.replace(TEAMS_SIG, wrong) });
    expect(r).toMatchObject({ ok: false, status: 401 });
    expect(r.error).toMatch(/refused the webhook's signature \(401 DirectApiInvalidAuthorizationSignature\)/);
    expect(JSON.stringify(r)).not.toContain(wrong);
    expect(f.teams.rejections[0]!.message).toContain(wrong); // the fake did echo it
  });

  it('rate-limit answers are retried by the dispatcher (ntfy 42901, PagerDuty 429)', async () => {
    // A workspace of its own: the channels with wrong credentials above must not receive this alert.
    const w2 = (await svc.api('POST', '/api/v1/workspaces', { name: 'Retry', notification_settings: { low_balance_threshold: 10, min_notify_interval: '0s' } })).body.id;
    const acc = (await svc.api('POST', '/api/v1/accounts', { workspace_id: w2, name: 'retry' })).body.id;
    expect((await svc.api('POST', '/api/v1/channels', { workspace_id: w2, name: 'n', type: 'ntfy', server: f.ntfy.url, topic: 'billing', token: NTFY_TOKEN })).status).toBe(201);
    expect((await svc.api('POST', '/api/v1/channels', { workspace_id: w2, name: 'p', type: 'pagerduty', routing_key: PD_KEY, api_base: f.pd.url })).status).toBe(201);
    f.ntfy.forceNext({ status: 429, body: JSON.stringify({ code: 42901, http: 429, error: 'limit reached: too many requests' }), headers: { 'content-type': 'application/json' } });
    f.pd.forceNext({ status: 429, body: '{"status":"throttle event","message":"Requests for this service are arriving too quickly. Please retry later."}', headers: { 'retry-after': '1' } });
    const ntfyBefore = f.ntfy.messages.length;
    const pdBefore = f.pd.events.length;
    const r = await svc.api('POST', '/api/v1/balances', { samples: [{ account: acc, balance: 1 }] });
    expect(r.body.results[0].result).toBe('applied');
    await until('the retried ntfy message and PagerDuty trigger', () => f.ntfy.messages.length > ntfyBefore && f.pd.events.length > pdBefore, 15_000);
    let del = await svc.api('GET', `/api/v1/deliveries?workspace_id=${w2}&account_id=${acc}`);
    for (let i = 0; i < 100 && !del.body.data.every((d: any) => d.status === 'delivered'); i++) {
      await sleep(50);
      del = await svc.api('GET', `/api/v1/deliveries?workspace_id=${w2}&account_id=${acc}`);
    }
    expect(del.body.data).toHaveLength(2);
    for (const d of del.body.data) {
      expect(d.status).toBe('delivered');
      expect(d.attempt_log.map((x: any) => x.status_code)).toEqual([429, d.attempt_log[1].status_code]);
      expect([200, 202]).toContain(d.attempt_log[1].status_code);
    }
  });
});
