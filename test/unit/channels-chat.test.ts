import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { classifyDiscord, discordChannel, discordPayload, escapeDiscord } from '../../src/channels/discord.js';
import { classifySmtpError, emailChannel } from '../../src/channels/email.js';
import { channelFromUrl } from '../../src/channels/registry.js';
import { classifySlack, escapeSlack, slackChannel, slackPayload } from '../../src/channels/slack.js';
import { classifyTelegram, escapeTelegram, telegramChannel, telegramLength, telegramText } from '../../src/channels/telegram.js';
import { ChannelUrlError, type ChannelContext, type NotificationPayload, type OutgoingNotification, type RenderedMessage } from '../../src/channels/types.js';
import { appriseBody, parseAppriseUrl, webhookChannel } from '../../src/channels/webhook.js';
import type { HttpRequest } from '../../src/net/types.js';
import { renderMessage } from '../../src/template/messages.js';

// ---- fixtures ----

function payload(over: Partial<NotificationPayload> = {}, locale = 'en'): NotificationPayload {
  return {
    type: 'balance.low',
    occurred_at: '2025-01-15T08:30:00.000Z',
    workspace: { id: 'ws_1', name: 'Acme', external_id: null, locale, time_zone: 'Asia/Shanghai' },
    account: { id: 'ac_1', name: 'DeepSeek prod', external_id: 'ext-1', top_up_url: 'https://platform.deepseek.com/top_up?a=1&b=2' },
    balance: 3,
    currency: 'USD',
    level: 'critical',
    threshold: 5,
    episode: 1,
    reminder: 0,
    ...over,
  };
}

function note(p: Partial<NotificationPayload> = {}, locale = 'en'): OutgoingNotification {
  const pl = payload(p, locale);
  return { key: 'dk_1', payload: pl, message: renderMessage(pl, { dashboardUrl: 'https://bw.example.com/' }) };
}

const HOSTILE = '<!channel> @everyone <b>&amp; *bold* _x_ [a](http://evil) <@123456789>';

function fakeCtx(answer: { status: number; body: string; headers?: Record<string, string> }) {
  const calls: Array<{ url: string; req: HttpRequest }> = [];
  const ctx: ChannelContext = {
    http: {
      async request(url: string, req: HttpRequest = {}) {
        calls.push({ url, req });
        return { status: answer.status, headers: answer.headers ?? {}, body: answer.body };
      },
      async close() {},
    },
    mailer: null,
    now: () => 1_700_000_000_000,
  };
  return { ctx, calls };
}

/** Parses like POST /api/v1/channels {url}: the type, then the fields validated by its schema. */
function fromUrl(url: string): { type: string; fields: Record<string, unknown> } {
  const r = channelFromUrl(url);
  const v = r.type.schema.safeParse(r.fields);
  if (!v.success) throw new Error(`schema rejected ${JSON.stringify(r.fields)}: ${v.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { type: r.type.type, fields: v.data as Record<string, unknown> };
}

function urlError(url: string): string {
  try {
    fromUrl(url);
  } catch (err) {
    if (err instanceof ChannelUrlError) return err.message;
    throw err;
  }
  throw new Error(`expected ${url} to be refused`);
}

// ---- URL parsing (research §4 corpus entries for these services, native URLs, invalid ones) ----

const I24 = 'iiiiiiiiiiiiiiiiiiiiiiii';
const T64 = 't'.repeat(64);

describe('pasted URLs', () => {
  it.each([
    // 33
    [
      'slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#channel',
      'slack',
      { url: 'https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ', channel: '#channel' },
    ],
    // 35
    [
      'https://hooks.slack.com/services/AAAAAAAAA/BBBBBBBBB/cccccccccccccccccccccccc',
      'slack',
      { url: 'https://hooks.slack.com/services/AAAAAAAAA/BBBBBBBBB/cccccccccccccccccccccccc' },
    ],
    ['https://hooks.slack-gov.com/services/T0/B0/XyZ/', 'slack', { url: 'https://hooks.slack-gov.com/services/T0/B0/XyZ' }],
    ['slack://T0/B0/XyZ?mode=gov', 'slack', { url: 'https://hooks.slack-gov.com/services/T0/B0/XyZ' }],
    ['slack://apprise@T0/B0/XyZ/?to=alerts', 'slack', { url: 'https://hooks.slack.com/services/T0/B0/XyZ', channel: '#alerts', username: 'apprise' }],
    ['slack://T0/B0/XyZ/@someone', 'slack', { url: 'https://hooks.slack.com/services/T0/B0/XyZ', channel: '@someone' }],
    ['slack://?token=T0/B0/XyZ', 'slack', { url: 'https://hooks.slack.com/services/T0/B0/XyZ' }],
    // 37, 38, 39
    [`discord://${I24}/${T64}`, 'discord', { url: `https://discord.com/api/webhooks/${I24}/${T64}` }],
    [`discord://l2g@${I24}/${T64}`, 'discord', { url: `https://discord.com/api/webhooks/${I24}/${T64}`, username: 'l2g' }],
    [`discord://${I24}/${T64}?format=markdown&thread=abc123`, 'discord', { url: `https://discord.com/api/webhooks/${I24}/${T64}`, thread_id: 'abc123' }],
    [
      'discord://123456789012345678/tok-EN_1?avatar_url=https://example.com/a.png&ping=@here,%26987654321098765432,123456789012345678',
      'discord',
      {
        url: 'https://discord.com/api/webhooks/123456789012345678/tok-EN_1',
        avatar_url: 'https://example.com/a.png',
        mentions: ['@here', '<@&987654321098765432>', '<@123456789012345678>'],
      },
    ],
    ['https://discord.com/api/webhooks/123456789012345678/tok-EN_1', 'discord', { url: 'https://discord.com/api/webhooks/123456789012345678/tok-EN_1' }],
    ['https://discordapp.com/api/webhooks/1234567890/abc_DEF-1/', 'discord', { url: 'https://discordapp.com/api/webhooks/1234567890/abc_DEF-1' }],
    [
      'https://canary.discord.com/api/v10/webhooks/1234567890/abc?thread_id=555555555555',
      'discord',
      { url: 'https://canary.discord.com/api/webhooks/1234567890/abc', thread_id: '555555555555' },
    ],
    // 41, 43, 44, 45
    ['tgram://123456789:abcdefg_hijklmnop/lead2gold/', 'telegram', { bot_token: '123456789:abcdefg_hijklmnop', chat_id: '@lead2gold' }],
    ['tgram://bottest@123456789:abcdefg_hijklmnop/id1/?topic=12345', 'telegram', { bot_token: '123456789:abcdefg_hijklmnop', chat_id: '@id1', topic_id: 12345 }],
    ['tgram://123456789:abcdefg_hijklmnop/-1001234567890:77/', 'telegram', { bot_token: '123456789:abcdefg_hijklmnop', chat_id: -1001234567890, topic_id: 77 }],
    ['tgram://123456789:abcdefg_hijklmnop/lead2gold/?format=markdown&mdv=v2', 'telegram', { bot_token: '123456789:abcdefg_hijklmnop', chat_id: '@lead2gold' }],
    ['tgram://bot123456789%3Aabcdefg_hijklmnop/?to=987654321&silent=yes&thread=9', 'telegram', { bot_token: '123456789:abcdefg_hijklmnop', chat_id: 987654321, topic_id: 9, silent: true }],
    // 59-62
    ['json://localhost', 'webhook', { url: 'http://localhost', format: 'apprise' }],
    ['jsons://localhost:8080/path/', 'webhook', { url: 'https://localhost:8080/path/', format: 'apprise' }],
    ['json://localhost:8080/path?+HeaderKey=HeaderValue', 'webhook', { url: 'http://localhost:8080/path', format: 'apprise', headers: { HeaderKey: 'HeaderValue' } }],
    ['json://localhost:8080/path?-ParamA=Value', 'webhook', { url: 'http://localhost:8080/path?ParamA=Value', format: 'apprise' }],
    [
      'json://user:p%40ss@hooks.example.com/a/b?method=put&:message=body&:type=&:extra=1',
      'webhook',
      {
        url: 'http://hooks.example.com/a/b',
        format: 'apprise',
        method: 'PUT',
        headers: { Authorization: `Basic ${Buffer.from('user:p@ss').toString('base64')}` },
        payload_fields: { message: 'body', type: '', extra: '1' },
      },
    ],
    ['https://example.com/my/hook?token=abc', 'webhook', { url: 'https://example.com/my/hook?token=abc' }],
  ])('%s → %s', (url, type, fields) => {
    const r = fromUrl(url);
    expect(r.type).toBe(type);
    expect(r.fields).toEqual(fields);
  });

  it.each([
    // 53
    [
      'mailto://user:pass@gmail.com',
      { smtp_url: 'smtp://user%40gmail.com:pass@smtp.gmail.com:587?requireTLS=true', from: 'user@gmail.com', to: ['user@gmail.com'] },
    ],
    // 54
    [
      'mailtos://user:pass@nuxref.com:567',
      { smtp_url: 'smtp://user:pass@nuxref.com:567?requireTLS=true', from: 'user@nuxref.com', to: ['user@nuxref.com'] },
    ],
    // 55
    ['mailto://user:pass@nuxref.com?mode=ssl', { smtp_url: 'smtps://user:pass@nuxref.com:465', from: 'user@nuxref.com', to: ['user@nuxref.com'] }],
    // 56
    [
      'mailto://user:pass@localhost:2525',
      { smtp_url: 'smtp://user:pass@localhost:2525?ignoreTLS=true', from: 'user@localhost', to: ['user@localhost'] },
    ],
    // 57
    [
      'mailto://localhost?from=test@example.com&to=test@example.com',
      { smtp_url: 'smtp://localhost:25?ignoreTLS=true', from: 'test@example.com', to: ['test@example.com'] },
    ],
    ['mailto://localhost', { smtp_url: 'smtp://localhost:25?ignoreTLS=true', from: 'root@localhost', to: ['root@localhost'] }],
    // 58
    [
      'mailtos://user:pass@example.com?smtp=smtp.example.com&name=l2g&cc=noreply@example.com,test@example.com',
      {
        smtp_url: 'smtp://user:pass@smtp.example.com:587?requireTLS=true',
        from: 'user@example.com',
        from_name: 'l2g',
        to: ['user@example.com'],
        cc: ['noreply@example.com', 'test@example.com'],
      },
    ],
    [
      'mailto://alerts:S3cr%2Ft@mail.example.org:2525/ops@example.com/cto@example.org?bcc=audit@example.com&verify=no',
      {
        smtp_url: 'smtp://alerts:S3cr%2Ft@mail.example.org:2525?ignoreTLS=true&tls.rejectUnauthorized=false',
        from: 'alerts@mail.example.org',
        to: ['ops@example.com', 'cto@example.org'],
        bcc: ['audit@example.com'],
      },
    ],
    [
      'mailtos://me:pw@qq.com?from=Billing%20Bot%20<bot@example.com>',
      { smtp_url: 'smtp://me%40qq.com:pw@smtp.qq.com:587?requireTLS=true', from: 'bot@example.com', from_name: 'Billing Bot', to: ['bot@example.com'] },
    ],
    ['mailto://u:p@yandex.ru', { smtp_url: 'smtps://u:p@smtp.yandex.ru:465', from: 'u@yandex.ru', to: ['u@yandex.ru'] }],
  ])('%s → email', (url, fields) => {
    const r = fromUrl(url);
    expect(r.type).toBe('email');
    expect(r.fields).toEqual(fields);
  });

  it.each([
    // 34, 36
    ['slack://username@xoxb-1234-1234-abc124/#nuxref', /bot tokens \(xoxb-\/xoxp-\) are not supported: use an incoming webhook URL/],
    ['slack://T1JJ3T3L2/A1BRTD4JD/', /needs its three tokens/],
    ['slack://T0/B0/XyZ/#a/#b', /names 2 Slack channels.*create one channel per Slack channel/],
    ['https://hooks.slack.com/workflows/T0/A0/123/abc', /Workflow webhooks are not supported/],
    ['https://hooks.slack.com/nonsense', /not a Slack incoming webhook URL/],
    ['slack://T0/B0/XyZ?mode=bot', /bot tokens/],
    // 40
    [`discord://${I24}`, /needs the webhook id and token/],
    ['https://discord.com/channels/123/456', /not a Discord webhook URL/],
    ['discord://123/abc?ping=nobody', /ping=nobody is not a Discord mention/],
    // 42, 46
    ['tgram://123456789:abcdefg_hijklmnop/?to=id1,id2', /names 2 Telegram chats.*one channel per chat/],
    ['tgram://alpha:abcdefg_hijklmnop/lead2gold/', /bot id .* must be a number/],
    ['tgram://123456789:abcdefg_hijklmnop/', /needs the chat to send to/],
    ['tgram://123456789:abcdefg_hijklmnop/!!!/', /is not a Telegram chat/],
    // 64
    ['json://user@localhost?method=invalid', /method=invalid is not supported: a webhook is sent with POST, PUT or PATCH/],
    ['json://localhost?method=GET', /method=GET is not supported/],
    ['json://', /needs a host/],
    ['mailto://user:pass@example.com?mode=tls', /mode=tls is not an email mode/],
    ['mailto://example.com', /needs a sender/],
    ['mailto://u:p@example.com?pgp=yes', /PGP/],
    ['mailto://u:p@example.com/not-an-address', /"not-an-address" is not a valid email address/],
  ])('%s is refused with a clear message', (url, message) => {
    expect(urlError(url)).toMatch(message);
  });

  it('keeps tokens case-sensitive and reads the raw tgram string the WHATWG parser cannot', () => {
    expect(() => new URL('tgram://123456789:abcdefg_hijklmnop/chat/')).toThrow();
    const u = parseAppriseUrl('slack://Bot@TAbC/bDeF/XyZ/#Chan?To=%23x&+X-Head=1&-q=2&:f=3');
    expect(u).toMatchObject({ user: 'Bot', host: 'TAbC', segments: ['bDeF', 'XyZ', '#Chan'], headers: { 'X-Head': '1' }, params: { q: '2' }, fields: { f: '3' } });
    expect(u?.query.get('to')).toBe('#x');
  });

  it('an explicit type with a url that points anywhere (self-hosted, test receivers) is accepted', () => {
    expect(slackChannel.schema.safeParse({ url: 'http://127.0.0.1:9999/services/T/B/C' }).success).toBe(true);
    expect(discordChannel.schema.safeParse({ url: 'http://127.0.0.1:9999/api/webhooks/1/x' }).success).toBe(true);
    expect(telegramChannel.schema.safeParse({ bot_token: '1:x', chat_id: 5, api_base: 'http://127.0.0.1:9' }).success).toBe(true);
    expect(telegramChannel.schema.safeParse({ bot_token: 'nope', chat_id: 5 }).error?.issues[0]?.message).toMatch(/bot token looks like/);
    expect(telegramChannel.schema.safeParse({ bot_token: '1:x', chat_id: 'general' }).error?.issues[0]?.message).toMatch(/@channelname/);
    expect(emailChannel.schema.safeParse({ to: ['a@example.com'], smtp_url: 'http://x' }).error?.issues[0]?.message).toMatch(/smtp:\/\//);
    expect(emailChannel.schema.safeParse({ to: ['a@example.com'], smtp_url: 'smtp://h:25' }).error?.issues[0]?.message).toMatch(/sender address is required/);
    expect(emailChannel.schema.safeParse({ to: ['a@example.com'], from: 'x@example.com' }).error?.issues[0]?.message).toMatch(/need the channel's own smtp_url/);
    expect(emailChannel.schema.safeParse({ to: ['not-an-address'] }).success).toBe(false);
    expect(emailChannel.schema.safeParse({ to: ['a@example.com'] }).success).toBe(true); // existing configs unchanged
    expect(webhookChannel.schema.safeParse({ url: 'https://x.example/h', secret: 's', headers: { A: 'b' } }).success).toBe(true);
    expect(webhookChannel.schema.safeParse({ url: 'https://x.example/h', method: 'GET' }).error?.issues[0]?.message).toMatch(/POST, PUT or PATCH/);
  });
});

// ---- Slack ----

describe('Slack formatting', () => {
  it('lays out header, mrkdwn summary, fields and buttons, escaping & < > everywhere', () => {
    const n = note({ account: { id: 'a', name: HOSTILE, external_id: null, top_up_url: 'https://pay.example.com/top?x=1&y=2' } });
    const p = slackPayload({ url: 'https://x' }, n.message) as { text: string; blocks: any[] };
    expect(p.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    const all = JSON.stringify(p.blocks.slice(1)) + p.text;
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<@123456789>');
    expect(all).toContain('&lt;!channel&gt; @everyone &lt;b&gt;&amp;amp;');
    const fields = p.blocks.find((b) => b.fields)?.fields as Array<{ text: string }>;
    expect(fields[0]?.text).toMatch(/^\*Account\*\n&lt;!channel&gt;/);
    const actions = p.blocks.find((b) => b.type === 'actions');
    expect(actions.elements[0]).toMatchObject({ type: 'button', url: 'https://pay.example.com/top?x=1&y=2', text: { text: 'Top up now' }, style: 'primary' });
    expect(actions.elements[1]).toMatchObject({ url: 'https://bw.example.com/', text: { text: 'Open dashboard' } });
    // the fallback carries the title and every fact, escaped
    expect(p.text).toContain('*[Critical] &lt;!channel&gt;');
    expect(p.text).toContain('Balance*: $3.00');
  });

  it('mentions only on firing alerts and keeps a custom template as written', () => {
    const cfg = { url: 'https://x', mentions: ['@here', 'U012ABCDEF', 'S0G00D'] };
    const low = slackPayload(cfg, note().message) as { blocks: any[] };
    expect(low.blocks[1].text.text).toMatch(/^<!here> <@U012ABCDEF> <!subteam\^S0G00D>\n/);
    const rec = slackPayload(cfg, note({ type: 'balance.recovered', level: null, balance: 60 }).message) as { blocks: any[] };
    expect(JSON.stringify(rec)).not.toContain('<!here>');
    const custom: RenderedMessage = { ...note().message, custom: true, title: 'T', text: '*bold* <https://x.example|link>' };
    const c = slackPayload({ url: 'https://x' }, custom) as { blocks: any[] };
    expect(c.blocks[1].text.text).toBe('*bold* <https://x.example|link>');
  });

  it('respects Block Kit limits: header 150, section 3000, field 2000, 10 fields per section', () => {
    const long = 'x&'.repeat(5000);
    const base = note({ note: long, account: { id: 'a', name: 'N'.repeat(400), external_id: null, top_up_url: null } }).message;
    const m: RenderedMessage = { ...base, summary: `${'word '.repeat(1000)}\n${'line & more\n'.repeat(400)}`, facts: Array.from({ length: 23 }, (_, i) => [`L${i}`, i === 3 ? long : `v${i}`]) };
    const p = slackPayload({ url: 'https://x' }, m) as { blocks: any[]; text: string };
    expect(Array.from(p.blocks[0].text.text as string).length).toBeLessThanOrEqual(150);
    expect(Array.from(p.blocks[1].text.text as string).length).toBeLessThanOrEqual(3000);
    expect(p.blocks[1].text.text).toMatch(/\n…$/); // cut at a whole line
    const sections = p.blocks.filter((b) => b.fields);
    expect(sections.map((s) => s.fields.length)).toEqual([10, 10, 3]);
    for (const s of sections) for (const f of s.fields) expect(Array.from(f.text as string).length).toBeLessThanOrEqual(2000);
    // never a broken entity at a cut
    for (const s of sections) for (const f of s.fields) expect(f.text).not.toMatch(/&(a|am|amp)?…?$/);
    expect(p.blocks.length).toBeLessThanOrEqual(50);
  });

  it.each([
    [404, 'no_service', false, 'Slack says the webhook URL is no longer valid (no_service): create a new incoming webhook'],
    [403, 'invalid_token', false, 'Slack says the webhook URL is no longer valid (invalid_token): create a new incoming webhook'],
    [400, 'invalid_payload', false, /invalid_payload/],
    [400, 'no_text', false, /no_text/],
    [404, 'channel_not_found', false, /channel_not_found/],
    [410, 'channel_is_archived', false, /archived \(channel_is_archived\): unarchive it/],
    [403, 'action_prohibited', false, /action_prohibited/],
    [500, 'rollup_error', true, /rollup_error/],
    [503, 'upstream', true, /will retry/],
  ] as const)('HTTP %i %s → retryable %s', (status, body, retryable, error) => {
    const r = classifySlack(status, body, {}, 0);
    expect(r).toMatchObject({ ok: false, status, retryable });
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it('honours Retry-After on 429 and accepts "ok"', () => {
    expect(classifySlack(429, 'rate_limited', { 'retry-after': '30' }, 0)).toMatchObject({ ok: false, retryable: true, retryAfterMs: 30_000 });
    expect(classifySlack(200, 'ok', {}, 0)).toMatchObject({ ok: true, status: 200, response: 'ok' });
  });

  it('sends JSON to the webhook URL and never puts the URL in an error', async () => {
    const { ctx, calls } = fakeCtx({ status: 404, body: 'no_service' });
    const url = 'https://hooks.slack.com/services/T0/B0/SECRETTOKEN';
    const r = await slackChannel.send({ url }, note(), ctx);
    expect(calls[0]?.url).toBe(url);
    expect(calls[0]?.req.headers?.['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(calls[0]?.req.body ?? '').blocks).toBeDefined();
    expect(JSON.stringify(r)).not.toContain('SECRETTOKEN');
  });
});

// ---- Discord ----

describe('Discord formatting', () => {
  it('builds one embed, escapes markdown and never pings from the text', () => {
    const n = note({ account: { id: 'a', name: HOSTILE, external_id: null, top_up_url: 'https://pay.example.com/t(op)?x=1' } });
    const p = discordPayload({ url: 'https://x' }, n.message, n.payload.occurred_at) as any;
    expect(p.allowed_mentions).toEqual({ parse: [] });
    expect(p.content).toBeUndefined();
    const e = p.embeds[0];
    expect(e.color).toBe(0xdc2626);
    expect(e.timestamp).toBe('2025-01-15T08:30:00.000Z');
    expect(e.url).toBe('https://pay.example.com/t(op)?x=1');
    expect(e.description).toContain('\\<\\!channel\\>'.replace('\\!', '!'));
    expect(e.description).toContain('\\@everyone');
    expect(e.description).toContain('\\*bold\\*');
    expect(e.description).toContain('[Top up now](https://pay.example.com/t%28op%29?x=1)');
    expect(e.fields[0]).toMatchObject({ name: 'Account', value: escapeDiscord(HOSTILE) });
    expect(e.fields.find((f: any) => f.name === 'Balance')).toMatchObject({ value: '$3.00', inline: true });
    expect(escapeDiscord('a_b*c')).toBe('a\\_b\\*c');
  });

  it('pings only the configured mentions, only on firing alerts', () => {
    const cfg = { url: 'https://x', username: 'Billing', mentions: ['@here', '<@&123456789012>', '<@234567890123>'] };
    const low = discordPayload(cfg, note().message) as any;
    expect(low.content).toBe('@here <@&123456789012> <@234567890123>');
    expect(low.allowed_mentions).toEqual({ parse: ['everyone'], users: ['234567890123'], roles: ['123456789012'] });
    expect(low.username).toBe('Billing');
    const test = discordPayload(cfg, note({ type: 'test', account: null, level: null, balance: null }).message) as any;
    expect(test.content).toBeUndefined();
    expect(test.allowed_mentions).toEqual({ parse: [] });
  });

  it('keeps every embed limit and 6000 characters in total', () => {
    const huge = 'y'.repeat(3000);
    const base = note().message;
    const m: RenderedMessage = {
      ...base,
      title: 'T'.repeat(400),
      summary: `${'para '.repeat(200)}\n`.repeat(20),
      facts: Array.from({ length: 30 }, (_, i) => [`label ${i} ${'n'.repeat(300)}`, huge] as [string, string]),
    };
    const e = (discordPayload({ url: 'https://x' }, m) as any).embeds[0];
    const len = (s: string) => Array.from(s).length;
    expect(len(e.title)).toBeLessThanOrEqual(256);
    expect(e.fields.length).toBeLessThanOrEqual(25);
    for (const f of e.fields) {
      expect(len(f.name)).toBeLessThanOrEqual(256);
      expect(len(f.value)).toBeLessThanOrEqual(1024);
    }
    const total = len(e.title) + len(e.description ?? '') + (e.footer ? len(e.footer.text) : 0) + e.fields.reduce((n: number, f: any) => n + len(f.name) + len(f.value), 0);
    expect(total).toBeLessThanOrEqual(6000);
    expect(len(e.description ?? '')).toBeLessThanOrEqual(4096);
  });

  it.each([
    [404, { message: 'Unknown Webhook', code: 10015 }, false, 'Discord says the webhook no longer exists (10015): create a new webhook URL'],
    [401, { message: 'Invalid Webhook Token', code: 50027 }, false, /rejected the webhook token \(50027\)/],
    [400, { message: 'Invalid Form Body', code: 50035, errors: {} }, false, /50035/],
    [400, { message: 'Unknown Channel', code: 10003 }, false, /check thread_id/],
    [502, { message: 'Bad Gateway' }, true, /will retry/],
  ] as const)('HTTP %i %j → retryable %s', (status, body, retryable, error) => {
    const r = classifyDiscord(status, JSON.stringify(body), {}, 0);
    expect(r).toMatchObject({ ok: false, status, retryable });
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it('reads rate limits from the body, the headers and X-RateLimit-Remaining', () => {
    expect(classifyDiscord(429, JSON.stringify({ message: 'You are being rate limited.', retry_after: 1.234, global: false }), { 'retry-after': '2' }, 0)).toMatchObject({
      ok: false,
      retryable: true,
      retryAfterMs: 1234,
    });
    expect(classifyDiscord(429, 'nope', { 'retry-after': '3' }, 0)).toMatchObject({ retryable: true, retryAfterMs: 3000 });
    expect(classifyDiscord(200, '{}', { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': '0.75' }, 0)).toEqual({ ok: true, status: 200, response: '{}', pauseMs: 750 });
    expect(classifyDiscord(204, '', { 'x-ratelimit-remaining': '3', 'x-ratelimit-reset-after': '0.75' }, 0)).toEqual({ ok: true, status: 204, response: '' });
  });

  it('asks for ?wait=true and the thread, and logs the message id', async () => {
    const { ctx, calls } = fakeCtx({ status: 200, body: JSON.stringify({ id: '1111', channel_id: '2' }) });
    const r = await discordChannel.send({ url: 'https://discord.com/api/webhooks/1/TOKEN', thread_id: '42' }, note(), ctx);
    expect(calls[0]?.url).toBe('https://discord.com/api/webhooks/1/TOKEN?wait=true&thread_id=42');
    expect(r).toEqual({ ok: true, status: 200, response: 'message 1111' });
  });
});

// ---- Telegram ----

/** A strict check of Telegram's HTML: only its tags, balanced, entities only &lt; &gt; &amp; &quot;. */
function validTelegramHtml(s: string): boolean {
  const stack: string[] = [];
  const tag = /<(\/?)([a-z-]+)(?:\s+href="[^"<>]*")?>/g;
  let last = 0;
  for (let m = tag.exec(s); m; m = tag.exec(s)) {
    const between = s.slice(last, m.index);
    if (/[<>]/.test(between) || /&(?!(amp|lt|gt|quot);)/.test(between)) return false;
    last = m.index + m[0].length;
    const name = m[2]!;
    if (!['b', 'i', 'u', 's', 'a', 'code', 'pre'].includes(name)) return false;
    if (m[1]) {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  const rest = s.slice(last);
  return stack.length === 0 && !/[<>]/.test(rest) && !/&(?!(amp|lt|gt|quot);)/.test(rest);
}

describe('Telegram formatting', () => {
  it('sends HTML with a bold title and escapes & < > only', () => {
    const n = note({ account: { id: 'a', name: HOSTILE, external_id: null, top_up_url: 'https://pay.example.com/t?x=1&y="2"' } });
    const text = telegramText(n.message);
    expect(validTelegramHtml(text)).toBe(true);
    expect(text.startsWith('<b>[Critical] &lt;!channel&gt; @everyone &lt;b&gt;&amp;amp; *bold* _x_ [a](http://evil)')).toBe(true);
    expect(text).toContain('<b>Balance</b>: $3.00');
    expect(text).toContain('<a href="https://pay.example.com/t?x=1&amp;y=&quot;2&quot;">Top up now</a>');
    expect(escapeTelegram('"quotes" & \'x\'')).toBe('"quotes" &amp; \'x\'');
  });

  it('cuts at whole lines to 4096 characters after entity parsing', () => {
    const base = note({ note: 'z' }).message;
    const m: RenderedMessage = { ...base, facts: Array.from({ length: 400 }, (_, i) => [`Fact ${i}`, `<&> value ${'w'.repeat(20)}`] as [string, string]) };
    const text = telegramText(m);
    expect(telegramLength(text)).toBeLessThanOrEqual(4096);
    expect(telegramLength(text)).toBeGreaterThan(3900); // as much as fits, not a tiny cut
    expect(validTelegramHtml(text)).toBe(true);
    expect(text.endsWith('\n…')).toBe(true);
    expect(telegramLength('<b>a&amp;b</b>')).toBe(3);
  });

  it.each([
    [429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after 2', parameters: { retry_after: 2 } }, true, /rate limiting/, 2000],
    [401, { ok: false, error_code: 401, description: 'Unauthorized' }, false, 'Telegram rejected the bot token: check bot_token', undefined],
    [404, { ok: false, error_code: 404, description: 'Not Found' }, false, 'Telegram rejected the bot token: check bot_token', undefined],
    [400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' }, false, 'Telegram cannot find the chat: check chat_id and that the bot was added to it', undefined],
    [403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' }, false, /blocked the bot/, undefined],
    [403, { ok: false, error_code: 403, description: 'Forbidden: bot was kicked from the supergroup chat' }, false, /removed from the Telegram chat/, undefined],
    [403, { ok: false, error_code: 403, description: 'Forbidden: bot is not a member of the channel chat' }, false, /not a member/, undefined],
    [400, { ok: false, error_code: 400, description: 'Bad Request: message thread not found' }, false, /check topic_id/, undefined],
    [400, { ok: false, error_code: 400, description: 'Bad Request: TOPIC_CLOSED' }, false, /topic is closed/, undefined],
    [400, { ok: false, error_code: 400, description: "Bad Request: can't parse entities: Unsupported start tag" }, false, /template/, undefined],
    [
      400,
      { ok: false, error_code: 400, description: 'Bad Request: group chat was upgraded to a supergroup chat', parameters: { migrate_to_chat_id: -100777 } },
      false,
      /set chat_id to -100777/,
      undefined,
    ],
    [502, { ok: false, error_code: 502, description: 'Bad Gateway' }, true, /will retry/, undefined],
  ] as const)('HTTP %i %j', (status, body, retryable, error, after) => {
    const r = classifyTelegram(status, JSON.stringify(body), {}, 0);
    expect(r).toMatchObject({ ok: false, status, retryable });
    if (!r.ok) {
      expect(r.error).toMatch(error);
      expect(r.retryAfterMs).toBe(after);
    }
  });

  it('posts sendMessage with HTML parse mode, no link preview, topic and silence; the token stays out of results', async () => {
    const { ctx, calls } = fakeCtx({ status: 401, body: JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }) });
    const r = await telegramChannel.send(
      { bot_token: '123:SECRETTOKEN', chat_id: -100123, topic_id: 7, silent: true, api_base: 'http://tg.example/' },
      note(),
      ctx,
    );
    expect(calls[0]?.url).toBe('http://tg.example/bot123:SECRETTOKEN/sendMessage');
    expect(JSON.parse(calls[0]?.req.body ?? '')).toMatchObject({
      chat_id: -100123,
      message_thread_id: 7,
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      disable_notification: true,
    });
    expect(r).toMatchObject({ ok: false, retryable: false });
    expect(JSON.stringify(r)).not.toContain('SECRETTOKEN');
  });
});

// ---- webhook (json://) ----

describe('webhook with the Apprise format', () => {
  it.each([
    ['critical', 'failure'],
    ['warning', 'warning'],
    ['info', 'info'],
    ['resolved', 'success'],
  ] as const)('severity %s → type %s', (severity, type) => {
    const n = note();
    const body = JSON.parse(appriseBody({ ...n, message: { ...n.message, severity } }));
    expect(body).toEqual({ version: '1.0', title: n.message.title, message: n.message.text, attachments: [], type });
  });

  it('applies the :field mapping like Apprise (rename, remove, add)', () => {
    const body = JSON.parse(appriseBody(note(), { message: 'body', type: '', extra: 'x' }));
    expect(Object.keys(body).sort()).toEqual(['attachments', 'body', 'extra', 'title', 'version']);
    expect(body.extra).toBe('x');
  });

  it('sends with the method, headers and signature; old configs still POST the balancewatch body', async () => {
    const { ctx, calls } = fakeCtx({ status: 204, body: '' });
    const n = note();
    await webhookChannel.send({ url: 'https://h.example/x', format: 'apprise', method: 'PUT', headers: { Authorization: 'Basic abc' }, secret: 's3' }, n, ctx);
    const c = calls[0]!;
    expect(c.req.method).toBe('PUT');
    expect(c.req.headers).toMatchObject({ Authorization: 'Basic abc', 'content-type': 'application/json', 'x-balancewatch-event': 'balance.low', 'x-balancewatch-delivery': 'dk_1' });
    const t = Math.floor(1_700_000_000_000 / 1000);
    expect(c.req.headers?.['x-balancewatch-signature']).toBe(`t=${t},v1=${createHmac('sha256', 's3').update(`${t}.${c.req.body}`).digest('hex')}`);
    expect(JSON.parse(c.req.body ?? '').version).toBe('1.0');
    await webhookChannel.send({ url: 'https://h.example/x' }, n, ctx);
    expect(calls[1]?.req.method).toBe('POST');
    expect(JSON.parse(calls[1]?.req.body ?? '')).toMatchObject({ id: 'dk_1', type: 'balance.low', message: { title: n.message.title } });
  });
});

// ---- email ----

describe('email errors name the right settings', () => {
  it('points at SMTP_URL for the instance server and at the channel URL for its own', () => {
    const err = Object.assign(new Error('Invalid login: 535 Authentication failed'), { code: 'EAUTH', responseCode: 535 });
    const inst = classifySmtpError(err);
    const own = classifySmtpError(err, 'channel');
    expect(inst.ok || inst.error).toMatch(/SMTP_URL/);
    expect(own.ok || own.error).toMatch(/channel's SMTP URL/);
    const blocked = classifySmtpError(Object.assign(new Error('refusing to connect to the mail server x'), { code: 'EBLOCKED' }), 'channel');
    expect(blocked).toMatchObject({ ok: false, retryable: false, error: 'refusing to connect to the mail server x' });
  });
});

// zh-CN sanity for the chat layouts (the integration test checks the delivered text too)
describe('Chinese workspaces', () => {
  it('uses the full-width separator and Chinese labels in every service', () => {
    const n = note({}, 'zh-CN');
    expect(telegramText(n.message)).toContain('<b>余额</b>：');
    expect(JSON.stringify(slackPayload({ url: 'https://x' }, n.message))).toContain('余额不足');
    expect(JSON.stringify(discordPayload({ url: 'https://x' }, n.message))).toContain('余额');
    expect(escapeSlack('余额 <1>')).toBe('余额 &lt;1&gt;');
  });
});
