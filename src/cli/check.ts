import { sql } from 'kysely';
import { DEFAULT_SETTINGS, effectiveSettings, type NotificationSettings, parseStoredSettings, type SettingsPatch } from '../domain/settings.js';
import { checkPushSilence, type PollAnswer } from '../engine/poller.js';
import { sendDueReminders } from '../engine/reevaluate.js';
import type { Service } from '../service.js';
import type { AccountsTable } from '../store/schema.js';

// `balancewatch check`, the one-shot for cron (SPEC §6): poll every pulled account, evaluate with the stored alert
// state (so a cron every 5 minutes does not alert twice), send what that queued, and report. Exit 0 all ok, 1
// something alerting, 2 a poll failed.

export interface CheckRow {
  account_id: string;
  account: string;
  account_external_id: string | null;
  workspace_id: string;
  workspace: string;
  workspace_external_id: string | null;
  /** "push" or the provider adapter. */
  source: string;
  /** Polled by this run (push accounts are listed with their stored balance). */
  polled: boolean;
  /** False when this run's poll failed. */
  ok: boolean;
  /** The newest balance known (after a failed poll: the last good one, see observed_at). */
  balance: number | null;
  currency: string;
  unlimited: boolean;
  observed_at: string | null;
  /** The low-balance line in effect (workspace settings with the account's rules), null when that alert is off. */
  threshold: number | null;
  /** The low-balance alert's level ("warning", "critical", "depleted") or "ok". */
  level: string;
  /** Any alert firing for the account (low balance, runway, spend spike, source failing). */
  alerting: boolean;
  alerts: Array<{ rule: string; level: string | null }>;
  runway_days: number | null;
  error: { kind: string; message: string } | null;
}

export interface CheckResult {
  rows: CheckRow[];
  exitCode: 0 | 1 | 2;
  notifications: { sent: number; failed: number; queued: number };
}

export interface CheckOptions {
  workspaceId?: string | undefined;
  concurrency: number;
  /** How long to wait for the notifications this run queued to go out. */
  drainMs?: number;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function runCheck(service: Service, opts: CheckOptions): Promise<CheckResult> {
  const { db, dialect } = service.store;
  const started = Date.now();
  let aq = db.selectFrom('accounts').selectAll().orderBy('workspace_id').orderBy('name').orderBy('id');
  if (opts.workspaceId) aq = aq.where('workspace_id', '=', opts.workspaceId);
  const accounts = await aq.execute();

  // Deliveries go out while the polls run; those left from earlier runs too.
  // serve may be running on the same database: its in-flight leases are not ours to release.
  service.dispatcher.start({ releaseDeadLeases: false });
  const answers = new Map<string, PollAnswer>();
  try {
    await eachLimited(
      accounts.filter((a) => a.source_type !== 'push'),
      opts.concurrency,
      async (a) => {
        try {
          answers.set(a.id, await service.poller.pollAccount(a, { held: false, waitForHost: true }));
        } catch (err) {
          answers.set(a.id, { ok: false, error: { kind: 'bad_response', message: `the poll could not be recorded: ${(err as Error).message}` } });
        }
      },
    );
    // What serve's background tasks would have done meanwhile: reminders due, push accounts gone silent.
    const now = Date.now();
    if ((await sendDueReminders(db, dialect, now)) + (await checkPushSilence(db, dialect, now)) > 0) service.dispatcher.wake();
    await drain(service, opts, Date.now() + Math.max(0, opts.drainMs ?? 30_000));
  } finally {
    await service.dispatcher.stop();
  }

  const rows = await buildRows(service, accounts, answers);
  const notifications = await deliveryCounts(service, opts, started);
  const exitCode = rows.some((r) => !r.ok) ? 2 : rows.some((r) => r.alerting) ? 1 : 0;
  return { rows, exitCode, notifications };
}

/** Waits until no delivery is due (pending and due now, in flight included), or the deadline. */
async function drain(service: Service, opts: CheckOptions, deadline: number): Promise<void> {
  for (;;) {
    let q = service.store.db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', Date.now());
    if (opts.workspaceId) q = q.where('workspace_id', '=', opts.workspaceId);
    const due = await q.executeTakeFirstOrThrow();
    if (Number(due.n) === 0 || Date.now() >= deadline) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function deliveryCounts(service: Service, opts: CheckOptions, since: number): Promise<CheckResult['notifications']> {
  let q = service.store.db
    .selectFrom('deliveries')
    .select([
      sql<number>`sum(case when status = 'delivered' and delivered_at >= ${since} then 1 else 0 end)`.as('sent'),
      sql<number>`sum(case when status = 'dead' and updated_at >= ${since} then 1 else 0 end)`.as('failed'),
      sql<number>`sum(case when status = 'pending' then 1 else 0 end)`.as('queued'),
    ])
    .where((w) => w.or([w('status', '=', 'pending'), w('updated_at', '>=', since)]))
    .where('event', '!=', 'test');
  if (opts.workspaceId) q = q.where('workspace_id', '=', opts.workspaceId);
  const r = await q.executeTakeFirstOrThrow();
  return { sent: Number(r.sent ?? 0), failed: Number(r.failed ?? 0), queued: Number(r.queued ?? 0) };
}

async function buildRows(service: Service, before: AccountsTable[], answers: Map<string, PollAnswer>): Promise<CheckRow[]> {
  const { db } = service.store;
  if (before.length === 0) return [];
  const ids = before.map((a) => a.id);
  const fresh = new Map<string, AccountsTable>();
  const firing = new Map<string, Array<{ rule: string; level: string | null }>>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    for (const a of await db.selectFrom('accounts').selectAll().where('id', 'in', chunk).execute()) fresh.set(a.id, a);
    for (const al of await db.selectFrom('alerts').select(['account_id', 'rule', 'level']).where('account_id', 'in', chunk).where('status', '=', 'firing').orderBy('rule').execute())
      firing.set(al.account_id, [...(firing.get(al.account_id) ?? []), { rule: al.rule, level: al.level }]);
  }
  const workspaces = new Map(
    (await db.selectFrom('workspaces').select(['id', 'name', 'external_id', 'settings']).where('id', 'in', [...new Set(before.map((a) => a.workspace_id))]).execute()).map((w) => [
      w.id,
      { ...w, parsed: safeSettings(() => parseStoredSettings(w.settings)) },
    ]),
  );
  const rows: CheckRow[] = [];
  for (const old of before) {
    const a = fresh.get(old.id);
    if (!a) continue; // deleted meanwhile
    const w = workspaces.get(a.workspace_id);
    const answer = answers.get(a.id);
    const settings = safeSettings(() => effectiveSettings(w?.parsed ?? DEFAULT_SETTINGS, a.rules ? (JSON.parse(a.rules) as SettingsPatch) : null));
    const alerts = firing.get(a.id) ?? [];
    const low = alerts.find((x) => x.rule === 'balance.low');
    rows.push({
      account_id: a.id,
      account: a.name,
      account_external_id: a.external_id,
      workspace_id: a.workspace_id,
      workspace: w?.name ?? a.workspace_id,
      workspace_external_id: w?.external_id ?? null,
      source: a.source_type,
      polled: answer !== undefined,
      ok: answer ? answer.ok : true,
      balance: answer?.unlimited ? null : a.balance,
      currency: a.currency,
      unlimited: answer?.unlimited === true,
      observed_at: iso(a.observed_at),
      threshold: settings.notify_low_balance ? settings.low_balance_threshold : null,
      level: low?.level ?? 'ok',
      alerting: alerts.length > 0,
      alerts,
      runway_days: a.runway_days === null ? null : Math.round(a.runway_days * 100) / 100,
      error: answer && !answer.ok ? (answer.error ?? { kind: 'bad_response', message: 'the poll failed' }) : null,
    });
  }
  return rows;
}

function safeSettings(f: () => NotificationSettings): NotificationSettings {
  try {
    return f();
  } catch {
    return DEFAULT_SETTINGS;
  }
}

// ---- output ----------------------------------------------------------------------------------------------------

/** Terminal columns a string takes (East Asian wide characters take two). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 32 || (c >= 0x300 && c <= 0x36f)) continue;
    const wide =
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x1f300 && c <= 0x1faff) ||
      (c >= 0x20000 && c <= 0x3fffd);
    w += wide ? 2 : 1;
  }
  return w;
}

function formatAmount(n: number): string {
  const abs = Math.abs(n);
  return n.toLocaleString('en-US', { minimumFractionDigits: abs >= 1 || abs === 0 ? 2 : 0, maximumFractionDigits: abs >= 1 ? 2 : 4 });
}

const SHORT_RULE: Record<string, string> = { 'balance.runway_low': 'runway', 'spend.spike': 'spike', 'source.failing': 'source' };

const COLORS = { red: '\x1b[31m', yellow: '\x1b[33m', green: '\x1b[32m', dim: '\x1b[2m', bold: '\x1b[1m', reset: '\x1b[0m' } as const;

/** The rows as an aligned table; with `color`, levels and errors are coloured (terminals only). */
export function formatTable(rows: CheckRow[], opts: { color: boolean }): string {
  const paint = (text: string, c: keyof typeof COLORS | null) => (opts.color && c ? `${COLORS[c]}${text}${COLORS.reset}` : text);
  const header = ['ACCOUNT', 'WORKSPACE', 'BALANCE', 'THRESHOLD', 'LEVEL', 'RUNWAY', 'ERROR'];
  const cells = rows.map((r) => {
    const others = r.alerts.filter((a) => a.rule !== 'balance.low').map((a) => `+${SHORT_RULE[a.rule] ?? a.rule}`);
    const level = [r.level, ...others].join(' ');
    const levelColor: keyof typeof COLORS | null =
      r.level === 'critical' || r.level === 'depleted' ? 'red' : r.level === 'warning' || r.level === 'info' || others.length > 0 ? 'yellow' : 'green';
    const balance = r.unlimited ? 'unlimited' : r.balance === null ? '-' : `${formatAmount(r.balance)} ${r.currency}`;
    return [
      { text: r.account, color: null },
      { text: r.workspace, color: null },
      { text: balance, color: null, right: true },
      { text: r.threshold === null ? '-' : formatAmount(r.threshold), color: null, right: true },
      { text: level, color: levelColor },
      { text: r.runway_days === null ? '-' : `${r.runway_days < 10 ? r.runway_days.toFixed(1) : Math.round(r.runway_days)} d`, color: null, right: true },
      { text: r.error ? `${r.error.kind}: ${r.error.message.replace(/\s+/g, ' ')}` : '', color: r.error ? 'red' : null },
    ] as Array<{ text: string; color: keyof typeof COLORS | null; right?: boolean }>;
  });
  const widths = header.map((h, i) => Math.max(displayWidth(h), ...cells.map((c) => displayWidth(c[i]!.text))));
  const last = header.length - 1;
  const pad = (text: string, i: number, right = false) => {
    if (i === last) return text;
    const fill = ' '.repeat(Math.max(0, widths[i]! - displayWidth(text)));
    return right ? fill + text : text + fill;
  };
  const lines = [header.map((h, i) => paint(pad(h, i, i === 2 || i === 3 || i === 5), 'bold')).join('  ').trimEnd()];
  for (const row of cells) lines.push(row.map((c, i) => paint(pad(c.text, i, c.right), c.color)).join('  ').trimEnd());
  return lines.join('\n');
}

/** One line under the table: what the run found and sent. */
export function formatSummary(r: CheckResult): string {
  const alerting = r.rows.filter((x) => x.alerting).length;
  const errors = r.rows.filter((x) => !x.ok).length;
  const polled = r.rows.filter((x) => x.polled).length;
  const n = r.notifications;
  const parts = [
    `${r.rows.length} account${r.rows.length === 1 ? '' : 's'} (${polled} polled)`,
    `${alerting} alerting`,
    `${errors} error${errors === 1 ? '' : 's'}`,
    `notifications: ${n.sent} sent${n.failed ? `, ${n.failed} failed` : ''}${n.queued ? `, ${n.queued} queued for later` : ''}`,
  ];
  return parts.join(' · ');
}
