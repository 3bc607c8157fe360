import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { hashApiKey, safeEqual } from '../security/api-keys.js';
import type { Database } from '../store/schema.js';
import { ApiError, notFound } from './errors.js';
import type { App } from './types.js';

// Authorization: Bearer <key>. The instance admin key (env) or an admin key from the store may act on every
// workspace; a workspace key only on its own, and anything outside it looks exactly like something missing.

export type Principal = { kind: 'admin'; keyId: string | null } | { kind: 'workspace'; workspaceId: string; keyId: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The route authenticates its callers itself (e.g. a token in its URL): no API key is asked for. */
    publicRoute?: boolean;
  }
}

export function installAuth(app: App, db: Kysely<Database>, adminKey: string | undefined): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req) => {
    // The matched route as well as the raw URL: a percent-encoded path ("/api/%761/…") routes to the same handler.
    if (!req.url.startsWith('/api/v1/') && !req.routeOptions.url?.startsWith('/api/v1/')) return;
    if (req.routeOptions.config?.publicRoute === true) return;
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

export function principal(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError(401, 'unauthorized', 'missing API key');
  return req.principal;
}

export function requireAdmin(req: FastifyRequest): void {
  if (principal(req).kind !== 'admin') throw new ApiError(403, 'forbidden', 'this action needs an admin API key');
}

/** Whether the principal may see an object of this workspace (throws 401 without a principal). */
export function canSee(req: FastifyRequest, workspaceId: string | null): boolean {
  const p = principal(req);
  return p.kind === 'admin' || p.workspaceId === workspaceId;
}

/** Throws 404 when the principal may not see the workspace (a workspace key cannot tell others exist). */
export function assertWorkspaceAccess(req: FastifyRequest, workspaceId: string): void {
  const p = principal(req);
  if (p.kind === 'workspace' && p.workspaceId !== workspaceId) throw notFound('workspace', workspaceId);
}

/** The workspace a list or create applies to: the key's own, or the one an admin names. */
export function scopeWorkspace(req: FastifyRequest, requested: string | undefined, required: boolean): string | undefined {
  const p = principal(req);
  if (p.kind === 'workspace') {
    if (requested && requested !== p.workspaceId) throw notFound('workspace', requested);
    return p.workspaceId;
  }
  if (required && !requested) throw new ApiError(400, 'invalid_request', 'workspace_id is required with an admin key', [{ path: 'body.workspace_id', message: 'required' }]);
  return requested;
}
