import { createHmac } from 'node:crypto';
import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback DingTalk custom robot: POST /robot/send?access_token=…[&timestamp=…&sign=…] checked the way DingTalk
// does, answering HTTP 200 with DingTalk's own bodies:
// - unknown access_token → {"errcode":300001,"errmsg":"token is not exist"}
// - 加签 (when the bot has a secret): the timestamp (ms) must be within one hour, and sign must equal
//   base64(HMAC-SHA256(key = secret, msg = timestamp + "\n" + secret)), computed here independently; otherwise the
//   current 310000 answers ("机器人发送签名过期" / "机器人发送签名不匹配")
// - keywords (when the bot has some): the text must contain one, else 310000 "关键词不匹配"
// - more than 20 messages in a minute → 130101 "send too fast, exceed 20 times per minute", and the bot stays
//   blocked for 10 minutes (as DingTalk does)
// - a body over 20000 bytes → 460101 "message too long, exceed 20000 bytes"
// It also checks the markdown we send: no HTML, balanced bold, links only as [label](http…), and every @mobile of
// `at.atMobiles` written in the text (DingTalk only renders the mention then); problems go to `violations`.

export const DT_SIGN_MISMATCH =
  'description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，请确认机器人的密钥加密和填写正确;link:请参考本接口对应文档获得具体要求，或者在https://open.dingtalk.com/document/  搜索相关文档;';
export const DT_SIGN_EXPIRED = 'description:机器人发送签名过期;solution:签名生成时间和发送时间请保持在 timestampms 以内;';
export const DT_KEYWORD = 'description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;';

export interface DingTalkMessage {
  at: number;
  token: string;
  msgtype: string;
  body: Record<string, any>;
  /** markdown.title (markdown) or '' (text). */
  title: string;
  /** markdown.text or text.content. */
  text: string;
  atMobiles: string[];
  atUserIds: string[];
  isAtAll: boolean;
  /** The request carried a valid timestamp and sign. */
  signed: boolean;
  /** [label](url) links found in the markdown. */
  links: Array<{ label: string; url: string }>;
}

export interface FakeDingTalk {
  /** Base URL of the fake (http://127.0.0.1:port). */
  url: string;
  /** The webhook URL for a token (the bot's own by default). */
  hook(token?: string): string;
  messages: DingTalkMessage[];
  /** Every answer given, in order. */
  attempts: Array<{ at: number; errcode: number; errmsg: string }>;
  rejections: Array<{ errcode: number; reason: string }>;
  violations: string[];
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

export const dtAnswer = (errcode: number, errmsg: string): Answer => ({
  status: 200,
  body: JSON.stringify({ errcode, errmsg }),
  headers: { 'content-type': 'application/json;charset=utf-8' },
});

/** DingTalk's signature, computed independently of the channel code. */
export function expectedDingTalkSign(secret: string, timestamp: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(`${timestamp}\n${secret}`, 'utf8')).digest('base64');
}

const LINK = /\[([^\]]*)\]\(([^)\s]*)\)/g;

/** Problems in DingTalk markdown we generate, and the links it holds. */
export function checkDingTalkMarkdown(text: string, atMobiles: string[] = []): { problems: string[]; links: Array<{ label: string; url: string }> } {
  const problems: string[] = [];
  const links: Array<{ label: string; url: string }> = [];
  for (const m of text.matchAll(LINK)) {
    links.push({ label: m[1]!, url: m[2]! });
    if (!/^https?:\/\//.test(m[2]!)) problems.push(`link to a non-http URL: ${m[0]}`);
  }
  const rest = text.replace(LINK, '');
  if (/[<>]/.test(rest)) problems.push(`HTML-ish "<" or ">" in ${JSON.stringify(rest.slice(Math.max(0, rest.search(/[<>]/) - 20), rest.search(/[<>]/) + 20))}`);
  if (/\]\(/.test(rest)) problems.push('a broken link ("](" outside a link)');
  if (/`/.test(rest)) problems.push('a code span');
  for (const line of text.split('\n')) if ((line.match(/\*\*/g) ?? []).length % 2 !== 0) problems.push(`unbalanced bold in ${JSON.stringify(line)}`);
  for (const line of text.split('\n').slice(1)) if (/^\s*#/.test(line)) problems.push(`a heading inside the body: ${JSON.stringify(line)}`);
  for (const mobile of atMobiles) if (!text.includes(`@${mobile}`)) problems.push(`@${mobile} is in atMobiles but not in the markdown text`);
  return { problems, links };
}

export async function startFakeDingTalk(opts: { token: string; secret?: string; keywords?: string[]; perMinute?: number }): Promise<FakeDingTalk> {
  const rx = await new Receiver().start();
  const messages: DingTalkMessage[] = [];
  const attempts: FakeDingTalk['attempts'] = [];
  const rejections: FakeDingTalk['rejections'] = [];
  const violations: string[] = [];
  const forced: Answer[] = [];
  const accepted: number[] = [];
  let blockedUntil = 0;
  const perMinute = opts.perMinute ?? 20;

  const answer = (errcode: number, errmsg: string, reason?: string): Answer => {
    attempts.push({ at: Date.now(), errcode, errmsg });
    if (errcode !== 0) rejections.push({ errcode, reason: reason ?? errmsg });
    return dtAnswer(errcode, errmsg);
  };

  rx.respond = (req: Received) => {
    const u = new URL(req.path, 'http://x');
    if (req.method !== 'POST' || u.pathname !== '/robot/send') return { status: 404, body: 'Not Found' };
    const token = u.searchParams.get('access_token') ?? '';
    if (token !== opts.token) return answer(300001, 'token is not exist', 'token');
    const f = forced.shift();
    if (f) {
      try {
        const b = JSON.parse(f.body ?? '{}');
        attempts.push({ at: Date.now(), errcode: b.errcode, errmsg: b.errmsg });
        if (b.errcode !== 0) rejections.push({ errcode: b.errcode, reason: `forced: ${b.errmsg}` });
      } catch {}
      return f;
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return answer(43004, '无效的HTTP HEADER Content-Type', 'content-type');
    const body = req.body as Record<string, any>;
    if (typeof body !== 'object' || body === null) return answer(40035, '缺少参数 json', 'not JSON');
    let signed = false;
    if (opts.secret) {
      const ts = u.searchParams.get('timestamp') ?? '';
      const sign = u.searchParams.get('sign') ?? '';
      if (!/^\d{13}$/.test(ts) || Math.abs(Date.now() - Number(ts)) > 3_600_000) return answer(310000, DT_SIGN_EXPIRED, 'timestamp');
      if (sign !== expectedDingTalkSign(opts.secret, ts)) return answer(310000, DT_SIGN_MISMATCH, 'sign');
      signed = true;
    }
    const msgtype = String(body.msgtype ?? '');
    let title = '';
    let text = '';
    if (msgtype === 'markdown') {
      title = body.markdown?.title;
      text = body.markdown?.text;
      if (typeof title !== 'string' || !title || typeof text !== 'string' || !text) return answer(40035, '缺少参数 markdown', 'markdown without title or text');
    } else if (msgtype === 'text') {
      text = body.text?.content;
      if (typeof text !== 'string' || !text) return answer(40035, '缺少参数 text', 'text without content');
    } else return answer(40035, `不支持的消息类型 ${msgtype}`.slice(0, 60), 'msgtype');
    if (opts.keywords?.length && !opts.keywords.some((k) => text.includes(k))) return answer(310000, DT_KEYWORD, 'keyword');
    const now = Date.now();
    while (accepted.length && accepted[0]! <= now - 60_000) accepted.shift();
    if (now < blockedUntil || accepted.length >= perMinute) {
      if (now >= blockedUntil) blockedUntil = now + 10 * 60_000;
      return answer(130101, 'send too fast, exceed 20 times per minute', 'rate');
    }
    if (Buffer.byteLength(req.raw) > 20_000) return answer(460101, 'message too long, exceed 20000 bytes', 'size');
    const at = body.at ?? {};
    const atMobiles: string[] = Array.isArray(at.atMobiles) ? at.atMobiles.map(String) : [];
    const atUserIds: string[] = Array.isArray(at.atUserIds) ? at.atUserIds.map(String) : [];
    let links: DingTalkMessage['links'] = [];
    if (msgtype === 'markdown') {
      const c = checkDingTalkMarkdown(text, [...atMobiles, ...atUserIds]);
      violations.push(...c.problems);
      links = c.links;
    }
    accepted.push(now);
    messages.push({ at: now, token, msgtype, body, title, text, atMobiles, atUserIds, isAtAll: at.isAtAll === true, signed, links });
    return answer(0, 'ok');
  };

  return {
    url: rx.url,
    hook: (token = opts.token) => `${rx.url}/robot/send?access_token=${token}`,
    messages,
    attempts,
    rejections,
    violations,
    forceNext: (...a) => forced.push(...a),
    close: () => rx.close(),
  };
}
