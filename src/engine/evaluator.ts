import type { Kysely } from 'kysely';
import type { NotificationPayload } from '../channels/types.js';
import { type AlertState, INITIAL_ALERT_STATE, type Notification, type Transition } from '../domain/alert-state.js';
import { evaluateCondition } from '../domain/condition.js';
import type { EventType } from '../domain/events.js';
import { newId } from '../domain/ids.js';
import {
  compileForecastRules,
  compileThresholdRule,
  effectiveSettings,
  type ForecastRules,
  type NotificationSettings,
  parseStoredSettings,
  type SettingsPatch,
  type ThresholdRule,
} from '../domain/settings.js';
import {
  DEFAULT_SPEND_OPTIONS,
  EMPTY_SPEND,
  estimateSpend,
  recordSpend,
  runwayDays,
  type SpendEstimate,
  type SpendState,
  suggestedThreshold,
} from '../domain/spend.js';
import { evaluateBalance, evaluateTick, nextReminderAt } from '../domain/threshold.js';
import type { AccountsTable, AlertsTable, Database, DeliveriesTable } from '../store/schema.js';
import { type ChannelRow, deliveryRows, insertDeliveries } from './deliveries.js';
import { chunk } from './chunk.js';

// Runs the alert state machines for a set of accounts inside one transaction and buffers what they decide
// (alert rows, outbox rows, spend estimates) so they are written in bulk and commit together: the transactional
// outbox. Rules: the low-balance threshold (SPEC §3.1), runway and spend spike (§3.2).

export const LOW_BALANCE_RULE = 'balance.low';
export const RUNWAY_RULE = 'balance.runway_low';
export const SPIKE_RULE = 'spend.spike';
export const SOURCE_RULE = 'source.failing';

/** Why an account's source is failing, as carried in source.failing notifications. */
export interface SourceProblem {
  kind: string;
  message: string;
  failures: number;
}

export type AccountForEval = Pick<
  AccountsTable,
  'id' | 'workspace_id' | 'name' | 'external_id' | 'currency' | 'top_up_url' | 'rules' | 'spend'
>;

/** The account columns an evaluation reads: the fields above plus the newest balance. */
export const EVAL_ACCOUNT_COLUMNS = [
  'id',
  'workspace_id',
  'name',
  'external_id',
  'currency',
  'top_up_url',
  'rules',
  'spend',
  'balance',
  'observed_at',
] as const;

interface CompiledRules {
  threshold: ThresholdRule;
  forecast: ForecastRules;
}

interface WorkspaceForEval {
  id: string;
  name: string;
  external_id: string | null;
  locale: string;
  time_zone: string;
  settings: NotificationSettings;
  rules: CompiledRules;
  channels: ChannelRow[];
}

export interface EvalOutcome {
  status: 'ok' | 'firing';
  level: string | null;
  notifications: Notification[];
}

/** What the account row keeps of its forecasts after this evaluation. */
export interface AccountForecast {
  spend: string;
  spend_per_day: number | null;
  runway_days: number | null;
  suggested_threshold: number | null;
}

const alertKey = (accountId: string, rule: string) => `${accountId}\0${rule}`;

/** The event that ends each rule's alerts; a spend spike has no recovery event and ends as `spend.spike` with no level. */
const END_EVENT: Record<string, EventType> = {
  [LOW_BALANCE_RULE]: 'balance.recovered',
  [RUNWAY_RULE]: 'balance.runway_recovered',
  [SPIKE_RULE]: 'spend.spike',
  [SOURCE_RULE]: 'source.recovered',
};

function compile(settings: NotificationSettings): CompiledRules {
  return { threshold: compileThresholdRule(settings), forecast: compileForecastRules(settings) };
}

export class Evaluator {
  private readonly workspaces = new Map<string, WorkspaceForEval>();
  private readonly alerts = new Map<string, AlertsTable>();
  private readonly loaded = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly spend = new Map<string, SpendState>();
  private readonly outbox: DeliveriesTable[] = [];
  /** Forecasts changed by this evaluation, by account id: the caller stores them on the account rows. */
  readonly forecasts = new Map<string, AccountForecast>();

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
          .select(['id', 'workspace_id', 'type', 'events', 'min_level', 'account_ids', 'enabled', 'system'])
          .where('workspace_id', 'in', ids)
          .where('enabled', '=', 1)
          .execute(),
      ]);
      for (const w of rows) {
        const settings = parseStoredSettings(w.settings);
        // The system channel mails the workspace's admins (engine/admin-email.ts) unless the workspace said no.
        const wanted = (c: (typeof channels)[number]) => c.workspace_id === w.id && (c.system !== 1 || settings.email_admins);
        this.workspaces.set(w.id, {
          id: w.id,
          name: w.name,
          external_id: w.external_id,
          locale: w.locale,
          time_zone: w.time_zone,
          settings,
          rules: compile(settings),
          channels: channels.filter(wanted),
        });
      }
    }
    const accIds = accounts.map((a) => a.id).filter((id) => !this.loaded.has(id));
    for (const ids of chunk(accIds, 500)) {
      const rows = await this.db.selectFrom('alerts').selectAll().where('account_id', 'in', ids).execute();
      for (const r of rows) this.alerts.set(alertKey(r.account_id, r.rule), r);
    }
    for (const id of accIds) this.loaded.add(id);
  }

  private rulesFor(account: AccountForEval, ws: WorkspaceForEval): CompiledRules {
    if (!account.rules) return ws.rules;
    try {
      return compile(effectiveSettings(ws.settings, JSON.parse(account.rules) as SettingsPatch));
    } catch {
      // An override that no longer fits the workspace's levels (validated when saved): fall back to the workspace.
      return ws.rules;
    }
  }

  private workspaceOf(account: AccountForEval): WorkspaceForEval {
    const ws = this.workspaces.get(account.workspace_id);
    if (!ws) throw new Error(`workspace ${account.workspace_id} was not prepared`);
    return ws;
  }

  /** A new newest balance for the account (call prepare() first). Evaluates every rule. */
  applyBalance(account: AccountForEval, balance: number, observedAt: number): EvalOutcome {
    const ws = this.workspaceOf(account);
    const rules = this.rulesFor(account, ws);
    const previous = this.spend.get(account.id) ?? (account.spend ? (JSON.parse(account.spend) as SpendState) : EMPTY_SPEND);
    const spend = recordSpend(previous, balance, observedAt);
    this.spend.set(account.id, spend);
    const f = rules.forecast;
    const est = estimateSpend(spend, observedAt, { ...DEFAULT_SPEND_OPTIONS, windowMs: f.runway.windowMs });
    const runway = runwayDays(balance, est.spendPerDay);
    this.forecasts.set(account.id, {
      spend: JSON.stringify(spend),
      spend_per_day: est.spendPerDay,
      runway_days: runway !== null && Number.isFinite(runway) ? runway : null,
      suggested_threshold: suggestedThreshold(est),
    });
    const extra = forecastFields(est, runway);
    const low = this.step(
      account,
      ws,
      LOW_BALANCE_RULE,
      balance,
      observedAt,
      extra,
      (s) => evaluateBalance(s, balance, rules.threshold, this.now),
      rules.threshold,
    );

    // Runway: fires below N days, resolves above 1.2 × N (hysteresis); unknown (short history) changes nothing.
    this.step(account, ws, RUNWAY_RULE, balance, observedAt, extra, (s) =>
      evaluateCondition(
        s,
        {
          breached: runway !== null && balance > 0 && runway < f.runway.days,
          cleared: runway !== null && runway > f.runway.days * 1.2,
          threshold: f.runway.days,
        },
        { enabled: f.runway.enabled, event: 'balance.runway_low', resolveEvent: 'balance.runway_recovered', level: 'warning', floorMs: f.runway.floorMs },
        this.now,
      ),
    );

    // Spend spike: the last hour above K × the hourly average of the week before it, and above a minimum amount.
    const line = est.baselineHourly !== null ? est.baselineHourly * f.spike.factor : null;
    this.step(account, ws, SPIKE_RULE, balance, observedAt, extra, (s) =>
      evaluateCondition(
        s,
        {
          breached: line !== null && est.lastHour !== null && est.lastHour > line && est.lastHour > f.spike.minAmount,
          cleared: line !== null && est.lastHour !== null && (est.lastHour <= line || est.lastHour <= f.spike.minAmount),
          threshold: line ?? 0,
        },
        { enabled: f.spike.enabled, event: 'spend.spike', resolveEvent: null, level: 'warning', floorMs: f.spike.floorMs },
        this.now,
      ),
    );
    // A new sample shows the source works: a failing source resolves (source.recovered).
    this.sourceStep(account, ws, rules, balance, observedAt, null);
    return low;
  }

  /**
   * The source's health without a new balance: `problem` set = failing (credentials rejected, N polls in a row
   * failed, or a push account silent past expected_every); null = healthy again (a poll worked but brought no
   * balance to apply, e.g. an unlimited key).
   */
  applySourceStatus(account: AccountForEval & { balance: number | null }, problem: SourceProblem | null): EvalOutcome {
    const ws = this.workspaceOf(account);
    return this.sourceStep(account, ws, this.rulesFor(account, ws), account.balance, this.now, problem);
  }

  private sourceStep(
    account: AccountForEval,
    ws: WorkspaceForEval,
    rules: CompiledRules,
    balance: number | null,
    at: number,
    problem: SourceProblem | null,
  ): EvalOutcome {
    // Nothing to resolve when the rule never fired: skip the state machine (the common case on every sample).
    if (!problem && this.alerts.get(alertKey(account.id, SOURCE_RULE))?.status !== 'firing') return { status: 'ok', level: null, notifications: [] };
    const extra: Partial<NotificationPayload> = problem ? { source_error: problem, threshold: null } : { threshold: null };
    return this.step(account, ws, SOURCE_RULE, balance, at, extra, (s) =>
      evaluateCondition(
        s,
        { breached: problem !== null, cleared: problem === null, threshold: problem?.failures ?? 0 },
        { enabled: true, event: 'source.failing', resolveEvent: 'source.recovered', level: 'critical', floorMs: rules.threshold.floorMs },
        this.now,
      ),
    );
  }

  /** No new sample: only reminders can come due. */
  applyTick(account: AccountForEval, balance: number | null): EvalOutcome {
    const ws = this.workspaceOf(account);
    const rules = this.rulesFor(account, ws);
    return this.step(account, ws, LOW_BALANCE_RULE, balance, this.now, {}, (s) => evaluateTick(s, rules.threshold, this.now), rules.threshold);
  }

  private step(
    account: AccountForEval,
    ws: WorkspaceForEval,
    rule: string,
    balance: number | null,
    observedAt: number,
    extra: Partial<NotificationPayload>,
    run: (s: AlertState) => Transition,
    /** The threshold rule, for the low-balance alert's reminder schedule. */
    reminders: ThresholdRule | null = null,
  ): EvalOutcome {
    const key = alertKey(account.id, rule);
    const row = this.alerts.get(key);
    const prev: AlertState = row ? (JSON.parse(row.state) as AlertState) : INITIAL_ALERT_STATE;
    const t = run(prev);
    if (!t.changed && t.notifications.length === 0) return { status: prev.status, level: prev.level, notifications: [] };

    const alertId = row?.id ?? newId('al');
    const next = t.next;
    const startedFiring = prev.status !== 'firing' && next.status === 'firing';
    const resolved = prev.status === 'firing' && next.status === 'ok';
    const notifications = [...t.notifications];
    if (resolved && !notifications.some((n) => n.level === null)) {
      // Ended without a notice (recovery notices off, a silent rule, a rule switched off): incident channels
      // still hear of it so they can close what they opened.
      notifications.push({
        event: END_EVENT[rule] ?? 'balance.recovered',
        level: null,
        routeLevel: prev.maxLevel ?? prev.level ?? 'warning',
        episode: prev.episode,
        reminder: 0,
        threshold: reminders?.recoverAt ?? 0,
        dueAt: this.now,
        deferred: false,
        quiet: true,
      });
    }
    this.alerts.set(key, {
      id: alertId,
      account_id: account.id,
      workspace_id: account.workspace_id,
      rule,
      status: next.status,
      level: next.level,
      episode: next.episode,
      state: JSON.stringify(next),
      next_check_at: reminders ? nextReminderAt(next, reminders) : null,
      balance,
      fired_at: startedFiring ? this.now : (row?.fired_at ?? null),
      resolved_at: resolved ? this.now : startedFiring ? null : (row?.resolved_at ?? null),
      updated_at: this.now,
    });
    this.dirty.add(key);

    for (const n of notifications) {
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
        ...extra,
      };
      this.outbox.push(...deliveryRows(alertId, account.id, n, payload, ws.channels, this.now));
    }
    return { status: next.status, level: next.level, notifications: t.notifications };
  }

  /** Writes changed alerts and the outbox rows. Returns how many deliveries were queued. */
  async flush(): Promise<number> {
    const rows = [...this.dirty].map((k) => this.alerts.get(k)!);
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

function forecastFields(est: SpendEstimate, runway: number | null): Partial<NotificationPayload> {
  return {
    runway_days: runway !== null && Number.isFinite(runway) ? Math.round(runway * 100) / 100 : null,
    spend_per_day: est.spendPerDay !== null ? Math.round(est.spendPerDay * 100) / 100 : null,
    spend_last_hour: est.lastHour !== null ? Math.round(est.lastHour * 100) / 100 : null,
  };
}

