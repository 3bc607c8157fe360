import { z } from 'zod';
import { byteLength, joinWithin, truncateChars } from './format.js';
import { arg, authority, boolArg, escapeCardMarkdown, jsonBody, parseAppriseUrl, scrub } from './push-util.js';
import { type ChannelResult, type ChannelType, ChannelUrlError, classifyHttp, excerpt, type RenderedMessage, retryAfterMs, type Severity } from './types.js';

// Microsoft Teams through a Workflows (Power Automate) webhook: "Post to a channel when a webhook request is
// received". POST the Bot Framework message envelope with one Adaptive Card 1.4. The URL's `sig` is the credential,
// so the whole URL is secret. 200/202 = accepted.

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected the Workflows webhook URL (https://…/workflows/…/triggers/manual/paths/invoke?…&sig=…)' }).max(4096),
  })
  .strict();

export type TeamsConfig = z.infer<typeof schema>;

/** Workflows refuse messages over about 28 KB ("request entity too large"). */
export const TEAMS_MAX_BYTES = 27_000;

/** Adaptive Card TextBlock colours by severity. */
export const TEAMS_COLOR_BY_SEVERITY: Record<Severity, 'attention' | 'warning' | 'accent' | 'good'> = {
  critical: 'attention',
  warning: 'warning',
  info: 'accent',
  resolved: 'good',
};

/**
 * Adaptive Card TextBlocks (and FactSet values) render a Markdown subset (emphasis, links, lists): user text is
 * escaped so an account called "*prod*" or "[x](y)" shows as written.
 */
export const escapeCardText = escapeCardMarkdown;

const API_VERSION = '2016-06-01';
const PA_API_VERSION = '2022-03-01-preview';
const ID = /^[A-Za-z0-9_-]+$/;

function workflowUrl(host: string, pa: boolean, workflow: string, sig: string, version: string): string {
  const q = new URLSearchParams({ 'api-version': version, sp: '/triggers/manual/run', sv: '1.0', sig });
  return `https://${host}${pa ? '/powerautomate/automations/direct' : ''}/workflows/${workflow}/triggers/manual/paths/invoke?${q.toString()}`;
}

const NATIVE_PATH = /^(\/powerautomate\/automations\/direct(?:\/cu\/[A-Za-z0-9_-]+)?)?\/workflows\/([A-Za-z0-9_-]+)\/triggers\/manual\/paths\/invoke\/?$/i;

function parseUrl(raw: string, scheme: string): Record<string, unknown> | null {
  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    const host = url.hostname.toLowerCase();
    const msHost = host.endsWith('.logic.azure.com') || host.endsWith('.environment.api.powerplatform.com');
    // Apprise accepts the workflow webhook's shape on any host (…/workflows/{id}/triggers/manual/paths/invoke?…).
    if (!msHost && !NATIVE_PATH.test(url.pathname)) return null;
    if (!NATIVE_PATH.test(url.pathname))
      throw new ChannelUrlError('this is not a Workflows webhook URL: copy the URL of the "When a Teams webhook request is received" trigger (…/workflows/…/triggers/manual/paths/invoke?…)');
    if (!url.searchParams.get('sig')) throw new ChannelUrlError('this Workflows URL has no sig=… parameter: copy the whole URL, it is the credential');
    // Workflows webhooks are https only (Apprise rewrites http:// too).
    url.protocol = 'https:';
    return { url: url.toString() };
  }
  // workflow(s)://host[:port]/{workflow}/{signature}[?pa=yes&ver=…] → the https webhook URL.
  const u = parseAppriseUrl(raw, 'Workflows');
  if (!u.host) throw new ChannelUrlError('a Workflows URL needs the host: workflows://host/WORKFLOW_ID/SIGNATURE');
  const segments = [...u.segments];
  const workflow = arg(u, 'workflow', 'id') ?? segments.shift();
  const sig = arg(u, 'signature', 'sig') ?? segments.shift();
  if (!workflow || !ID.test(workflow)) throw new ChannelUrlError('a Workflows URL needs the workflow id: workflows://host/WORKFLOW_ID/SIGNATURE');
  if (!sig || !ID.test(sig)) throw new ChannelUrlError('a Workflows URL needs the signature (the sig=… value of the webhook URL): workflows://host/WORKFLOW_ID/SIGNATURE');
  const pa = boolArg(u.query.get('powerautomate') ?? u.query.get('pa'), false);
  const version = arg(u, 'api-version', 'ver') ?? (pa ? PA_API_VERSION : API_VERSION);
  return { url: workflowUrl(authority(u), pa, workflow, sig, version) };
}

type Element = Record<string, unknown>;

/** TextBlock Markdown needs a blank line for a line break: each line becomes its own paragraph. */
function paragraphs(lines: string[]): string[] {
  return lines.filter((l) => l.trim()).flatMap((l, i) => (i === 0 ? [l] : ['', l]));
}

function cardBody(m: RenderedMessage, budget: number): { body: Element[]; actions: Element[] } {
  const title: Element = {
    type: 'TextBlock',
    text: escapeCardText(truncateChars(m.title, 300)),
    weight: 'Bolder',
    size: 'Large',
    style: 'heading',
    color: TEAMS_COLOR_BY_SEVERITY[m.severity],
    wrap: true,
  };
  if (m.custom) {
    // A user template's text is the author's own (Markdown subset) body.
    return { body: [title, { type: 'TextBlock', text: joinWithin(m.text.split('\n'), budget, byteLength), wrap: true }], actions: [] };
  }
  const body: Element[] = [title, { type: 'TextBlock', text: joinWithin(paragraphs(m.summary.split('\n').map(escapeCardText)), Math.floor(budget / 2), byteLength), wrap: true }];
  if (m.facts.length > 0) {
    let used = 0;
    const facts: Element[] = [];
    for (const [label, value] of m.facts) {
      const fact = { title: escapeCardText(truncateChars(label, 100)), value: escapeCardText(truncateChars(value, 1000)) };
      used += byteLength(fact.title) + byteLength(fact.value) + 30;
      if (used > budget / 2) break;
      facts.push(fact);
    }
    body.push({ type: 'FactSet', facts, spacing: 'Medium' });
  }
  const actions = m.links.slice(0, 5).map((l) => ({ type: 'Action.OpenUrl', title: truncateChars(l.button, 60), url: l.url }));
  return { body, actions };
}

export function teamsPayload(m: RenderedMessage): Record<string, unknown> {
  const build = (budget: number) => {
    const { body, actions } = cardBody(m, budget);
    return {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body,
            ...(actions.length > 0 ? { actions } : {}),
            msteams: { width: 'full' },
          },
        },
      ],
    };
  };
  // JSON escaping can grow the text; shrink the budget until the whole envelope fits.
  let budget = 20_000;
  let payload = build(budget);
  while (byteLength(JSON.stringify(payload)) > TEAMS_MAX_BYTES && budget > 500) {
    budget = Math.floor(budget / 2);
    payload = build(budget);
  }
  return payload;
}

function teamsError(status: number, body: string, headers: Record<string, string>, now: number, secrets: string[]): ChannelResult {
  const response = scrub(excerpt(body), secrets);
  const json = jsonBody(body);
  const err = json?.error && typeof json.error === 'object' ? (json.error as Record<string, unknown>) : null;
  const code = typeof err?.code === 'string' ? err.code : '';
  const detail = scrub([status, code].filter(Boolean).join(' '), secrets);
  if (status === 401 || status === 403)
    return { ok: false, status, response, retryable: false, error: `Teams Workflows refused the webhook's signature (${detail}): copy the whole workflow URL again` };
  if (status === 404) return { ok: false, status, response, retryable: false, error: `no Teams workflow answers at this URL (${detail}): the workflow was deleted or the URL is incomplete` };
  if (status === 413) return { ok: false, status, response, retryable: false, error: 'Teams Workflows refused the card as too large (HTTP 413)' };
  if (status === 400) return { ok: false, status, response, retryable: false, error: `Teams Workflows rejected the message (${detail}): check that the workflow posts the Adaptive Card it receives` };
  if (status === 409 && /disabled|notenabled/i.test(code))
    return { ok: false, status, response, retryable: false, error: `the Teams workflow is turned off (${detail}): turn it on in Power Automate` };
  const r = classifyHttp(status, body, headers, now);
  if (r.ok) return r;
  const after = retryAfterMs(headers['retry-after'], now);
  return { ...r, response, ...(after !== undefined ? { retryAfterMs: after } : {}) };
}

export const teamsChannel: ChannelType<TeamsConfig> = {
  type: 'teams',
  label: 'Microsoft Teams',
  schema,
  secretFields: ['url'],
  schemes: ['workflow', 'workflows'],
  parseUrl,
  // Teams throttled incoming webhooks above 4 requests per second.
  limits: [{ count: 4, windowMs: 1000 }],
  async send(config, n, ctx) {
    const res = await ctx.http.request(config.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(teamsPayload(n.message)),
    });
    let sig = '';
    try {
      sig = new URL(config.url).searchParams.get('sig') ?? '';
    } catch {}
    if (res.status === 200 || res.status === 202) return { ok: true, status: res.status, response: scrub(excerpt(res.body), [sig, config.url]) };
    return teamsError(res.status, res.body, res.headers, ctx.now(), [sig, config.url]);
  },
};
