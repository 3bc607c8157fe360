import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

// Sample history: raw for a recent window, then the newest sample of each hour, and after half a year the newest
// of each day, so a year of minute-level pushes per account shrinks from ~525,000 rows to under 5,000
// (SPEC §2 "raw for a recent window, downsampled after"). Forecasts do not read samples (they keep their own rolling
// state), so this only shapes history and charts.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface RetentionTier {
  /** Samples older than this… */
  olderThanMs: number;
  /** …keep only the newest of each bucket of this size. */
  bucketMs: number;
}

export function retentionTiers(rawWindowMs: number): RetentionTier[] {
  return [
    { olderThanMs: rawWindowMs, bucketMs: HOUR },
    { olderThanMs: Math.max(rawWindowMs, 180 * DAY), bucketMs: DAY },
  ];
}

/**
 * Downsamples one slice (at most a day) of history for one tier. Returns the rows deleted, or null when the tier
 * is caught up. Safe to run from several instances: the work is idempotent, progress is kept in `meta`.
 */
export async function downsampleSlice(db: Kysely<Database>, now: number, tier: RetentionTier): Promise<number | null> {
  const key = `samples_downsampled_until:${tier.bucketMs}`;
  const cutoff = Math.floor((now - tier.olderThanMs) / tier.bucketMs) * tier.bucketMs;
  const progress = await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
  let from = progress ? Number(progress.value) : null;
  if (from === null) {
    const oldest = await db.selectFrom('samples').select((eb) => eb.fn.min('observed_at').as('t')).executeTakeFirst();
    if (oldest?.t === null || oldest?.t === undefined) return null;
    from = Math.floor(Number(oldest.t) / tier.bucketMs) * tier.bucketMs;
  }
  if (from >= cutoff) return null;
  const to = Math.min(from + Math.max(DAY, tier.bucketMs), cutoff);
  // Delete a sample when a later one of the same account falls in the same bucket. (`%` rather than `/`: SQLite
  // would divide a bound number as a float.)
  const res = await sql`DELETE FROM samples WHERE observed_at >= ${from} AND observed_at < ${to} AND EXISTS (
      SELECT 1 FROM samples later WHERE later.account_id = samples.account_id
        AND later.observed_at > samples.observed_at
        AND later.observed_at < samples.observed_at - (samples.observed_at % ${tier.bucketMs}) + ${tier.bucketMs})`.execute(db);
  await db
    .insertInto('meta')
    .values({ key, value: String(to) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(to) }))
    .execute();
  return Number(res.numAffectedRows ?? 0);
}

/** Runs every tier until caught up or `maxSlices` slices were done; returns the rows deleted. */
export async function downsampleHistory(db: Kysely<Database>, now: number, rawWindowMs: number, maxSlices = 30): Promise<number> {
  let deleted = 0;
  let slices = 0;
  for (const tier of retentionTiers(rawWindowMs)) {
    while (slices < maxSlices) {
      const n = await downsampleSlice(db, now, tier);
      if (n === null) break;
      deleted += n;
      slices += 1;
    }
  }
  return deleted;
}
