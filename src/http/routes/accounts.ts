import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { currencySchema, quotaPerUnitSchema, topUpUrlSchema } from '../../domain/fields.js';
import { newId } from '../../domain/ids.js';
import { effectiveSettings, parseStoredSettings, type SettingsPatch, settingsAt, accountRulesSchema } from '../../domain/settings.js';
import { reevaluate } from '../../engine/reevaluate.js';
import { newAccountRow, type ResolvedSource, resolveSource, SourceConfigError, sourceView } from '../../sources/config.js';
import type { AccountsTable } from '../../store/schema.js';
import { canSee, scopeWorkspace } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { type App, type Deps, iso } from '../types.js';
import { sparklines } from './history.js';
import { conflictOnUnique } from './workspaces.js';

// `source`: {type: "push", expected_every?} or {type: "<provider>", ...its fields, interval?, fail_after?};
// validated by sources/config.ts against the provider's own schema.
const INCLUDES = ['sparkline'];

const sourceSchema = z.object({ type: z.string().min(1).max(50) }).passthrough();

const createBody = z
  .object({
    workspace_id: z.string().min(1).max(200).optional(),
    name: z.string().trim().min(1).max(200),
    external_id: z.string().min(1).max(200).nullish(),
    currency: currencySchema.default('USD'),
    quota_per_unit: quotaPerUnitSchema.nullish(),
    source: sourceSchema.default({ type: 'push' }),
    rules: accountRulesSchema.nullish(),
    top_up_url: topUpUrlSchema.nullish(),
  })
  .strict();
const patchBody = createBody.omit({ workspace_id: true }).partial().strict();
const idParams = z.object({ id: z.string().min(1).max(200) });
const listQuery = z.object({
  workspace_id: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
  /** Extra data per account, comma-separated: `sparkline` (the last 7 days, routes/history.ts). */
  include: z
    .string()
    .max(200)
    .refine((v) => v.split(',').every((x) => INCLUDES.includes(x.trim())), { message: `expected a comma-separated list of: ${INCLUDES.join(', ')}` })
    .optional(),
});

function checkSource(d: Deps, source: Record<string, unknown>, stored?: AccountsTable): ResolvedSource {
  try {
    return resolveSource(d.sources, d.box, source, stored);
  } catch (err) {
    if (!(err instanceof SourceConfigError)) throw err;
    const unsupported = err.path === 'body.source.type';
    throw new ApiError(400, unsupported ? 'unsupported_source' : 'invalid_request', err.message, [{ path: err.path, message: err.message.slice(err.path.length + 2) }]);
  }
}

type AlertBrief = { status: string; level: string | null; episode: number } | null;

export function accountView(a: Omit<AccountsTable, 'spend'> & { spend?: unknown }, alert: AlertBrief, source: Record<string, unknown>) {
  return {
    id: a.id,
    workspace_id: a.workspace_id,
    name: a.name,
    external_id: a.external_id,
    currency: a.currency,
    quota_per_unit: a.quota_per_unit,
    source,
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
    hook: { newapi: a.hook_token_hash !== null },
    created_at: iso(a.created_at),
    updated_at: iso(a.updated_at),
  };
}

export function accountRoutes(app: App, d: Deps): void {
  const { db, dialect } = d.store;
  const view = (a: AccountsTable, alert: AlertBrief) => accountView(a, alert, sourceView(d.sources, d.box, a));
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
    const src = checkSource(d, b.source);
    await validateRules(workspaceId, b.rules);
    const now = Date.now();
    const row = newAccountRow(
      newId('acc'),
      {
        workspace_id: workspaceId,
        name: b.name,
        external_id: b.external_id ?? null,
        currency: b.currency,
        quota_per_unit: b.quota_per_unit ?? null,
        rules: b.rules ? JSON.stringify(b.rules) : null,
        top_up_url: b.top_up_url ?? null,
        managed: 0,
      },
      src,
      now,
    );
    await db.insertInto('accounts').values(row).execute().catch(conflictOnUnique(`an account with external_id "${b.external_id}" in this workspace`));
    if (src.source_type !== 'push') d.poller.wake();
    return reply.code(201).send(view(row, null));
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
    const spark = req.query.include?.split(',').some((x) => x.trim() === 'sparkline') ? await sparklines(db, page.map((a) => a.id)) : null;
    return {
      data: page.map(({ alert_status, alert_level, alert_episode, ...a }) => {
        const v = view(a, alert_status ? { status: alert_status, level: alert_level, episode: alert_episode ?? 0 } : null);
        return spark ? { ...v, sparkline: spark.get(a.id) ?? [] } : v;
      }),
      next_cursor: rows.length > req.query.limit ? page[page.length - 1]!.id : null,
    };
  });

  app.get('/api/v1/accounts/:id', { schema: { params: idParams, tags: ['accounts'] } }, async (req) => {
    const a = await load(req, req.params.id);
    return view(a, (await alertOf(a.id)) ?? null);
  });

  app.patch('/api/v1/accounts/:id', { schema: { params: idParams, body: patchBody, tags: ['accounts'] } }, async (req) => {
    const a = await load(req, req.params.id);
    const b = req.body;
    const src = b.source ? checkSource(d, b.source, a) : null;
    if (b.rules !== undefined) await validateRules(a.workspace_id, b.rules);
    const now = Date.now();
    const set: Partial<AccountsTable> = { updated_at: now };
    if (b.name !== undefined) set.name = b.name;
    if (b.external_id !== undefined) set.external_id = b.external_id ?? null;
    if (b.currency !== undefined) set.currency = b.currency;
    if (b.quota_per_unit !== undefined) set.quota_per_unit = b.quota_per_unit ?? null;
    if (src) {
      Object.assign(set, src);
      // A changed source is read right away, with a clean failure count.
      if (src.source_type !== 'push') Object.assign(set, { next_poll_at: now, poll_failures: 0, last_poll_error: null });
      else Object.assign(set, { next_poll_at: null, poll_failures: 0, last_poll_error: null });
    }
    if (b.rules !== undefined) set.rules = b.rules ? JSON.stringify(b.rules) : null;
    if (b.top_up_url !== undefined) set.top_up_url = b.top_up_url ?? null;
    await db.updateTable('accounts').set(set).where('id', '=', a.id).execute().catch(conflictOnUnique(`an account with external_id "${b.external_id}" in this workspace`));
    if (b.rules !== undefined) {
      const queued = await reevaluate(db, dialect, { ids: [a.id] }, now);
      if (queued > 0) d.dispatcher.wake();
    }
    if (src && src.source_type !== 'push') d.poller.wake();
    const fresh = await load(req, a.id);
    return view(fresh, (await alertOf(a.id)) ?? null);
  });

  // Polls a pulled account now (SPEC §7.2) and records the result like a scheduled poll.
  app.post('/api/v1/accounts/:id/poll', { schema: { params: idParams, tags: ['accounts'] } }, async (req) => {
    const a = await load(req, req.params.id);
    if (a.source_type === 'push')
      throw new ApiError(409, 'not_polled', 'this account is a push account: balances are sent to POST /api/v1/balances, there is nothing to poll');
    return d.poller.pollAccount(a, { held: false, waitForHost: true });
  });

  app.delete('/api/v1/accounts/:id', { schema: { params: idParams, tags: ['accounts'] } }, async (req, reply) => {
    const a = await load(req, req.params.id);
    await db.deleteFrom('accounts').where('id', '=', a.id).execute();
    return reply.code(204).send();
  });
}
