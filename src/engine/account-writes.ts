import { type Kysely, sql } from 'kysely';
import type { DialectName } from '../store/db.js';
import type { Database } from '../store/schema.js';
import type { AccountForecast } from './evaluator.js';
import { chunk } from './chunk.js';

// Writes what an evaluation learnt about accounts (newest balance, forecasts) with one statement per chunk rather
// than one per account: the hot path of ingest.

export interface AccountUpdate extends Partial<AccountForecast> {
  id: string;
  balance?: number;
  observed_at?: number;
}


export function mergeUpdates(balances: Map<string, { balance: number; at: number }>, forecasts: Map<string, AccountForecast>): AccountUpdate[] {
  const out = new Map<string, AccountUpdate>();
  for (const [id, f] of forecasts) out.set(id, { id, ...f });
  for (const [id, b] of balances) out.set(id, { ...out.get(id), id, balance: b.balance, observed_at: b.at });
  return [...out.values()];
}

export async function writeAccountUpdates(db: Kysely<Database>, dialect: DialectName, updates: AccountUpdate[], now: number): Promise<void> {
  // Rows either carry a balance or not; each group is written with its own column list.
  const withBalance = updates.filter((u) => u.balance !== undefined);
  const forecastOnly = updates.filter((u) => u.balance === undefined && u.spend !== undefined);
  for (const group of [withBalance, forecastOnly]) {
    if (group.length === 0) continue;
    const hasBalance = group === withBalance;
    const col = <T>(f: (u: AccountUpdate) => T) => group.map(f);
    if (dialect === 'postgres') {
      await sql`UPDATE accounts SET
          balance = CASE WHEN ${hasBalance} THEN v.balance ELSE accounts.balance END,
          observed_at = CASE WHEN ${hasBalance} THEN v.observed_at ELSE accounts.observed_at END,
          spend = COALESCE(v.spend, accounts.spend),
          spend_per_day = CASE WHEN v.spend IS NULL THEN accounts.spend_per_day ELSE v.spend_per_day END,
          runway_days = CASE WHEN v.spend IS NULL THEN accounts.runway_days ELSE v.runway_days END,
          suggested_threshold = CASE WHEN v.spend IS NULL THEN accounts.suggested_threshold ELSE v.suggested_threshold END,
          updated_at = ${now}
        FROM unnest(${col((u) => u.id)}::text[], ${col((u) => u.balance ?? null)}::float8[], ${col((u) => u.observed_at ?? null)}::bigint[],
          ${col((u) => u.spend ?? null)}::text[], ${col((u) => u.spend_per_day ?? null)}::float8[], ${col((u) => u.runway_days ?? null)}::float8[],
          ${col((u) => u.suggested_threshold ?? null)}::float8[])
          AS v(id, balance, observed_at, spend, spend_per_day, runway_days, suggested_threshold)
        WHERE accounts.id = v.id`.execute(db);
      continue;
    }
    for (const part of chunk(group, 300)) {
      const values = sql.join(
        part.map(
          (u) =>
            sql`(${u.id}, CAST(${u.balance ?? null} AS double precision), CAST(${u.observed_at ?? null} AS bigint), ${u.spend ?? null},
              CAST(${u.spend_per_day ?? null} AS double precision), CAST(${u.runway_days ?? null} AS double precision),
              CAST(${u.suggested_threshold ?? null} AS double precision))`,
        ),
      );
      await sql`UPDATE accounts SET
          balance = CASE WHEN ${hasBalance ? 1 : 0} THEN v.column2 ELSE accounts.balance END,
          observed_at = CASE WHEN ${hasBalance ? 1 : 0} THEN v.column3 ELSE accounts.observed_at END,
          spend = COALESCE(v.column4, accounts.spend),
          spend_per_day = CASE WHEN v.column4 IS NULL THEN accounts.spend_per_day ELSE v.column5 END,
          runway_days = CASE WHEN v.column4 IS NULL THEN accounts.runway_days ELSE v.column6 END,
          suggested_threshold = CASE WHEN v.column4 IS NULL THEN accounts.suggested_threshold ELSE v.column7 END,
          updated_at = ${now}
        FROM (VALUES ${values}) AS v WHERE accounts.id = v.column1`.execute(db);
    }
  }
}
