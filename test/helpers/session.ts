import { expect } from 'vitest';
import type { Running } from './service.js';

// Dashboard sessions in tests: the bw_session cookie and the CSRF token a browser would hold.

export interface Session {
  /** "bw_session=<value>", as a Cookie request header. */
  cookie: string;
  csrf: string;
  userId: string;
  /** The body of the login/setup/accept answer (as GET /api/v1/session). */
  body: any;
}

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** The bw_session pair of a response's Set-Cookie, or null. */
export function sessionCookieOf(headers: Headers): string | null {
  for (const c of headers.getSetCookie()) {
    const pair = c.split(';')[0]!;
    if (pair.startsWith('bw_session=')) return pair;
  }
  return null;
}

/**
 * A request as the dashboard sends it: the session cookie, and X-CSRF-Token on changes (csrf: false leaves it
 * out; a string sends that instead).
 */
export async function asUser(
  svc: Pick<Running, 'url'>,
  session: Session | null,
  method: string,
  path: string,
  body?: unknown,
  opts: { csrf?: boolean | string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (session) headers.cookie = session.cookie;
  if (session && method !== 'GET' && method !== 'HEAD' && opts.csrf !== false) headers['x-csrf-token'] = typeof opts.csrf === 'string' ? opts.csrf : session.csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(svc.url + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A session from a login-like answer (200/201 with the cookie and the session body). */
export function sessionFrom(r: Answer): Session {
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  const cookie = sessionCookieOf(r.headers);
  expect(cookie).toBeTruthy();
  return { cookie: cookie!, csrf: r.body.csrf_token, userId: r.body.user.id, body: r.body };
}

export async function login(svc: Pick<Running, 'url'>, email: string, password: string): Promise<Session> {
  return sessionFrom(await asUser(svc, null, 'POST', '/api/v1/session', { email, password }));
}

/** The token at the end of an invite link. */
export const inviteToken = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

/** Invites `email` to the workspace with the admin key (or `key`), accepts with `password`: a logged-in member. */
export async function invitedMember(svc: Running, workspaceId: string, email: string, role: 'admin' | 'viewer', password = 'correct horse battery', key?: string): Promise<Session> {
  const inv = await svc.api('POST', `/api/v1/workspaces/${workspaceId}/members`, { email, role }, key);
  expect(inv.status, JSON.stringify(inv.body)).toBe(201);
  expect(inv.body.invite_url).toEqual(expect.any(String));
  return sessionFrom(await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token: inviteToken(inv.body.invite_url), password }));
}
