import { z } from 'zod';
import { byteLength, joinWithin, markupLines, truncateChars } from './format.js';
import {
  type AppriseUrl,
  arg,
  authority,
  basicAuth,
  hardBreaks,
  httpUrl,
  isHostOrIp,
  jsonBody,
  listArg,
  markdownDialect,
  parseAppriseUrl,
  scrub,
  serverUrl,
  topUpLink,
  trimBase,
} from './push-util.js';
import { type ChannelResult, type ChannelType, ChannelUrlError, classifyHttp, excerpt, retryAfterMs, type Severity } from './types.js';

// ntfy (https://ntfy.sh, or self-hosted): "publish as JSON" — POST to the server's root URL with
// {topic, title, message, priority, tags, markdown, click, actions}; auth by Bearer token or Basic. Success is 200
// with the stored message {id, time, event:"message", topic, …}; errors are {"code":40101,"http":401,"error":…}.

const TOPIC = /^[A-Za-z0-9_-]{1,64}$/;
const topic = z.string().regex(TOPIC, 'an ntfy topic is 1–64 letters, digits, "_" or "-"');

const schema = z
  .object({
    server: serverUrl('ntfy').default('https://ntfy.sh'),
    topic,
    /** More topics that get the same message (one request each). */
    extra_topics: z.array(topic).max(10, 'at most 10 extra topics').optional(),
    /** Access token (tk_…), sent as "Authorization: Bearer". */
    token: z.string().regex(/^[^\s]{1,256}$/, 'an ntfy access token has no spaces (e.g. tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2)').optional(),
    username: z.string().min(1).max(200).regex(/^[^:\r\n]*$/, 'a user name cannot contain ":" or line breaks').optional(),
    password: z.string().max(200).regex(/^[^\r\n]*$/, 'a password cannot contain line breaks').optional(),
    /** Fixed priority 1 (min) – 5 (max) instead of the one chosen by severity. */
    priority: z.number().int().min(1).max(5).optional(),
    /** Extra tags / emoji shortcodes, added after the severity's own tag. */
    tags: z.array(z.string().regex(/^[^,\r\n]{1,64}$/, 'a tag is up to 64 characters without commas')).max(10).optional(),
    /** Link opened on tap when the account has no top-up link. */
    click: httpUrl.optional(),
    icon: httpUrl.optional(),
  })
  .strict()
  .refine((c) => !(c.token && c.username), { message: 'use either a token or a username and password, not both', path: ['token'] })
  .refine((c) => c.password === undefined || c.username !== undefined, { message: 'a password needs a username', path: ['username'] });

export type NtfyConfig = z.infer<typeof schema>;

export const NTFY_PRIORITY_BY_SEVERITY: Record<Severity, number> = { critical: 5, warning: 4, info: 3, resolved: 3 };
/** Emoji shortcodes ntfy shows in front of the title. */
export const NTFY_TAGS_BY_SEVERITY: Record<Severity, string> = {
  critical: 'rotating_light',
  warning: 'warning',
  info: 'information_source',
  resolved: 'white_check_mark',
};

/** ntfy keeps messages up to 4096 bytes; a longer one becomes an attachment. */
export const NTFY_MESSAGE_BYTES = 4096;

/** Apprise's priority names (matched on their start) → ntfy 1–5. */
const PRIORITY_MAP: Array<[string, number]> = [
  ['l', 2],
  ['mo', 2],
  ['n', 3],
  ['h', 4],
  ['e', 5],
  ['mi', 1],
  ['ma', 5],
  ['d', 3],
  ['u', 5],
  ['1', 1],
  ['2', 2],
  ['3', 3],
  ['4', 4],
  ['5', 5],
];

export function ntfyPriority(v: string): number {
  const s = v.trim().toLowerCase();
  const hit = PRIORITY_MAP.find(([k]) => s.startsWith(k));
  if (!hit) throw new ChannelUrlError(`"${v}" is not an ntfy priority; use min, low, default, high, max (or 1–5)`);
  return hit[1];
}

/** Apprise's reading of ntfy:// URLs: cloud (ntfy.sh) or private (own server) mode, basic or token auth. */
function fromApprise(u: AppriseUrl, secure: boolean, forceCloud: boolean): Record<string, unknown> {
  const topics = [...u.segments, ...listArg(arg(u, 'to'))];
  let token = arg(u, 'token');
  let auth = token ? 'token' : undefined;
  const authArg = arg(u, 'auth')?.toLowerCase();
  if (authArg) {
    if (authArg !== 'basic' && authArg !== 'token') throw new ChannelUrlError(`"${authArg}" is not an ntfy auth type; use auth=basic or auth=token`);
    auth = authArg;
  }
  if (!auth && u.user && !u.password) auth = /^tk_\S+/i.test(u.user) ? 'token' : 'basic';
  if (auth === 'token' && !token) token = u.password || u.user || undefined;

  const modeArg = forceCloud ? 'cloud' : arg(u, 'mode')?.toLowerCase();
  if (modeArg && modeArg !== 'cloud' && modeArg !== 'private') throw new ChannelUrlError(`"${modeArg}" is not an ntfy mode; use mode=cloud or mode=private`);
  const mode = modeArg ?? (isHostOrIp(u.host) && topics.length > 0 ? 'private' : 'cloud');
  let server: string;
  if (mode === 'cloud') {
    // The "host" is the first topic unless it names ntfy.sh itself.
    if (u.host && !/ntfy\.sh/i.test(u.host)) topics.unshift(u.host);
    server = 'https://ntfy.sh';
  } else {
    if (!isHostOrIp(u.host)) throw new ChannelUrlError(`"${u.host}" is not a valid host for a self-hosted ntfy server`);
    server = `${secure ? 'https' : 'http'}://${authority(u)}`;
  }
  const unique = [...new Set(topics)];
  if (unique.length === 0) throw new ChannelUrlError('an ntfy URL needs a topic: ntfy://mytopic, ntfys://ntfy.example.com/mytopic or https://ntfy.sh/mytopic');
  const bad = unique.find((t) => !TOPIC.test(t));
  if (bad !== undefined) throw new ChannelUrlError(`"${bad}" is not a valid ntfy topic (1–64 letters, digits, "_" or "-")`);

  const out: Record<string, unknown> = { server, topic: unique[0] };
  if (unique.length > 1) out.extra_topics = unique.slice(1);
  if (auth === 'token') {
    if (!token) throw new ChannelUrlError('auth=token needs a token: ntfy://tk_…@host/topic or ?token=tk_…');
    out.token = token;
  } else if (u.user) {
    out.username = u.user;
    if (u.password) out.password = u.password;
  }
  const priority = arg(u, 'priority');
  if (priority) out.priority = ntfyPriority(priority);
  const tags = listArg(arg(u, 'tags', 'xtags'));
  if (tags.length > 0) out.tags = tags;
  const click = arg(u, 'click');
  if (click) out.click = click;
  const icon = arg(u, 'avatar_url');
  if (icon) out.icon = icon;
  return out;
}

function parseUrl(raw: string, scheme: string): Record<string, unknown> | null {
  if (scheme === 'http' || scheme === 'https') {
    // https://ntfy.sh/mytopic (Apprise's native form; always the cloud service).
    if (!/^https?:\/\/ntfy\.sh(?::443|:80)?(?:[/?#]|$)/i.test(raw.trim())) return null;
    return fromApprise(parseAppriseUrl(raw, 'ntfy'), true, true);
  }
  return fromApprise(parseAppriseUrl(raw, 'ntfy'), scheme === 'ntfys', false);
}

function ntfyError(status: number, body: string, headers: Record<string, string>, now: number, secrets: string[]): ChannelResult {
  const response = scrub(excerpt(body), secrets);
  const json = jsonBody(body);
  const code = typeof json?.code === 'number' ? json.code : status * 100;
  const text = typeof json?.error === 'string' ? scrub(excerpt(json.error, 160), secrets) : '';
  const detail = `${code}${text ? ` ${text}` : ''}`;
  const after = retryAfterMs(headers['retry-after'], now);
  if (status === 401 || code === 40101)
    return { ok: false, status, response, retryable: false, error: `ntfy rejected the credentials (${detail}): check the access token or the username and password` };
  if (status === 403 || code === 40301)
    return { ok: false, status, response, retryable: false, error: `ntfy refused to publish to this topic (${detail}): check that the token or user may write to the topic` };
  if (status === 429 || Math.floor(code / 100) === 429) {
    // 42908 = the daily message quota: nothing gets through before the quota resets.
    const wait = after ?? (code === 42908 ? 60 * 60_000 : undefined);
    return { ok: false, status, response, retryable: true, error: `ntfy rate-limited the channel (${detail}); will retry`, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  if (status === 404) return { ok: false, status, response, retryable: false, error: 'no ntfy server answers at this URL (HTTP 404): check the server URL' };
  if (status === 413) return { ok: false, status, response, retryable: false, error: `ntfy refused the message as too large (${detail})` };
  if (status >= 400 && status < 500) return { ok: false, status, response, retryable: false, error: `ntfy rejected the message (${detail})` };
  const r = classifyHttp(status, body, headers, now);
  return r.ok ? { ok: false, status, response, retryable: false, error: 'ntfy answered without the published message: check that the URL is an ntfy server' } : { ...r, response };
}

export const ntfyChannel: ChannelType<NtfyConfig> = {
  type: 'ntfy',
  label: 'ntfy',
  schema,
  secretFields: ['token', 'password'],
  schemes: ['ntfy', 'ntfys'],
  parseUrl,
  // ntfy's default visitor limit is a burst of 60 requests, then one per 5 s. 60 in any 5 minutes can never
  // exceed it (any span of t seconds then holds at most 60·⌈t/300⌉ ≤ 60 + t/5 requests).
  limits: [{ count: 60, windowMs: 300_000 }],
  async send(config, n, ctx) {
    const m = n.message;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (config.token) headers.authorization = `Bearer ${config.token}`;
    else if (config.username) headers.authorization = basicAuth(config.username, config.password ?? '');
    const click = topUpLink(n) ?? config.click ?? m.links[0]?.url;
    const base: Record<string, unknown> = {
      title: truncateChars(m.title, 250),
      message: joinWithin(m.custom ? markupLines(m, markdownDialect) : hardBreaks(markupLines(m, markdownDialect)), NTFY_MESSAGE_BYTES, byteLength),
      priority: config.priority ?? NTFY_PRIORITY_BY_SEVERITY[m.severity],
      tags: [NTFY_TAGS_BY_SEVERITY[m.severity], ...(config.tags ?? [])],
      markdown: true,
    };
    if (click) base.click = click;
    if (config.icon) base.icon = config.icon;
    if (m.links.length > 0) base.actions = m.links.slice(0, 3).map((l) => ({ action: 'view', label: truncateChars(l.button, 40), url: l.url, clear: false }));

    const secrets = [config.token ?? '', config.password ?? ''];
    const url = `${trimBase(config.server)}/`;
    const topics = [...new Set([config.topic, ...(config.extra_topics ?? [])])];
    const results: ChannelResult[] = [];
    for (const t of topics) {
      const res = await ctx.http.request(url, { method: 'POST', headers, body: JSON.stringify({ topic: t, ...base }) });
      const json = jsonBody(res.body);
      if (res.status === 200 && json && typeof json.id === 'string') results.push({ ok: true, status: res.status, response: scrub(excerpt(res.body), secrets) });
      else results.push(ntfyError(res.status, res.body, res.headers, ctx.now(), secrets));
    }
    const failed = results.filter((r): r is Extract<ChannelResult, { ok: false }> => !r.ok);
    if (failed.length === 0) return results[results.length - 1]!;
    const first = failed[0]!;
    if (topics.length === 1) return first;
    return { ...first, retryable: failed.every((f) => f.retryable), error: `${failed.length} of ${topics.length} ntfy topics failed: ${first.error}` };
  },
};
