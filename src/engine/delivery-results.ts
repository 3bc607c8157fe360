import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ChannelContext, ChannelResult, ChannelType, OutgoingNotification } from '../channels/types.js';
import { newId } from '../domain/ids.js';
import type { Metrics } from '../metrics.js';
import { OutboundError } from '../net/types.js';
import type { Database, DeliveriesTable } from '../store/schema.js';
import { type RetryPolicy, scheduleRetry } from './backoff.js';

// The end of a send: a channel's answer (or a thrown error) as a result, and results written back to the outbox
// (delivered, retry at backoff, dead) with an attempt log entry, in one transaction per batch.

export type Completion = {
  row: DeliveriesTable;
  startedAt: number;
  durationMs: number;
  result: ChannelResult | { suppressed: string };
  channelType: string;
};

/** Writes a batch of results in one transaction; only rows `owner` still holds the lease on are updated. */
export async function recordResults(
  d: { db: Kysely<Database>; metrics: Metrics; logger: Logger; retry: RetryPolicy },
  owner: string,
  batch: Completion[],
  onRetryAt: (at: number) => void,
): Promise<void> {
  const now = Date.now();
  await d.db.transaction().execute(async (trx) => {
    const attempts = [];
    for (const c of batch) {
      const { row, result } = c;
      let update: Partial<DeliveriesTable>;
      let outcome: string;
      if ('suppressed' in result) {
        outcome = 'suppressed';
        update = { status: 'suppressed', last_error: result.suppressed };
      } else if (result.ok) {
        outcome = 'delivered';
        update = {
          status: 'delivered',
          attempts: row.attempts + 1,
          delivered_at: now,
          last_status_code: result.status ?? null,
          last_response: result.response ?? null,
          last_error: null,
        };
        d.metrics.deliveryLatency.observe({ channel_type: c.channelType }, Math.max(0, now - row.next_attempt_at) / 1000);
      } else {
        const next = result.retryable ? scheduleRetry(d.retry, row.created_at, row.attempts + 1, result.retryAfterMs, now, Math.random, c.startedAt) : null;
        outcome = next === null ? 'dead' : 'retry';
        if (next !== null) onRetryAt(next);
        update = {
          status: next === null ? 'dead' : 'pending',
          attempts: row.attempts + 1,
          next_attempt_at: next ?? row.next_attempt_at,
          last_status_code: result.status ?? null,
          last_response: result.response ?? null,
          last_error: result.error,
        };
        if (next === null)
          d.logger.error(
            { delivery: row.id, channel: row.channel_id, event: row.event, error: result.error },
            'delivery gave up (dead-letter)',
          );
      }
      const res = await trx
        .updateTable('deliveries')
        .set({ ...update, lease_owner: null, lease_until: null, updated_at: now })
        .where('id', '=', row.id)
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) continue; // lease lost to another instance: its result wins
      d.metrics.deliveries.inc({ channel_type: c.channelType, result: outcome });
      if (outcome !== 'suppressed' && !('suppressed' in result)) {
        attempts.push({
          id: newId('at'),
          delivery_id: row.id,
          started_at: c.startedAt,
          duration_ms: c.durationMs,
          status_code: result.status ?? null,
          response: result.response ?? null,
          error: result.ok ? null : result.error,
          outcome,
        });
      }
    }
    if (attempts.length > 0) await trx.insertInto('delivery_attempts').values(attempts).execute();
  });
}

/** Calls a channel and turns any thrown error into a result, so one broken integration never stops the loop. */
export async function sendSafely(
  type: ChannelType,
  config: Record<string, unknown>,
  n: OutgoingNotification,
  ctx: ChannelContext,
): Promise<ChannelResult> {
  try {
    return await type.send(config, n, ctx);
  } catch (err) {
    if (err instanceof OutboundError) return { ok: false, retryable: err.kind !== 'blocked' && err.kind !== 'bad_url', error: err.message };
    return { ok: false, retryable: true, error: `unexpected error in the ${type.type} channel: ${(err as Error).message}` };
  }
}
