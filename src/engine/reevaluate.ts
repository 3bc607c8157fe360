import type { Kysely } from 'kysely';
import type { DialectName } from '../store/db.js';
import type { Database } from '../store/schema.js';
import { mergeUpdates, writeAccountUpdates } from './account-writes.js';
import { EVAL_ACCOUNT_COLUMNS, Evaluator, LOW_BALANCE_RULE } from './evaluator.js';

// Evaluations not driven by a new sample: a settings change (SPEC §3.1 "changing a rule re-evaluates the latest
// balance at once") and reminders coming due (repeat_interval).


async function lockedAccounts(trx: Kysely<Database>, dialect: DialectName, where: { workspaceId?: string; ids?: string[] }) {
  let q = trx.selectFrom('accounts').select(EVAL_ACCOUNT_COLUMNS).orderBy('id');
  if (where.workspaceId) q = q.where('workspace_id', '=', where.workspaceId);
  if (where.ids) q = q.where('id', 'in', where.ids);
  if (dialect === 'postgres') q = q.forUpdate();
  return q.execute();
}

/** Re-runs the latest balance of the given accounts (or a whole workspace) through the current rules. */
export async function reevaluate(
  db: Kysely<Database>,
  dialect: DialectName,
  where: { workspaceId?: string; ids?: string[] },
  now: number,
): Promise<number> {
  if (where.ids && where.ids.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const accounts = (await lockedAccounts(trx, dialect, where)).filter((a) => a.balance !== null);
    const ev = new Evaluator(trx, now);
    await ev.prepare(accounts);
    for (const a of accounts) ev.applyBalance(a, a.balance!, a.observed_at ?? now);
    // The rules (e.g. the runway window) may change the forecasts too.
    await writeAccountUpdates(trx, dialect, mergeUpdates(new Map(), ev.forecasts), now);
    return ev.flush();
  });
}

/** Sends reminders that have come due; returns the number of deliveries queued. */
export async function sendDueReminders(db: Kysely<Database>, dialect: DialectName, now: number, limit = 500): Promise<number> {
  const due = await db
    .selectFrom('alerts')
    .select('account_id')
    .where('rule', '=', LOW_BALANCE_RULE)
    .where('status', '=', 'firing')
    .where('next_check_at', '<=', now)
    .limit(limit)
    .execute();
  if (due.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const accounts = await lockedAccounts(trx, dialect, { ids: due.map((d) => d.account_id) });
    const ev = new Evaluator(trx, now);
    await ev.prepare(accounts);
    for (const a of accounts) ev.applyTick(a, a.balance);
    return ev.flush();
  });
}
