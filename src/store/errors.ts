// Database errors both dialects raise in their own words.

/** A unique constraint refused the write (PostgreSQL 23505, SQLite "UNIQUE constraint failed"). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || /UNIQUE constraint failed/.test(e?.message ?? '');
}
