import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { newId } from '../../domain/ids.js';
import { effectiveSettings, parseStoredSettings, type SettingsPatch, settingsAt, settingsPatchSchema } from '../../domain/settings.js';
import { reevaluate } from '../../engine/reevaluate.js';
import type { AccountsTable } from '../../store/schema.js';
import { canSee, scopeWorkspace } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { type App, type Deps, iso } from '../types.js';
import { conflictOnUnique } from './workspaces.js';

// Push accounts for now; polled provider sources plug in through `source.type` (issue: sources).
const SOURCE_TYPES = ['push'] as const;
const sourceSchema = z.object({ type: z.string().min(1).max(50) }).passthrough();
const currency = z
  .string()
  .trim()
  .min(1)
  .max(20)
  .regex(/^[\p{L}\p{N}_ .-]+$/u, 'a currency code such as USD or CNY, or a unit name such as credits');

const createBody = z
  .object({
    workspace_id: z.string().min(1).max(200).optional(),
    name: z.string().trim().min(1).max(200),
    external_id: z.string().min(1).max(200).nullish(),
    currency: currency.default('USD'),
    quota_per_unit: z.number().finite().positive().max(1e12).nullish(),
    source: sourceSchema.default({ type: 'push' }),
    rules: settingsPatchSchema.nullish(),
    top_up_url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).max(2048).nullish(),
  })
  .strict();
const patchBody = createBody.omit({ workspace_id: true }).partial().strict();
const idParams = z.object({ id: z.string().min(1).max(200) });
const listQuery = z.object({
  workspace_id: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});

function checkSource(source: { type: string }): void {
  if (!(SOURCE_TYPES as readonly string[]).includes(source.type))
    throw new ApiError(400, 'unsupported_source', `source type "${source.type}" is not supported; supported: ${SOURCE_TYPES.join(', ')}`, [
      { path: 'body.source.type', message: 'unsupported' },
    ]);
}

type AlertBrief = { status: string; level: string | null; episode: number } | null;

export function accountView(a: Omit<AccountsTable, 'spend'> & { spend?: unknown }, alert: AlertBrief) {
  return {
    id: a.id,
    workspace_id: a.workspace_id,
    name: a.name,
    external_id: a.external_id,
    currency: a.currency,
    quota_per_unit: a.quota_per_unit,
    source: { type: a.source_type },
    rules: a.rules ? (JSON.parse(a.rules) as SettingsPatch) : null,
    top_up_url: a.top_up_url,
    balance: a.balance,
    observed_at: iso(a.observed_at),
    alert: alert ? { status: alert.status, level: alert.level, episode: alert.episode } : { status: 'ok', level: null, episode: 0 },
    // Forecasts at the newest sample (SPEC §3.2); null while the history is too short. runway_days is also null
    // when nothing is being spent (spend_per_day 0): the balance does not run out.
    spend_per_day: a.spend_per_day === null ? null : Math.round(a.spend_per_day * 10_000) / 10_000,
    runway_days: a.runway_days === null ? null : Math.round(a.runway_days * 100) / 100,
    suggested_threshold: a.suggested_threshold,
    created_at: iso(a.created_at),
    updated_at: iso(a.updated_at),
  };
}

export function accountRoutes(app: App, d: Deps): void {
  const { db, dialect } = d.store;
  const load = async (req: FastifyRequest, id: string) => {
    const a = await db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!a || !canSee(req, a.workspace_id)) throw notFound('account', id);
    return a;
  };
  const alertOf = (id: string) =>
    db.selectFrom('alerts').select(['status', 'level', 'episode']).where('account_id', '=', id).where('rule', '=', 'balance.low').executeTakeFirst();
  const validateRules = async (workspaceId: string, rules: SettingsPatch | null | undefined) => {
    if (!rules) return;
    const w = await db.selectFrom('workspaces').select('settings').where('id', '=', workspaceId).executeTakeFirstOrThrow();
    settingsAt('rules', () => effectiveSettings(parseStoredSettings(w.settings), rules)); // SettingsError → 400
  };

  app.post('/api/v1/accounts', { schema: { body: createBody, tags: ['accounts'] } }, async (req, reply) => {
    const b = req.body;
    const workspaceId = scopeWorkspace(req, b.workspace_id, true)!;
    const ws = await db.selectFrom('workspaces').select('id').where('id', '=', workspaceId).executeTakeFirst();
    if (!ws) throw notFound('workspace', workspaceId);
    checkSource(b.source);
    await validateRules(workspaceId, b.rules);
    const now = Date.now();
    const row: AccountsTable = {
      id: newId('acc'),
      workspace_id: workspaceId,
      name: b.name,
      external_id: b.external_id ?? null,
      currency: b.currency,
      quota_per_unit: b.quota_per_unit ?? null,
      source_type: b.source.type,
      source_config: null,
      rules: b.rules ? JSON.stringify(b.rules) : null,
      top_up_url: b.top_up_url ?? null,
      balance: null,
      observed_at: null,
      spend: null,
      spend_per_day: null,
      runway_days: null,
      suggested_threshold: null,
      created_at: now,
      updated_at: now,
    };
    await db.insertInto('accounts').values(row).execute().catch(conflictOnUnique(`an account with external_id "${b.external_id}" in this workspace`));
    return reply.code(201).send(accountView(row, null));
  });

  app.get('/api/v1/accounts', { schema: { querystring: listQuery, tags: ['accounts'] } }, async (req) => {
    const ws = scopeWorkspace(req, req.query.workspace_id, false);
    let q = db
      .selectFrom('accounts')
      .leftJoin('alerts', (j) => j.onRef('alerts.account_id', '=', 'accounts.id').on('alerts.rule', '=', 'balance.low'))
      .selectAll('accounts')
      .select(['alerts.status as alert_status', 'alerts.level as alert_level', 'alerts.episode as alert_episode'])
      .orderBy('accounts.id')
      .limit(req.query.limit + 1);
    if (ws) q = q.where('accounts.workspace_id', '=', ws);
    if (req.query.cursor) q = q.where('accounts.id', '>', req.query.cursor);
    const rows = await q.execute();
    const page = rows.slice(0, req.query.limit);
    return {
      data: page.map(({ alert_status, alert_level, alert_episode, ...a }) =>
        accountView(a, alert_status ? { status: alert_status, level: alert_level, episode: alert_episode ?? 0 } : null),
      ),
      next_cursor: rows.length > req.query.limit ? page[page.length - 1]!.id : null,
    };
  });

  app.get('/api/v1/accounts/:id', { schema: { params: idParams, tags: ['accounts'] } }, async (req) => {
    const a = await load(req, req.params.id);
    return accountView(a, (await alertOf(a.id)) ?? null);
  });

  app.patch('/api/v1/accounts/:id', { schema: { params: idParams, body: patchBody, tags: ['accounts'] } }, async (req) => {
    const a = await load(req, req.params.id);
    const b = req.body;
    if (b.source) checkSource(b.source);
    if (b.rules !== undefined) await validateRules(a.workspace_id, b.rules);
    const now = Date.now();
    const set: Partial<AccountsTable> = { updated_at: now };
    if (b.name !== undefined) set.name = b.name;
    if (b.external_id !== undefined) set.external_id = b.external_id ?? null;
    if (b.currency !== undefined) set.currency = b.currency;
    if (b.quota_per_unit !== undefined) set.quota_per_unit = b.quota_per_unit ?? null;
    if (b.source !== undefined) set.source_type = b.source.type;
    if (b.rules !== undefined) set.rules = b.rules ? JSON.stringify(b.rules) : null;
    if (b.top_up_url !== undefined) set.top_up_url = b.top_up_url ?? null;
    await db.updateTable('accounts').set(set).where('id', '=', a.id).execute().catch(conflictOnUnique(`an account with external_id "${b.external_id}" in this workspace`));
    if (b.rules !== undefined) {
      const queued = await reevaluate(db, dialect, { ids: [a.id] }, now);
      if (queued > 0) d.dispatcher.wake();
    }
    const fresh = await load(req, a.id);
    return accountView(fresh, (await alertOf(a.id)) ?? null);
  });

  app.delete('/api/v1/accounts/:id', { schema: { params: idParams, tags: ['accounts'] } }, async (req, reply) => {
    const a = await load(req, req.params.id);
    await db.deleteFrom('accounts').where('id', '=', a.id).execute();
    return reply.code(204).send();
  });
}
