import { type Kysely, sql } from 'kysely';
import { parseAmount, quotaToBalance } from '../domain/money.js';
import { runRaw, valuesList } from '../store/bulk.js';
import type { DialectName } from '../store/db.js';
import type { AccountsTable, Database, SamplesTable } from '../store/schema.js';
import { mergeUpdates, writeAccountUpdates } from './account-writes.js';
import { type AccountForEval, EVAL_ACCOUNT_COLUMNS, Evaluator } from './evaluator.js';
import { chunk } from './chunk.js';

// Push ingest (SPEC §7.2 POST /balances): resolve every sample's account, store the samples, run the state
// machine for every sample newer than the account's newest, and commit alerts + outbox rows in one transaction.
// A batch is all-or-nothing: one unknown account rejects the whole batch and changes nothing.

export interface SampleIn {
  index: number;
  account: string;
  workspace?: string | undefined;
  balance?: number | undefined;
  quota?: number | undefined;
  at: number;
  used?: number | undefined;
  requests?: number | undefined;
  /** A polled provider's answer, kept with the sample for troubleshooting. */
  raw?: unknown;
}

export interface SampleResult {
  index: number;
  account_id: string;
  /** applied: drove the alert state; stale: older than the newest seen (stored only); duplicate: same time seen. */
  result: 'applied' | 'stale' | 'duplicate';
  balance: number;
  alert: { status: 'ok' | 'firing'; level: string | null } | null;
}

export class IngestError extends Error {
  constructor(
    message: string,
    readonly details: { index: number; field: string; message: string }[],
  ) {
    super(message);
  }
}

type AccountRow = AccountForEval & Pick<AccountsTable, 'quota_per_unit' | 'balance' | 'observed_at'>;
const ACCOUNT_COLS = [...EVAL_ACCOUNT_COLUMNS, 'quota_per_unit'] as const;


/** Resolves `account` (an id, or an external id within `workspace`) for every sample; throws IngestError. */
async function resolveAccounts(
  db: Kysely<Database>,
  samples: readonly SampleIn[],
  scopeWorkspaceId: string | null,
): Promise<AccountRow[]> {
  const problems: IngestError['details'] = [];
  // Workspace references (admin keys may name a workspace by id or external id).
  const wsRefs = [...new Set(samples.map((s) => s.workspace).filter((w): w is string => !!w))];
  const wsByRef = new Map<string, string>();
  for (const refs of chunk(wsRefs, 500)) {
    const rows = await db
      .selectFrom('workspaces')
      .select(['id', 'external_id'])
      .where((eb) => eb.or([eb('id', 'in', refs), eb('external_id', 'in', refs)]))
      .execute();
    for (const r of rows) {
      wsByRef.set(r.id, r.id);
      if (r.external_id) wsByRef.set(r.external_id, r.id);
    }
  }
  // Candidates by id (primary key) and by external id within each workspace (unique index), never a table scan.
  const refs = [...new Set(samples.map((s) => s.account))];
  const byId = new Map<string, AccountRow>();
  const byExternal = new Map<string, AccountRow>(); // key: workspace id + '\0' + external id
  const remember = (r: AccountRow) => {
    byId.set(r.id, r);
    if (r.external_id) byExternal.set(`${r.workspace_id}\0${r.external_id}`, r);
  };
  for (const part of chunk(refs, 500)) {
    let q = db.selectFrom('accounts').select(ACCOUNT_COLS).where('id', 'in', part);
    if (scopeWorkspaceId) q = q.where('workspace_id', '=', scopeWorkspaceId);
    for (const r of await q.execute()) remember(r);
  }
  const externalByWs = new Map<string, Set<string>>();
  for (const s of samples) {
    const ws = s.workspace ? wsByRef.get(s.workspace) : scopeWorkspaceId;
    if (!ws || (scopeWorkspaceId && ws !== scopeWorkspaceId)) continue;
    if (!externalByWs.has(ws)) externalByWs.set(ws, new Set());
    externalByWs.get(ws)!.add(s.account);
  }
  for (const [ws, set] of externalByWs) {
    for (const part of chunk([...set], 500)) {
      const rows = await db.selectFrom('accounts').select(ACCOUNT_COLS).where('workspace_id', '=', ws).where('external_id', 'in', part).execute();
      for (const r of rows) remember(r);
    }
  }
  const out: AccountRow[] = [];
  for (const s of samples) {
    let wsId = scopeWorkspaceId;
    if (s.workspace) {
      const resolved = wsByRef.get(s.workspace);
      if (!resolved || (scopeWorkspaceId && resolved !== scopeWorkspaceId)) {
        problems.push({ index: s.index, field: 'workspace', message: `unknown workspace "${s.workspace}"` });
        continue;
      }
      wsId = resolved;
    }
    let acc: AccountRow | undefined;
    if (wsId) acc = byExternal.get(`${wsId}\0${s.account}`);
    if (!acc) {
      const cand = byId.get(s.account);
      if (cand && (!wsId || cand.workspace_id === wsId)) acc = cand;
    }
    if (!acc) {
      const hint = wsId ? '' : ' (to use an external id, also give "workspace")';
      problems.push({ index: s.index, field: 'account', message: `unknown account "${s.account}"${hint}` });
      continue;
    }
    if (s.balance === undefined && !acc.quota_per_unit) {
      problems.push({
        index: s.index,
        field: 'quota',
        message: `account "${acc.name}" has no quota_per_unit: send "balance", or set quota_per_unit on the account`,
      });
      continue;
    }
    if (s.balance === undefined && parseAmount(quotaToBalance(s.quota!, acc.quota_per_unit!)) === null) {
      problems.push({
        index: s.index,
        field: 'quota',
        message: `quota ${s.quota} / quota_per_unit ${acc.quota_per_unit} is not a balance within ±1e15`,
      });
      continue;
    }
    out.push(acc);
  }
  if (problems.length > 0) {
    const n = problems.length;
    throw new IngestError(`${n} sample${n === 1 ? '' : 's'} could not be accepted; nothing was stored`, problems.slice(0, 100));
  }
  return out;
}

export interface IngestOutcome {
  results: SampleResult[];
  applied: number;
  queuedDeliveries: number;
}

export async function ingestSamples(
  db: Kysely<Database>,
  dialect: DialectName,
  samples: readonly SampleIn[],
  scopeWorkspaceId: string | null,
  now: number,
): Promise<IngestOutcome> {
  return db.transaction().execute((trx) => ingestInTransaction(trx, dialect, samples, scopeWorkspaceId, now));
}

/** ingestSamples inside the caller's transaction (the poller commits its schedule updates with it). */
export async function ingestInTransaction(
  trx: Kysely<Database>,
  dialect: DialectName,
  samples: readonly SampleIn[],
  scopeWorkspaceId: string | null,
  now: number,
): Promise<IngestOutcome> {
  const accounts = await resolveAccounts(trx, samples, scopeWorkspaceId);
  const uniqueIds = [...new Set(accounts.map((a) => a.id))].sort();
  // PostgreSQL: lock the accounts so that concurrent batches (other instances) evaluate each account in turn.
  // SQLite serialises write transactions already.
  const current = new Map<string, AccountRow>(accounts.map((a) => [a.id, a]));
  if (dialect === 'postgres') {
    const locked = await trx
      .selectFrom('accounts')
      .select(ACCOUNT_COLS)
      .where(sql<boolean>`id = ANY(${uniqueIds}::text[])`)
      .orderBy('id')
      .forUpdate()
      .execute();
    for (const r of locked) current.set(r.id, r);
  }

  const rows: SamplesTable[] = samples.map((s, i) => {
    const acc = current.get(accounts[i]!.id)!;
    const balance = s.balance ?? quotaToBalance(s.quota!, acc.quota_per_unit!);
    return {
      account_id: acc.id,
      observed_at: s.at,
      balance,
      used: s.used ?? null,
      requests: s.requests ?? null,
      raw: s.raw !== undefined ? rawText(s.raw) : s.quota !== undefined ? JSON.stringify({ quota: s.quota }) : null,
      received_at: now,
    };
  });
  const inserted = new Set<string>();
  for (const r of await insertSamples(trx, dialect, rows)) inserted.add(`${r.account_id}\0${r.observed_at}`);

  const evaluator = new Evaluator(trx, now);
  await evaluator.prepare([...current.values()]);
  // Walk samples in time order so a batch of history replays every crossing.
  const order = rows.map((_, i) => i).sort((a, b) => rows[a]!.observed_at - rows[b]!.observed_at);
  const results: SampleResult[] = new Array(rows.length);
  const newest = new Map<string, { balance: number; at: number }>();
  let applied = 0;
  for (const i of order) {
    const r = rows[i]!;
    const acc = current.get(r.account_id)!;
    const key = `${r.account_id}\0${r.observed_at}`;
    const base = { index: samples[i]!.index, account_id: acc.id, balance: r.balance, alert: null };
    if (!inserted.has(key)) {
      results[i] = { ...base, result: 'duplicate' };
      continue;
    }
    inserted.delete(key); // a second sample with the same time in this batch is a duplicate
    if (acc.observed_at !== null && r.observed_at <= acc.observed_at) {
      results[i] = { ...base, result: 'stale' };
      continue;
    }
    const outcome = evaluator.applyBalance(acc, r.balance, r.observed_at);
    acc.observed_at = r.observed_at;
    acc.balance = r.balance;
    newest.set(acc.id, { balance: r.balance, at: r.observed_at });
    results[i] = { ...base, result: 'applied', alert: { status: outcome.status, level: outcome.level } };
    applied += 1;
  }
  await writeAccountUpdates(trx, dialect, mergeUpdates(newest, evaluator.forecasts), now);
  const queuedDeliveries = await evaluator.flush();
  return { results, applied, queuedDeliveries };
}

/** A provider's answer as stored: JSON, cut at 4 KB. */
function rawText(raw: unknown): string | null {
  const t = JSON.stringify(raw);
  if (t === undefined) return null;
  return t.length > 4096 ? JSON.stringify({ truncated: t.slice(0, 4000) }) : t;
}

/** Inserts samples, skipping (account, time) pairs already stored; returns the ones inserted. */
async function insertSamples(db: Kysely<Database>, dialect: DialectName, rows: SamplesTable[]) {
  if (dialect === 'postgres') {
    // One statement with seven array parameters, whatever the batch size.
    const col = <K extends keyof SamplesTable>(k: K) => rows.map((r) => r[k]);
    const res = await sql<{ account_id: string; observed_at: number }>`
      INSERT INTO samples (account_id, observed_at, balance, used, requests, raw, received_at)
      SELECT * FROM unnest(${col('account_id')}::text[], ${col('observed_at')}::bigint[], ${col('balance')}::float8[],
        ${col('used')}::float8[], ${col('requests')}::bigint[], ${col('raw')}::text[], ${col('received_at')}::bigint[])
      ON CONFLICT (account_id, observed_at) DO NOTHING
      RETURNING account_id, observed_at`.execute(db);
    return res.rows;
  }
  // Fixed-size chunks so the prepared statement is reused.
  const out: { account_id: string; observed_at: number }[] = [];
  for (const part of chunk(rows, 500)) {
    const params: unknown[] = [];
    for (const r of part) params.push(r.account_id, r.observed_at, r.balance, r.used, r.requests, r.raw, r.received_at);
    const res = await runRaw<{ account_id: string; observed_at: number }>(
      db,
      `INSERT INTO samples (account_id, observed_at, balance, used, requests, raw, received_at) VALUES ${valuesList(part.length, '(?, ?, ?, ?, ?, ?, ?)')}
        ON CONFLICT (account_id, observed_at) DO NOTHING RETURNING account_id, observed_at`,
      params,
    );
    for (const r of res) out.push(r);
  }
  return out;
}
