// The Cookie request header and the Set-Cookie response header (RFC 6265), for the one session cookie the
// dashboard uses. Small on purpose: no dependency for a parser of a few lines.

/** Cookie names are RFC 7230 tokens. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Characters a cookie value may hold unquoted (RFC 6265 cookie-octet). */
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/**
 * The cookies of a Cookie header as name → value. The first occurrence of a name wins (browsers send the most
 * specific path first); pairs without "=" or with a name that is not a token are skipped; a value in double
 * quotes is unquoted; percent-escapes are decoded when valid. Never throws.
 */
export function parseCookies(header: string | string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text.length > 16_384) return out; // no legitimate Cookie header is this long (Node limits headers to 16 KiB)
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!TOKEN.test(name) || out.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        // not a valid escape: keep the raw text
      }
    }
    out.set(name, value);
  }
  return out;
}

export interface CookieOptions {
  /** Seconds; 0 deletes the cookie. Absent: a session cookie (deleted when the browser closes). */
  maxAge?: number;
  path?: string;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: 'Strict' | 'Lax' | 'None';
}

/** One Set-Cookie header value. Throws on a name or value that would break the header (never user input here). */
export function serializeCookie(name: string, value: string, opts: CookieOptions = {}): string {
  if (!TOKEN.test(name)) throw new Error(`invalid cookie name ${JSON.stringify(name)}`);
  if (!COOKIE_OCTETS.test(value)) throw new Error('invalid cookie value');
  const parts = [`${name}=${value}`];
  if (opts.maxAge !== undefined) {
    const s = Math.max(0, Math.floor(opts.maxAge));
    parts.push(`Max-Age=${s}`, `Expires=${new Date(s === 0 ? 0 : Date.now() + s * 1000).toUTCString()}`);
  }
  parts.push(`Path=${opts.path ?? '/'}`);
  if (opts.httpOnly) parts.push('HttpOnly');
  if (opts.secure) parts.push('Secure');
  if (opts.sameSite) parts.push(`SameSite=${opts.sameSite}`);
  return parts.join('; ');
}
