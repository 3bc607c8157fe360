import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { byteLength, joinWithin, truncateChars } from './format.js';
import { ChannelUrlError, classifyHttp, excerpt, retryAfterMs, type ChannelResult, type ChannelType, type RenderedMessage } from './types.js';
import { parseAppriseUrl } from './webhook.js';
import { boundedMessage, firing, httpUrl, jsonAnswer, serviceMessage, urlOnHost } from './wecom.js';

// Feishu (飞书) and Lark custom bots (research/channels.md "Feishu and Lark custom bot"): one protocol, two hosts
// (open.feishu.cn / open.larksuite.com). The token in the webhook URL identifies the bot; its security settings add
// signing (`secret`: "timestamp" and "sign" in the JSON body), keywords (the channel's `keyword` is always put in) or
// an IP allowlist. Messages are interactive cards: a header coloured by severity, the summary, the facts as
// two-column fields, link buttons, a footer note, and <at id=all> on firing alerts when `at_all` is set. Errors come
// as {"code":…,"msg":…} (HTTP 200 for the security checks): the body decides. The whole body stays within 20 KB.

export const FEISHU_BODY_MAX = 20_000;

const FLAVOURS = {
  feishu: { type: 'feishu', label: 'Feishu', host: 'open.feishu.cn', tokenRe: /^[A-Za-z0-9_-]+$/ },
  // Apprise's lark:// token is [a-z0-9-]; the native URL accepts \w as well.
  lark: { type: 'lark', label: 'Lark', host: 'open.larksuite.com', tokenRe: /^[A-Za-z0-9_-]+$/ },
} as const;
type Flavour = keyof typeof FLAVOURS;

const HOOK_PATH = '/open-apis/bot/v2/hook/';

function makeSchema(f: Flavour) {
  const { label, host } = FLAVOURS[f];
  return z
    .object({
      url: httpUrl(`https://${host}${HOOK_PATH}…`),
      /** Signing secret from the bot's security settings; when set every message carries timestamp and sign. */
      secret: z
        .string()
        .trim()
        .regex(/^[A-Za-z0-9+/=_-]{1,256}$/, `the ${label} signing secret is the string shown in the bot's security settings (letters and digits)`)
        .optional(),
      /** One of the bot's security keywords: put into every message when the message does not already contain it. */
      keyword: z
        .string()
        .min(1)
        .max(100)
        .regex(/^[^\r\n]+$/, 'the keyword cannot contain line breaks')
        .optional(),
      /** @all on firing alerts (the group may restrict @all to its owner and admins). */
      at_all: z.boolean().optional(),
    })
    .strict()
    .refine((c) => !urlOnHost(c.url, [FLAVOURS.feishu.host, FLAVOURS.lark.host]) || hookToken(c.url) !== null, {
      message: `a ${label} bot URL needs its token: https://${host}${HOOK_PATH}TOKEN`,
      path: ['url'],
    });
}

export type FeishuConfig = z.infer<ReturnType<typeof makeSchema>>;

function hookToken(url: string): string | null {
  try {
    const p = new URL(url).pathname;
    if (!p.startsWith(HOOK_PATH)) return null;
    const t = p.slice(HOOK_PATH.length).replace(/\/+$/, '');
    return t && !t.includes('/') ? t : null;
  } catch {
    return null;
  }
}

/** sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret, msg = "")), timestamp in seconds. */
export function signFeishu(secret: string, timestampSec: number): string {
  return createHmac('sha256', `${timestampSec}\n${secret}`).update('').digest('base64');
}

const LARK_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * lark_md escaping: the characters that start markup (tags, bold/italic, strikethrough, code, links) become HTML
 * entities, which lark_md decodes for display; line breaks become spaces (one fact value = one line).
 */
export function escapeLarkMd(s: string): string {
  return s.replace(/[&<>*_~`[\]]/g, (c) => LARK_ENTITIES[c] ?? `&#${c.charCodeAt(0)};`).replace(/\r\n?|\n/g, ' ');
}

/** Card header colours (Feishu's `template` names) by severity. */
export const HEADER_TEMPLATES = { critical: 'red', warning: 'orange', resolved: 'green', info: 'blue' } as const;

type Element = Record<string, unknown>;

const plain = (content: string) => ({ tag: 'plain_text', content });
const md = (content: string) => ({ tag: 'lark_md', content });

/** The card's body elements: summary, fact fields, buttons, footer; `budget` bounds the text parts (characters). */
function elements(config: FeishuConfig, m: RenderedMessage, budget: number): Element[] {
  const out: Element[] = [];
  const atAll = config.at_all && firing(m) ? '<at id=all></at>' : '';
  if (m.custom) {
    // A user template: its text is the author's own lark_md, sent as written.
    const lines = m.text.split('\n');
    const text = joinWithin(lines, budget);
    out.push({ tag: 'div', text: md(atAll ? `${text}\n${atAll}` : text) });
  } else {
    out.push({ tag: 'div', text: plain(joinWithin(m.summary.split('\n'), budget)) });
    let used = 0;
    const fields: Element[] = [];
    for (const [label, value] of m.facts) {
      const content = `**${escapeLarkMd(label)}**\n${escapeLarkMd(value)}`;
      used += content.length;
      if (used > budget) break;
      fields.push({ is_short: value.length <= 40, text: md(content) });
    }
    if (fields.length) out.push({ tag: 'div', fields });
    if (fields.length < m.facts.length) out.push({ tag: 'div', text: plain('…') });
    if (atAll) out.push({ tag: 'div', text: md(atAll) });
  }
  const buttons = m.links
    .filter((l) => l.url.length <= 2000)
    .slice(0, 5)
    .map((l, i) => ({
      tag: 'button',
      text: plain(truncateChars(l.button, 40)),
      url: l.url,
      type: i === 0 && m.severity !== 'resolved' ? 'primary' : 'default',
    }));
  if (buttons.length) out.push({ tag: 'action', actions: buttons });
  if (m.footer) out.push({ tag: 'note', elements: [plain(truncateChars(m.footer, 300))] });
  return out;
}

/** The text a keyword check can see: the card's div texts, fields and notes (not the header or buttons). */
export function cardText(elements: Element[]): string {
  const out: string[] = [];
  for (const e of elements) {
    const t = e.text as { content?: string } | undefined;
    if (t?.content) out.push(t.content);
    for (const f of (e.fields as Array<{ text?: { content?: string } }> | undefined) ?? []) if (f.text?.content) out.push(f.text.content);
    if (e.tag === 'note') for (const n of (e.elements as Array<{ content?: string }> | undefined) ?? []) if (n.content) out.push(n.content);
  }
  return out.join('\n');
}

/** Puts `keyword` into the card (a note at the end) unless its text already contains it. */
function withKeyword(elements: Element[], keyword: string | undefined): Element[] {
  if (!keyword || cardText(elements).includes(keyword)) return elements;
  return [...elements, { tag: 'note', elements: [plain(keyword)] }];
}

/** The interactive card for a message, cut until the request body fits Feishu's 20 KB. */
export function feishuPayload(config: FeishuConfig, m: RenderedMessage, signature?: { timestamp: string; sign: string }): Record<string, unknown> {
  const b = boundedMessage(m, 2000);
  let budget = 8000;
  for (;;) {
    const card = {
      config: { wide_screen_mode: true },
      header: { title: plain(truncateChars(b.title, 200)), template: HEADER_TEMPLATES[m.severity] },
      elements: withKeyword(elements(config, b, budget), config.keyword),
    };
    const body = { ...(signature ?? {}), msg_type: 'interactive', card };
    if (byteLength(JSON.stringify(body)) <= FEISHU_BODY_MAX || budget <= 100) return body;
    budget = Math.floor(budget / 2);
  }
}

/** Feishu's answer: {"code":0,"msg":"success"} (plus legacy StatusCode), or a code with a message. */
export function classifyFeishu(
  status: number,
  body: string,
  headers: Record<string, string>,
  now: number,
  label = 'Feishu',
  config: Pick<FeishuConfig, 'secret' | 'keyword'> = {},
): ChannelResult {
  const response = excerpt(body);
  const j = jsonAnswer(body);
  const code = typeof j?.code === 'number' ? j.code : typeof j?.StatusCode === 'number' ? j.StatusCode : null;
  if (code === null) {
    if (status < 200 || status >= 300) return classifyHttp(status, body, headers, now);
    return { ok: false, status, response, retryable: false, error: `the receiver answered HTTP ${status} but not as ${label} does ({"code":0}): check the channel's URL` };
  }
  if (code === 0 && status >= 200 && status < 300) return { ok: true, status, response };
  const msg = serviceMessage(j?.msg ?? j?.StatusMessage);
  const fail = (error: string, retryable = false, after?: number): ChannelResult => ({
    ok: false,
    status,
    response,
    retryable,
    error,
    ...(after !== undefined ? { retryAfterMs: after } : {}),
  });
  switch (code) {
    case 19021:
      if (!config.secret) return fail(`${label} rejected the message (19021): this bot requires signing; set the channel's secret (from the bot's security settings)`);
      if (/timestamp/i.test(msg) && !/sign/i.test(msg))
        return fail(`${label} rejected the signature (19021): its timestamp is more than an hour off ${label}'s clock; check this server's clock`);
      return fail(`${label} rejected the signature (19021): check the secret`);
    case 19024:
      return fail(
        config.keyword
          ? `${label} rejected the message (19024): it must contain one of the bot's keywords, and the channel's keyword "${config.keyword}" is not one of them; set the channel's keyword to one of the bot's keywords`
          : `${label} rejected the message (19024): it must contain one of the bot's security keywords; set the channel's keyword to one of the bot's keywords`,
      );
    case 19022:
      return fail(`${label} rejected the message (19022): this server's IP address is not in the bot's IP allowlist; add it in the bot's security settings`);
    case 19001:
      return fail(`${label} does not know this bot (19001: ${msg}): check the token in the webhook URL; the bot may have been removed from the group`);
    case 9499:
      return fail(`${label} rejected the request as malformed (9499: ${msg}); this is a balancewatch bug, please report it`);
    case 11232:
    case 11233:
    case 99991400:
      return fail(`${label} is rate limiting this bot (${code}: ${msg}); will retry`, true, retryAfterMs(headers['retry-after'], now));
    default:
      if (status >= 500) return fail(`${label} answered HTTP ${status} (code ${code}: ${msg}); will retry`, true);
      return fail(`${label} refused the message (code ${code}: ${msg}): check the channel's webhook URL and the bot's settings`);
  }
}

// ---- URLs ----

function hookUrl(f: Flavour, token: string): string {
  return `https://${FLAVOURS[f].host}${HOOK_PATH}${token}`;
}

/** feishu://{token} / lark://{token}, or ?token=…, as Apprise reads them. */
function parseScheme(f: Flavour, raw: string): Record<string, unknown> {
  const { label, tokenRe } = FLAVOURS[f];
  const u = parseAppriseUrl(raw);
  const token = u?.query.get('token') || u?.host || '';
  if (!token) throw new ChannelUrlError(`a ${label} URL needs the bot's token: ${f}://TOKEN (the last part of https://${FLAVOURS[f].host}${HOOK_PATH}TOKEN)`);
  if (!tokenRe.test(token)) throw new ChannelUrlError(`the ${label} bot token may only contain letters, digits, "_" and "-": copy the last part of the webhook URL`);
  return { url: hookUrl(f, token) };
}

/** https://open.feishu.cn/open-apis/bot/v2/hook/{token} (or Lark's host); null for other hosts. */
function parseNative(f: Flavour, raw: string): Record<string, unknown> | null {
  const { label, host, tokenRe } = FLAVOURS[f];
  const u = urlOnHost(raw, [host]);
  if (!u) return null;
  if (!u.pathname.startsWith(HOOK_PATH))
    throw new ChannelUrlError(`this is not a ${label} custom-bot webhook URL: it looks like https://${host}${HOOK_PATH}TOKEN`);
  const token = hookToken(u.toString());
  if (!token) throw new ChannelUrlError(`a ${label} bot URL needs its token: https://${host}${HOOK_PATH}TOKEN`);
  if (!tokenRe.test(token)) throw new ChannelUrlError(`the token in this ${label} webhook URL is not valid: copy the webhook URL again`);
  return { url: hookUrl(f, token) };
}

function makeChannel(f: Flavour): ChannelType<FeishuConfig> {
  const { type, label } = FLAVOURS[f];
  return {
    type,
    label,
    schema: makeSchema(f),
    secretFields: ['url', 'secret'],
    schemes: [f],
    // 5 requests a second and 100 a minute per bot.
    limits: [
      { count: 5, windowMs: 1000 },
      { count: 100, windowMs: 60_000 },
    ],
    parseUrl(raw, scheme) {
      if (scheme === f) return parseScheme(f, raw);
      return parseNative(f, raw);
    },
    async send(config, n, ctx) {
      let signature: { timestamp: string; sign: string } | undefined;
      if (config.secret) {
        const ts = Math.floor(ctx.now() / 1000);
        signature = { timestamp: String(ts), sign: signFeishu(config.secret, ts) };
      }
      const body = JSON.stringify(feishuPayload(config, n.message, signature));
      const res = await ctx.http.request(config.url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body });
      return classifyFeishu(res.status, res.body, res.headers, ctx.now(), label, config);
    },
  };
}

export const feishuChannel: ChannelType<FeishuConfig> = makeChannel('feishu');
export const larkChannel: ChannelType<FeishuConfig> = makeChannel('lark');
