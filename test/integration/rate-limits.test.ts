import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases, freshPostgresUrl } from '../helpers/db.js';
import { startFakeDingTalk } from '../helpers/protocol/dingtalk.js';
import { sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// SPEC §4 / issue #4 "Done when": 30 accounts going low at the same moment reach one DingTalk bot complete, in at
// most 20 requests per minute (DingTalk blocks a bot for 10 minutes past that). What does not fit waits and is
// merged into a digest; nothing is dropped. The fake DingTalk enforces the limit itself and answers 130101.

const SECRET = 'SECrate0123456789abcdef';

async function until(what: string, f: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The account names a DingTalk message stands for: its own, or every line of a digest. */
function namesIn(text: string, all: string[]): string[] {
  return all.filter((n) => new RegExp(`${n}(?!\\d)`).test(text));
}

async function burst(services: Running[], label: string): Promise<void> {
  const [a] = services;
  const fake = await startFakeDingTalk({ token: `tok${label}`, secret: SECRET, perMinute: 20 });
  try {
    const ws = (await a!.api('POST', '/api/v1/workspaces', { name: `Burst ${label}`, locale: 'zh-CN', notification_settings: { min_notify_interval: '0s', notify_runway: false, notify_spike: false } })).body.id;
    const ch = await a!.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'dingtalk', type: 'dingtalk', url: fake.hook(), secret: SECRET });
    expect(ch.status, JSON.stringify(ch.body)).toBe(201);
    const names = Array.from({ length: 30 }, (_, i) => `acct${label}x${i}`);
    const ids: string[] = [];
    for (const name of names) ids.push((await a!.api('POST', '/api/v1/accounts', { workspace_id: ws, name, currency: 'CNY' })).body.id);
    const r = await a!.api('POST', '/api/v1/balances', { samples: ids.map((account) => ({ account, balance: 3 })) });
    expect(r.status).toBe(200);

    const seen = () => new Set(fake.messages.flatMap((m) => namesIn(m.text, names)));
    await until('all 30 alerts at the bot', () => seen().size === 30);
    await sleep(500);
    // Complete, each exactly once.
    const counts = names.map((n) => fake.messages.filter((m) => namesIn(m.text, names).includes(n)).length);
    expect(counts).toEqual(names.map(() => 1));
    // Never over the limit, so never blocked.
    expect(fake.rejections).toEqual([]);
    expect(fake.attempts.every((x) => x.errcode === 0)).toBe(true);
    const times = fake.attempts.map((x) => x.at);
    for (const t of times) expect(times.filter((u) => u > t - 60_000 && u <= t).length).toBeLessThanOrEqual(20);
    expect(fake.messages.length).toBeLessThanOrEqual(20);
    // The merged message says what it is, in the workspace's language.
    const digest = fake.messages.find((m) => /条通知/.test(m.title));
    expect(digest, 'one message is a digest').toBeDefined();
    expect(digest!.text).toMatch(/该渠道达到发送频率上限/);
    expect(fake.messages.every((m) => m.signed)).toBe(true);
    expect(fake.violations).toEqual([]);
    // Every delivery is recorded as delivered.
    const d = await a!.api('GET', `/api/v1/deliveries?workspace_id=${ws}&limit=100`);
    const rows = (d.body.data as Array<{ status: string; event: string }>).filter((x) => x.event === 'balance.low');
    expect(rows).toHaveLength(30);
    expect(rows.every((x) => x.status === 'delivered')).toBe(true);
  } finally {
    await fake.close();
  }
}

describe.each(databases())('channel rate limits on %s', (db) => {
  let svc: Running;
  beforeAll(async () => {
    svc = await startService(db);
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('30 accounts low at once reach one DingTalk bot complete, ≤ 20 requests per minute, the rest merged', async () => {
    await burst([svc], db);
  });

  it('the Test button spends a slot too, and says when the bot is at its limit instead of crossing it', async () => {
    const fake = await startFakeDingTalk({ token: `tokTest${db}`, secret: SECRET, perMinute: 20 });
    try {
      const ws = (await svc.api('POST', '/api/v1/workspaces', { name: 'Tester' })).body.id;
      const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'dt', type: 'dingtalk', url: fake.hook(), secret: SECRET });
      const answers = [];
      for (let i = 0; i < 21; i++) answers.push((await svc.api('POST', `/api/v1/channels/${ch.body.id}/test`)).body);
      expect(answers.slice(0, 20).every((a) => a.ok)).toBe(true);
      expect(answers[20].ok).toBe(false);
      expect(answers[20].error).toMatch(/at that limit; try again in \d+ s/);
      expect(fake.messages).toHaveLength(20);
      expect(fake.rejections).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});

describe.runIf(databases().includes('postgres'))('two instances on one PostgreSQL', () => {
  it('share one DingTalk budget', async () => {
    const env = { DATABASE_URL: await freshPostgresUrl(), BALANCEWATCH_SECRET_KEY: 'rate-limit-two-instances-key-0123' };
    const a = await startService('postgres', env);
    const b = await startService('postgres', env);
    try {
      await burst([a, b], 'two');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
