import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback Discord webhook endpoint: POST /api/webhooks/{id}/{token}[?wait=true&thread_id=…] with Discord's
// answers — 404 {"message":"Unknown Webhook","code":10015}, 401 {"message":"Invalid Webhook Token","code":50027},
// 400 {"code":50035,"message":"Invalid Form Body","errors":…} for embeds over Discord's limits (title 256,
// description 4096, 25 fields of 256/1024, footer 2048, 6000 in total, content 2000), 400 Unknown Channel (10003)
// for an unknown thread, 200 with the message under wait=true (204 otherwise). It runs Discord's webhook bucket
// (5 requests per 2 s) with the X-RateLimit-* headers, and answers 429 {"retry_after": s, "global": false} with
// Retry-After past it or on demand (`rateLimitNext`).

export interface DiscordMessage {
  id: string;
  at: number;
  webhook: string;
  query: Record<string, string>;
  body: Record<string, any>;
}

export interface FakeDiscord {
  url: string;
  messages: DiscordMessage[];
  rejections: Array<{ status: number; reason: string }>;
  forceNext(...answers: Answer[]): void;
  rateLimitNext(retryAfterSeconds: number): void;
  close(): Promise<void>;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

export const discordRateLimited = (retryAfter: number): Answer =>
  json(
    429,
    { message: 'You are being rate limited.', retry_after: retryAfter, global: false },
    { 'retry-after': String(Math.ceil(retryAfter)), 'x-ratelimit-scope': 'user', 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0' },
  );

const len = (s: unknown) => (typeof s === 'string' ? Array.from(s).length : 0);

/** Discord's embed and message limits; the Invalid Form Body errors for what breaks them. */
export function checkDiscordBody(p: Record<string, any>): Record<string, string> {
  const errors: Record<string, string> = {};
  if (p.content !== undefined && len(p.content) > 2000) errors.content = 'Must be 2000 or fewer in length.';
  if (p.username !== undefined && (len(p.username) < 1 || len(p.username) > 80)) errors.username = 'Must be between 1 and 80 in length.';
  const embeds = p.embeds ?? [];
  if (!Array.isArray(embeds) || embeds.length > 10) errors.embeds = 'Must be 10 or fewer in length.';
  let total = 0;
  (Array.isArray(embeds) ? embeds : []).forEach((e: any, i: number) => {
    const at = (k: string) => `embeds.${i}.${k}`;
    if (e.title !== undefined && len(e.title) > 256) errors[at('title')] = 'Must be 256 or fewer in length.';
    if (e.description !== undefined && len(e.description) > 4096) errors[at('description')] = 'Must be 4096 or fewer in length.';
    if (e.color !== undefined && (!Number.isInteger(e.color) || e.color < 0 || e.color > 0xffffff)) errors[at('color')] = 'Int value should be less than or equal to 16777215.';
    if (e.url !== undefined && !/^https?:\/\//.test(e.url)) errors[at('url')] = 'Scheme must be one of (http, https).';
    if (e.timestamp !== undefined && Number.isNaN(Date.parse(e.timestamp))) errors[at('timestamp')] = 'Could not interpret as ISO8601.';
    if (e.footer !== undefined && len(e.footer.text) > 2048) errors[at('footer.text')] = 'Must be 2048 or fewer in length.';
    const fields = e.fields ?? [];
    if (fields.length > 25) errors[at('fields')] = 'Must be 25 or fewer in length.';
    fields.forEach((f: any, j: number) => {
      if (len(f.name) < 1 || len(f.name) > 256) errors[at(`fields.${j}.name`)] = 'Must be between 1 and 256 in length.';
      if (len(f.value) < 1 || len(f.value) > 1024) errors[at(`fields.${j}.value`)] = 'Must be between 1 and 1024 in length.';
      total += len(f.name) + len(f.value);
    });
    total += len(e.title) + len(e.description) + len(e.footer?.text) + len(e.author?.name);
  });
  if (total > 6000) errors.embeds = 'Embed size exceeds maximum size of 6000';
  return errors;
}

export async function startFakeDiscord(opts: { webhooks: Array<{ id: string; token: string }>; threads?: string[] }): Promise<FakeDiscord> {
  const rx = await new Receiver().start();
  const messages: DiscordMessage[] = [];
  const rejections: FakeDiscord['rejections'] = [];
  const forced: Answer[] = [];
  const window: number[] = [];
  let nextId = 1_200_000_000_000_000_000n;
  const reject = (a: Answer, reason: string) => {
    rejections.push({ status: a.status, reason });
    return a;
  };
  rx.respond = (req: Received) => {
    const u = new URL(req.path, 'http://x');
    const m = /^\/api(?:\/v\d+)?\/webhooks\/([^/]+)\/([^/]+)\/?$/.exec(u.pathname);
    if (req.method !== 'POST' || !m) return reject(json(404, { message: '404: Not Found', code: 0 }), 'route');
    const hook = opts.webhooks.find((w) => w.id === m[1]);
    if (!hook) return reject(json(404, { message: 'Unknown Webhook', code: 10015 }), 'webhook');
    if (hook.token !== m[2]) return reject(json(401, { message: 'Invalid Webhook Token', code: 50027 }), 'token');
    const f = forced.shift();
    if (f) return f;
    // Discord's per-webhook bucket: 5 requests per 2 seconds.
    const now = Date.now();
    while (window.length && window[0]! <= now - 2000) window.shift();
    if (window.length >= 5) {
      const after = (window[0]! + 2000 - now) / 1000;
      return reject(discordRateLimited(Math.max(0.001, after)), 'rate limit');
    }
    window.push(now);
    const remaining = 5 - window.length;
    const resetAfter = ((window[0]! + 2000 - now) / 1000).toFixed(3);
    const rl = { 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': String(remaining), 'x-ratelimit-reset-after': resetAfter, 'x-ratelimit-bucket': 'fakebucket' };
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
      return reject(json(400, { message: 'Cannot send an empty message', code: 50006 }, rl), 'content-type');
    const p = req.body as Record<string, any>;
    if (typeof p !== 'object' || p === null) return reject(json(400, { message: 'The request body contains invalid JSON.', code: 50109 }, rl), 'bad JSON');
    const thread = u.searchParams.get('thread_id');
    if (thread !== null && !(opts.threads ?? []).includes(thread)) return reject(json(400, { message: 'Unknown Channel', code: 10003 }, rl), 'thread');
    if (!p.content && !(Array.isArray(p.embeds) && p.embeds.length > 0)) return reject(json(400, { message: 'Cannot send an empty message', code: 50006 }, rl), 'empty');
    const errors = checkDiscordBody(p);
    if (Object.keys(errors).length > 0) return reject(json(400, { code: 50035, errors, message: 'Invalid Form Body' }, rl), JSON.stringify(errors));
    const id = String(nextId++);
    messages.push({ id, at: req.at, webhook: hook.id, query: Object.fromEntries(u.searchParams), body: p });
    if (u.searchParams.get('wait') !== 'true') return { status: 204, body: '', headers: rl };
    return json(
      200,
      { id, type: 0, content: p.content ?? '', embeds: p.embeds ?? [], channel_id: thread ?? '1000', webhook_id: hook.id, timestamp: new Date(req.at).toISOString() },
      rl,
    );
  };
  return {
    url: rx.url,
    messages,
    rejections,
    forceNext: (...a) => forced.push(...a),
    rateLimitNext: (s) => forced.push(discordRateLimited(s)),
    close: () => rx.close(),
  };
}
