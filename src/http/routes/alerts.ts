import { z } from 'zod';
import { canSee, principal, scopeWorkspace } from '../auth.js';
import { notFound } from '../errors.js';
import { type App, type Deps, iso } from '../types.js';

const alertsQuery = z.object({
  workspace_id: z.string().max(200).optional(),
  account_id: z.string().max(200).optional(),
  state: z.enum(['firing', 'ok']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});
const deliveriesQuery = z.object({
  workspace_id: z.string().max(200).optional(),
  account_id: z.string().max(200).optional(),
  channel_id: z.string().max(200).optional(),
  status: z.enum(['pending', 'delivered', 'dead', 'suppressed']).optional(),
  event: z.string().max(50).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
const idParams = z.object({ id: z.string().min(1).max(200) });

export function alertRoutes(app: App, d: Deps): void {
  const { db } = d.store;

  app.get('/api/v1/alerts', { schema: { querystring: alertsQuery, tags: ['alerts'] } }, async (req) => {
    const ws = scopeWorkspace(req, req.query.workspace_id, false);
    let q = db
      .selectFrom('alerts')
      .innerJoin('accounts', 'accounts.id', 'alerts.account_id')
      .selectAll('alerts')
      .select(['accounts.name as account_name', 'accounts.currency'])
      .orderBy('alerts.id')
      .limit(req.query.limit + 1);
    if (ws) q = q.where('alerts.workspace_id', '=', ws);
    if (req.query.account_id) q = q.where('alerts.account_id', '=', req.query.account_id);
    if (req.query.state) q = q.where('alerts.status', '=', req.query.state);
    if (req.query.cursor) q = q.where('alerts.id', '>', req.query.cursor);
    const rows = await q.execute();
    const page = rows.slice(0, req.query.limit);
    return {
      data: page.map((a) => ({
        id: a.id,
        workspace_id: a.workspace_id,
        account_id: a.account_id,
        account_name: a.account_name,
        rule: a.rule,
        state: a.status,
        level: a.level,
        episode: a.episode,
        balance: a.balance,
        currency: a.currency,
        fired_at: iso(a.fired_at),
        resolved_at: iso(a.resolved_at),
        updated_at: iso(a.updated_at),
      })),
      next_cursor: rows.length > req.query.limit ? page[page.length - 1]!.id : null,
    };
  });

  const deliveryView = (r: Awaited<ReturnType<typeof loadDeliveries>>[number], attempts: AttemptRow[]) => ({
    id: r.id,
    workspace_id: r.workspace_id,
    channel_id: r.channel_id,
    account_id: r.account_id,
    alert_id: r.alert_id,
    event: r.event,
    level: r.level,
    idempotency_key: r.idempotency_key,
    status: r.status,
    deferred: r.deferred === 1,
    attempts: r.attempts,
    next_attempt_at: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    last_status_code: r.last_status_code,
    last_response: r.last_response,
    last_error: r.last_error,
    created_at: iso(r.created_at),
    delivered_at: iso(r.delivered_at),
    attempt_log: attempts.map((a) => ({
      at: iso(a.started_at),
      duration_ms: a.duration_ms,
      status_code: a.status_code,
      response: a.response,
      error: a.error,
      outcome: a.outcome,
    })),
  });
  type AttemptRow = { delivery_id: string; started_at: number; duration_ms: number; status_code: number | null; response: string | null; error: string | null; outcome: string };
  const loadDeliveries = (ids: string[]) => db.selectFrom('deliveries').selectAll().where('id', 'in', ids).execute();
  const attemptsFor = async (ids: string[]) => {
    const by = new Map<string, AttemptRow[]>();
    if (ids.length === 0) return by;
    const rows = await db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', ids).orderBy('started_at').execute();
    for (const a of rows) by.set(a.delivery_id, [...(by.get(a.delivery_id) ?? []), a]);
    return by;
  };

  app.get('/api/v1/deliveries', { schema: { querystring: deliveriesQuery, tags: ['deliveries'] } }, async (req) => {
    const ws = scopeWorkspace(req, req.query.workspace_id, false);
    let q = db.selectFrom('deliveries').selectAll().orderBy('id', 'desc').limit(req.query.limit + 1);
    if (ws) q = q.where('workspace_id', '=', ws);
    for (const k of ['account_id', 'channel_id', 'status', 'event'] as const) {
      const v = req.query[k];
      if (v) q = q.where(k, '=', v);
    }
    if (req.query.cursor) q = q.where('id', '<', req.query.cursor);
    const rows = await q.execute();
    const page = rows.slice(0, req.query.limit);
    const attempts = await attemptsFor(page.map((r) => r.id));
    return {
      data: page.map((r) => deliveryView(r, attempts.get(r.id) ?? [])),
      next_cursor: rows.length > req.query.limit ? page[page.length - 1]!.id : null,
    };
  });

  app.get('/api/v1/deliveries/:id', { schema: { params: idParams, tags: ['deliveries'] } }, async (req) => {
    principal(req); // 401 before any lookup
    const [r] = await loadDeliveries([req.params.id]);
    if (!r || !canSee(req, r.workspace_id)) throw notFound('delivery', req.params.id);
    const attempts = await attemptsFor([r.id]);
    return deliveryView(r, attempts.get(r.id) ?? []);
  });
}
