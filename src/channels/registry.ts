import { barkChannel } from './bark.js';
import { dingtalkChannel } from './dingtalk.js';
import { discordChannel } from './discord.js';
import { emailChannel } from './email.js';
import { feishuChannel, larkChannel } from './feishu.js';
import { gotifyChannel } from './gotify.js';
import { ntfyChannel } from './ntfy.js';
import { pagerdutyChannel } from './pagerduty.js';
import { slackChannel } from './slack.js';
import { teamsChannel } from './teams.js';
import { telegramChannel } from './telegram.js';
import { type ChannelType, ChannelUrlError } from './types.js';
import { webhookChannel } from './webhook.js';
import { wecomChannel } from './wecom.js';

// Every channel type, by its `type`. A new integration is one file plus one line here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry has its own config type; the registry erases it
const CHANNELS: ChannelType<any>[] = [
  webhookChannel,
  emailChannel,
  wecomChannel,
  dingtalkChannel,
  feishuChannel,
  larkChannel,
  barkChannel,
  gotifyChannel,
  ntfyChannel,
  slackChannel,
  discordChannel,
  telegramChannel,
  pagerdutyChannel,
  teamsChannel,
];

export type ChannelRegistry = ReadonlyMap<string, ChannelType<Record<string, unknown>>>;

export const channelRegistry: ChannelRegistry = new Map(CHANNELS.map((c) => [c.type, c]));

/**
 * What a pasted URL means (SPEC §4): an Apprise-style scheme names its channel (`dingtalk://…`); an http(s) URL is
 * the native webhook of the service whose host it is (oapi.dingtalk.com, hooks.slack.com, …), or else a generic
 * webhook. Throws ChannelUrlError with an actionable message when the URL cannot be used.
 */
export function channelFromUrl(raw: string, registry: ChannelRegistry = channelRegistry): { type: ChannelType; fields: Record<string, unknown> } {
  const trimmed = raw.trim();
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed);
  if (!m) throw new ChannelUrlError('expected a URL such as https://oapi.dingtalk.com/robot/send?access_token=… or an Apprise-style URL such as dingtalk://token/');
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'http' || scheme === 'https') {
    for (const type of registry.values()) {
      if (type.type === 'webhook' || !type.parseUrl) continue;
      const fields = type.parseUrl(trimmed, scheme);
      if (fields) return { type, fields };
    }
    const webhook = registry.get('webhook')!;
    return { type: webhook, fields: { url: trimmed } };
  }
  for (const type of registry.values()) {
    if (!type.schemes?.includes(scheme) || !type.parseUrl) continue;
    const fields = type.parseUrl(trimmed, scheme);
    if (!fields) throw new ChannelUrlError(`this ${scheme}:// URL could not be read as a ${type.label} channel`);
    return { type, fields };
  }
  const known = [...registry.values()].flatMap((t) => t.schemes ?? []).map((s) => `${s}://`);
  throw new ChannelUrlError(`"${scheme}://" is not a channel balancewatch knows; use an http(s) webhook URL or one of: ${known.join(', ')}`);
}
