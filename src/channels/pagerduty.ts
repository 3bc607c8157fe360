import { createHash } from 'node:crypto';
import { z } from 'zod';
import { truncateChars } from './format.js';
import { arg, httpUrl, jsonBody, parseAppriseUrl, scrub, serverUrl, trimBase } from './push-util.js';
import {
  type ChannelContext,
  type ChannelResult,
  type ChannelType,
  ChannelUrlError,
  classifyHttp,
  excerpt,
  type OutgoingNotification,
  retryAfterMs,
  type Severity,
} from './types.js';

// PagerDuty Events API v2: POST {api_base}/v2/enqueue, the routing (integration) key in the body. A firing event
// triggers an alert, its recovery resolves it; both carry the same dedup_key, derived from the account, the rule and
// the alert's episode, so each episode is one incident and a later breach opens a new one. 202 = accepted.

export const PD_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
type PdSeverity = (typeof PD_SEVERITIES)[number];

const text255 = z.string().trim().min(1).max(255);

const schema = z
  .object({
    routing_key: z.string().regex(/^[A-Za-z0-9_+-]{1,128}$/, 'the routing key is the 32-character Integration Key of an Events API v2 integration'),
    /** Events API base URL (e.g. a proxy or test receiver); default by region. */
    api_base: serverUrl('PagerDuty Events API').optional(),
    region: z.enum(['us', 'eu'], { error: 'region must be "us" or "eu"' }).optional(),
    /** payload.source: the affected system (default "balancewatch"). */
    source: text255.optional(),
    /** payload.component (default: the account's name). */
    component: text255.optional(),
    /** payload.group (default: the workspace's name). */
    group: text255.optional(),
    /** payload.class (default: the rule, e.g. "balance.low"). */
    class: text255.optional(),
    /** Fixed severity instead of the one chosen by the alert level. */
    severity: z.enum(PD_SEVERITIES, { error: `severity must be one of ${PD_SEVERITIES.join(', ')}` }).optional(),
    /** Extra custom_details entries. */
    custom_details: z
      .record(z.string().min(1).max(100), z.string().max(1000))
      .refine((d) => Object.keys(d).length <= 20, 'at most 20 custom details')
      .optional(),
    /** An extra link on every incident. */
    click: httpUrl.optional(),
  })
  .strict();

export type PagerDutyConfig = z.infer<typeof schema>;

/** Which alert rule an event belongs to: trigger and resolve of one rule share a dedup_key. */
const RULE_OF: Record<string, string> = {
  'balance.low': 'balance.low',
  'balance.recovered': 'balance.low',
  'balance.runway_low': 'balance.runway_low',
  'balance.runway_recovered': 'balance.runway_low',
  'spend.spike': 'spend.spike',
  'source.failing': 'source.failing',
  'source.recovered': 'source.failing',
};
const RESOLVING = new Set(['balance.recovered', 'balance.runway_recovered', 'source.recovered']);

/** A resolve: a recovery event, or the silent end of a spend spike (its event with no level, engine/deliveries.ts). */
const resolves = (p: OutgoingNotification['payload']) => RESOLVING.has(p.type) || (p.type === 'spend.spike' && p.level === null);

export const PD_SEVERITY_BY_SEVERITY: Record<Severity, PdSeverity> = { critical: 'critical', warning: 'warning', info: 'info', resolved: 'info' };

function bounded(key: string): string {
  return key.length <= 255 ? key : `bw-${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * The incident key: one per (account, rule, episode). The delivery key differs per event (trigger, escalation,
 * reminder, recovery), so it cannot be used; the episode number grows each time the alert starts firing again.
 */
export function dedupKey(n: OutgoingNotification): string {
  const p = n.payload;
  const rule = RULE_OF[p.type];
  if (p.type === 'test') return bounded(`bw-test-${n.key}`);
  if (!rule || !p.account || n.message.digestOf) return bounded(`bw-${n.key}`);
  return bounded(`bw-${p.account.id}-${rule}-${p.episode}`);
}

function endpoint(config: PagerDutyConfig): string {
  const base = config.api_base ?? (config.region === 'eu' ? 'https://events.eu.pagerduty.com' : 'https://events.pagerduty.com');
  return `${trimBase(base)}/v2/enqueue`;
}

const num = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function triggerEvent(config: PagerDutyConfig, n: OutgoingNotification, severityOverride?: PdSeverity): Record<string, unknown> {
  const p = n.payload;
  const m = n.message;
  const details: Record<string, unknown> = {
    event: p.type,
    account: p.account?.name,
    account_id: p.account?.id,
    account_external_id: p.account?.external_id ?? undefined,
    workspace: p.workspace.name,
    balance: num(p.balance),
    currency: p.currency ?? undefined,
    level: p.level ?? undefined,
    threshold: num(p.threshold),
    runway_days: num(p.runway_days),
    spend_per_day: num(p.spend_per_day),
    spend_last_hour: p.type === 'spend.spike' ? num(p.spend_last_hour) : undefined,
    episode: p.type === 'test' ? undefined : p.episode,
    reminder: p.reminder > 0 ? p.reminder : undefined,
    top_up_url: p.account?.top_up_url ?? undefined,
    message: m.text,
    ...config.custom_details,
  };
  for (const k of Object.keys(details)) if (details[k] === undefined) delete details[k];
  const links = m.links.map((l) => ({ href: l.url, text: l.button }));
  if (config.click && !links.some((l) => l.href === config.click)) links.push({ href: config.click, text: 'Link' });
  const dashboard = m.links.find((l) => !p.account?.top_up_url || l.url !== p.account.top_up_url.trim());
  return {
    routing_key: config.routing_key,
    event_action: 'trigger',
    dedup_key: dedupKey(n),
    payload: {
      summary: truncateChars(m.title, 1024),
      source: config.source ?? 'balancewatch',
      severity: severityOverride ?? config.severity ?? PD_SEVERITY_BY_SEVERITY[m.severity],
      timestamp: p.occurred_at,
      component: truncateChars(config.component ?? p.account?.name ?? 'balancewatch', 255),
      group: truncateChars(config.group ?? p.workspace.name, 255),
      class: config.class ?? RULE_OF[p.type] ?? p.type,
      custom_details: details,
    },
    ...(links.length > 0 ? { links } : {}),
    client: 'balancewatch',
    ...(dashboard ? { client_url: dashboard.url } : {}),
  };
}

export function resolveEvent(config: PagerDutyConfig, n: OutgoingNotification): Record<string, unknown> {
  return { routing_key: config.routing_key, event_action: 'resolve', dedup_key: dedupKey(n) };
}

function pdResult(status: number, body: string, headers: Record<string, string>, now: number, key: string): ChannelResult {
  const response = scrub(excerpt(body), [key]);
  const json = jsonBody(body);
  if (status === 202 || (status >= 200 && status < 300 && json?.status === 'success')) return { ok: true, status, response };
  const message = typeof json?.message === 'string' ? json.message : '';
  const errors = Array.isArray(json?.errors) ? json.errors.filter((e): e is string => typeof e === 'string') : [];
  const detail = scrub(excerpt([message, errors.join('; ')].filter(Boolean).join(': ') || `HTTP ${status}`, 300), [key]);
  if (status === 400) return { ok: false, status, response, retryable: false, error: `PagerDuty rejected the event (${detail}): check the routing key` };
  if (status === 429) {
    // PagerDuty suggests waiting about 30 s before retrying a throttled event.
    return { ok: false, status, response, retryable: true, error: 'PagerDuty throttled the integration (HTTP 429); will retry', retryAfterMs: retryAfterMs(headers['retry-after'], now) ?? 30_000 };
  }
  if (status === 404) return { ok: false, status, response, retryable: false, error: 'no PagerDuty Events API answers at this URL (HTTP 404): check api_base' };
  const r = classifyHttp(status, body, headers, now);
  return r.ok ? r : { ...r, response };
}

async function post(config: PagerDutyConfig, event: Record<string, unknown>, ctx: ChannelContext): Promise<ChannelResult> {
  const res = await ctx.http.request(endpoint(config), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
  return pdResult(res.status, res.body, res.headers, ctx.now(), config.routing_key);
}

function parseUrl(raw: string, scheme: string): Record<string, unknown> | null {
  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    const host = url.hostname.toLowerCase();
    if (host !== 'events.pagerduty.com' && host !== 'events.eu.pagerduty.com') return null;
    const region = host === 'events.eu.pagerduty.com' ? { region: 'eu' } : {};
    // https://events.pagerduty.com/integration/{integration key}/enqueue carries the key in the path.
    const m = /^\/integration\/([^/]+)\/enqueue\/?$/.exec(url.pathname);
    if (m) return { routing_key: decodeURIComponent(m[1]!), ...region };
    throw new ChannelUrlError('this PagerDuty Events API URL has no routing key: use pagerduty://ROUTING_KEY@APIKEY, or type "pagerduty" with routing_key');
  }
  // pagerduty://{integrationkey}@{apikey}[/{source}[/{component}]][?group=&class=&click=&region=&severity=&+k=v]
  const u = parseAppriseUrl(raw, 'PagerDuty');
  const key = arg(u, 'integrationkey') ?? u.user;
  if (!key) throw new ChannelUrlError('a PagerDuty URL needs the integration (routing) key before the "@": pagerduty://INTEGRATION_KEY@APIKEY');
  const out: Record<string, unknown> = { routing_key: key };
  const segments = [...u.segments];
  const source = arg(u, 'source') ?? segments.shift();
  if (source) out.source = source;
  const component = arg(u, 'component') ?? segments.shift();
  if (component) out.component = component;
  for (const k of ['group', 'class', 'click'] as const) {
    const v = arg(u, k);
    if (v) out[k] = v;
  }
  const region = arg(u, 'region')?.toLowerCase();
  if (region) {
    if (region !== 'us' && region !== 'eu') throw new ChannelUrlError(`"${region}" is not a PagerDuty region; use region=us or region=eu`);
    out.region = region;
  }
  const severity = arg(u, 'severity')?.toLowerCase();
  if (severity) {
    const s = PD_SEVERITIES.find((x) => x.startsWith(severity));
    if (!s) throw new ChannelUrlError(`"${severity}" is not a PagerDuty severity; use critical, error, warning or info`);
    out.severity = s;
  }
  if (Object.keys(u.plus).length > 0) out.custom_details = { ...u.plus };
  return out;
}

export const pagerdutyChannel: ChannelType<PagerDutyConfig> = {
  type: 'pagerduty',
  label: 'PagerDuty',
  schema,
  secretFields: ['routing_key'],
  schemes: ['pagerduty'],
  parseUrl,
  // Events API v2 accepts about 120 events per minute per integration key.
  limits: [{ count: 120, windowMs: 60_000 }],
  // Each alert is its own incident with its own dedup_key: never merge two into one event.
  mergeable: false,
  closesIncidents: true,
  async send(config, n, ctx) {
    if (resolves(n.payload)) return post(config, resolveEvent(config, n), ctx);
    if (n.payload.type !== 'test') return post(config, triggerEvent(config, n), ctx);
    // Test: a real (info) alert, resolved at once, so the integration is proven without leaving an incident open.
    const trigger = await post(config, triggerEvent(config, n, 'info'), ctx);
    if (!trigger.ok) return trigger;
    const resolve = await post(config, resolveEvent(config, n), ctx);
    if (resolve.ok) return { ...trigger, response: `${trigger.response ?? ''} (test alert triggered and resolved)`.trim() };
    return { ...trigger, response: `${trigger.response ?? ''} (the test alert could not be resolved: ${resolve.error})`.trim() };
  },
};
