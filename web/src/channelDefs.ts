// The channel types the add-channel form offers, with their fields (docs/channels.md). Secrets are sent once and
// shown masked afterwards.

export type ChannelFieldKind = 'url' | 'text' | 'secret' | 'emails' | 'json';
export interface ChannelFieldDef {
  name: string;
  kind: ChannelFieldKind;
  required?: boolean;
  placeholder?: string;
}

export const CHANNEL_TYPES: Record<string, ChannelFieldDef[]> = {
  webhook: [
    { name: 'url', kind: 'url', required: true, placeholder: 'https://ops.example.com/hooks/balance' },
    { name: 'secret', kind: 'secret', placeholder: 'whsec_…' },
    { name: 'headers', kind: 'json', placeholder: '{"X-Team": "billing"}' },
  ],
  email: [{ name: 'to', kind: 'emails', required: true, placeholder: 'ops@example.com, finance@example.com' }],
  wecom: [{ name: 'url', kind: 'url', required: true, placeholder: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…' }],
  dingtalk: [
    { name: 'url', kind: 'url', required: true, placeholder: 'https://oapi.dingtalk.com/robot/send?access_token=…' },
    { name: 'secret', kind: 'secret', placeholder: 'SEC…' },
    { name: 'keyword', kind: 'text' },
  ],
  feishu: [
    { name: 'url', kind: 'url', required: true, placeholder: 'https://open.feishu.cn/open-apis/bot/v2/hook/…' },
    { name: 'secret', kind: 'secret' },
    { name: 'keyword', kind: 'text' },
  ],
  lark: [
    { name: 'url', kind: 'url', required: true, placeholder: 'https://open.larksuite.com/open-apis/bot/v2/hook/…' },
    { name: 'secret', kind: 'secret' },
    { name: 'keyword', kind: 'text' },
  ],
  slack: [{ name: 'url', kind: 'url', required: true, placeholder: 'https://hooks.slack.com/services/…' }],
  discord: [{ name: 'url', kind: 'url', required: true, placeholder: 'https://discord.com/api/webhooks/…' }],
  teams: [{ name: 'url', kind: 'url', required: true, placeholder: 'https://….logic.azure.com/workflows/…' }],
  telegram: [
    { name: 'bot_token', kind: 'secret', required: true, placeholder: '123456789:AAH…' },
    { name: 'chat_id', kind: 'text', required: true, placeholder: '-1001234567890' },
  ],
  bark: [
    { name: 'device_key', kind: 'secret', required: true },
    { name: 'server', kind: 'url', placeholder: 'https://api.day.app' },
  ],
  gotify: [
    { name: 'server', kind: 'url', required: true, placeholder: 'https://gotify.example.com' },
    { name: 'token', kind: 'secret', required: true },
  ],
  ntfy: [
    { name: 'topic', kind: 'text', required: true, placeholder: 'billing-alerts' },
    { name: 'server', kind: 'url', placeholder: 'https://ntfy.sh' },
    { name: 'token', kind: 'secret', placeholder: 'tk_…' },
  ],
  pagerduty: [{ name: 'routing_key', kind: 'secret', required: true }],
};

/** Types whose "where do I find this URL" help the form shows (the seeds' group bots). */
export const HELP_TYPES = ['wecom', 'dingtalk', 'feishu'] as const;

/** What a channel points at, for the list: its (masked) URL, server/topic or recipients. */
export function channelTarget(c: Record<string, unknown>): string {
  const s = (k: string) => (typeof c[k] === 'string' ? (c[k] as string) : null);
  if (Array.isArray(c.to)) return (c.to as string[]).join(', ');
  if (s('topic')) return `${s('server') ?? 'https://ntfy.sh'}/${s('topic')}`;
  if (s('chat_id') !== null || typeof c.chat_id === 'number') return `chat ${String(c.chat_id)}`;
  return s('url') ?? s('server') ?? '';
}
