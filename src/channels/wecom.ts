import { z } from 'zod';
import { byteLength, joinWithin, markupLines, truncateBytes, truncateChars, type MarkupDialect } from './format.js';
import { ChannelUrlError, classifyHttp, excerpt, type ChannelResult, type ChannelType, type RenderedMessage } from './types.js';
import { parseAppriseUrl } from './webhook.js';

// WeCom (企业微信) group robot (research/channels.md "WeCom group robot"). The webhook URL (its `key`) is the only
// credential. Messages go out as WeCom markdown (coloured title, bold labels, links, `<@userid>` mentions), or as
// text when the channel asks for it or when an alert must mention phone numbers or @all (markdown cannot). WeCom
// answers HTTP 200 with {"errcode":…}: the body decides. Its markdown has no documented escape, so markup characters
// in names and values are replaced by their full-width look-alikes (see neutralizeMarkdown).
//
// This file also holds the helpers shared with dingtalk.ts and feishu.ts (the "China bots").

// ---- helpers shared by the WeCom, DingTalk and Feishu/Lark channels ----

/**
 * Makes user text inert in the markdown subsets of WeCom and DingTalk, which document no escape: the characters
 * that start markup (bold/italic `*`, code `` ` ``, HTML-ish `<font>`/`<@user>` tags, a link's `](`, a heading `#`
 * or quote `>` at the start of a line) become full-width look-alikes, so a name like "<b>*VIP*</b>" shows as typed
 * (＜b＞＊VIP＊＜/b＞) and can neither format nor link nor mention. Line breaks become spaces (one fact = one line).
 * "_" is left alone (WeCom has no italics), and so is a "[" closed later in the same text ("[Critical]"): a link
 * needs "](", which is always broken; an unclosed "[" becomes "［" so it cannot pair with a "](" of our own links.
 */
export function neutralizeMarkdown(s: string): string {
  return s
    .replace(/\r\n?|\n/g, ' ')
    .replace(/\*/g, '＊')
    .replace(/`/g, '｀')
    .replace(/</g, '＜')
    .replace(/>/g, '＞')
    .replace(/\]\(/g, '］(')
    .replace(/^(\s*)#/, '$1＃')
    .replace(/\[(?=[^\]]*$)/g, '［');
}

/** A link target inside markdown `(…)`: characters that would end or break it are percent-encoded. */
export function markdownUrl(url: string): string {
  return url.replace(/[()\s<>"]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The message with every part cut to a sane length first, so no single line can swallow the rest. */
export function boundedMessage(m: RenderedMessage, maxLine = 1000): RenderedMessage {
  return {
    ...m,
    title: truncateChars(m.title, 200),
    summary: m.summary
      .split('\n')
      .map((l) => truncateChars(l, maxLine))
      .join('\n'),
    facts: m.facts.slice(0, 50).map(([l, v]) => [truncateChars(l, 100), truncateChars(v, maxLine)] as [string, string]),
    // A template's own lines are kept as written, only bounded (a cut inside an author's link is their markup).
    text: m.text
      .split('\n')
      .map((l) => truncateChars(l, maxLine * 2))
      .join('\n'),
  };
}

/** Whether an alert should mention people: firing alerts only (not recoveries, information or tests). */
export function firing(m: RenderedMessage): boolean {
  return m.severity === 'warning' || m.severity === 'critical';
}

/** The JSON body of a China bot's answer, or null when it is not a JSON object. */
export function jsonAnswer(body: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A short, single-line rendering of a service's own error message for our error texts. */
export function serviceMessage(msg: unknown): string {
  return typeof msg === 'string' && msg.trim() ? excerpt(msg, 160) : 'no message';
}

/** An http(s) URL of any host (self-hosted relays, loopback test receivers); the message says what is expected. */
export function httpUrl(example: string) {
  return z.url({ protocol: /^https?$/, error: `expected the bot's webhook URL (${example})` }).max(2048);
}

/** The parsed URL when its host is `host` (case-insensitive), else null. */
export function urlOnHost(raw: string, hosts: readonly string[]): URL | null {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return null;
  }
  return hosts.includes(u.hostname.toLowerCase()) ? u : null;
}

// ---- WeCom ----

export const WECOM_HOST = 'qyapi.weixin.qq.com';
export const WECOM_ENDPOINT = `https://${WECOM_HOST}/cgi-bin/webhook/send`;
/** WeCom's documented limits: markdown content 4096 bytes, text content 2048 bytes (UTF-8). */
export const WECOM_MARKDOWN_MAX = 4096;
export const WECOM_TEXT_MAX = 2048;

const KEY = /^[A-Za-z0-9_-]+$/;
const USERID = /^(@all|[A-Za-z0-9_.@-]{1,64})$/;
const MOBILE = /^(@all|\+?[0-9]{5,20})$/;

const schema = z
  .object({
    url: httpUrl('https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…'),
    /** markdown (default: coloured title, bold labels, links) or text (shown everywhere, including WeChat). */
    msgtype: z.enum(['markdown', 'text'], { error: 'msgtype must be "markdown" or "text"' }).optional(),
    /** WeCom user ids to mention on firing alerts; "@all" mentions everyone (sent as text then). */
    mentioned_list: z.array(z.string().regex(USERID, 'a WeCom user id (letters, digits, _ . @ -) or "@all"')).max(50).optional(),
    /** Mobile numbers to mention on firing alerts (sent as text: markdown cannot mention by phone); "@all" for everyone. */
    mentioned_mobile_list: z.array(z.string().regex(MOBILE, 'a mobile number (digits, optional +) or "@all"')).max(50).optional(),
  })
  .strict()
  .refine((c) => !isWeComHost(c.url) || hasKey(c.url), {
    message: 'a WeCom webhook URL needs its key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…',
    path: ['url'],
  });

export type WeComConfig = z.infer<typeof schema>;

function isWeComHost(url: string): boolean {
  return urlOnHost(url, [WECOM_HOST]) !== null;
}

function hasKey(url: string): boolean {
  try {
    return KEY.test(new URL(url).searchParams.get('key') ?? '');
  } catch {
    return false;
  }
}

const COLORS = { critical: 'warning', warning: 'warning', resolved: 'info', info: 'comment' } as const;

const dialect: MarkupDialect = {
  escape: neutralizeMarkdown,
  bold: (t) => `**${neutralizeMarkdown(t)}**`,
  link: (label, url) => `[${neutralizeMarkdown(label).replace(/[[\]]/g, (c) => (c === '[' ? '［' : '］'))}](${markdownUrl(url)})`,
  bullet: '> ',
};

/** The mentions an alert carries, and whether they need a text message (phones and @all cannot be mentioned in markdown). */
function mentionsOf(config: WeComConfig, m: RenderedMessage): { users: string[]; mobiles: string[]; needsText: boolean } {
  if (!firing(m)) return { users: [], mobiles: [], needsText: false };
  const users = config.mentioned_list ?? [];
  const mobiles = config.mentioned_mobile_list ?? [];
  return { users, mobiles, needsText: mobiles.length > 0 || users.includes('@all') };
}

/** WeCom markdown content: coloured title, summary, "> **label**：value" facts, links, `<@userid>` mentions; ≤ 4096 bytes. */
export function wecomMarkdown(m: RenderedMessage, users: string[] = []): string {
  const b = boundedMessage(m);
  const head = [`### <font color="${COLORS[m.severity]}">${neutralizeMarkdown(b.title)}</font>`];
  const body = markupLines(b, dialect);
  const tail = users.length ? ['', users.map((u) => `<@${u}>`).join(' ')] : [];
  const tailBytes = tail.length ? byteLength(tail.join('\n')) + 1 : 0;
  const main = joinWithin([...head, ...body], WECOM_MARKDOWN_MAX - tailBytes, byteLength);
  return tail.length ? `${main}\n${tail.join('\n')}` : main;
}

/** WeCom text content: the title, then the plain-text body; ≤ 2048 bytes. */
export function wecomText(m: RenderedMessage): string {
  const lines = [truncateChars(m.title, 200), ...m.text.split('\n').map((l) => truncateBytes(l, 1500))];
  return joinWithin(lines, WECOM_TEXT_MAX, byteLength);
}

/** The webhook body for one notification. */
export function wecomPayload(config: WeComConfig, m: RenderedMessage): Record<string, unknown> {
  const mention = mentionsOf(config, m);
  if (config.msgtype === 'text' || mention.needsText) {
    return {
      msgtype: 'text',
      text: {
        content: wecomText(m),
        ...(mention.users.length ? { mentioned_list: mention.users } : {}),
        ...(mention.mobiles.length ? { mentioned_mobile_list: mention.mobiles } : {}),
      },
    };
  }
  return { msgtype: 'markdown', markdown: { content: wecomMarkdown(m, mention.users) } };
}

/** WeCom's answer: HTTP 200 with {"errcode":0,"errmsg":"ok"} on success, another errcode on failure. */
export function classifyWeCom(status: number, body: string, headers: Record<string, string>, now: number): ChannelResult {
  const response = excerpt(body);
  const j = jsonAnswer(body);
  const code = typeof j?.errcode === 'number' ? j.errcode : null;
  if (code === null) {
    if (status < 200 || status >= 300) return classifyHttp(status, body, headers, now);
    return { ok: false, status, response, retryable: false, error: `the receiver answered HTTP ${status} but not as WeCom does ({"errcode":0}): check the channel's URL` };
  }
  if (code === 0) return { ok: true, status, response };
  const msg = serviceMessage(j?.errmsg);
  switch (code) {
    case 93000:
      return { ok: false, status, response, retryable: false, error: 'WeCom says the webhook URL is invalid (93000): the key is wrong or the bot was removed from the group; copy the webhook URL again' };
    case 45009:
    case 45033:
      return { ok: false, status, response, retryable: true, retryAfterMs: 60_000, error: `WeCom is rate limiting this bot (${code}: ${msg}); will retry in a minute` };
    case 40058:
      return { ok: false, status, response, retryable: false, error: `WeCom rejected the message (40058: ${msg}); this is a balancewatch bug, please report it` };
    case -1:
      return { ok: false, status, response, retryable: true, error: `WeCom is busy (-1: ${msg}); will retry` };
    default:
      return { ok: false, status, response, retryable: false, error: `WeCom refused the message (errcode ${code}: ${msg}): check the channel's webhook URL and settings` };
  }
}

// ---- URLs ----

function keyUrl(key: string): string {
  return `${WECOM_ENDPOINT}?key=${key}`;
}

/** wecombot://{key} or wecombot://?key={key}, as Apprise reads it. */
function parseWeComBot(raw: string): Record<string, unknown> {
  const u = parseAppriseUrl(raw);
  const key = u?.query.get('key') || u?.host || '';
  if (!key) throw new ChannelUrlError('a WeCom bot URL needs the bot key: wecombot://KEY (the key= value of https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY)');
  if (!KEY.test(key)) throw new ChannelUrlError('the WeCom bot key may only contain letters, digits, "_" and "-": copy it from the key= part of the webhook URL');
  return { url: keyUrl(key) };
}

/** https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… (null for other hosts). */
function parseNative(raw: string): Record<string, unknown> | null {
  const u = urlOnHost(raw, [WECOM_HOST]);
  if (!u) return null;
  if (u.pathname.replace(/\/+$/, '') !== '/cgi-bin/webhook/send')
    throw new ChannelUrlError('this is not a WeCom group-bot webhook URL: it looks like https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… (the bot\'s "webhook address")');
  const key = u.searchParams.get('key');
  if (!key) throw new ChannelUrlError('a WeCom webhook URL needs its key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…');
  if (!KEY.test(key)) throw new ChannelUrlError('the key in this WeCom webhook URL is not valid: copy the webhook URL again');
  return { url: keyUrl(key) };
}

export const wecomChannel: ChannelType<WeComConfig> = {
  type: 'wecom',
  label: 'WeCom',
  schema,
  secretFields: ['url'],
  schemes: ['wecombot'],
  // 20 messages per minute per bot (WeCom's documented limit).
  limits: [{ count: 20, windowMs: 60_000 }],
  parseUrl(raw, scheme) {
    if (scheme === 'wecombot') return parseWeComBot(raw);
    return parseNative(raw);
  },
  async send(config, n, ctx) {
    const body = JSON.stringify(wecomPayload(config, n.message));
    const res = await ctx.http.request(config.url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body });
    return classifyWeCom(res.status, res.body, res.headers, ctx.now());
  },
};
