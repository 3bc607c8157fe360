import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback Telegram Bot API: POST /bot<token>/sendMessage with Telegram's own checks and answers — an unknown token
// is 401 Unauthorized (404 Not Found when it is not even token-shaped), an unknown chat 400 "chat not found", a
// missing topic 400 "message thread not found", HTML that Telegram's parser would refuse 400 "can't parse
// entities", more than 4096 characters after entity parsing 400 "message is too long". Success is
// {"ok":true,"result":{message}}. `rateLimitNext(2)` makes the next call answer Telegram's real 429
// {"ok":false,"error_code":429,"description":"Too Many Requests: retry after 2","parameters":{"retry_after":2}}.

export interface TelegramMessage {
  id: number;
  at: number;
  chat_id: number | string;
  message_thread_id?: number;
  /** The HTML as sent, and the text a user sees (tags removed, entities decoded). */
  html: string;
  text: string;
  parse_mode?: string;
  link_preview_options?: unknown;
  disable_notification?: boolean;
}

export interface TelegramAttempt {
  at: number;
  status: number;
  description: string;
}

export interface FakeTelegram {
  /** The api_base to configure. */
  url: string;
  messages: TelegramMessage[];
  /** Every sendMessage call with the status answered, in order. */
  attempts: TelegramAttempt[];
  rejections: Array<{ status: number; reason: string }>;
  forceNext(...answers: Answer[]): void;
  rateLimitNext(retryAfterSeconds: number): void;
  close(): Promise<void>;
}

const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const fail = (code: number, description: string, parameters?: Record<string, unknown>) =>
  json(code, { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) });

export const tooManyRequests = (retryAfter: number): Answer =>
  fail(429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter });

const TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'a', 'code', 'pre', 'tg-spoiler', 'blockquote', 'span', 'tg-emoji']);

/** Telegram's HTML parser, strictly: known tags only, balanced, and &/</> only as entities. Returns the error or the visible text. */
export function parseTelegramHtml(html: string): { error: string } | { text: string } {
  const stack: string[] = [];
  let text = '';
  let i = 0;
  const bytes = (n: number) => Buffer.byteLength(html.slice(0, n));
  while (i < html.length) {
    const c = html[i]!;
    if (c === '<') {
      const m = /^<(\/?)([a-z-]+)((?:\s+[a-z-]+="[^"]*")*)\s*>/i.exec(html.slice(i));
      if (!m) return { error: `Can't find end of the entity starting at byte offset ${bytes(i)}` };
      const name = m[2]!.toLowerCase();
      if (!TAGS.has(name)) return { error: `Unsupported start tag "${name}" at byte offset ${bytes(i)}` };
      if (m[1]) {
        if (stack.pop() !== name) return { error: `Unmatched end tag at byte offset ${bytes(i)}, expected "</${stack.at(-1) ?? ''}>", found "</${name}>"` };
      } else {
        if (name === 'a' && !/\shref="[^"]+"/.test(m[3] ?? '')) return { error: `Can't find href attribute of the link at byte offset ${bytes(i)}` };
        stack.push(name);
      }
      i += m[0].length;
    } else if (c === '&') {
      const m = /^&(amp|lt|gt|quot|#\d+|#x[0-9a-f]+);/i.exec(html.slice(i));
      if (!m) return { error: `Character '&' is reserved and must be escaped with the preceding '\\' at byte offset ${bytes(i)}` };
      text += { amp: '&', lt: '<', gt: '>', quot: '"' }[m[1]!.toLowerCase()] ?? '?';
      i += m[0].length;
    } else if (c === '>') {
      return { error: `Character '>' is reserved at byte offset ${bytes(i)}` };
    } else {
      text += c;
      i++;
    }
  }
  if (stack.length > 0) return { error: `Can't find end tag corresponding to start tag "${stack.at(-1)}"` };
  return { text };
}

export async function startFakeTelegram(opts: { token: string; chats: Array<number | string>; topics?: Record<string, number[]> }): Promise<FakeTelegram> {
  const rx = await new Receiver().start();
  const messages: TelegramMessage[] = [];
  const attempts: TelegramAttempt[] = [];
  const rejections: FakeTelegram['rejections'] = [];
  const forced: Answer[] = [];
  let nextId = 100;
  const answer = (req: Received, a: Answer, reason?: string): Answer => {
    let description = '';
    try {
      description = String(JSON.parse(a.body ?? '{}').description ?? '');
    } catch {}
    attempts.push({ at: req.at, status: a.status, description });
    if (reason) rejections.push({ status: a.status, reason });
    return a;
  };
  rx.respond = (req) => {
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(new URL(req.path, 'http://x').pathname);
    if (!m || !/^\d+:[A-Za-z0-9_-]+$/.test(decodeURIComponent(m[1]!))) return answer(req, fail(404, 'Not Found'), 'route');
    if (decodeURIComponent(m[1]!) !== opts.token) return answer(req, fail(401, 'Unauthorized'), 'token');
    if (m[2] !== 'sendMessage') return answer(req, fail(404, 'Not Found'), 'method');
    const f = forced.shift();
    if (f) return answer(req, f, 'forced');
    if (req.method !== 'POST') return answer(req, fail(400, 'Bad Request: message text is empty'), 'method');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return answer(req, fail(400, 'Bad Request: message text is empty'), 'not JSON');
    const p = req.body as Record<string, any>;
    if (typeof p !== 'object' || p === null) return answer(req, fail(400, 'Bad Request: message text is empty'), 'bad JSON');
    if (p.chat_id === undefined || p.chat_id === '') return answer(req, fail(400, 'Bad Request: chat_id is empty'), 'chat_id');
    if (!opts.chats.some((c) => String(c) === String(p.chat_id))) return answer(req, fail(400, 'Bad Request: chat not found'), 'chat');
    if (p.message_thread_id !== undefined && !(opts.topics?.[String(p.chat_id)] ?? []).includes(p.message_thread_id))
      return answer(req, fail(400, 'Bad Request: message thread not found'), 'topic');
    if (typeof p.text !== 'string' || p.text.trim() === '') return answer(req, fail(400, 'Bad Request: message text is empty'), 'text');
    let visible = p.text as string;
    if (p.parse_mode !== undefined) {
      if (p.parse_mode !== 'HTML') return answer(req, fail(400, `Bad Request: unsupported parse_mode ${p.parse_mode}`), 'parse_mode');
      const parsed = parseTelegramHtml(p.text);
      if ('error' in parsed) return answer(req, fail(400, `Bad Request: can't parse entities: ${parsed.error}`), 'html');
      visible = parsed.text;
    }
    if (visible.length > 4096) return answer(req, fail(400, 'Bad Request: message is too long'), 'length');
    const msg: TelegramMessage = {
      id: nextId++,
      at: req.at,
      chat_id: p.chat_id,
      ...(p.message_thread_id !== undefined ? { message_thread_id: p.message_thread_id } : {}),
      html: p.text,
      text: visible,
      parse_mode: p.parse_mode,
      link_preview_options: p.link_preview_options,
      disable_notification: p.disable_notification,
    };
    messages.push(msg);
    return answer(
      req,
      json(200, {
        ok: true,
        result: { message_id: msg.id, date: Math.floor(req.at / 1000), chat: { id: p.chat_id, type: 'supergroup' }, text: visible },
      }),
    );
  };
  return {
    url: rx.url,
    messages,
    attempts,
    rejections,
    forceNext: (...a) => forced.push(...a),
    rateLimitNext: (s) => forced.push(tooManyRequests(s)),
    close: () => rx.close(),
  };
}
