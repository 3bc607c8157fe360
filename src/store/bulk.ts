import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.js';

// Bulk statements on the hot ingest path, handed to the driver as finished SQL. Kysely's builder parses and
// compiles every row of a multi-row VALUES list on each call (a third of a 10,000-sample batch's JS time); these
// statements have a fixed shape, so the text is built once per row count and only the parameters change.

const valuesCache = new Map<string, string>();

/** "(?, ?, ?), (?, ?, ?)" for `rows` rows of `row` (the SQL of one row's placeholders, e.g. "(?, ?, ?)"). */
export function valuesList(rows: number, row: string): string {
  const key = `${rows}\0${row}`;
  let text = valuesCache.get(key);
  if (!text) {
    text = Array.from({ length: rows }, () => row).join(', ');
    if (valuesCache.size > 64) valuesCache.clear();
    valuesCache.set(key, text);
  }
  return text;
}

/** Runs finished SQL with positional parameters and returns its rows. */
export async function runRaw<R>(db: Kysely<Database>, text: string, parameters: readonly unknown[]): Promise<R[]> {
  const res = await db.executeQuery<R>(CompiledQuery.raw(text, [...parameters]));
  return res.rows;
}
