import { type Kysely, sql } from 'kysely';

// The dashboard (issue #6): users who log in with an e-mail and a password, their roles in workspaces, login
// sessions (cookie) and invitations. Instance admins (is_admin) act on every workspace; other users only on the
// workspaces they are members of, as `admin` or `viewer`. Session ids and invite tokens are random and stored as
// their SHA-256 only. Channels get a `system` flag for the per-workspace "e-mail the workspace's admins" channel
// that balancewatch keeps in sync with the admin members (engine/admin-email.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // Lower-cased when stored: one account per address, whatever the case it is typed in.
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text')
    // scrypt (security/passwords.ts); null until an invited user accepts and chooses a password.
    .addColumn('password_hash', 'text')
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_login_at', 'bigint')
    .execute();

  await db.schema
    .createTable('memberships')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('memberships_pk', ['user_id', 'workspace_id'])
    .execute();
  await db.schema.createIndex('memberships_workspace').on('memberships').columns(['workspace_id', 'role']).execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
  await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();

  await db.schema
    .createTable('invites')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('accepted_at', 'bigint')
    .execute();
  await db.schema.createIndex('invites_workspace').on('invites').columns(['workspace_id', 'user_id']).execute();
  await db.schema.createIndex('invites_user').on('invites').column('user_id').execute();

  await db.schema.alterTable('channels').addColumn('system', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  // At most one system channel per workspace (two instances syncing at once cannot create a second).
  await db.schema
    .createIndex('channels_system_workspace')
    .unique()
    .on('channels')
    .column('workspace_id')
    .where(sql<boolean>`system = 1`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('channels_system_workspace').ifExists().execute();
  await db.schema.alterTable('channels').dropColumn('system').execute();
  for (const t of ['invites', 'sessions', 'memberships', 'users']) await db.schema.dropTable(t).ifExists().execute();
}
