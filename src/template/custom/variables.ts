// The variables a custom template sees for one notification (the data model templates are written against).
import type { NotificationPayload, RenderedMessage } from '../../channels/types.js';
import { formatValues, severityOf } from '../messages.js';

// Variables available to every template (all values are plain data; absent values are null and print as nothing):
//
//   event                 the event type: "balance.low", "balance.recovered", "balance.runway_low",
//                         "balance.runway_recovered", "spend.spike", "source.failing", "source.recovered", "test"
//   lang                  "en" or "zh-CN" (from the workspace's locale)
//   level                 the level notified: "info" | "warning" | "critical" | "depleted" (balance.low and the
//                         forecast events), else null
//   level_name            the level's display word: "Critical" / "严重"
//   severity              "resolved" | "info" | "warning" | "critical"
//   account               {id, name, external_id, top_up_url}; null for test notifications
//   workspace             {id, name, external_id, locale, time_zone}
//   balance               formatted in the locale: "$3.00" (en) / "US$3.00" (zh-CN); balance_value: the number
//   currency              "USD", "CNY", or a free unit such as "credits"
//   threshold             formatted ("$5.00"); threshold_value: the number
//   runway                "about 2.5 days" / "约 2.5 天"; runway_days: the number
//   spend_per_day         "$144.00/day" / "US$144.00/天"; spend_per_day_value: the number
//   spend_last_hour       formatted ("$12.00", spend.spike); spend_last_hour_value: the number
//   time                  "2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)" in the workspace's time zone
//   occurred_at           ISO 8601, UTC ("2025-01-15T08:30:00.000Z")
//   episode, reminder     the alert episode's number; 0 for the first notification, 1, 2… for reminders
//   note                  the free text of a test notification
//   source_error          {kind, message, failures} for source.failing
//   key                   the delivery's idempotency key (the same on every retry)
//   dashboard_url         the dashboard's URL when configured
//   default               {title, summary, text}: the built-in message, so a template can wrap it. In the webhook
//                         body template: the message the channel would send (after any title / text template).

export interface TemplateVarOptions {
  key: string;
  dashboardUrl?: string | null;
  /** What `default` holds: the built-in message (title / text templates) or the message to send (body template). */
  base: Pick<RenderedMessage, 'title' | 'summary' | 'text'>;
}

/** The variables a template sees for one notification (see the comment at the top of this file). */
export function templateVars(p: NotificationPayload, o: TemplateVarOptions): Record<string, unknown> {
  const f = formatValues(p);
  const num = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  return {
    event: p.type,
    lang: f.lang,
    level: p.level,
    level_name: f.levelName,
    severity: severityOf(p),
    account: p.account
      ? { id: p.account.id, name: p.account.name, external_id: p.account.external_id, top_up_url: p.account.top_up_url }
      : null,
    workspace: {
      id: p.workspace.id,
      name: p.workspace.name,
      external_id: p.workspace.external_id,
      locale: p.workspace.locale,
      time_zone: p.workspace.time_zone,
    },
    balance: f.balance,
    balance_value: num(p.balance),
    currency: p.currency,
    threshold: f.threshold,
    threshold_value: num(p.threshold),
    runway: f.runway,
    runway_days: num(p.runway_days),
    spend_per_day: f.spendPerDay,
    spend_per_day_value: num(p.spend_per_day),
    spend_last_hour: f.spendLastHour,
    spend_last_hour_value: num(p.spend_last_hour),
    time: f.time,
    occurred_at: p.occurred_at,
    episode: p.episode,
    reminder: p.reminder,
    note: p.note ?? null,
    source_error: p.source_error
      ? { kind: p.source_error.kind, message: p.source_error.message, failures: p.source_error.failures }
      : null,
    key: o.key,
    dashboard_url: o.dashboardUrl?.trim() || null,
    default: { title: o.base.title, summary: o.base.summary, text: o.base.text },
  };
}
