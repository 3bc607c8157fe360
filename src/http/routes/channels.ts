import { z } from 'zod';
import { decodeConfig, encodeConfig, maskConfig } from '../../channels/codec.js';
import { ChannelConfigError, checkChannelFields, resolveChannelType } from '../../channels/resolve.js';
import type { ChannelType } from '../../channels/types.js';
import { EVENT_TYPES, LEVELS } from '../../domain/events.js';
import { newId } from '../../domain/ids.js';
import { sendChannelTest } from '../../engine/test-send.js';
import type { ChannelsTable } from '../../store/schema.js';
import { type TemplateSet, templateSetSchema, validateTemplateSet } from '../../template/custom.js';
import { storedTemplates } from '../../template/render.js';
import type { FastifyRequest } from 'fastify';
import { canSee, scopeWorkspace } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { type App, type Deps, iso } from '../types.js';

const COMMON = ['workspace_id', 'name', 'type', 'events', 'min_level', 'enabled', 'account_ids', 'template'] as const;
const commonSchema = z.object({
  workspace_id: z.string().min(1).max(200).optional(),
  name: z.string().trim().min(1).max(200),
  type: z.string().min(1).max(50).optional(),
  events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).nullish(),
  min_level: z.enum(LEVELS).nullish(),
  enabled: z.boolean().default(true),
  account_ids: z.array(z.string().min(1).max(200)).max(10_000).nullish(),
  /** Message templates for this channel (docs/templates.md); null = the workspace's or the built-in ones. */
  template: templateSetSchema.nullish(),
});
const createBody = commonSchema.passthrough();
const patchBody = commonSchema.omit({ workspace_id: true, type: true }).partial().passthrough();
const idParams = z.object({ id: z.string().min(1).max(200) });
const listQuery = z.object({ workspace_id: z.string().max(200).optional() });
const testBody = z.object({ message: z.string().max(1000).optional() }).strict().nullish();

function split(body: Record<string, unknown>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!(COMMON as readonly string[]).includes(k)) fields[k] = v;
  return { fields };
}

function validateFields(type: ChannelType, fields: Record<string, unknown>): Record<string, unknown> {
  const r = checkChannelFields(type, fields);
  if (!r.ok) {
    const issues = r.issues.map((i) => ({ path: ['body', ...i.path].join('.'), message: i.message }));
    throw new ApiError(400, 'invalid_request', `${issues[0]!.path}: ${issues[0]!.message}`, issues);
  }
  return r.data;
}

/** The channel type and its fields (channels/resolve.ts), as a 400 when the body names no usable type. */
function resolveType(d: Deps, type: string | undefined, fields: Record<string, unknown>): ChannelType {
  try {
    return resolveChannelType(d.channels, type, fields);
  } catch (err) {
    if (!(err instanceof ChannelConfigError)) throw err;
    const message = err.field === 'url' ? `body.url: ${err.message}` : err.message;
    throw new ApiError(400, err.code, message, [{ path: `body.${err.field}`, message: err.detail }]);
  }
}

/** A channel's message templates, checked (parsed and trial-rendered) before they are saved. */
function checkTemplates(t: TemplateSet): TemplateSet {
  const problems = validateTemplateSet(t, { path: 'body.template' });
  if (problems.length > 0) throw new ApiError(400, 'invalid_request', `${problems[0]!.path}: ${problems[0]!.message}`, problems);
  return t;
}

/** A channel may only be limited to accounts of its own workspace. */
async function checkAccountIds(d: Deps, workspaceId: string, ids: string[] | null | undefined): Promise<void> {
  if (!ids || ids.length === 0) return;
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await d.store.db.selectFrom('accounts').select('id').where('workspace_id', '=', workspaceId).where('id', 'in', ids.slice(i, i + 500)).execute();
    for (const r of rows) found.add(r.id);
  }
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0)
    throw new ApiError(400, 'invalid_request', `body.account_ids: no account ${missing.slice(0, 5).map((m) => `"${m}"`).join(', ')} in this workspace`, [
      { path: 'body.account_ids', message: 'unknown account' },
    ]);
}

export function channelView(d: Deps, c: ChannelsTable) {
  const type = d.channels.get(c.type);
  const config = type ? maskConfig(type, decodeConfig(type, c.config, d.box)) : {};
  return {
    id: c.id,
    workspace_id: c.workspace_id,
    name: c.name,
    type: c.type,
    ...config,
    events: c.events ? (JSON.parse(c.events) as string[]) : null,
    min_level: c.min_level,
    account_ids: c.account_ids ? (JSON.parse(c.account_ids) as string[]) : null,
    template: storedTemplates(c.template),
    enabled: c.enabled === 1,
    // The channel balancewatch keeps itself: e-mail to the workspace's admin members (engine/admin-email.ts).
    ...(c.system === 1 ? { system: true } : {}),
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
  };
}

/** The system channel is read-only: its recipients are the admin members, its switch a workspace setting. */
function assertNotSystem(c: ChannelsTable): void {
  if (c.system === 1)
    throw new ApiError(
      409,
      'system_channel',
      "this channel e-mails the workspace's admins and is kept by balancewatch: change who receives it under members, " +
        'or turn it off with the notification setting email_admins: false',
    );
}

export function channelRoutes(app: App, d: Deps): void {
  const { db } = d.store;
  const load = async (req: FastifyRequest, id: string) => {
    const c = await db.selectFrom('channels').selectAll().where('id', '=', id).executeTakeFirst();
    if (!c || !canSee(req as never, c.workspace_id)) throw notFound('channel', id);
    return c;
  };

  app.post('/api/v1/channels', { schema: { body: createBody, tags: ['channels'] } }, async (req, reply) => {
    const b = req.body;
    const workspaceId = scopeWorkspace(req, b.workspace_id, true)!;
    if (!(await db.selectFrom('workspaces').select('id').where('id', '=', workspaceId).executeTakeFirst())) throw notFound('workspace', workspaceId);
    const { fields } = split(b);
    const type = resolveType(d, b.type, fields);
    const config = validateFields(type, fields);
    await checkAccountIds(d, workspaceId, b.account_ids);
    const now = Date.now();
    const row: ChannelsTable = {
      id: newId('ch'),
      workspace_id: workspaceId,
      name: b.name,
      type: type.type,
      config: encodeConfig(type, config, d.box),
      events: b.events ? JSON.stringify(b.events) : null,
      min_level: b.min_level ?? null,
      account_ids: b.account_ids ? JSON.stringify(b.account_ids) : null,
      enabled: b.enabled ? 1 : 0,
      template: b.template ? JSON.stringify(checkTemplates(b.template)) : null,
      managed: 0,
      created_at: now,
      updated_at: now,
    };
    await db.insertInto('channels').values(row).execute();
    return reply.code(201).send(channelView(d, row));
  });

  app.get('/api/v1/channels', { schema: { querystring: listQuery, tags: ['channels'] } }, async (req) => {
    const ws = scopeWorkspace(req, req.query.workspace_id, false);
    let q = db.selectFrom('channels').selectAll().orderBy('id').limit(1000);
    if (ws) q = q.where('workspace_id', '=', ws);
    return { data: (await q.execute()).map((c) => channelView(d, c)) };
  });

  app.get('/api/v1/channels/:id', { schema: { params: idParams, tags: ['channels'] } }, async (req) => channelView(d, await load(req, req.params.id)));

  app.patch('/api/v1/channels/:id', { schema: { params: idParams, body: patchBody, tags: ['channels'] } }, async (req) => {
    const c = await load(req, req.params.id);
    assertNotSystem(c);
    const b = req.body;
    if ('type' in b || 'workspace_id' in b) throw new ApiError(400, 'invalid_request', 'a channel\'s type and workspace cannot change: create a new channel');
    const type = d.channels.get(c.type)!;
    const { fields } = split(b);
    const set: Partial<ChannelsTable> = { updated_at: Date.now() };
    if (Object.keys(fields).length > 0) {
      // Omitted fields keep their stored values, so secrets need not be sent again.
      const merged = { ...decodeConfig(type, c.config, d.box), ...fields };
      for (const [k, v] of Object.entries(fields)) if (v === null) delete merged[k];
      set.config = encodeConfig(type, validateFields(type, merged), d.box);
    }
    if (b.name !== undefined) set.name = b.name;
    if (b.events !== undefined) set.events = b.events ? JSON.stringify(b.events) : null;
    if (b.min_level !== undefined) set.min_level = b.min_level ?? null;
    if (b.account_ids !== undefined) {
      await checkAccountIds(d, c.workspace_id, b.account_ids);
      set.account_ids = b.account_ids ? JSON.stringify(b.account_ids) : null;
    }
    if (b.enabled !== undefined) set.enabled = b.enabled ? 1 : 0;
    if (b.template !== undefined) set.template = b.template ? JSON.stringify(checkTemplates(b.template)) : null;
    await db.updateTable('channels').set(set).where('id', '=', c.id).execute();
    return channelView(d, await load(req, c.id));
  });

  app.delete('/api/v1/channels/:id', { schema: { params: idParams, tags: ['channels'] } }, async (req, reply) => {
    const c = await load(req, req.params.id);
    assertNotSystem(c);
    await db.deleteFrom('channels').where('id', '=', c.id).execute();
    return reply.code(204).send();
  });

  // Sends a real test message now (not through the outbox) and answers with what the receiver said.
  app.post('/api/v1/channels/:id/test', { schema: { params: idParams, body: testBody, tags: ['channels'] } }, async (req) => {
    const c = await load(req, req.params.id);
    const w = await db.selectFrom('workspaces').selectAll().where('id', '=', c.workspace_id).executeTakeFirstOrThrow();
    return sendChannelTest(
      { db, dialect: d.store.dialect, box: d.box, channels: d.channels, ctx: d.channelContext, metrics: d.metrics },
      c,
      w,
      { message: req.body?.message, dashboardUrl: d.config.publicUrl ?? null },
    );
  });
}

