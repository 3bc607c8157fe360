import { z } from 'zod';
import type { MarkupDialect } from './format.js';
import { ChannelUrlError, type OutgoingNotification } from './types.js';

// Helpers shared by the push / incident channels (Bark, Gotify, ntfy, PagerDuty, Teams): reading Apprise-style
// URLs, endpoint fields, Markdown escaping, and keeping credentials out of what is shown to users.

/** An Apprise-style URL split into its parts (values percent-decoded; "+" kept literally, as Apprise does). */
export interface AppriseUrl {
  scheme: string;
  user: string;
  password: string;
  /** As written (Apprise keeps the case of opaque hosts such as ntfy topics). */
  host: string;
  port: number | null;
  /** Non-empty path segments, decoded. */
  segments: string[];
  /** Query arguments by lower-case name (the last one wins); "+name" and "-name" arguments are in `plus`/`minus`. */
  query: Map<string, string>;
  plus: Record<string, string>;
}

function decode(s: string, what: string, label: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ChannelUrlError(`this ${label} URL has a badly percent-encoded ${what}`);
  }
}

/** Splits `scheme://[user[:password]@]host[:port][/path][?query]` without WHATWG's special-scheme rules. */
export function parseAppriseUrl(raw: string, label: string): AppriseUrl {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/i.exec(raw.trim());
  if (!m) throw new ChannelUrlError(`this ${label} URL could not be read: expected scheme://host/…`);
  const [, scheme, authority = '', path = '', search = ''] = m;
  let user = '';
  let password = '';
  let hostPort = authority;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    hostPort = authority.slice(at + 1);
    const colon = userinfo.indexOf(':');
    user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'user name', label);
    password = colon >= 0 ? decode(userinfo.slice(colon + 1), 'password', label) : '';
  }
  let host = hostPort;
  let port: number | null = null;
  const pm = /^(.*?):(\d*)$/.exec(hostPort);
  if (pm && !hostPort.endsWith(']')) {
    host = pm[1]!;
    if (pm[2]) {
      port = Number(pm[2]);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ChannelUrlError(`this ${label} URL has an invalid port "${pm[2]}"`);
    }
  }
  host = decode(host, 'host', label);
  const segments = path
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => decode(s, 'path', label));
  const query = new Map<string, string>();
  const plus: Record<string, string> = {};
  for (const part of search.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = decode(eq >= 0 ? part.slice(0, eq) : part, 'query argument', label);
    const v = eq >= 0 ? decode(part.slice(eq + 1), 'query value', label) : '';
    if (k.startsWith('+') && k.length > 1) plus[k.slice(1)] = v;
    else if (!k.startsWith('-') && !k.startsWith(':')) query.set(k.toLowerCase(), v);
  }
  return { scheme: scheme!.toLowerCase(), user, password, host, port, segments, query, plus };
}

/** A query value given and not blank. */
export function arg(u: AppriseUrl, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = u.query.get(n)?.trim();
    if (v) return v;
  }
  return undefined;
}

/** Apprise's list syntax: values separated by commas, spaces or slashes. */
export function listArg(v: string | undefined): string[] {
  return (v ?? '')
    .split(/[\s,/]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Apprise's boolean parsing (yes/true/1/on/enable…). */
export function boolArg(v: string | undefined, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  const s = v.trim().toLowerCase();
  if (/^(y|yes|true|t|1|on|enable|enabled|allow|allowed)$/.test(s)) return true;
  if (/^(n|no|false|f|0|off|disable|disabled|deny|denied|never)$/.test(s)) return false;
  return fallback;
}

/** host[:port] as a URL authority (IPv6 kept in brackets). */
export function authority(u: AppriseUrl): string {
  return `${u.host}${u.port !== null ? `:${u.port}` : ''}`;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Apprise's is_hostname() or is_ipaddr(). */
export function isHostOrIp(host: string): boolean {
  if (!host) return false;
  if (/^\[[0-9a-f:.]+\]$/i.test(host)) return true;
  return IPV4.test(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host));
}

/**
 * A server base URL field: http(s) only; credentials and tokens belong in their own (secret, masked) fields, so a
 * base URL may carry neither user info nor a query string.
 */
export function serverUrl(label: string) {
  return z
    .url({ protocol: /^https?$/, error: `expected the ${label} server's http:// or https:// base URL` })
    .max(2048)
    .refine((s) => {
      const u = new URL(s);
      return !u.username && !u.password;
    }, 'put the user name and password in their own fields, not in the server URL')
    .refine((s) => {
      const u = new URL(s);
      return !u.search && !u.hash;
    }, `the ${label} server URL cannot have a query string or fragment: put tokens in their own fields`);
}

export const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).max(2048);

/** Base URL without trailing slashes. */
export function trimBase(server: string): string {
  return server.replace(/\/+$/, '');
}

/** Replaces every occurrence of each secret (and its URL-encoded form) with a mask. */
export function scrub(text: string, secrets: ReadonlyArray<string | undefined | null>): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 3) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('••••');
  }
  return out;
}

/** Parses a JSON body, or null. */
export function jsonBody(body: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** The account's top-up link as rendered (http(s) only), when it has one. */
export function topUpLink(n: OutgoingNotification): string | undefined {
  const raw = n.payload.account?.top_up_url?.trim();
  if (!raw) return undefined;
  return n.message.links.find((l) => l.url === raw)?.url;
}

/** Characters a backslash escapes in CommonMark: ASCII punctuation. */
const ESCAPABLE = /\\(?=[!-/:-@[-`{-~])/g;

/**
 * Escapes the Markdown in user text (account names, notes) so it cannot become a link, emphasis, heading, list or
 * HTML, while adding as few backslashes as possible: several clients show the raw text (ntfy's and Teams' phone
 * apps, notification pop-ups), where every escape is visible. A character is escaped only where it could start
 * markup: brackets only when the text has a link shape, emphasis characters only when they come in pairs,
 * "<" only before a tag or autolink, and block markers only at the start of a line.
 */
function escapeMinimal(text: string, full: boolean): string {
  let s = text.replace(ESCAPABLE, '\\\\');
  if (/\[[^\]]*\]\s*[([]/.test(s)) s = s.replace(/[[\]]/g, (c) => `\\${c}`);
  const pairs = full ? ['*', '_', '`', '~'] : ['*', '_'];
  for (const ch of pairs) {
    const n = s.split(ch).length - 1;
    // "_" inside a word (my_api_key) never emphasises.
    const live = ch === '_' ? /(^|[^A-Za-z0-9\\])_|_($|[^A-Za-z0-9])/.test(s) : true;
    if (n >= 2 && live) s = s.split(ch).join(`\\${ch}`);
  }
  if (full) s = s.replace(/<(?=[A-Za-z/!?])/g, '\\<');
  return s.replace(/^(\s*)([-+=#>|])/gm, '$1\\$2').replace(/^(\s*\d+)([.)])/gm, '$1\\$2');
}

/** Markdown for CommonMark renderers (Gotify clients, ntfy web app). */
export const escapeMarkdown = (text: string): string => escapeMinimal(text, true);

/** The Markdown subset of Adaptive Card TextBlocks (emphasis, links, lists; no HTML or code). */
export const escapeCardMarkdown = (text: string): string => escapeMinimal(text, false);

/**
 * Markdown joins consecutive lines into one paragraph; two trailing spaces keep each line break (a digest's list
 * of titles, a multi-line summary). Invisible where the raw text is shown.
 */
export function hardBreaks(lines: string[]): string[] {
  return lines.map((l, i) => (l.trim() && lines[i + 1]?.trim() ? `${l}  ` : l));
}

/** A link target inside Markdown's (…): parentheses, spaces and angle brackets percent-encoded. */
export function markdownHref(url: string): string {
  return url.replace(/[()<> ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export const markdownDialect: MarkupDialect = {
  escape: escapeMarkdown,
  bold: (t) => `**${escapeMarkdown(t)}**`,
  link: (label, url) => `[${escapeMarkdown(label)}](${markdownHref(url)})`,
};
