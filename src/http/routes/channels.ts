import { z } from 'zod';
import { decodeConfig, encodeConfig, maskConfig } from '../../channels/codec.js';
import type { ChannelType, NotificationPayload, OutgoingNotification } from '../../channels/types.js';
import { EVENT_TYPES, LEVELS } from '../../domain/events.js';
import { newId } from '../../domain/ids.js';
import { sendSafely } from '../../engine/dispatcher.js';
import type { ChannelsTable } from '../../store/schema.js';
import { renderMessage } from '../../template/messages.js';
import type { FastifyRequest } from 'fastify';
import { canSee, scopeWorkspace } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { type App, type Deps, iso } from '../types.js';

const COMMON = ['workspace_id', 'name', 'type', 'events', 'min_level', 'enabled', 'account_ids'] as const;
const commonSchema = z.object({
  workspace_id: z.string().min(1).max(200).optional(),
  name: z.string().trim().min(1).max(200),
  type: z.string().min(1).max(50).optional(),
  events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).nullish(),
  min_level: z.enum(LEVELS).nullish(),
  enabled: z.boolean().default(true),
  account_ids: z.array(z.string().min(1).max(200)).max(10_000).nullish(),
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
  const r = type.schema.safeParse(fields);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: ['body', ...i.path].join('.'), message: i.message }));
    throw new ApiError(400, 'invalid_request', `${issues[0]!.path}: ${issues[0]!.message}`, issues);
  }
  return r.data as Record<string, unknown>;
}

/** `type` given, or inferred from a plain http(s) URL (a generic webhook). Chat-bot URL inference: issue "channels". */
function resolveType(d: Deps, type: string | undefined, fields: Record<string, unknown>): ChannelType {
  let name = type;
  if (!name && typeof fields.url === 'string' && /^(https?|jsons?):\/\//.test(fields.url)) {
    name = 'webhook';
    fields.url = (fields.url as string).replace(/^json(s?):\/\//, 'http$1://');
  }
  if (!name) throw new ApiError(400, 'invalid_request', 'give the channel a "type" (or a "url" to infer it from)', [{ path: 'body.type', message: 'required' }]);
  const t = d.channels.get(name);
  if (!t)
    throw new ApiError(400, 'unsupported_channel', `channel type "${name}" is not supported; supported: ${[...d.channels.keys()].join(', ')}`, [
      { path: 'body.type', message: 'unsupported' },
    ]);
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
    enabled: c.enabled === 1,
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
  };
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
    await db.updateTable('channels').set(set).where('id', '=', c.id).execute();
    return channelView(d, await load(req, c.id));
  });

  app.delete('/api/v1/channels/:id', { schema: { params: idParams, tags: ['channels'] } }, async (req, reply) => {
    const c = await load(req, req.params.id);
    await db.deleteFrom('channels').where('id', '=', c.id).execute();
    return reply.code(204).send();
  });

  // Sends a real test message now (not through the outbox) and answers with what the receiver said.
  app.post('/api/v1/channels/:id/test', { schema: { params: idParams, body: testBody, tags: ['channels'] } }, async (req) => {
    const c = await load(req, req.params.id);
    const w = await db.selectFrom('workspaces').selectAll().where('id', '=', c.workspace_id).executeTakeFirstOrThrow();
    const type = d.channels.get(c.type)!;
    const now = Date.now();
    const payload: NotificationPayload = {
      type: 'test',
      occurred_at: new Date(now).toISOString(),
      workspace: { id: w.id, name: w.name, external_id: w.external_id, locale: w.locale, time_zone: w.time_zone },
      account: null,
      balance: null,
      currency: null,
      level: null,
      threshold: null,
      episode: 0,
      reminder: 0,
      ...(req.body?.message ? { note: req.body.message } : {}),
    };
    const key = `test_${newId('dl').slice(3)}`;
    const n: OutgoingNotification = { key, payload, message: renderMessage(payload, { dashboardUrl: d.config.publicUrl ?? null }) };
    const started = Date.now();
    const result = await sendSafely(type, decodeConfig(type, c.config, d.box), n, d.channelContext);
    const done = Date.now();
    const id = newId('dl');
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('deliveries')
        .values({
          id,
          workspace_id: c.workspace_id,
          channel_id: c.id,
          account_id: null,
          alert_id: null,
          event: 'test',
          level: null,
          episode: 0,
          idempotency_key: key,
          payload: JSON.stringify(payload),
          status: result.ok ? 'delivered' : 'dead',
          deferred: 0,
          attempts: 1,
          next_attempt_at: now,
          lease_owner: null,
          lease_until: null,
          last_status_code: result.status ?? null,
          last_error: result.ok ? null : result.error,
          last_response: result.response ?? null,
          created_at: now,
          updated_at: done,
          delivered_at: result.ok ? done : null,
        })
        .execute();
      await trx
        .insertInto('delivery_attempts')
        .values({
          id: newId('at'),
          delivery_id: id,
          started_at: started,
          duration_ms: done - started,
          status_code: result.status ?? null,
          response: result.response ?? null,
          error: result.ok ? null : result.error,
          outcome: result.ok ? 'delivered' : 'failed',
        })
        .execute();
    });
    d.metrics.deliveries.inc({ channel_type: c.type, result: result.ok ? 'delivered' : 'test_failed' });
    return {
      ok: result.ok,
      status: result.status ?? null,
      response: result.response ?? null,
      error: result.ok ? null : result.error,
      delivery_id: id,
    };
  });
}

