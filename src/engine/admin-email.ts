import type { Kysely } from 'kysely';
import { encodeConfig } from '../channels/codec.js';
import { emailChannel } from '../channels/email.js';
import { newId } from '../domain/ids.js';
import type { SecretBox } from '../security/secrets.js';
import { isUniqueViolation } from '../store/errors.js';
import type { ChannelsTable, Database } from '../store/schema.js';
import { chunk } from './chunk.js';

// E-mail to the workspace's admins, on by default (SPEC §4): every workspace with admin members gets one *system*
// channel (channels.system = 1) of type `email` whose recipients are those members' addresses. Being an ordinary
// channel row, it goes through the same outbox, retries, rate limits, digests, templates and delivery log as any
// other; the API lists it with `system: true` and refuses to edit or delete it (its recipients come from the
// members, its switch is the workspace setting `email_admins`).
//
// - The row exists once the workspace has had an admin member while SMTP was configured; it is never deleted (its
//   deliveries would go with it), only disabled: `enabled` = SMTP configured and at least one recipient.
// - `notification_settings.email_admins` (default true) is read at enqueue time (engine/evaluator.ts), so turning
//   it off needs no sync here.
// - Recipients are admin members who have accepted their invitation (they chose a password, so the address is
//   theirs); pending invitees receive nothing.
// - Kept in sync when members change (routes/members.ts, invites, workspace creation) and, for every workspace,
//   at service start (SMTP may have been configured or removed since).

export const ADMIN_EMAIL_CHANNEL_NAME = 'Workspace admins';
/** The email channel's own limit on recipients. */
export const MAX_ADMIN_RECIPIENTS = 50;

export interface AdminEmailDeps {
  db: Kysely<Database>;
  box: SecretBox;
  /** Whether the instance can send e-mail (SMTP_URL and SMTP_FROM). */
  smtp: boolean;
}

/** The admin members' addresses of each workspace, sorted (at most 50 each). */
async function recipients(db: Kysely<Database>, workspaceIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const ids of chunk([...workspaceIds], 500)) {
    const rows = await db
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select(['memberships.workspace_id', 'users.email'])
      .where('memberships.workspace_id', 'in', ids)
      .where('memberships.role', '=', 'admin')
      .where('users.password_hash', 'is not', null)
      .orderBy('memberships.workspace_id')
      .orderBy('users.email')
      .execute();
    for (const r of rows) {
      const list = out.get(r.workspace_id) ?? [];
      if (list.length < MAX_ADMIN_RECIPIENTS) list.push(r.email);
      out.set(r.workspace_id, list);
    }
  }
  return out;
}

/**
 * Brings the system channel of each workspace in line with its admin members; 'all' = every workspace that has
 * admin members or a system channel. Returns how many channels were created or changed.
 */
export async function syncAdminEmail(d: AdminEmailDeps, workspaceIds: readonly string[] | 'all', now = Date.now()): Promise<number> {
  const { db } = d;
  let ids: string[];
  if (workspaceIds === 'all') {
    const [members, systems] = await Promise.all([
      db.selectFrom('memberships').select('workspace_id').where('role', '=', 'admin').distinct().execute(),
      db.selectFrom('channels').select('workspace_id').where('system', '=', 1).execute(),
    ]);
    ids = [...new Set([...members.map((m) => m.workspace_id), ...systems.map((s) => s.workspace_id)])];
  } else ids = [...new Set(workspaceIds)];
  if (ids.length === 0) return 0;

  const to = await recipients(db, ids);
  let changed = 0;
  for (const part of chunk(ids, 500)) {
    const existing = await db
      .selectFrom('channels')
      .select(['id', 'workspace_id', 'config', 'enabled'])
      .where('system', '=', 1)
      .where('workspace_id', 'in', part)
      .execute();
    const byWs = new Map(existing.map((c) => [c.workspace_id, c]));
    for (const ws of part) {
      const list = to.get(ws) ?? [];
      const enabled = d.smtp && list.length > 0 ? 1 : 0;
      const ch = byWs.get(ws);
      if (!ch) {
        if (!enabled) continue;
        const row: ChannelsTable = {
          id: newId('ch'),
          workspace_id: ws,
          name: ADMIN_EMAIL_CHANNEL_NAME,
          type: emailChannel.type,
          config: encodeConfig(emailChannel, { to: list }, d.box),
          events: null,
          min_level: null,
          account_ids: null,
          enabled,
          template: null,
          managed: 0,
          system: 1,
          created_at: now,
          updated_at: now,
        };
        try {
          await db.insertInto('channels').values(row).execute();
          changed++;
        } catch (err) {
          // Another instance created it at the same moment: its recipients are the same members.
          if (!isUniqueViolation(err)) throw err;
        }
        continue;
      }
      const set: Partial<ChannelsTable> = {};
      // With no recipient left the old list is kept (the channel is disabled): the email schema needs one.
      if (list.length > 0) {
        const config = encodeConfig(emailChannel, { to: list }, d.box);
        if (config !== ch.config) set.config = config;
      }
      if (ch.enabled !== enabled) set.enabled = enabled;
      if (Object.keys(set).length === 0) continue;
      await db
        .updateTable('channels')
        .set({ ...set, updated_at: now })
        .where('id', '=', ch.id)
        .execute();
      changed++;
    }
  }
  return changed;
}
