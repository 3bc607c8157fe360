import type { Kysely } from 'kysely';
import type { Database, DeliveriesTable } from '../store/schema.js';
import { chunk } from './chunk.js';

// Deliveries of one alert to one channel go out in order: episode by episode, and within an episode the end of the
// alert after its firing notifications. PagerDuty drops a resolve for an incident it has not seen and would then
// keep the incident open for good; "recovered" above "low" in a chat reads wrong. Out-of-order sends happen when
// both are claimed together (a batch holding the crossing and the recovery) or when the earlier one waits for a
// retry. A claimed delivery that has an earlier one still pending waits for it (engine/dispatcher.ts inOrder).

const END_EVENTS = new Set(['balance.recovered', 'balance.runway_recovered', 'source.recovered']);

type Ordered = Pick<DeliveriesTable, 'alert_id' | 'event' | 'level' | 'episode'>;

/** A recovery, or the quiet end of a spend spike (its event with no level). */
export function endsAlert(row: Ordered): boolean {
  return row.alert_id !== null && row.level === null && (END_EVENTS.has(row.event) || row.event === 'spend.spike');
}

/** Whether `a` must reach the channel before `b` (both of one alert). */
function comesBefore(a: Ordered, b: Ordered): boolean {
  if (a.episode !== b.episode) return a.episode < b.episode;
  return !endsAlert(a) && endsAlert(b);
}

export interface Blocker {
  id: string;
  next_attempt_at: number;
}

/** For claimed deliveries that have earlier ones still pending (to the same channel, of the same alert): those. */
export async function blockersOf(db: Kysely<Database>, claimed: readonly DeliveriesTable[]): Promise<Map<string, Blocker[]>> {
  const held = new Map<string, Blocker[]>();
  const withAlert = claimed.filter((r) => r.alert_id !== null);
  if (withAlert.length === 0) return held;
  const pending = new Map<string, Array<Ordered & { id: string; next_attempt_at: number }>>(); // by alert + channel
  for (const alertIds of chunk([...new Set(withAlert.map((r) => r.alert_id!))], 500)) {
    const rows = await db
      .selectFrom('deliveries')
      .select(['id', 'alert_id', 'channel_id', 'event', 'level', 'episode', 'next_attempt_at', 'status', 'deferred'])
      .where('alert_id', 'in', alertIds) // by the alert index; with a backlog, "status = pending" would match it all
      .execute();
    for (const r of rows) {
      // A deferred delivery is sent only if its alert is still in the state it announced; once a later one exists,
      // it will be suppressed rather than sent, so nothing waits for it.
      if (r.status !== 'pending' || r.deferred) continue;
      const key = `${r.alert_id}\0${r.channel_id}`;
      pending.set(key, [...(pending.get(key) ?? []), r]);
    }
  }
  for (const r of withAlert) {
    const earlier = (pending.get(`${r.alert_id}\0${r.channel_id}`) ?? []).filter((p) => p.id !== r.id && comesBefore(p, r));
    if (earlier.length > 0) held.set(r.id, earlier);
  }
  return held;
}
