import type { Kysely } from 'kysely';

// Deliveries of one alert to one channel go out in order (engine/delivery-order.ts): the dispatcher looks up the
// other pending deliveries of the alerts it claims, by alert and channel.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('deliveries_alert_channel').on('deliveries').columns(['alert_id', 'channel_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('deliveries_alert_channel').ifExists().execute();
}
