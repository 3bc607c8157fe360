import type { Kysely } from 'kysely';

// Channels (issue #4): a per-channel message template, and each channel's recent sends so the dispatcher keeps
// every service under its rate limit across all instances (channel_rate is locked per channel while deciding).
// Sources (issue #3): the poll schedule and lease of each pulled account, its failure streak and last error, and
// the silence limit of push accounts.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('channels').addColumn('template', 'text').execute();
  await db.schema
    .createTable('channel_rate')
    .addColumn('channel_id', 'text', (c) => c.primaryKey().references('channels.id').onDelete('cascade'))
    // JSON array of send times (epoch ms) within the longest window, oldest first.
    .addColumn('sends', 'text', (c) => c.notNull())
    // The service asked us to wait (429 Retry-After, Discord's X-RateLimit-Reset-After) until this time.
    .addColumn('blocked_until', 'bigint')
    .execute();

  await db.schema.alterTable('accounts').addColumn('poll_interval_ms', 'integer').execute();
  await db.schema.alterTable('accounts').addColumn('next_poll_at', 'bigint').execute();
  await db.schema.alterTable('accounts').addColumn('poll_lease_owner', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('poll_lease_until', 'bigint').execute();
  await db.schema.alterTable('accounts').addColumn('poll_failures', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('accounts').addColumn('last_poll_at', 'bigint').execute();
  // JSON {kind, message, at, status?} of the last failed poll, null after a success.
  await db.schema.alterTable('accounts').addColumn('last_poll_error', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('expected_every_ms', 'bigint').execute();
  // Objects declared in a config file (SPEC §6): updated from the file at every start.
  await db.schema.alterTable('accounts').addColumn('managed', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('channels').addColumn('managed', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('workspaces').addColumn('managed', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('accounts_next_poll').on('accounts').column('next_poll_at').execute();
  // new-api's per-user webhook pointed at /api/v1/hooks/newapi/{token}: the token's SHA-256 finds the account;
  // the optional signing secret is stored encrypted.
  await db.schema.alterTable('accounts').addColumn('hook_token_hash', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('hook_secret', 'text').execute();
  await db.schema.createIndex('accounts_hook_token').unique().on('accounts').column('hook_token_hash').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('accounts_hook_token').ifExists().execute();
  await db.schema.dropIndex('accounts_next_poll').ifExists().execute();
  for (const c of ['hook_token_hash', 'hook_secret']) await db.schema.alterTable('accounts').dropColumn(c).execute();
  for (const c of ['poll_interval_ms', 'next_poll_at', 'poll_lease_owner', 'poll_lease_until', 'poll_failures', 'last_poll_at', 'last_poll_error', 'expected_every_ms', 'managed'])
    await db.schema.alterTable('accounts').dropColumn(c).execute();
  await db.schema.alterTable('channels').dropColumn('managed').execute();
  await db.schema.alterTable('workspaces').dropColumn('managed').execute();
  await db.schema.dropTable('channel_rate').ifExists().execute();
  await db.schema.alterTable('channels').dropColumn('template').execute();
}
