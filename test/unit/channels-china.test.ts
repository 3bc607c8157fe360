import { describe, expect, it } from 'vitest';
import {
  classifyDingTalk,
  dingtalkChannel,
  dingtalkMarkdown,
  dingtalkPayload,
  dingtalkUrl,
  DINGTALK_BLOCK_MS,
  DINGTALK_TEXT_MAX,
  signDingTalk,
  type DingTalkConfig,
} from '../../src/channels/dingtalk.js';
import { classifyFeishu, escapeLarkMd, feishuChannel, feishuPayload, larkChannel, signFeishu, type FeishuConfig } from '../../src/channels/feishu.js';
import { charLength } from '../../src/channels/format.js';
import { channelFromUrl } from '../../src/channels/registry.js';
import { ChannelUrlError, excerpt, type ChannelContext, type NotificationPayload, type OutgoingNotification, type RenderedMessage } from '../../src/channels/types.js';
import { classifyWeCom, neutralizeMarkdown, wecomChannel, wecomMarkdown, wecomPayload, wecomText, type WeComConfig } from '../../src/channels/wecom.js';
import type { HttpRequest } from '../../src/net/types.js';
import { renderDigest } from '../../src/template/digest.js';
import { renderMessage } from '../../src/template/messages.js';
import { checkDingTalkMarkdown, DT_KEYWORD, DT_SIGN_EXPIRED, DT_SIGN_MISMATCH, expectedDingTalkSign } from '../helpers/protocol/dingtalk.js';
import { checkLarkMd, expectedFeishuSign, FS_SIGN } from '../helpers/protocol/feishu.js';
import { checkWeComMarkdown } from '../helpers/protocol/wecom.js';

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

function msg(p: Partial<NotificationPayload> = {}, locale = 'en'): RenderedMessage {
  return renderMessage(payload(p, locale), { dashboardUrl: 'https://bw.example.com/' });
}

function note(p: Partial<NotificationPayload> = {}, locale = 'en'): OutgoingNotification {
  const pl = payload(p, locale);
  return { key: 'dk_1', payload: pl, message: renderMessage(pl, { dashboardUrl: 'https://bw.example.com/' }) };
}

const recovered = () => msg({ type: 'balance.recovered', level: null, balance: 80 });
const HOSTILE = 'Ops <b>*VIP*</b> [x](http://evil) `rm` <@all> <at id=all></at> & _it_ ~~s~~ #1';
const NOW = 1_700_000_000_000;

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
    now: () => NOW,
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

const WECOM = (key: string) => `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${key}`;
const DING = (token: string) => `https://oapi.dingtalk.com/robot/send?access_token=${token}`;
const FEISHU = (token: string) => `https://open.feishu.cn/open-apis/bot/v2/hook/${token}`;
const LARK = (token: string) => `https://open.larksuite.com/open-apis/bot/v2/hook/${token}`;

// ---- URLs: research §4 corpus entries 1–15, native URLs, invalid ones ----

describe('pasted URLs', () => {
  it.each([
    // corpus 1–3
    ['wecombot://botkey', 'wecom', { url: WECOM('botkey') }],
    ['wecombot://?key=botkey', 'wecom', { url: WECOM('botkey') }],
    ['https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=BOTKEY', 'wecom', { url: WECOM('BOTKEY') }],
    ['https://qyapi.weixin.qq.com/cgi-bin/webhook/send/?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa', 'wecom', { url: WECOM('693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa') }],
    // corpus 5, 6, 8, 9
    ['dingtalk://12345678', 'dingtalk', { url: DING('12345678') }],
    ['dingtalk://aaaaaaaa/11111111111111', 'dingtalk', { url: DING('aaaaaaaa'), at_mobiles: ['11111111111111'] }],
    ['dingtalk://secret@aaaaaaaa/?to=11111111111111', 'dingtalk', { url: DING('aaaaaaaa'), secret: 'secret', at_mobiles: ['11111111111111'] }],
    ['dingtalk://?token=bbbbbbbb&to=11111111111111&secret=aaaaaaaaaaaaaaa', 'dingtalk', { url: DING('bbbbbbbb'), secret: 'aaaaaaaaaaaaaaa', at_mobiles: ['11111111111111'] }],
    // Apprise keeps the digits of "+86 138-0013-8000" (13 digits)
    ['dingtalk://SEC0123abc@tok123/%2B86%20138-0013-8000/13900001111', 'dingtalk', { url: DING('tok123'), secret: 'SEC0123abc', at_mobiles: ['8613800138000', '13900001111'] }],
    // native; a pasted signed URL's timestamp/sign are dropped (they expire)
    ['https://oapi.dingtalk.com/robot/send?access_token=abc123def', 'dingtalk', { url: DING('abc123def') }],
    ['https://oapi.dingtalk.com/robot/send?access_token=abc123&timestamp=1700000000000&sign=xyz%3D', 'dingtalk', { url: DING('abc123') }],
    // corpus 11, 12, 14, 15
    ['feishu://abc123', 'feishu', { url: FEISHU('abc123') }],
    ['feishu://?token=abc123', 'feishu', { url: FEISHU('abc123') }],
    ['lark://abcd-1234', 'lark', { url: LARK('abcd-1234') }],
    ['https://open.larksuite.com/open-apis/bot/v2/hook/abcd-1234', 'lark', { url: LARK('abcd-1234') }],
    ['https://open.feishu.cn/open-apis/bot/v2/hook/0d1b2c3d-4e5f-6789-abcd-ef0123456789', 'feishu', { url: FEISHU('0d1b2c3d-4e5f-6789-abcd-ef0123456789') }],
  ])('%s', (url, type, fields) => {
    expect(fromUrl(url)).toEqual({ type, fields });
  });

  it.each([
    // corpus 4
    ['wecombot://', 'a WeCom bot URL needs the bot key: wecombot://KEY (the key= value of https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY)'],
    ['wecombot://bad%20key', 'the WeCom bot key may only contain letters, digits, "_" and "-": copy it from the key= part of the webhook URL'],
    ['https://qyapi.weixin.qq.com/cgi-bin/webhook/send', 'a WeCom webhook URL needs its key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…'],
    ['https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=abc', /^this is not a WeCom group-bot webhook URL/],
    // corpus 7: Apprise silently drops "111" and "invalid"; we refuse (the mention would never happen)
    ['dingtalk://aaaaaaaa/111/invalid', '"111" is not a mobile number to @mention (11 to 14 digits): fix or remove it'],
    // corpus 10
    ['dingtalk://aaaaaaaa/?to=11111111111111&secret=_', "the DingTalk secret may only contain letters and digits: copy the SEC… string from the bot's security settings"],
    ['dingtalk://', 'a DingTalk URL needs an access_token: dingtalk://ACCESS_TOKEN/ or dingtalk://SECRET@ACCESS_TOKEN/'],
    ['dingtalk://tok-en', "the DingTalk access_token may only contain letters and digits: copy the access_token= value of the bot's webhook URL"],
    ['https://oapi.dingtalk.com/robot/send', 'a DingTalk URL needs an access_token: https://oapi.dingtalk.com/robot/send?access_token=…'],
    ['https://oapi.dingtalk.com/gettoken?appkey=x', /^this is not a DingTalk robot webhook URL/],
    // corpus 13
    ['feishu://%badtoken%', 'the Feishu bot token may only contain letters, digits, "_" and "-": copy the last part of the webhook URL'],
    ['feishu://', 'a Feishu URL needs the bot\'s token: feishu://TOKEN (the last part of https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN)'],
    ['lark://', "a Lark URL needs the bot's token: lark://TOKEN (the last part of https://open.larksuite.com/open-apis/bot/v2/hook/TOKEN)"],
    ['https://open.feishu.cn/open-apis/bot/v2/hook/', 'a Feishu bot URL needs its token: https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN'],
    ['https://open.feishu.cn/open-apis/im/v1/messages', 'this is not a Feishu custom-bot webhook URL: it looks like https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN'],
    ['https://open.larksuite.com/open-apis/bot/v2/hook/a/b', 'a Lark bot URL needs its token: https://open.larksuite.com/open-apis/bot/v2/hook/TOKEN'],
  ])('refuses %s', (url, message) => {
    if (typeof message === 'string') expect(urlError(url)).toBe(message);
    else expect(urlError(url)).toMatch(message);
  });

  it('leaves other hosts to other channels', () => {
    for (const c of [wecomChannel, dingtalkChannel, feishuChannel, larkChannel]) {
      expect(c.parseUrl!('https://example.com/robot/send?access_token=x', 'https')).toBeNull();
      expect(c.parseUrl!('https://hooks.slack.com/services/T/B/C', 'https')).toBeNull();
    }
    expect(feishuChannel.parseUrl!(LARK('abc'), 'https')).toBeNull();
    expect(larkChannel.parseUrl!(FEISHU('abc'), 'https')).toBeNull();
    expect(fromUrl('https://example.com/robot/send?access_token=x').type).toBe('webhook');
  });

  it('schemas accept any http(s) endpoint, need the credential on the real host, and explain what is wrong', () => {
    const ok = (c: { schema: { safeParse(v: unknown): { success: boolean } } }, v: unknown) => c.schema.safeParse(v).success;
    const err = (c: { schema: { safeParse(v: unknown): any } }, v: unknown) => c.schema.safeParse(v).error?.issues[0]?.message;
    expect(ok(wecomChannel, { url: 'http://127.0.0.1:9999/cgi-bin/webhook/send?key=k' })).toBe(true);
    expect(ok(dingtalkChannel, { url: 'http://127.0.0.1:9999/robot/send?access_token=t', secret: 'SECabc', keyword: '告警', at_mobiles: ['13800001111'], at_all: true })).toBe(true);
    expect(ok(feishuChannel, { url: 'http://relay.internal/hook', secret: 'abc', at_all: false })).toBe(true);
    expect(err(wecomChannel, { url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send' })).toMatch(/needs its key/);
    expect(err(dingtalkChannel, { url: 'https://oapi.dingtalk.com/robot/send' })).toBe('a DingTalk URL needs an access_token: https://oapi.dingtalk.com/robot/send?access_token=…');
    expect(err(larkChannel, { url: 'https://open.larksuite.com/open-apis/bot/v2/hook/' })).toMatch(/a Lark bot URL needs its token/);
    expect(err(dingtalkChannel, { url: 'ftp://x' })).toMatch(/expected the bot's webhook URL/);
    expect(err(dingtalkChannel, { url: DING('t'), keyword: 'a\nb' })).toBe('the keyword cannot contain line breaks');
    expect(err(dingtalkChannel, { url: DING('t'), at_mobiles: ['call me'] })).toMatch(/mobile number/);
    expect(err(wecomChannel, { url: WECOM('k'), mentioned_mobile_list: ['abc'] })).toMatch(/mobile number/);
    expect(err(wecomChannel, { url: WECOM('k'), token: 'x' })).toMatch(/Unrecognized key/);
    for (const c of [wecomChannel, dingtalkChannel, feishuChannel, larkChannel]) expect(c.secretFields).toContain('url');
    for (const c of [dingtalkChannel, feishuChannel, larkChannel]) expect(c.secretFields).toContain('secret');
  });

  it('declares the services rate limits', () => {
    expect(wecomChannel.limits).toEqual([{ count: 20, windowMs: 60_000 }]);
    expect(dingtalkChannel.limits).toEqual([{ count: 20, windowMs: 60_000 }]);
    for (const c of [feishuChannel, larkChannel])
      expect(c.limits).toEqual([
        { count: 5, windowMs: 1000 },
        { count: 100, windowMs: 60_000 },
      ]);
    for (const c of [wecomChannel, dingtalkChannel, feishuChannel, larkChannel]) expect(c.mergeable).not.toBe(false);
  });
});

// ---- signatures ----

describe('signatures', () => {
  it('DingTalk: urlEncode(base64(HMAC-SHA256(secret, ts + "\\n" + secret))) with the timestamp in ms', () => {
    // Vector computed with Python's hmac/base64/urllib.parse.quote(safe='').
    expect(signDingTalk('SEC0123456789abcdef', NOW)).toBe('TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D');
    expect(decodeURIComponent(signDingTalk('SECx', 1234567890123))).toBe(expectedDingTalkSign('SECx', '1234567890123'));
    const url = dingtalkUrl({ url: `${DING('tok')}&timestamp=1&sign=old`, secret: 'SEC0123456789abcdef' }, NOW);
    expect(url).toBe(`${DING('tok')}&timestamp=${NOW}&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D`);
    expect(dingtalkUrl({ url: DING('tok') }, NOW)).toBe(DING('tok'));
  });

  it('Feishu: base64(HMAC-SHA256(key = ts + "\\n" + secret, msg = "")) with the timestamp in seconds', () => {
    expect(signFeishu('fsSecret123', 1_700_000_000)).toBe('j6v5cVQOQMAiZNdvEfl9jWSobF4Qz1MV81ItwXz5ew0=');
    expect(signFeishu('s', 42)).toBe(expectedFeishuSign('s', '42'));
  });

  it('send() signs with ctx.now(): DingTalk in the query, Feishu in the body', async () => {
    const d = fakeCtx({ status: 200, body: '{"errcode":0,"errmsg":"ok"}' });
    const r1 = await dingtalkChannel.send({ url: DING('tok'), secret: 'SEC0123456789abcdef' }, note(), d.ctx);
    expect(r1).toEqual({ ok: true, status: 200, response: '{"errcode":0,"errmsg":"ok"}' });
    expect(d.calls[0]!.url).toBe(`${DING('tok')}&timestamp=${NOW}&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D`);
    expect(d.calls[0]!.req).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' } });

    const f = fakeCtx({ status: 200, body: '{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}' });
    const r2 = await feishuChannel.send({ url: FEISHU('tok'), secret: 'fsSecret123' }, note(), f.ctx);
    expect(r2.ok).toBe(true);
    const body = JSON.parse(f.calls[0]!.req.body!);
    expect(body).toMatchObject({ timestamp: '1700000000', sign: 'j6v5cVQOQMAiZNdvEfl9jWSobF4Qz1MV81ItwXz5ew0=', msg_type: 'interactive' });
    expect(f.calls[0]!.url).toBe(FEISHU('tok'));
    const unsigned = fakeCtx({ status: 200, body: '{"code":0,"msg":"success","data":{}}' });
    await larkChannel.send({ url: LARK('tok') }, note(), unsigned.ctx);
    expect(JSON.parse(unsigned.calls[0]!.req.body!)).not.toHaveProperty('sign');
  });
});

// ---- formatting ----

describe('WeCom formatting', () => {
  const cfg: WeComConfig = { url: WECOM('k') };

  it('markdown: coloured title, summary, bold labels, links; user text cannot format, link or mention', () => {
    const m = msg({ account: { id: 'a', name: HOSTILE, external_id: null, top_up_url: 'https://pay.example.com/top up?a=(1)&b=2' } });
    const content = wecomMarkdown(m);
    const c = checkWeComMarkdown(content);
    expect(c.problems).toEqual([]);
    expect(c.mentions).toEqual([]);
    expect(c.colors).toEqual(['warning']);
    expect(content.split('\n')[0]).toBe(`### <font color="warning">${neutralizeMarkdown(m.title)}</font>`);
    expect(content).toContain('Ops ＜b＞＊VIP＊＜/b＞ ［x］(http://evil) ｀rm｀ ＜@all＞');
    expect(neutralizeMarkdown('[Critical] a [b] c')).toBe('[Critical] a [b] c');
    expect(content).toContain('> **Balance**: $3.00');
    expect(c.links).toEqual([
      { label: 'Top up now', url: 'https://pay.example.com/top%20up?a=%281%29&b=2' },
      { label: 'Open dashboard', url: 'https://bw.example.com/' },
    ]);
  });

  it('colours by severity: warning for alerts, info (green) for recoveries, comment (grey) for information', () => {
    expect(checkWeComMarkdown(wecomMarkdown(msg({ level: 'warning' }))).colors).toEqual(['warning']);
    expect(checkWeComMarkdown(wecomMarkdown(recovered())).colors).toEqual(['info']);
    expect(checkWeComMarkdown(wecomMarkdown(msg({ type: 'test', level: null, account: null }))).colors).toEqual(['comment']);
  });

  it('mentions user ids in markdown on firing alerts only; phones and @all switch to a text message', () => {
    const users = wecomPayload({ ...cfg, mentioned_list: ['zhangsan', 'li.si'] }, msg());
    expect(users.msgtype).toBe('markdown');
    expect(checkWeComMarkdown((users.markdown as any).content).mentions).toEqual(['zhangsan', 'li.si']);
    expect(wecomPayload({ ...cfg, mentioned_list: ['zhangsan'] }, recovered())).toEqual({ msgtype: 'markdown', markdown: { content: wecomMarkdown(recovered()) } });
    const phones = wecomPayload({ ...cfg, mentioned_list: ['@all'], mentioned_mobile_list: ['13800001111'] }, msg());
    expect(phones).toMatchObject({ msgtype: 'text', text: { mentioned_list: ['@all'], mentioned_mobile_list: ['13800001111'] } });
    expect((phones.text as any).content.split('\n')[0]).toBe(msg().title);
    const quiet = wecomPayload({ ...cfg, mentioned_mobile_list: ['13800001111'] }, recovered());
    expect(quiet.msgtype).toBe('markdown');
    expect(wecomPayload({ ...cfg, msgtype: 'text' }, recovered())).toEqual({ msgtype: 'text', text: { content: wecomText(recovered()) } });
  });

  it('keeps markdown within 4096 bytes and text within 2048 bytes, cut at whole lines', () => {
    const big = msg({ note: '很长的说明'.repeat(300) }, 'zh-CN');
    const many = { ...big, facts: Array.from({ length: 60 }, (_, i) => [`标签${i}`, '值'.repeat(100)] as [string, string]) };
    for (const m of [big, many]) {
      const md = wecomMarkdown(m, ['zhangsan']);
      expect(Buffer.byteLength(md)).toBeLessThanOrEqual(4096);
      expect(checkWeComMarkdown(md).problems).toEqual([]);
      expect(md.endsWith('<@zhangsan>')).toBe(true);
      expect(md).toContain('…');
      const text = wecomText(m);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(2048);
      expect(text.startsWith(m.title)).toBe(true);
    }
  });

  it('sends a user template as written', () => {
    const custom = { ...msg(), custom: true, title: 'Low!', text: '**{{account}}** is low\n[pay](https://pay.example.com)' };
    expect(wecomMarkdown(custom)).toBe('### <font color="warning">Low!</font>\n**{{account}}** is low\n[pay](https://pay.example.com)');
  });

  it('renders a digest like any message', () => {
    const d = renderDigest([msg(), msg({ level: 'warning', account: { id: 'b', name: 'Kimi', external_id: null, top_up_url: null } })]);
    const c = checkWeComMarkdown(wecomMarkdown(d));
    expect(c.problems).toEqual([]);
    expect(wecomMarkdown(d)).toContain(neutralizeMarkdown(`• ${msg().title}`));
  });
});

describe('DingTalk formatting', () => {
  const cfg: DingTalkConfig = { url: DING('t') };

  it('markdown: heading, summary, bold-labelled facts, links; user text cannot format or link', () => {
    const m = msg({ account: { id: 'a', name: HOSTILE, external_id: null, top_up_url: 'https://pay.example.com/x?a=1&b=(2)' } }, 'zh-CN');
    const { title, text } = dingtalkMarkdown(cfg, m);
    expect(title).toBe(m.title);
    expect(text.split('\n')[0]).toBe(`#### ${neutralizeMarkdown(m.title)}`);
    const c = checkDingTalkMarkdown(text);
    expect(c.problems).toEqual([]);
    expect(c.links).toEqual([
      { label: '立即充值', url: 'https://pay.example.com/x?a=1&b=%282%29' },
      { label: '打开控制台', url: 'https://bw.example.com/' },
    ]);
    expect(text).toContain('- **余额**：US$3.00');
  });

  it('puts the keyword in every message unless it is already there, even when cut', () => {
    expect(dingtalkMarkdown({ ...cfg, keyword: '余额告警' }, msg()).text.endsWith('\n\n余额告警')).toBe(true);
    expect(dingtalkMarkdown({ ...cfg, keyword: 'balance' }, msg()).text).not.toMatch(/\n\nbalance$/);
    expect(dingtalkMarkdown({ ...cfg, keyword: 'balance' }, msg()).text).toContain('balance');
    // a keyword present only in an escaped form does not count
    const starry = msg({ account: { id: 'a', name: '*VIP*', external_id: null, top_up_url: null } });
    expect(dingtalkMarkdown({ ...cfg, keyword: '*VIP*' }, starry).text.endsWith('\n\n*VIP*')).toBe(true);
    const huge = { ...msg({}, 'zh-CN'), facts: Array.from({ length: 50 }, (_, i) => [`标签${i}`, '值'.repeat(900)] as [string, string]) };
    const cut = dingtalkMarkdown({ ...cfg, keyword: '余额告警', at_mobiles: ['13800001111'] }, huge).text;
    expect(charLength(cut)).toBeLessThanOrEqual(DINGTALK_TEXT_MAX);
    expect(cut.endsWith('@13800001111\n\n余额告警')).toBe(true);
    expect(cut).toContain('\n…\n');
    expect(checkDingTalkMarkdown(cut, ['13800001111']).problems).toEqual([]);
  });

  it('@mentions on firing alerts only: atMobiles written in the text too, atUserIds, isAtAll', () => {
    const full: DingTalkConfig = { ...cfg, at_mobiles: ['13800001111', '13900002222'], at_user_ids: ['manager01'], at_all: true };
    const low = dingtalkPayload(full, msg());
    expect(low.at).toEqual({ atMobiles: ['13800001111', '13900002222'], atUserIds: ['manager01'], isAtAll: true });
    expect((low.markdown as any).text).toMatch(/\n@13800001111 @13900002222 @manager01$/);
    expect(checkDingTalkMarkdown((low.markdown as any).text, ['13800001111', '13900002222']).problems).toEqual([]);
    for (const quiet of [recovered(), msg({ type: 'test', level: null, account: null })]) {
      const p = dingtalkPayload(full, quiet);
      expect(p).not.toHaveProperty('at');
      expect((p.markdown as any).text).not.toContain('@138');
    }
    expect(dingtalkPayload(cfg, msg())).toEqual({ msgtype: 'markdown', markdown: dingtalkMarkdown(cfg, msg()) });
  });

  it('sends a user template as written', () => {
    const custom = { ...msg(), custom: true, title: 'Low!', text: '> **余额** 3.00\n[充值](https://pay.example.com)' };
    expect(dingtalkMarkdown(cfg, custom).text).toBe('#### Low!\n\n> **余额** 3.00\n[充值](https://pay.example.com)');
  });
});

describe('Feishu / Lark cards', () => {
  const cfg: FeishuConfig = { url: FEISHU('t') };
  const card = (c: FeishuConfig, m: RenderedMessage) => (feishuPayload(c, m) as any).card;
  const texts = (els: any[]) => els.flatMap((e: any) => [e.text, ...(e.fields ?? []).map((f: any) => f.text), ...(e.tag === 'note' ? e.elements : [])]).filter(Boolean);

  it('header coloured by severity, summary, fact fields, buttons, footer', () => {
    const m = msg({ level: 'warning' });
    const c = card(cfg, m);
    expect(c.header).toEqual({ title: { tag: 'plain_text', content: m.title }, template: 'orange' });
    expect(c.elements[0]).toEqual({ tag: 'div', text: { tag: 'plain_text', content: m.summary } });
    expect(c.elements[1].fields[2]).toEqual({ is_short: true, text: { tag: 'lark_md', content: '**Balance**\n$3.00' } });
    expect(c.elements.find((e: any) => e.tag === 'action').actions).toEqual([
      { tag: 'button', text: { tag: 'plain_text', content: 'Top up now' }, url: 'https://platform.deepseek.com/top_up?a=1&b=2', type: 'primary' },
      { tag: 'button', text: { tag: 'plain_text', content: 'Open dashboard' }, url: 'https://bw.example.com/', type: 'default' },
    ]);
    expect(c.elements.at(-1)).toEqual({ tag: 'note', elements: [{ tag: 'plain_text', content: m.footer }] });
    expect(card(cfg, msg()).header.template).toBe('red');
    expect(card(cfg, recovered()).header.template).toBe('green');
    expect(card(cfg, msg({ type: 'test', level: null, account: null })).header.template).toBe('blue');
  });

  it('escapes lark_md so names cannot format, link or @all', () => {
    expect(escapeLarkMd('<at id=all></at> **x** [a](b) _i_ ~s~ `c` & &amp;')).toBe(
      '&lt;at id=all&gt;&lt;/at&gt; &#42;&#42;x&#42;&#42; &#91;a&#93;(b) &#95;i&#95; &#126;s&#126; &#96;c&#96; &amp; &amp;amp;',
    );
    const m = msg({ account: { id: 'a', name: HOSTILE, external_id: null, top_up_url: null } });
    for (const t of texts(card({ ...cfg, at_all: true }, m).elements)) {
      if (t.tag !== 'lark_md') continue;
      const c = checkLarkMd(t.content);
      expect(c.problems).toEqual([]);
      if (t.content.includes('Account')) expect(c.visible).toBe(`Account\n${HOSTILE}`);
    }
  });

  it('@all on firing alerts only when at_all is set', () => {
    const ats = (c: FeishuConfig, m: RenderedMessage) => texts(card(c, m).elements).flatMap((t: any) => (t.tag === 'lark_md' ? checkLarkMd(t.content).ats : []));
    expect(ats({ ...cfg, at_all: true }, msg())).toEqual(['all']);
    expect(ats({ ...cfg, at_all: true }, recovered())).toEqual([]);
    expect(ats(cfg, msg())).toEqual([]);
  });

  it('adds the keyword as a note unless the card text already has it', () => {
    const els = card({ ...cfg, keyword: '余额告警' }, msg()).elements;
    expect(els.at(-1)).toEqual({ tag: 'note', elements: [{ tag: 'plain_text', content: '余额告警' }] });
    expect(card({ ...cfg, keyword: 'DeepSeek' }, msg()).elements.filter((e: any) => e.tag === 'note')).toHaveLength(1);
  });

  it('keeps the body within 20 KB', () => {
    const huge = {
      ...msg({}, 'zh-CN'),
      summary: '余额不足。'.repeat(3000),
      facts: Array.from({ length: 50 }, (_, i) => [`标签${i}`, '值'.repeat(1500)] as [string, string]),
    };
    const body = feishuPayload({ ...cfg, keyword: '告警关键词' }, huge, { timestamp: '1700000000', sign: 'x'.repeat(44) });
    expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThanOrEqual(20_000);
    const els = (body as any).card.elements;
    expect(els.at(-1)).toEqual({ tag: 'note', elements: [{ tag: 'plain_text', content: '告警关键词' }] });
    expect(els.some((e: any) => e.text?.content === '…')).toBe(true);
  });

  it('sends a user template as written (lark_md)', () => {
    const custom = { ...msg(), custom: true, title: 'Low!', text: '**{{account}}** <at id=all></at>' };
    expect(card(cfg, custom).elements[0]).toEqual({ tag: 'div', text: { tag: 'lark_md', content: '**{{account}}** <at id=all></at>' } });
  });
});

// ---- answers → results ----

const dt = (errcode: number, errmsg: string) => JSON.stringify({ errcode, errmsg });

describe('DingTalk answers', () => {
  const withSecret = { secret: 'SECsecretvalue' };
  it.each([
    [dt(0, 'ok'), withSecret, { ok: true }],
    [dt(310000, 'sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]'), withSecret, { ok: false, retryable: false, error: 'DingTalk rejected the signature (310000): check the secret' }],
    [dt(310000, DT_SIGN_MISMATCH), withSecret, { ok: false, retryable: false, error: 'DingTalk rejected the signature (310000): check the secret' }],
    [
      dt(310000, 'invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]'),
      withSecret,
      { ok: false, retryable: false, error: "DingTalk rejected the signature (310000): its timestamp is more than an hour off DingTalk's clock; check this server's clock" },
    ],
    [dt(310000, DT_SIGN_EXPIRED), withSecret, { ok: false, error: "DingTalk rejected the signature (310000): its timestamp is more than an hour off DingTalk's clock; check this server's clock" }],
    [dt(310000, DT_SIGN_MISMATCH), {}, { ok: false, error: "DingTalk rejected the message (310000): this bot requires 加签 signing; set the channel's secret (the SEC… string in the bot's security settings)" }],
    [
      dt(310000, 'keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]'),
      {},
      { ok: false, retryable: false, error: "DingTalk rejected the message (310000): it must contain one of the bot's security keywords; set the channel's keyword to one of the bot's keywords" },
    ],
    [
      dt(310000, DT_KEYWORD),
      { keyword: '告警' },
      {
        ok: false,
        error: `DingTalk rejected the message (310000): it must contain one of the bot's keywords, and the channel's keyword "告警" is not one of them; set the channel's keyword to one of the bot's keywords`,
      },
    ],
    [
      dt(310000, 'ip 203.0.113.9 not in whitelist, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]'),
      withSecret,
      { ok: false, retryable: false, error: "DingTalk rejected the message (310000): this server's IP address is not in the bot's IP allowlist; add it in the bot's security settings" },
    ],
    [dt(300001, 'token is not exist'), {}, { ok: false, retryable: false, error: 'DingTalk does not know this access_token (300001): check the access_token in the webhook URL; the bot may have been removed from the group' }],
    [dt(300005, 'token is not exist'), {}, { ok: false, error: 'DingTalk does not know this access_token (300005): check the access_token in the webhook URL; the bot may have been removed from the group' }],
    [
      dt(130101, 'send too fast, exceed 20 times per minute'),
      {},
      {
        ok: false,
        retryable: true,
        retryAfterMs: DINGTALK_BLOCK_MS,
        error: 'DingTalk is throttling this bot (130101: send too fast, exceed 20 times per minute): over 20 messages a minute blocks it for 10 minutes; will retry in 10 minutes',
      },
    ],
    [dt(460101, 'message too long, exceed 20000 bytes'), {}, { ok: false, retryable: false, error: "DingTalk rejected the message as too long (460101: message too long, exceed 20000 bytes); shorten the channel's template" }],
    [dt(-1, '系统繁忙'), {}, { ok: false, retryable: true }],
    [dt(40035, '缺少参数 json'), {}, { ok: false, retryable: false, error: "DingTalk refused the message (errcode 40035: 缺少参数 json): check the channel's webhook URL and the bot's settings" }],
    ['<html>captive portal</html>', {}, { ok: false, retryable: false, error: 'the receiver answered HTTP 200 but not as DingTalk does ({"errcode":0}): check the channel\'s URL' }],
  ])('%s', (body, config, expected) => {
    const r = classifyDingTalk(200, body, {}, NOW, config);
    expect(r).toMatchObject({ status: 200, ...expected });
    if (!r.ok) expect(r.response).toBe(excerpt(body));
    if (!('retryAfterMs' in expected)) expect(r).not.toHaveProperty('retryAfterMs');
    expect(JSON.stringify(r)).not.toContain('SECsecretvalue');
  });

  it('an HTTP error without DingTalk body is classified by status', () => {
    expect(classifyDingTalk(502, 'Bad Gateway', {}, NOW)).toMatchObject({ ok: false, status: 502, retryable: true });
    expect(classifyDingTalk(404, 'Not Found', {}, NOW)).toMatchObject({ ok: false, status: 404, retryable: false });
  });
});

describe('WeCom answers', () => {
  const hint = 'hint: [1700000000_1_abc], from ip: 203.0.113.9, more info at https://open.work.weixin.qq.com/devtool/query?e=93000';
  it.each([
    [dt(0, 'ok'), { ok: true }],
    [dt(93000, `invalid webhook url, ${hint}`), { ok: false, retryable: false, error: 'WeCom says the webhook URL is invalid (93000): the key is wrong or the bot was removed from the group; copy the webhook URL again' }],
    [dt(45009, 'api freq out of limit'), { ok: false, retryable: true, retryAfterMs: 60_000, error: 'WeCom is rate limiting this bot (45009: api freq out of limit); will retry in a minute' }],
    [dt(40058, 'markdown.content exceed max length 4096'), { ok: false, retryable: false, error: 'WeCom rejected the message (40058: markdown.content exceed max length 4096); this is a balancewatch bug, please report it' }],
    [dt(40008, 'invalid message type'), { ok: false, retryable: false, error: "WeCom refused the message (errcode 40008: invalid message type): check the channel's webhook URL and settings" }],
    [dt(-1, 'system busy'), { ok: false, retryable: true }],
    ['ok', { ok: false, retryable: false, error: 'the receiver answered HTTP 200 but not as WeCom does ({"errcode":0}): check the channel\'s URL' }],
  ])('%s', (body, expected) => {
    expect(classifyWeCom(200, body, {}, NOW)).toMatchObject({ status: 200, response: body, ...expected });
  });

  it('an HTTP error without WeCom body is classified by status, with Retry-After', () => {
    expect(classifyWeCom(503, '', { 'retry-after': '7' }, NOW)).toMatchObject({ ok: false, status: 503, retryable: true, retryAfterMs: 7000 });
  });
});

describe('Feishu answers', () => {
  const fs = (code: number, msg: string) => JSON.stringify({ code, data: {}, msg });
  it.each([
    [200, JSON.stringify({ StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' }), {}, { ok: true }],
    [200, fs(19021, FS_SIGN), { secret: 'fsSecret' }, { ok: false, retryable: false, error: 'Feishu rejected the signature (19021): check the secret' }],
    [200, fs(19021, FS_SIGN), {}, { ok: false, retryable: false, error: "Feishu rejected the message (19021): this bot requires signing; set the channel's secret (from the bot's security settings)" }],
    [200, fs(19024, 'Key Words Not Found'), {}, { ok: false, error: "Feishu rejected the message (19024): it must contain one of the bot's security keywords; set the channel's keyword to one of the bot's keywords" }],
    [200, fs(19024, 'Key Words Not Found'), { keyword: 'alert' }, { ok: false, error: `Feishu rejected the message (19024): it must contain one of the bot's keywords, and the channel's keyword "alert" is not one of them; set the channel's keyword to one of the bot's keywords` }],
    [200, fs(19022, 'Ip Not Allowed'), {}, { ok: false, error: "Feishu rejected the message (19022): this server's IP address is not in the bot's IP allowlist; add it in the bot's security settings" }],
    [400, fs(9499, 'Bad Request'), {}, { ok: false, status: 400, retryable: false, error: 'Feishu rejected the request as malformed (9499: Bad Request); this is a balancewatch bug, please report it' }],
    [200, fs(11232, 'frequency limited psm[lark.oapi.app_platform_runtime]appID[1]'), {}, { ok: false, retryable: true, error: 'Feishu is rate limiting this bot (11232: frequency limited psm[lark.oapi.app_platform_runtime]appID[1]); will retry' }],
    [200, fs(19001, 'param invalid: incoming webhook access token invalid'), {}, { ok: false, retryable: false, error: 'Feishu does not know this bot (19001: param invalid: incoming webhook access token invalid): check the token in the webhook URL; the bot may have been removed from the group' }],
  ])('HTTP %s %s', (status, body, config, expected) => {
    const r = classifyFeishu(status, body, {}, NOW, 'Feishu', config);
    expect(r).toMatchObject({ status, response: body, ...expected });
    expect(JSON.stringify(r)).not.toContain('fsSecret');
  });

  it('Lark answers name Lark; a 429 with Retry-After is honoured', () => {
    expect(classifyFeishu(200, JSON.stringify({ code: 19021, msg: FS_SIGN }), {}, NOW, 'Lark', { secret: 'x' })).toMatchObject({ error: 'Lark rejected the signature (19021): check the secret' });
    expect(classifyFeishu(429, JSON.stringify({ code: 11232, msg: 'frequency limited' }), { 'retry-after': '3' }, NOW)).toMatchObject({ ok: false, retryable: true, retryAfterMs: 3000 });
    expect(classifyFeishu(502, 'bad gateway', {}, NOW)).toMatchObject({ ok: false, retryable: true });
  });
});

describe('send() never leaks the credential into its result', () => {
  it('wrong key / token answers keep the URL out of error and response', async () => {
    const w = fakeCtx({ status: 200, body: dt(93000, 'invalid webhook url, hint: [x], from ip: 1.2.3.4') });
    const r1 = await wecomChannel.send({ url: WECOM('supersecretkey') }, note(), w.ctx);
    const d = fakeCtx({ status: 200, body: dt(310000, DT_SIGN_MISMATCH) });
    const r2 = await dingtalkChannel.send({ url: DING('supersecrettoken'), secret: 'SECsupersecret' }, note(), d.ctx);
    expect(r2).toMatchObject({ ok: false, error: 'DingTalk rejected the signature (310000): check the secret' });
    for (const r of [r1, r2]) expect(JSON.stringify(r)).not.toMatch(/supersecret/);
  });
});
