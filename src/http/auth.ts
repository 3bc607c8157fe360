import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { hashApiKey, safeEqual } from '../security/api-keys.js';
import type { Database, MemberRole } from '../store/schema.js';
import { parseCookies } from './cookies.js';
import { ApiError, notFound } from './errors.js';
import { clearSessionCookie, findSession, membershipsOf, SESSION_COOKIE, type SessionOptions, setSessionCookie, touchSession } from './sessions.js';
import type { App } from './types.js';

// Authorization: Bearer <key>. The instance admin key (env) or an admin key from the store may act on every
// workspace; a workspace key only on its own, and anything outside it looks exactly like something missing.
//
// The dashboard's session cookie (bw_session, http/sessions.ts) is the other way in, used only when the request has
// no Authorization header: an instance admin user acts like an admin key; any other user acts on the workspaces
// it is a member of, as `admin` (like that workspace's key) or `viewer` (reads only). Cookie-authenticated changes
// must carry the session's CSRF token in X-CSRF-Token.
//
// canSee / assertWorkspaceAccess / scopeWorkspace (and requireAdmin, ingestScope, visibleWorkspaces) are the one
// place every route asks who may see or change what.

export type Role = MemberRole;

export type Principal =
  | { kind: 'admin'; keyId: string | null; userId?: string }
  | { kind: 'workspace'; workspaceId: string; keyId: string }
  /** A dashboard user who is not an instance admin: its role in each workspace it belongs to. */
  | { kind: 'user'; userId: string; workspaces: ReadonlyMap<string, Role> };

/** The login session behind a cookie-authenticated request. */
export interface AuthSession {
  idHash: string;
  userId: string;
  csrfToken: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    authSession: AuthSession | null;
  }
  interface FastifyContextConfig {
    /** The route authenticates its callers itself (e.g. a token in its URL): no API key is asked for. */
    publicRoute?: boolean;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD']);
const isRead = (req: FastifyRequest) => READ_METHODS.has(req.method);

export function installAuth(app: App, db: Kysely<Database>, adminKey: string | undefined, sessions: SessionOptions = {}): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('authSession', null);
  app.addHook('onRequest', async (req, reply) => {
    // The matched route as well as the raw URL: a percent-encoded path ("/api/%761/…") routes to the same handler.
    if (!req.url.startsWith('/api/v1/') && !req.routeOptions.url?.startsWith('/api/v1/')) return;
    if (req.routeOptions.config?.publicRoute === true) return;
    // The session cookie only when there is no Authorization header: an API key always behaves as it did.
    if (req.headers.authorization === undefined) {
      const sid = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
      if (sid !== undefined) return authenticateSession(req, reply, db, sid, sessions);
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new ApiError(401, 'unauthorized', 'missing API key: send "Authorization: Bearer <key>"');
    const key = m[1]!;
    if (adminKey && safeEqual(key, adminKey)) {
      req.principal = { kind: 'admin', keyId: null };
      return;
    }
    const row = await db
      .selectFrom('api_keys')
      .select(['id', 'workspace_id', 'last_used_at'])
      .where('key_hash', '=', hashApiKey(key))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) throw new ApiError(401, 'unauthorized', 'the API key is not valid or has been revoked');
    const now = Date.now();
    if (!row.last_used_at || now - row.last_used_at > 60_000)
      await db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', row.id).execute();
    req.principal = row.workspace_id ? { kind: 'workspace', workspaceId: row.workspace_id, keyId: row.id } : { kind: 'admin', keyId: row.id };
  });
}

async function authenticateSession(req: FastifyRequest, reply: FastifyReply, db: Kysely<Database>, sid: string, opts: SessionOptions): Promise<void> {
  const now = Date.now();
  const s = await findSession(db, sid, now);
  if (!s) {
    clearSessionCookie(req, reply, opts);
    throw new ApiError(401, 'unauthorized', 'not logged in: the session has expired or was ended; log in again (or send "Authorization: Bearer <key>")');
  }
  // Cross-site requests carry the cookie but cannot read the token (GET /api/v1/session is same-origin JSON).
  if (!isRead(req)) {
    const token = req.headers['x-csrf-token'];
    if (typeof token !== 'string' || !safeEqual(token, s.csrfToken))
      throw new ApiError(403, 'csrf', 'missing or wrong X-CSRF-Token header: send the csrf_token of GET /api/v1/session with every change');
  }
  req.principal =
    s.user.is_admin === 1
      ? { kind: 'admin', keyId: null, userId: s.user.id }
      : { kind: 'user', userId: s.user.id, workspaces: await membershipsOf(db, s.user.id) };
  req.authSession = { idHash: s.idHash, userId: s.user.id, csrfToken: s.csrfToken };
  if (await touchSession(db, s, now)) setSessionCookie(req, reply, sid, opts);
}

export function principal(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError(401, 'unauthorized', 'missing API key');
  return req.principal;
}

/** Instance-wide actions (creating and deleting workspaces): an admin key or an instance admin user. */
export function requireAdmin(req: FastifyRequest): void {
  const p = principal(req);
  if (p.kind === 'user') throw new ApiError(403, 'forbidden', 'only an instance admin can do this');
  if (p.kind !== 'admin') throw new ApiError(403, 'forbidden', 'this action needs an admin API key');
}

const VIEWER_MESSAGE = 'viewers cannot change settings; ask a workspace admin';

/** A viewer may read its workspace, never change anything in it. */
function assertRoleAllows(req: FastifyRequest, role: Role): void {
  if (role === 'viewer' && !isRead(req)) throw new ApiError(403, 'forbidden', VIEWER_MESSAGE);
}

/**
 * Whether the principal may see an object of this workspace (throws 401 without a principal). A viewer's request
 * that would change a visible object throws 403: visibility is decided first, so another workspace's objects
 * still look missing.
 */
export function canSee(req: FastifyRequest, workspaceId: string | null): boolean {
  const p = principal(req);
  if (p.kind === 'user') {
    const role = workspaceId === null ? undefined : p.workspaces.get(workspaceId);
    if (role === undefined) return false;
    assertRoleAllows(req, role);
    return true;
  }
  return p.kind === 'admin' || p.workspaceId === workspaceId;
}

/** Throws 404 when the principal may not see the workspace (a workspace key cannot tell others exist). */
export function assertWorkspaceAccess(req: FastifyRequest, workspaceId: string): void {
  const p = principal(req);
  if (p.kind === 'workspace' && p.workspaceId !== workspaceId) throw notFound('workspace', workspaceId);
  if (p.kind === 'user') {
    const role = p.workspaces.get(workspaceId);
    if (role === undefined) throw notFound('workspace', workspaceId);
    assertRoleAllows(req, role);
  }
}

/** The workspace a list or create applies to: the key's own, or the one an admin names. */
export function scopeWorkspace(req: FastifyRequest, requested: string | undefined, required: boolean): string | undefined {
  const p = principal(req);
  if (p.kind === 'workspace') {
    if (requested && requested !== p.workspaceId) throw notFound('workspace', requested);
    return p.workspaceId;
  }
  if (p.kind === 'user') {
    // A member of one workspace works like that workspace's key; a member of several names the workspace.
    const only = p.workspaces.size === 1 ? [...p.workspaces.keys()][0] : undefined;
    const ws = requested || only;
    if (ws === undefined) {
      if (p.workspaces.size === 0) throw new ApiError(403, 'forbidden', 'you are not a member of any workspace yet: ask a workspace admin to invite you');
      const path = req.method === 'GET' || req.method === 'HEAD' ? 'querystring.workspace_id' : 'body.workspace_id';
      throw new ApiError(400, 'invalid_request', 'workspace_id is required: you are a member of several workspaces', [{ path, message: 'required' }]);
    }
    const role = p.workspaces.get(ws);
    if (role === undefined) throw notFound('workspace', ws);
    assertRoleAllows(req, role);
    return ws;
  }
  if (required && !requested) {
    if (req.authSession) throw new ApiError(400, 'invalid_request', 'workspace_id is required', [{ path: 'body.workspace_id', message: 'required' }]);
    throw new ApiError(400, 'invalid_request', 'workspace_id is required with an admin key', [{ path: 'body.workspace_id', message: 'required' }]);
  }
  return requested;
}

/** The workspaces whose objects a list may show: null = every workspace (admins). */
export function visibleWorkspaces(req: FastifyRequest): string[] | null {
  const p = principal(req);
  if (p.kind === 'admin') return null;
  if (p.kind === 'workspace') return [p.workspaceId];
  return [...p.workspaces.keys()];
}

/**
 * The workspace pushed samples must belong to (POST /api/v1/balances): null = any (admins), a workspace key's own,
 * or a dashboard user's single workspace (as its admin).
 */
export function ingestScope(req: FastifyRequest): string | null {
  const p = principal(req);
  if (p.kind === 'admin') return null;
  if (p.kind === 'workspace') return p.workspaceId;
  if (p.workspaces.size > 1)
    throw new ApiError(400, 'invalid_request', "a dashboard user in several workspaces cannot push balances this way: use the workspace's API key");
  return scopeWorkspace(req, undefined, true)!;
}
