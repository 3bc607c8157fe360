import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

// Gives the integration suites a real PostgreSQL: BALANCEWATCH_TEST_DATABASE_URL when set, otherwise a throwaway
// cluster started from the machine's PostgreSQL binaries. Off CI, a machine without PostgreSQL skips those suites
// (and says so); under CI=true that is a failure.

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string | null;
    pgSkipReason: string | null;
  }
}

function findPgBin(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
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
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-pg-'));
  chmodSync(dir, 0o777);
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
    const r = spawnSync(full[0] as string, full[1] as string[], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const port = await freePort();
  run(path.join(bin, 'initdb'), ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  run(path.join(bin, 'pg_ctl'), [
    '-D',
    path.join(dir, 'data'),
    '-l',
    path.join(dir, 'log'),
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`,
    '-w',
    'start',
  ]);
  project.provide('pgUrl', `postgres://postgres@127.0.0.1:${port}/postgres`);
  project.provide('pgSkipReason', null);
  return () => {
    try {
      run(path.join(bin, 'pg_ctl'), ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
