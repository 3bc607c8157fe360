import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback WeCom group robot: POST /cgi-bin/webhook/send?key=… answering HTTP 200 with WeCom's own bodies:
// - unknown key → 93000 "invalid webhook url, hint: […], from ip: …, more info at …?e=93000"
// - msgtype other than text/markdown/… → 40008 "invalid message type"; empty content → 44004 "empty content"
// - text.content over 2048 bytes / markdown.content over 4096 bytes → 40058 "… exceed max length …"
// - more than 20 messages in a minute → 45009 "api freq out of limit"
// It checks the markdown we send: "<" only in <font color="info|comment|warning">…</font> and <@userid>, balanced
// bold, links only as [label](http…); problems go to `violations`.

export interface WeComMessage {
  at: number;
  msgtype: 'text' | 'markdown';
  body: Record<string, any>;
  content: string;
  mentioned_list: string[];
  mentioned_mobile_list: string[];
  /** <@userid> mentions in markdown. */
  mentions: string[];
  /** <font color="…"> colours used in markdown. */
  colors: string[];
  links: Array<{ label: string; url: string }>;
}

export interface FakeWeCom {
  url: string;
  hook(key?: string): string;
  messages: WeComMessage[];
  attempts: Array<{ at: number; errcode: number; errmsg: string }>;
  rejections: Array<{ errcode: number; reason: string }>;
  violations: string[];
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

export const wecomAnswer = (errcode: number, errmsg: string): Answer => ({
  status: 200,
  body: JSON.stringify({ errcode, errmsg }),
  headers: { 'content-type': 'application/json; charset=UTF-8' },
});

const hint = () => `hint: [${Math.floor(Date.now() / 1000)}_${Math.floor(Math.random() * 1e6)}], from ip: 127.0.0.1`;

const TAG = /<font color="(info|comment|warning)">|<\/font>|<@([A-Za-z0-9_.@-]+)>/g;
const LINK = /\[([^\]]*)\]\(([^)\s]*)\)/g;

/** Problems in WeCom markdown we generate; its mentions, colours and links. */
export function checkWeComMarkdown(content: string): { problems: string[]; mentions: string[]; colors: string[]; links: Array<{ label: string; url: string }> } {
  const problems: string[] = [];
  const mentions: string[] = [];
  const colors: string[] = [];
  const links: Array<{ label: string; url: string }> = [];
  for (const m of content.matchAll(TAG)) {
    if (m[1]) colors.push(m[1]);
    if (m[2]) mentions.push(m[2]);
  }
  const opens = (content.match(/<font /g) ?? []).length;
  const closes = (content.match(/<\/font>/g) ?? []).length;
  if (opens !== closes) problems.push(`unbalanced <font> tags (${opens} open, ${closes} closed)`);
  for (const m of content.matchAll(LINK)) {
    links.push({ label: m[1]!, url: m[2]! });
    if (!/^https?:\/\//.test(m[2]!)) problems.push(`link to a non-http URL: ${m[0]}`);
  }
  const rest = content.replace(TAG, '').replace(LINK, '');
  if (/[<>]/.test(rest.replace(/^> /gm, ''))) problems.push(`stray "<" or ">" in ${JSON.stringify(rest.slice(Math.max(0, rest.search(/[<>]/) - 20), rest.search(/[<>]/) + 20))}`);
  if (/\]\(/.test(rest)) problems.push('a broken link ("](" outside a link)');
  if (/`/.test(rest)) problems.push('a code span');
  for (const line of content.split('\n')) if ((line.match(/\*\*/g) ?? []).length % 2 !== 0) problems.push(`unbalanced bold in ${JSON.stringify(line)}`);
  return { problems, mentions, colors, links };
}

export async function startFakeWeCom(opts: { key: string; perMinute?: number }): Promise<FakeWeCom> {
  const rx = await new Receiver().start();
  const messages: WeComMessage[] = [];
  const attempts: FakeWeCom['attempts'] = [];
  const rejections: FakeWeCom['rejections'] = [];
  const violations: string[] = [];
  const forced: Answer[] = [];
  const accepted: number[] = [];
  const perMinute = opts.perMinute ?? 20;

  const answer = (errcode: number, errmsg: string, reason?: string): Answer => {
    attempts.push({ at: Date.now(), errcode, errmsg });
    if (errcode !== 0) rejections.push({ errcode, reason: reason ?? errmsg });
    return wecomAnswer(errcode, errmsg);
  };

  rx.respond = (req: Received) => {
    const u = new URL(req.path, 'http://x');
    if (u.pathname !== '/cgi-bin/webhook/send') return { status: 404, body: '' };
    if (u.searchParams.get('key') !== opts.key)
      return answer(93000, `invalid webhook url, ${hint()}, more info at https://open.work.weixin.qq.com/devtool/query?e=93000`, 'key');
    if (req.method !== 'POST') return answer(43002, `require POST method, ${hint()}`, 'method');
    const f = forced.shift();
    if (f) {
      const b = JSON.parse(f.body ?? '{}');
      attempts.push({ at: Date.now(), errcode: b.errcode, errmsg: b.errmsg });
      rejections.push({ errcode: b.errcode, reason: `forced: ${b.errmsg}` });
      return f;
    }
    const body = req.body as Record<string, any>;
    if (typeof body !== 'object' || body === null) return answer(40035, `invalid Request Parameter, ${hint()}`, 'not JSON');
    const msgtype = body.msgtype;
    if (msgtype !== 'text' && msgtype !== 'markdown') return answer(40008, `invalid message type, ${hint()}`, 'msgtype');
    const content = body[msgtype]?.content;
    if (typeof content !== 'string' || content === '') return answer(44004, `empty content, ${hint()}`, 'empty');
    const max = msgtype === 'text' ? 2048 : 4096;
    if (Buffer.byteLength(content, 'utf8') > max)
      return answer(40058, `${msgtype}.content exceed max length ${max}. invalid Request Parameter, ${hint()}`, 'size');
    const now = Date.now();
    while (accepted.length && accepted[0]! <= now - 60_000) accepted.shift();
    if (accepted.length >= perMinute) return answer(45009, `api freq out of limit, ${hint()}`, 'rate');
    accepted.push(now);
    let extra = { mentions: [] as string[], colors: [] as string[], links: [] as WeComMessage['links'] };
    if (msgtype === 'markdown') {
      const c = checkWeComMarkdown(content);
      violations.push(...c.problems);
      extra = c;
      if (body.markdown.mentioned_list || body.markdown.mentioned_mobile_list) violations.push('mentioned_* lists are ignored in markdown');
    }
    messages.push({
      at: now,
      msgtype,
      body,
      content,
      mentioned_list: msgtype === 'text' ? (body.text.mentioned_list ?? []) : [],
      mentioned_mobile_list: msgtype === 'text' ? (body.text.mentioned_mobile_list ?? []) : [],
      mentions: extra.mentions,
      colors: extra.colors,
      links: extra.links,
    });
    return answer(0, 'ok');
  };

  return {
    url: rx.url,
    hook: (key = opts.key) => `${rx.url}/cgi-bin/webhook/send?key=${key}`,
    messages,
    attempts,
    rejections,
    violations,
    forceNext: (...a) => forced.push(...a),
    close: () => rx.close(),
  };
}
