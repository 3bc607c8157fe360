import type { NotificationPayload, RenderedMessage, Severity } from '../channels/types.js';
import { LEVELS, type EventType, type Level } from '../domain/events.js';
import { formatMoney } from '../domain/money.js';
import { dateTimeFormat, numberFormat } from '../domain/intl.js';

// Human-readable notifications (title, plain text, HTML e-mail) in the workspace's language (SPEC §4).
//
// Everything a reader sees comes from one table of strings per locale (STRINGS below); the code only decides
// *which* entry applies (the event, plus a variant for depleted / reminder / unknown values) and lays the result
// out. Values are inserted as plain text, and the HTML renderer escapes every piece of text it writes — account
// and workspace names, notes and URLs are user input.

export interface RenderOptions {
  /** Link to the dashboard, shown when given. */
  dashboardUrl?: string | null;
}

type Lang = 'en' | 'zh-CN';

/** The values a template may use, already formatted for the locale. */
interface Vars {
  account: string;
  workspace: string;
  /** Formatted balance ("$3.00", "US$3.00", "12.5 credits"), null when unknown. */
  balance: string | null;
  /** The level's display word ("Critical" / "严重"), null when the notification has no level. */
  level: string | null;
  /** "about 2.5 days" / "约 2.5 天", null when unknown. */
  runway: string | null;
  /** Spend per day ("$144.00/day" / "US$144.00/天"), null when unknown. */
  rate: string | null;
  reminder: number;
}

/** Which wording of an event applies. */
type Variant = 'default' | 'depleted' | 'reminder' | 'depleted_reminder' | 'unknown';

type Template = (v: Vars) => string;
type EventTemplates = { default: Template } & Partial<Record<Exclude<Variant, 'default'>, Template>>;

interface LocaleStrings {
  /** BCP 47 tag for Intl (numbers, money, dates). */
  intl: string;
  /** Title prefix: "[Critical] " / "【严重】". */
  tag(word: string): string;
  levels: Record<Level, string>;
  /** Title tag for events whose tag is not the level. */
  eventTags: Record<Exclude<EventType, 'balance.low'>, string>;
  titles: Record<EventType, EventTemplates>;
  /** First paragraph of the body: what happened and what to do. */
  summaries: Record<EventType, EventTemplates>;
  labels: {
    account: string;
    workspace: string;
    balance: string;
    level: string;
    threshold: string;
    runway: string;
    rate: string;
    lastHour: string;
    reminder: string;
    note: string;
    error: string;
    time: string;
    topUp: string;
    dashboard: string;
  };
  threshold: { below(t: string): string; atOrBelow(t: string): string; recoverAbove(t: string): string };
  runway: { days(n: string, raw: number): string; hours(n: string, raw: number): string; lessThanHour: string };
  perDay(amount: string): string;
  reminderValue(n: number): string;
  unknownAccount: string;
  topUpButton: string;
  dashboardButton: string;
  footer(workspace: string): string;
}

const EN: LocaleStrings = {
  intl: 'en-US',
  tag: (w) => `[${w}] `,
  levels: { info: 'Info', warning: 'Warning', critical: 'Critical', depleted: 'Depleted' },
  eventTags: {
    'balance.recovered': 'Recovered',
    'balance.runway_low': 'Runway low',
    'balance.runway_recovered': 'Recovered',
    'spend.spike': 'Spend spike',
    'source.failing': 'Source failing',
    'source.recovered': 'Source recovered',
    test: 'Test',
  },
  titles: {
    'balance.low': {
      default: (v) => `${v.account} balance low${v.balance ? `: ${v.balance}` : ''}`,
      depleted: (v) => `${v.account} balance used up${v.balance ? `: ${v.balance}` : ''}`,
      reminder: (v) => `Reminder: ${v.account} balance still low${v.balance ? `: ${v.balance}` : ''}`,
      depleted_reminder: (v) => `Reminder: ${v.account} balance still used up${v.balance ? `: ${v.balance}` : ''}`,
    },
    'balance.recovered': {
      default: (v) => `${v.account} balance back to ${v.balance}`,
      unknown: (v) => `${v.account} balance recovered`,
    },
    'balance.runway_low': {
      default: (v) => `${v.account} runs out of balance in ${v.runway}`,
      unknown: (v) => `${v.account} will run out of balance soon`,
    },
    'balance.runway_recovered': {
      default: (v) => `${v.account} balance lasts ${v.runway} again`,
      unknown: (v) => `${v.account} balance runway recovered`,
    },
    'spend.spike': { default: (v) => `${v.account} is spending unusually fast` },
    'source.failing': { default: (v) => `Cannot read the balance of ${v.account}` },
    'source.recovered': { default: (v) => `${v.account} balance readable again` },
    test: { default: () => 'balancewatch test notification' },
  },
  summaries: {
    'balance.low': {
      default: (v) =>
        `The balance of ${v.account} has fallen below the ${v.level?.toLowerCase() ?? 'alert'} threshold. Top it up to keep your API calls running.`,
      depleted: (v) =>
        `The balance of ${v.account} is used up. API calls made with this account will fail until it is topped up.`,
      reminder: (v) =>
        `Reminder: the balance of ${v.account} is still below the ${v.level?.toLowerCase() ?? 'alert'} threshold. Top it up to keep your API calls running.`,
      depleted_reminder: (v) =>
        `Reminder: the balance of ${v.account} is still used up. API calls made with this account fail until it is topped up.`,
    },
    'balance.recovered': {
      default: (v) => `The balance of ${v.account} is back to ${v.balance}. The low-balance alert is resolved.`,
      unknown: (v) => `The balance of ${v.account} has recovered. The low-balance alert is resolved.`,
    },
    'balance.runway_low': {
      default: (v) =>
        `At the current spending rate${v.rate ? ` of ${v.rate}` : ''}, the balance of ${v.account} runs out in ${v.runway}. Top it up before then.`,
      unknown: (v) =>
        `At the current spending rate, the balance of ${v.account} will run out soon. Top it up before then.`,
    },
    'balance.runway_recovered': {
      default: (v) =>
        `At the current spending rate, the balance of ${v.account} lasts ${v.runway} again. The runway alert is resolved.`,
      unknown: (v) =>
        `The balance of ${v.account} lasts long enough again at the current spending rate. The runway alert is resolved.`,
    },
    'spend.spike': {
      default: (v) =>
        `${v.account} spent far more in the last hour than its usual hourly average. Check for a leaked API key or a runaway job.`,
    },
    'source.failing': {
      default: (v) =>
        `balancewatch cannot read the balance of ${v.account}. Check the account's credentials and the provider's status: no balance alert can fire for this account until this is fixed.`,
    },
    'source.recovered': {
      default: (v) =>
        `balancewatch can read the balance of ${v.account} again. Balance alerts for this account work again.`,
    },
    test: {
      default: (v) =>
        `This is a test notification from balancewatch for the workspace ${v.workspace}. If you can read it, this channel works and low-balance alerts will reach you here.`,
    },
  },
  labels: {
    account: 'Account',
    workspace: 'Workspace',
    balance: 'Balance',
    level: 'Level',
    threshold: 'Threshold',
    runway: 'Runway',
    rate: 'Spend rate',
    lastHour: 'Spent in the last hour',
    reminder: 'Reminder',
    note: 'Note',
    error: 'Error',
    time: 'Time',
    topUp: 'Top up',
    dashboard: 'Dashboard',
  },
  threshold: {
    below: (t) => `below ${t}`,
    atOrBelow: (t) => `at or below ${t}`,
    recoverAbove: (t) => `resolved at ${t} or more`,
  },
  runway: {
    days: (n, raw) => `about ${n} ${raw === 1 ? 'day' : 'days'}`,
    hours: (n, raw) => `about ${n} ${raw === 1 ? 'hour' : 'hours'}`,
    lessThanHour: 'less than an hour',
  },
  perDay: (amount) => `${amount}/day`,
  reminderValue: (n) => `#${n} (the alert is still firing)`,
  unknownAccount: '(unknown account)',
  topUpButton: 'Top up now',
  dashboardButton: 'Open dashboard',
  footer: (w) => `Sent by balancewatch for the workspace ${w}.`,
};

const ZH: LocaleStrings = {
  intl: 'zh-CN',
  tag: (w) => `【${w}】`,
  levels: { info: '提示', warning: '警告', critical: '严重', depleted: '耗尽' },
  eventTags: {
    'balance.recovered': '已恢复',
    'balance.runway_low': '余额预警',
    'balance.runway_recovered': '已恢复',
    'spend.spike': '消费激增',
    'source.failing': '数据源异常',
    'source.recovered': '数据源已恢复',
    test: '测试',
  },
  titles: {
    'balance.low': {
      default: (v) => `${v.account} 余额不足${v.balance ? `：${v.balance}` : ''}`,
      depleted: (v) => `${v.account} 余额已用完${v.balance ? `：${v.balance}` : ''}`,
      reminder: (v) => `提醒：${v.account} 余额仍然不足${v.balance ? `：${v.balance}` : ''}`,
      depleted_reminder: (v) => `提醒：${v.account} 余额仍未充值${v.balance ? `：${v.balance}` : ''}`,
    },
    'balance.recovered': {
      default: (v) => `${v.account} 余额已恢复：${v.balance}`,
      unknown: (v) => `${v.account} 余额已恢复`,
    },
    'balance.runway_low': {
      default: (v) => `${v.account} 余额预计${v.runway}后用完`,
      unknown: (v) => `${v.account} 余额即将用完`,
    },
    'balance.runway_recovered': {
      default: (v) => `${v.account} 余额可用时间已恢复至${v.runway}`,
      unknown: (v) => `${v.account} 余额可用时间已恢复`,
    },
    'spend.spike': { default: (v) => `${v.account} 余额消耗异常加快` },
    'source.failing': { default: (v) => `无法读取 ${v.account} 的余额` },
    'source.recovered': { default: (v) => `${v.account} 余额读取已恢复` },
    test: { default: () => 'balancewatch 测试通知' },
  },
  summaries: {
    'balance.low': {
      default: (v) => `${v.account} 的余额已低于「${v.level ?? '告警'}」阈值，请及时充值，以免 API 调用中断。`,
      depleted: (v) => `${v.account} 的余额已用完，充值之前，使用该账户的 API 调用都会失败。`,
      reminder: (v) => `提醒：${v.account} 的余额仍低于「${v.level ?? '告警'}」阈值，请及时充值，以免 API 调用中断。`,
      depleted_reminder: (v) => `提醒：${v.account} 的余额仍处于用完状态，充值之前，使用该账户的 API 调用都会失败。`,
    },
    'balance.recovered': {
      default: (v) => `${v.account} 的余额已恢复至 ${v.balance}，余额不足告警已解除。`,
      unknown: (v) => `${v.account} 的余额已恢复，余额不足告警已解除。`,
    },
    'balance.runway_low': {
      default: (v) => `按当前消费速度${v.rate ? `（${v.rate}）` : ''}，${v.account} 的余额预计${v.runway}后用完，请在此之前充值。`,
      unknown: (v) => `按当前消费速度，${v.account} 的余额即将用完，请尽快充值。`,
    },
    'balance.runway_recovered': {
      default: (v) => `按当前消费速度，${v.account} 的余额还可使用${v.runway}，可用时间告警已解除。`,
      unknown: (v) => `按当前消费速度，${v.account} 的余额可用时间已恢复，可用时间告警已解除。`,
    },
    'spend.spike': {
      default: (v) =>
        `${v.account} 最近一小时的消费远高于平时的小时平均值，余额消耗异常加快。请检查是否有 API 密钥泄露或失控的任务。`,
    },
    'source.failing': {
      default: (v) =>
        `balancewatch 无法读取 ${v.account} 的余额。请检查该账户的凭据和服务商状态：修复之前，该账户不会触发任何余额告警。`,
    },
    'source.recovered': {
      default: (v) => `balancewatch 已恢复读取 ${v.account} 的余额，该账户的余额告警已恢复正常。`,
    },
    test: {
      default: (v) =>
        `这是 balancewatch 为工作区 ${v.workspace} 发送的测试通知。收到这条消息，说明该渠道工作正常，余额不足时您会在这里收到提醒。`,
    },
  },
  labels: {
    account: '账户',
    workspace: '工作区',
    balance: '余额',
    level: '级别',
    threshold: '阈值',
    runway: '预计可用',
    rate: '消费速度',
    lastHour: '最近一小时消费',
    reminder: '提醒',
    note: '备注',
    error: '错误',
    time: '时间',
    topUp: '充值',
    dashboard: '控制台',
  },
  threshold: {
    below: (t) => `低于 ${t}`,
    atOrBelow: (t) => `小于或等于 ${t}`,
    recoverAbove: (t) => `达到 ${t} 即解除`,
  },
  runway: {
    days: (n) => `约 ${n} 天`,
    hours: (n) => `约 ${n} 小时`,
    lessThanHour: '不到 1 小时',
  },
  perDay: (amount) => `${amount}/天`,
  reminderValue: (n) => `第 ${n} 次（告警仍未解除）`,
  unknownAccount: '（未知账户）',
  topUpButton: '立即充值',
  dashboardButton: '打开控制台',
  footer: (w) => `本邮件由 balancewatch 为工作区 ${w} 发送。`,
};

const STRINGS: Record<Lang, LocaleStrings> = { en: EN, 'zh-CN': ZH };

/** Accent colour of the HTML e-mail per event (balance.low: per level). */
const COLORS: Record<Level | Exclude<EventType, 'balance.low'>, string> = {
  info: '#2563eb',
  warning: '#d97706',
  critical: '#dc2626',
  depleted: '#7f1d1d',
  'balance.recovered': '#16a34a',
  'balance.runway_low': '#d97706',
  'balance.runway_recovered': '#16a34a',
  'spend.spike': '#d97706',
  'source.failing': '#dc2626',
  'source.recovered': '#16a34a',
  test: '#4b5563',
};

export function languageOf(locale: string | null | undefined): Lang {
  return /^zh(-cn|-hans(-cn)?)?$/i.test((locale ?? '').trim()) ? 'zh-CN' : 'en';
}

function isLevel(x: string | null): x is Level {
  return x !== null && (LEVELS as readonly string[]).includes(x);
}

/** User-supplied names go into one-line titles: no control characters or line breaks, bounded length. */
function oneLine(s: string, max = 200): string {
  const clean = s
    // eslint-disable-next-line no-control-regex -- stripping control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function money(amount: number, currency: string | null, intl: string): string {
  const unit = currency?.trim();
  if (unit) return formatMoney(amount, unit, intl);
  return numberFormat(intl, { maximumFractionDigits: 4 }).format(amount);
}

function runwayText(days: number, s: LocaleStrings): string {
  const hours = days * 24;
  if (hours < 1) return s.runway.lessThanHour;
  if (days < 1) {
    const h = Math.round(hours);
    return s.runway.hours(numberFormat(s.intl).format(h), h);
  }
  const d = Math.round(days * 10) / 10;
  return s.runway.days(numberFormat(s.intl, { maximumFractionDigits: 1 }).format(d), d);
}

function dateParts(date: Date, timeZone: string): { text: string; zone: string } {
  const fmt = dateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'longOffset',
  });
  const parts = Object.fromEntries(fmt.formatToParts(date).map((p) => [p.type, p.value]));
  const offset = (parts.timeZoneName ?? 'GMT').replace(/^GMT/, 'UTC');
  const zone = fmt.resolvedOptions().timeZone;
  const zoneLabel =
    zone === 'UTC' || zone === 'Etc/UTC' ? 'UTC' : `${zone}, ${offset === 'UTC' ? 'UTC+00:00' : offset}`;
  return { text: `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`, zone: zoneLabel };
}

// formatToParts costs ~50 µs, and a burst of alerts shares a few minutes and zones: remember the last results.
const timeCache = new Map<string, string>();

/** "2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)" in the workspace's time zone; UTC when the zone is invalid. */
export function formatTime(iso: string, timeZone: string | null | undefined): string {
  const date = new Date(iso);
  const ms = date.getTime();
  if (Number.isNaN(ms)) return iso;
  const zone = timeZone?.trim() || 'UTC';
  const key = `${Math.floor(ms / 60_000)}\0${zone}`; // the text has minute resolution
  const cached = timeCache.get(key);
  if (cached !== undefined) return cached;
  let p: { text: string; zone: string };
  try {
    p = dateParts(date, zone);
  } catch {
    p = dateParts(date, 'UTC');
  }
  const text = `${p.text} (${p.zone})`;
  if (timeCache.size >= 1000) timeCache.clear();
  timeCache.set(key, text);
  return text;
}

function variantOf(p: NotificationPayload): Variant {
  switch (p.type) {
    case 'balance.low': {
      const depleted = p.level === 'depleted';
      if (p.reminder > 0) return depleted ? 'depleted_reminder' : 'reminder';
      return depleted ? 'depleted' : 'default';
    }
    case 'balance.recovered':
      return p.balance === null ? 'unknown' : 'default';
    case 'balance.runway_low':
    case 'balance.runway_recovered':
      return p.runway_days === null || p.runway_days === undefined || !Number.isFinite(p.runway_days)
        ? 'unknown'
        : 'default';
    default:
      return 'default';
  }
}

function pick(t: EventTemplates, variant: Variant): Template {
  return (variant === 'default' ? undefined : t[variant]) ?? t.default;
}

interface Link {
  label: string;
  button: string;
  url: string;
}

/** The message's content, independent of its format. */
interface Model {
  lang: Lang;
  color: string;
  title: string;
  summary: string;
  facts: Array<[label: string, value: string]>;
  links: Link[];
  footer: string;
}

function buildModel(p: NotificationPayload, opts: RenderOptions): Model {
  const lang = languageOf(p.workspace.locale);
  const s = STRINGS[lang];
  const level = isLevel(p.level) ? p.level : null;
  const levelWord = level ? s.levels[level] : p.level ? oneLine(p.level, 40) : null;
  const hasRunway = p.runway_days !== null && p.runway_days !== undefined && Number.isFinite(p.runway_days);
  const v: Vars = {
    account: p.account ? oneLine(p.account.name) || s.unknownAccount : s.unknownAccount,
    workspace: oneLine(p.workspace.name),
    balance: p.balance !== null && Number.isFinite(p.balance) ? money(p.balance, p.currency, s.intl) : null,
    level: levelWord,
    runway: hasRunway ? runwayText(p.runway_days as number, s) : null,
    rate: typeof p.spend_per_day === 'number' && Number.isFinite(p.spend_per_day) ? s.perDay(money(p.spend_per_day, p.currency, s.intl)) : null,
    reminder: p.reminder,
  };
  const variant = variantOf(p);
  const tag = p.type === 'balance.low' ? (levelWord ?? s.levels.warning) : s.eventTags[p.type];
  const title = `${s.tag(tag)}${pick(s.titles[p.type], variant)(v)}`;
  const summary = pick(s.summaries[p.type], variant)(v);

  const facts: Model['facts'] = [];
  if (p.account) facts.push([s.labels.account, v.account]);
  facts.push([s.labels.workspace, v.workspace]);
  if (v.balance !== null) facts.push([s.labels.balance, v.balance]);
  if (levelWord) facts.push([s.labels.level, levelWord]);
  // Forecast events carry a number of days (runway) or an hourly line (spike), not a balance line: the runway and
  // rate facts below say what matters.
  const balanceLine = p.type === 'balance.low' || p.type === 'balance.recovered';
  if (balanceLine && p.threshold !== null && Number.isFinite(p.threshold)) {
    const t = money(p.threshold, p.currency, s.intl);
    const text =
      p.type === 'balance.recovered'
        ? s.threshold.recoverAbove(t)
        : level === 'depleted'
          ? s.threshold.atOrBelow(t)
          : s.threshold.below(t);
    facts.push([s.labels.threshold, text]);
  }
  if (v.runway !== null) facts.push([s.labels.runway, v.runway]);
  if (v.rate !== null && p.type !== 'balance.low') facts.push([s.labels.rate, v.rate]);
  if (p.type === 'spend.spike' && typeof p.spend_last_hour === 'number')
    facts.push([s.labels.lastHour, money(p.spend_last_hour, p.currency, s.intl)]);
  if (p.reminder > 0) facts.push([s.labels.reminder, s.reminderValue(p.reminder)]);
  if (p.note?.trim()) facts.push([s.labels.note, p.note.trim()]);
  if (p.type === 'source.failing' && p.source_error?.message) facts.push([s.labels.error, oneLine(p.source_error.message, 400)]);
  facts.push([s.labels.time, formatTime(p.occurred_at, p.workspace.time_zone)]);

  const links: Link[] = [];
  const topUp = p.account?.top_up_url?.trim();
  if (topUp) links.push({ label: s.labels.topUp, button: s.topUpButton, url: oneLine(topUp, 2048) });
  const dash = opts.dashboardUrl?.trim();
  if (dash) links.push({ label: s.labels.dashboard, button: s.dashboardButton, url: oneLine(dash, 2048) });

  const color = p.type === 'balance.low' ? COLORS[level ?? 'warning'] : COLORS[p.type];
  return { lang, color, title, summary, facts, links, footer: s.footer(v.workspace) };
}

function toText(m: Model): string {
  const lines = [m.summary, ''];
  const sep = m.lang === 'zh-CN' ? '：' : ': ';
  for (const [label, value] of m.facts) lines.push(`${label}${sep}${value}`);
  for (const l of m.links) lines.push(`${l.label}${sep}${l.url}`);
  return lines.join('\n');
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** Only http(s) URLs become links (no javascript: or data: from user input); others are shown as text. */
function safeHref(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

const FONT =
  "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Arial,'PingFang SC','Microsoft YaHei',sans-serif";

function toHtml(m: Model): string {
  const e = escapeHtml;
  const multiline = (s: string) => e(s).replace(/\r?\n/g, '<br>');
  const cell = 'padding:6px 0;border-top:1px solid #eef0f3;vertical-align:top;';
  const rows = [
    ...m.facts.map(
      ([label, value]) =>
        `<tr><td style="${cell}padding-right:16px;color:#6b7280;white-space:nowrap;">${e(label)}</td><td style="${cell}color:#111827;">${multiline(value)}</td></tr>`,
    ),
    ...m.links.map((l) => {
      const href = safeHref(l.url);
      const value = href
        ? `<a href="${e(href)}" style="color:#2563eb;word-break:break-all;">${e(l.url)}</a>`
        : e(l.url);
      return `<tr><td style="${cell}padding-right:16px;color:#6b7280;white-space:nowrap;">${e(l.label)}</td><td style="${cell}word-break:break-all;">${value}</td></tr>`;
    }),
  ].join('\n');
  const buttons = m.links
    .map((l) => ({ l, href: safeHref(l.url) }))
    .filter((x): x is { l: Link; href: string } => x.href !== null)
    .map(
      ({ l, href }, i) =>
        `<a href="${e(href)}" style="display:inline-block;margin:0 8px 8px 0;padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600;font-size:14px;${
          i === 0
            ? `background:${m.color};color:#ffffff;`
            : 'background:#ffffff;color:#374151;border:1px solid #d1d5db;'
        }">${e(l.button)}</a>`,
    )
    .join('');
  return `<!DOCTYPE html>
<html lang="${m.lang === 'zh-CN' ? 'zh-CN' : 'en'}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${e(m.title)}</title></head>
<body style="margin:0;padding:0;background:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;"><tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:560px;background:#ffffff;border-radius:8px;border-top:4px solid ${m.color};font-family:${FONT};color:#111827;">
<tr><td style="padding:24px;">
<h1 style="margin:0 0 12px;font-size:18px;line-height:1.4;font-weight:700;color:${m.color};">${e(m.title)}</h1>
<p style="margin:0 0 16px;font-size:14px;line-height:1.6;">${multiline(m.summary)}</p>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;font-size:14px;line-height:1.5;">
${rows}
</table>
${buttons ? `<div style="margin-top:20px;">${buttons}</div>` : ''}
<p style="margin:20px 0 0;font-size:12px;line-height:1.5;color:#9ca3af;">${e(m.footer)}</p>
</td></tr>
</table>
</td></tr></table>
</body>
</html>`;
}

/** Urgency for services with priorities: the worst levels and a failing source are critical; recoveries resolve. */
export function severityOf(p: Pick<NotificationPayload, 'type' | 'level'>): Severity {
  switch (p.type) {
    case 'balance.low':
      return p.level === 'critical' || p.level === 'depleted' ? 'critical' : p.level === 'info' ? 'info' : 'warning';
    case 'source.failing':
      return 'critical';
    case 'balance.runway_low':
    case 'spend.spike':
      return 'warning';
    case 'balance.recovered':
    case 'balance.runway_recovered':
    case 'source.recovered':
      return 'resolved';
    default:
      return 'info';
  }
}

/** Renders a notification in the workspace's language: 'zh-CN' → Simplified Chinese, anything else English. */
export function renderMessage(payload: NotificationPayload, opts: RenderOptions = {}): RenderedMessage {
  const m = buildModel(payload, opts);
  return {
    lang: m.lang,
    title: m.title,
    text: toText(m),
    html: toHtml(m),
    summary: m.summary,
    facts: m.facts,
    links: m.links.filter((l) => safeHref(l.url) !== null),
    color: m.color,
    severity: severityOf(payload),
    footer: m.footer,
    custom: false,
  };
}

/** The plain-text layout of message parts (used for digests and templates that change only the title). */
export function partsToText(lang: 'en' | 'zh-CN', summary: string, facts: RenderedMessage['facts'], links: RenderedMessage['links']): string {
  return toText({ lang, summary, facts, links: links.map((l) => ({ ...l })), color: '', title: '', footer: '' });
}

/** The notification's values as the built-in message shows them, in its workspace's language (for user templates). */
export interface FormattedValues {
  lang: Lang;
  /** "$3.00" / "US$3.00", null when unknown. */
  balance: string | null;
  /** The threshold amount ("$5.00"), null when the notification has none. */
  threshold: string | null;
  /** "about 2.5 days" / "约 2.5 天", null when unknown. */
  runway: string | null;
  /** "$144.00/day" / "US$144.00/天", null when unknown. */
  spendPerDay: string | null;
  /** "$12.00", null when unknown. */
  spendLastHour: string | null;
  /** The level's display word ("Critical" / "严重"), null when the notification has no level. */
  levelName: string | null;
  /** "2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)". */
  time: string;
}

function finite(x: number | null | undefined): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Formats the notification's values exactly as renderMessage does (same money, runway, level and time formats). */
export function formatValues(p: NotificationPayload): FormattedValues {
  const lang = languageOf(p.workspace.locale);
  const s = STRINGS[lang];
  const level = isLevel(p.level) ? p.level : null;
  return {
    lang,
    balance: p.balance !== null && Number.isFinite(p.balance) ? money(p.balance, p.currency, s.intl) : null,
    threshold: finite(p.threshold) ? money(p.threshold, p.currency, s.intl) : null,
    runway: finite(p.runway_days) ? runwayText(p.runway_days, s) : null,
    spendPerDay: finite(p.spend_per_day) ? s.perDay(money(p.spend_per_day, p.currency, s.intl)) : null,
    spendLastHour: finite(p.spend_last_hour) ? money(p.spend_last_hour, p.currency, s.intl) : null,
    levelName: level ? s.levels[level] : p.level ? oneLine(p.level, 40) : null,
    time: formatTime(p.occurred_at, p.workspace.time_zone),
  };
}

/** An amount in a currency (ISO code or a free unit such as "credits"), formatted for the language. */
export function formatAmount(amount: number, currency: string | null, lang: 'en' | 'zh-CN'): string {
  return money(amount, currency, STRINGS[lang].intl);
}
