import type { TestProject } from 'vitest/node';
import { findPgBin, startThrowawayPg } from './throwaway-pg.js';

// Gives the integration suites a real PostgreSQL: BALANCEWATCH_TEST_DATABASE_URL when set, otherwise a throwaway
// cluster started from the machine's PostgreSQL binaries. Off CI, a machine without PostgreSQL skips those suites
// (and says so); under CI=true that is a failure.

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string | null;
    pgSkipReason: string | null;
  }
}

export default async function setup(project: TestProject) {
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  if (process.env.BALANCEWATCH_TEST_DATABASE_URL) {
    project.provide('pgUrl', process.env.BALANCEWATCH_TEST_DATABASE_URL);
    project.provide('pgSkipReason', null);
    return;
  }
  const bin = findPgBin();
  if (!bin) {
    const reason = 'PostgreSQL server binaries not found (install postgresql, or set BALANCEWATCH_TEST_DATABASE_URL)';
    if (ci) throw new Error(`CI=true but ${reason}`);
    console.warn(`\n[balancewatch tests] PostgreSQL suites will be skipped: ${reason}\n`);
    project.provide('pgUrl', null);
    project.provide('pgSkipReason', reason);
    return;
  }
  const pg = await startThrowawayPg(bin);
  project.provide('pgUrl', pg.url);
  project.provide('pgSkipReason', null);
  return () => pg.stop();
}
