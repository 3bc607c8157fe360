import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { type FakeDiscord, startFakeDiscord } from '../helpers/protocol/discord.js';
import { type FakeSlack, startFakeSlack } from '../helpers/protocol/slack.js';
import { type FakeTelegram, startFakeTelegram } from '../helpers/protocol/telegram.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// Slack, Discord and Telegram against the real service and loopback fakes of each service's protocol; the Apprise
// json:// and mailto:// URLs against a loopback receiver and a real SMTP server.

const SLACK_HOOK = 'T0001/B0001/slackSecretToken123';
const DISCORD = { id: '123456789012345678', token: 'discordSecret_Token-1' };
const TG_TOKEN = '7654321:AAHsecretTelegramTok_en';
const TG_CHAT = -1001234567890;

async function waitUntil<T>(what: string, get: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe.each(databases())('chat channels on %s', (db) => {
  let svc: Running;
  let slack: FakeSlack;
  let discord: FakeDiscord;
  let tg: FakeTelegram;
  let en: string;
  let zh: string;
  const ch: Record<string, string> = {};

  beforeAll(async () => {
    [slack, discord, tg] = await Promise.all([
      startFakeSlack({ hooks: [SLACK_HOOK] }),
      startFakeDiscord({ webhooks: [DISCORD], threads: ['555000555000555000'] }),
      startFakeTelegram({ token: TG_TOKEN, chats: [TG_CHAT, '@bw_alerts'], topics: { [String(TG_CHAT)]: [77] } }),
    ]);
    svc = await startService(db);
    const settings = { levels: [{ level: 'warning', below: 20 }], min_notify_interval: '0s' };
    const w1 = await svc.api('POST', '/api/v1/workspaces', { name: 'Acme <Ops> & Co', locale: 'en' });
    const w2 = await svc.api('POST', '/api/v1/workspaces', { name: '示例团队', locale: 'zh-CN' });
    expect([w1.status, w2.status]).toEqual([201, 201]);
    en = w1.body.id;
    zh = w2.body.id;
    for (const w of [en, zh]) expect((await svc.api('PATCH', `/api/v1/workspaces/${w}/notification-settings`, settings)).status).toBe(200);

    const mk = async (name: string, body: Record<string, unknown>) => {
      const r = await svc.api('POST', '/api/v1/channels', { name, ...body });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      ch[name] = r.body.id;
      return r.body;
    };
    await mk('slack', { workspace_id: en, type: 'slack', url: `${slack.url}/services/${SLACK_HOOK}`, mentions: ['@here'] });
    await mk('discord', { workspace_id: en, type: 'discord', url: `${discord.url}/api/webhooks/${DISCORD.id}/${DISCORD.token}`, username: 'balancewatch' });
    // Pasted Apprise URL (type inferred), with the Bot API base pointed at the fake.
    const t = await mk('telegram', { workspace_id: zh, url: `tgram://${TG_TOKEN}/${TG_CHAT}:77/`, api_base: tg.url });
    expect(t.type).toBe('telegram');
  });
  afterAll(async () => {
    await svc?.close();
    await Promise.all([slack?.close(), discord?.close(), tg?.close()]);
  });

  it('stores the secrets encrypted-and-masked and never shows them', async () => {
    const all = await svc.api('GET', '/api/v1/channels');
    const text = JSON.stringify(all.body);
    for (const secret of ['slackSecretToken123', DISCORD.token, 'AAHsecretTelegramTok_en']) expect(text).not.toContain(secret);
    const t = await svc.api('GET', `/api/v1/channels/${ch.telegram}`);
    expect(t.body).toMatchObject({ type: 'telegram', chat_id: TG_CHAT, topic_id: 77, api_base: tg.url });
    expect(t.body.bot_token).toMatch(/^…[A-Za-z0-9_-]{4}$/);
    const s = await svc.api('GET', `/api/v1/channels/${ch.slack}`);
    expect(s.body.url).toMatch(/^…/);
  });

  it('Test sends a real message to each service and reports its answer', async () => {
    const [s, d, t] = await Promise.all(['slack', 'discord', 'telegram'].map((k) => svc.api('POST', `/api/v1/channels/${ch[k]}/test`, { message: 'hello <team> & all' })));
    expect(s!.body).toMatchObject({ ok: true, status: 200, response: 'ok', error: null });
    expect(d!.body).toMatchObject({ ok: true, status: 200, error: null });
    expect(d!.body.response).toMatch(/^message \d+$/);
    expect(t!.body).toMatchObject({ ok: true, status: 200, error: null });
    expect(t!.body.response).toMatch(/^message \d+$/);

    const sm = slack.messages.at(-1)!;
    expect(sm.body.blocks[0].text.text).toBe('[Test] balancewatch test notification');
    expect(JSON.stringify(sm.body)).toContain('hello &lt;team&gt; &amp; all');
    expect(sm.pings).toEqual([]); // a test never pings @here
    const dm = discord.messages.at(-1)!;
    expect(dm.query).toEqual({ wait: 'true' });
    expect(dm.body.username).toBe('balancewatch');
    expect(dm.body.allowed_mentions).toEqual({ parse: [] });
    expect(dm.body.embeds[0].title).toBe('[Test] balancewatch test notification');
    const tm = tg.messages.at(-1)!;
    expect(tm).toMatchObject({ chat_id: TG_CHAT, message_thread_id: 77, parse_mode: 'HTML', link_preview_options: { is_disabled: true } });
    expect(tm.text).toContain('【测试】balancewatch 测试通知');
    expect(tm.text).toContain('hello <team> & all'); // escaped in HTML, shown as typed
    expect(slack.violations).toEqual([]);
  });

  it('delivers a low-balance alert and its recovery natively, in the workspace language', async () => {
    const acc = async (w: string, name: string) => {
      const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w, name, currency: 'USD', top_up_url: 'https://pay.example.com/top-up?acct=1&x=<y>' });
      expect(a.status).toBe(201);
      return a.body.id as string;
    };
    const a1 = await acc(en, 'OpenRouter <prod> @everyone');
    const a2 = await acc(zh, '深度求索');
    const t0 = Math.floor(Date.now() / 1000) - 60;
    const push = (a: string, balance: number, at: number) => svc.api('POST', '/api/v1/balances', { samples: [{ account: a, balance, at }] });
    const before = { s: slack.messages.length, d: discord.messages.length, t: tg.messages.length };
    for (const a of [a1, a2]) expect((await push(a, 50, t0)).status).toBe(200);
    for (const a of [a1, a2]) await push(a, 12.5, t0 + 1);
    await waitUntil('the low alerts', () => slack.messages.length >= before.s + 1 && discord.messages.length >= before.d + 1 && tg.messages.length >= before.t + 1);
    for (const a of [a1, a2]) await push(a, 80, t0 + 2);
    await waitUntil('the recoveries', () => slack.messages.length >= before.s + 2 && discord.messages.length >= before.d + 2 && tg.messages.length >= before.t + 2);
    await sleep(300);
    expect([slack.messages.length, discord.messages.length, tg.messages.length]).toEqual([before.s + 2, before.d + 2, before.t + 2]);

    const [sLow, sRec] = slack.messages.slice(before.s);
    expect(sLow!.body.blocks[0].text.text).toBe('[Warning] OpenRouter <prod> @everyone balance low: $12.50');
    expect([...new Set(sLow!.pings)]).toEqual(['<!here>']); // the configured mention (text and blocks), not the name's "@everyone"
    expect(JSON.stringify(sLow!.body)).toContain('OpenRouter &lt;prod&gt; @everyone');
    const button = sLow!.body.blocks.find((b: any) => b.type === 'actions').elements[0];
    expect(button).toMatchObject({ url: 'https://pay.example.com/top-up?acct=1&x=<y>', text: { text: 'Top up now' } });
    expect(sRec!.body.blocks[0].text.text).toMatch(/^\[Recovered\] OpenRouter <prod> @everyone balance back to \$80\.00$/);
    expect(sRec!.pings).toEqual([]);
    expect(slack.violations).toEqual([]);

    const [dLow, dRec] = discord.messages.slice(before.d);
    expect(dLow!.body.embeds[0]).toMatchObject({ title: '[Warning] OpenRouter <prod> @everyone balance low: $12.50', color: 0xd97706 });
    expect(dLow!.body.embeds[0].fields).toEqual(expect.arrayContaining([{ name: 'Balance', value: '$12.50', inline: true }]));
    expect(dLow!.body.allowed_mentions).toEqual({ parse: [] });
    expect(dRec!.body.embeds[0]).toMatchObject({ color: 0x16a34a });
    expect(dRec!.body.embeds[0].title).toMatch(/^\[Recovered\]/);

    const [tLow, tRec] = tg.messages.slice(before.t);
    expect(tLow!.text).toContain('【警告】深度求索 余额不足：US$12.50');
    expect(tLow!.text).toContain('余额：US$12.50');
    expect(tLow!.html).toContain('<a href="https://pay.example.com/top-up?acct=1&amp;x=&lt;y&gt;">立即充值</a>');
    expect(tRec!.text).toContain('【已恢复】深度求索 余额已恢复：US$80.00');

    const del = await svc.api('GET', `/api/v1/deliveries?workspace_id=${zh}&account_id=${a2}`);
    expect(del.body.data.map((x: any) => [x.event, x.status])).toEqual([
      ['balance.recovered', 'delivered'],
      ['balance.low', 'delivered'],
    ]);
  });

  it('a wrong credential gives the service-specific error in the Test answer, without the secret', async () => {
    const bad = async (body: Record<string, unknown>) => {
      const c = await svc.api('POST', '/api/v1/channels', { workspace_id: en, name: 'bad', ...body });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      const r = await svc.api('POST', `/api/v1/channels/${c.body.id}/test`);
      await svc.api('DELETE', `/api/v1/channels/${c.body.id}`);
      return r.body;
    };
    const s = await bad({ type: 'slack', url: `${slack.url}/services/T0001/B0001/revokedHookTok` });
    expect(s).toMatchObject({ ok: false, status: 404, error: 'Slack says the webhook URL is no longer valid (no_service): create a new incoming webhook' });
    const d1 = await bad({ type: 'discord', url: `${discord.url}/api/webhooks/999999999999/${DISCORD.token}` });
    expect(d1).toMatchObject({ ok: false, status: 404, error: 'Discord says the webhook no longer exists (10015): create a new webhook URL' });
    const d2 = await bad({ type: 'discord', url: `${discord.url}/api/webhooks/${DISCORD.id}/wrongTokenValue` });
    expect(d2.error).toMatch(/rejected the webhook token \(50027\)/);
    const d3 = await bad({ type: 'discord', url: `${discord.url}/api/webhooks/${DISCORD.id}/${DISCORD.token}`, thread_id: '42' });
    expect(d3.error).toMatch(/check thread_id/);
    const t1 = await bad({ type: 'telegram', bot_token: '7654321:wrongWrongWrong', chat_id: TG_CHAT, api_base: tg.url });
    expect(t1).toMatchObject({ ok: false, status: 401, error: 'Telegram rejected the bot token: check bot_token' });
    const t2 = await bad({ type: 'telegram', bot_token: TG_TOKEN, chat_id: '@nobody_here', api_base: tg.url });
    expect(t2).toMatchObject({ ok: false, status: 400, error: 'Telegram cannot find the chat: check chat_id and that the bot was added to it' });
    const t3 = await bad({ type: 'telegram', bot_token: TG_TOKEN, chat_id: TG_CHAT, topic_id: 5, api_base: tg.url });
    expect(t3.error).toMatch(/check topic_id/);
    expect(JSON.stringify([s, d1, d2, t1, t2])).not.toMatch(/revokedHookTok|discordSecret_Token|AAHsecretTelegramTok_en|wrongWrongWrong/);
  });
});

describe('rate limits and Apprise URLs (sqlite)', () => {
  let svc: Running;
  let ws: string;
  beforeAll(async () => {
    svc = await startService('sqlite');
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Limits', notification_settings: { low_balance_threshold: 10, min_notify_interval: '0s' } });
    ws = w.body.id;
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('a Telegram 429 with retry_after 2 is retried no sooner than 2 s later, then delivered', async () => {
    const tg = await startFakeTelegram({ token: TG_TOKEN, chats: ['@bw_alerts'] });
    try {
      const c = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'tg', type: 'telegram', bot_token: TG_TOKEN, chat_id: '@bw_alerts', api_base: tg.url });
      expect(c.status).toBe(201);
      const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'kimi', currency: 'CNY' });
      tg.rateLimitNext(2);
      expect((await svc.api('POST', '/api/v1/balances', { samples: [{ account: a.body.id, balance: 3 }] })).status).toBe(200);
      await waitUntil('the retried message', () => tg.messages.length >= 1, 15_000);
      expect(tg.attempts.map((x) => x.status)).toEqual([429, 200]);
      expect(tg.attempts[1]!.at - tg.attempts[0]!.at).toBeGreaterThanOrEqual(2000);
      expect(tg.messages[0]!.text).toContain('kimi');

      const del = await waitUntil('the delivery record', async () => {
        const r = await svc.api('GET', `/api/v1/deliveries?workspace_id=${ws}&channel_id=${c.body.id}`);
        const d = r.body.data[0];
        return d?.status === 'delivered' ? d : undefined;
      });
      expect(del.attempt_log.map((x: any) => [x.outcome, x.status_code])).toEqual([
        ['retry', 429],
        ['delivered', 200],
      ]);
      expect(del.attempt_log[0].error).toMatch(/Telegram is rate limiting the bot \(Too Many Requests: retry after 2\); will retry/);
      expect(Date.parse(del.attempt_log[1].at) - Date.parse(del.attempt_log[0].at)).toBeGreaterThanOrEqual(2000);
    } finally {
      await tg.close();
    }
  });

  it('json:// delivers what Apprise would: method, Basic auth, headers, query and the Apprise body', async () => {
    const rx = await new Receiver().start();
    try {
      const port = new URL(rx.url).port;
      const c = await svc.api('POST', '/api/v1/channels', {
        workspace_id: ws,
        name: 'apprise json',
        url: `json://bot:pa%24%24word@127.0.0.1:${port}/notify/hook?+X-Api-Key=k3y&-source=balancewatch&method=put&:type=level`,
      });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      expect(c.body).toMatchObject({ type: 'webhook', format: 'apprise', method: 'PUT', url: `http://127.0.0.1:${port}/notify/hook?source=••••` });
      expect(c.body.headers).toEqual({ 'X-Api-Key': '••••', Authorization: '••••' });
      const t = await svc.api('POST', `/api/v1/channels/${c.body.id}/test`);
      expect(t.body).toMatchObject({ ok: true, status: 200 });
      const r = rx.received.at(-1)!;
      expect(r.method).toBe('PUT');
      expect(r.path).toBe('/notify/hook?source=balancewatch');
      expect(r.headers.authorization).toBe(`Basic ${Buffer.from('bot:pa$$word').toString('base64')}`);
      expect(r.headers['x-api-key']).toBe('k3y');
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toEqual({ version: '1.0', title: '[Test] balancewatch test notification', message: expect.stringContaining('test notification'), attachments: [], level: 'info' });
    } finally {
      await rx.close();
    }
  });

  it('mailto:// delivers through its own SMTP server with the login from the URL; the password is masked', async () => {
    const got: Array<{ user: string | undefined; from: string | false; to: string[]; raw: string }> = [];
    const smtp = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      closeTimeout: 200,
      onAuth(auth, _s, cb) {
        if (auth.username === 'alerts' && auth.password === 'Sm7p/Pa$s') return cb(null, { user: auth.username });
        return cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          got.push({
            user: session.user as string | undefined,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          cb(null);
        });
      },
    });
    smtp.on('error', () => {});
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (smtp.server.address() as { port: number }).port;
    try {
      const c = await svc.api('POST', '/api/v1/channels', {
        workspace_id: ws,
        name: 'mail',
        url: `mailto://alerts:Sm7p%2FPa%24s@127.0.0.1:${port}/ops@example.com?from=billing@example.com&name=Billing%20Bot`,
      });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      expect(c.body).toMatchObject({ type: 'email', to: ['ops@example.com'], from: 'billing@example.com', from_name: 'Billing Bot' });
      expect(JSON.stringify(c.body)).not.toMatch(/Sm7p|Pa%24s|Pa\$s/);
      const t = await svc.api('POST', `/api/v1/channels/${c.body.id}/test`);
      expect(t.body, JSON.stringify(t.body)).toMatchObject({ ok: true, error: null });
      expect(t.body.response).toMatch(/^250\b/);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ user: 'alerts', from: 'billing@example.com', to: ['ops@example.com'] });
      expect(got[0]!.raw).toMatch(/^From: Billing Bot <billing@example\.com>\r?$/m);

      // A wrong password (PATCH only the secret) is a permanent, clear error without the password.
      const wrong = `smtp://alerts:Wr0ng%21@127.0.0.1:${port}?ignoreTLS=true`;
      expect((await svc.api('PATCH', `/api/v1/channels/${c.body.id}`, { smtp_url: wrong })).status).toBe(200);
      const t2 = await svc.api('POST', `/api/v1/channels/${c.body.id}/test`);
      expect(t2.body.ok).toBe(false);
      expect(t2.body.error).toMatch(/rejected the SMTP login .*check the user and password in the channel's SMTP URL/);
      expect(JSON.stringify(t2.body)).not.toMatch(/Wr0ng/);
    } finally {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });
});
