import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyKey } from '../../src/domain/idempotency.js';
import { databases, freshPostgresUrl, type DbKind } from '../helpers/db.js';
import { killAll, requireBuild, type ServeProcess, startServe } from '../helpers/process.js';
import { type Received, Receiver, sleep } from '../helpers/receiver.js';
import { ADMIN_KEY, type Running, startService } from '../helpers/service.js';

// SPEC §8 Reliability and Scale: transactional outbox across kill -9, retries with backoff and Retry-After,
// dead-letter, graceful SIGTERM, and two instances on one PostgreSQL never sending the same event twice.

const SECRET_KEY = 'reliability-test-secret-key-0123456789';

// ---------------------------------------------------------------------------------------------------------------
// helpers

type Hit = Received;

/** The shared loopback receiver, plus what these tests ask of it: hits by delivery key. */
class Rx extends Receiver {
  get hits(): Hit[] {
    return this.received;
  }

  /** Keys answered with a 2xx, with how many times each. */
  accepted(): Map<string, number> {
    const m = new Map<string, number>();
    for (const h of this.hits) if (h.status !== undefined && h.status < 300) m.set(h.key, (m.get(h.key) ?? 0) + 1);
    return m;
  }
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
async function until<T>(
  what: string | (() => string),
  timeoutMs: number,
  check: () => T | Promise<T>,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}

type Api = (method: string, p: string, body?: unknown) => Promise<{ status: number; body: any; text: string }>;

function apiFor(base: string): Api {
  return async (method, p, body) => {
    const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed, text };
  };
}
const inProcess = (svc: Running): Api => apiFor(svc.url);

interface Setup {
  ws: string;
  channel: string;
  accounts: string[]; // ids, index i has external id `acc-${i}`
}

/** A workspace (warning < 20, critical < 5, no anti-spam floor), a webhook channel to `hookUrl`, `n` push accounts. */
async function setUp(api: Api, hookUrl: string, n: number, name = 'Reliability'): Promise<Setup> {
  const w = await api('POST', '/api/v1/workspaces', {
    name,
    notification_settings: {
      levels: [
        { level: 'warning', below: 20 },
        { level: 'critical', below: 5 },
      ],
      min_notify_interval: '0s',
    },
  });
  expect(w.status, w.text).toBe(201);
  const ch = await api('POST', '/api/v1/channels', {
    workspace_id: w.body.id,
    name: 'hook',
    type: 'webhook',
    url: hookUrl,
  });
  expect(ch.status, ch.text).toBe(201);
  const accounts: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = await api('POST', '/api/v1/accounts', {
      workspace_id: w.body.id,
      name: `acc-${i}`,
      external_id: `acc-${i}`,
      currency: 'USD',
    });
    expect(a.status, a.text).toBe(201);
    accounts.push(a.body.id);
  }
  return { ws: w.body.id, channel: ch.body.id, accounts };
}

async function allDeliveries(api: Api, ws: string): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const r = await api('GET', `/api/v1/deliveries?workspace_id=${ws}&limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    expect(r.status, r.text).toBe(200);
    out.push(...r.body.data);
    cursor = r.body.next_cursor;
  } while (cursor);
  return out;
}

async function allAlerts(api: Api, ws: string): Promise<any[]> {
  const r = await api('GET', `/api/v1/alerts?workspace_id=${ws}&limit=1000`);
  expect(r.status, r.text).toBe(200);
  expect(r.body.next_cursor).toBeNull();
  return r.body.data;
}

const push = (api: Api, samples: { account: string; balance: number; at: number }[]) =>
  api('POST', '/api/v1/balances', { samples });
const nowSec = () => Math.floor(Date.now() / 1000);
const ms = (iso: string) => Date.parse(iso);

function metric(text: string, re: RegExp): number | null {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

// ---------------------------------------------------------------------------------------------------------------
// the real process (kill -9, SIGTERM)

/** Environment for `balancewatch serve` on a fresh data dir (and a fresh PostgreSQL database), removed afterwards. */
async function processEnv(db: DbKind, onTestFinished: (fn: () => void) => void): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bw-rel-'));
  onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
  return {
    BALANCEWATCH_DATA_DIR: dataDir,
    BALANCEWATCH_ADMIN_API_KEY: ADMIN_KEY,
    BALANCEWATCH_SECRET_KEY: SECRET_KEY,
    BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true',
    BALANCEWATCH_RETRY_BASE: '200ms',
    BALANCEWATCH_RETRY_MAX: '1s',
    LOG_LEVEL: process.env.BW_TEST_LOG ?? 'warn',
    ...(db === 'postgres' ? { DATABASE_URL: await freshPostgresUrl() } : {}),
  };
}

beforeAll(() => requireBuild());
afterAll(() => killAll()); // safety net: every test also stops its own processes

// kill -9 recovery waits for the killed process's delivery leases to expire (60 s), so these run alongside the
// other suites rather than before them.
describe.concurrent.each(databases())('kill -9 on %s', (db: DbKind) => {
  it('kill -9 right after an acknowledged batch loses no notification', async ({ expect, onTestFinished }) => {
    const N = 20;
    let down = true;
    const rx = await new Rx().start();
    onTestFinished(() => rx.close());
    rx.respond = () => (down ? { status: 503, body: 'receiver down for maintenance' } : { status: 200, body: 'ok' });
    const env = await processEnv(db, onTestFinished);
    let proc: ServeProcess = await startServe(env);
    onTestFinished(() => proc.kill()); // whichever process `proc` is by then
    let api = apiFor(proc.url);
    const s = await setUp(api, rx.url, N);
    const t0 = nowSec() - 60;
    const healthy = await push(
      api,
      s.accounts.map((account) => ({ account, balance: 50, at: t0 })),
    );
    expect(healthy.status, healthy.text).toBe(200);
    expect(healthy.body.notifications_queued).toBe(0);

    const low = await push(
      api,
      s.accounts.map((account) => ({ account, balance: 12, at: t0 + 1 })),
    );
    proc.child.kill('SIGKILL'); // at once, before anything else: the 200 is the only promise we were given
    expect(low.status, low.text).toBe(200);
    expect(low.body.notifications_queued).toBe(N);
    expect((await proc.exited()).signal).toBe('SIGKILL');
    const sentBeforeKill = rx.hits.length;

    proc = await startServe(env); // the same data dir / database
    api = apiFor(proc.url);
    const restartedAt = Date.now();

    // Every acknowledged crossing is an alert, and its notification is in the outbox under the stable key.
    const alerts = await allAlerts(api, s.ws);
    expect(alerts).toHaveLength(N);
    expect(alerts.every((a) => a.state === 'firing' && a.level === 'warning' && a.episode === 1)).toBe(true);
    const expected = new Set(alerts.map((a) => idempotencyKey(a.id, a.episode, 'balance.low', 'warning')));
    const queued = await allDeliveries(api, s.ws);
    expect(new Set(queued.map((d) => d.idempotency_key))).toEqual(expected);

    // Keep the receiver down until every delivery has a recorded 503 (deliveries the killed process had claimed
    // come back when its lease expires), then bring it up.
    await until(
      () => `every delivery to record a 503 (${rx.hits.length} requests so far)`,
      80_000,
      async () => (await allDeliveries(api, s.ws)).every((d) => d.attempt_log.some((a: any) => a.status_code === 503)),
      250,
    );
    const allFailedOnceAfter = Date.now() - restartedAt;
    down = false;
    await until(
      () => `all ${N} keys accepted (have ${rx.accepted().size})`,
      20_000,
      () => rx.accepted().size >= N,
    );
    const deliveries = await until('all deliveries to be recorded as delivered', 10_000, async () => {
      const d = await allDeliveries(api, s.ws);
      return d.every((x) => x.status === 'delivered') ? d : null;
    });

    const accepted = rx.accepted();
    const dupes = [...accepted.entries()].filter(([, n]) => n > 1);
    console.info(
      `[kill -9 on ${db}] requests before the kill: ${sentBeforeKill}; every delivery had a recorded 503 ` +
        `${allFailedOnceAfter} ms after the restart; ${rx.hits.length} requests in all; keys accepted twice: ${dupes.length}`,
    );
    expect(new Set(accepted.keys())).toEqual(expected);
    // The kill happened while the receiver answered 503, so no accepted send was interrupted: a key accepted twice
    // would be a duplicate without a crash.
    expect(dupes).toEqual([]);
    for (const d of deliveries) {
      const log = d.attempt_log as any[];
      expect(log.length).toBeGreaterThanOrEqual(2);
      expect(d.attempts).toBe(log.length);
      expect(log[log.length - 1]).toMatchObject({ status_code: 200, outcome: 'delivered', error: null });
      for (const a of log.slice(0, -1))
        expect(a).toMatchObject({ status_code: 503, outcome: 'retry', response: 'receiver down for maintenance' });
      for (let i = 1; i < log.length; i++) expect(ms(log[i].at)).toBeGreaterThan(ms(log[i - 1].at));
      expect(d.last_status_code).toBe(200);
      expect(d.last_error).toBeNull();
    }
    // Nothing more goes out once everything is delivered.
    const total = rx.hits.length;
    await sleep(700);
    expect(rx.hits.length).toBe(total);
  }, 120_000);
});

describe.concurrent('alongside the kill -9 runs', () => {
  describe.sequential.each(databases())('graceful SIGTERM on %s', (db: DbKind) => {
    it('SIGTERM while a send is in flight: finishes the send, exits 0, and the restart does not re-send', async ({
      onTestFinished,
    }) => {
      const rx = await new Rx().start();
      onTestFinished(() => rx.close());
      rx.respond = async () => {
        await sleep(1000);
        return { status: 200, body: 'slow ok' };
      };
      const env = await processEnv(db, onTestFinished);
      let proc = await startServe(env);
      onTestFinished(() => proc.kill());
      let api = apiFor(proc.url);
      const s = await setUp(api, rx.url, 1);
      const r = await push(api, [{ account: s.accounts[0]!, balance: 3, at: nowSec() - 5 }]);
      expect(r.status, r.text).toBe(200);
      expect(r.body.notifications_queued).toBe(1);
      await until('the send to reach the receiver', 5000, () => rx.hits.length === 1, 10);

      const termAt = Date.now();
      proc.signal('SIGTERM');
      const exit = await proc.exited(10_000);
      const took = Date.now() - termAt;
      expect(exit, proc.output()).toEqual({ code: 0, signal: null });
      expect(took).toBeLessThan(5000);
      expect(rx.hits[0]!.status).toBe(200); // the answer was read, not cut off

      proc = await startServe(env);
      api = apiFor(proc.url);
      const [d, ...rest] = await allDeliveries(api, s.ws);
      expect(rest).toEqual([]);
      expect(d).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 200 });
      expect(d.attempt_log).toHaveLength(1);
      expect(d.attempt_log[0]).toMatchObject({ status_code: 200, outcome: 'delivered', response: 'slow ok' });
      await sleep(1200); // a couple of dispatcher polls: a re-send would happen now
      expect(rx.hits).toHaveLength(1);
      console.info(
        `[SIGTERM on ${db}] exited 0 ${took} ms after SIGTERM with a 1 s send in flight; not re-sent after restart`,
      );

      // and an idle process stops quickly too
      const idleAt = Date.now();
      proc.signal('SIGTERM');
      expect(await proc.exited(5000)).toEqual({ code: 0, signal: null });
      expect(Date.now() - idleAt).toBeLessThan(3000);
    }, 40_000);
  });

  // retries, Retry-After, dead-letter (in-process)
  describe.sequential.each(databases())('delivery retries on %s', (db: DbKind) => {
    let svc: Running | undefined;
    let rx: Rx | undefined;
    afterEach(async () => {
      await svc?.close();
      await rx?.close();
      svc = undefined;
      rx = undefined;
    });

    it('backs off exponentially through an outage, honours Retry-After, then delivers', async () => {
      const BASE = 200;
      const POLL = 500; // the dispatcher's poll interval: a retry is picked up on the first poll after it is due
      svc = await startService(db, { BALANCEWATCH_RETRY_BASE: `${BASE}ms`, BALANCEWATCH_RETRY_MAX: '10s' });
      const api = inProcess(svc);
      rx = await new Rx().start();
      const failures = 4;
      const seen = new Map<string, number>();
      rx.respond = (h) => {
        const n = seen.get(h.key) ?? 0;
        seen.set(h.key, n + 1);
        if (h.account === 'acc-0')
          return n < failures ? { status: 503, body: 'outage' } : { status: 200, body: 'back' };
        return n === 0
          ? { status: 429, body: 'slow down', headers: { 'retry-after': '2' } }
          : { status: 200, body: 'thanks' };
      };
      const s = await setUp(api, rx.url, 2);
      const r = await push(
        api,
        s.accounts.map((account) => ({ account, balance: 8, at: nowSec() - 10 })),
      );
      expect(r.body.notifications_queued).toBe(2);

      const deliveries = await until('both deliveries to be delivered', 20_000, async () => {
        const d = await allDeliveries(api, s.ws);
        return d.length === 2 && d.every((x) => x.status === 'delivered') ? d : null;
      });
      const byAccount = (id: string) => deliveries.find((d) => d.account_id === id)!;

      // Outage: 4 × 503 then 200, each wait at least half the exponential step (equal jitter) and at most the step
      // plus one poll interval (and some slack for a loaded machine).
      const outage = byAccount(s.accounts[0]!);
      const log = outage.attempt_log as any[];
      expect(log.map((a) => [a.status_code, a.outcome])).toEqual([
        ...Array(failures).fill([503, 'retry']),
        [200, 'delivered'],
      ]);
      const hits = rx.hits.filter((h) => h.account === 'acc-0');
      expect(hits).toHaveLength(failures + 1);
      const gaps = hits.slice(1).map((h, i) => h.at - hits[i]!.at);
      console.info(`[backoff on ${db}] gaps between attempts: ${gaps.join(', ')} ms`);
      gaps.forEach((g, i) => {
        const step = BASE * 2 ** i;
        expect(g, `gap ${i + 1}`).toBeGreaterThanOrEqual(step / 2 - 20);
        expect(g, `gap ${i + 1}`).toBeLessThanOrEqual(step + POLL + 400);
      });
      expect(gaps[gaps.length - 1]!).toBeGreaterThan(gaps[0]!);
      expect(gaps[gaps.length - 1]!).toBeGreaterThan(gaps[1]!);

      // Retry-After: 2 (far more than the 100–200 ms first backoff step) is honoured.
      const limited = byAccount(s.accounts[1]!);
      expect((limited.attempt_log as any[]).map((a) => [a.status_code, a.outcome])).toEqual([
        [429, 'retry'],
        [200, 'delivered'],
      ]);
      const rl = rx.hits.filter((h) => h.account === 'acc-1');
      expect(rl).toHaveLength(2);
      const wait = rl[1]!.at - rl[0]!.at;
      console.info(`[Retry-After on ${db}] second attempt ${wait} ms after the 429`);
      expect(wait).toBeGreaterThanOrEqual(1950);
      expect(wait).toBeLessThan(2000 + POLL + 600);
      expect(new Set(rx.hits.map((h) => h.key)).size).toBe(2); // same key on every retry
    }, 30_000);

    it('dead-letters after the give-up age (retryable errors) and at once on a 4xx, visibly', async () => {
      svc = await startService(db, { BALANCEWATCH_DELIVERY_GIVE_UP: '3s' });
      const api = inProcess(svc);
      rx = await new Rx().start();
      rx.respond = (h) =>
        h.account === 'acc-0' ? { status: 500, body: 'internal error' } : { status: 404, body: 'no such hook' };
      const s = await setUp(api, rx.url, 2);
      const r = await push(
        api,
        s.accounts.map((account) => ({ account, balance: 8, at: nowSec() - 10 })),
      );
      expect(r.body.notifications_queued).toBe(2);

      // 404: a configuration problem, dead at once with one attempt.
      const gone = await until('the 404 delivery to be dead', 5000, async () => {
        const d = (await allDeliveries(api, s.ws)).find((x) => x.account_id === s.accounts[1]);
        return d?.status === 'dead' ? d : null;
      });
      expect(gone).toMatchObject({
        attempts: 1,
        last_status_code: 404,
        last_response: 'no such hook',
        next_attempt_at: null,
      });
      expect(gone.last_error).toMatch(/refused the notification with HTTP 404/);
      expect(gone.attempt_log).toHaveLength(1);
      expect(gone.attempt_log[0]).toMatchObject({ status_code: 404, outcome: 'dead' });

      // 500: retried until the give-up age, the last try at that moment, then dead.
      const dead = await until('the 500 delivery to be dead', 8000, async () => {
        const d = (await allDeliveries(api, s.ws)).find((x) => x.account_id === s.accounts[0]);
        return d?.status === 'dead' ? d : null;
      });
      const log = dead.attempt_log as any[];
      expect(log.length).toBeGreaterThanOrEqual(3);
      expect(dead.attempts).toBe(log.length);
      expect(log.slice(0, -1).every((a) => a.status_code === 500 && a.outcome === 'retry')).toBe(true);
      expect(log[log.length - 1]).toMatchObject({ status_code: 500, outcome: 'dead' });
      expect(ms(log[log.length - 1].at)).toBeGreaterThanOrEqual(ms(dead.created_at) + 3000 - 5);
      expect(ms(log[log.length - 1].at)).toBeLessThan(ms(dead.created_at) + 3000 + 1500);
      expect(dead).toMatchObject({ last_status_code: 500, last_response: 'internal error', next_attempt_at: null });
      expect(dead.last_error).toMatch(/HTTP 500/);
      expect(rx.hits.filter((h) => h.account === 'acc-0')).toHaveLength(log.length);
      expect(rx.hits.filter((h) => h.account === 'acc-1')).toHaveLength(1); // the 404 was never retried

      const byStatus = await api('GET', `/api/v1/deliveries?workspace_id=${s.ws}&status=dead`);
      expect(byStatus.body.data).toHaveLength(2);

      const m = await fetch(`${svc.url}/metrics`);
      const text = await m.text();
      expect(metric(text, /^balancewatch_deliveries_dead (\d+)$/m)).toBe(2);
      expect(metric(text, /^balancewatch_deliveries_total\{channel_type="webhook",result="dead"\} (\d+)$/m)).toBe(2);
      expect(metric(text, /^balancewatch_deliveries_total\{channel_type="webhook",result="retry"\} (\d+)$/m)).toBe(
        log.length - 1,
      );
      expect(metric(text, /^balancewatch_outbox_depth (\d+)$/m)).toBe(0);
    }, 20_000);

    // Graceful shutdown ends with dispatcher.stop(): it must not resolve while a claim is still running, or the rows
    // claimed are sent after it (in the real process: cut off by the exit, leased for a minute, then sent again).
    it('stopping the dispatcher while it is claiming waits for what it claimed, and results are still recorded', async () => {
      svc = await startService(db);
      const api = inProcess(svc);
      rx = await new Rx().start();
      const s = await setUp(api, rx.url, 1);
      const d = svc.service.dispatcher;
      await d.stop(); // as at the end of a shutdown, with nothing in flight
      const r = await push(api, [{ account: s.accounts[0]!, balance: 8, at: nowSec() - 10 }]);
      expect(r.body.notifications_queued).toBe(1);
      expect(rx.hits).toHaveLength(0); // a stopped dispatcher sends nothing
      d.start(); // claims at once...
      await d.stop(); // ...and stops while that claim is running
      const hitsAtStop = rx.hits.length;
      const [atStop] = await allDeliveries(api, s.ws);
      if (hitsAtStop === 0) expect(atStop).toMatchObject({ status: 'pending', attempts: 0 });
      else expect(atStop).toMatchObject({ status: 'delivered', attempts: 1 }); // sent and recorded before stop() returned
      await sleep(600);
      expect(rx.hits.length, 'a request was sent after stop() had returned').toBe(hitsAtStop);

      d.start(); // as after a restart
      const done = await until('the delivery to be recorded as delivered', 5000, async () => {
        const [x] = await allDeliveries(api, s.ws);
        return x.status === 'delivered' ? x : null;
      });
      expect(done.attempts).toBe(1);
      expect([...rx.accepted().values()]).toEqual([1]);
    });
  });

  // two instances on one PostgreSQL (skipped, like every PostgreSQL suite, when the machine has none)
  const onPostgres = databases().includes('postgres') ? describe.sequential : describe.skip;
  onPostgres('two instances on one PostgreSQL', () => {
    let a: Running;
    let b: Running;
    let rx: Rx;
    let apis: [Api, Api];

    beforeAll(async () => {
      const url = await freshPostgresUrl();
      const env = { DATABASE_URL: url, BALANCEWATCH_SECRET_KEY: SECRET_KEY };
      a = await startService('postgres', env);
      b = await startService('postgres', env);
      apis = [inProcess(a), inProcess(b)];
      rx = await new Rx().start();
      rx.respond = async () => {
        await sleep(50 + Math.random() * 100);
        return { status: 200, body: 'ok' };
      };
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await rx?.close();
    });

    const hitsFor = (ws: string) => rx.hits.filter((h) => h.body?.workspace?.id === ws);
    const acceptedFor = (ws: string) => {
      const m = new Map<string, number>();
      for (const h of hitsFor(ws)) if (h.status === 200) m.set(h.key, (m.get(h.key) ?? 0) + 1);
      return m;
    };

    /** Waits until every delivery of the workspace is delivered and the receiver has answered every request. */
    const settle = async (ws: string, count: number) => {
      const d = await until(
        () => `${count} delivered deliveries (receiver accepted ${acceptedFor(ws).size})`,
        30_000,
        async () => {
          const all = await allDeliveries(apis[0], ws);
          return all.length === count && all.every((x) => x.status === 'delivered') ? all : null;
        },
        100,
      );
      await until('the receiver to answer everything', 5000, () => hitsFor(ws).every((h) => h.status !== undefined));
      await sleep(600); // one more dispatcher poll on each instance: nothing may be sent again
      return d;
    };

    it('alternating concurrent batches: every crossing notified exactly once, episodes consistent', async () => {
      const N = 50;
      const s = await setUp(apis[0], rx.url, N, 'Two instances');
      // per account: ok, warning, critical (escalation), recovered, warning (episode 2), recovered
      const seq = [50, 15, 3, 60, 12, 30];
      const t0 = nowSec() - 100;
      const PER_BATCH = 5;
      let batchNo = 0;
      for (const [step, balance] of seq.entries()) {
        const batches: Promise<{ status: number; text: string }>[] = [];
        for (let i = 0; i < N; i += PER_BATCH) {
          const samples = s.accounts.slice(i, i + PER_BATCH).map((account) => ({ account, balance, at: t0 + step }));
          batches.push(push(apis[batchNo++ % 2]!, samples));
        }
        for (const r of await Promise.all(batches)) expect(r.status, r.text).toBe(200);
      }

      const alerts = await allAlerts(apis[1], s.ws);
      expect(alerts).toHaveLength(N);
      expect(alerts.every((x) => x.state === 'ok' && x.episode === 2 && x.level === null)).toBe(true);
      const expected = new Set(
        alerts.flatMap((x) => [
          idempotencyKey(x.id, 1, 'balance.low', 'warning'),
          idempotencyKey(x.id, 1, 'balance.low', 'critical'),
          idempotencyKey(x.id, 1, 'balance.recovered', null),
          idempotencyKey(x.id, 2, 'balance.low', 'warning'),
          idempotencyKey(x.id, 2, 'balance.recovered', null),
        ]),
      );
      expect(expected.size).toBe(N * 5);
      const deliveries = await settle(s.ws, N * 5);
      expect(new Set(deliveries.map((d) => d.idempotency_key))).toEqual(expected);
      expect(deliveries.every((d) => d.attempts === 1 && d.attempt_log.length === 1)).toBe(true);

      const accepted = acceptedFor(s.ws);
      expect(new Set(accepted.keys())).toEqual(expected);
      expect([...accepted.values()].filter((n) => n > 1)).toEqual([]); // no double sends
      expect(hitsFor(s.ws)).toHaveLength(N * 5);
      // each account's notifications arrive as its episodes happened
      for (const [i] of s.accounts.entries()) {
        const mine = hitsFor(s.ws)
          .filter((h) => h.account === `acc-${i}`)
          .map((h) => [h.body.type, h.body.level, h.body.balance]);
        expect(new Set(mine.map((x) => JSON.stringify(x)))).toEqual(
          new Set(
            [
              ['balance.low', 'warning', 15],
              ['balance.low', 'critical', 3],
              ['balance.recovered', null, 60],
              ['balance.low', 'warning', 12],
              ['balance.recovered', null, 30],
            ].map((x) => JSON.stringify(x)),
          ),
        );
      }
      // both instances did part of the sending (the outbox is shared, claims are exclusive)
      const sent = await Promise.all(
        [a, b].map(async (x) => {
          const text = await (await fetch(`${x.url}/metrics`)).text();
          return (
            metric(text, /^balancewatch_deliveries_total\{channel_type="webhook",result="delivered"\} (\d+)$/m) ?? 0
          );
        }),
      );
      console.info(`[two instances] delivered by instance a/b: ${sent.join(' / ')} (workspaces so far)`);
      expect(sent[0]).toBeGreaterThan(0);
      expect(sent[1]).toBeGreaterThan(0);
    }, 40_000);

    it('out-of-order concurrent batches across instances: one notification per key, alerts match the newest sample', async () => {
      const N = 30;
      const s = await setUp(apis[0], rx.url, N, 'Out of order');
      const seq = [50, 15, 3, 60, 12, 30, 4, 60];
      const t0 = nowSec() - 100;
      // every step of every account at once, alternating instances: the order of commits is up to the databases
      const batches = seq.flatMap((balance, step) =>
        [0, 1, 2].map((part) =>
          s.accounts.filter((_, i) => i % 3 === part).map((account) => ({ account, balance, at: t0 + step })),
        ),
      );
      const results = await Promise.all(batches.map((samples, i) => push(apis[i % 2]!, samples)));
      for (const r of results) expect(r.status, r.text).toBe(200);
      const applied = results.reduce((n, r) => n + r.body.applied, 0);
      const queued = results.reduce((n, r) => n + r.body.notifications_queued, 0);

      const deliveries = await settle(s.ws, queued);
      const accepted = acceptedFor(s.ws);
      expect(new Set(accepted.keys())).toEqual(new Set(deliveries.map((d) => d.idempotency_key)));
      expect([...accepted.values()].filter((n) => n > 1)).toEqual([]);
      expect(hitsFor(s.ws)).toHaveLength(queued);

      const alerts = await allAlerts(apis[1], s.ws);
      for (const acc of s.accounts) {
        const account = await apis[0]('GET', `/api/v1/accounts/${acc}`);
        expect(account.body.balance).toBe(60); // the newest sample always wins
        const alert = alerts.find((x) => x.account_id === acc);
        const mine = deliveries.filter((d) => d.account_id === acc);
        if (!alert) {
          expect(mine).toEqual([]);
          continue;
        }
        expect(alert.state).toBe('ok');
        // episodes 1..E each fired (at some level) and recovered exactly once; nothing else was sent. Samples that
        // lose the race are stale, so an episode may go critical → (partial recovery) warning → critical again:
        // that re-escalation notifies again under its own sequence number (threshold.ts), hence seq > 0.
        const valid = new Map<string, string>();
        for (let e = 1; e <= alert.episode; e++) {
          for (const l of ['warning', 'critical'] as const) {
            valid.set(idempotencyKey(alert.id, e, 'balance.low', l), `low ${e}`);
            for (let n = 1; n < seq.length; n++)
              valid.set(idempotencyKey(alert.id, e, 'balance.low', l, n), `re-escalation ${e}`);
          }
          valid.set(idempotencyKey(alert.id, e, 'balance.recovered', null), `recovered ${e}`);
        }
        const kinds = mine.map((d) => valid.get(d.idempotency_key) ?? `unexpected ${d.event} ${d.level}`);
        for (let e = 1; e <= alert.episode; e++) {
          expect(kinds).toContain(`low ${e}`);
          expect(kinds.filter((k) => k === `recovered ${e}`)).toHaveLength(1);
        }
        expect(kinds.filter((k) => k.startsWith('unexpected'))).toEqual([]);
      }
      console.info(
        `[two instances, out of order] ${batches.length} batches, ${applied} samples applied, ${queued} notifications`,
      );
    }, 40_000);

    it('the same samples sent to both instances at once: exactly one notification each', async () => {
      const N = 50;
      const s = await setUp(apis[0], rx.url, N, 'Same samples');
      const t0 = nowSec() - 100;
      const healthy = s.accounts.map((account) => ({ account, balance: 50, at: t0 }));
      for (const r of await Promise.all([push(apis[0], healthy), push(apis[1], healthy)]))
        expect(r.status, r.text).toBe(200);
      const lows = s.accounts.map((account) => ({ account, balance: 4, at: t0 + 1 }));
      const rs = await Promise.all([0, 1, 0, 1].map((i) => push(apis[i]!, lows)));
      for (const r of rs) expect(r.status, r.text).toBe(200);
      expect(rs.reduce((n, r) => n + r.body.applied, 0)).toBe(N);
      expect(rs.reduce((n, r) => n + r.body.notifications_queued, 0)).toBe(N);

      const deliveries = await settle(s.ws, N);
      const alerts = await allAlerts(apis[1], s.ws);
      expect(alerts).toHaveLength(N);
      expect(alerts.every((x) => x.state === 'firing' && x.level === 'critical' && x.episode === 1)).toBe(true);
      const expected = new Set(alerts.map((x) => idempotencyKey(x.id, 1, 'balance.low', 'critical')));
      expect(new Set(deliveries.map((d) => d.idempotency_key))).toEqual(expected);
      const accepted = acceptedFor(s.ws);
      expect(new Set(accepted.keys())).toEqual(expected);
      expect([...accepted.values()].filter((n) => n > 1)).toEqual([]);
      expect(hitsFor(s.ws)).toHaveLength(N);
    }, 30_000);
  });
});
