import { z } from 'zod';
import { externalIdSchema, LOCALES, timeZoneSchema } from '../../domain/fields.js';
import { newId } from '../../domain/ids.js';
import {
  applySettingsPatch,
  DEFAULT_SETTINGS,
  parseStoredSettings,
  settingsAt,
  settingsPatchSchema,
} from '../../domain/settings.js';
import { reevaluate } from '../../engine/reevaluate.js';
import { generateApiKey } from '../../security/api-keys.js';
import { isUniqueViolation } from '../../store/errors.js';
import type { WorkspacesTable } from '../../store/schema.js';
import { syncAdminEmail } from '../../engine/admin-email.js';
import { assertWorkspaceAccess, canSee, principal, requireAdmin, visibleWorkspaces } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { type App, type Deps, iso } from '../types.js';

const timeZone = timeZoneSchema;
const externalId = externalIdSchema;

const createBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    external_id: externalId.nullish(),
    locale: z.enum(LOCALES).default('en'),
    time_zone: timeZone.default('UTC'),
    notification_settings: settingsPatchSchema.optional(),
  })
  .strict();
const patchBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    external_id: externalId.nullable(),
    locale: z.enum(LOCALES),
    time_zone: timeZone,
  })
  .partial()
  .strict();
const idParams = z.object({ id: z.string().min(1).max(200) });

export function workspaceView(w: WorkspacesTable) {
  return {
    id: w.id,
    name: w.name,
    external_id: w.external_id,
    locale: w.locale,
    time_zone: w.time_zone,
    created_at: iso(w.created_at),
    updated_at: iso(w.updated_at),
  };
}

export function conflictOnUnique<T>(what: string): (err: unknown) => T {
  return (err) => {
    if (isUniqueViolation(err)) throw new ApiError(409, 'conflict', `${what} already exists`);
    throw err;
  };
}

export function workspaceRoutes(app: App, d: Deps): void {
  const { db, dialect } = d.store;
  const load = async (id: string) => {
    const w = await db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
    if (!w) throw notFound('workspace', id);
    return w;
  };

  app.post('/api/v1/workspaces', { schema: { body: createBody, tags: ['workspaces'] } }, async (req, reply) => {
    requireAdmin(req);
    const b = req.body;
    const now = Date.now();
    const patch = b.notification_settings;
    const settings = patch ? settingsAt('notification_settings', () => applySettingsPatch(DEFAULT_SETTINGS, patch)) : DEFAULT_SETTINGS;
    const row: WorkspacesTable = {
      id: newId('ws'),
      name: b.name,
      external_id: b.external_id ?? null,
      locale: b.locale,
      time_zone: b.time_zone,
      settings: JSON.stringify(settings),
      managed: 0,
      created_at: now,
      updated_at: now,
    };
    await db.insertInto('workspaces').values(row).execute().catch(conflictOnUnique(`a workspace with external_id "${b.external_id}"`));
    // Created in the dashboard: its creator becomes the workspace's admin member, so the workspace's notifications
    // reach them by e-mail by default (SPEC §4). An API key creates a workspace without members.
    const userId = req.authSession?.userId;
    if (userId) {
      await db.insertInto('memberships').values({ user_id: userId, workspace_id: row.id, role: 'admin', created_at: now }).execute();
      await syncAdminEmail({ db, box: d.box, smtp: d.config.smtp !== null }, [row.id], now);
    }
    return reply.code(201).send(workspaceView(row));
  });

  app.get('/api/v1/workspaces', { schema: { tags: ['workspaces'] } }, async (req) => {
    const visible = visibleWorkspaces(req);
    if (visible?.length === 0) return { data: [] };
    let q = db.selectFrom('workspaces').selectAll().orderBy('id').limit(1000);
    if (visible) q = q.where('id', 'in', visible);
    return { data: (await q.execute()).map(workspaceView) };
  });

  app.get('/api/v1/workspaces/:id', { schema: { params: idParams, tags: ['workspaces'] } }, async (req) => {
    assertWorkspaceAccess(req, req.params.id);
    return workspaceView(await load(req.params.id));
  });

  app.patch('/api/v1/workspaces/:id', { schema: { params: idParams, body: patchBody, tags: ['workspaces'] } }, async (req) => {
    assertWorkspaceAccess(req, req.params.id);
    const w = await load(req.params.id);
    // external_id is the platform's name for the workspace (pushes resolve by it) and is unique across workspaces:
    // a workspace key may not move it, or it could claim another tenant's id and learn which ones exist (409).
    if (req.body.external_id !== undefined && req.body.external_id !== w.external_id && principal(req).kind !== 'admin')
      throw new ApiError(403, 'forbidden', 'changing external_id needs an admin API key');
    if (Object.keys(req.body).length > 0) {
      await db
        .updateTable('workspaces')
        .set({ ...req.body, updated_at: Date.now() })
        .where('id', '=', req.params.id)
        .execute()
        .catch(conflictOnUnique(`a workspace with external_id "${req.body.external_id}"`));
    }
    return workspaceView(await load(req.params.id));
  });

  app.delete('/api/v1/workspaces/:id', { schema: { params: idParams, tags: ['workspaces'] } }, async (req, reply) => {
    requireAdmin(req);
    await load(req.params.id);
    await db.deleteFrom('workspaces').where('id', '=', req.params.id).execute();
    return reply.code(204).send();
  });

  const settingsPath = '/api/v1/workspaces/:id/notification-settings';
  app.get(settingsPath, { schema: { params: idParams, tags: ['notification settings'] } }, async (req) => {
    assertWorkspaceAccess(req, req.params.id);
    return parseStoredSettings((await load(req.params.id)).settings);
  });

  app.patch(settingsPath, { schema: { params: idParams, body: settingsPatchSchema, tags: ['notification settings'] } }, async (req) => {
    assertWorkspaceAccess(req, req.params.id);
    const w = await load(req.params.id);
    const next = applySettingsPatch(parseStoredSettings(w.settings), req.body);
    const now = Date.now();
    await db.updateTable('workspaces').set({ settings: JSON.stringify(next), updated_at: now }).where('id', '=', w.id).execute();
    const queued = await reevaluate(db, dialect, { workspaceId: w.id }, now);
    if (queued > 0) d.dispatcher.wake();
    return next;
  });

  // API keys scoped to one workspace: shown once at creation, stored hashed.
  const keyBody = z.object({ name: z.string().trim().min(1).max(200).default('api key') }).strict();
  app.post('/api/v1/workspaces/:id/api-keys', { schema: { params: idParams, body: keyBody, tags: ['api keys'] } }, async (req, reply) => {
    assertWorkspaceAccess(req, req.params.id);
    await load(req.params.id);
    const created = await createApiKey(d, req.params.id, req.body.name);
    return reply.code(201).send(created);
  });

  app.get('/api/v1/workspaces/:id/api-keys', { schema: { params: idParams, tags: ['api keys'] } }, async (req) => {
    assertWorkspaceAccess(req, req.params.id);
    const rows = await db.selectFrom('api_keys').selectAll().where('workspace_id', '=', req.params.id).orderBy('id').execute();
    return {
      data: rows.map((k) => ({
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        created_at: iso(k.created_at),
        last_used_at: iso(k.last_used_at),
        revoked_at: iso(k.revoked_at),
      })),
    };
  });

  app.delete('/api/v1/api-keys/:id', { schema: { params: idParams, tags: ['api keys'] } }, async (req, reply) => {
    principal(req); // 401 before any lookup
    const k = await db.selectFrom('api_keys').select(['id', 'workspace_id']).where('id', '=', req.params.id).executeTakeFirst();
    if (!k || !canSee(req, k.workspace_id)) throw notFound('API key', req.params.id);
    await db.updateTable('api_keys').set({ revoked_at: Date.now() }).where('id', '=', k.id).where('revoked_at', 'is', null).execute();
    return reply.code(204).send();
  });
}

export async function createApiKey(d: Pick<Deps, 'store'>, workspaceId: string | null, name: string) {
  const { key, prefix, hash } = generateApiKey();
  const now = Date.now();
  const id = newId('key');
  await d.store.db
    .insertInto('api_keys')
    .values({ id, workspace_id: workspaceId, name, prefix, key_hash: hash, created_at: now, last_used_at: null, revoked_at: null })
    .execute();
  return { id, workspace_id: workspaceId, name, prefix, key, created_at: iso(now), note: 'store this key now: it is shown only once' };
}
