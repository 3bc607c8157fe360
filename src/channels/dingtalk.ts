import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { charLength, joinWithin, markupLines, truncateChars, type MarkupDialect } from './format.js';
import { ChannelUrlError, classifyHttp, excerpt, type ChannelResult, type ChannelType, type RenderedMessage } from './types.js';
import { parseAppriseUrl } from './webhook.js';
import { boundedMessage, firing, httpUrl, jsonAnswer, markdownUrl, neutralizeMarkdown, serviceMessage, urlOnHost } from './wecom.js';

// DingTalk (钉钉) custom robot (research/channels.md "DingTalk custom robot"). The access_token in the webhook URL
// identifies the bot; its security settings add 加签 signing (the `secret`, SEC…), keywords (one must appear in every
// message: the channel's `keyword` is always put in), or an IP allowlist. Messages are markdown (heading, bold
// labels, links) with @mobiles / @userIds / @all on firing alerts (a markdown mention only works when "@mobile" is
// also in the text). DingTalk answers HTTP 200 with {"errcode":…}: the body decides. Going over 20 messages a minute
// blocks the bot for 10 minutes, so the limit is declared here and the dispatcher never crosses it.
//
// Size: DingTalk documents no limit for markdown; it refuses bodies over 20000 bytes ("460101 message too long,
// exceed 20000 bytes"). We keep the markdown text within 4000 characters (≤ 12000 bytes even in Chinese), which also
// stays readable on a phone.

export const DINGTALK_HOST = 'oapi.dingtalk.com';
export const DINGTALK_ENDPOINT = `https://${DINGTALK_HOST}/robot/send`;
export const DINGTALK_TEXT_MAX = 4000;
const TITLE_MAX = 100;
/** Over the limit DingTalk blocks the bot for 10 minutes (130101): wait that long before trying again. */
export const DINGTALK_BLOCK_MS = 10 * 60_000;

const TOKEN = /^[A-Za-z0-9]+$/;
const SECRET = /^[A-Za-z0-9]+$/;

const schema = z
  .object({
    url: httpUrl('https://oapi.dingtalk.com/robot/send?access_token=…'),
    /** 加签 secret (SEC…) from the bot's security settings; when set every message is signed. */
    secret: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9+/=_-]{1,256}$/, 'the DingTalk secret is the SEC… string from the bot\'s security settings (letters and digits)')
      .optional(),
    /** One of the bot's security keywords: put into every message when the message does not already contain it. */
    keyword: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[^\r\n]+$/, 'the keyword cannot contain line breaks')
      .optional(),
    /** Mobile numbers to @mention on firing alerts. */
    at_mobiles: z
      .array(z.string().regex(/^\+?[0-9][0-9-]{4,19}$/, 'a mobile number (digits, optional + and -)'))
      .max(50)
      .optional(),
    /** DingTalk user ids to @mention on firing alerts. */
    at_user_ids: z
      .array(z.string().regex(/^[A-Za-z0-9_$:.@-]{1,64}$/, 'a DingTalk user id'))
      .max(50)
      .optional(),
    /** @all on firing alerts. */
    at_all: z.boolean().optional(),
  })
  .strict()
  .refine((c) => !urlOnHost(c.url, [DINGTALK_HOST]) || accessToken(c.url) !== null, {
    message: 'a DingTalk URL needs an access_token: https://oapi.dingtalk.com/robot/send?access_token=…',
    path: ['url'],
  });

export type DingTalkConfig = z.infer<typeof schema>;

function accessToken(url: string): string | null {
  try {
    return new URL(url).searchParams.get('access_token') || null;
  } catch {
    return null;
  }
}

/** sign = urlEncode(base64(HMAC-SHA256(key = secret, msg = timestamp + "\n" + secret))), timestamp in ms. */
export function signDingTalk(secret: string, timestampMs: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}\n${secret}`, 'utf8').digest('base64');
  return encodeURIComponent(mac);
}

/** The URL to post to: the configured one with a fresh timestamp and sign when the channel has a secret. */
export function dingtalkUrl(config: Pick<DingTalkConfig, 'url' | 'secret'>, nowMs: number): string {
  if (!config.secret) return config.url;
  const u = new URL(config.url);
  // A pasted signed URL's old timestamp/sign would expire within the hour: always sign afresh.
  u.searchParams.delete('timestamp');
  u.searchParams.delete('sign');
  const base = u.toString();
  const ts = Math.floor(nowMs);
  return `${base}${u.search ? '&' : '?'}timestamp=${ts}&sign=${signDingTalk(config.secret, ts)}`;
}

const dialect: MarkupDialect = {
  escape: neutralizeMarkdown,
  bold: (t) => `**${neutralizeMarkdown(t)}**`,
  link: (label, url) => `[${neutralizeMarkdown(label).replace(/[[\]]/g, (c) => (c === '[' ? '［' : '］'))}](${markdownUrl(url)})`,
  bullet: '- ',
};

/**
 * Appends `keyword` when `text` does not contain it, keeping the whole within `max` characters: the keyword security
 * check must pass whatever the message says (and however it was cut).
 */
export function withKeyword(lines: string[], keyword: string | undefined, max: number, measure: (s: string) => number = charLength, tail: string[] = []): string {
  const tailText = tail.length ? `\n${tail.join('\n')}` : '';
  const fits = (s: string) => measure(s) <= max;
  const plain = `${joinWithin(lines, max - measure(tailText), measure)}${tailText}`;
  if (!keyword || plain.includes(keyword)) return plain;
  const kw = `\n\n${keyword}`;
  const cut = `${joinWithin(lines, max - measure(tailText) - measure(kw), measure)}${tailText}${kw}`;
  return fits(cut) ? cut : `${keyword}`;
}

/** The mentions of a firing alert (none on recoveries, information and tests). */
function mentionsOf(config: DingTalkConfig, m: RenderedMessage) {
  if (!firing(m)) return { mobiles: [] as string[], users: [] as string[], all: false };
  return { mobiles: config.at_mobiles ?? [], users: config.at_user_ids ?? [], all: config.at_all === true };
}

/** DingTalk markdown: "#### title", summary paragraphs, "- **label**：value" facts, links, @mentions, the keyword. */
export function dingtalkMarkdown(config: DingTalkConfig, m: RenderedMessage): { title: string; text: string } {
  const b = boundedMessage(m);
  const at = mentionsOf(config, m);
  // A markdown line break needs an empty line: summary lines become paragraphs.
  const parts = m.custom ? b : { ...b, summary: b.summary.split('\n').join('\n\n') };
  const lines = [`#### ${neutralizeMarkdown(b.title)}`, '', ...markupLines(parts, dialect)];
  const mentionLine = [...at.mobiles, ...at.users].map((x) => `@${x}`).join(' ');
  const tail = mentionLine ? ['', mentionLine] : [];
  return {
    title: truncateChars(m.title, TITLE_MAX),
    text: withKeyword(lines, config.keyword, DINGTALK_TEXT_MAX, charLength, tail),
  };
}

/** The webhook body for one notification. */
export function dingtalkPayload(config: DingTalkConfig, m: RenderedMessage): Record<string, unknown> {
  const at = mentionsOf(config, m);
  return {
    msgtype: 'markdown',
    markdown: dingtalkMarkdown(config, m),
    ...(at.mobiles.length || at.users.length || at.all
      ? {
          at: {
            ...(at.mobiles.length ? { atMobiles: at.mobiles } : {}),
            ...(at.users.length ? { atUserIds: at.users } : {}),
            isAtAll: at.all,
          },
        }
      : {}),
  };
}

/**
 * DingTalk's answer: HTTP 200 with {"errcode":0,"errmsg":"ok"}, or an errcode. 310000 is every security check (sign,
 * timestamp, keyword, IP); its errmsg tells which, in the older English form ("sign not match, more: […]") or the
 * current Chinese one ("description:机器人发送签名不匹配;solution:…").
 */
export function classifyDingTalk(
  status: number,
  body: string,
  headers: Record<string, string>,
  now: number,
  config: Pick<DingTalkConfig, 'secret' | 'keyword'> = {},
): ChannelResult {
  const response = excerpt(body);
  const j = jsonAnswer(body);
  const code = typeof j?.errcode === 'number' ? j.errcode : null;
  if (code === null) {
    if (status < 200 || status >= 300) return classifyHttp(status, body, headers, now);
    return { ok: false, status, response, retryable: false, error: `the receiver answered HTTP ${status} but not as DingTalk does ({"errcode":0}): check the channel's URL` };
  }
  if (code === 0) return { ok: true, status, response };
  const raw = typeof j?.errmsg === 'string' ? j.errmsg : '';
  const msg = serviceMessage(raw);
  const fail = (error: string, retryable = false, retryAfterMs?: number): ChannelResult => ({
    ok: false,
    status,
    response,
    retryable,
    error,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
  if (code === 310000) {
    if (/keyword|关键词|关键字/i.test(raw))
      return fail(
        config.keyword
          ? `DingTalk rejected the message (310000): it must contain one of the bot's keywords, and the channel's keyword "${config.keyword}" is not one of them; set the channel's keyword to one of the bot's keywords`
          : "DingTalk rejected the message (310000): it must contain one of the bot's security keywords; set the channel's keyword to one of the bot's keywords",
      );
    if (/\bip\b|白名单|whitelist|allowlist/i.test(raw))
      return fail("DingTalk rejected the message (310000): this server's IP address is not in the bot's IP allowlist; add it in the bot's security settings");
    const signProblem = /sign|签名|timestamp|时间戳/i.test(raw);
    if (signProblem && !config.secret)
      return fail("DingTalk rejected the message (310000): this bot requires 加签 signing; set the channel's secret (the SEC… string in the bot's security settings)");
    if (/sign not match|不匹配/i.test(raw)) return fail('DingTalk rejected the signature (310000): check the secret');
    if (/timestamp|时间戳|过期|expire/i.test(raw))
      return fail("DingTalk rejected the signature (310000): its timestamp is more than an hour off DingTalk's clock; check this server's clock");
    if (signProblem) return fail('DingTalk rejected the signature (310000): check the secret');
    return fail(`DingTalk rejected the message's security check (310000: ${msg}): compare the channel's secret and keyword with the bot's security settings`);
  }
  if (code === 130101 || /send too fast|发送速度太快|限流/i.test(raw))
    return fail(
      `DingTalk is throttling this bot (${code}: ${msg}): over 20 messages a minute blocks it for 10 minutes; will retry in 10 minutes`,
      true,
      DINGTALK_BLOCK_MS,
    );
  if (code === 300001 || code === 300005 || code === 400101 || /token is not exist|token不存在|access_token/i.test(raw))
    return fail(`DingTalk does not know this access_token (${code}): check the access_token in the webhook URL; the bot may have been removed from the group`);
  if (code === 460101 || code === 101002)
    return fail(`DingTalk rejected the message as too long (${code}: ${msg}); shorten the channel's template`);
  if (code === -1) return fail(`DingTalk is busy (-1: ${msg}); will retry`, true);
  return fail(`DingTalk refused the message (errcode ${code}: ${msg}): check the channel's webhook URL and the bot's settings`);
}

// ---- URLs ----

const IS_PHONE = /^\+?([0-9\s)(+-]+)\s*$/;

/**
 * dingtalk://[secret@]token[/phone…][?token=…&secret=…&to=…] as Apprise reads it (token and secret: letters and
 * digits; phones: 11–14 digits once separators are removed). Apprise silently drops a target that is not a phone
 * number; we refuse it instead, because the mention it was meant to make would never happen.
 */
function parseScheme(raw: string): Record<string, unknown> {
  const u = parseAppriseUrl(raw);
  if (!u) throw new ChannelUrlError('expected dingtalk://[secret@]access_token[/mobile…]');
  const token = u.query.get('token') || u.host;
  const secret = u.query.get('secret') || u.user || '';
  if (!token) throw new ChannelUrlError('a DingTalk URL needs an access_token: dingtalk://ACCESS_TOKEN/ or dingtalk://SECRET@ACCESS_TOKEN/');
  if (!TOKEN.test(token)) throw new ChannelUrlError("the DingTalk access_token may only contain letters and digits: copy the access_token= value of the bot's webhook URL");
  if (secret && !SECRET.test(secret))
    throw new ChannelUrlError("the DingTalk secret may only contain letters and digits: copy the SEC… string from the bot's security settings");
  const targets = [...u.segments];
  const to = u.query.get('to');
  if (to) targets.push(...to.split(/[\s,;]+/));
  const mobiles: string[] = [];
  for (const t of targets.filter(Boolean)) {
    const m = IS_PHONE.exec(t);
    const digits = m ? m[1]!.replace(/\D/g, '') : '';
    if (digits.length < 11 || digits.length > 14)
      throw new ChannelUrlError(`"${truncateChars(t, 40)}" is not a mobile number to @mention (11 to 14 digits): fix or remove it`);
    if (!mobiles.includes(digits)) mobiles.push(digits);
  }
  return {
    url: `${DINGTALK_ENDPOINT}?access_token=${token}`,
    ...(secret ? { secret } : {}),
    ...(mobiles.length ? { at_mobiles: mobiles } : {}),
  };
}

/** https://oapi.dingtalk.com/robot/send?access_token=… (null for other hosts). */
function parseNative(raw: string): Record<string, unknown> | null {
  const u = urlOnHost(raw, [DINGTALK_HOST]);
  if (!u) return null;
  if (u.pathname.replace(/\/+$/, '') !== '/robot/send')
    throw new ChannelUrlError("this is not a DingTalk robot webhook URL: it looks like https://oapi.dingtalk.com/robot/send?access_token=… (the bot's Webhook address)");
  const token = u.searchParams.get('access_token');
  if (!token) throw new ChannelUrlError('a DingTalk URL needs an access_token: https://oapi.dingtalk.com/robot/send?access_token=…');
  if (!TOKEN.test(token)) throw new ChannelUrlError('the access_token in this DingTalk URL is not valid: copy the Webhook address again');
  // timestamp/sign of a pasted signed URL are dropped (they expire); the secret is a separate field.
  return { url: `${DINGTALK_ENDPOINT}?access_token=${token}` };
}

export const dingtalkChannel: ChannelType<DingTalkConfig> = {
  type: 'dingtalk',
  label: 'DingTalk',
  schema,
  secretFields: ['url', 'secret'],
  schemes: ['dingtalk'],
  // 20 messages per minute per bot; over it DingTalk blocks the bot for 10 minutes.
  limits: [{ count: 20, windowMs: 60_000 }],
  parseUrl(raw, scheme) {
    if (scheme === 'dingtalk') return parseScheme(raw);
    return parseNative(raw);
  },
  async send(config, n, ctx) {
    const body = JSON.stringify(dingtalkPayload(config, n.message));
    const now = ctx.now();
    const res = await ctx.http.request(dingtalkUrl(config, now), { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body });
    return classifyDingTalk(res.status, res.body, res.headers, ctx.now(), config);
  },
};
