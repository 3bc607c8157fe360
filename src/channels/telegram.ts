import { z } from 'zod';
import { joinWithin, markupLines, truncateChars, type MarkupDialect } from './format.js';
import { ChannelUrlError, classifyHttp, excerpt, retryAfterMs, type ChannelResult, type ChannelType, type RenderedMessage } from './types.js';
import { appriseBool } from './webhook.js';

// Telegram bots (research/channels.md "Telegram sendMessage"): POST {api_base}/bot<token>/sendMessage with
// parse_mode HTML. Telegram's HTML needs only &, < and > escaped in text (and " inside href). The text may hold 4096
// characters after entity parsing, so it is cut at whole lines measured without tags. Telegram answers
// {ok:false, error_code, description, parameters:{retry_after}}; a 429 is retried after `retry_after` seconds.
//
// One channel sends to one chat: Telegram's limits are per chat (about 1 message/s, 20/min in a group), which is
// what the dispatcher enforces per channel, and one delivery result per chat keeps retries from re-sending to chats
// that already got the message. A URL naming several chats is refused with a hint to create one channel per chat.

export const TELEGRAM_API = 'https://api.telegram.org';

const CHAT_ID = /^(-?\d{1,32}|@[A-Za-z_-][A-Za-z0-9_-]+)$/;
const CHAT_ERROR = 'chat_id is a numeric chat id (e.g. -1001234567890) or a public @channelname';

const schema = z
  .object({
    bot_token: z
      .string()
      .trim()
      .regex(/^(bot)?\d{1,20}:[A-Za-z0-9_-]{1,200}$/, 'a bot token looks like 123456789:AAH… (from @BotFather)')
      .transform((t) => t.replace(/^bot/, '')),
    /** A chat id (negative for groups and channels) or a public @channelname. */
    chat_id: z.union([z.number(), z.string()], { error: CHAT_ERROR }).transform((v, ctx) => {
      const s = typeof v === 'number' ? String(v) : v.trim();
      if (!CHAT_ID.test(s) || (typeof v === 'number' && !Number.isSafeInteger(v))) {
        ctx.addIssue({ code: 'custom', message: CHAT_ERROR });
        return z.NEVER;
      }
      return /^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : s;
    }),
    /** Forum topic (message_thread_id). */
    topic_id: z.number().int().positive('topic_id is a positive whole number').optional(),
    /** Bot API server; https://api.telegram.org when absent. */
    api_base: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).max(2048).optional(),
    /** Deliver without sound. */
    silent: z.boolean().optional(),
  })
  .strict();

export type TelegramConfig = z.infer<typeof schema>;

/** Telegram HTML text escaping (its documented rule: only &, < and >). */
export function escapeTelegram(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const dialect: MarkupDialect = {
  escape: escapeTelegram,
  bold: (t) => `<b>${escapeTelegram(t)}</b>`,
  link: (label, url) => `<a href="${escapeTelegram(url).replace(/"/g, '&quot;')}">${escapeTelegram(label)}</a>`,
  bullet: '• ',
};

/** Length as Telegram counts it (after entity parsing): tags removed, each entity one character, UTF-16 units. */
export function telegramLength(html: string): number {
  return html.replace(/<[^>]*>/g, '').replace(/&(?:amp|lt|gt|quot|#\d+|#x[0-9a-f]+);/gi, '_').length;
}

export const TEXT_MAX = 4096;

/** The message text: bold title, blank line, the body; cut at whole lines to fit 4096 characters. */
export function telegramText(m: RenderedMessage): string {
  // Parts are cut (before escaping) to a length that leaves room for the rest, so one huge value cannot push the
  // links and later facts out of the message.
  const bounded: RenderedMessage = {
    ...m,
    summary: m.summary
      .split('\n')
      .map((l) => truncateChars(l, 2000))
      .join('\n'),
    facts: m.facts.map(([l, v]) => [truncateChars(l, 200), truncateChars(v, 1000)] as [string, string]),
  };
  const body = m.custom ? m.text.split('\n') : markupLines(bounded, dialect);
  return joinWithin([`<b>${escapeTelegram(truncateChars(m.title, 500))}</b>`, '', ...body], TEXT_MAX, telegramLength);
}

interface TelegramAnswer {
  ok?: unknown;
  error_code?: unknown;
  description?: unknown;
  parameters?: { retry_after?: unknown; migrate_to_chat_id?: unknown };
}

function parseAnswer(body: string): TelegramAnswer | null {
  try {
    const v = JSON.parse(body) as unknown;
    return v && typeof v === 'object' ? (v as TelegramAnswer) : null;
  } catch {
    return null;
  }
}

/** Telegram's answer as a result; known descriptions become actionable messages. */
export function classifyTelegram(status: number, body: string, headers: Record<string, string>, now: number): ChannelResult {
  const a = parseAnswer(body);
  const description = typeof a?.description === 'string' ? a.description : '';
  const code = typeof a?.error_code === 'number' ? a.error_code : status;
  if (status >= 200 && status < 300 && a?.ok === true) {
    const id = (a as { result?: { message_id?: unknown } }).result?.message_id;
    return { ok: true, status, response: typeof id === 'number' ? `message ${id}` : excerpt(body) };
  }
  const response = excerpt(body);
  const fail = (error: string, retryable = false): ChannelResult => ({ ok: false, status, response, retryable, error });
  const d = description.toLowerCase();
  if (code === 429 || status === 429) {
    const secs = a?.parameters?.retry_after;
    const after = typeof secs === 'number' && Number.isFinite(secs) && secs >= 0 ? secs * 1000 : retryAfterMs(headers['retry-after'], now);
    return {
      ok: false,
      status,
      response,
      retryable: true,
      error: `Telegram is rate limiting the bot (${description || '429 Too Many Requests'}); will retry`,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    };
  }
  if (code === 401 || (code === 404 && (d === 'not found' || !d))) return fail('Telegram rejected the bot token: check bot_token');
  if (code === 400 && d.includes('chat not found')) return fail('Telegram cannot find the chat: check chat_id and that the bot was added to it');
  if (code === 400 && d.includes('topic_closed')) return fail('the Telegram topic is closed: reopen it or change topic_id');
  if (code === 400 && (d.includes('thread not found') || d.includes('topic'))) return fail(`Telegram cannot find the topic (${description}): check topic_id`);
  if (code === 400 && d.includes('upgraded to a supergroup')) {
    const to = a?.parameters?.migrate_to_chat_id;
    return fail(`the Telegram group was upgraded to a supergroup: set chat_id to ${typeof to === 'number' ? to : 'the new supergroup id'}`);
  }
  if (code === 400 && d.includes("can't parse entities"))
    return fail(`Telegram could not read the message's HTML (${description}): check the channel's template`);
  if (code === 400 && d.includes('message is too long')) return fail('Telegram says the message is too long: shorten the channel template');
  if (code === 403) {
    if (d.includes('blocked by the user')) return fail('the Telegram user blocked the bot: ask them to unblock it (or send /start to it again)');
    if (d.includes('kicked')) return fail('the bot was removed from the Telegram chat: add it to the chat again');
    if (d.includes('not a member')) return fail('the bot is not a member of the Telegram chat: add it (to a channel as an administrator)');
    if (d.includes("can't initiate conversation")) return fail('the bot cannot write first to this Telegram user: the user must send /start to the bot');
    if (d.includes('deactivated')) return fail('the Telegram user account is deactivated: choose another chat_id');
    return fail(`Telegram refused the message (${description || '403 Forbidden'}): check that the bot may post in the chat`);
  }
  if (status >= 500 || code >= 500) return { ...fail(`Telegram had a server error (${description || status}); will retry`, true) };
  if (status >= 200 && status < 300) return fail(`Telegram did not confirm the message (${excerpt(body, 200)})`);
  if (code >= 400 && code < 500 && description) return fail(`Telegram refused the message (${code}: ${excerpt(description, 200)})`);
  return classifyHttp(status, body, headers, now);
}

const IS_CHAT = /^(?:(?<id>-?[0-9]{1,32})|(?:@|%40)?(?<name>[a-z_-][a-z0-9_-]+))(?:(?::|%3A)(?<topic>[0-9]+))?$/i;

/**
 * tgram://[botname@]{bot_token}/{chat}[:{topic}]/?topic=…&to=…&silent=… as Apprise reads it. The ":" in the token is
 * not a port, so the raw string is parsed here (a WHATWG URL cannot hold it).
 */
function parseTgram(raw: string): Record<string, unknown> {
  const m = /^\s*tgram:\/\/(?:bot)?(?:[a-z0-9_-]+(?::[a-z0-9_-]+)?@)?(?<a>[0-9]+)(?::|%3A)+(?<rest>.*)$/is.exec(raw);
  if (!m?.groups) {
    if (/^\s*tgram:\/\/(?:bot)?(?:[^@/]*@)?[^:/]*[^0-9:/][^:/]*(?::|%3A)/i.test(raw))
      throw new ChannelUrlError('the bot id (before the ":" in the bot token) must be a number: tgram://123456789:AAH…/chat_id');
    throw new ChannelUrlError('a Telegram URL needs the bot token and a chat: tgram://123456789:AAH…/chat_id');
  }
  const rest = m.groups.rest!;
  const q = rest.indexOf('?');
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const query = new Map<string, string>();
  for (const pair of (q < 0 ? '' : rest.slice(q + 1)).split(/[&;]/)) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq)).toLowerCase().trim();
    query.set(key, decode(eq < 0 ? '' : pair.slice(eq + 1)).trim());
  }
  const parts = pathPart.split('/').filter(Boolean).map(decode);
  const tokenB = parts.shift();
  if (!tokenB || !/^[a-z0-9_-]+$/i.test(tokenB)) throw new ChannelUrlError('the bot token is incomplete: tgram://123456789:AAH…/chat_id');
  const targets = [...parts];
  const to = query.get('to');
  if (to) targets.push(...to.split(/[\s,;[\]]+/).filter(Boolean));
  if (targets.length === 0)
    throw new ChannelUrlError('a Telegram URL needs the chat to send to: tgram://123456789:AAH…/{chat_id} (balancewatch cannot detect the bot owner)');
  if (targets.length > 1)
    throw new ChannelUrlError(
      `this URL names ${targets.length} Telegram chats (${targets.join(', ')}); a balancewatch channel sends to one chat: create one channel per chat`,
    );
  const c = IS_CHAT.exec(targets[0]!);
  if (!c?.groups) throw new ChannelUrlError(`"${targets[0]}" is not a Telegram chat: use a numeric chat id or @channelname`);
  const fields: Record<string, unknown> = { bot_token: `${m.groups.a}:${tokenB}` };
  if (c.groups.id !== undefined) {
    const n = Number(c.groups.id);
    fields.chat_id = Number.isSafeInteger(n) ? n : c.groups.id;
  } else fields.chat_id = `@${c.groups.name}`;
  const topic = c.groups.topic ?? query.get('topic') ?? query.get('thread');
  if (topic) {
    if (!/^\d+$/.test(topic) || Number(topic) <= 0) throw new ChannelUrlError(`topic=${topic} is not a Telegram topic id (a positive number)`);
    fields.topic_id = Number(topic);
  }
  if (appriseBool(query.get('silent'), false)) fields.silent = true;
  return fields;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export const telegramChannel: ChannelType<TelegramConfig> = {
  type: 'telegram',
  label: 'Telegram',
  schema,
  secretFields: ['bot_token'],
  schemes: ['tgram'],
  // Telegram's bot FAQ: about one message a second in a chat, and no more than 20 a minute in a group.
  limits: [
    { count: 1, windowMs: 1000 },
    { count: 20, windowMs: 60_000 },
  ],
  parseUrl(raw, scheme) {
    if (scheme === 'tgram') return parseTgram(raw);
    return null; // https://api.telegram.org/bot…/sendMessage carries no chat: not recognised, use tgram://
  },
  async send(config, n, ctx) {
    const base = (config.api_base ?? TELEGRAM_API).replace(/\/+$/, '');
    const body = JSON.stringify({
      chat_id: config.chat_id,
      ...(config.topic_id ? { message_thread_id: config.topic_id } : {}),
      text: telegramText(n.message),
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      ...(config.silent ? { disable_notification: true } : {}),
    });
    const res = await ctx.http.request(`${base}/bot${config.bot_token}/sendMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return classifyTelegram(res.status, res.body, res.headers, ctx.now());
  },
};
