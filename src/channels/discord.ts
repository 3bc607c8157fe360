import { z } from 'zod';
import { charLength, joinWithin, truncateChars } from './format.js';
import { ChannelUrlError, classifyHttp, excerpt, retryAfterMs, type ChannelResult, type ChannelType, type RenderedMessage } from './types.js';
import { appriseBool, parseAppriseUrl } from './webhook.js';

// Discord webhooks (research/channels.md "Discord webhook"): one embed (title, description, colour, fields, link),
// `allowed_mentions: {parse: []}` so names in the text never ping anyone (only the configured mentions do), and
// `?wait=true` so Discord confirms with the message (200) instead of a bare 204. Rate limits come from Discord's
// headers: X-RateLimit-Remaining: 0 on a success pauses the channel for X-RateLimit-Reset-After; a 429 carries
// `retry_after` (seconds, float) in its body.

const snowflakeish = /^[A-Za-z0-9]{1,64}$/;

const mention = z
  .string()
  .regex(/^(@everyone|@here|<@\d{5,25}>|<@&\d{5,25}>)$/, 'a mention is @everyone, @here, <@user id> or <@&role id>');

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected the webhook URL (https://discord.com/api/webhooks/…)' }).max(2048),
    /** Overrides the webhook's name and avatar. */
    username: z.string().trim().min(1).max(80).optional(),
    avatar_url: z.url({ protocol: /^https?$/, error: 'expected an http(s) image URL' }).max(2048).optional(),
    /** Post into this thread of the webhook's channel (forum posts). */
    thread_id: z.string().regex(snowflakeish, 'a thread id is the number Discord shows for the thread').optional(),
    /** Who to ping on firing alerts (not on recoveries or tests). */
    mentions: z.array(mention).max(20).optional(),
  })
  .strict();

export type DiscordConfig = z.infer<typeof schema>;

/** Discord markdown: a backslash before any punctuation shows it literally. */
export function escapeDiscord(s: string): string {
  return s.replace(/[\\*_~`|>#\-[\]()<:@]/g, (c) => `\\${c}`);
}

/** A URL inside `[label](url)`: spaces and parentheses would end it. */
function linkUrl(url: string): string {
  return url.replace(/ /g, '%20').replace(/\(/g, '%28').replace(/\)/g, '%29');
}

const LIMITS = { title: 256, description: 4096, fields: 25, name: 256, value: 1024, footer: 2048, total: 6000, content: 2000 };

/** Escapes `raw` and cuts it before escaping (so no escape is split) until the result fits `max` characters. */
function fitEscaped(raw: string, max: number): string {
  let text = raw;
  let out = escapeDiscord(text);
  while (charLength(out) > max && charLength(text) > 1) {
    text = truncateChars(text, Math.max(1, charLength(text) - (charLength(out) - max)));
    out = escapeDiscord(text);
  }
  return charLength(out) > max ? truncateChars(out.replace(/\\/g, ''), max) : out;
}

function colorOf(hex: string): number | undefined {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex);
  return m ? Number.parseInt(m[1]!, 16) : undefined;
}

function mentionParts(mentions: readonly string[]): { content: string; allowed: Record<string, string[]> } {
  const parse: string[] = [];
  const users: string[] = [];
  const roles: string[] = [];
  for (const m of mentions) {
    if (m === '@everyone' || m === '@here') {
      if (!parse.includes('everyone')) parse.push('everyone');
    } else if (m.startsWith('<@&')) roles.push(m.slice(3, -1));
    else users.push(m.slice(2, -1));
  }
  return {
    content: mentions.join(' '),
    allowed: { parse, ...(users.length ? { users } : {}), ...(roles.length ? { roles } : {}) },
  };
}

/** The webhook body: one embed within Discord's per-field and 6000-character limits. */
export function discordPayload(config: DiscordConfig, m: RenderedMessage, occurredAt?: string): Record<string, unknown> {
  const firing = m.severity === 'warning' || m.severity === 'critical';
  const pings = firing && config.mentions?.length ? mentionParts(config.mentions) : null;
  const title = truncateChars(m.title, LIMITS.title);
  const footer = m.custom || !m.footer ? undefined : truncateChars(m.footer, LIMITS.footer);
  let lines: string[];
  if (m.custom) lines = m.text.split('\n'); // a user template: the author's own Discord markdown, as written
  else {
    lines = m.summary.split('\n').map((l) => fitEscaped(l, LIMITS.description - 2));
    if (m.links.length > 0) lines.push('', m.links.map((l) => `[${escapeDiscord(truncateChars(l.button, 80))}](${linkUrl(l.url)})`).join(' · '));
  }
  // 6000 characters in all: title and footer first, then as many whole fields as leave room for the description.
  let used = charLength(title) + (footer ? charLength(footer) : 0);
  const reserve = Math.min(1500, charLength(lines.join('\n')));
  const fields: Array<{ name: string; value: string; inline: boolean }> = [];
  if (!m.custom)
    for (const [label, value] of m.facts.slice(0, LIMITS.fields)) {
      const f = { name: truncateChars(label, LIMITS.name), value: fitEscaped(value, LIMITS.value) || '\u200b', inline: charLength(value) <= 40 };
      const size = charLength(f.name) + charLength(f.value);
      if (used + size > LIMITS.total - reserve) break;
      fields.push(f);
      used += size;
    }
  const room = Math.max(1, Math.min(LIMITS.description, LIMITS.total - used));
  const description = joinWithin(lines, room);
  const embed: Record<string, unknown> = {
    title,
    ...(description.trim() ? { description } : {}),
    ...(colorOf(m.color) !== undefined ? { color: colorOf(m.color) } : {}),
    ...(fields.length ? { fields } : {}),
    ...(m.links[0] && m.links[0].url.length <= 2048 ? { url: m.links[0].url } : {}),
    ...(footer ? { footer: { text: footer } } : {}),
    ...(occurredAt && !Number.isNaN(Date.parse(occurredAt)) ? { timestamp: new Date(occurredAt).toISOString() } : {}),
  };
  return {
    ...(config.username ? { username: config.username } : {}),
    ...(config.avatar_url ? { avatar_url: config.avatar_url } : {}),
    ...(pings ? { content: truncateChars(pings.content, LIMITS.content) } : {}),
    embeds: [embed],
    allowed_mentions: pings ? pings.allowed : { parse: [] },
  };
}

interface DiscordError {
  code?: unknown;
  message?: unknown;
  retry_after?: unknown;
  global?: unknown;
}

function parseJson(body: string): DiscordError {
  try {
    const v = JSON.parse(body) as unknown;
    return v && typeof v === 'object' ? (v as DiscordError) : {};
  } catch {
    return {};
  }
}

const DISCORD_ERRORS: Record<number, string> = {
  10015: 'Discord says the webhook no longer exists (10015): create a new webhook URL',
  50027: 'Discord rejected the webhook token (50027): copy the webhook URL again from the channel settings',
  10003: 'Discord cannot find the channel or thread (10003): check thread_id',
  50001: 'Discord denied access to the channel or thread (50001): check thread_id and the webhook channel',
  50013: 'Discord says the webhook lacks a permission (50013): check the channel permissions',
  220001: 'Discord needs a thread for a forum channel (220001): set thread_id',
  220003: 'Discord says the webhook and the thread are in different channels (220003): check thread_id',
};

export function classifyDiscord(status: number, body: string, headers: Record<string, string>, now: number): ChannelResult {
  const response = excerpt(body);
  if (status >= 200 && status < 300) {
    const result: ChannelResult = { ok: true, status, response };
    if (headers['x-ratelimit-remaining'] === '0') {
      const secs = Number(headers['x-ratelimit-reset-after']);
      if (Number.isFinite(secs) && secs > 0) result.pauseMs = Math.ceil(secs * 1000);
    }
    return result;
  }
  const e = parseJson(body);
  const code = typeof e.code === 'number' ? e.code : undefined;
  if (status === 429) {
    const bodySecs = typeof e.retry_after === 'number' && Number.isFinite(e.retry_after) && e.retry_after >= 0 ? e.retry_after : undefined;
    const after = bodySecs !== undefined ? Math.ceil(bodySecs * 1000) : retryAfterMs(headers['retry-after'], now);
    const scope = e.global === true ? 'globally' : headers['x-ratelimit-scope'] === 'shared' ? 'on a shared resource' : 'this webhook';
    return {
      ok: false,
      status,
      response,
      retryable: true,
      error: `Discord is rate limiting ${scope} (429); will retry`,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    };
  }
  if (code !== undefined && DISCORD_ERRORS[code]) return { ok: false, status, response, retryable: false, error: DISCORD_ERRORS[code] };
  if (status === 404) return { ok: false, status, response, retryable: false, error: DISCORD_ERRORS[10015]! };
  if (status === 401) return { ok: false, status, response, retryable: false, error: DISCORD_ERRORS[50027]! };
  if (status === 400 && code === 50035)
    return { ok: false, status, response, retryable: false, error: 'Discord rejected the message (50035 Invalid Form Body); this is a balancewatch bug, please report it' };
  if (status >= 400 && status < 500 && typeof e.message === 'string')
    return { ok: false, status, response, retryable: false, error: `Discord refused the message (${code ?? status}: ${excerpt(e.message, 200)})` };
  return classifyHttp(status, body, headers, now);
}

const NATIVE = /^https?:\/\/((?:canary\.|ptb\.)?discord(?:app)?\.com)\/api(?:\/v\d+)?\/webhooks\/([0-9]+)\/([A-Za-z0-9_-]+)\/?(\?.*)?$/i;
const TOKEN = /^[A-Za-z0-9_-]+$/;

function optionsFromQuery(query: Map<string, string>, fields: Record<string, unknown>): void {
  const thread = query.get('thread') ?? query.get('thread_id');
  if (thread) fields.thread_id = thread;
  const avatar = query.get('avatar_url');
  if (avatar && appriseBool(query.get('avatar'), true)) fields.avatar_url = avatar;
  const ping = query.get('ping');
  if (ping) {
    fields.mentions = ping
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((p) => {
        if (/^@?(everyone|here)$/i.test(p)) return `@${p.replace(/^@/, '').toLowerCase()}`;
        const role = /^(?:<@&|&)(\d{5,25})>?$/.exec(p);
        if (role) return `<@&${role[1]}>`;
        const user = /^(?:<@!?|@)?(\d{5,25})>?$/.exec(p);
        if (user) return `<@${user[1]}>`;
        throw new ChannelUrlError(`ping=${p} is not a Discord mention: use @everyone, @here, a user id or &role id`);
      });
  }
}

/** discord://[botname@]webhook_id/webhook_token[/]?thread=…&avatar_url=…&ping=… as Apprise reads it. */
function parseDiscordScheme(raw: string): Record<string, unknown> {
  const u = parseAppriseUrl(raw);
  const id = u?.host ?? '';
  const token = u?.segments[0];
  if (!u || !id || !token)
    throw new ChannelUrlError('a Discord URL needs the webhook id and token: discord://{webhook_id}/{webhook_token} (from https://discord.com/api/webhooks/{id}/{token})');
  if (!snowflakeish.test(id) || !TOKEN.test(token)) throw new ChannelUrlError('the Discord webhook id and token may only contain letters, digits, "-" and "_"');
  const fields: Record<string, unknown> = { url: `https://discord.com/api/webhooks/${id}/${token}` };
  if (u.user) fields.username = u.user;
  optionsFromQuery(u.query, fields);
  return fields;
}

export const discordChannel: ChannelType<DiscordConfig> = {
  type: 'discord',
  label: 'Discord',
  schema,
  secretFields: ['url'],
  schemes: ['discord'],
  // Discord's webhook bucket is 5 requests per 2 s (its headers say so; we also pause on X-RateLimit-Remaining: 0),
  // and webhooks are held to about 30 messages a minute per channel.
  limits: [
    { count: 5, windowMs: 2000 },
    { count: 30, windowMs: 60_000 },
  ],
  parseUrl(raw, scheme) {
    if (scheme === 'discord') return parseDiscordScheme(raw);
    let host: string;
    try {
      host = new URL(raw).hostname.toLowerCase();
    } catch {
      return null;
    }
    if (!/^((canary|ptb)\.)?discord(app)?\.com$/.test(host)) return null;
    const m = NATIVE.exec(raw.trim());
    if (!m) throw new ChannelUrlError('this is not a Discord webhook URL: it looks like https://discord.com/api/webhooks/{id}/{token}');
    const fields: Record<string, unknown> = { url: `https://${m[1]!.toLowerCase()}/api/webhooks/${m[2]}/${m[3]}` };
    if (m[4]) {
      const query = new Map<string, string>();
      for (const [k, v] of new URLSearchParams(m[4])) query.set(k.toLowerCase(), v);
      optionsFromQuery(query, fields);
    }
    return fields;
  },
  async send(config, n, ctx) {
    const target = new URL(config.url);
    target.searchParams.set('wait', 'true');
    if (config.thread_id) target.searchParams.set('thread_id', config.thread_id);
    const body = JSON.stringify(discordPayload(config, n.message, n.payload.occurred_at));
    const res = await ctx.http.request(target.toString(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const result = classifyDiscord(res.status, res.body, res.headers, ctx.now());
    if (result.ok && res.status === 200) {
      // The created message (with wait=true): its id is enough for the log.
      const id = (parseJson(res.body) as { id?: unknown }).id;
      if (typeof id === 'string') result.response = `message ${id}`;
    }
    return result;
  },
};
