import { emailChannel } from './email.js';
import type { ChannelType } from './types.js';
import { webhookChannel } from './webhook.js';

// Every channel type, by its `type`. A new integration is one file plus one line here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry has its own config type; the registry erases it
const CHANNELS: ChannelType<any>[] = [webhookChannel, emailChannel];

export const channelRegistry: ReadonlyMap<string, ChannelType<Record<string, unknown>>> = new Map(
  CHANNELS.map((c) => [c.type, c]),
);
