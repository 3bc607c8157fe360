import { type Kysely, sql } from 'kysely';
import { runRaw, valuesList } from '../store/bulk.js';
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
  // One object shape for every row, built once (no spreads: this runs for every account of a batch).
  const out: AccountUpdate[] = [];
  for (const [id, b] of balances) {
    const f = forecasts.get(id);
    out.push({
      id,
      balance: b.balance,
      observed_at: b.at,
      spend: f?.spend,
      spend_per_day: f?.spend_per_day,
      runway_days: f?.runway_days,
      suggested_threshold: f?.suggested_threshold,
    });
  }
  for (const [id, f] of forecasts) {
    if (balances.has(id)) continue;
    out.push({ id, balance: undefined, observed_at: undefined, ...f });
  }
  return out;
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
      const params: unknown[] = [hasBalance ? 1 : 0, hasBalance ? 1 : 0, now];
      for (const u of part) {
        params.push(u.id, u.balance ?? null, u.observed_at ?? null, u.spend ?? null, u.spend_per_day ?? null, u.runway_days ?? null, u.suggested_threshold ?? null);
      }
      const row = '(?, CAST(? AS double precision), CAST(? AS bigint), ?, CAST(? AS double precision), CAST(? AS double precision), CAST(? AS double precision))';
      await runRaw(
        db,
        `UPDATE accounts SET
          balance = CASE WHEN ? THEN v.column2 ELSE accounts.balance END,
          observed_at = CASE WHEN ? THEN v.column3 ELSE accounts.observed_at END,
          spend = COALESCE(v.column4, accounts.spend),
          spend_per_day = CASE WHEN v.column4 IS NULL THEN accounts.spend_per_day ELSE v.column5 END,
          runway_days = CASE WHEN v.column4 IS NULL THEN accounts.runway_days ELSE v.column6 END,
          suggested_threshold = CASE WHEN v.column4 IS NULL THEN accounts.suggested_threshold ELSE v.column7 END,
          updated_at = ?
        FROM (VALUES ${valuesList(part.length, row)}) AS v WHERE accounts.id = v.column1`,
        params,
      );
    }
  }
}
