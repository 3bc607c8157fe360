import { describe, expect, it } from 'vitest';
import { barkChannel, BARK_BODY_BYTES } from '../../src/channels/bark.js';
import { gotifyChannel } from '../../src/channels/gotify.js';
import { NTFY_MESSAGE_BYTES, ntfyChannel } from '../../src/channels/ntfy.js';
import { dedupKey, pagerdutyChannel } from '../../src/channels/pagerduty.js';
import { escapeMarkdown, hardBreaks, parseAppriseUrl } from '../../src/channels/push-util.js';
import { channelFromUrl } from '../../src/channels/registry.js';
import { escapeCardText, TEAMS_MAX_BYTES, teamsChannel, teamsPayload } from '../../src/channels/teams.js';
import type { ChannelContext, ChannelType, NotificationPayload, OutgoingNotification } from '../../src/channels/types.js';
import { renderDigest } from '../../src/template/digest.js';
import { renderMessage } from '../../src/template/messages.js';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

const OCCURRED = '2025-01-15T08:30:00.000Z';

function payload(over: Partial<NotificationPayload> = {}, locale = 'en'): NotificationPayload {
  return {
    type: 'balance.low',
    occurred_at: OCCURRED,
    workspace: { id: 'ws_1', name: 'Acme', external_id: null, locale, time_zone: 'UTC' },
    account: { id: 'ac_1', name: 'OpenRouter prod', external_id: 'or-1', top_up_url: 'https://openrouter.ai/settings/credits' },
    balance: 3,
    currency: 'USD',
    level: 'critical',
    threshold: 5,
    episode: 1,
    reminder: 0,
    ...over,
  };
}

function note(p: NotificationPayload, key = 'dk_1', dashboardUrl: string | null = 'https://bw.example.com/'): OutgoingNotification {
  return { key, payload: p, message: renderMessage(p, { dashboardUrl }) };
}

const TEST_PAYLOAD: Partial<NotificationPayload> = { type: 'test', account: null, balance: null, currency: null, level: null, threshold: null, episode: 0 };

interface Call {
  url: string;
  method?: string;
  headers: Record<string, string>;
  body: any;
  raw: string;
}

/** A channel context whose HTTP client records requests and answers from a list (the last answer repeats). */
function fakeCtx(...answers: Array<{ status: number; body?: unknown; headers?: Record<string, string> }>) {
  const calls: Call[] = [];
  const ctx: ChannelContext = {
    mailer: null,
    now: () => Date.parse('2025-01-15T08:30:00Z'),
    http: {
      async request(url, req = {}) {
        const raw = req.body ?? '';
        let body: unknown = raw;
        try {
          body = JSON.parse(raw);
        } catch {}
        calls.push({ url, method: req.method, headers: req.headers ?? {}, body, raw });
        const a = answers[Math.min(calls.length - 1, answers.length - 1)] ?? { status: 200 };
        return { status: a.status, headers: a.headers ?? {}, body: typeof a.body === 'string' ? a.body : JSON.stringify(a.body ?? '') };
      },
      async close() {},
    },
  };
  return { ctx, calls };
}

/** Parses through the registry (scheme → channel, or native http(s) URL) and validates with the channel's schema. */
function resolve(url: string): { type: string; fields: Record<string, unknown> } {
  const r = channelFromUrl(url);
  const parsed = r.type.schema.safeParse(r.fields);
  if (!parsed.success) throw new Error(`schema refused ${JSON.stringify(r.fields)}: ${parsed.error.issues[0]?.message}`);
  return { type: r.type.type, fields: parsed.data as Record<string, unknown> };
}

const byteLen = (s: string) => Buffer.byteLength(s, 'utf8');

// ---------------------------------------------------------------------------------------------------------------
// URL parsing: the Apprise corpus (research/channels.md §4, entries 16–32 and 47–52), native URLs, invalid ones

describe('Apprise-style and native URLs', () => {
  const ok: Array<[string, string, Record<string, unknown>]> = [
    // 16–21 Bark
    ['bark://192.168.0.6:8081/device_key', 'bark', { server: 'http://192.168.0.6:8081', device_key: 'device_key' }],
    ['barks://192.168.0.7/device_key/', 'bark', { server: 'https://192.168.0.7', device_key: 'device_key' }],
    [
      'bark://user:pass@192.168.0.5:8086/device_key/device_key2/',
      'bark',
      { server: 'http://192.168.0.5:8086', device_key: 'device_key', device_keys: ['device_key2'], username: 'user', password: 'pass' },
    ],
    ['bark://192.168.0.6:8081/device_key/?sound=alarm', 'bark', { server: 'http://192.168.0.6:8081', device_key: 'device_key', sound: 'alarm.caf' }],
    ['bark://192.168.0.6:8081/?to=device_key', 'bark', { server: 'http://192.168.0.6:8081', device_key: 'device_key' }],
    ['bark://192.168.0.6:8081/device_key/?level=critical&volume=10', 'bark', { server: 'http://192.168.0.6:8081', device_key: 'device_key', level: 'critical', volume: 10 }],
    [
      'barks://api.day.app/KEY1/?to=KEY2,KEY3&group=billing&click=https%3A%2F%2Fexample.com%2Fpay&badge=2&level=t&sound=minuet.caf',
      'bark',
      { server: 'https://api.day.app', device_key: 'KEY1', device_keys: ['KEY2', 'KEY3'], group: 'billing', click: 'https://example.com/pay', badge: 2, level: 'timeSensitive', sound: 'minuet.caf' },
    ],
    // The URL the Bark app copies
    ['https://api.day.app/ynJ5Ft4atkMkWeo2PAvFhF/推送内容?group=ops', 'bark', { server: 'https://api.day.app', device_key: 'ynJ5Ft4atkMkWeo2PAvFhF', group: 'ops' }],
    // 22–24 Gotify
    ['gotify://hostname/tttttttttttttttt', 'gotify', { server: 'http://hostname', token: 'tttttttttttttttt' }],
    ['gotify://hostname/a/path/ending/in/a/slash/uuuuuuuuuuuuuuuu', 'gotify', { server: 'http://hostname/a/path/ending/in/a/slash', token: 'uuuuuuuuuuuuuuuu' }],
    ['gotify://hostname/iiiiiiiiiiiiiiii?priority=high', 'gotify', { server: 'http://hostname', token: 'iiiiiiiiiiiiiiii', priority: 8 }],
    ['gotifys://push.example.de:8443/AbC.dEf_123/?priority=emergency', 'gotify', { server: 'https://push.example.de:8443', token: 'AbC.dEf_123', priority: 10 }],
    ['gotify://h/tok?priority=low', 'gotify', { server: 'http://h', token: 'tok', priority: 0 }],
    ['gotify://h/tok?priority=moderate', 'gotify', { server: 'http://h', token: 'tok', priority: 3 }],
    ['gotify://h/tok?priority=normal', 'gotify', { server: 'http://h', token: 'tok', priority: 5 }],
    ['gotify://h/tok?priority=10', 'gotify', { server: 'http://h', token: 'tok', priority: 10 }],
    ['gotify://h/tok?priority=7', 'gotify', { server: 'http://h', token: 'tok', priority: 5 }],
    // Gotify's documented push URL
    ['https://push.example.de/message?token=AqqCEN7lJX5bB0f', 'gotify', { server: 'https://push.example.de', token: 'AqqCEN7lJX5bB0f' }],
    ['https://example.com/gotify/message?token=AqqCEN7lJX5bB0f', 'gotify', { server: 'https://example.com/gotify', token: 'AqqCEN7lJX5bB0f' }],
    // 26–32 ntfy
    ['ntfy://user@localhost/topic/', 'ntfy', { server: 'http://localhost', topic: 'topic', username: 'user' }],
    ['ntfy://localhost/topic1/?priority=high', 'ntfy', { server: 'http://localhost', topic: 'topic1', priority: 4 }],
    ['ntfy://tk_abcd123456@localhost/topic1', 'ntfy', { server: 'http://localhost', topic: 'topic1', token: 'tk_abcd123456' }],
    ['ntfy://localhost/topic1?token=abc1234', 'ntfy', { server: 'http://localhost', topic: 'topic1', token: 'abc1234' }],
    ['https://ntfy.sh?to=topic', 'ntfy', { server: 'https://ntfy.sh', topic: 'topic' }],
    [
      'ntfy://user:pass@topic1/topic2/topic3/?mode=cloud',
      'ntfy',
      { server: 'https://ntfy.sh', topic: 'topic1', extra_topics: ['topic2', 'topic3'], username: 'user', password: 'pass' },
    ],
    ['ntfy://mytopic', 'ntfy', { server: 'https://ntfy.sh', topic: 'mytopic' }],
    ['ntfys://mytopic', 'ntfy', { server: 'https://ntfy.sh', topic: 'mytopic' }],
    // research §2: ntfy://ntfy.sh/topic is private mode over plain http
    ['ntfy://ntfy.sh/topic', 'ntfy', { server: 'http://ntfy.sh', topic: 'topic' }],
    ['ntfys://ntfy.example.com:8443/alerts?tags=moneybag,bank&priority=max&click=https%3A%2F%2Fpay.example.com', 'ntfy', {
      server: 'https://ntfy.example.com:8443',
      topic: 'alerts',
      tags: ['moneybag', 'bank'],
      priority: 5,
      click: 'https://pay.example.com',
    }],
    ['ntfys://secret@ntfy.example.com/alerts?auth=token', 'ntfy', { server: 'https://ntfy.example.com', topic: 'alerts', token: 'secret' }],
    ['https://ntfy.sh/billing_alerts', 'ntfy', { server: 'https://ntfy.sh', topic: 'billing_alerts' }],
    // 47–48 Workflows
    [
      'workflows://host:443/workflow1b/signature/',
      'teams',
      { url: 'https://host:443/workflows/workflow1b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=signature' },
    ],
    [
      'workflow://prod-161.westeurope.logic.azure.com/643e69f8/KODuebWb-6Rj8?pa=yes',
      'teams',
      {
        url: 'https://prod-161.westeurope.logic.azure.com/powerautomate/automations/direct/workflows/643e69f8/triggers/manual/paths/invoke?api-version=2022-03-01-preview&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=KODuebWb-6Rj8',
      },
    ],
    [
      'https://server.azure.com:443/workflows/643e69f83c8944/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=KODuebWbDGYFr0z0eu',
      'teams',
      { url: 'https://server.azure.com/workflows/643e69f83c8944/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=KODuebWbDGYFr0z0eu' },
    ],
    [
      'https://default0a1b2c.05.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/9f8e7d/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx-9_y',
      'teams',
      {
        url: 'https://default0a1b2c.05.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/9f8e7d/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx-9_y',
      },
    ],
    // 50–52 PagerDuty
    ['pagerduty://myroutekey@myapikey', 'pagerduty', { routing_key: 'myroutekey' }],
    ['pagerduty://routekey@apikey/ms/mc?group=mygroup&class=myclass', 'pagerduty', { routing_key: 'routekey', source: 'ms', component: 'mc', group: 'mygroup', class: 'myclass' }],
    ['pagerduty://myroutekey@myapikey?+key=value&+key2=value2', 'pagerduty', { routing_key: 'myroutekey', custom_details: { key: 'value', key2: 'value2' } }],
    ['pagerduty://rk@ak?region=eu&severity=c&click=https%3A%2F%2Fexample.com', 'pagerduty', { routing_key: 'rk', region: 'eu', severity: 'critical', click: 'https://example.com' }],
    ['pagerduty://ignored@ak?integrationkey=R0UTINGKEY', 'pagerduty', { routing_key: 'R0UTINGKEY' }],
    ['https://events.eu.pagerduty.com/integration/0123456789abcdef0123456789abcdef/enqueue', 'pagerduty', { routing_key: '0123456789abcdef0123456789abcdef', region: 'eu' }],
  ];

  it.each(ok)('%s → %s', (url, type, fields) => {
    const r = resolve(url);
    expect(r.type).toBe(type);
    expect(r.fields).toEqual(fields);
  });

  const bad: Array<[string, RegExp]> = [
    ['bark:///device_key', /needs the server host/],
    ['bark://192.168.0.6:8081/', /needs a device key/],
    ['bark://host/key?level=loud', /not a Bark level/],
    ['bark://host/key?volume=11', /volume must be a whole number from 0 to 10/],
    ['bark://host/key?sound=my%20song', /not a Bark sound/],
    ['https://api.day.app/', /needs a device key/],
    ['https://api.day.app/push', /needs a device key/],
    // 25
    ['gotify://hostname', /needs the application token/],
    ['gotify://hostname/token?priority=urgent', /not a Gotify priority/],
    ['https://push.example.de/message?token=', /empty token/],
    ['ntfy://', /needs a topic/],
    ['ntfys://ntfy.sh', /needs a topic/],
    ['ntfy://localhost/bad.topic', /not a valid ntfy topic/],
    ['ntfy://localhost/t?mode=hybrid', /not an ntfy mode/],
    ['ntfy://localhost/t?priority=whenever', /not an ntfy priority/],
    ['ntfy://localhost/t?auth=token', /auth=token needs a token/],
    // 49
    ['workflow://host/workflow', /needs the signature/],
    ['workflows://host/', /needs the workflow id/],
    ['workflows://host/wf/bad%20sig', /needs the signature/],
    ['https://prod-1.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01', /no sig=/],
    ['https://prod-1.westus.logic.azure.com/something/else', /not a Workflows webhook URL/],
    ['pagerduty://myapikey', /needs the integration \(routing\) key/],
    ['pagerduty://rk@ak?region=asia', /not a PagerDuty region/],
    ['pagerduty://rk@ak?severity=fatal', /not a PagerDuty severity/],
    ['https://events.pagerduty.com/v2/enqueue', /has no routing key/],
  ];

  it.each(bad)('%s is refused with an actionable message', (url, message) => {
    expect(() => channelFromUrl(url)).toThrow(message);
  });

  it('leaves other http(s) URLs alone', () => {
    for (const url of ['https://example.com/hook', 'https://ntfy.example.com/topic', 'https://api.day.app.evil.com/key', 'https://ntfy.sh.evil.com/t', 'http://127.0.0.1:9/message?token=x&y=1']) {
      expect(channelFromUrl(url).type.type).toBe('webhook');
    }
  });

  it('reads Apprise URLs without WHATWG rewriting ("+" stays literal, hosts keep their case)', () => {
    const u = parseAppriseUrl('ntfy://User:p%40ss@MyTopic:8080/a%2Fb/c?+X=1+2&Priority=High', 'ntfy');
    expect(u).toMatchObject({ user: 'User', password: 'p@ss', host: 'MyTopic', port: 8080, segments: ['a/b', 'c'], plus: { X: '1+2' } });
    expect(u.query.get('priority')).toBe('High');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Schemas

describe('channel fields', () => {
  const refuses = (type: ChannelType<any>, fields: Record<string, unknown>, message: RegExp) => {
    const r = type.schema.safeParse(fields);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join('; ')).toMatch(message);
  };

  it('Bark: defaults to the public server, refuses credentials in the server URL and unknown fields', () => {
    expect(barkChannel.schema.parse({ device_key: 'abc' })).toEqual({ server: 'https://api.day.app', device_key: 'abc' });
    refuses(barkChannel, { server: 'https://u:p@bark.example.com', device_key: 'abc' }, /own fields/);
    refuses(barkChannel, { device_key: 'a b' }, /device key/);
    refuses(barkChannel, { device_key: 'abc', password: 'x' }, /password needs a username/);
    refuses(barkChannel, { device_key: 'abc', level: 'loud' }, /level must be one of/);
    refuses(barkChannel, { device_key: 'abc', colour: 'red' }, /Unrecognized key/i);
    refuses(barkChannel, { server: 'ftp://x', device_key: 'abc' }, /http/);
  });

  it('Gotify needs a server and token; priorities 0–10', () => {
    refuses(gotifyChannel, { token: 'x' }, /server/i);
    refuses(gotifyChannel, { server: 'https://g.example.com', token: 'x', priority: 11 }, /10/);
    refuses(gotifyChannel, { server: 'https://g.example.com/?token=abc', token: 'x' }, /query string/);
    expect(gotifyChannel.schema.safeParse({ server: 'http://127.0.0.1:8080', token: 'AqqCEN7lJX5bB0f' }).success).toBe(true);
  });

  it('ntfy: a topic, and either a token or a username', () => {
    expect(ntfyChannel.schema.parse({ topic: 'billing' })).toEqual({ server: 'https://ntfy.sh', topic: 'billing' });
    refuses(ntfyChannel, { topic: 'bad topic' }, /1–64/);
    refuses(ntfyChannel, { topic: 't', token: 'tk_x', username: 'u' }, /either a token or a username/);
    refuses(ntfyChannel, { topic: 't', priority: 6 }, /5/);
  });

  it('PagerDuty: routing key and optional overrides', () => {
    refuses(pagerdutyChannel, { routing_key: '' }, /Integration Key/);
    refuses(pagerdutyChannel, { routing_key: 'k', region: 'asia' }, /region must be/);
    refuses(pagerdutyChannel, { routing_key: 'k', severity: 'fatal' }, /severity must be one of/);
    expect(pagerdutyChannel.schema.safeParse({ routing_key: 'k', api_base: 'http://127.0.0.1:1234' }).success).toBe(true);
  });

  it('every credential is a secret field; the Teams URL is itself the credential', () => {
    expect(barkChannel.secretFields).toEqual(expect.arrayContaining(['device_key', 'device_keys', 'password']));
    expect(gotifyChannel.secretFields).toEqual(['token']);
    expect(ntfyChannel.secretFields).toEqual(expect.arrayContaining(['token', 'password']));
    expect(pagerdutyChannel.secretFields).toEqual(['routing_key']);
    expect(teamsChannel.secretFields).toEqual(['url']);
  });

  it('limits: ntfy stays under its visitor bucket, PagerDuty 120/min and never merged, Teams 4/s', () => {
    expect(ntfyChannel.limits).toEqual([{ count: 60, windowMs: 300_000 }]);
    // 60 per any 5 minutes never overdraws a bucket of 60 refilled at 1 per 5 s, for any span of t seconds.
    for (let t = 1; t <= 3600; t++) expect(60 * Math.ceil(t / 300)).toBeLessThanOrEqual(60 + t / 5);
    expect(pagerdutyChannel.limits).toEqual([{ count: 120, windowMs: 60_000 }]);
    expect(pagerdutyChannel.mergeable).toBe(false);
    expect(teamsChannel.limits).toEqual([{ count: 4, windowMs: 1000 }]);
    for (const c of [barkChannel, gotifyChannel, ntfyChannel, teamsChannel]) expect(c.mergeable).not.toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bark

describe('Bark send', () => {
  const cfg = barkChannel.schema.parse({ server: 'https://bark.example.com/', device_key: 'KEY1' });

  it.each([
    ['critical', { level: 'critical' }, 'critical'],
    ['warning', { level: 'warning' }, 'timeSensitive'],
    ['info', { level: 'info' }, 'active'],
    ['resolved', { type: 'balance.recovered', balance: 60, level: null, threshold: 22 }, 'active'],
  ] as const)('%s → level %s', async (_s, over, level) => {
    const { ctx, calls } = fakeCtx({ status: 200, body: { code: 200, message: 'success', timestamp: 1 } });
    const r = await barkChannel.send(cfg, note(payload(over as Partial<NotificationPayload>)), ctx);
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('https://bark.example.com/push');
    expect(calls[0]!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(calls[0]!.body.level).toBe(level);
    expect('volume' in calls[0]!.body).toBe(level === 'critical');
    expect(calls[0]!.body.device_key).toBe('KEY1');
    expect(calls[0]!.body.group).toBe('balancewatch');
  });

  it('opens the top-up page on tap, else the dashboard; body is the plain text', async () => {
    const { ctx, calls } = fakeCtx({ status: 200, body: { code: 200, message: 'success' } });
    await barkChannel.send(cfg, note(payload()), ctx);
    expect(calls[0]!.body.url).toBe('https://openrouter.ai/settings/credits');
    expect(calls[0]!.body.title).toBe('[Critical] OpenRouter prod balance low: $3.00');
    expect(calls[0]!.body.body).toContain('Balance: $3.00');
    await barkChannel.send(cfg, note(payload({ account: { id: 'a', name: 'n', external_id: null, top_up_url: null } })), ctx);
    expect(calls[1]!.body.url).toBe('https://bw.example.com/');
  });

  it('one request per device, Basic auth, sound / volume / badge / call from the config', async () => {
    const c = barkChannel.schema.parse({
      server: 'http://10.0.0.2:8080',
      device_key: 'K1',
      device_keys: ['K2', 'K1'],
      username: 'bw',
      password: 'p:ss',
      sound: 'alarm.caf',
      volume: 9,
      badge: 1,
      call: true,
      group: 'billing',
    });
    const { ctx, calls } = fakeCtx({ status: 200, body: { code: 200, message: 'success' } });
    expect((await barkChannel.send(c, note(payload()), ctx)).ok).toBe(true);
    expect(calls.map((x) => x.body.device_key)).toEqual(['K1', 'K2']);
    expect(calls[0]!.headers.authorization).toBe(`Basic ${Buffer.from('bw:p:ss').toString('base64')}`);
    expect(calls[0]!.body).toMatchObject({ sound: 'alarm.caf', volume: 9, badge: 1, call: '1', group: 'billing', level: 'critical' });
    // No ringing for a recovery.
    await barkChannel.send(c, note(payload({ type: 'balance.recovered', level: null, balance: 50 })), ctx);
    expect(calls[2]!.body.call).toBeUndefined();
  });

  it('keeps the push under the APNs payload limit, cutting whole lines', async () => {
    const { ctx, calls } = fakeCtx({ status: 200, body: { code: 200, message: 'success' } });
    const p = payload({ note: `${'很长的备注'.repeat(400)}` }, 'zh-CN');
    await barkChannel.send(cfg, note(p), ctx);
    const body: string = calls[0]!.body.body;
    expect(byteLen(body)).toBeLessThanOrEqual(BARK_BODY_BYTES);
    expect(body.endsWith('\n…')).toBe(true);
    expect(byteLen(calls[0]!.raw)).toBeLessThan(4096);
  });

  it.each([
    [{ status: 418, body: "I'm a teapot" }, false, /refused the Basic auth user name or password \(HTTP 418/],
    [{ status: 400, body: { code: 400, message: 'failed to get device token: failed to get [KEY1] device token from database' } }, false, /does not know this device key.*check the device key/],
    [{ status: 500, body: { code: 500, message: 'push failed: BadDeviceToken' } }, true, /could not push \(500: push failed: BadDeviceToken\); will retry/],
    [{ status: 200, body: { code: 400, message: 'weird' } }, false, /Bark answered code 400: weird/],
    [{ status: 404, body: 'Cannot POST /push' }, false, /no Bark server answers at this URL/],
    [{ status: 503, body: 'down' }, true, /HTTP 503; will retry/],
  ])('%j → retryable %s', async (answer, retryable, error) => {
    const { ctx } = fakeCtx(answer);
    const r = await barkChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: false, retryable });
    if (r.ok) throw new Error('expected a failure');
    expect(r.error).toMatch(error);
    expect(`${r.error} ${r.response}`).not.toContain('KEY1');
  });

  it('reports partial failures across devices without naming the keys', async () => {
    const c = barkChannel.schema.parse({ device_key: 'GOOD', device_keys: ['BADKEY'] });
    const { ctx } = fakeCtx({ status: 200, body: { code: 200, message: 'success' } }, { status: 400, body: { code: 400, message: 'failed to get device token: failed to get [BADKEY] device token from database' } });
    const r = await barkChannel.send(c, note(payload()), ctx);
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (r.ok) throw new Error('expected a failure');
    expect(r.error).toMatch(/^1 of 2 Bark devices failed: Bark does not know this device key/);
    expect(`${r.error} ${r.response}`).not.toMatch(/BADKEY|GOOD/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Gotify

describe('Gotify send', () => {
  const cfg = gotifyChannel.schema.parse({ server: 'https://push.example.de/gotify/', token: 'AqqCEN7lJX5bB0f' });
  const stored = { status: 200, body: { id: 7, appid: 1, message: 'm', title: 't', priority: 8, date: '2025-01-15T08:30:00Z' } };

  it('posts Markdown with the token header, severity priority and a click URL', async () => {
    const { ctx, calls } = fakeCtx(stored);
    const r = await gotifyChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: true, status: 200 });
    const c = calls[0]!;
    expect(c.url).toBe('https://push.example.de/gotify/message');
    expect(c.headers['x-gotify-key']).toBe('AqqCEN7lJX5bB0f');
    expect(c.body.priority).toBe(8);
    expect(c.body.extras).toEqual({
      'client::display': { contentType: 'text/markdown' },
      'client::notification': { click: { url: 'https://openrouter.ai/settings/credits' } },
    });
    expect(c.body.title).toBe('[Critical] OpenRouter prod balance low: $3.00');
    expect(c.body.message).toContain('- **Balance**: $3.00');
    expect(c.body.message).toContain('[Top up now](https://openrouter.ai/settings/credits)');
  });

  it.each([
    [{ level: 'warning' }, 5],
    [{ level: 'info' }, 3],
    [{ type: 'balance.recovered', level: null, balance: 50 }, 3],
    [TEST_PAYLOAD, 3],
  ])('priority by severity %j → %i, unless the channel fixes one', async (over, prio) => {
    const { ctx, calls } = fakeCtx(stored);
    await gotifyChannel.send(cfg, note(payload(over as Partial<NotificationPayload>)), ctx);
    expect(calls[0]!.body.priority).toBe(prio);
    await gotifyChannel.send({ ...cfg, priority: 10 }, note(payload(over as Partial<NotificationPayload>)), ctx);
    expect(calls[1]!.body.priority).toBe(10);
  });

  it('escapes user text so it cannot become markup', async () => {
    const { ctx, calls } = fakeCtx(stored);
    const evil = payload({ account: { id: 'a', name: '*prod* [click](https://evil.example) <b>x</b> _y_', external_id: null, top_up_url: null } });
    await gotifyChannel.send(cfg, note(evil, 'k', null), ctx);
    const msg: string = calls[0]!.body.message;
    expect(msg).toContain('\\*prod\\* \\[click\\](https://evil.example) \\<b>x\\</b> \\_y\\_');
    expect(msg).not.toMatch(/(^|[^\\])\[click\]/);
  });

  it('sends a user template as written', async () => {
    const { ctx, calls } = fakeCtx(stored);
    const n = note(payload());
    n.message = { ...n.message, custom: true, title: 'Custom', text: '**Pay** [now](https://x.example)' };
    await gotifyChannel.send(cfg, n, ctx);
    expect(calls[0]!.body.message).toBe('**Pay** [now](https://x.example)');
  });

  it.each([
    [{ status: 401, body: { error: 'Unauthorized', errorCode: 401, errorDescription: 'you need to provide a valid access token or user credentials to access this api' } }, /^Gotify rejected the app token \(401 Unauthorized: you need to provide a valid access token.*\): check the token/],
    [{ status: 403, body: { error: 'Forbidden', errorCode: 403, errorDescription: 'you are not allowed to access this api' } }, /^Gotify rejected the app token \(403 Forbidden/],
    [{ status: 400, body: { error: 'Bad Request', errorCode: 400, errorDescription: "Field 'message' is required" } }, /^Gotify rejected the message \(400 Bad Request: Field 'message' is required\)/],
    [{ status: 404, body: '404 page not found' }, /no Gotify server answers at this URL/],
    [{ status: 200, body: '<html>login</html>' }, /answered without the stored message/],
  ])('%j → %s', async (answer, error) => {
    const { ctx } = fakeCtx(answer);
    const r = await gotifyChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (r.ok) throw new Error('expected a failure');
    expect(r.error).toMatch(error);
  });

  it('5xx is retried', async () => {
    const { ctx } = fakeCtx({ status: 502, body: 'bad gateway' });
    expect(await gotifyChannel.send(cfg, note(payload()), ctx)).toMatchObject({ ok: false, retryable: true });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// ntfy

describe('ntfy send', () => {
  const cfg = ntfyChannel.schema.parse({ server: 'https://ntfy.example.com', topic: 'billing', token: 'tk_secret123' });
  const published = { status: 200, body: { id: 'abc', time: 1, expires: 2, event: 'message', topic: 'billing', message: 'm' } };

  it.each([
    ['critical', { level: 'critical' }, 5, 'rotating_light'],
    ['warning', { level: 'warning' }, 4, 'warning'],
    ['info', { level: 'info' }, 3, 'information_source'],
    ['resolved', { type: 'balance.recovered', level: null, balance: 80 }, 3, 'white_check_mark'],
  ] as const)('%s → priority %i, tag %s', async (_s, over, prio, tag) => {
    const { ctx, calls } = fakeCtx(published);
    const r = await ntfyChannel.send({ ...cfg, tags: ['moneybag'] }, note(payload(over as Partial<NotificationPayload>)), ctx);
    expect(r).toMatchObject({ ok: true, status: 200 });
    const c = calls[0]!;
    expect(c.url).toBe('https://ntfy.example.com/');
    expect(c.headers.authorization).toBe('Bearer tk_secret123');
    expect(c.body).toMatchObject({ topic: 'billing', priority: prio, tags: [tag, 'moneybag'], markdown: true });
  });

  it('JSON publish with click, view actions and Markdown', async () => {
    const { ctx, calls } = fakeCtx(published);
    await ntfyChannel.send(cfg, note(payload()), ctx);
    const b = calls[0]!.body;
    expect(b.click).toBe('https://openrouter.ai/settings/credits');
    expect(b.actions).toEqual([
      { action: 'view', label: 'Top up now', url: 'https://openrouter.ai/settings/credits', clear: false },
      { action: 'view', label: 'Open dashboard', url: 'https://bw.example.com/', clear: false },
    ]);
    expect(b.title).toBe('[Critical] OpenRouter prod balance low: $3.00');
    expect(b.message).toContain('- **Balance**: $3.00');
  });

  it('Basic auth with username and password; a fixed priority wins', async () => {
    const { ctx, calls } = fakeCtx(published);
    await ntfyChannel.send(ntfyChannel.schema.parse({ topic: 't', username: 'phil', password: 'pa:ss', priority: 2 }), note(payload()), ctx);
    expect(calls[0]!.url).toBe('https://ntfy.sh/');
    expect(calls[0]!.headers.authorization).toBe(`Basic ${Buffer.from('phil:pa:ss').toString('base64')}`);
    expect(calls[0]!.body.priority).toBe(2);
  });

  it('keeps the message within 4096 bytes, whole lines only', async () => {
    const { ctx, calls } = fakeCtx(published);
    await ntfyChannel.send(cfg, note(payload({ note: '余额'.repeat(3000) }, 'zh-CN')), ctx);
    const msg: string = calls[0]!.body.message;
    expect(byteLen(msg)).toBeLessThanOrEqual(NTFY_MESSAGE_BYTES);
    expect(msg.split('\n').at(-1)).toBe('…');
    // no half-written bold label
    for (const line of msg.split('\n')) expect((line.match(/\*\*/g) ?? []).length % 2).toBe(0);
  });

  it('sends one request per extra topic', async () => {
    const { ctx, calls } = fakeCtx(published);
    await ntfyChannel.send({ ...cfg, extra_topics: ['ops', 'billing'] }, note(payload()), ctx);
    expect(calls.map((c) => c.body.topic)).toEqual(['billing', 'ops']);
  });

  it.each([
    [{ status: 401, body: { code: 40101, http: 401, error: 'unauthorized', link: 'https://ntfy.sh/docs/publish/#authentication' } }, false, /^ntfy rejected the credentials \(40101 unauthorized\): check the access token/],
    [{ status: 403, body: { code: 40301, http: 403, error: 'forbidden' } }, false, /^ntfy refused to publish to this topic \(40301 forbidden\)/],
    [{ status: 429, body: { code: 42901, http: 429, error: 'limit reached: too many requests' } }, true, /rate-limited the channel \(42901/],
    [{ status: 413, body: { code: 41301, http: 413, error: 'request entity too large' } }, false, /too large/],
    [{ status: 400, body: { code: 40009, http: 400, error: 'invalid request: topic invalid' } }, false, /^ntfy rejected the message \(40009 invalid request: topic invalid\)/],
    [{ status: 500, body: { code: 50001, http: 500, error: 'internal server error' } }, true, /HTTP 500; will retry/],
  ])('%j → retryable %s', async (answer, retryable, error) => {
    const { ctx } = fakeCtx(answer);
    const r = await ntfyChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: false, retryable });
    if (r.ok) throw new Error('expected a failure');
    expect(r.error).toMatch(error);
  });

  it('429 honours Retry-After; the daily quota (42908) waits an hour', async () => {
    const a = await ntfyChannel.send(cfg, note(payload()), fakeCtx({ status: 429, body: { code: 42901, http: 429, error: 'limit' }, headers: { 'retry-after': '12' } }).ctx);
    expect(a).toMatchObject({ ok: false, retryable: true, retryAfterMs: 12_000 });
    const b = await ntfyChannel.send(cfg, note(payload()), fakeCtx({ status: 429, body: { code: 42908, http: 429, error: 'limit reached: daily message quota' } }).ctx);
    expect(b).toMatchObject({ ok: false, retryable: true, retryAfterMs: 3_600_000 });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// PagerDuty

describe('PagerDuty send', () => {
  const KEY = '0123456789abcdef0123456789abcdef';
  const cfg = pagerdutyChannel.schema.parse({ routing_key: KEY });
  const accepted = (k = 'x') => ({ status: 202, body: { status: 'success', message: 'Event processed', dedup_key: k } });

  it('triggers a firing alert with severity, summary, details and links', async () => {
    const { ctx, calls } = fakeCtx(accepted());
    const r = await pagerdutyChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: true, status: 202 });
    const e = calls[0]!;
    expect(e.url).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(e.body).toMatchObject({
      routing_key: KEY,
      event_action: 'trigger',
      dedup_key: 'bw-ac_1-balance.low-1',
      payload: {
        summary: '[Critical] OpenRouter prod balance low: $3.00',
        source: 'balancewatch',
        severity: 'critical',
        timestamp: OCCURRED,
        component: 'OpenRouter prod',
        group: 'Acme',
        class: 'balance.low',
        custom_details: { event: 'balance.low', balance: 3, currency: 'USD', threshold: 5, level: 'critical', account: 'OpenRouter prod', episode: 1 },
      },
      links: [
        { href: 'https://openrouter.ai/settings/credits', text: 'Top up now' },
        { href: 'https://bw.example.com/', text: 'Open dashboard' },
      ],
      client: 'balancewatch',
      client_url: 'https://bw.example.com/',
    });
  });

  it('resolves a recovery with the dedup_key of the trigger; a new episode is a new incident', async () => {
    const { ctx, calls } = fakeCtx(accepted());
    const low1 = note(payload({ episode: 4, level: 'warning' }), 'key-a');
    const escalate = note(payload({ episode: 4, level: 'critical' }), 'key-b');
    const reminder = note(payload({ episode: 4, level: 'critical', reminder: 1 }), 'key-c');
    const recovered = note(payload({ type: 'balance.recovered', episode: 4, level: null, balance: 80 }), 'key-d');
    const low2 = note(payload({ episode: 5, level: 'warning' }), 'key-e');
    for (const n of [low1, escalate, reminder, recovered, low2]) expect((await pagerdutyChannel.send(cfg, n, ctx)).ok).toBe(true);
    expect(calls.map((c) => [c.body.event_action, c.body.dedup_key])).toEqual([
      ['trigger', 'bw-ac_1-balance.low-4'],
      ['trigger', 'bw-ac_1-balance.low-4'],
      ['trigger', 'bw-ac_1-balance.low-4'],
      ['resolve', 'bw-ac_1-balance.low-4'],
      ['trigger', 'bw-ac_1-balance.low-5'],
    ]);
    expect(calls[3]!.body).toEqual({ routing_key: KEY, event_action: 'resolve', dedup_key: 'bw-ac_1-balance.low-4' });
    expect(calls[1]!.body.payload.severity).toBe('critical');
    expect(calls[0]!.body.payload.severity).toBe('warning');
  });

  it('maps every event to its rule so trigger and resolve pair up', () => {
    const pairs = [
      ['balance.low', 'balance.recovered', 'balance.low'],
      ['balance.runway_low', 'balance.runway_recovered', 'balance.runway_low'],
      ['source.failing', 'source.recovered', 'source.failing'],
    ] as const;
    for (const [fire, clear, rule] of pairs) {
      const a = dedupKey(note(payload({ type: fire, episode: 2 }), 'k1'));
      const b = dedupKey(note(payload({ type: clear, episode: 2, level: null }), 'k2'));
      expect(a).toBe(`bw-ac_1-${rule}-2`);
      expect(b).toBe(a);
    }
    expect(dedupKey(note(payload({ type: 'spend.spike', level: 'warning', episode: 3 })))).toBe('bw-ac_1-spend.spike-3');
    // Different accounts never share an incident.
    expect(dedupKey(note(payload({ account: { id: 'ac_2', name: 'x', external_id: null, top_up_url: null } })))).not.toBe(dedupKey(note(payload())));
    const long = dedupKey(note(payload({ account: { id: 'a'.repeat(300), name: 'x', external_id: null, top_up_url: null } })));
    expect(long.length).toBeLessThanOrEqual(255);
    expect(long).toMatch(/^bw-[0-9a-f]{64}$/);
  });

  it('a test triggers an info alert and resolves it at once', async () => {
    const { ctx, calls } = fakeCtx(accepted());
    const r = await pagerdutyChannel.send({ ...cfg, severity: 'critical' }, note(payload(TEST_PAYLOAD), 'test_abc'), ctx);
    expect(r).toMatchObject({ ok: true, status: 202 });
    expect(r.ok && r.response).toMatch(/triggered and resolved/);
    expect(calls.map((c) => [c.body.event_action, c.body.dedup_key])).toEqual([
      ['trigger', 'bw-test-test_abc'],
      ['resolve', 'bw-test-test_abc'],
    ]);
    expect(calls[0]!.body.payload.severity).toBe('info');
  });

  it('honours region, api_base, overrides and custom details; summary ≤ 1024', async () => {
    const { ctx, calls } = fakeCtx(accepted());
    const c = pagerdutyChannel.schema.parse({
      routing_key: KEY,
      region: 'eu',
      source: 'billing-prod',
      component: 'wallet',
      group: 'ai',
      class: 'money',
      severity: 'error',
      custom_details: { team: 'platform' },
      click: 'https://runbook.example.com',
    });
    const long = payload({ account: { id: 'ac_1', name: 'x'.repeat(200), external_id: null, top_up_url: null } });
    const n = note(long);
    n.message = { ...n.message, title: 'y'.repeat(5000) };
    await pagerdutyChannel.send(c, n, ctx);
    const b = calls[0]!.body;
    expect(calls[0]!.url).toBe('https://events.eu.pagerduty.com/v2/enqueue');
    expect(b.payload).toMatchObject({ source: 'billing-prod', component: 'wallet', group: 'ai', class: 'money', severity: 'error' });
    expect(b.payload.custom_details.team).toBe('platform');
    expect(b.payload.summary.length).toBe(1024);
    expect(b.links).toContainEqual({ href: 'https://runbook.example.com', text: 'Link' });
    await pagerdutyChannel.send({ ...c, api_base: 'http://127.0.0.1:9999/' }, n, ctx);
    expect(calls[1]!.url).toBe('http://127.0.0.1:9999/v2/enqueue');
  });

  it.each([
    [{ status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ["Length of 'routing_key' is incorrect (should be 32 characters)"] } }, false, /^PagerDuty rejected the event \(Event object is invalid: Length of 'routing_key' is incorrect \(should be 32 characters\)\): check the routing key$/],
    [{ status: 429, body: 'Too Many Requests' }, true, /throttled.*will retry/],
    [{ status: 500, body: 'oops' }, true, /HTTP 500; will retry/],
    [{ status: 404, body: 'not found' }, false, /check api_base/],
  ])('%j → retryable %s', async (answer, retryable, error) => {
    const { ctx } = fakeCtx(answer);
    const r = await pagerdutyChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: false, retryable });
    if (r.ok) throw new Error('expected a failure');
    expect(r.error).toMatch(error);
    if (answer.status === 429) expect(r.retryAfterMs).toBe(30_000);
  });

  it('never repeats the routing key in an error', async () => {
    const { ctx } = fakeCtx({ status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: [`routing key ${KEY} is not valid`] } });
    const r = await pagerdutyChannel.send(cfg, note(payload()), ctx);
    if (r.ok) throw new Error('expected a failure');
    expect(`${r.error} ${r.response}`).not.toContain(KEY);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Teams

describe('Teams Workflows send', () => {
  const url = 'https://prod-1.westus.logic.azure.com/workflows/wf1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S3CR3Tsig';
  const cfg = teamsChannel.schema.parse({ url });

  it('posts one Adaptive Card 1.4: coloured title, summary, FactSet, OpenUrl actions', async () => {
    const { ctx, calls } = fakeCtx({ status: 202, body: '' });
    const r = await teamsChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: true, status: 202 });
    expect(calls[0]!.url).toBe(url);
    const env = calls[0]!.body;
    expect(env.type).toBe('message');
    expect(env.attachments).toHaveLength(1);
    expect(env.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    const card = env.attachments[0].content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.4', msteams: { width: 'full' } });
    expect(card.body[0]).toMatchObject({ type: 'TextBlock', text: '[Critical] OpenRouter prod balance low: $3.00', color: 'attention', weight: 'Bolder', wrap: true });
    expect(card.body[1].type).toBe('TextBlock');
    expect(card.body[2].type).toBe('FactSet');
    expect(card.body[2].facts).toContainEqual({ title: 'Balance', value: '$3.00' });
    expect(card.actions).toEqual([
      { type: 'Action.OpenUrl', title: 'Top up now', url: 'https://openrouter.ai/settings/credits' },
      { type: 'Action.OpenUrl', title: 'Open dashboard', url: 'https://bw.example.com/' },
    ]);
  });

  it.each([
    [{ level: 'warning' }, 'warning'],
    [{ level: 'info' }, 'accent'],
    [{ type: 'balance.recovered', level: null, balance: 50 }, 'good'],
  ])('colour for %j is %s', (over, color) => {
    const card = (teamsPayload(note(payload(over as Partial<NotificationPayload>)).message) as any).attachments[0].content;
    expect(card.body[0].color).toBe(color);
  });

  it('escapes Markdown in user text and stays under ~28 KB', () => {
    const p = payload({ account: { id: 'a', name: '**boss** [x](https://evil.example)', external_id: null, top_up_url: null }, note: '账'.repeat(20_000) });
    const env = teamsPayload(note(p).message);
    const raw = JSON.stringify(env);
    expect(byteLen(raw)).toBeLessThanOrEqual(TEAMS_MAX_BYTES);
    const card = (env as any).attachments[0].content;
    expect(card.body[0].text).toContain('\\*\\*boss\\*\\* \\[x\\](https://evil.example)');
  });

  it('lays out a digest like any other message', () => {
    const items = [note(payload()).message, note(payload({ type: 'balance.recovered', level: null, balance: 90 })).message];
    const card = (teamsPayload(renderDigest(items)) as any).attachments[0].content;
    expect(card.body[0].text).toContain('2 notifications');
    // Each title on its own line: TextBlock Markdown needs a blank line between them.
    expect(card.body[1].text).toMatch(/\n\n• \[Critical\] OpenRouter prod balance low: \$3\.00\n\n• \[Recovered\] /);
  });

  it('Gotify and ntfy keep a digest\'s lines apart in Markdown', async () => {
    const items = [note(payload()).message, note(payload({ type: 'balance.recovered', level: null, balance: 90 })).message];
    const n = { ...note(payload()), message: renderDigest(items) };
    const { ctx, calls } = fakeCtx({ status: 200, body: { id: 1, event: 'message' } });
    await gotifyChannel.send(gotifyChannel.schema.parse({ server: 'https://g.example.com', token: 't' }), n, ctx);
    await ntfyChannel.send(ntfyChannel.schema.parse({ topic: 't' }), n, ctx);
    for (const c of calls) expect(c.body.message).toMatch(/ {2}\n• \[Critical\] OpenRouter prod balance low: \$3\.00 {2}\n• \[Recovered\]/);
  });

  it.each([
    [{ status: 401, body: { error: { code: 'DirectApiInvalidAuthorizationSignature', message: "The provided authorization signature 'S3CR3Tsig' is not valid." } } }, false, /refused the webhook's signature \(401 DirectApiInvalidAuthorizationSignature\): copy the whole workflow URL again/],
    [{ status: 404, body: { error: { code: 'WorkflowNotFound', message: 'gone' } } }, false, /no Teams workflow answers at this URL/],
    [{ status: 413, body: 'request entity too large' }, false, /too large/],
    [{ status: 400, body: { error: { code: 'InvalidRequestContent', message: 'bad' } } }, false, /rejected the message \(400 InvalidRequestContent\)/],
    [{ status: 429, body: '', headers: { 'retry-after': '7' } }, true, /will retry/],
    [{ status: 502, body: 'bad gateway' }, true, /will retry/],
  ])('%j → retryable %s', async (answer, retryable, error) => {
    const { ctx } = fakeCtx(answer);
    const r = await teamsChannel.send(cfg, note(payload()), ctx);
    expect(r).toMatchObject({ ok: false, retryable });
    if (r.ok) throw new Error('expected a failure');
    expect(r.error).toMatch(error);
    expect(`${r.error} ${r.response}`).not.toContain('S3CR3Tsig');
    if (answer.status === 429) expect(r.retryAfterMs).toBe(7000);
  });
});

describe('Markdown escaping', () => {
  it('escapes what could become markup, and only that', () => {
    expect(escapeMarkdown('*prod* [click](https://evil.example) <b>x</b> _y_ `c` ~~s~~')).toBe(
      '\\*prod\\* \\[click\\](https://evil.example) \\<b>x\\</b> \\_y\\_ \\`c\\` \\~\\~s\\~\\~',
    );
    expect(escapeMarkdown('# title\n- item\n1. one\n+ plus\n> quote\n|a|b|')).toBe('\\# title\n\\- item\n1\\. one\n\\+ plus\n\\> quote\n\\|a|b|');
    // A backslash before punctuation is doubled so it cannot cancel anything.
    expect(escapeMarkdown('a\\*b*c')).toBe('a\\\\\\*b\\*c');
  });

  it('leaves ordinary text alone (no visible backslashes in raw clients)', () => {
    for (const plain of ['[Critical] OpenRouter prod balance low: $3.00', 'my_api_key costs 5*3 < 10', '余额不足：US$3.00 (low), 5.5 days', 'C:\\path\\file', 'a ~ b | c `x']) {
      expect(escapeMarkdown(plain)).toBe(plain);
    }
  });

  it('Teams cards: the Adaptive Card subset (no HTML or code to escape)', () => {
    expect(escapeCardText('**boss** <b>x</b> `c` [x](https://e.example)')).toBe('\\*\\*boss\\*\\* <b>x</b> `c` \\[x\\](https://e.example)');
    expect(escapeCardText('[Critical] ok')).toBe('[Critical] ok');
  });

  it('keeps Markdown line breaks with two trailing spaces', () => {
    expect(hardBreaks(['a', 'b', '', '- c', '- d'])).toEqual(['a  ', 'b', '', '- c  ', '- d']);
  });
});
