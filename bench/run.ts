// `npm run bench`: measures what SPEC §8 sets targets for and writes bench/RESULTS.md. Timings are reported,
// never asserted. Runs on the embedded SQLite and, when the machine has PostgreSQL server binaries, PostgreSQL.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/env.js';
import { newId } from '../src/domain/ids.js';
import { DEFAULT_SETTINGS } from '../src/domain/settings.js';
import { encodeConfig } from '../src/channels/codec.js';
import { SecretBox } from '../src/security/secrets.js';
import { createLogger, createService, type Service } from '../src/service.js';
import { findPgBin, startThrowawayPg } from '../test/helpers/throwaway-pg.js';

const ADMIN = 'bench-admin-key-0123456789';
const root = path.resolve(import.meta.dirname, '..', '..');
const lines: string[] = [];
const log = (s: string) => {
  console.log(s);
  lines.push(s);
};

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function startReceiver(): Promise<{ url: string; count: () => number; onRequest: (f: (body: any) => void) => void; close: () => Promise<void> }> {
  let n = 0;
  let hook: (body: any) => void = () => {};
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      n += 1;
      res.writeHead(200).end('ok');
      hook(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`,
    count: () => n,
    onRequest: (f) => {
      hook = f;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const SECRET = 'bench-secret-key-0123456789abcdef';

/** Seeds with an in-process service (direct inserts), then serves from a real `balancewatch serve` process. */
async function start(databaseUrl: string | undefined, dataDir: string): Promise<{ svc: Service; close: () => Promise<void> }> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    BALANCEWATCH_DATA_DIR: dataDir,
    BALANCEWATCH_ADMIN_API_KEY: ADMIN,
    BALANCEWATCH_SECRET_KEY: SECRET,
    LOG_LEVEL: 'error',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const svc = await createService(config, { logger: createLogger('error'), dispatch: false });
  return { svc, close: () => svc.close() };
}

async function serve(databaseUrl: string | undefined, dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const { child, port } = spawnServe({
    BALANCEWATCH_DATA_DIR: dataDir,
    BALANCEWATCH_SECRET_KEY: SECRET,
    BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  await waitHealthy(port);
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function api(base: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** Inserts accounts straight into the store (setup only; the measured paths all go through HTTP). */
async function seedAccounts(svc: Service, workspaceId: string, n: number, prefix: string): Promise<string[]> {
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1000) {
    const rows = Array.from({ length: Math.min(1000, n - i) }, (_, j) => {
      const id = newId('acc');
      ids.push(id);
      return {
        id,
        workspace_id: workspaceId,
        name: `${prefix}-${i + j}`,
        external_id: `${prefix}-${i + j}`,
        currency: 'USD',
        quota_per_unit: null,
        source_type: 'push',
        source_config: null,
        rules: null,
        top_up_url: null,
        balance: null,
        observed_at: null,
        poll_failures: 0,
        managed: 0,
        created_at: now,
        updated_at: now,
      };
    });
    await svc.store.db.insertInto('accounts').values(rows).execute();
  }
  return ids;
}

async function freshDb(pgAdminUrl: string | undefined): Promise<string | undefined> {
  if (!pgAdminUrl) return undefined;
  const name = `bench_${Date.now().toString(36)}`;
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: pgAdminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(pgAdminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function benchIngest(label: string, pgAdminUrl: string | undefined): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bw-bench-'));
  const dbUrl = await freshDb(pgAdminUrl);
  const seeded = await start(dbUrl, dir);
  const ws = (await seeded.svc.store.db.insertInto('workspaces').values({ id: newId('ws'), name: 'bench', external_id: null, locale: 'en', time_zone: 'UTC', settings: JSON.stringify(DEFAULT_SETTINGS), managed: 0, created_at: Date.now(), updated_at: Date.now() }).returning('id').executeTakeFirstOrThrow());
  const ids = await seedAccounts(seeded.svc, ws.id, 10_000, 'ing');
  await seeded.close();
  const server = await serve(dbUrl, dir);
  try {
    const t0 = Math.floor(Date.now() / 1000) - 3600;
    const rounds = 12;
    const bodies = Array.from({ length: rounds }, (_, r) =>
      JSON.stringify({ samples: ids.map((id, i) => ({ account: id, balance: 50 + ((i + r) % 50), at: t0 + r })) }),
    );
    await api(server.url, 'POST', '/api/v1/balances', bodies[0]); // warm-up (first sample per account)
    const start = performance.now();
    for (let r = 1; r < rounds; r++) await api(server.url, 'POST', '/api/v1/balances', bodies[r]);
    const secs = (performance.now() - start) / 1000;
    const total = (rounds - 1) * ids.length;
    log(`| ingest, ${label}, batches of 10,000, 1 client | ${Math.round(total / secs).toLocaleString('en')} samples/s | ≥ 100,000 samples/s |`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchLatencyAndThroughput(label: string, pgAdminUrl: string | undefined): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bw-bench-'));
  const dbUrl = await freshDb(pgAdminUrl);
  const rx = await startReceiver();
  // Seed 10,000 accounts in a workspace with a webhook, for the throughput run.
  const seeded = await start(dbUrl, dir);
  const now = Date.now();
  const thr = (await seeded.svc.store.db.insertInto('workspaces').values({ id: newId('ws'), name: 'thr', external_id: null, locale: 'en', time_zone: 'UTC', settings: JSON.stringify(DEFAULT_SETTINGS), managed: 0, created_at: now, updated_at: now }).returning('id').executeTakeFirstOrThrow());
  const ids = await seedAccounts(seeded.svc, thr.id, 10_000, 'thr');
  await seeded.close();
  const server = await serve(dbUrl, dir);
  const url = server.url;
  try {
    const ws = await api(url, 'POST', '/api/v1/workspaces', { name: 'lat', notification_settings: { min_notify_interval: '0s' } });
    await api(url, 'POST', '/api/v1/channels', { workspace_id: ws.id, name: 'hook', type: 'webhook', url: rx.url, secret: 's3cret' });
    const acc = await api(url, 'POST', '/api/v1/accounts', { workspace_id: ws.id, name: 'latency' });
    const lat: number[] = [];
    const base = Math.floor(Date.now() / 1000) - 3600;
    for (let i = 0; i < 300; i++) {
      const arrived = new Promise<void>((resolve) => rx.onRequest(() => resolve()));
      const t = performance.now();
      await api(url, 'POST', '/api/v1/balances', { samples: [{ account: acc.id, balance: i % 2 === 0 ? 5 : 50, at: base + i }] });
      await arrived;
      lat.push(performance.now() - t);
    }
    const w = lat.slice(20);
    log(
      `| crossing → loopback webhook, ${label} (POST sent → webhook received) | p50 ${pct(w, 50).toFixed(1)} ms, p99 ${pct(w, 99).toFixed(1)} ms | p99 ≤ 25 ms |`,
    );

    // Throughput: 10,000 accounts cross in one batch → 10,000 signed webhooks.
    await api(url, 'POST', '/api/v1/channels', { workspace_id: thr.id, name: 'hook', type: 'webhook', url: rx.url, secret: 's3cret' });
    rx.onRequest(() => {});
    const before = rx.count();
    const res = await api(url, 'POST', '/api/v1/balances', { samples: ids.map((id) => ({ account: id, balance: 1 })) });
    const t = performance.now();
    while (rx.count() - before < res.notifications_queued) await new Promise((r) => setTimeout(r, 5));
    const secs = (performance.now() - t) / 1000;
    log(`| webhook delivery, ${label} (10,000 queued → all received, concurrency 64) | ${Math.round(10_000 / secs).toLocaleString('en')} deliveries/s | ≥ 5,000/s |`);
  } finally {
    await server.stop();
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function spawnServe(env: Record<string, string>): { child: ReturnType<typeof spawn>; port: number } {
  const port = 20000 + Math.floor(Math.random() * 20000);
  // BENCH_PROFILE=<dir>: the service writes a V8 CPU profile there when it exits.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, path.join(root, 'bin/balancewatch.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', BALANCEWATCH_ADMIN_API_KEY: ADMIN, ...env },
    stdio: 'ignore',
  });
  return { child, port };
}

async function waitHealthy(port: number, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('service did not become healthy');
}

async function benchStartup(): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bw-bench-'));
    const t = performance.now();
    const { child, port } = spawnServe({ BALANCEWATCH_DATA_DIR: dir });
    await waitHealthy(port);
    times.push(performance.now() - t);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  log(`| start to healthy (fresh SQLite, process spawn → /healthz 200), median of 5 | ${pct(times, 50).toFixed(0)} ms | ≤ 1,500 ms |`);
}

async function benchMemory(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bw-bench-'));
  // Seed 100,000 accounts with the in-process service, then measure a fresh real process serving them.
  const seeded = await start(undefined, dir);
  const now = Date.now();
  const ws = await seeded.svc.store.db
    .insertInto('workspaces')
    .values({ id: newId('ws'), name: 'mem', external_id: null, locale: 'en', time_zone: 'UTC', settings: JSON.stringify(DEFAULT_SETTINGS), managed: 0, created_at: now, updated_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const ids = await seedAccounts(seeded.svc, ws.id, 100_000, 'mem');
  await seeded.close();
  const { child, port } = spawnServe({ BALANCEWATCH_DATA_DIR: dir, BALANCEWATCH_SECRET_KEY: SECRET });
  try {
    await waitHealthy(port);
    const base = Math.floor(Date.now() / 1000) - 3600;
    for (let r = 0; r < 2; r++)
      for (let i = 0; i < ids.length; i += 10_000)
        await api(`http://127.0.0.1:${port}`, 'POST', '/api/v1/balances', {
          samples: ids.slice(i, i + 10_000).map((id) => ({ account: id, balance: 100 + r, at: base + r })),
        });
    await api(`http://127.0.0.1:${port}`, 'GET', '/api/v1/accounts?limit=1000');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20;
    console.error(
      `heap used ${gauge('nodejs_heap_size_used_bytes').toFixed(0)} MB, heap total ${gauge('nodejs_heap_size_total_bytes').toFixed(0)} MB, external ${gauge('nodejs_external_memory_bytes').toFixed(0)} MB`,
    );
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    // At rest: V8 gives back the pages it grew for the batches once the process has been idle for a while.
    await new Promise((r) => setTimeout(r, 30_000));
    const rest = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    log(
      `| memory with 100,000 accounts after 200,000 samples in batches of 10,000 (RSS right after / after 30 s idle / peak) | ${rss.toFixed(0)} MB / ${rest.toFixed(0)} MB / ${hwm.toFixed(0)} MB | ≤ 200 MB |`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * 10,000 pulled accounts on a 60 s interval (SPEC §8: ≤ 5% of one core): a loopback server answering like
 * DeepSeek's /user/balance, the service polling it as its own process; CPU time of that process over one minute.
 */
async function benchPolling(): Promise<void> {
  const N = 10_000;
  let hits = 0;
  const provider = createServer((_req, res) => {
    hits += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ is_available: true, balance_infos: [{ currency: 'CNY', total_balance: '100.00', granted_balance: '0.00', topped_up_balance: '100.00' }] }));
  });
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  const providerUrl = `http://127.0.0.1:${(provider.address() as { port: number }).port}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bw-bench-'));
  const seeded = await start(undefined, dir);
  const box = SecretBox.fromText(SECRET);
  const now = Date.now();
  const ws = await seeded.svc.store.db
    .insertInto('workspaces')
    .values({ id: newId('ws'), name: 'poll', external_id: null, locale: 'en', time_zone: 'UTC', settings: JSON.stringify(DEFAULT_SETTINGS), managed: 0, created_at: now, updated_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const ids = await seedAccounts(seeded.svc, ws.id, N, 'poll');
  for (let i = 0; i < ids.length; i += 500) {
    const part = ids.slice(i, i + 500);
    await seeded.svc.store.db.transaction().execute(async (trx) => {
      for (const [j, id] of part.entries())
        await trx
          .updateTable('accounts')
          .set({
            source_type: 'deepseek',
            source_config: encodeConfig({ secretFields: ['api_key'] }, { api_key: `sk-bench-${i + j}`, base_url: providerUrl }, box),
            currency: 'CNY',
            poll_interval_ms: 60_000,
            // Due times spread over the first minute, as a long-running instance would have them.
            next_poll_at: now + Math.floor(((i + j) / N) * 60_000),
          })
          .where('id', '=', id)
          .execute();
    });
  }
  await seeded.close();
  const { child, port } = spawnServe({
    BALANCEWATCH_DATA_DIR: dir,
    BALANCEWATCH_SECRET_KEY: SECRET,
    BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true',
    // One loopback host stands for many providers here: lift the per-host budget meant for real relays.
    BALANCEWATCH_POLL_HOST_LIMIT: '1000000/60s',
  });
  const cpuSeconds = () => {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100 on Linux)
  };
  try {
    await waitHealthy(port);
    await new Promise((r) => setTimeout(r, 15_000)); // warm up: the first due accounts
    const c0 = cpuSeconds();
    const h0 = hits;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 60_000));
    const used = cpuSeconds() - c0;
    const wall = (performance.now() - t0) / 1000;
    const polls = hits - h0;
    log(
      `| 10,000 polled accounts at a 60 s interval (SQLite; ${polls} polls in ${wall.toFixed(0)} s, each a loopback HTTP request + sample + evaluation) | ${((used / wall) * 100).toFixed(1)}% of one core | ≤ 5% of one core |`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    provider.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `f` against a throwaway PostgreSQL 15 (BENCH_ONLY=ingest-pg, delivery-pg). */
async function withPg(f: (url: string) => Promise<void>): Promise<void> {
  const bin = findPgBin();
  if (!bin) throw new Error('no PostgreSQL server binaries on this machine');
  const pg = await startThrowawayPg(bin, { fsync: true });
  try {
    await f(pg.url);
  } finally {
    pg.stop();
  }
}

async function main(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}.`,
    '',
    `Machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}.`,
    'The service runs as its own `balancewatch serve` process; the load generator and the webhook receiver run in the\nbenchmark process on the same 2 cores (loopback), so every figure includes their cost.',
    '',
    '| measurement | result | target (SPEC §8) |',
    '| --- | --- | --- |',
  ];
  for (const h of header) console.log(h);
  // BENCH_ONLY=ingest (or delivery, ingest-pg, delivery-pg, polling, startup, memory) runs one measurement and prints it without writing RESULTS.md.
  const only = process.env.BENCH_ONLY;
  if (only) {
    const benches: Record<string, () => Promise<void>> = {
      ingest: () => benchIngest('SQLite', undefined),
      delivery: () => benchLatencyAndThroughput('SQLite', undefined),
      'ingest-pg': () => withPg((url) => benchIngest('PostgreSQL 15', url)),
      'delivery-pg': () => withPg((url) => benchLatencyAndThroughput('PostgreSQL 15', url)),
      polling: benchPolling,
      startup: benchStartup,
      memory: benchMemory,
    };
    const run = benches[only];
    if (!run) throw new Error(`BENCH_ONLY must be one of: ${Object.keys(benches).join(', ')}`);
    await run();
    process.exit(0);
  }
  await benchIngest('SQLite', undefined);
  await benchLatencyAndThroughput('SQLite', undefined);
  const bin = findPgBin();
  if (bin) {
    const pg = await startThrowawayPg(bin, { fsync: true });
    try {
      await benchIngest('PostgreSQL 15', pg.url);
      await benchLatencyAndThroughput('PostgreSQL 15', pg.url);
    } finally {
      pg.stop();
    }
  } else log('| PostgreSQL | not measured: no PostgreSQL server binaries on this machine | |');
  await benchStartup();
  await benchMemory();
  await benchPolling();
  // The hand-written analysis below the table survives re-runs.
  const file = path.join(root, 'bench', 'RESULTS.md');
  let analysis = '';
  try {
    const old = readFileSync(file, 'utf8');
    const at = old.indexOf('\n## Where we stand');
    if (at >= 0) analysis = old.slice(at);
  } catch {}
  const out = [...header, ...lines, ''].join('\n') + analysis;
  writeFileSync(file, out);
  console.log('\nwrote bench/RESULTS.md');
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
