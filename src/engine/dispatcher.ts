import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AlertState } from '../domain/alert-state.js';
import { newId } from '../domain/ids.js';
import { decodeConfig } from '../channels/codec.js';
import type { ChannelContext, ChannelType, NotificationPayload, OutgoingNotification } from '../channels/types.js';
import type { Metrics } from '../metrics.js';
import type { SecretBox } from '../security/secrets.js';
import type { DialectName } from '../store/db.js';
import type { ChannelsTable, Database, DeliveriesTable } from '../store/schema.js';
import type { TemplateSet } from '../template/custom.js';
import { renderNotification, storedTemplates } from '../template/render.js';
import { parseStoredSettings } from '../domain/settings.js';
import { renderDigest, MAX_DIGEST_ITEMS } from '../template/digest.js';
import type { RetryPolicy } from './backoff.js';
import { blockChannel, reserveSlots } from './channel-rate.js';
import { blockersOf, endsAlert } from './delivery-order.js';
import { type Completion, recordResults, sendSafely } from './delivery-results.js';

// The outbox dispatcher: claims due deliveries with a lease (SKIP LOCKED on PostgreSQL), sends them with bounded
// concurrency, records every attempt, retries with backoff, and dead-letters after the give-up age. A crash
// leaves leases that expire and are claimed again: delivery is at-least-once, deduplicable by idempotency key.

export interface DispatcherDeps {
  db: Kysely<Database>;
  dialect: DialectName;
  channels: ReadonlyMap<string, ChannelType>;
  box: SecretBox;
  ctx: ChannelContext;
  metrics: Metrics;
  logger: Logger;
  retry: RetryPolicy;
  concurrency: number;
  dashboardUrl: string | null;
  /** How long a claimed delivery stays ours; must exceed the outbound timeout. */
  leaseMs?: number;
  pollMs?: number;
}

type LoadedChannel = ChannelsTable & { decoded: Record<string, unknown>; templates: TemplateSet | null; workspaceTemplates: TemplateSet | null };

export class Dispatcher {
  readonly instanceId = newId('at').replace('at_', 'inst_');
  private readonly inflight = new Set<Promise<void>>();
  /** The send in progress for each delivery id we hold (a follower in delivery order waits for it). */
  private readonly sending = new Map<string, Promise<void>>();
  private readonly completions: Completion[] = [];
  /** Deliveries answered but not yet recorded: true when done for good (sent or suppressed), so followers may go. */
  private readonly answered = new Map<string, boolean>();
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private pumpAgain = false;
  /** The running (or last) pump, so stop() can wait for a claim in progress and launch what it claimed. */
  private pumpDone: Promise<void> = Promise.resolve();
  private starting: Promise<void> = Promise.resolve();
  private flushing: Promise<void> | null = null;
  private stopped = true;
  private readonly leaseMs: number;
  private readonly configs = new Map<string, { updated_at: number; stored: string; decoded: Record<string, unknown> }>();

  constructor(private readonly d: DispatcherDeps) {
    this.leaseMs = d.leaseMs ?? 60_000;
  }

  /**
   * `releaseDeadLeases: false` for a short-lived run next to a live `serve` on the same SQLite file (`check`):
   * leases other than ours then belong to a living process.
   */
  start(opts: { releaseDeadLeases?: boolean } = {}): void {
    this.stopped = false;
    this.timer = setInterval(() => this.wake(), this.d.pollMs ?? 500);
    this.timer.unref();
    this.starting = (opts.releaseDeadLeases === false ? Promise.resolve() : this.releaseDeadLeases())
      .catch((err) => this.d.logger.error({ err }, 'could not release leases left by a previous process'))
      .then(() => this.wake());
  }

  /**
   * One process owns a SQLite file, so leases other than ours belong to a process that died (kill -9, power loss):
   * release them at start instead of waiting for them to expire. On PostgreSQL other instances may be alive.
   */
  private async releaseDeadLeases(): Promise<void> {
    if (this.d.dialect !== 'sqlite') return;
    await this.d.db
      .updateTable('deliveries')
      .set({ lease_owner: null, lease_until: null })
      .where('status', '=', 'pending')
      .where('lease_owner', 'is not', null)
      .where('lease_owner', '!=', this.instanceId)
      .execute();
  }

  /** Wakes at `at` (a retry of ours coming due) rather than at the next poll tick. */
  private wakeAt(at: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => this.wake(), Math.max(0, at - Date.now()) + 5);
    t.unref();
  }

  /** Stops claiming; waits for in-flight sends and records their results. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.starting;
    await this.pumpDone; // rows claimed by a pump still running are launched, and so awaited below
    await Promise.allSettled([...this.inflight]);
    await this.flushCompletions();
  }

  /** Called after a commit that queued deliveries, so they go out without waiting for the poll. */
  wake(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumpDone = this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const free = this.d.concurrency - this.inflight.size;
        // Claim in batches: one claim per finished send would cost a database round trip per delivery.
        if (free <= 0 || this.stopped || (this.inflight.size > 0 && free < this.d.concurrency / 4)) break;
        const claimed = await this.claim(free);
        await this.launchAll(await this.inOrder(claimed, true));
        if (claimed.length === free) this.pumpAgain = true;
      } while (this.pumpAgain && !this.stopped);
    } catch (err) {
      this.d.logger.error({ err }, 'dispatcher could not claim deliveries; will retry');
    } finally {
      this.pumping = false;
    }
  }

  private async claim(limit: number): Promise<DeliveriesTable[]> {
    const now = Date.now();
    const { db, dialect } = this.d;
    return db
      .updateTable('deliveries')
      .set({ lease_owner: this.instanceId, lease_until: now + this.leaseMs, updated_at: now })
      .where('id', 'in', (eb) => {
        let q = eb
          .selectFrom('deliveries')
          .select('id')
          .where('status', '=', 'pending')
          .where('next_attempt_at', '<=', now)
          .where((w) => w.or([w('lease_until', 'is', null), w('lease_until', '<', now)]))
          .orderBy('next_attempt_at')
          .limit(limit);
        if (dialect === 'postgres') q = q.forUpdate().skipLocked();
        return q;
      })
      .returningAll()
      .execute();
  }

  private async launchAll(rows: DeliveriesTable[]): Promise<void> {
    if (rows.length === 0) return;
    const channels = await this.loadChannels(rows);
    // Channels of rate-limited services are handled per channel (slots, digest); the rest one by one.
    const limited = new Map<string, DeliveriesTable[]>();
    for (const row of rows) {
      const ch = channels.get(row.channel_id);
      if (ch && this.d.channels.get(ch.type)?.limits?.length) limited.set(ch.id, [...(limited.get(ch.id) ?? []), row]);
      else this.launch(row, ch);
    }
    for (const [id, group] of limited) this.launchLimited(group, channels.get(id)!);
  }

  /**
   * The claimed rows that may go now (delivery-order.ts). One whose earlier delivery we are sending right now
   * follows it as soon as it is done (`mayFollow`); one whose earlier delivery waits elsewhere is put back until
   * just after that one is due.
   */
  private async inOrder(claimed: DeliveriesTable[], mayFollow: boolean): Promise<DeliveriesTable[]> {
    const blocked = await blockersOf(this.d.db, claimed);
    if (blocked.size === 0) return claimed;
    const ready: DeliveriesTable[] = [];
    for (const row of claimed) {
      const before = (blocked.get(row.id) ?? []).filter((b) => this.answered.get(b.id) !== true);
      const local = before.map((b) => this.sending.get(b.id));
      if (before.length === 0) ready.push(row);
      else if (mayFollow && local.every((p) => p !== undefined)) {
        const follow = Promise.all(local).then(async () => {
          if (this.stopped) return []; // its lease runs out (or is released at the next start): sent later
          await this.launchAll(await this.inOrder([row], false));
          return [];
        });
        this.track(follow, [row.id]);
      } else {
        const at = Math.max(Date.now(), ...before.map((b) => b.next_attempt_at)) + 1_000;
        await this.d.db
          .updateTable('deliveries')
          .set({ next_attempt_at: at, lease_owner: null, lease_until: null, updated_at: Date.now() })
          .where('id', '=', row.id)
          .where('lease_owner', '=', this.instanceId)
          .execute();
        this.wakeAt(at);
      }
    }
    return ready;
  }

  /** The claimed rows' channels and their workspaces' templates; configs decrypted once per channel version. */
  private async loadChannels(rows: DeliveriesTable[]): Promise<Map<string, LoadedChannel>> {
    const ids = [...new Set(rows.map((r) => r.channel_id))];
    const out = new Map<string, LoadedChannel>();
    if (ids.length === 0) return out;
    const channels = await this.d.db.selectFrom('channels').selectAll().where('id', 'in', ids).execute();
    const wsIds = [...new Set(channels.map((c) => c.workspace_id))];
    const wsTemplates = new Map<string, TemplateSet | null>();
    for (const w of await this.d.db.selectFrom('workspaces').select(['id', 'settings']).where('id', 'in', wsIds).execute())
      wsTemplates.set(w.id, parseStoredSettings(w.settings).templates);
    for (const ch of channels) {
      const extra = { templates: storedTemplates(ch.template), workspaceTemplates: wsTemplates.get(ch.workspace_id) ?? null };
      const cached = this.configs.get(ch.id);
      if (cached && cached.updated_at === ch.updated_at && cached.stored === ch.config) {
        out.set(ch.id, { ...ch, decoded: cached.decoded, ...extra });
        continue;
      }
      const type = this.d.channels.get(ch.type);
      const decoded = type ? decodeConfig(type, ch.config, this.d.box) : {};
      if (this.configs.size > 10_000) this.configs.clear();
      this.configs.set(ch.id, { updated_at: ch.updated_at, stored: ch.config, decoded });
      out.set(ch.id, { ...ch, decoded, ...extra });
    }
    return out;
  }

  private track(p: Promise<Completion[]>, ids: string[]): void {
    const tracked = p
      .then((cs) => {
        this.completions.push(...cs);
        for (const c of cs) this.answered.set(c.row.id, 'suppressed' in c.result || c.result.ok);
        void this.flushCompletions();
      })
      .catch((err) => this.d.logger.error({ err, delivery: ids[0] }, 'delivery failed unexpectedly; its lease will expire and it will be retried'))
      .finally(() => {
        this.inflight.delete(tracked);
        for (const id of ids) if (this.sending.get(id) === tracked) this.sending.delete(id);
        this.wake();
      });
    this.inflight.add(tracked);
    for (const id of ids) this.sending.set(id, tracked);
  }

  private launch(row: DeliveriesTable, channel: LoadedChannel | undefined): void {
    this.track(
      this.prepare(row, channel).then(async (p) => ('done' in p ? [p.done] : [await this.send(p.row, p.type, channel!, p.n)])),
      [row.id],
    );
  }

  private launchLimited(rows: DeliveriesTable[], channel: LoadedChannel): void {
    this.track(
      this.deliverLimited(rows, channel),
      rows.map((r) => r.id),
    );
  }

  /** Everything short of sending: suppression checks, type lookup, rendering. */
  private async prepare(
    row: DeliveriesTable,
    channel: LoadedChannel | undefined,
  ): Promise<{ done: Completion } | { row: DeliveriesTable; type: ChannelType; n: OutgoingNotification }> {
    const base = { row, startedAt: Date.now(), durationMs: 0, channelType: channel?.type ?? 'unknown' };
    if (!channel) return { done: { ...base, result: { suppressed: 'the channel was deleted' } } };
    if (!channel.enabled) return { done: { ...base, result: { suppressed: 'the channel is disabled' } } };
    if (row.deferred) {
      const why = await this.staleDeferral(row);
      if (why) return { done: { ...base, result: { suppressed: why } } };
    }
    const type = this.d.channels.get(channel.type);
    if (!type) return { done: { ...base, result: { ok: false, retryable: false, error: `unknown channel type "${channel.type}"` } } };
    const payload = JSON.parse(row.payload) as NotificationPayload;
    const n: OutgoingNotification = {
      key: row.idempotency_key,
      payload,
      message: renderNotification(payload, row.idempotency_key, {
        dashboardUrl: this.d.dashboardUrl,
        channelTemplates: channel.templates,
        workspaceTemplates: channel.workspaceTemplates,
        onTemplateError: (p) =>
          this.d.logger.warn({ delivery: row.id, channel: channel.id, template: p.path, error: p.message }, 'a message template failed; the built-in message was sent instead'),
      }),
    };
    return { row, type, n };
  }

  private async send(row: DeliveriesTable, type: ChannelType, channel: LoadedChannel, n: OutgoingNotification): Promise<Completion> {
    const startedAt = Date.now();
    const result = await sendSafely(type, channel.decoded, n, this.d.ctx);
    return { row, startedAt, durationMs: Date.now() - startedAt, result, channelType: channel.type };
  }

  /**
   * A rate-limited channel's claimed rows: as many go out one by one as the service's limit allows now; when more
   * are waiting than slots are free, the last free slot carries a digest of the rest (SPEC §4: merge, never drop);
   * what still does not fit waits for the next free slot.
   */
  private async deliverLimited(rows: DeliveriesTable[], channel: LoadedChannel): Promise<Completion[]> {
    const done: Completion[] = [];
    const ready: Array<{ row: DeliveriesTable; type: ChannelType; n: OutgoingNotification }> = [];
    for (const row of rows) {
      const p = await this.prepare(row, channel);
      if ('done' in p) done.push(p.done);
      else ready.push(p);
    }
    if (ready.length === 0) return done;
    const type = ready[0]!.type;
    const grant = await reserveSlots(this.d.db, this.d.dialect, channel.id, type.limits ?? [], ready.length);
    let singles = ready;
    let digest: typeof ready = [];
    let later: typeof ready = [];
    if (grant.granted < ready.length) {
      const merge = type.mergeable !== false && grant.granted > 0;
      const nSingles = merge ? grant.granted - 1 : grant.granted;
      singles = ready.slice(0, nSingles);
      digest = merge ? ready.slice(nSingles, nSingles + MAX_DIGEST_ITEMS) : [];
      later = ready.slice(nSingles + digest.length);
    }
    if (later.length > 0) await this.postpone(later.map((r) => r.row), grant.freeAt, type);
    const sends: Array<Promise<Completion[]>> = singles.map(async (r) => [await this.send(r.row, r.type, channel, r.n)]);
    if (digest.length === 1) sends.push(this.send(digest[0]!.row, type, channel, digest[0]!.n).then((c) => [c]));
    else if (digest.length > 1) {
      const first = digest[0]!;
      const n: OutgoingNotification = { key: first.n.key, payload: first.n.payload, message: renderDigest(digest.map((r) => r.n.message)) };
      sends.push(this.send(first.row, type, channel, n).then((c) => digest.map((r) => ({ ...c, row: r.row }))));
    }
    for (const cs of await Promise.all(sends)) {
      for (const c of cs) done.push(c);
      const r = cs[0]!.result;
      const pause = 'suppressed' in r ? undefined : r.ok ? r.pauseMs : r.retryAfterMs;
      if (pause !== undefined && pause > 0) await blockChannel(this.d.db, this.d.dialect, channel.id, Date.now() + pause);
    }
    return done;
  }

  /** Rows that must wait for the channel's next free slot: released, due then, no attempt counted. */
  private async postpone(rows: DeliveriesTable[], at: number, type: ChannelType): Promise<void> {
    const limit = (type.limits ?? []).map((l) => `${l.count} per ${l.windowMs >= 60_000 ? `${l.windowMs / 60_000} min` : `${l.windowMs / 1000} s`}`).join(', ');
    await this.d.db
      .updateTable('deliveries')
      .set({
        next_attempt_at: at,
        lease_owner: null,
        lease_until: null,
        last_error: `waiting for a free slot under ${type.label}'s rate limit (${limit}); queued notifications are merged into one message`,
        updated_at: Date.now(),
      })
      .where('id', 'in', rows.map((r) => r.id))
      .where('lease_owner', '=', this.instanceId)
      .execute();
    this.wakeAt(at);
  }

  /** A deferred notification is sent only if its alert is still in the state it announced. */
  private async staleDeferral(row: DeliveriesTable): Promise<string | null> {
    if (!row.alert_id) return null;
    const alert = await this.d.db.selectFrom('alerts').select(['status', 'level', 'episode', 'state']).where('id', '=', row.alert_id).executeTakeFirst();
    if (!alert) return 'the alert no longer exists';
    const state = JSON.parse(alert.state) as AlertState;
    // A resolving event announces "ok"; every other event announces the firing level of its episode.
    const resolving = endsAlert(row);
    const stillFiring = !resolving && state.status === 'firing' && state.episode === row.episode && state.level === row.level;
    const stillOk = resolving && state.status === 'ok' && state.episode === row.episode;
    return stillFiring || stillOk ? null : 'the alert changed state before the anti-spam interval ended';
  }

  private flushCompletions(): Promise<void> {
    if (this.flushing) return this.flushing;
    // With nothing queued the function below would finish synchronously, clearing `flushing` before it is set,
    // and leave it set to a settled promise for good: no later result would ever be recorded.
    if (this.completions.length === 0) return Promise.resolve();
    this.flushing = (async () => {
      try {
        // Let results that finish together share one transaction (a commit per delivery caps throughput).
        if (!this.stopped) await new Promise((r) => setTimeout(r, 5));
        while (this.completions.length > 0) {
          const batch = this.completions.splice(0, this.completions.length);
          try {
            await this.record(batch);
          } finally {
            for (const c of batch) this.answered.delete(c.row.id);
          }
        }
      } catch (err) {
        this.d.logger.error({ err }, 'could not record delivery results; leases will expire and they will be retried');
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  private record(batch: Completion[]): Promise<void> {
    return recordResults(this.d, this.instanceId, batch, (at) => this.wakeAt(at));
  }
}

