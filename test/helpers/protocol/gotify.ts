import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback Gotify server: POST {prefix}/message authenticated by an application token (X-Gotify-Key header,
// ?token= or "Authorization: Bearer"), JSON body checked like gotify/server's model, and its real answers: the stored
// message, or {"error","errorCode","errorDescription"}.

export interface GotifyMessage {
  id: number;
  token: string;
  title: string;
  message: string;
  priority: number | undefined;
  extras: Record<string, any> | undefined;
  headers: Received['headers'];
}

export interface FakeGotify {
  url: string;
  messages: GotifyMessage[];
  rejections: Array<{ status: number; reason: string }>;
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const error = (code: number, error: string, errorDescription: string) => json(code, { error, errorCode: code, errorDescription });

export async function startFakeGotify(opts: { tokens: string[]; prefix?: string }): Promise<FakeGotify> {
  const rx = await new Receiver().start();
  const prefix = opts.prefix ?? '';
  const messages: GotifyMessage[] = [];
  const rejections: FakeGotify['rejections'] = [];
  const forced: Answer[] = [];
  let nextId = 1;
  const reject = (a: Answer, reason: string) => {
    rejections.push({ status: a.status, reason });
    return a;
  };
  rx.respond = (req) => {
    const f = forced.shift();
    if (f) return f;
    const u = new URL(req.path, 'http://x');
    if (req.method !== 'POST' || u.pathname !== `${prefix}/message`) return reject(error(404, 'Not Found', 'page not found'), 'route');
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    const token = String(req.headers['x-gotify-key'] ?? '') || u.searchParams.get('token') || bearer || '';
    if (!opts.tokens.includes(token))
      return reject(error(401, 'Unauthorized', 'you need to provide a valid access token or user credentials to access this api'), 'token');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return reject(error(400, 'Bad Request', 'extras are only supported with JSON'), 'not JSON');
    const p = req.body as Record<string, any>;
    if (typeof p !== 'object' || p === null) return reject(error(400, 'Bad Request', 'invalid character in JSON'), 'bad JSON');
    if (typeof p.message !== 'string' || p.message.length === 0) return reject(error(400, 'Bad Request', "Field 'message' is required"), 'message');
    if (p.title !== undefined && typeof p.title !== 'string') return reject(error(400, 'Bad Request', "Field 'title' must be a string"), 'title');
    if (p.priority !== undefined && !Number.isInteger(p.priority)) return reject(error(400, 'Bad Request', "Field 'priority' must be an integer"), 'priority');
    if (p.extras !== undefined) {
      const bad = typeof p.extras !== 'object' || Object.keys(p.extras).some((k) => !/^[a-z]+::[a-zA-Z]+$/.test(k));
      if (bad) return reject(error(400, 'Bad Request', 'extras must be namespaced as "namespace::key"'), 'extras');
    }
    const m: GotifyMessage = { id: nextId++, token, title: p.title ?? '', message: p.message, priority: p.priority, extras: p.extras, headers: req.headers };
    messages.push(m);
    return json(200, { id: m.id, appid: 1, message: m.message, title: m.title || 'app', priority: m.priority ?? 0, extras: m.extras, date: new Date().toISOString() });
  };
  return { url: `${rx.url}${prefix}`, messages, rejections, forceNext: (...a) => forced.push(...a), close: () => rx.close() };
}
