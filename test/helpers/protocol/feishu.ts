import { createHmac } from 'node:crypto';
import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback Feishu / Lark custom bot: POST /open-apis/bot/v2/hook/{token} with a JSON body, checked the way the
// service does and answered with its own bodies:
// - unknown token → {"code":19001,"data":{},"msg":"param invalid: incoming webhook access token invalid"}
// - a body that is not JSON, over 20 KB, or a malformed card → HTTP 400 {"code":9499,"msg":"Bad Request","data":{}}
// - signing (when the bot has a secret): "timestamp" (seconds, a string) within one hour and "sign" equal to
//   base64(HMAC-SHA256(key = timestamp + "\n" + secret, msg = "")), computed here independently; else 19021
//   "sign match fail or timestamp is not within one hour from current time"
// - keywords (when the bot has some): the card's text must contain one, else 19024 "Key Words Not Found"
// - more than 5 requests a second or 100 a minute → 11232 "frequency limited …"
// Success is {"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}. The lark_md we send is
// checked for unescaped markup (problems in `violations`); `visible` is the card's text as a reader sees it.

export const FS_SIGN = 'sign match fail or timestamp is not within one hour from current time';

export interface FeishuMessage {
  at: number;
  token: string;
  body: Record<string, any>;
  msgType: string;
  /** The card header's title and template (interactive messages). */
  title: string;
  template: string;
  /** Text of divs, fields and notes, entities decoded and ** removed. */
  visible: string;
  /** <at id=…> mentions in lark_md. */
  ats: string[];
  buttons: Array<{ text: string; url: string; type: string }>;
  signed: boolean;
}

export interface FakeFeishu {
  url: string;
  hook(token?: string): string;
  messages: FeishuMessage[];
  attempts: Array<{ at: number; status: number; code: number; msg: string }>;
  rejections: Array<{ code: number; reason: string }>;
  violations: string[];
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

export const feishuAnswer = (status: number, code: number, msg: string): Answer => ({
  status,
  body: JSON.stringify({ code, data: {}, msg }),
  headers: { 'content-type': 'application/json; charset=utf-8' },
});

/** The service's signature, computed independently of the channel code. */
export function expectedFeishuSign(secret: string, timestamp: string): string {
  return createHmac('sha256', Buffer.from(`${timestamp}\n${secret}`, 'utf8')).update(Buffer.alloc(0)).digest('base64');
}

const TEMPLATES = new Set(['blue', 'wathet', 'turquoise', 'green', 'yellow', 'orange', 'red', 'carmine', 'violet', 'purple', 'indigo', 'grey', 'default']);

const decode = (s: string) =>
  s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** Unescaped markup in lark_md we generate (bold "**…**" and <at id=…></at> are the only markup we use). */
export function checkLarkMd(s: string): { problems: string[]; ats: string[]; visible: string } {
  const problems: string[] = [];
  const ats = [...s.matchAll(/<at id=([A-Za-z0-9_]+)><\/at>/g)].map((m) => m[1]!);
  let rest = s.replace(/<at id=[A-Za-z0-9_]+><\/at>/g, '');
  for (const line of rest.split('\n')) if ((line.match(/\*\*/g) ?? []).length % 2 !== 0) problems.push(`unbalanced bold in ${JSON.stringify(line)}`);
  rest = rest.replace(/\*\*/g, '');
  const bad = /[<>*_~`[\]]|&(?!(amp|lt|gt|#\d+);)/.exec(rest);
  if (bad) problems.push(`unescaped ${JSON.stringify(bad[0])} in ${JSON.stringify(rest.slice(Math.max(0, bad.index - 20), bad.index + 20))}`);
  return { problems, ats, visible: decode(rest) };
}

/** Checks an interactive card's structure; returns the problem or null. */
function checkCard(card: any): string | null {
  if (!card || typeof card !== 'object') return 'card missing';
  if (card.header) {
    if (card.header.title?.tag !== 'plain_text' || typeof card.header.title.content !== 'string' || !card.header.title.content) return 'header title must be plain_text';
    if (card.header.template !== undefined && !TEMPLATES.has(card.header.template)) return `unknown header template ${card.header.template}`;
  }
  if (!Array.isArray(card.elements) || card.elements.length === 0) return 'elements must be a non-empty array';
  for (const e of card.elements) {
    switch (e?.tag) {
      case 'div':
        if (!e.text && !e.fields) return 'div needs text or fields';
        if (e.text && (!['plain_text', 'lark_md'].includes(e.text.tag) || typeof e.text.content !== 'string')) return 'div text must be plain_text or lark_md';
        if (e.fields && (!Array.isArray(e.fields) || e.fields.some((f: any) => !['plain_text', 'lark_md'].includes(f?.text?.tag) || typeof f.is_short !== 'boolean')))
          return 'div fields need {is_short, text}';
        break;
      case 'action':
        if (!Array.isArray(e.actions) || e.actions.length === 0) return 'action needs actions';
        for (const a of e.actions) {
          if (a.tag !== 'button' || a.text?.tag !== 'plain_text' || !a.text.content) return 'button text must be plain_text';
          if (typeof a.url !== 'string' || !/^https?:\/\//.test(a.url)) return 'button url must be http(s)';
          if (!['default', 'primary', 'danger'].includes(a.type)) return `unknown button type ${a.type}`;
        }
        break;
      case 'note':
        if (!Array.isArray(e.elements) || e.elements.some((n: any) => !['plain_text', 'lark_md', 'img'].includes(n?.tag))) return 'note elements must be text';
        break;
      case 'hr':
      case 'markdown':
        break;
      default:
        return `unknown element ${String(e?.tag)}`;
    }
  }
  return null;
}

export async function startFakeFeishu(opts: { token: string; secret?: string; keywords?: string[]; perSecond?: number; perMinute?: number }): Promise<FakeFeishu> {
  const rx = await new Receiver().start();
  const messages: FeishuMessage[] = [];
  const attempts: FakeFeishu['attempts'] = [];
  const rejections: FakeFeishu['rejections'] = [];
  const violations: string[] = [];
  const forced: Answer[] = [];
  const accepted: number[] = [];

  const answer = (status: number, code: number, msg: string, reason?: string): Answer => {
    attempts.push({ at: Date.now(), status, code, msg });
    if (code !== 0) rejections.push({ code, reason: reason ?? msg });
    if (code === 0)
      return { status, body: JSON.stringify({ StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' }), headers: { 'content-type': 'application/json; charset=utf-8' } };
    return feishuAnswer(status, code, msg);
  };

  rx.respond = (req: Received) => {
    const m = /^\/open-apis\/bot\/v2\/hook\/([^/?]+)\/?$/.exec(new URL(req.path, 'http://x').pathname);
    if (req.method !== 'POST' || !m) return { status: 404, body: '404 page not found' };
    const token = m[1]!;
    if (token !== opts.token) return answer(200, 19001, 'param invalid: incoming webhook access token invalid', 'token');
    const f = forced.shift();
    if (f) {
      const b = JSON.parse(f.body ?? '{}');
      attempts.push({ at: Date.now(), status: f.status, code: b.code, msg: b.msg });
      rejections.push({ code: b.code, reason: `forced: ${b.msg}` });
      return f;
    }
    const body = req.body as Record<string, any>;
    if (typeof body !== 'object' || body === null) return answer(400, 9499, 'Bad Request', 'not JSON');
    if (Buffer.byteLength(req.raw, 'utf8') > 20 * 1024) return answer(400, 9499, 'Bad Request', 'body over 20 KB');
    let signed = false;
    if (opts.secret) {
      const ts = body.timestamp;
      const sign = body.sign;
      if (typeof ts !== 'string' || !/^\d{10}$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 3600) return answer(200, 19021, FS_SIGN, 'timestamp');
      if (sign !== expectedFeishuSign(opts.secret, ts)) return answer(200, 19021, FS_SIGN, 'sign');
      signed = true;
    }
    const msgType = String(body.msg_type ?? '');
    let title = '';
    let template = '';
    const texts: string[] = [];
    const ats: string[] = [];
    const buttons: FeishuMessage['buttons'] = [];
    if (msgType === 'interactive') {
      const bad = checkCard(body.card);
      if (bad) return answer(400, 9499, 'Bad Request', bad);
      title = body.card.header?.title?.content ?? '';
      template = body.card.header?.template ?? '';
      const take = (t: { tag: string; content: string }) => {
        if (t.tag === 'lark_md') {
          const c = checkLarkMd(t.content);
          violations.push(...c.problems);
          ats.push(...c.ats);
          texts.push(c.visible);
        } else texts.push(t.content);
      };
      for (const e of body.card.elements) {
        if (e.tag === 'div') {
          if (e.text) take(e.text);
          for (const fl of e.fields ?? []) take(fl.text);
        } else if (e.tag === 'note') {
          for (const n of e.elements) if (n.content) take(n);
        } else if (e.tag === 'action') {
          for (const a of e.actions) buttons.push({ text: a.text.content, url: a.url, type: a.type });
        }
      }
    } else if (msgType === 'text') {
      if (typeof body.content?.text !== 'string' || !body.content.text) return answer(400, 9499, 'Bad Request', 'text without content');
      texts.push(body.content.text);
    } else return answer(400, 9499, 'Bad Request', `msg_type ${msgType}`);
    const visible = texts.join('\n');
    if (opts.keywords?.length && !opts.keywords.some((k) => visible.includes(k))) return answer(200, 19024, 'Key Words Not Found', 'keyword');
    const now = Date.now();
    while (accepted.length && accepted[0]! <= now - 60_000) accepted.shift();
    const lastSecond = accepted.filter((t) => t > now - 1000).length;
    if (lastSecond >= (opts.perSecond ?? 5) || accepted.length >= (opts.perMinute ?? 100))
      return answer(200, 11232, 'frequency limited psm[lark.oapi.app_platform_runtime]appID[1]', 'rate');
    accepted.push(now);
    messages.push({ at: now, token, body, msgType, title, template, visible, ats, buttons, signed });
    return answer(200, 0, 'success');
  };

  return {
    url: rx.url,
    hook: (token = opts.token) => `${rx.url}/open-apis/bot/v2/hook/${token}`,
    messages,
    attempts,
    rejections,
    violations,
    forceNext: (...a) => forced.push(...a),
    close: () => rx.close(),
  };
}
