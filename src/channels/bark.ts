import { z } from 'zod';
import { byteLength, plainText, truncateBytes } from './format.js';
import {
  type AppriseUrl,
  arg,
  authority,
  basicAuth,
  boolArg,
  httpUrl,
  jsonBody,
  listArg,
  parseAppriseUrl,
  scrub,
  serverUrl,
  topUpLink,
  trimBase,
} from './push-util.js';
import { type ChannelResult, type ChannelType, ChannelUrlError, classifyHttp, excerpt, type Severity } from './types.js';

// Bark (iOS push, https://github.com/Finb/bark-server): API v2 JSON POST {server}/push, one request per device
// (the public server does not do batch pushes), optional Basic auth on self-hosted servers (a wrong user or
// password is answered "418 I'm a teapot"). Success is HTTP 200 with {"code":200,"message":"success"}.

export const BARK_LEVELS = ['active', 'timeSensitive', 'passive', 'critical'] as const;
type BarkLevel = (typeof BARK_LEVELS)[number];

/** Bark's built-in sounds (Finb/Bark Sounds), as Apprise lists them. */
export const BARK_SOUNDS = [
  'alarm', 'anticipate', 'bell', 'birdsong', 'bloom', 'calypso', 'chime', 'choo', 'descent', 'electronic', 'fanfare',
  'glass', 'gotosleep', 'healthnotification', 'horn', 'ladder', 'mailsent', 'minuet', 'multiwayinvitation', 'newmail',
  'newsflash', 'noir', 'paymentsuccess', 'shake', 'sherwoodforest', 'silence', 'spell', 'suspense', 'telegraph',
  'tiptoes', 'typewriters', 'update',
] as const;

const deviceKey = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'a Bark device key is the letters and digits shown in the Bark app (e.g. the part after https://api.day.app/)');

const schema = z
  .object({
    server: serverUrl('Bark').default('https://api.day.app'),
    device_key: deviceKey,
    /** More devices that get the same push. */
    device_keys: z.array(deviceKey).max(20, 'at most 20 extra device keys').optional(),
    username: z.string().min(1).max(200).regex(/^[^:\r\n]*$/, 'a user name cannot contain ":" or line breaks').optional(),
    password: z.string().max(200).regex(/^[^\r\n]*$/, 'a password cannot contain line breaks').optional(),
    group: z.string().trim().min(1).max(100).optional(),
    /** A Bark sound name ("alarm", "minuet.caf"); the server adds ".caf" when missing. */
    sound: z.string().regex(/^[A-Za-z0-9_-]{1,64}(\.caf)?$/, 'a Bark sound is a name such as "alarm" or "minuet.caf"').optional(),
    icon: httpUrl.optional(),
    /** Fixed interruption level instead of the one chosen by severity. */
    level: z.enum(BARK_LEVELS, { error: `level must be one of ${BARK_LEVELS.join(', ')}` }).optional(),
    /** Critical-alert volume, 0–10 (default 5). */
    volume: z.number().int().min(0).max(10).optional(),
    badge: z.number().int().min(0).max(99_999).optional(),
    /** Link opened on tap when the account has no top-up link. */
    click: httpUrl.optional(),
    /** Ring for 30 s on critical alerts. */
    call: z.boolean().optional(),
  })
  .strict()
  .refine((c) => c.password === undefined || c.username !== undefined, { message: 'a password needs a username', path: ['username'] });

export type BarkConfig = z.infer<typeof schema>;

/** Severity → Bark interruption level: critical alerts break through Focus / silent mode. */
export const BARK_LEVEL_BY_SEVERITY: Record<Severity, BarkLevel> = {
  critical: 'critical',
  warning: 'timeSensitive',
  info: 'active',
  resolved: 'active',
};

const TITLE_BYTES = 240;
/** APNs allows 4096 bytes per payload; title, body and the other fields stay well under it. */
export const BARK_BODY_BYTES = 3000;

/** Apprise's sound lookup: the first built-in sound that starts with the value ("alarm" → "alarm.caf"). */
function soundArg(v: string): string {
  const s = v.toLowerCase().replace(/\.caf$/, '');
  const known = BARK_SOUNDS.find((x) => x.startsWith(s));
  if (known) return `${known}.caf`;
  // Bark also plays custom ringtones uploaded in the app; the server appends ".caf".
  if (/^[A-Za-z0-9_-]{1,64}(\.caf)?$/.test(v)) return v;
  throw new ChannelUrlError(`"${v}" is not a Bark sound; use one of ${BARK_SOUNDS.slice(0, 6).join(', ')}, …`);
}

/** Apprise matches the level on its first letter (a/t/p/c). */
function levelArg(v: string): BarkLevel {
  const level = BARK_LEVELS.find((l) => l[0] === v[0]?.toLowerCase() || l[0] === v[0]);
  if (!level) throw new ChannelUrlError(`"${v}" is not a Bark level; use active, timeSensitive, passive or critical`);
  return level;
}

function intArg(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ChannelUrlError(`the Bark ${name} must be a whole number from ${min} to ${max}`);
  return n;
}

function fieldsFrom(u: AppriseUrl, server: string, keys: string[]): Record<string, unknown> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) throw new ChannelUrlError('a Bark URL needs a device key: bark://host/DEVICE_KEY (copy it from the Bark app)');
  for (const k of unique) if (!/^[A-Za-z0-9_-]{1,128}$/.test(k)) throw new ChannelUrlError('a Bark device key can only contain letters, digits, "_" and "-"');
  const out: Record<string, unknown> = { server, device_key: unique[0] };
  if (unique.length > 1) out.device_keys = unique.slice(1);
  if (u.user) out.username = u.user;
  if (u.password) out.password = u.password;
  const sound = arg(u, 'sound');
  if (sound) out.sound = soundArg(sound);
  const level = arg(u, 'level');
  if (level) out.level = levelArg(level);
  const volume = intArg(arg(u, 'volume'), 'volume', 0, 10);
  if (volume !== undefined) out.volume = volume;
  const badge = intArg(arg(u, 'badge'), 'badge', 0, 99_999);
  if (badge !== undefined) out.badge = badge;
  const group = arg(u, 'group');
  if (group) out.group = group;
  const click = arg(u, 'click');
  if (click) out.click = click;
  const icon = arg(u, 'icon');
  if (icon) out.icon = icon;
  if (u.query.has('call')) out.call = boolArg(u.query.get('call'), true);
  return out;
}

function parseUrl(raw: string, scheme: string): Record<string, unknown> | null {
  if (scheme === 'http' || scheme === 'https') {
    // The URL the Bark app copies: https://api.day.app/DEVICE_KEY[/title]/body[?group=…]
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    if (url.hostname.toLowerCase() !== 'api.day.app') return null;
    const u = parseAppriseUrl(raw, 'Bark');
    // …/push is the API endpoint itself, not a device key.
    const key = arg(u, 'device_key') ?? (u.segments[0] !== 'push' ? u.segments[0] : undefined);
    return fieldsFrom(u, 'https://api.day.app', key ? [key] : []);
  }
  // bark://[user:pass@]host[:port]/KEY[/KEY2…][?to=KEY3&sound=alarm&level=critical&…] — barks:// is https.
  const u = parseAppriseUrl(raw, 'Bark');
  if (!u.host) throw new ChannelUrlError('a Bark URL needs the server host: bark://host/DEVICE_KEY, or barks://api.day.app/DEVICE_KEY for the public server');
  const server = `${scheme === 'barks' ? 'https' : 'http'}://${authority(u)}`;
  return fieldsFrom(u, server, [...u.segments, ...listArg(arg(u, 'to'))]);
}

function barkError(status: number, body: string, headers: Record<string, string>, now: number, secrets: string[]): ChannelResult {
  const response = scrub(excerpt(body), secrets);
  const json = jsonBody(body);
  const message = typeof json?.message === 'string' ? scrub(json.message, secrets) : '';
  if (status === 418)
    return { ok: false, status, response, retryable: false, error: 'the Bark server refused the Basic auth user name or password (HTTP 418 "I\'m a teapot"): check the username and password' };
  if (status === 400 && /device token|device key/i.test(message))
    return { ok: false, status, response, retryable: false, error: `Bark does not know this device key (${excerpt(message, 160)}): check the device key in the Bark app` };
  if (status === 404) return { ok: false, status, response, retryable: false, error: 'no Bark server answers at this URL (HTTP 404): check the server URL' };
  if (status === 400) return { ok: false, status, response, retryable: false, error: `Bark rejected the push (400${message ? `: ${excerpt(message, 160)}` : ''})` };
  if (status >= 500 && message) return { ok: false, status, response, retryable: true, error: `the Bark server could not push (${status}: ${excerpt(message, 160)}); will retry` };
  if (status >= 200 && status < 300) {
    // HTTP 200 with a non-200 "code" in the body.
    return { ok: false, status, response, retryable: false, error: `Bark answered code ${String(json?.code ?? '?')}${message ? `: ${excerpt(message, 160)}` : ''}` };
  }
  const r = classifyHttp(status, body, headers, now);
  return r.ok ? r : { ...r, response };
}

export const barkChannel: ChannelType<BarkConfig> = {
  type: 'bark',
  label: 'Bark',
  schema,
  secretFields: ['device_key', 'device_keys', 'password'],
  schemes: ['bark', 'barks'],
  parseUrl,
  async send(config, n, ctx) {
    const m = n.message;
    const level: BarkLevel = config.level ?? BARK_LEVEL_BY_SEVERITY[m.severity];
    const click = topUpLink(n) ?? config.click ?? m.links[0]?.url;
    const base: Record<string, unknown> = {
      title: truncateBytes(m.title, TITLE_BYTES),
      body: plainText(m, BARK_BODY_BYTES, byteLength),
      level,
      group: config.group ?? 'balancewatch',
      isArchive: '1',
    };
    if (level === 'critical') base.volume = config.volume ?? 5;
    if (config.sound) base.sound = config.sound;
    if (config.icon) base.icon = config.icon;
    if (click) base.url = click;
    if (config.badge !== undefined) base.badge = config.badge;
    if (config.call && m.severity === 'critical') base.call = '1';

    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (config.username) headers.authorization = basicAuth(config.username, config.password ?? '');
    const keys = [...new Set([config.device_key, ...(config.device_keys ?? [])])];
    const secrets = [...keys, config.password ?? ''];
    const url = `${trimBase(config.server)}/push`;

    const results: ChannelResult[] = [];
    for (const key of keys) {
      const res = await ctx.http.request(url, { method: 'POST', headers, body: JSON.stringify({ ...base, device_key: key }) });
      const json = jsonBody(res.body);
      if (res.status === 200 && json?.code === 200) results.push({ ok: true, status: res.status, response: scrub(excerpt(res.body), secrets) });
      else results.push(barkError(res.status, res.body, res.headers, ctx.now(), secrets));
    }
    const failed = results.filter((r): r is Extract<ChannelResult, { ok: false }> => !r.ok);
    if (failed.length === 0) return results[results.length - 1]!;
    const first = failed[0]!;
    if (keys.length === 1) return first;
    return {
      ...first,
      // A retry pushes to every device again, so it is worth it only when every failure was temporary.
      retryable: failed.every((f) => f.retryable),
      error: `${failed.length} of ${keys.length} Bark devices failed: ${first.error}`,
    };
  },
};
