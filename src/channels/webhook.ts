import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { classifyHttp, type ChannelType, type OutgoingNotification } from './types.js';

// The "balance reminder API" (SPEC §7.3): a signed JSON POST that platforms and monitoring systems consume.

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'not a valid HTTP header name');
const RESERVED = new Set(['content-type', 'content-length', 'host', 'x-balancewatch-event', 'x-balancewatch-delivery', 'x-balancewatch-signature']);

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).max(2048),
    secret: z.string().min(1).max(512).optional(),
    headers: z
      .record(headerName, z.string().max(4096).regex(/^[^\r\n]*$/, 'header values cannot contain line breaks'))
      .refine((h) => Object.keys(h).length <= 20, 'at most 20 custom headers')
      .refine((h) => !Object.keys(h).some((k) => RESERVED.has(k.toLowerCase())), 'custom headers cannot replace Content-Type, Host or X-Balancewatch-*')
      .optional(),
  })
  .strict();

export type WebhookConfig = z.infer<typeof schema>;

export function webhookBody(n: OutgoingNotification): string {
  const p = n.payload;
  return JSON.stringify({
    id: n.key,
    type: p.type,
    occurred_at: p.occurred_at,
    workspace: { id: p.workspace.id, name: p.workspace.name, external_id: p.workspace.external_id },
    account: p.account ? { id: p.account.id, name: p.account.name, external_id: p.account.external_id } : null,
    balance: p.balance,
    currency: p.currency,
    level: p.level,
    threshold: p.threshold,
    ...(p.runway_days !== undefined ? { runway_days: p.runway_days } : {}),
    ...(p.spend_per_day !== undefined ? { spend_per_day: p.spend_per_day } : {}),
    ...(p.spend_last_hour !== undefined && p.type === 'spend.spike' ? { spend_last_hour: p.spend_last_hour } : {}),
    message: { title: n.message.title, text: n.message.text },
  });
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export const webhookChannel: ChannelType<WebhookConfig> = {
  type: 'webhook',
  schema,
  secretFields: ['secret', 'headers'],
  async send(config, n, ctx) {
    const body = webhookBody(n);
    const headers: Record<string, string> = {
      ...config.headers,
      'content-type': 'application/json',
      'x-balancewatch-event': n.payload.type,
      'x-balancewatch-delivery': n.key,
    };
    if (config.secret) headers['x-balancewatch-signature'] = signWebhook(config.secret, body, Math.floor(ctx.now() / 1000));
    const res = await ctx.http.request(config.url, { method: 'POST', headers, body });
    return classifyHttp(res.status, res.body, res.headers, ctx.now());
  },
};
