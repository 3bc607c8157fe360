import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { decodeConfig } from '../channels/codec.js';
import { formatDuration } from '../domain/duration.js';
import { newId } from '../domain/ids.js';
import type { Metrics } from '../metrics.js';
import type { HttpClient } from '../net/types.js';
import type { SecretBox } from '../security/secrets.js';
import type { SourceRegistry } from '../sources/registry.js';
import { type Reading, SourceError, type SourceErrorKind } from '../sources/types.js';
import type { DialectName } from '../store/db.js';
import type { AccountsTable, Database } from '../store/schema.js';
import { type AccountForEval, EVAL_ACCOUNT_COLUMNS, Evaluator } from './evaluator.js';
import { HostLimiter } from './host-limiter.js';
import { IngestError, ingestInTransaction, type SampleIn } from './ingest.js';
import { chunk } from './chunk.js';
import { pollPlan, type PollPlan } from './poll-plan.js';

// The poller (SPEC §5): claims due pulled accounts with a lease (SKIP LOCKED on PostgreSQL, so several instances
// never poll one account at once), polls them with bounded concurrency under a per-host rate limit, feeds each
// balance through the same ingest path as a push, and tracks source health: credentials rejected → source.failing
// at once; other failures after `fail_after` in a row; the next success → source.recovered. A failed poll never
// touches the balance state.

export interface PollerDeps {
  db: Kysely<Database>;
  dialect: DialectName;
  sources: SourceRegistry;
  box: SecretBox;
  http: HttpClient;
  logger: Logger;
  metrics: Metrics;
  /** Called after a commit that queued deliveries. */
  onQueued(): void;
  concurrency: number;
  hosts: HostLimiter;
  timeoutMs: number;
  /** How often to look for due accounts. */
  tickMs?: number;
}

export interface PollAnswer {
  ok: boolean;
  balance?: number | null;
  currency?: string;
  unlimited?: boolean;
  error?: { kind: SourceErrorKind; message: string };
}

type PolledAccount = AccountsTable;

/** A successful poll waiting to be recorded: its sample and its next schedule. */
interface PendingRecord {
  sample: SampleIn;
  id: string;
  polledAt: number;
  nextPollAt: number;
  /** We hold the account's lease (a scheduled poll): recording releases it. */
  held: boolean;
  done(err?: Error): void;
}

/**
 * How long a finished scheduled poll waits for others to share its transaction. At thousands of accounts a commit
 * and a handful of statements per poll are most of the poller's cost; an alert found by a poll is at most this late.
 * A poll someone asked for (POST /poll, `check`) waits only a moment.
 */
const BATCH_WINDOW_MS = 100;
const BATCH_WINDOW_ASKED_MS = 5;
const BATCH_MAX = 500;

export class Poller {
  readonly instanceId = newId('at').replace('at_', 'poll_');
  private timer: NodeJS.Timeout | null = null;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Per-host budgets of sources with their own (stricter) limit, by source type. */
  private readonly typeHosts = new Map<string, HostLimiter>();
  private ticking = false;
  private again = false;
  private readonly pending: PendingRecord[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushDue = 0;
  /** Scheduled polls done but not yet written. */
  private readonly recording = new Set<Promise<unknown>>();
  private stopped = true;

  constructor(private readonly d: PollerDeps) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.tick(), this.d.tickMs ?? 1000);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inflight]);
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      await this.flushPending();
    }
    await Promise.allSettled([...this.recording]);
  }

  /** Looks for due accounts now (an account was created or its source changed). */
  wake(): void {
    if (!this.stopped) void this.tick();
  }

  /** Claims due accounts (up to the free concurrency) and polls them; a finished poll looks for more at once. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    try {
      do {
        this.again = false;
        const free = this.d.concurrency - this.inflight.size;
        // Claim in batches: one claim per finished poll would cost a query per poll.
        if (free <= 0 || (this.inflight.size > 0 && free < this.d.concurrency / 4)) break;
        const claimed = await this.claim(free);
        for (const a of claimed) {
          const p = this.pollClaimed(a)
            .catch((err) => this.d.logger.error({ err, account: a.id }, 'poll failed unexpectedly; it will be retried when its lease expires'))
            .finally(() => {
              this.inflight.delete(p);
              this.wake();
            });
          this.inflight.add(p);
        }
        if (claimed.length < free) break; // nothing more is due now
      } while (this.again && !this.stopped);
    } catch (err) {
      this.d.logger.error({ err }, 'poller could not claim due accounts; will retry');
    } finally {
      this.ticking = false;
    }
  }

  private leaseMs(): number {
    // Longer than a poll can take: two requests at the deadline plus recording.
    return this.d.timeoutMs * 3 + 10_000;
  }

  private async claim(limit: number): Promise<PolledAccount[]> {
    const now = Date.now();
    const { db, dialect } = this.d;
    return db
      .updateTable('accounts')
      .set({ poll_lease_owner: this.instanceId, poll_lease_until: now + this.leaseMs() })
      .where('id', 'in', (eb) => {
        let q = eb
          .selectFrom('accounts')
          .select('id')
          .where('source_type', '!=', 'push')
          .where('next_poll_at', '<=', now)
          .where((w) => w.or([w('poll_lease_until', 'is', null), w('poll_lease_until', '<', now)]))
          .orderBy('next_poll_at')
          .limit(limit);
        if (dialect === 'postgres') q = q.forUpdate().skipLocked();
        return q;
      })
      .returningAll()
      .execute();
  }

  private async pollClaimed(a: PolledAccount): Promise<PollAnswer> {
    return this.pollAccount(a, { held: true });
  }

  /**
   * Polls one account now and records the outcome (sample + alerts, or the failure). `held`: we own its lease
   * (scheduled poll); otherwise (POST /poll, `check`) we poll without one: a concurrent scheduled poll of the same
   * account only means one extra sample.
   */
  async pollAccount(a: PolledAccount, opts: { held: boolean; waitForHost?: boolean } = { held: false }): Promise<PollAnswer> {
    const now = Date.now();
    const type = this.d.sources.get(a.source_type);
    const plan = pollPlan(a);
    if (!type) return this.recordFailure(a, plan, new SourceError('bad_response', `source type "${a.source_type}" is not supported by this version`), opts.held);
    let config: Record<string, unknown>;
    try {
      config = decodeConfig(type, a.source_config ?? '{}', this.d.box);
    } catch {
      return this.recordFailure(a, plan, new SourceError('auth', 'the stored credentials cannot be decrypted: is BALANCEWATCH_SECRET_KEY the key they were saved with?'), opts.held);
    }
    const host = safeHost(() => type.host(config));
    let wait = this.d.hosts.take(host, now);
    if (wait === 0 && type.hostLimit) {
      let own = this.typeHosts.get(type.type);
      if (!own) this.typeHosts.set(type.type, (own = new HostLimiter(type.hostLimit)));
      wait = own.take(host, now);
    }
    if (wait > 0) {
      if (opts.waitForHost) await new Promise((r) => setTimeout(r, wait));
      else {
        // Not a failure of the source: just come back when the host has room.
        await this.release(a, now + wait, opts.held);
        return { ok: false, error: { kind: 'rate_limited', message: `held back by the per-host limit for ${host}; polling again in ${Math.ceil(wait / 1000)} s` } };
      }
    }
    const started = Date.now();
    let reading: Reading;
    try {
      reading = await type.poll(config, { http: this.d.http, now: Date.now, timeoutMs: this.d.timeoutMs }, { currency: a.currency, quota_per_unit: a.quota_per_unit });
      checkReading(reading, type.label);
    } catch (err) {
      const e = err instanceof SourceError ? err : new SourceError('bad_response', `unexpected error reading ${type.label}: ${(err as Error).message}`);
      this.d.metrics.polls.inc({ source_type: a.source_type, result: e.kind });
      this.d.metrics.pollDuration.observe({ source_type: a.source_type }, (Date.now() - started) / 1000);
      return this.recordFailure(a, plan, e, opts.held);
    }
    this.d.metrics.polls.inc({ source_type: a.source_type, result: 'ok' });
    this.d.metrics.pollDuration.observe({ source_type: a.source_type }, (Date.now() - started) / 1000);
    return this.recordSuccess(a, plan, reading, opts.held);
  }

  private async recordSuccess(a: PolledAccount, plan: PollPlan, r: Reading, held: boolean): Promise<PollAnswer> {
    const now = Date.now();
    const { db } = this.d;
    // The provider states its currency: a new account (no balance yet) adopts it; afterwards a change is an error,
    // since mixing currencies in one history would make every figure wrong.
    let currency = a.currency;
    if (r.currency && r.currency !== a.currency) {
      if (a.balance === null) {
        currency = r.currency;
        await db.updateTable('accounts').set({ currency }).where('id', '=', a.id).execute();
      } else {
        const e = new SourceError(
          'bad_response',
          `the provider reports the balance in ${r.currency}, but this account is kept in ${a.currency}: set the account's currency to ${r.currency} (its history restarts) or pick the ${a.currency} balance`,
        );
        return this.recordFailure(a, plan, e, held);
      }
    }
    const nextPollAt = now + plan.nextDelay(0);
    if (r.balance !== null && !r.unlimited) {
      const sample: SampleIn = {
        index: 0,
        account: a.id,
        balance: r.balance,
        at: now,
        ...(r.used !== undefined ? { used: r.used } : {}),
        ...(r.requests !== undefined ? { requests: r.requests } : {}),
        raw: r.raw,
      };
      const recorded = this.recordBatched({ sample, id: a.id, polledAt: now, nextPollAt, held });
      if (held) {
        // A scheduled poll frees its concurrency slot now rather than while it waits for the batch to be written.
        const tracked = recorded
          .catch((err) => this.d.logger.error({ err, account: a.id }, 'could not record a poll; it will be polled again when its lease expires'))
          .finally(() => this.recording.delete(tracked));
        this.recording.add(tracked);
      } else await recorded;
    } else {
      // Nothing to apply (an unlimited key) but the source works: resolve a failing source.
      if ((await this.sourceStatus(a.id, null)) > 0) this.d.onQueued();
      await writeSchedules(db, [{ id: a.id, polledAt: now, nextPollAt, held }]);
    }
    return { ok: true, balance: r.unlimited ? null : r.balance, currency, ...(r.unlimited ? { unlimited: true } : {}) };
  }

  /**
   * Polls that finish close together are recorded together: their samples, alerts and schedules in one
   * transaction with a few bulk statements, instead of several statements and a commit per poll.
   */
  private recordBatched(item: Omit<PendingRecord, 'done'>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ ...item, done: (err) => (err ? reject(err) : resolve()) });
      const window = item.held ? BATCH_WINDOW_MS : BATCH_WINDOW_ASKED_MS;
      if (this.pending.length >= BATCH_MAX) this.flushSoon(0);
      else this.flushSoon(window);
    });
  }

  /** Flushes within `ms` (an earlier deadline wins). */
  private flushSoon(ms: number): void {
    const due = Date.now() + ms;
    if (this.flushTimer && this.flushDue <= due) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushDue = due;
    this.flushTimer = setTimeout(() => void this.flushPending(), ms);
  }

  private async flushPending(): Promise<void> {
    this.flushTimer = null;
    const batch = this.pending.splice(0, this.pending.length);
    if (batch.length === 0) return;
    const { db, dialect } = this.d;
    const now = Date.now();
    const record = (items: PendingRecord[]) =>
      db.transaction().execute(async (trx) => {
        const out = await ingestInTransaction(trx, dialect, items.map((b, index) => ({ ...b.sample, index })), null, now);
        await writeSchedules(trx, items);
        return out.queuedDeliveries;
      });
    let queued = 0;
    try {
      try {
        queued += await record(batch);
      } catch (err) {
        // One account deleted since it was claimed rejects the whole batch (nothing was written): record the
        // others one by one.
        if (!(err instanceof IngestError)) throw err;
        for (const b of batch) {
          queued += await record([b]).catch(async () => {
            await writeSchedules(db, [b]).catch(() => {}); // its schedule at least, or it waits for its lease to expire
            return 0;
          });
        }
      }
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.done(err as Error);
    }
    if (queued > 0) this.d.onQueued();
  }

  private async recordFailure(a: PolledAccount, plan: PollPlan, e: SourceError, held: boolean): Promise<PollAnswer> {
    const now = Date.now();
    const failures = a.poll_failures + 1;
    // Rejected credentials will not fix themselves: alert at once. Other failures may be a blip: N in a row.
    const failing = e.kind === 'auth' || failures >= plan.failAfter;
    let delay = plan.nextDelay(failures);
    if (e.extra.retryAfterMs !== undefined) delay = Math.max(delay, e.extra.retryAfterMs);
    const queued = failing ? await this.sourceStatus(a.id, { kind: e.kind, message: e.message, failures }) : 0;
    await this.d.db
      .updateTable('accounts')
      .set({
        poll_failures: failures,
        last_poll_at: now,
        last_poll_error: JSON.stringify({ kind: e.kind, message: e.message, at: now, ...(e.extra.status ? { status: e.extra.status } : {}) }),
        next_poll_at: now + delay,
        ...(held ? { poll_lease_owner: null, poll_lease_until: null } : {}),
      })
      .where('id', '=', a.id)
      .execute();
    if (queued > 0) this.d.onQueued();
    this.d.logger.warn({ account: a.id, source: a.source_type, kind: e.kind, failures, error: e.message }, 'poll failed');
    return { ok: false, error: { kind: e.kind, message: e.message } };
  }

  private async release(a: PolledAccount, at: number, held: boolean): Promise<void> {
    if (!held) return;
    await this.d.db.updateTable('accounts').set({ next_poll_at: at, poll_lease_owner: null, poll_lease_until: null }).where('id', '=', a.id).execute();
  }

  /** Runs the source.failing rule for one account in its own transaction; returns deliveries queued. */
  private sourceStatus(accountId: string, problem: { kind: string; message: string; failures: number } | null): Promise<number> {
    return applySourceStatus(this.d.db, this.d.dialect, [{ id: accountId, problem }]);
  }
}

/** Evaluates source.failing for accounts (poll failures, push silence) in one transaction. */
export async function applySourceStatus(
  db: Kysely<Database>,
  dialect: DialectName,
  items: Array<{ id: string; problem: { kind: string; message: string; failures: number } | null }>,
  now = Date.now(),
): Promise<number> {
  if (items.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    let q = trx.selectFrom('accounts').select(EVAL_ACCOUNT_COLUMNS).where('id', 'in', items.map((i) => i.id)).orderBy('id');
    if (dialect === 'postgres') q = q.forUpdate();
    const accounts = await q.execute();
    const ev = new Evaluator(trx, now);
    await ev.prepare(accounts as AccountForEval[]);
    const byId = new Map(accounts.map((a) => [a.id, a]));
    for (const i of items) {
      const a = byId.get(i.id);
      if (a) ev.applySourceStatus(a, i.problem);
    }
    return ev.flush();
  });
}

/** A reading must be a finite number (or unlimited): absent is not zero. */
function checkReading(r: Reading, label: string): void {
  if (r.unlimited) return;
  if (typeof r.balance !== 'number' || !Number.isFinite(r.balance) || Math.abs(r.balance) > 1e15)
    throw new SourceError('bad_response', `${label} answered without a usable balance`);
}

function safeHost(f: () => string): string {
  try {
    return f();
  } catch {
    return 'unknown';
  }
}

/** Push accounts silent for longer than their expected_every raise source.failing (SPEC §3.2). */
export async function checkPushSilence(db: Kysely<Database>, dialect: DialectName, now: number): Promise<number> {
  const rows = await db
    .selectFrom('accounts')
    .leftJoin('alerts', (j) => j.onRef('alerts.account_id', '=', 'accounts.id').on('alerts.rule', '=', 'source.failing'))
    .select(['accounts.id', 'accounts.observed_at', 'accounts.created_at', 'accounts.expected_every_ms'])
    .where('accounts.source_type', '=', 'push')
    .where('accounts.expected_every_ms', 'is not', null)
    .where((w) => w.or([w('alerts.status', 'is', null), w('alerts.status', '!=', 'firing')]))
    .where(sql<boolean>`coalesce(accounts.observed_at, accounts.created_at) + accounts.expected_every_ms < ${now}`)
    .limit(500)
    .execute();
  return applySourceStatus(
    db,
    dialect,
    rows.map((r) => {
      const last = r.observed_at ?? r.created_at;
      const what = r.observed_at === null ? 'no balance has been received since the account was created' : `no balance received for ${formatDuration(Math.round((now - last) / 60_000) * 60_000 || 60_000)}`;
      return {
        id: r.id,
        problem: { kind: 'silent', message: `${what}; one is expected at least every ${formatDuration(r.expected_every_ms!)}. Check the job that pushes balances.`, failures: 0 },
      };
    }),
    now,
  );
}

/**
 * A successful poll's bookkeeping for many accounts in one statement: failures reset, the poll time, the next
 * due time, and the lease released where we held it.
 */
async function writeSchedules(db: Kysely<Database>, items: ReadonlyArray<Pick<PendingRecord, 'id' | 'polledAt' | 'nextPollAt' | 'held'>>): Promise<void> {
  for (const part of chunk(items, 300)) {
    const ids = part.map((i) => i.id);
    const whenId = (value: (i: (typeof part)[number]) => number) =>
      sql.join(part.map((i) => sql`WHEN ${i.id} THEN CAST(${value(i)} AS bigint)`), sql` `);
    const held = part.filter((i) => i.held).map((i) => i.id);
    await db
      .updateTable('accounts')
      .set({
        poll_failures: 0,
        last_poll_error: null,
        last_poll_at: sql<number>`CASE id ${whenId((i) => i.polledAt)} END`,
        next_poll_at: sql<number>`CASE id ${whenId((i) => i.nextPollAt)} END`,
        ...(held.length > 0
          ? {
              poll_lease_owner: sql<string | null>`CASE WHEN id IN (${sql.join(held)}) THEN NULL ELSE poll_lease_owner END`,
              poll_lease_until: sql<number | null>`CASE WHEN id IN (${sql.join(held)}) THEN NULL ELSE poll_lease_until END`,
            }
          : {}),
      })
      .where('id', 'in', ids)
      .execute();
  }
}
