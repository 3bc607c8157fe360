import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { compileThresholdRule, effectiveSettings, type NotificationSettings, parseStoredSettings, type SettingsPatch } from '../../domain/settings.js';
import { chunk } from '../../engine/chunk.js';
import type { Database } from '../../store/schema.js';
import { canSee } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import { type App, type Deps, iso } from '../types.js';

// Data for the dashboard's charts (issue #6):
//   GET /api/v1/accounts/{id}/history?from&to&points → the balance samples in the range, downsampled to at most
//     `points` by keeping each time bucket's lowest and highest balance (so a dip below a line never disappears),
//     the threshold lines and the forecast to zero.
//   GET /api/v1/accounts?include=sparkline → each account's last 7 days as ≤ 48 numbers (the last balance of each
//     3.5-hour bucket), computed by the database in one query per page.

const DAY_MS = 86_400_000;
export const SPARKLINE_POINTS = 48;
export const SPARKLINE_RANGE_MS = 7 * DAY_MS;
/** Samples may be up to 5 minutes in the future (clock skew, routes/balances.ts). */
const FUTURE_SLACK_MS = 5 * 60_000;

const time = (name: string) =>
  z
    .string()
    .max(64)
    .transform((v, ctx) => {
      const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
      if (Number.isNaN(ms)) {
        ctx.addIssue({ code: 'custom', message: `${name}: expected an ISO 8601 time such as "2026-01-31T00:00:00Z"` });
        return z.NEVER;
      }
      return ms;
    });

const historyQuery = z.object({
  from: time('from').optional(),
  to: time('to').optional(),
  points: z.coerce.number().int().min(2).max(2000).default(500),
});
const idParams = z.object({ id: z.string().min(1).max(200) });

export interface HistoryPoint {
  at: number;
  balance: number;
}

/** The samples of [from, to], at most `points` of them (min and max per bucket, in time order). */
export async function balanceHistory(db: Kysely<Database>, accountId: string, from: number, to: number, points: number): Promise<HistoryPoint[]> {
  const inRange = db.selectFrom('samples').where('account_id', '=', accountId).where('observed_at', '>=', from).where('observed_at', '<=', to);
  const { n } = await inRange.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  if (Number(n) <= points) {
    const rows = await inRange.select(['observed_at', 'balance']).orderBy('observed_at').execute();
    return rows.map((r) => ({ at: r.observed_at, balance: r.balance }));
  }
  const buckets = Math.max(1, Math.floor(points / 2));
  const width = Math.max(1, Math.ceil((to - from + 1) / buckets));
  // Per bucket: its lowest and its highest balance, each at the first time it was seen. CAST: SQLite binds numbers
  // as REAL, so the division would not be an integer one; the range is never negative, so truncation is floor.
  const { rows } = await sql<{ k: number; balance: number; t: number }>`
    WITH b AS (
      SELECT CAST((observed_at - ${from}) / ${width} AS BIGINT) AS k, observed_at AS t, balance
      FROM samples
      WHERE account_id = ${accountId} AND observed_at >= ${from} AND observed_at <= ${to}
    ), agg AS (
      SELECT k, MIN(balance) AS lo, MAX(balance) AS hi FROM b GROUP BY k
    )
    SELECT b.k AS k, b.balance AS balance, MIN(b.t) AS t
    FROM b JOIN agg ON agg.k = b.k AND (b.balance = agg.lo OR b.balance = agg.hi)
    GROUP BY b.k, b.balance
    ORDER BY t, b.balance`.execute(db);
  return rows.map((r) => ({ at: Number(r.t), balance: Number(r.balance) }));
}

/** The last balance of each of the 48 buckets of the last 7 days, per account (accounts without samples: []). */
export async function sparklines(db: Kysely<Database>, accountIds: readonly string[], now = Date.now()): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>(accountIds.map((id) => [id, []]));
  const from = now - SPARKLINE_RANGE_MS;
  const width = Math.ceil((SPARKLINE_RANGE_MS + FUTURE_SLACK_MS + 1) / SPARKLINE_POINTS);
  for (const ids of chunk([...accountIds], 500)) {
    if (ids.length === 0) continue;
    const { rows } = await sql<{ account_id: string; k: number; balance: number }>`
      SELECT s.account_id AS account_id, m.k AS k, s.balance AS balance
      FROM samples s
      JOIN (
        SELECT account_id, CAST((observed_at - ${from}) / ${width} AS BIGINT) AS k, MAX(observed_at) AS t
        FROM samples
        WHERE account_id IN (${sql.join(ids)}) AND observed_at >= ${from}
        GROUP BY account_id, k
      ) m ON s.account_id = m.account_id AND s.observed_at = m.t
      ORDER BY s.account_id, m.k`.execute(db);
    for (const r of rows) out.get(r.account_id)?.push(Number(r.balance));
  }
  return out;
}

function thresholdLevels(workspace: NotificationSettings, rules: string | null): { level: string; below: number }[] {
  let s = workspace;
  if (rules) {
    try {
      s = effectiveSettings(workspace, JSON.parse(rules) as SettingsPatch);
    } catch {
      // An override that no longer fits the workspace's levels: the evaluator falls back to the workspace too.
    }
  }
  if (!s.notify_low_balance) return [];
  return compileThresholdRule(s).levels.map((l) => ({ level: l.level, below: l.below }));
}

export function historyRoutes(app: App, d: Deps): void {
  const { db } = d.store;
  app.get('/api/v1/accounts/:id/history', { schema: { params: idParams, querystring: historyQuery, tags: ['accounts'] } }, async (req) => {
    const a = await db.selectFrom('accounts').selectAll().where('id', '=', req.params.id).executeTakeFirst();
    if (!a || !canSee(req, a.workspace_id)) throw notFound('account', req.params.id);
    const to = req.query.to ?? Date.now();
    const from = req.query.from ?? to - 7 * DAY_MS;
    if (from >= to)
      throw new ApiError(400, 'invalid_request', 'querystring.from: from must be before to', [{ path: 'querystring.from', message: 'must be before to' }]);
    const w = await db.selectFrom('workspaces').select('settings').where('id', '=', a.workspace_id).executeTakeFirstOrThrow();
    const data = await balanceHistory(db, a.id, from, to, req.query.points);
    const runway = a.runway_days === null ? null : Math.round(a.runway_days * 100) / 100;
    return {
      data: data.map((p) => ({ at: iso(p.at), balance: p.balance })),
      threshold_levels: thresholdLevels(parseStoredSettings(w.settings), a.rules),
      forecast: {
        runway_days: runway,
        spend_per_day: a.spend_per_day === null ? null : Math.round(a.spend_per_day * 10_000) / 10_000,
        zero_at: a.runway_days !== null && a.observed_at !== null ? iso(a.observed_at + a.runway_days * DAY_MS) : null,
      },
      from: iso(from),
      to: iso(to),
    };
  });
}
