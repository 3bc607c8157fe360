// The one outbound HTTP client of the service. Every channel and balance source goes through here, so every call
// gets the same deadline, body cap, redirect rules and private-address guard (SSRF protection).
//
// The guard works in two places:
//  1. before connecting, on IP-literal hostnames (net.connect does not call `lookup` for those), and on every
//     redirect hop;
//  2. at connect time, in the Agent's `connect.lookup`: every address a hostname resolves to must be public, and the
//     socket connects to exactly the addresses that were checked, so DNS rebinding between check and use is not
//     possible.
//
// Error messages never include the URL's path, query or credentials (webhook URLs carry tokens there): only
// scheme + host + port.

import dns from 'node:dns';
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import ipaddr from 'ipaddr.js';
import { Agent, request as undiciRequest } from 'undici';
import { type HttpClient, type HttpRequest, type HttpResponse, OutboundError } from './types.js';

export interface HttpClientOptions {
  /** Allow loopback, private, link-local, ... targets. Off by default in the service (BALANCEWATCH_ALLOW_PRIVATE_TARGETS). */
  allowPrivateTargets: boolean;
  /** Overall deadline per request (connect, headers, body, all redirect hops). Default 10 000 ms. */
  timeoutMs?: number;
  /** Response bodies are cut at this many bytes. Default 65 536. */
  maxBodyBytes?: number;
  /** Redirects followed per request. Default 5. */
  maxRedirects?: number;
  /** User-Agent sent when the caller gives none. Default 'balancewatch'. */
  userAgent?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BODY_BYTES = 65_536;
const DEFAULT_MAX_REDIRECTS = 5;
const DEFAULT_USER_AGENT = 'balancewatch';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Headers that carry credentials; removed when a redirect leaves the origin they were meant for. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);
/** Fetch's "request-body-header names": dropped when a redirect turns the request into a body-less GET. */
const BODY_HEADERS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
]);

/** IPv4-compatible IPv6 (::a.b.c.d, deprecated). ipaddr.js calls these 'unicast'; refuse them anyway. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

/**
 * True when `ip` is a literal IP address in ipaddr.js's 'unicast' range, i.e. not loopback, private, link-local,
 * unspecified, carrier-grade NAT, multicast, broadcast, reserved, unique-local, ... IPv4-mapped IPv6 addresses
 * (::ffff:127.0.0.1) are judged by the IPv4 address they carry. Anything that is not an IP address gives false.
 */
export function isPublicAddress(ip: string): boolean {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  // Only accept the canonical forms Node itself connects to; ipaddr.js would also take '127.1' or '0x7f.0.0.1'.
  if (net.isIP(bare) === 0) return false;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(bare);
  } catch {
    return false;
  }
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) addr = v6.toIPv4Address();
    else if (v6.match(IPV4_COMPATIBLE)) return false;
  }
  return addr.range() === 'unicast';
}

function blockedError(host: string, detail?: string): OutboundError {
  const why = detail ? ` (${detail})` : '';
  return new OutboundError(
    'blocked',
    `refusing to connect to ${host}: it is a private, loopback, link-local or otherwise non-public address${why}; ` +
      'set BALANCEWATCH_ALLOW_PRIVATE_TARGETS=true if this target is intended',
  );
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net.connect / tls.connect that resolves every address of `hostname` and fails with an
 * OutboundError('blocked') if any of them is not public. The socket then connects only to the checked addresses.
 * Handles both `all: true` (used by Node's autoSelectFamily / happy eyeballs) and single-address callers.
 */
export function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  const { all: wantAll, ...rest } = options ?? {};
  dns.lookup(hostname, { ...rest, all: true }, (err, addresses) => {
    if (err) {
      callback(err, wantAll ? [] : '', undefined);
      return;
    }
    if (addresses.length === 0) {
      const notFound: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      notFound.code = 'ENOTFOUND';
      callback(notFound, wantAll ? [] : '', undefined);
      return;
    }
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad) {
      callback(blockedError(hostname, `resolves to ${bad.address}`), wantAll ? [] : '', undefined);
      return;
    }
    if (wantAll) {
      callback(null, addresses);
    } else {
      const first = addresses[0] as dns.LookupAddress;
      callback(null, first.address, first.family);
    }
  });
}

/** Parses and checks a URL (scheme, credentials, IP-literal host). `context` prefixes messages for redirect hops. */
function checkUrl(raw: string | URL, allowPrivate: boolean, context = ''): URL {
  let url: URL;
  try {
    url = raw instanceof URL ? raw : new URL(raw);
  } catch {
    // Never echo the input: it may be a webhook URL with a token in it.
    throw new OutboundError('bad_url', `${context}not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundError(
      'bad_url',
      `${context}unsupported URL scheme '${url.protocol}' (only http: and https: are allowed)`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new OutboundError(
      'bad_url',
      `${context}URL for ${url.origin} contains a user name or password; put credentials in a header instead`,
    );
  }
  if (url.hostname === '') throw new OutboundError('bad_url', `${context}URL has no host`);
  if (!allowPrivate) {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (net.isIP(host) !== 0 && !isPublicAddress(host)) throw blockedError(url.origin);
  }
  return url;
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : Number(s.toFixed(3))} s`;
}

const CODE_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed temporarily',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'headers timed out',
  UND_ERR_BODY_TIMEOUT: 'body timed out',
};

/** Finds a machine-readable error code on an error, its cause, or (AggregateError from happy eyeballs) its parts. */
function errorCode(err: unknown, depth = 0): string | undefined {
  if (err === null || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && e.code !== '') return e.code;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const c = errorCode(inner, depth + 1);
      if (c) return c;
    }
  }
  return errorCode(e.cause, depth + 1);
}

/** Finds an OutboundError (from guardedLookup) on an error, its cause, or its parts. */
function findOutbound(err: unknown, depth = 0): OutboundError | undefined {
  if (err instanceof OutboundError) return err;
  if (err === null || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as { cause?: unknown; errors?: unknown };
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const found = findOutbound(inner, depth + 1);
      if (found) return found;
    }
  }
  return findOutbound(e.cause, depth + 1);
}

function toOutboundError(err: unknown, origin: string): OutboundError {
  const found = findOutbound(err);
  if (found) return found;
  const code = errorCode(err) ?? (err instanceof Error ? err.name : 'unknown error');
  if (code === 'UND_ERR_INVALID_ARG') {
    // A malformed request (e.g. a header value with a newline): a configuration problem, retrying will not help.
    // undici's messages name the header, never the URL.
    return new OutboundError('bad_url', `request to ${origin} is invalid: ${(err as Error).message}`);
  }
  const text = CODE_TEXT[code];
  return new OutboundError('unreachable', `cannot reach ${origin}: ${text ? `${text} (${code})` : code}`);
}

function joinHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const joined = Array.isArray(value) ? value.join(', ') : value;
    out[key] = key in out ? `${out[key]}, ${joined}` : joined;
  }
  return out;
}

/** Reads at most `max` bytes of `body` as UTF-8, then stops reading (destroying the stream). */
async function readCapped(body: AsyncIterable<Buffer | string> & { destroy(): unknown }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  for await (const c of body) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    if (size + chunk.length >= max) {
      chunks.push(chunk.subarray(0, max - size));
      size = max;
      cut = true;
      break; // leaving the loop ends the iterator, which destroys the stream: nothing more is read
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  if (cut) body.destroy();
  const decoder = new StringDecoder('utf8');
  const text = decoder.write(Buffer.concat(chunks, size));
  // When cut, a multi-byte character split at the cap is dropped rather than turned into U+FFFD.
  return cut ? text : text + decoder.end();
}

export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const allowPrivate = opts.allowPrivateTargets;
  const defaultTimeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;

  const agent = new Agent({
    connections: 64,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    connect: allowPrivate ? {} : { lookup: guardedLookup },
  });

  async function request(rawUrl: string, req: HttpRequest = {}): Promise<HttpResponse> {
    let url = checkUrl(rawUrl, allowPrivate);
    let method = (req.method ?? 'GET').toUpperCase();
    let body = req.body;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
    if (headers['user-agent'] === undefined) headers['user-agent'] = userAgent;

    const timeoutMs = req.timeoutMs ?? defaultTimeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('deadline'));
    }, timeoutMs);
    // Unref'd so a pending deadline never keeps the process alive on its own.
    timer.unref?.();

    try {
      for (let hop = 0; ; hop++) {
        const origin = url.origin;
        try {
          const res = await undiciRequest(url, {
            dispatcher: agent,
            method: method as 'GET',
            headers,
            body,
            signal: controller.signal,
          });
          const location = res.headers.location;
          if (REDIRECT_STATUSES.has(res.statusCode) && location !== undefined) {
            await res.body.dump().catch(() => undefined);
            if (hop >= maxRedirects) {
              throw new OutboundError('unreachable', `too many redirects from ${origin} (more than ${maxRedirects})`);
            }
            const loc = Array.isArray(location) ? location[0] : location;
            let next: URL;
            try {
              next = new URL(loc ?? '', url);
            } catch {
              throw new OutboundError('bad_url', `${origin} redirected to something that is not a valid URL`);
            }
            next = checkUrl(next, allowPrivate, `${origin} redirected: `);
            if (
              res.statusCode === 303
                ? method !== 'GET' && method !== 'HEAD'
                : (res.statusCode === 301 || res.statusCode === 302) && method === 'POST'
            ) {
              method = 'GET';
              body = undefined;
              for (const h of BODY_HEADERS) delete headers[h];
            }
            if (next.origin !== url.origin) {
              // Credentials may travel in any header or the body (API keys of polled sources): refuse rather than
              // hand them to another origin.
              if (req.redirect === 'same-origin')
                throw new OutboundError('unreachable', `${origin} redirected to ${next.origin}; not following a redirect to another origin with credentials: use the final URL`);
              for (const h of CREDENTIAL_HEADERS) delete headers[h];
            }
            url = next;
            continue;
          }
          const text = await readCapped(res.body, maxBodyBytes);
          return { status: res.statusCode, headers: joinHeaders(res.headers), body: text };
        } catch (err) {
          if (timedOut)
            throw new OutboundError('timeout', `no answer from ${origin} within ${formatSeconds(timeoutMs)}`);
          if (err instanceof OutboundError) throw err;
          throw toOutboundError(err, origin);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    request,
    async close() {
      await agent.close();
    },
  };
}
