import type { Kysely } from 'kysely';

// Forecasts (SPEC §3.2): the rolling spend state per account and the estimates derived from it, kept on the
// account so reads and metrics need no computation.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('spend', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('spend_per_day', 'double precision').execute();
  await db.schema.alterTable('accounts').addColumn('runway_days', 'double precision').execute();
  await db.schema.alterTable('accounts').addColumn('suggested_threshold', 'double precision').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const c of ['spend', 'spend_per_day', 'runway_days', 'suggested_threshold'])
    await db.schema.alterTable('accounts').dropColumn(c).execute();
}
