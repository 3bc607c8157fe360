import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { MAX_BODY_TEMPLATE, renderBodyTemplate, validateBodyTemplate } from '../template/custom.js';
import { ChannelUrlError, classifyHttp, type ChannelType, type OutgoingNotification, type Severity } from './types.js';

// The "balance reminder API" (SPEC §7.3): a signed JSON POST that platforms and monitoring systems consume.
// Apprise's json:// / jsons:// URLs create the same channel with Apprise's own JSON body (`format: 'apprise'`),
// method, Basic auth, extra headers and query parameters, so a receiver written for Apprise keeps working.

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'not a valid HTTP header name');
const RESERVED = new Set(['content-type', 'content-length', 'host', 'x-balancewatch-event', 'x-balancewatch-delivery', 'x-balancewatch-signature']);

export const WEBHOOK_METHODS = ['POST', 'PUT', 'PATCH'] as const;

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).max(2048),
    secret: z.string().min(1).max(512).optional(),
    headers: z
      .record(headerName, z.string().max(4096).regex(/^[^\r\n]*$/, 'header values cannot contain line breaks'))
      .refine((h) => Object.keys(h).length <= 20, 'at most 20 custom headers')
      .refine((h) => !Object.keys(h).some((k) => RESERVED.has(k.toLowerCase())), 'custom headers cannot replace Content-Type, Host or X-Balancewatch-*')
      .optional(),
    /** HTTP method; POST when absent. */
    method: z.enum(WEBHOOK_METHODS, { error: 'method must be POST, PUT or PATCH' }).optional(),
    /** Body layout: balancewatch's own (SPEC §7.3, the default) or Apprise's JSON notification. */
    format: z.enum(['balancewatch', 'apprise'], { error: 'format must be "balancewatch" or "apprise"' }).optional(),
    /** Apprise's `:key=value` payload mapping (format "apprise" only): rename a field (value = new name), remove it (empty value) or add one. */
    payload_fields: z
      .record(z.string().min(1).max(100), z.string().max(1000))
      .refine((f) => Object.keys(f).length <= 20, 'at most 20 payload fields')
      .optional(),
    /** A Liquid template for the whole JSON body (docs/templates.md), checked on save; replaces `format`. */
    body_template: z
      .string()
      .min(1)
      .max(MAX_BODY_TEMPLATE)
      .superRefine((t, ctx) => {
        for (const p of validateBodyTemplate(t, { path: 'body_template' })) ctx.addIssue({ code: 'custom', message: p.message });
      })
      .optional(),
  })
  .strict()
  .refine((c) => !c.payload_fields || c.format === 'apprise', { message: 'payload_fields applies to format "apprise" only', path: ['payload_fields'] });

export type WebhookConfig = z.infer<typeof schema>;

export function webhookBody(n: OutgoingNotification): string {
  const p = n.payload;
  return JSON.stringify({
    id: n.key,
    type: p.type,
    occurred_at: p.occurred_at,
    workspace: { id: p.workspace.id, name: p.workspace.name, external_id: p.workspace.external_id },
    account: p.account ? { id: p.account.id, name: p.account.name, external_id: p.account.external_id } : null,
    balance: p.balance,
    currency: p.currency,
    level: p.level,
    threshold: p.threshold,
    ...(p.runway_days !== undefined ? { runway_days: p.runway_days } : {}),
    ...(p.spend_per_day !== undefined ? { spend_per_day: p.spend_per_day } : {}),
    ...(p.spend_last_hour !== undefined && p.type === 'spend.spike' ? { spend_last_hour: p.spend_last_hour } : {}),
    message: { title: n.message.title, text: n.message.text },
  });
}

/** Apprise's notification types, by our severity. */
const APPRISE_TYPES: Record<Severity, string> = { resolved: 'success', info: 'info', warning: 'warning', critical: 'failure' };

/** Apprise's JSON body (`{"version":"1.0","title","message","attachments":[],"type"}`), with its `:key=value` mapping applied. */
export function appriseBody(n: OutgoingNotification, fields: Record<string, string> = {}): string {
  const body: Record<string, unknown> = {
    version: '1.0',
    title: n.message.title,
    message: n.message.text,
    attachments: [],
    type: APPRISE_TYPES[n.message.severity] ?? 'info',
  };
  for (const [key, value] of Object.entries(fields)) {
    if (Object.hasOwn(body, key)) {
      const v = body[key];
      delete body[key];
      if (value) body[value] = v;
    } else {
      body[key] = value;
    }
  }
  return JSON.stringify(body);
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

// ---- Apprise-style URLs ----

/** An Apprise URL taken apart the way Apprise's own parse_url does it (it is not always WHATWG-parseable). */
export interface AppriseUrl {
  scheme: string;
  /** Decoded user and password; null when absent. */
  user: string | null;
  password: string | null;
  /** Host as written (decoded; tokens are case-sensitive); a non-numeric part after ":" stays in it (tgram tokens). */
  host: string;
  port: number | null;
  /** The path as written ("/a/b/"), '' when none. */
  path: string;
  /** Decoded non-empty path segments. */
  segments: string[];
  /** Query arguments by lower-case name (decoded, trimmed; the last one wins). */
  query: Map<string, string>;
  /** `+Name=value` arguments (HTTP / e-mail headers), names as written. */
  headers: Record<string, string>;
  /** `-name=value` arguments (query parameters passed on). */
  params: Record<string, string>;
  /** `:name=value` arguments (payload fields). */
  fields: Record<string, string>;
}

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Splits `scheme://[user[:password]@]host[:port][/path][?query]` like Apprise: "#" is an ordinary character (Slack
 * channels), the userinfo ends at the last "@", a non-numeric port stays part of the host, and query keys starting
 * with "+", "-" or ":" are collected separately. Returns null when there is no `scheme://`.
 */
export function parseAppriseUrl(raw: string): AppriseUrl | null {
  const m = /^\s*([a-z][a-z0-9+.-]*):\/\/([^?]*)(?:\?(.*))?$/is.exec(raw.trim());
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const rest = m[2] ?? '';
  const slash = rest.search(/[/\\]/);
  let netloc = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash).replace(/\\/g, '/');
  let user: string | null = null;
  let password: string | null = null;
  const at = netloc.lastIndexOf('@');
  if (at >= 0) {
    const info = netloc.slice(0, at);
    netloc = netloc.slice(at + 1);
    const colon = info.indexOf(':');
    user = safeDecode(colon < 0 ? info : info.slice(0, colon));
    password = colon < 0 ? null : safeDecode(info.slice(colon + 1));
  }
  let host = netloc;
  let port: number | null = null;
  const pm = /^(\[[0-9a-f:.]+\]|[^:]+):(\d{1,5})$/i.exec(netloc);
  if (pm) {
    host = pm[1]!;
    port = Number(pm[2]);
  }
  const query = new Map<string, string>();
  const headers: Record<string, string> = {};
  const params: Record<string, string> = {};
  const fields: Record<string, string> = {};
  for (const pair of (m[3] ?? '').split(/[&;]/)) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = safeDecode(eq < 0 ? '' : pair.slice(eq + 1)).trim();
    if (!key) continue;
    query.set(key.toLowerCase().trim(), value);
    if (key.startsWith('+') && key.length > 1) headers[key.slice(1)] = value;
    else if (key.startsWith('-') && key.length > 1) params[key.slice(1)] = value;
    else if (key.startsWith(':') && key.length > 1) fields[key.slice(1)] = value;
  }
  return {
    scheme,
    user,
    password,
    host: safeDecode(host),
    port,
    path,
    segments: path.split('/').filter(Boolean).map(safeDecode),
    query,
    headers,
    params,
    fields,
  };
}

/** Apprise's boolean parsing (yes/no, true/false, on/off, 1/0, …). */
export function appriseBool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const v = value.toLowerCase().slice(0, 2);
  if (['de', 'di', 'ne', 'f', 'n', 'no', 'of', '0', 'fa'].some((p) => v.startsWith(p))) return false;
  if (['en', 'al', 't', 'y', 'ye', 'on', '1', 'tr'].some((p) => v.startsWith(p))) return true;
  return fallback;
}

/**
 * json://user:pass@host:port/path?+Header=v&-param=v&:field=v&method=PUT as Apprise means it: http(s)://host:port/path
 * with `param=v` in the query, Basic auth from user:pass, extra headers, the method, and Apprise's JSON body.
 */
function parseJsonUrl(raw: string, scheme: string): Record<string, unknown> {
  const u = parseAppriseUrl(raw);
  if (!u || !u.host) throw new ChannelUrlError(`a ${scheme}:// URL needs a host: ${scheme}://host[:port]/path`);
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)$/i.test(u.host)) throw new ChannelUrlError(`"${u.host}" is not a valid host name in this ${scheme}:// URL`);
  const method = (u.query.get('method') || 'POST').toUpperCase();
  if (!(WEBHOOK_METHODS as readonly string[]).includes(method))
    throw new ChannelUrlError(`method=${u.query.get('method')} is not supported: a webhook is sent with POST, PUT or PATCH`);
  let target: URL;
  try {
    target = new URL(`${scheme === 'jsons' ? 'https' : 'http'}://${u.host}${u.port !== null ? `:${u.port}` : ''}`);
    target.pathname = u.path || '/';
  } catch {
    throw new ChannelUrlError(`this ${scheme}:// URL does not make a valid http(s) URL`);
  }
  for (const [k, v] of Object.entries(u.params)) target.searchParams.append(k, v);
  const headers: Record<string, string> = { ...u.headers };
  if (u.user) {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
    headers.Authorization = `Basic ${Buffer.from(`${u.user}:${u.password ?? ''}`, 'utf8').toString('base64')}`;
  }
  const url = u.path ? target.toString() : target.toString().replace(/\/(\?|$)/, '$1');
  return {
    url,
    format: 'apprise',
    ...(method !== 'POST' ? { method } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(Object.keys(u.fields).length > 0 ? { payload_fields: u.fields } : {}),
  };
}

export const webhookChannel: ChannelType<WebhookConfig> = {
  type: 'webhook',
  label: 'Webhook',
  schema,
  secretFields: ['secret', 'headers'],
  schemes: ['json', 'jsons'],
  parseUrl(raw, scheme) {
    if (scheme !== 'json' && scheme !== 'jsons') return null; // native http(s) URLs: the registry's fallback
    return parseJsonUrl(raw, scheme);
  },
  async send(config, n, ctx) {
    let body: string;
    try {
      body = config.body_template
        ? renderBodyTemplate(config.body_template, n.payload, n.message, n.key)
        : config.format === 'apprise'
          ? appriseBody(n, config.payload_fields)
          : webhookBody(n);
    } catch (err) {
      return { ok: false, retryable: false, error: `the channel's body template failed: ${(err as Error).message}; fix the template` };
    }
    const headers: Record<string, string> = {
      ...config.headers,
      'content-type': 'application/json',
      'x-balancewatch-event': n.payload.type,
      'x-balancewatch-delivery': n.key,
    };
    if (config.secret) headers['x-balancewatch-signature'] = signWebhook(config.secret, body, Math.floor(ctx.now() / 1000));
    const res = await ctx.http.request(config.url, { method: config.method ?? 'POST', headers, body });
    return classifyHttp(res.status, res.body, res.headers, ctx.now());
  },
};
