import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

// Sample history: raw for a recent window, then downsampled to the newest sample of each hour per account, so a
// year of minute-level pushes stays small (SPEC §2 "raw for a recent window, downsampled after"). Forecasts do not
// read samples (they keep their own rolling state), so this only shapes history and charts.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PROGRESS_KEY = 'samples_downsampled_until';

/**
 * Downsamples one slice (at most a day) of history older than `rawWindowMs`. Returns the rows deleted, or null when
 * there is nothing left to do. Safe to run from several instances: the work is idempotent.
 */
export async function downsampleSlice(db: Kysely<Database>, now: number, rawWindowMs: number): Promise<number | null> {
  const cutoff = Math.floor((now - rawWindowMs) / HOUR) * HOUR;
  const progress = await db.selectFrom('meta').select('value').where('key', '=', PROGRESS_KEY).executeTakeFirst();
  let from = progress ? Number(progress.value) : null;
  if (from === null) {
    const oldest = await db.selectFrom('samples').select((eb) => eb.fn.min('observed_at').as('t')).executeTakeFirst();
    if (oldest?.t === null || oldest?.t === undefined) return null;
    from = Math.floor(Number(oldest.t) / HOUR) * HOUR;
  }
  if (from >= cutoff) return null;
  const to = Math.min(from + DAY, cutoff);
  // Delete a sample when a later one of the same account falls in the same hour. (`%` rather than `/`: SQLite
  // would divide a bound number as a float.)
  const res = await sql`DELETE FROM samples WHERE observed_at >= ${from} AND observed_at < ${to} AND EXISTS (
      SELECT 1 FROM samples later WHERE later.account_id = samples.account_id
        AND later.observed_at > samples.observed_at
        AND later.observed_at < samples.observed_at - (samples.observed_at % ${HOUR}) + ${HOUR})`.execute(db);
  await db
    .insertInto('meta')
    .values({ key: PROGRESS_KEY, value: String(to) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(to) }))
    .execute();
  return Number(res.numAffectedRows ?? 0);
}
