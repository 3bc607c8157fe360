import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { decodeConfig, encodeConfig } from '../channels/codec.js';
import { type ChannelRegistry, channelRegistry } from '../channels/registry.js';
import { newId } from '../domain/ids.js';
import { applySettingsPatch, DEFAULT_SETTINGS, parseStoredSettings } from '../domain/settings.js';
import { reevaluate } from '../engine/reevaluate.js';
import type { SecretBox } from '../security/secrets.js';
import { newAccountRow, resolveSource } from '../sources/config.js';
import { type SourceRegistry, sourceRegistry } from '../sources/registry.js';
import type { Store } from '../store/db.js';
import { isUniqueViolation } from '../store/errors.js';
import type { AccountsTable, ChannelsTable, Database, WorkspacesTable } from '../store/schema.js';
import type { AccountSpec, ChannelSpec, ConfigSpec, WorkspaceSpec } from './spec.js';

// Applies a validated config file (config/file.ts) to the database in one transaction. Identity: a workspace by
// its external_id (the key in the file unless external_id is given), an account by workspace + external_id, a
// channel by workspace + name. What the file declares is created or brought in line with it and marked managed;
// what it does not declare is left as it is (listed as unmanaged). An object that was managed and has left the
// file is kept too, with its managed mark cleared, so the dashboard lets people edit it again.

type Counts = { created: number; updated: number; unchanged: number };

export interface ApplySummary {
  workspaces: Counts;
  accounts: Counts;
  channels: Counts;
  /** Objects the file does not declare, left as they are ("workspace name", "workspace / account name"). */
  unmanaged: { workspaces: string[]; accounts: string[]; channels: string[] };
  /** Of those, the ones that were managed before (the file no longer declares them): kept, now unmanaged. */
  released: string[];
  /** Deliveries queued by re-evaluating accounts whose rules changed. */
  queued: number;
}

export interface ApplyOptions {
  logger?: Logger;
  sources?: SourceRegistry;
  channels?: ChannelRegistry;
  now?: number;
}

/** Key order does not matter when comparing configs. */
function stable(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

function decodedOrNull(type: { secretFields: readonly string[] } | undefined, stored: string | null, box: SecretBox): Record<string, unknown> | null {
  if (!type || !stored) return null;
  try {
    return decodeConfig(type, stored, box);
  } catch {
    return null; // undecryptable: treated as changed, and overwritten
  }
}

interface Plan {
  summary: ApplySummary;
  reevaluateWorkspaces: string[];
  reevaluateAccounts: string[];
}

export async function applyConfig(store: Store, box: SecretBox, spec: ConfigSpec, opts: ApplyOptions = {}): Promise<ApplySummary> {
  const sources = opts.sources ?? sourceRegistry;
  const channels = opts.channels ?? channelRegistry;
  let plan: Plan | undefined;
  // Two instances starting together on one PostgreSQL may both create the same workspace: the loser retries and
  // then finds it.
  for (let attempt = 1; ; attempt++) {
    try {
      plan = await store.db.transaction().execute((trx) => applyIn(trx, box, spec, sources, channels, opts.now ?? Date.now()));
      break;
    } catch (err) {
      if (attempt >= 3 || !isUniqueViolation(err)) throw err;
    }
  }
  const { summary } = plan;
  const now = Date.now();
  for (const id of plan.reevaluateWorkspaces) summary.queued += await reevaluate(store.db, store.dialect, { workspaceId: id }, now);
  if (plan.reevaluateAccounts.length > 0) summary.queued += await reevaluate(store.db, store.dialect, { ids: plan.reevaluateAccounts }, now);

  const log = opts.logger;
  if (log) {
    const c = (k: 'workspaces' | 'accounts' | 'channels') => `${summary[k].created} created, ${summary[k].updated} updated, ${summary[k].unchanged} unchanged`;
    log.info(
      { file: spec.file, workspaces: summary.workspaces, accounts: summary.accounts, channels: summary.channels },
      `config ${spec.file} applied: workspaces ${c('workspaces')}; accounts ${c('accounts')}; channels ${c('channels')}`,
    );
    const u = summary.unmanaged;
    if (u.workspaces.length + u.accounts.length + u.channels.length > 0)
      log.info(
        { workspaces: u.workspaces.slice(0, 50), accounts: u.accounts.slice(0, 50), channels: u.channels.slice(0, 50) },
        `unmanaged (not in ${spec.file}, left as they are): ${u.workspaces.length} workspaces, ${u.accounts.length} accounts, ${u.channels.length} channels`,
      );
    if (summary.released.length > 0)
      log.warn({ objects: summary.released.slice(0, 50) }, `${summary.released.length} objects are no longer in ${spec.file}: kept, now unmanaged (delete them in the dashboard or API if they should go)`);
  }
  return summary;
}

async function applyIn(trx: Kysely<Database>, box: SecretBox, spec: ConfigSpec, sources: SourceRegistry, channels: ChannelRegistry, now: number): Promise<Plan> {
  const counts = (): Counts => ({ created: 0, updated: 0, unchanged: 0 });
  const summary: ApplySummary = {
    workspaces: counts(),
    accounts: counts(),
    channels: counts(),
    unmanaged: { workspaces: [], accounts: [], channels: [] },
    released: [],
    queued: 0,
  };
  const plan: Plan = { summary, reevaluateWorkspaces: [], reevaluateAccounts: [] };
  const release = async (table: 'workspaces' | 'accounts' | 'channels', row: { id: string; managed: number }, label: string) => {
    if (row.managed !== 1) return;
    await trx.updateTable(table).set({ managed: 0 }).where('id', '=', row.id).execute();
    summary.released.push(label);
  };

  const declared = new Set(spec.workspaces.map((w) => w.external_id));
  for (const w of spec.workspaces) {
    const ws = await upsertWorkspace(trx, w, plan, now);
    const accountIds = await upsertAccounts(trx, box, sources, ws, w.accounts, plan, now);
    const kept = await upsertChannels(trx, box, channels, ws, w.channels, accountIds, plan, now);

    for (const a of await trx.selectFrom('accounts').select(['id', 'name', 'external_id', 'managed']).where('workspace_id', '=', ws.id).orderBy('id').execute()) {
      if (a.external_id !== null && accountIds.has(a.external_id)) continue;
      const label = `${w.name} / ${a.name}`;
      summary.unmanaged.accounts.push(label);
      await release('accounts', a, `account ${label}`);
    }
    // The system channel (e-mail to the workspace's admins) is balancewatch's own, neither the file's nor the user's.
    for (const c of await trx.selectFrom('channels').select(['id', 'name', 'managed']).where('workspace_id', '=', ws.id).where('system', '=', 0).orderBy('id').execute()) {
      if (kept.has(c.id)) continue;
      const label = `${w.name} / ${c.name}`;
      summary.unmanaged.channels.push(label);
      await release('channels', c, `channel ${label}`);
    }
  }
  for (const w of await trx.selectFrom('workspaces').select(['id', 'name', 'external_id', 'managed']).orderBy('id').execute()) {
    if (w.external_id !== null && declared.has(w.external_id)) continue;
    summary.unmanaged.workspaces.push(w.name);
    await release('workspaces', w, `workspace ${w.name}`);
  }
  return plan;
}

async function upsertWorkspace(trx: Kysely<Database>, w: WorkspaceSpec, plan: Plan, now: number): Promise<WorkspacesTable> {
  const existing = await trx.selectFrom('workspaces').selectAll().where('external_id', '=', w.external_id).executeTakeFirst();
  const base = existing ? parseStoredSettings(existing.settings) : DEFAULT_SETTINGS;
  // Declared settings are the defaults plus the file's patch (the file is the truth); none declared: keep them.
  const settings = w.notification_settings ? applySettingsPatch(DEFAULT_SETTINGS, w.notification_settings) : base;
  if (!existing) {
    const row: WorkspacesTable = {
      id: newId('ws'),
      name: w.name,
      external_id: w.external_id,
      locale: w.locale,
      time_zone: w.time_zone,
      settings: JSON.stringify(settings),
      managed: 1,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('workspaces').values(row).execute();
    plan.summary.workspaces.created++;
    return row;
  }
  const set: Partial<WorkspacesTable> = {};
  if (existing.name !== w.name) set.name = w.name;
  if (existing.locale !== w.locale) set.locale = w.locale;
  if (existing.time_zone !== w.time_zone) set.time_zone = w.time_zone;
  const settingsChanged = stable(base) !== stable(settings);
  if (settingsChanged) set.settings = JSON.stringify(settings);
  if (existing.managed !== 1) set.managed = 1;
  if (Object.keys(set).length === 0) {
    plan.summary.workspaces.unchanged++;
    return existing;
  }
  set.updated_at = now;
  await trx.updateTable('workspaces').set(set).where('id', '=', existing.id).execute();
  plan.summary.workspaces.updated++;
  if (settingsChanged) plan.reevaluateWorkspaces.push(existing.id);
  return { ...existing, ...set };
}

/** Upserts the workspace's declared accounts; returns external_id → account id. */
async function upsertAccounts(
  trx: Kysely<Database>,
  box: SecretBox,
  sources: SourceRegistry,
  ws: WorkspacesTable,
  specs: AccountSpec[],
  plan: Plan,
  now: number,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  if (specs.length === 0) return ids;
  const existing = new Map<string, AccountsTable>();
  for (const a of await trx.selectFrom('accounts').selectAll().where('workspace_id', '=', ws.id).where('external_id', 'is not', null).execute()) existing.set(a.external_id!, a);
  const settingsChangedForAll = plan.reevaluateWorkspaces.includes(ws.id);
  for (const s of specs) {
    const src = resolveSource(sources, box, s.source, undefined, `${s.key}.source`);
    const rules = json(s.rules);
    const old = existing.get(s.external_id);
    if (!old) {
      const row = newAccountRow(
        newId('acc'),
        {
          workspace_id: ws.id,
          name: s.name,
          external_id: s.external_id,
          currency: s.currency,
          quota_per_unit: s.quota_per_unit,
          rules,
          top_up_url: s.top_up_url,
          managed: 1,
        },
        src,
        now,
      );
      await trx.insertInto('accounts').values(row).execute();
      ids.set(s.external_id, row.id);
      plan.summary.accounts.created++;
      continue;
    }
    ids.set(s.external_id, old.id);
    const set: Partial<AccountsTable> = {};
    if (old.name !== s.name) set.name = s.name;
    if (old.currency !== s.currency) set.currency = s.currency;
    if (old.quota_per_unit !== s.quota_per_unit) set.quota_per_unit = s.quota_per_unit;
    if (old.top_up_url !== s.top_up_url) set.top_up_url = s.top_up_url;
    const rulesChanged = stable(old.rules ? JSON.parse(old.rules) : null) !== stable(s.rules);
    if (rulesChanged) set.rules = rules;
    const type = sources.get(src.source_type);
    const sourceChanged =
      old.source_type !== src.source_type ||
      old.poll_interval_ms !== src.poll_interval_ms ||
      old.expected_every_ms !== src.expected_every_ms ||
      (src.source_config !== null && stable(decodedOrNull(type, old.source_config, box)) !== stable(decodedOrNull(type, src.source_config, box)));
    if (sourceChanged) {
      // Secrets are encrypted again; a changed source is read right away, with a clean failure count.
      Object.assign(set, src, { next_poll_at: src.source_type === 'push' ? null : now, poll_failures: 0, last_poll_error: null });
    }
    if (old.managed !== 1) set.managed = 1;
    if (Object.keys(set).length === 0) {
      plan.summary.accounts.unchanged++;
      continue;
    }
    set.updated_at = now;
    await trx.updateTable('accounts').set(set).where('id', '=', old.id).execute();
    plan.summary.accounts.updated++;
    if (rulesChanged && !settingsChangedForAll) plan.reevaluateAccounts.push(old.id);
  }
  return ids;
}

async function upsertChannels(
  trx: Kysely<Database>,
  box: SecretBox,
  registry: ChannelRegistry,
  ws: WorkspacesTable,
  specs: ChannelSpec[],
  accountIds: Map<string, string>,
  plan: Plan,
  now: number,
): Promise<Set<string>> {
  /** Ids of the channels the file declares (a second channel with the same name stays unmanaged). */
  const kept = new Set<string>();
  if (specs.length === 0) return kept;
  // By name; when several share one, the managed one (then the oldest) is the file's.
  const rows = await trx
    .selectFrom('channels')
    .selectAll()
    .where('workspace_id', '=', ws.id)
    .where('system', '=', 0) // never the system channel (engine/admin-email.ts), whatever its name
    .orderBy('managed', 'desc')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const byName = new Map<string, ChannelsTable>();
  for (const r of rows) if (!byName.has(r.name)) byName.set(r.name, r);
  for (const s of specs) {
    const type = registry.get(s.type)!;
    const accountIdList = s.accounts ? s.accounts.map((ext) => accountIds.get(ext)!).filter(Boolean) : null;
    const wanted = {
      events: json(s.events),
      min_level: s.min_level,
      account_ids: json(accountIdList),
      enabled: s.enabled ? 1 : 0,
      template: json(s.template),
    };
    const old = byName.get(s.name);
    if (!old) {
      const row: ChannelsTable = {
        id: newId('ch'),
        workspace_id: ws.id,
        name: s.name,
        type: type.type,
        config: encodeConfig(type, s.fields, box),
        ...wanted,
        managed: 1,
        created_at: now,
        updated_at: now,
      };
      await trx.insertInto('channels').values(row).execute();
      kept.add(row.id);
      plan.summary.channels.created++;
      continue;
    }
    kept.add(old.id);
    const set: Partial<ChannelsTable> = {};
    if (old.type !== type.type || stable(decodedOrNull(registry.get(old.type), old.config, box)) !== stable(s.fields)) {
      set.type = type.type;
      set.config = encodeConfig(type, s.fields, box);
    }
    if (old.events !== wanted.events) set.events = wanted.events;
    if (old.min_level !== wanted.min_level) set.min_level = wanted.min_level;
    if (old.account_ids !== wanted.account_ids) set.account_ids = wanted.account_ids;
    if (old.enabled !== wanted.enabled) set.enabled = wanted.enabled;
    if (stable(old.template ? JSON.parse(old.template) : null) !== stable(s.template)) set.template = wanted.template;
    if (old.managed !== 1) set.managed = 1;
    if (Object.keys(set).length === 0) {
      plan.summary.channels.unchanged++;
      continue;
    }
    set.updated_at = now;
    await trx.updateTable('channels').set(set).where('id', '=', old.id).execute();
    plan.summary.channels.updated++;
  }
  return kept;
}
