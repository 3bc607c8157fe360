import { z } from 'zod';
import { charLength, joinWithin, markupLines, truncateChars } from './format.js';
import { arg, authority, hardBreaks, jsonBody, markdownDialect, parseAppriseUrl, scrub, serverUrl, topUpLink, trimBase } from './push-util.js';
import { type ChannelResult, type ChannelType, ChannelUrlError, classifyHttp, excerpt, type Severity } from './types.js';

// Gotify (self-hosted push, https://gotify.net): POST {server}/message with the application token in
// X-Gotify-Key, JSON {title, message, priority, extras}. The message is Markdown (extras client::display) and a tap
// opens the top-up page (extras client::notification.click). 200 answers the stored message {id, …}; errors are
// {"error","errorCode","errorDescription"}.

const schema = z
  .object({
    server: serverUrl('Gotify'),
    token: z.string().regex(/^[A-Za-z0-9._~-]{1,256}$/, 'a Gotify application token is the letters and digits shown under Apps in Gotify'),
    /** Fixed priority 0–10 instead of the one chosen by severity. */
    priority: z.number().int().min(0).max(10).optional(),
  })
  .strict();

export type GotifyConfig = z.infer<typeof schema>;

/** Severity → Gotify priority (the Android app alerts with sound at ≥ 4 and pops up at ≥ 8 by default). */
export const GOTIFY_PRIORITY_BY_SEVERITY: Record<Severity, number> = { critical: 8, warning: 5, info: 3, resolved: 3 };

/** Apprise's priority names (matched on their start) and numbers 0–10 → 0 / 3 / 5 / 8 / 10. */
const PRIORITY_MAP: Array<[string, number]> = [
  ['l', 0],
  ['m', 3],
  ['n', 5],
  ['h', 8],
  ['e', 10],
  ['10', 10],
  ['0', 0],
  ['1', 0],
  ['2', 0],
  ['3', 3],
  ['4', 3],
  ['5', 5],
  ['6', 5],
  ['7', 5],
  ['8', 8],
  ['9', 8],
];

export function gotifyPriority(v: string): number {
  const s = v.trim().toLowerCase();
  const hit = PRIORITY_MAP.find(([k]) => s.startsWith(k));
  if (!hit) throw new ChannelUrlError(`"${v}" is not a Gotify priority; use low, moderate, normal, high, emergency or 0–10`);
  return hit[1];
}

/** No documented limit; keep messages at a size every client renders comfortably. */
export const GOTIFY_MESSAGE_CHARS = 8000;

function parseUrl(raw: string, scheme: string): Record<string, unknown> | null {
  if (scheme === 'http' || scheme === 'https') {
    // The push URL from Gotify's docs: https://host[/prefix]/message?token=APPTOKEN
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    const keys = [...url.searchParams.keys()];
    if (!/\/message\/?$/.test(url.pathname) || keys.length !== 1 || keys[0] !== 'token') return null;
    const token = url.searchParams.get('token') ?? '';
    if (!token) throw new ChannelUrlError('this Gotify URL has an empty token: copy the application token from Gotify');
    return { server: `${url.protocol}//${url.host}${url.pathname.replace(/\/message\/?$/, '')}`, token };
  }
  // gotify://host[:port][/path/]TOKEN[?priority=high] — gotifys:// is https; the last path segment is the token.
  const u = parseAppriseUrl(raw, 'Gotify');
  if (!u.host) throw new ChannelUrlError('a Gotify URL needs the server host: gotify://host/TOKEN');
  const segments = [...u.segments];
  const token = segments.pop();
  if (!token) throw new ChannelUrlError('a Gotify URL needs the application token as its last path segment: gotify://host/TOKEN');
  const path = segments.length > 0 ? `/${segments.map(encodeURIComponent).join('/')}` : '';
  const out: Record<string, unknown> = { server: `${scheme === 'gotifys' ? 'https' : 'http'}://${authority(u)}${path}`, token };
  const priority = arg(u, 'priority');
  if (priority) out.priority = gotifyPriority(priority);
  return out;
}

function gotifyError(status: number, body: string, headers: Record<string, string>, now: number, token: string): ChannelResult {
  const response = scrub(excerpt(body), [token]);
  const json = jsonBody(body);
  const desc = typeof json?.errorDescription === 'string' ? scrub(excerpt(json.errorDescription, 200), [token]) : '';
  const name = typeof json?.error === 'string' ? json.error : '';
  const detail = [status, name].filter(Boolean).join(' ') + (desc ? `: ${desc}` : '');
  if (status === 401 || status === 403)
    return { ok: false, status, response, retryable: false, error: `Gotify rejected the app token (${detail}): check the token (an application token, not a client token)` };
  if (status === 404) return { ok: false, status, response, retryable: false, error: 'no Gotify server answers at this URL (HTTP 404): check the server URL and its path' };
  if (status === 400) return { ok: false, status, response, retryable: false, error: `Gotify rejected the message (${detail})` };
  const r = classifyHttp(status, body, headers, now);
  return r.ok ? { ok: false, status, response, retryable: false, error: 'Gotify answered without the stored message: check that the URL is a Gotify server' } : { ...r, response };
}

export const gotifyChannel: ChannelType<GotifyConfig> = {
  type: 'gotify',
  label: 'Gotify',
  schema,
  secretFields: ['token'],
  schemes: ['gotify', 'gotifys'],
  parseUrl,
  async send(config, n, ctx) {
    const m = n.message;
    const click = topUpLink(n) ?? m.links[0]?.url;
    const extras: Record<string, unknown> = { 'client::display': { contentType: 'text/markdown' } };
    if (click) extras['client::notification'] = { click: { url: click } };
    const body = {
      title: truncateChars(m.title, 250),
      message: joinWithin(m.custom ? markupLines(m, markdownDialect) : hardBreaks(markupLines(m, markdownDialect)), GOTIFY_MESSAGE_CHARS, charLength),
      priority: config.priority ?? GOTIFY_PRIORITY_BY_SEVERITY[m.severity],
      extras,
    };
    const res = await ctx.http.request(`${trimBase(config.server)}/message`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gotify-key': config.token },
      body: JSON.stringify(body),
    });
    const json = jsonBody(res.body);
    if (res.status === 200 && json && json.id !== undefined) return { ok: true, status: res.status, response: scrub(excerpt(res.body), [config.token]) };
    return gotifyError(res.status, res.body, res.headers, ctx.now(), config.token);
  },
};
