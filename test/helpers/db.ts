import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export type DbKind = 'sqlite' | 'postgres';

/** The databases a suite runs on: SQLite always, PostgreSQL when the global setup has one. */
export function databases(): DbKind[] {
  return inject('pgUrl') ? ['sqlite', 'postgres'] : ['sqlite'];
}

/** A fresh, empty PostgreSQL database for one test (own schema state, no cross-test interference). */
export async function freshPostgresUrl(): Promise<string> {
  const admin = inject('pgUrl');
  if (!admin) throw new Error(inject('pgSkipReason') ?? 'no PostgreSQL');
  const name = `bw_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}
