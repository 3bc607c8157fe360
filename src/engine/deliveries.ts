import type { Kysely } from 'kysely';
import type { Notification } from '../domain/alert-state.js';
import { type EventType, type Level, severity } from '../domain/events.js';
import { idempotencyKey } from '../domain/idempotency.js';
import { newId } from '../domain/ids.js';
import { channelRegistry } from '../channels/registry.js';
import type { NotificationPayload } from '../channels/types.js';
import type { ChannelsTable, Database, DeliveriesTable } from '../store/schema.js';

// Turning a committed notification into outbox rows: one per matching channel, keyed so that the same
// notification can never be queued twice for one channel (unique channel_id + idempotency_key).

export type ChannelRow = Pick<ChannelsTable, 'id' | 'workspace_id' | 'type' | 'events' | 'min_level' | 'account_ids' | 'enabled'>;

/** The firing event each recovery ends. */
const FIRING_EVENT_OF: Partial<Record<string, EventType>> = {
  'balance.recovered': 'balance.low',
  'balance.runway_recovered': 'balance.runway_low',
  'source.recovered': 'source.failing',
};

const closesIncidents = (type: string) => channelRegistry.get(type)?.closesIncidents === true;

/**
 * Whether a notification goes to a channel. `quiet` ends of alerts go only to channels that open incidents; those
 * also get the end of any alert whose firing event they take, whatever their `events` say of recoveries.
 */
export function channelMatches(ch: ChannelRow, event: string, routeLevel: Level | null, accountId: string | null, quiet = false): boolean {
  if (!ch.enabled) return false;
  const incidents = closesIncidents(ch.type);
  if (quiet && !incidents) return false;
  if (ch.events) {
    const events = JSON.parse(ch.events) as string[];
    const firing = incidents ? (FIRING_EVENT_OF[event] ?? (quiet ? event : undefined)) : undefined;
    if (!events.includes(event) && !(firing && events.includes(firing))) return false;
  }
  if (ch.min_level && routeLevel && severity(routeLevel) < severity(ch.min_level as Level)) return false;
  if (ch.account_ids && accountId) {
    const ids = JSON.parse(ch.account_ids) as string[];
    if (!ids.includes(accountId)) return false;
  }
  return true;
}

export function deliveryRows(
  alertId: string,
  accountId: string,
  n: Notification,
  payload: NotificationPayload,
  channels: readonly ChannelRow[],
  now: number,
): DeliveriesTable[] {
  const key = idempotencyKey(alertId, n.episode, n.event, n.level, n.reminder);
  const body = JSON.stringify(payload);
  return channels
    .filter((ch) => channelMatches(ch, n.event, n.routeLevel, accountId, n.quiet))
    .map((ch) => ({
      id: newId('dl'),
      workspace_id: ch.workspace_id,
      channel_id: ch.id,
      account_id: accountId,
      alert_id: alertId,
      event: n.event,
      level: n.level,
      episode: n.episode,
      idempotency_key: key,
      payload: body,
      status: 'pending',
      deferred: n.deferred ? 1 : 0,
      attempts: 0,
      next_attempt_at: n.dueAt,
      lease_owner: null,
      lease_until: null,
      last_status_code: null,
      last_error: null,
      last_response: null,
      created_at: now,
      updated_at: now,
      delivered_at: null,
    }));
}

export async function insertDeliveries(db: Kysely<Database>, rows: DeliveriesTable[]): Promise<number> {
  let inserted = 0;
  for (let i = 0; i < rows.length; i += 500) {
    const res = await db
      .insertInto('deliveries')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.columns(['channel_id', 'idempotency_key']).doNothing())
      .executeTakeFirst();
    inserted += Number(res.numInsertedOrUpdatedRows ?? 0);
  }
  return inserted;
}
