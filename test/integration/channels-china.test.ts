import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { dtAnswer, type FakeDingTalk, startFakeDingTalk } from '../helpers/protocol/dingtalk.js';
import { type FakeFeishu, startFakeFeishu } from '../helpers/protocol/feishu.js';
import { type FakeWeCom, startFakeWeCom } from '../helpers/protocol/wecom.js';
import { sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

// WeCom, DingTalk, Feishu and Lark bots against the real service and loopback fakes of each service's protocol
// (the fakes verify DingTalk's and Feishu's signatures from the secret and the bots' keywords, and answer like the
// real services). The Apprise / native URLs name the real hosts, which a test cannot reach: those channels are
// created from the pasted URL (type and fields inferred) and then pointed at the fake with PATCH {url}.

const WECOM_KEY = 'wecomKey_0123-4567-89ab';
const DT_TOKEN = 'dtAccessToken0123456789abcdef';
const DT_SECRET = 'SECdingtalkSecret0123456789abcdef';
const FS_TOKEN = 'fs-token-0123-4567-89ab';
const FS_SECRET = 'feishuSecret0123456789';
const LARK_TOKEN = 'lark-token-abcd-1234';
const SECRETS = [WECOM_KEY, DT_TOKEN, DT_SECRET, FS_TOKEN, FS_SECRET, LARK_TOKEN];

async function waitUntil<T>(what: string, get: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe.each(databases())('China chat bots on %s', (db) => {
  let svc: Running;
  let wecom: FakeWeCom;
  let ding: FakeDingTalk;
  let feishu: FakeFeishu;
  let lark: FakeFeishu;
  let en: string;
  let zh: string;
  const ch: Record<string, string> = {};

  const mk = async (name: string, body: Record<string, unknown>) => {
    const r = await svc.api('POST', '/api/v1/channels', { name, ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    ch[name] = r.body.id;
    return r.body;
  };
  const retarget = async (name: string, url: string) => {
    const r = await svc.api('PATCH', `/api/v1/channels/${ch[name]}`, { url });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  beforeAll(async () => {
    [wecom, ding, feishu, lark] = await Promise.all([
      startFakeWeCom({ key: WECOM_KEY }),
      startFakeDingTalk({ token: DT_TOKEN, secret: DT_SECRET, keywords: ['余额告警', '监控'] }),
      startFakeFeishu({ token: FS_TOKEN, secret: FS_SECRET }),
      startFakeFeishu({ token: LARK_TOKEN, keywords: ['余额监控'] }),
    ]);
    svc = await startService(db);
    const settings = { levels: [{ level: 'warning', below: 20 }], min_notify_interval: '0s' };
    const w1 = await svc.api('POST', '/api/v1/workspaces', { name: 'Acme Ops', locale: 'en' });
    const w2 = await svc.api('POST', '/api/v1/workspaces', { name: '示例团队', locale: 'zh-CN' });
    expect([w1.status, w2.status]).toEqual([201, 201]);
    en = w1.body.id;
    zh = w2.body.id;
    for (const w of [en, zh]) expect((await svc.api('PATCH', `/api/v1/workspaces/${w}/notification-settings`, settings)).status).toBe(200);

    // Pasted Apprise / native URLs: the type and fields come from the URL.
    const w = await mk('wecom', { workspace_id: en, url: `wecombot://${WECOM_KEY}`, mentioned_list: ['zhangsan'] });
    expect(w).toMatchObject({ type: 'wecom', mentioned_list: ['zhangsan'] });
    const d = await mk('dingtalk', { workspace_id: zh, url: `dingtalk://${DT_SECRET}@${DT_TOKEN}/13800001111`, keyword: '余额告警' });
    expect(d).toMatchObject({ type: 'dingtalk', at_mobiles: ['13800001111'], keyword: '余额告警' });
    const l = await mk('lark', { workspace_id: zh, url: `https://open.larksuite.com/open-apis/bot/v2/hook/${LARK_TOKEN}`, keyword: '余额监控' });
    expect(l.type).toBe('lark');
    // …then pointed at the fakes (the real hosts are out of reach).
    await retarget('wecom', wecom.hook());
    await retarget('dingtalk', ding.hook());
    await retarget('lark', lark.hook());
    // Explicit type + fields, the URL being the endpoint whatever its host.
    await mk('feishu', { workspace_id: en, type: 'feishu', url: feishu.hook(), secret: FS_SECRET, at_all: true });
  });
  afterAll(async () => {
    await svc?.close();
    await Promise.all([wecom?.close(), ding?.close(), feishu?.close(), lark?.close()]);
  });

  it('stores the credentials encrypted and shows them masked', async () => {
    const all = await svc.api('GET', '/api/v1/channels');
    expect(all.status).toBe(200);
    const text = JSON.stringify(all.body);
    for (const s of SECRETS) expect(text).not.toContain(s);
    const d = await svc.api('GET', `/api/v1/channels/${ch.dingtalk}`);
    expect(d.body).toMatchObject({ type: 'dingtalk', at_mobiles: ['13800001111'], keyword: '余额告警' });
    expect(d.body.url).toMatch(/^….{4}$/);
    expect(d.body.secret).toMatch(/^….{4}$/);
    const f = await svc.api('GET', `/api/v1/channels/${ch.feishu}`);
    expect(f.body).toMatchObject({ type: 'feishu', at_all: true });
    expect(f.body.secret).toMatch(/^….{4}$/);
    for (const name of ['wecom', 'lark']) expect((await svc.api('GET', `/api/v1/channels/${ch[name]}`)).body.url).toMatch(/^….{4}$/);
    // the stored channel row never holds a credential in clear
    const rows = await svc.service.store.db.selectFrom('channels').select('config').execute();
    for (const s of SECRETS) expect(JSON.stringify(rows)).not.toContain(s);
  });

  it('Test sends a real, signed message to each bot and reports its answer', async () => {
    const before = { w: wecom.messages.length, d: ding.messages.length, f: feishu.messages.length, l: lark.messages.length };
    const answers = await Promise.all(
      ['wecom', 'dingtalk', 'feishu', 'lark'].map((k) => svc.api('POST', `/api/v1/channels/${ch[k]}/test`, { message: 'hello <team> & *all*' })),
    );
    const [w, d, f, l] = answers.map((a) => a.body);
    expect(w).toMatchObject({ ok: true, status: 200, response: '{"errcode":0,"errmsg":"ok"}', error: null });
    expect(d).toMatchObject({ ok: true, status: 200, response: '{"errcode":0,"errmsg":"ok"}', error: null });
    expect(f).toMatchObject({ ok: true, status: 200, error: null });
    expect(f.response).toContain('"code":0');
    expect(l).toMatchObject({ ok: true, status: 200, error: null });
    for (const a of answers) for (const s of SECRETS) expect(JSON.stringify(a.body)).not.toContain(s);

    expect(wecom.messages.length).toBe(before.w + 1);
    const wm = wecom.messages.at(-1)!;
    expect(wm.msgtype).toBe('markdown');
    expect(wm.content.split('\n')[0]).toBe('### <font color="comment">[Test] balancewatch test notification</font>');
    expect(wm.content).toContain('hello ＜team＞ & ＊all＊');
    expect(wm.mentions).toEqual([]); // a test never mentions anyone

    expect(ding.messages.length).toBe(before.d + 1);
    const dm = ding.messages.at(-1)!;
    expect(dm).toMatchObject({ msgtype: 'markdown', signed: true, title: '【测试】balancewatch 测试通知', atMobiles: [], isAtAll: false });
    expect(dm.text.split('\n')[0]).toBe('#### 【测试】balancewatch 测试通知');
    expect(dm.text.endsWith('\n\n余额告警')).toBe(true);

    const fm = feishu.messages.at(-1)!;
    expect(fm).toMatchObject({ msgType: 'interactive', signed: true, title: '[Test] balancewatch test notification', template: 'blue', ats: [] });
    expect(fm.visible).toContain('hello <team> & *all*');
    const lm = lark.messages.at(-1)!;
    expect(lm).toMatchObject({ signed: false, title: '【测试】balancewatch 测试通知', template: 'blue' });
    expect(lm.visible.endsWith('余额监控')).toBe(true);

    for (const fake of [wecom, ding, feishu, lark]) {
      expect(fake.violations).toEqual([]);
      expect(fake.rejections).toEqual([]);
    }
  });

  it('delivers a low-balance alert and its recovery natively, in the workspace language', async () => {
    const acc = async (w: string, name: string) => {
      const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w, name, currency: 'USD', top_up_url: 'https://pay.example.com/top-up?acct=1&x=(y)' });
      expect(a.status).toBe(201);
      return a.body.id as string;
    };
    const a1 = await acc(en, 'OpenRouter <prod> *main*');
    const a2 = await acc(zh, '深度求索');
    const t0 = Math.floor(Date.now() / 1000) - 60;
    const push = (a: string, balance: number, at: number) => svc.api('POST', '/api/v1/balances', { samples: [{ account: a, balance, at }] });
    const fakes = { w: wecom, d: ding, f: feishu, l: lark };
    const before = Object.fromEntries(Object.entries(fakes).map(([k, v]) => [k, v.messages.length])) as Record<keyof typeof fakes, number>;
    const got = (n: number) => Object.entries(fakes).every(([k, v]) => v.messages.length >= before[k as keyof typeof fakes] + n);
    for (const a of [a1, a2]) expect((await push(a, 50, t0)).status).toBe(200);
    for (const a of [a1, a2]) await push(a, 12.5, t0 + 1);
    await waitUntil('the low alerts', () => got(1));
    for (const a of [a1, a2]) await push(a, 80, t0 + 2);
    await waitUntil('the recoveries', () => got(2));
    await sleep(300);
    expect(Object.entries(fakes).map(([k, v]) => v.messages.length - before[k as keyof typeof fakes])).toEqual([2, 2, 2, 2]);

    // WeCom (English): coloured markdown, the configured mention on the alert only.
    const [wLow, wRec] = wecom.messages.slice(before.w);
    expect(wLow!.msgtype).toBe('markdown');
    expect(wLow!.colors).toEqual(['warning']);
    expect(wLow!.mentions).toEqual(['zhangsan']);
    expect(wLow!.content).toContain('[Warning] OpenRouter ＜prod＞ ＊main＊ balance low: $12.50');
    expect(wLow!.content).toContain('> **Balance**: $12.50');
    expect(wLow!.links[0]).toEqual({ label: 'Top up now', url: 'https://pay.example.com/top-up?acct=1&x=%28y%29' });
    expect(wRec!.colors).toEqual(['info']);
    expect(wRec!.mentions).toEqual([]);
    expect(wRec!.content).toMatch(/\[Recovered\] OpenRouter ＜prod＞ ＊main＊ balance back to \$80\.00/);

    // Feishu (English): signed card, orange then green header, @all on the alert only, a top-up button.
    const [fLow, fRec] = feishu.messages.slice(before.f);
    expect(fLow).toMatchObject({ signed: true, template: 'orange', title: '[Warning] OpenRouter <prod> *main* balance low: $12.50', ats: ['all'] });
    expect(fLow!.visible).toContain('Balance\n$12.50');
    expect(fLow!.buttons[0]).toEqual({ text: 'Top up now', url: 'https://pay.example.com/top-up?acct=1&x=(y)', type: 'primary' });
    expect(fRec).toMatchObject({ signed: true, template: 'green', ats: [] });
    expect(fRec!.title).toMatch(/^\[Recovered\] OpenRouter <prod> \*main\* balance back to \$80\.00$/);

    // DingTalk (Chinese): signed markdown with the keyword, @mobile on the alert only.
    const [dLow, dRec] = ding.messages.slice(before.d);
    expect(dLow).toMatchObject({ signed: true, title: '【警告】深度求索 余额不足：US$12.50', atMobiles: ['13800001111'], isAtAll: false });
    expect(dLow!.text).toContain('- **余额**：US$12.50');
    expect(dLow!.text).toContain('[立即充值](https://pay.example.com/top-up?acct=1&x=%28y%29)');
    expect(dLow!.text.endsWith('@13800001111\n\n余额告警')).toBe(true);
    expect(dRec).toMatchObject({ signed: true, title: '【已恢复】深度求索 余额已恢复：US$80.00', atMobiles: [] });
    expect(dRec!.text).not.toContain('@13800001111');
    expect(dRec!.text).toContain('余额告警');

    // Lark (Chinese): the card in Chinese, keyword present.
    const [lLow, lRec] = lark.messages.slice(before.l);
    expect(lLow).toMatchObject({ template: 'orange', title: '【警告】深度求索 余额不足：US$12.50' });
    expect(lLow!.visible).toContain('余额\nUS$12.50');
    expect(lRec).toMatchObject({ template: 'green', title: '【已恢复】深度求索 余额已恢复：US$80.00' });

    for (const fake of [wecom, ding, feishu, lark]) {
      expect(fake.violations).toEqual([]);
      expect(fake.rejections).toEqual([]);
    }
    const del = await svc.api('GET', `/api/v1/deliveries?workspace_id=${zh}&account_id=${a2}`);
    expect(del.body.data.map((x: any) => [x.event, x.status]).sort()).toEqual([
      ['balance.low', 'delivered'],
      ['balance.low', 'delivered'],
      ['balance.recovered', 'delivered'],
      ['balance.recovered', 'delivered'],
    ]);
  });

  it('a wrong secret, keyword, key or token gives the service-specific error in the Test answer, without the secret', async () => {
    const bad = async (workspace: string, body: Record<string, unknown>) => {
      const c = await svc.api('POST', '/api/v1/channels', { workspace_id: workspace, name: 'bad', ...body });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      const r = await svc.api('POST', `/api/v1/channels/${c.body.id}/test`);
      await svc.api('DELETE', `/api/v1/channels/${c.body.id}`);
      return r.body;
    };
    const wrongSecret = await bad(zh, { type: 'dingtalk', url: ding.hook(), secret: 'SECwrongWrongWrong0123', keyword: '余额告警' });
    expect(wrongSecret).toMatchObject({ ok: false, status: 200, error: 'DingTalk rejected the signature (310000): check the secret' });
    expect(wrongSecret.response).toContain('机器人发送签名不匹配');
    const noSecret = await bad(zh, { type: 'dingtalk', url: ding.hook(), keyword: '余额告警' });
    expect(noSecret.error).toBe("DingTalk rejected the message (310000): this bot requires 加签 signing; set the channel's secret (the SEC… string in the bot's security settings)");
    const noKeyword = await bad(zh, { type: 'dingtalk', url: ding.hook(), secret: DT_SECRET });
    expect(noKeyword).toMatchObject({ ok: false, status: 200, error: "DingTalk rejected the message (310000): it must contain one of the bot's security keywords; set the channel's keyword to one of the bot's keywords" });
    const wrongKeyword = await bad(zh, { type: 'dingtalk', url: ding.hook(), secret: DT_SECRET, keyword: '告警' });
    expect(wrongKeyword.error).toMatch(/the channel's keyword "告警" is not one of them; set the channel's keyword to one of the bot's keywords$/);
    const noToken = await bad(zh, { type: 'dingtalk', url: ding.hook('unknownToken0123'), secret: DT_SECRET, keyword: '监控' });
    expect(noToken.error).toBe('DingTalk does not know this access_token (300001): check the access_token in the webhook URL; the bot may have been removed from the group');

    const wrongKey = await bad(en, { type: 'wecom', url: wecom.hook('revokedKey-0000') });
    expect(wrongKey).toMatchObject({
      ok: false,
      status: 200,
      error: 'WeCom says the webhook URL is invalid (93000): the key is wrong or the bot was removed from the group; copy the webhook URL again',
    });

    const fsWrong = await bad(en, { type: 'feishu', url: feishu.hook(), secret: 'feishuWrongSecret99' });
    expect(fsWrong).toMatchObject({ ok: false, status: 200, error: 'Feishu rejected the signature (19021): check the secret' });
    const larkNoKeyword = await bad(zh, { type: 'lark', url: lark.hook() });
    expect(larkNoKeyword).toMatchObject({
      ok: false,
      status: 200,
      error: "Lark rejected the message (19024): it must contain one of the bot's security keywords; set the channel's keyword to one of the bot's keywords",
    });
    const larkNoToken = await bad(zh, { type: 'lark', url: lark.hook('lark-token-unknown'), keyword: '余额监控' });
    expect(larkNoToken.error).toMatch(/^Lark does not know this bot \(19001: param invalid: incoming webhook access token invalid\): check the token/);

    const all = [wrongSecret, noSecret, noKeyword, wrongKeyword, noToken, wrongKey, fsWrong, larkNoKeyword, larkNoToken];
    for (const s of [...SECRETS, 'SECwrongWrongWrong0123', 'revokedKey-0000', 'feishuWrongSecret99', 'unknownToken0123', 'lark-token-unknown'])
      expect(JSON.stringify(all)).not.toContain(s);
    expect(ding.rejections.map((r) => r.reason)).toEqual(['sign', 'timestamp', 'keyword', 'keyword', 'token']);
    expect(feishu.rejections.map((r) => r.reason)).toEqual(['sign']);
    expect(lark.rejections.map((r) => r.reason)).toEqual(['keyword', 'token']);
  });
});

describe('limits and throttling (sqlite)', () => {
  let svc: Running;
  let ws: string;
  beforeAll(async () => {
    svc = await startService('sqlite');
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Limits', locale: 'zh-CN', notification_settings: { low_balance_threshold: 10, min_notify_interval: '0s' } });
    ws = w.body.id;
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('a burst of alerts never crosses Feishu 5/s: the rest waits or is merged into a digest, nothing is dropped', async () => {
    const fake = await startFakeFeishu({ token: 'burst-token', secret: 'burstSecret' });
    try {
      const c = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'fs', type: 'feishu', url: fake.hook(), secret: 'burstSecret' });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: `账户${i}`, currency: 'CNY' });
        ids.push(a.body.id);
      }
      const r = await svc.api('POST', '/api/v1/balances', { samples: ids.map((account) => ({ account, balance: 3 })) });
      expect(r.status).toBe(200);
      // every notification is either a message of its own or a line of a digest
      const covered = () =>
        fake.messages.reduce((n, m) => {
          const d = /^【[^】]+】(\d+) 条通知$/.exec(m.title);
          return n + (d ? Number(d[1]) : 1);
        }, 0);
      await waitUntil('all 12 alerts', () => covered() >= 12, 20_000);
      await sleep(300);
      expect(covered()).toBe(12);
      expect(fake.rejections).toEqual([]);
      const times = fake.messages.map((m) => m.at);
      for (const t of times) expect(times.filter((u) => u > t - 1000 && u <= t).length).toBeLessThanOrEqual(5);
      expect(fake.messages.every((m) => m.signed)).toBe(true);
      expect(fake.violations).toEqual([]);
      expect((await svc.api('DELETE', `/api/v1/channels/${c.body.id}`)).status).toBe(204);
    } finally {
      await fake.close();
    }
  });

  it('DingTalk 130101 (send too fast) is retryable and holds the channel back at least a minute', async () => {
    const fake = await startFakeDingTalk({ token: 'throttledToken1' });
    try {
      const c = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'dt', type: 'dingtalk', url: fake.hook() });
      expect(c.status).toBe(201);
      const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'kimi', currency: 'CNY' });
      fake.forceNext(dtAnswer(130101, 'send too fast, exceed 20 times per minute'));
      expect((await svc.api('POST', '/api/v1/balances', { samples: [{ account: a.body.id, balance: 3 }] })).status).toBe(200);
      const del = await waitUntil('the throttled attempt', async () => {
        const r = await svc.api('GET', `/api/v1/deliveries?workspace_id=${ws}&channel_id=${c.body.id}`);
        const d = r.body.data[0];
        return d?.attempt_log?.length ? d : undefined;
      });
      expect(del.status).toBe('pending');
      expect(del.attempt_log[0]).toMatchObject({ outcome: 'retry', status_code: 200 });
      expect(del.attempt_log[0].error).toBe(
        'DingTalk is throttling this bot (130101: send too fast, exceed 20 times per minute): over 20 messages a minute blocks it for 10 minutes; will retry in 10 minutes',
      );
      expect(Date.parse(del.next_attempt_at) - Date.parse(del.attempt_log[0].at)).toBeGreaterThanOrEqual(60_000);
      await sleep(1500);
      expect(fake.attempts).toHaveLength(1); // nothing more is sent while the bot is blocked
      expect(fake.messages).toHaveLength(0);
    } finally {
      await fake.close();
    }
  });
});
