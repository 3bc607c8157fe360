import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Receiver, sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// Editable messages (issue #4 point 3): workspace templates, channel templates (which win), a webhook's custom
// body; all validated on save with the path of the problem, and applied by the dispatcher.

async function until<T>(f: () => T | undefined | null | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(30);
  }
}

describe('message templates through the API', () => {
  let svc: Running;
  let rx: Receiver;
  let ws: string;

  beforeAll(async () => {
    rx = await new Receiver().start();
    svc = await startService('sqlite');
    ws = (await svc.api('POST', '/api/v1/workspaces', { name: 'Acme', locale: 'zh-CN', notification_settings: { min_notify_interval: '0s' } })).body.id;
  });
  afterAll(async () => {
    await svc?.close();
    await rx?.close();
  });

  it('rejects a broken workspace template with its path, and changes nothing', async () => {
    const bad = await svc.api('PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { templates: { 'balance.low': { title: '{{ balance | moneyy }}' } } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.error)).toMatch(/templates\.balance\.low\.title/);
    expect(bad.body.error.message).toMatch(/moneyy/);
    const include = await svc.api('PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { templates: { default: { text: "{% include '/etc/passwd' %}" } } });
    expect(include.status).toBe(400);
    const get = await svc.api('GET', `/api/v1/workspaces/${ws}/notification-settings`);
    expect(get.body.templates).toBeNull();
  });

  it('applies the workspace template, and a channel template wins over it', async () => {
    const ok = await svc.api('PATCH', `/api/v1/workspaces/${ws}/notification-settings`, {
      templates: { 'balance.low': { title: '余额告警：{{ account.name }} 剩 {{ balance }}', text: '{{ account.name }} 只剩 {{ balance }}，请充值。' } },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const plain = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'apprise', url: `json://${rx.url.replace('http://', '')}/plain` });
    expect(plain.status, JSON.stringify(plain.body)).toBe(201);
    const own = await svc.api('POST', '/api/v1/channels', {
      workspace_id: ws,
      name: 'own',
      type: 'webhook',
      url: `${rx.url}/own`,
      template: { default: { title: 'CHANNEL {{ event }} {{ level }}' } },
    });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    expect(own.body.template).toEqual({ default: { title: 'CHANNEL {{ event }} {{ level }}' } });
    const badChannel = await svc.api('PATCH', `/api/v1/channels/${own.body.id}`, { template: { default: { title: '{% for %}' } } });
    expect(badChannel.status).toBe(400);
    expect(JSON.stringify(badChannel.body.error)).toMatch(/body\.template\.default\.title/);

    const acc = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'DeepSeek "prod"', currency: 'CNY' });
    await svc.api('POST', '/api/v1/balances', { samples: [{ account: acc.body.id, balance: 3 }] });
    const p = await until(() => rx.received.find((r) => r.path === '/plain'));
    expect(p.body.title).toBe('余额告警：DeepSeek "prod" 剩 ¥3.00');
    expect(p.body.message).toBe('DeepSeek "prod" 只剩 ¥3.00，请充值。');
    const o = await until(() => rx.received.find((r) => r.path === '/own'));
    // The channel overrides only the title; the text comes from the workspace template.
    expect(o.body.message.title).toBe('CHANNEL balance.low warning');
    expect(o.body.message.text).toBe('DeepSeek "prod" 只剩 ¥3.00，请充值。');
  });

  it('a webhook body template sends exactly the JSON it renders; one that is not JSON is refused on save', async () => {
    const bad = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'b', type: 'webhook', url: `${rx.url}/b`, body_template: '{"name": {{ account.name }}}' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/JSON/);
    const ch = await svc.api('POST', '/api/v1/channels', {
      workspace_id: ws,
      name: 'custom body',
      type: 'webhook',
      url: `${rx.url}/body`,
      body_template: '{"msgtype":"text","text":{"content":{{ default.title | json }}},"acct":{{ account.name | json }},"left":{{ balance_value | json }}}',
    });
    expect(ch.status, JSON.stringify(ch.body)).toBe(201);
    const acc = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'Kimi', currency: 'CNY' });
    await svc.api('POST', '/api/v1/balances', { samples: [{ account: acc.body.id, balance: 2.5 }] });
    const r = await until(() => rx.received.find((x) => x.path === '/body' && x.body?.acct === 'Kimi'));
    expect(r.body).toEqual({ msgtype: 'text', text: { content: '余额告警：Kimi 剩 ¥2.50' }, acct: 'Kimi', left: 2.5 });
    expect(r.headers['x-balancewatch-event']).toBe('balance.low');
  });
});
