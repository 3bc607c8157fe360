import type { Kysely } from 'kysely';
import { type AlertState, INITIAL_ALERT_STATE, type Notification, type Transition } from '../domain/alert-state.js';
import { newId } from '../domain/ids.js';
import {
  compileThresholdRule,
  effectiveSettings,
  type NotificationSettings,
  type SettingsPatch,
  type ThresholdRule,
} from '../domain/settings.js';
import { evaluateBalance, evaluateTick, nextReminderAt } from '../domain/threshold.js';
import type { NotificationPayload } from '../channels/types.js';
import type { AccountsTable, AlertsTable, Database, DeliveriesTable } from '../store/schema.js';
import { type ChannelRow, deliveryRows, insertDeliveries } from './deliveries.js';

// Runs the alert state machine for a set of accounts inside one transaction and buffers what it decides
// (alert rows, outbox rows) so they are written in bulk and commit together: the transactional outbox.

export const LOW_BALANCE_RULE = 'balance.low';

export type AccountForEval = Pick<
  AccountsTable,
  'id' | 'workspace_id' | 'name' | 'external_id' | 'currency' | 'top_up_url' | 'rules'
>;

interface WorkspaceForEval {
  id: string;
  name: string;
  external_id: string | null;
  locale: string;
  time_zone: string;
  settings: NotificationSettings;
  rule: ThresholdRule;
  channels: ChannelRow[];
}

export interface EvalOutcome {
  status: 'ok' | 'firing';
  level: string | null;
  notifications: Notification[];
}

const chunk = <T>(xs: T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

export class Evaluator {
  private readonly workspaces = new Map<string, WorkspaceForEval>();
  private readonly alerts = new Map<string, AlertsTable>();
  private readonly dirty = new Set<string>();
  private readonly outbox: DeliveriesTable[] = [];
  notificationCount = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: number,
  ) {}

  /** Loads settings, channels and current alerts for the given accounts (bulk, a few queries). */
  async prepare(accounts: readonly AccountForEval[]): Promise<void> {
    const wsIds = [...new Set(accounts.map((a) => a.workspace_id))].filter((id) => !this.workspaces.has(id));
    for (const ids of chunk(wsIds, 500)) {
      const [rows, channels] = await Promise.all([
        this.db.selectFrom('workspaces').selectAll().where('id', 'in', ids).execute(),
        this.db
          .selectFrom('channels')
          .select(['id', 'workspace_id', 'type', 'events', 'min_level', 'account_ids', 'enabled'])
          .where('workspace_id', 'in', ids)
          .where('enabled', '=', 1)
          .execute(),
      ]);
      for (const w of rows) {
        const settings = JSON.parse(w.settings) as NotificationSettings;
        this.workspaces.set(w.id, {
          id: w.id,
          name: w.name,
          external_id: w.external_id,
          locale: w.locale,
          time_zone: w.time_zone,
          settings,
          rule: compileThresholdRule(settings),
          channels: channels.filter((c) => c.workspace_id === w.id),
        });
      }
    }
    const accIds = accounts.map((a) => a.id).filter((id) => !this.alerts.has(id));
    for (const ids of chunk(accIds, 500)) {
      const rows = await this.db
        .selectFrom('alerts')
        .selectAll()
        .where('account_id', 'in', ids)
        .where('rule', '=', LOW_BALANCE_RULE)
        .execute();
      for (const r of rows) this.alerts.set(r.account_id, r);
    }
  }

  private ruleFor(account: AccountForEval, ws: WorkspaceForEval): ThresholdRule {
    if (!account.rules) return ws.rule;
    try {
      return compileThresholdRule(effectiveSettings(ws.settings, JSON.parse(account.rules) as SettingsPatch));
    } catch {
      // An override that no longer fits the workspace's levels (validated when saved): fall back to the workspace.
      return ws.rule;
    }
  }

  /** A new newest balance for the account (call prepare() first). */
  applyBalance(account: AccountForEval, balance: number, observedAt: number): EvalOutcome {
    return this.apply(account, balance, observedAt, (s, rule) => evaluateBalance(s, balance, rule, this.now));
  }

  /** No new sample: only reminders can come due. */
  applyTick(account: AccountForEval, balance: number | null): EvalOutcome {
    return this.apply(account, balance, this.now, (s, rule) => evaluateTick(s, rule, this.now));
  }

  private apply(
    account: AccountForEval,
    balance: number | null,
    observedAt: number,
    step: (s: AlertState, rule: ThresholdRule) => Transition,
  ): EvalOutcome {
    const ws = this.workspaces.get(account.workspace_id);
    if (!ws) throw new Error(`workspace ${account.workspace_id} was not prepared`);
    const rule = this.ruleFor(account, ws);
    const row = this.alerts.get(account.id);
    const prev: AlertState = row ? (JSON.parse(row.state) as AlertState) : INITIAL_ALERT_STATE;
    const t = step(prev, rule);
    if (!t.changed && t.notifications.length === 0) return { status: prev.status, level: prev.level, notifications: [] };

    const alertId = row?.id ?? newId('al');
    const next = t.next;
    const startedFiring = prev.status !== 'firing' && next.status === 'firing';
    const resolved = prev.status === 'firing' && next.status === 'ok';
    this.alerts.set(account.id, {
      id: alertId,
      account_id: account.id,
      workspace_id: account.workspace_id,
      rule: LOW_BALANCE_RULE,
      status: next.status,
      level: next.level,
      episode: next.episode,
      state: JSON.stringify(next),
      next_check_at: nextReminderAt(next, rule),
      balance,
      fired_at: startedFiring ? this.now : (row?.fired_at ?? null),
      resolved_at: resolved ? this.now : startedFiring ? null : (row?.resolved_at ?? null),
      updated_at: this.now,
    });
    this.dirty.add(account.id);

    for (const n of t.notifications) {
      const payload: NotificationPayload = {
        type: n.event,
        occurred_at: new Date(observedAt).toISOString(),
        workspace: { id: ws.id, name: ws.name, external_id: ws.external_id, locale: ws.locale, time_zone: ws.time_zone },
        account: { id: account.id, name: account.name, external_id: account.external_id, top_up_url: account.top_up_url },
        balance,
        currency: account.currency,
        level: n.level,
        threshold: n.threshold,
        episode: n.episode,
        reminder: n.reminder,
      };
      this.outbox.push(...deliveryRows(alertId, account.id, n, payload, ws.channels, this.now));
      this.notificationCount += 1;
    }
    return { status: next.status, level: next.level, notifications: t.notifications };
  }

  /** Writes changed alerts and the outbox rows. Returns how many deliveries were queued. */
  async flush(): Promise<number> {
    const rows = [...this.dirty].map((id) => this.alerts.get(id)!);
    for (const part of chunk(rows, 200)) {
      await this.db
        .insertInto('alerts')
        .values(part)
        .onConflict((oc) =>
          oc.columns(['account_id', 'rule']).doUpdateSet((eb) => ({
            status: eb.ref('excluded.status'),
            level: eb.ref('excluded.level'),
            episode: eb.ref('excluded.episode'),
            state: eb.ref('excluded.state'),
            next_check_at: eb.ref('excluded.next_check_at'),
            balance: eb.ref('excluded.balance'),
            fired_at: eb.ref('excluded.fired_at'),
            resolved_at: eb.ref('excluded.resolved_at'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
    this.dirty.clear();
    const queued = await insertDeliveries(this.db, this.outbox);
    this.outbox.length = 0;
    return queued;
  }
}
