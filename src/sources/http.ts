import { OutboundError, type HttpResponse } from '../net/types.js';
import { excerpt, retryAfterMs } from '../channels/types.js';
import { type SourceContext, SourceError } from './types.js';

// Shared plumbing for HTTP sources: the request with the source's deadline, OutboundError → SourceError, JSON
// parsing with a clear bad_response, and the generic status classification. Adapters add their quirks on top.

/** Calls `url` and turns "no answer" into a classified SourceError. */
export async function fetchSource(
  ctx: SourceContext,
  label: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResponse> {
  try {
    // Sources send credentials in headers and bodies: never to another origin.
    return await ctx.http.request(url, { ...init, timeoutMs: ctx.timeoutMs, redirect: 'same-origin' });
  } catch (err) {
    if (err instanceof OutboundError) {
      if (err.kind === 'timeout') throw new SourceError('timeout', `${label} did not answer in time (${err.message}); will retry`);
      if (err.kind === 'blocked')
        throw new SourceError('unreachable', `${err.message}. Private and loopback addresses are blocked unless BALANCEWATCH_ALLOW_PRIVATE_TARGETS=true`);
      throw new SourceError('unreachable', `could not reach ${label} (${err.message}); will retry`);
    }
    throw err;
  }
}

/** Parses a JSON body or throws bad_response with an excerpt. */
export function parseJson(label: string, res: HttpResponse): unknown {
  try {
    return JSON.parse(res.body);
  } catch {
    throw new SourceError('bad_response', `${label} answered HTTP ${res.status} with something that is not JSON: "${excerpt(res.body, 120)}"`, {
      status: res.status,
    });
  }
}

/**
 * The generic meaning of a non-2xx status: 401/403 auth, 429 rate_limited (Retry-After honoured), 5xx / other
 * bad_response. `detail` is the provider's own error message when one was found (never the credential).
 */
export function statusError(label: string, res: HttpResponse, now: number, detail?: string): SourceError {
  const why = detail ? `: ${excerpt(detail, 200)}` : '';
  if (res.status === 401 || res.status === 403)
    return new SourceError('auth', `${label} rejected the credential (HTTP ${res.status}${why}): check the API key / token`, { status: res.status });
  if (res.status === 429) {
    const after = retryAfterMs(res.headers['retry-after'], now);
    return new SourceError('rate_limited', `${label} is rate limiting us (HTTP 429${why}); will retry${after !== undefined ? ` in ${Math.ceil(after / 1000)} s` : ''}`, {
      status: 429,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    });
  }
  return new SourceError('bad_response', `${label} answered HTTP ${res.status}${why}; will retry`, { status: res.status });
}

/** A finite number from a number or a numeric string (DeepSeek and SiliconFlow send strings); else undefined. */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v.trim())) {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** The path-joined URL: base "https://x/y/" + "/v1/a" → "https://x/y/v1/a". */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
