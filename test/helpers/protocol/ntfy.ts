import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback ntfy server: "publish as JSON" to the root URL, Bearer-token or Basic auth with per-topic write access,
// anonymous access off when asked, the visitor rate limit (burst, then one request per interval) and ntfy's real
// answers: the published message, or {"code":40101,"http":401,"error":"unauthorized","link":…}.

export interface NtfyMessage {
  id: string;
  topic: string;
  title?: string;
  message: string;
  priority?: number;
  tags?: string[];
  markdown?: boolean;
  click?: string;
  actions?: any[];
  /** Who published: "token:<t>", "user:<name>" or "anonymous". */
  by: string;
  headers: Received['headers'];
}

export interface FakeNtfy {
  url: string;
  messages: NtfyMessage[];
  rejections: Array<{ status: number; code?: number; reason: string }>;
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

const TOPIC = /^[-_A-Za-z0-9]{1,64}$/;
const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const err = (code: number, error: string, link?: string) => json(Math.floor(code / 100), { code, http: Math.floor(code / 100), error, ...(link ? { link } : {}) });

export async function startFakeNtfy(opts: {
  tokens?: string[];
  users?: Record<string, string>;
  /** Topics the authenticated users may write (default: all). */
  writable?: string[];
  /** Anonymous publishing (default true, like ntfy.sh). */
  anonymous?: boolean;
  /** Visitor limit: `burst` requests, then one per `refillMs`. */
  rate?: { burst: number; refillMs: number };
}): Promise<FakeNtfy> {
  const rx = await new Receiver().start();
  const messages: NtfyMessage[] = [];
  const rejections: FakeNtfy['rejections'] = [];
  const forced: Answer[] = [];
  let tokens = opts.rate?.burst ?? Infinity;
  let last = Date.now();
  const reject = (a: Answer, reason: string) => {
    const body = JSON.parse(a.body ?? '{}');
    rejections.push({ status: a.status, code: body.code, reason });
    return a;
  };
  rx.respond = (req) => {
    const f = forced.shift();
    if (f) return f;
    if (opts.rate) {
      const now = Date.now();
      tokens = Math.min(opts.rate.burst, tokens + (now - last) / opts.rate.refillMs);
      last = now;
      if (tokens < 1) return reject(err(42901, 'limit reached: too many requests', 'https://ntfy.sh/docs/publish/#limitations'), 'rate');
      tokens -= 1;
    }
    if (req.method !== 'POST' && req.method !== 'PUT') return reject(err(40401, 'page not found'), 'method');
    if (new URL(req.path, 'http://x').pathname !== '/') return reject(err(40401, 'page not found'), 'only JSON publishing to the root URL is expected');
    const auth = String(req.headers.authorization ?? '');
    let by = 'anonymous';
    if (auth) {
      const bearer = /^Bearer (\S+)$/.exec(auth)?.[1];
      const basic = /^Basic (\S+)$/.exec(auth)?.[1];
      if (bearer && opts.tokens?.includes(bearer)) by = `token:${bearer}`;
      else if (basic) {
        const [user, ...rest] = Buffer.from(basic, 'base64').toString('utf8').split(':');
        if (user && opts.users && opts.users[user] === rest.join(':')) by = `user:${user}`;
        else return reject(err(40101, 'unauthorized', 'https://ntfy.sh/docs/publish/#authentication'), 'basic auth');
      } else return reject(err(40101, 'unauthorized', 'https://ntfy.sh/docs/publish/#authentication'), 'token');
    }
    const p = req.body as Record<string, any>;
    if (typeof p !== 'object' || p === null) return reject(err(40024, 'invalid request: JSON body invalid'), 'bad JSON');
    if (typeof p.topic !== 'string' || !TOPIC.test(p.topic)) return reject(err(40009, 'invalid request: topic invalid'), 'topic');
    if (by === 'anonymous' && opts.anonymous === false) return reject(err(40301, 'forbidden', 'https://ntfy.sh/docs/publish/#authentication'), 'anonymous');
    if (by !== 'anonymous' && opts.writable && !opts.writable.includes(p.topic)) return reject(err(40301, 'forbidden', 'https://ntfy.sh/docs/publish/#authentication'), 'topic not writable');
    if (typeof p.message !== 'string') return reject(err(40024, 'invalid request: message must be a string'), 'message');
    if (p.priority !== undefined && !(Number.isInteger(p.priority) && p.priority >= 1 && p.priority <= 5)) return reject(err(40007, 'invalid priority'), 'priority');
    if (p.tags !== undefined && !(Array.isArray(p.tags) && p.tags.every((t: unknown) => typeof t === 'string'))) return reject(err(40024, 'invalid request: tags'), 'tags');
    if (p.actions !== undefined && !(Array.isArray(p.actions) && p.actions.length <= 3 && p.actions.every((a: any) => a?.action === 'view' && typeof a.label === 'string' && /^https?:\/\//.test(a.url))))
      return reject(err(40018, 'invalid request: actions invalid'), 'actions');
    if (Buffer.byteLength(p.message) > 4096) rejections.push({ status: 200, reason: 'message over 4096 bytes: ntfy turns it into an attachment' });
    const m: NtfyMessage = { id: Math.random().toString(36).slice(2, 14), topic: p.topic, title: p.title, message: p.message, priority: p.priority, tags: p.tags, markdown: p.markdown, click: p.click, actions: p.actions, by, headers: req.headers };
    messages.push(m);
    const time = Math.floor(Date.now() / 1000);
    return json(200, { id: m.id, time, expires: time + 43200, event: 'message', topic: m.topic, title: m.title, message: m.message, priority: m.priority, tags: m.tags, click: m.click, content_type: p.markdown ? 'text/markdown' : undefined });
  };
  return { url: rx.url, messages, rejections, forceNext: (...a) => forced.push(...a), close: () => rx.close() };
}
