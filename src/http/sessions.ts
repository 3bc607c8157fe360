import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database, MemberRole, UsersTable } from '../store/schema.js';
import { serializeCookie } from './cookies.js';

// Dashboard login sessions (issue #6): a random 32-byte id in an HttpOnly, SameSite=Lax cookie, stored as its
// SHA-256; a 30-day expiry that slides with use; a CSRF token per session that cookie-authenticated changes must
// echo in X-CSRF-Token (http/auth.ts).

export const SESSION_COOKIE = 'bw_session';
export const SESSION_TTL_MS = 30 * 86_400_000;
/** How often use of a session pushes its expiry (and the cookie's) forward: not a write per request. */
export const SESSION_REFRESH_MS = 3_600_000;
/** base64url of 32 bytes. */
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export const newToken = (): string => randomBytes(32).toString('base64url');
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');
export const isTokenShaped = (token: string): boolean => TOKEN_RE.test(token);

export interface SessionOptions {
  /** BALANCEWATCH_PUBLIC_URL: an https URL makes the cookie Secure even behind a TLS-terminating proxy. */
  publicUrl?: string | undefined;
}

function secure(req: FastifyRequest, opts: SessionOptions): boolean {
  return req.protocol === 'https' || (opts.publicUrl?.startsWith('https:') ?? false);
}

export function setSessionCookie(req: FastifyRequest, reply: FastifyReply, sid: string, opts: SessionOptions): void {
  reply.header(
    'set-cookie',
    serializeCookie(SESSION_COOKIE, sid, { maxAge: SESSION_TTL_MS / 1000, path: '/', httpOnly: true, sameSite: 'Lax', secure: secure(req, opts) }),
  );
}

export function clearSessionCookie(req: FastifyRequest, reply: FastifyReply, opts: SessionOptions): void {
  reply.header('set-cookie', serializeCookie(SESSION_COOKIE, '', { maxAge: 0, path: '/', httpOnly: true, sameSite: 'Lax', secure: secure(req, opts) }));
}

/** Starts a session for the user; returns the cookie value (never stored) and the CSRF token. */
export async function createSession(db: Kysely<Database>, userId: string, now = Date.now()): Promise<{ sid: string; csrfToken: string }> {
  const sid = newToken();
  const csrfToken = newToken();
  // Expired sessions go when anyone logs in (indexed): no background task needed.
  await db.deleteFrom('sessions').where('expires_at', '<', now).execute();
  await db
    .insertInto('sessions')
    .values({ id_hash: hashToken(sid), user_id: userId, csrf_token: csrfToken, created_at: now, expires_at: now + SESSION_TTL_MS, last_seen_at: now })
    .execute();
  return { sid, csrfToken };
}

export interface LiveSession {
  idHash: string;
  csrfToken: string;
  lastSeenAt: number;
  user: UsersTable;
}

/** The unexpired session the cookie value names, with its user; null for anything else. */
export async function findSession(db: Kysely<Database>, sid: string, now = Date.now()): Promise<LiveSession | null> {
  if (!isTokenShaped(sid)) return null;
  const idHash = hashToken(sid);
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .select(['sessions.csrf_token', 'sessions.expires_at', 'sessions.last_seen_at'])
    .where('sessions.id_hash', '=', idHash)
    .executeTakeFirst();
  if (!row || row.expires_at <= now) return null;
  const { csrf_token, expires_at: _e, last_seen_at, ...user } = row;
  return { idHash, csrfToken: csrf_token, lastSeenAt: last_seen_at, user };
}

/** Slides the expiry forward; true when it did (the caller re-sends the cookie). */
export async function touchSession(db: Kysely<Database>, s: LiveSession, now = Date.now()): Promise<boolean> {
  if (now - s.lastSeenAt < SESSION_REFRESH_MS) return false;
  await db.updateTable('sessions').set({ last_seen_at: now, expires_at: now + SESSION_TTL_MS }).where('id_hash', '=', s.idHash).execute();
  return true;
}

export async function deleteSession(db: Kysely<Database>, idHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
}

/** The workspaces a (non-admin) user is a member of, with the role in each. */
export async function membershipsOf(db: Kysely<Database>, userId: string): Promise<Map<string, MemberRole>> {
  const rows = await db.selectFrom('memberships').select(['workspace_id', 'role']).where('user_id', '=', userId).execute();
  return new Map(rows.map((r) => [r.workspace_id, r.role === 'admin' ? 'admin' : 'viewer']));
}

/** The body of GET /api/v1/session (also answered by login, setup and invite acceptance). */
export async function sessionBody(db: Kysely<Database>, user: UsersTable, csrfToken: string) {
  let workspaces: { id: string; name: string; role: MemberRole }[];
  if (user.is_admin === 1) {
    // An instance admin administers every workspace (the first 1000 by name: the dashboard's switcher).
    const rows = await db.selectFrom('workspaces').select(['id', 'name']).orderBy('name').orderBy('id').limit(1000).execute();
    workspaces = rows.map((w) => ({ id: w.id, name: w.name, role: 'admin' as const }));
  } else {
    const rows = await db
      .selectFrom('memberships')
      .innerJoin('workspaces', 'workspaces.id', 'memberships.workspace_id')
      .select(['workspaces.id', 'workspaces.name', 'memberships.role'])
      .where('memberships.user_id', '=', user.id)
      .orderBy('workspaces.name')
      .orderBy('workspaces.id')
      .execute();
    workspaces = rows.map((w) => ({ id: w.id, name: w.name, role: w.role === 'admin' ? ('admin' as const) : ('viewer' as const) }));
  }
  return {
    user: { id: user.id, email: user.email, name: user.name, is_admin: user.is_admin === 1 },
    workspaces,
    csrf_token: csrfToken,
  };
}
