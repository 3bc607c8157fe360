import { z } from 'zod';
import { joinWithin, markupLines, truncateChars, type MarkupDialect } from './format.js';
import { ChannelUrlError, classifyHttp, excerpt, retryAfterMs, type ChannelResult, type ChannelType, type RenderedMessage } from './types.js';
import { parseAppriseUrl } from './webhook.js';

// Slack incoming webhooks (research/channels.md "Slack incoming webhook"). The webhook URL is the credential.
// The message is Block Kit (header, mrkdwn section, fields, link buttons) with a plain `text` fallback for
// notifications. Slack's mrkdwn needs only &, < and > escaped; everything user-supplied is escaped, so an account
// called "<!channel>" never pings anyone. Slack answers errors as plain strings ("invalid_payload", "no_service").
// Bot tokens (xoxb-/xoxp-, chat.postMessage) are not supported: a channel is one incoming webhook.

const SERVICE_HOSTS = { hook: 'https://hooks.slack.com/services', 'gov-hook': 'https://hooks.slack-gov.com/services' } as const;

const mention = z
  .string()
  .regex(/^(@?(here|channel|everyone)|[UWS][A-Z0-9]{2,20})$/, 'a mention is @here, @channel, @everyone, a user id (U…/W…) or a user-group id (S…)');

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected the incoming webhook URL (https://hooks.slack.com/services/…)' }).max(2048),
    /** Channel override (#channel or @user); honoured by legacy webhooks only, new Slack apps post to their own channel. */
    channel: z
      .string()
      .regex(/^[#@]?[A-Za-z0-9_.-]{1,80}$/, 'a channel is #name, @user or a channel id')
      .optional(),
    /** Display name and icon overrides (legacy webhooks). */
    username: z.string().trim().min(1).max(80).optional(),
    icon_emoji: z.string().regex(/^:[a-z0-9_+-]{1,60}:$/, 'an emoji such as :moneybag:').optional(),
    icon_url: z.url({ protocol: /^https?$/, error: 'expected an http(s) image URL' }).max(2048).optional(),
    /** Who to mention on firing alerts (not on recoveries or tests). */
    mentions: z.array(mention).max(20).optional(),
  })
  .strict();

export type SlackConfig = z.infer<typeof schema>;

/** Slack mrkdwn/plain-text escaping: &, < and > (Slack's own rule; nothing else has an escape). */
export function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A URL inside `<url|label>`: "|" and ">" would end it early. */
function slackUrl(url: string): string {
  return url.replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C');
}

const dialect: MarkupDialect = {
  escape: escapeSlack,
  bold: (t) => `*${escapeSlack(t)}*`,
  link: (label, url) => `<${slackUrl(url)}|${escapeSlack(label).replace(/\|/g, '¦')}>`,
  bullet: '• ',
};

export function renderMention(m: string): string {
  const bare = m.replace(/^@/, '');
  if (bare === 'here' || bare === 'channel' || bare === 'everyone') return `<!${bare}>`;
  if (bare.startsWith('S')) return `<!subteam^${bare}>`;
  return `<@${bare}>`;
}

/** Escapes `raw` and cuts it (before escaping, so no entity is broken) until the escaped text fits `max` characters. */
function fitEscaped(raw: string, max: number): string {
  let text = raw;
  for (;;) {
    const escaped = escapeSlack(text);
    if (Array.from(escaped).length <= max) return escaped;
    const over = Array.from(escaped).length - max;
    text = truncateChars(text, Math.max(1, Array.from(text).length - Math.max(1, over)));
    if (Array.from(text).length <= 1) return escapeSlack(text).slice(0, max);
  }
}

const HEADER_MAX = 150;
const SECTION_MAX = 3000;
const FIELD_MAX = 2000;
const FIELDS_PER_SECTION = 10;
const BUTTON_TEXT_MAX = 75;
const TEXT_MAX = 35_000;

type Block = Record<string, unknown>;

/** The message with every part cut to a sane length (before markup), so no single line can swallow the rest. */
function bounded(m: RenderedMessage): RenderedMessage {
  return {
    ...m,
    summary: m.summary
      .split('\n')
      .map((l) => truncateChars(l, 2000))
      .join('\n'),
    facts: m.facts.map(([l, v]) => [truncateChars(l, 200), truncateChars(v, 1000)] as [string, string]),
  };
}

/** The webhook body: Block Kit plus the `text` fallback shown in notifications. */
export function slackPayload(config: SlackConfig, m: RenderedMessage): Record<string, unknown> {
  const firing = m.severity === 'warning' || m.severity === 'critical';
  const mentionLine = firing && config.mentions?.length ? config.mentions.map(renderMention).join(' ') : null;
  const blocks: Block[] = [{ type: 'header', text: { type: 'plain_text', text: truncateChars(m.title, HEADER_MAX), emoji: true } }];
  let text: string;
  if (m.custom) {
    // A user template: its text is the author's own mrkdwn, sent as written.
    const lines = m.text.split('\n');
    if (mentionLine) lines.unshift(mentionLine);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: joinWithin(lines, SECTION_MAX) || ' ' } });
    text = joinWithin([escapeSlack(m.title), ...lines], TEXT_MAX);
  } else {
    const summary = [...(mentionLine ? [mentionLine] : []), ...m.summary.split('\n').map((l) => fitEscaped(l, SECTION_MAX - 2))];
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: joinWithin(summary, SECTION_MAX) } });
    const fields = m.facts.map(([label, value]) => {
      const head = `*${fitEscaped(label, 200)}*\n`;
      return { type: 'mrkdwn', text: head + fitEscaped(value, FIELD_MAX - Array.from(head).length) };
    });
    for (let i = 0; i < fields.length; i += FIELDS_PER_SECTION) blocks.push({ type: 'section', fields: fields.slice(i, i + FIELDS_PER_SECTION) });
    const buttons = m.links
      .filter((l) => l.url.length <= 3000)
      .slice(0, 25)
      .map((l, i) => ({
        type: 'button',
        text: { type: 'plain_text', text: truncateChars(l.button, BUTTON_TEXT_MAX), emoji: true },
        url: l.url,
        action_id: `balancewatch_link_${i}`,
        ...(i === 0 && m.severity !== 'resolved' ? { style: 'primary' } : {}),
      }));
    if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons });
    if (m.footer) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: fitEscaped(m.footer, SECTION_MAX) }] });
    const plain = markupLines(bounded(m), dialect);
    text = joinWithin([...(mentionLine ? [mentionLine] : []), `*${escapeSlack(m.title)}*`, ...plain], TEXT_MAX);
  }
  return {
    text,
    blocks,
    ...(config.channel ? { channel: config.channel } : {}),
    ...(config.username ? { username: config.username } : {}),
    ...(config.icon_emoji ? { icon_emoji: config.icon_emoji } : {}),
    ...(config.icon_url ? { icon_url: config.icon_url } : {}),
  };
}

/** Slack's plain-string error answers, as actionable messages. */
const SLACK_ERRORS: Record<string, { error: string; retryable?: boolean }> = {
  invalid_payload: { error: 'Slack rejected the message as invalid (invalid_payload); this is a balancewatch bug, please report it' },
  invalid_blocks: { error: 'Slack rejected the message layout (invalid_blocks); this is a balancewatch bug, please report it' },
  invalid_blocks_format: { error: 'Slack rejected the message layout (invalid_blocks_format); this is a balancewatch bug, please report it' },
  no_text: { error: 'Slack says the message has no text (no_text): check the channel template' },
  too_many_attachments: { error: 'Slack rejected the message (too_many_attachments)' },
  no_service: { error: 'Slack says the webhook URL is no longer valid (no_service): create a new incoming webhook' },
  invalid_token: { error: 'Slack says the webhook URL is no longer valid (invalid_token): create a new incoming webhook' },
  no_service_id: { error: 'Slack says the webhook URL is incomplete (no_service_id): copy the whole incoming webhook URL' },
  no_team: { error: 'Slack says the webhook URL is no longer valid (no_team): create a new incoming webhook' },
  team_disabled: { error: 'Slack says the workspace of this webhook is disabled (team_disabled)' },
  channel_not_found: {
    error: "Slack cannot find the webhook's channel (channel_not_found): it may have been deleted, or the channel override is wrong; create a new incoming webhook",
  },
  channel_is_archived: { error: 'the Slack channel is archived (channel_is_archived): unarchive it or create a webhook for another channel' },
  action_prohibited: { error: 'Slack refused the post (action_prohibited): a workspace admin restricted posting to this channel' },
  posting_to_general_channel_denied: { error: 'Slack refused the post (posting_to_general_channel_denied): only admins may post to #general' },
  user_not_found: { error: 'Slack cannot find the user of the channel override (user_not_found): check the channel setting' },
  rollup_error: { error: 'Slack had an internal error (rollup_error); will retry', retryable: true },
};

export function classifySlack(status: number, body: string, headers: Record<string, string>, now: number): ChannelResult {
  const response = excerpt(body);
  const code = body.trim();
  if (status >= 200 && status < 300) {
    const known = SLACK_ERRORS[code];
    if (known && !known.retryable) return { ok: false, status, response, retryable: false, error: known.error };
    return { ok: true, status, response };
  }
  if (status === 429) {
    const after = retryAfterMs(headers['retry-after'], now);
    return {
      ok: false,
      status,
      response,
      retryable: true,
      error: 'Slack is rate limiting this webhook (429); will retry',
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    };
  }
  const known = SLACK_ERRORS[code];
  if (known) return { ok: false, status, response, retryable: known.retryable ?? false, error: known.error };
  return classifyHttp(status, body, headers, now);
}

const TOKEN_AB = /^[A-Z0-9]+$/i;
const TOKEN_C = /^[A-Za-z0-9]+$/;
const CHANNEL = /^(?<channel>[+#@]?[A-Z0-9_.-]{1,80})(:(?<thread>[0-9.]+))?$/i;
const MODES = ['hook', 'gov-hook', 'bot', 'workflow', 'trigger'] as const;

function hookUrl(a: string | undefined, b: string | undefined, c: string | undefined, mode: 'hook' | 'gov-hook'): string {
  if (!a || !b || !c)
    throw new ChannelUrlError(
      'a Slack webhook URL needs its three tokens: slack://T…/B…/XXXX (the last three parts of https://hooks.slack.com/services/T…/B…/XXXX)',
    );
  if (!TOKEN_AB.test(a) || !TOKEN_AB.test(b) || !TOKEN_C.test(c)) throw new ChannelUrlError('the Slack webhook tokens may only contain letters and digits');
  return `${SERVICE_HOSTS[mode]}/${a}/${b}/${c}`;
}

const BOT_TOKEN_ERROR =
  'Slack bot tokens (xoxb-/xoxp-) are not supported: use an incoming webhook URL (https://hooks.slack.com/services/T…/B…/XXXX, or slack://T…/B…/XXXX)';

/** slack://[botname@]A/B/C[/#channel][?to=…&mode=hook|gov-hook&token=A/B/C] as Apprise reads it. */
function parseSlackScheme(raw: string): Record<string, unknown> {
  const u = parseAppriseUrl(raw);
  if (!u) throw new ChannelUrlError('expected slack://T…/B…/XXXX');
  const modeArg = u.query.get('mode') ?? '';
  const mode = modeArg ? MODES.find((m) => m.startsWith(modeArg.toLowerCase())) : undefined;
  if (modeArg && !mode) throw new ChannelUrlError(`mode=${modeArg} is not a Slack mode: use hook or gov-hook`);
  if (mode === 'workflow' || mode === 'trigger')
    throw new ChannelUrlError('Slack Workflow webhooks are not supported: use an incoming webhook URL (https://hooks.slack.com/services/…)');
  const parts = [u.host, ...u.segments].filter(Boolean);
  const tokenArg = u.query.get('token');
  const tokens = tokenArg ? tokenArg.split(/[ \t\r\n,#\\/]+/).filter(Boolean) : parts;
  if (mode === 'bot' || tokens[0]?.toLowerCase().startsWith('xo')) throw new ChannelUrlError(BOT_TOKEN_ERROR);
  const url = hookUrl(tokens[0], tokens[1], tokens[2], mode === 'gov-hook' ? 'gov-hook' : 'hook');
  // Whatever follows the three tokens in the path names the channel(s).
  const targets = parts.slice(3);
  const to = u.query.get('to');
  if (to) targets.push(...to.split(/[ \t\r\n,\\/]+/).filter(Boolean));
  if (targets.length > 1)
    throw new ChannelUrlError(
      `this URL names ${targets.length} Slack channels (${targets.join(', ')}); a balancewatch channel posts to one: create one channel per Slack channel`,
    );
  const fields: Record<string, unknown> = { url };
  if (targets[0]) {
    const c = CHANNEL.exec(targets[0]);
    if (!c?.groups) throw new ChannelUrlError(`"${targets[0]}" is not a Slack channel (#name or @user)`);
    if (c.groups.thread) throw new ChannelUrlError('posting into a Slack thread is not supported by incoming webhooks');
    const ch = c.groups.channel!;
    fields.channel = ch.startsWith('+') ? ch.slice(1) : ch.startsWith('#') || ch.startsWith('@') ? ch : `#${ch}`;
  }
  if (u.user) fields.username = u.user;
  return fields;
}

const NATIVE = /^https?:\/\/hooks\.slack(-gov)?\.com\/services\/([A-Z0-9]+)\/([A-Z0-9]+)\/([A-Za-z0-9]+)\/?(\?.*)?$/i;

export const slackChannel: ChannelType<SlackConfig> = {
  type: 'slack',
  label: 'Slack',
  schema,
  secretFields: ['url'],
  schemes: ['slack'],
  // Slack allows about one message per second per webhook with short bursts; we never burst (queued notifications
  // are merged into a digest instead), which keeps every message clear of a 429.
  limits: [{ count: 1, windowMs: 1000 }],
  parseUrl(raw, scheme) {
    if (scheme === 'slack') return parseSlackScheme(raw);
    let host: string;
    try {
      host = new URL(raw).hostname.toLowerCase();
    } catch {
      return null;
    }
    if (host === 'slack.com' && /\/api\//.test(raw)) throw new ChannelUrlError(BOT_TOKEN_ERROR);
    if (host !== 'hooks.slack.com' && host !== 'hooks.slack-gov.com') return null;
    const m = NATIVE.exec(raw.trim());
    if (m) return { url: `${SERVICE_HOSTS[m[1] ? 'gov-hook' : 'hook']}/${m[2]}/${m[3]}/${m[4]}` };
    if (/\/(workflows|triggers)\//i.test(raw))
      throw new ChannelUrlError('Slack Workflow webhooks are not supported: use an incoming webhook URL (https://hooks.slack.com/services/…)');
    throw new ChannelUrlError('this is not a Slack incoming webhook URL: it looks like https://hooks.slack.com/services/T…/B…/XXXX');
  },
  async send(config, n, ctx) {
    const body = JSON.stringify(slackPayload(config, n.message));
    const res = await ctx.http.request(config.url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body });
    return classifySlack(res.status, res.body, res.headers, ctx.now());
  },
};
