import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback Slack incoming-webhook endpoint: POST /services/T…/B…/X… with Slack's plain-string answers — "ok",
// 404 "no_service" for an unknown hook, 400 "invalid_payload" for a body that is not JSON, 400 "no_text" when there
// is neither text nor blocks, 400 "invalid_blocks" for Block Kit over its limits (header 150, section 3000, 10
// fields of 2000, 25 buttons, 50 blocks). It also checks our mrkdwn escaping: every "<" must open one of Slack's
// control sequences and every "&" an entity; anything else is recorded in `violations` (Slack would show it
// mangled or, for "<!channel>", ping a whole channel). The control sequences seen are in `pings`/`links`.

export interface SlackMessage {
  at: number;
  hook: string;
  body: Record<string, any>;
  /** <!here>, <@U…>, <!subteam^S…> found in the mrkdwn. */
  pings: string[];
  links: string[];
}

export interface FakeSlack {
  url: string;
  messages: SlackMessage[];
  rejections: Array<{ status: number; reason: string }>;
  violations: string[];
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

const text = (status: number, body: string, headers: Record<string, string> = {}): Answer => ({ status, body, headers: { 'content-type': 'text/html', ...headers } });

const CONTROL = /^<((?:https?:\/\/|mailto:)[^|>\s]+(?:\|[^>]*)?|![a-z]+(?:\^[A-Z0-9]+)?(?:\|[^>]*)?|@[UW][A-Z0-9]+|#C[A-Z0-9]+(?:\|[^>]*)?)>/;

/** Checks Slack mrkdwn escaping; returns the problems and the control sequences used. */
export function checkMrkdwn(s: string): { problems: string[]; pings: string[]; links: string[] } {
  const problems: string[] = [];
  const pings: string[] = [];
  const links: string[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '<') {
      const m = CONTROL.exec(s.slice(i));
      if (!m) problems.push(`unescaped "<" in ${JSON.stringify(s.slice(Math.max(0, i - 10), i + 20))}`);
      else {
        if (m[1]!.startsWith('!') || m[1]!.startsWith('@')) pings.push(m[0]);
        else links.push(m[0]);
        i += m[0].length - 1;
      }
    } else if (s[i] === '>') problems.push(`unescaped ">" in ${JSON.stringify(s.slice(Math.max(0, i - 10), i + 20))}`);
    else if (s[i] === '&' && !/^&(amp|lt|gt);/.test(s.slice(i))) problems.push(`bare "&" in ${JSON.stringify(s.slice(Math.max(0, i - 10), i + 20))}`);
  }
  return { problems, pings, links };
}

const len = (s: unknown) => (typeof s === 'string' ? Array.from(s).length : 0);

function checkBlocks(blocks: unknown): string | null {
  if (!Array.isArray(blocks)) return 'blocks must be an array';
  if (blocks.length > 50) return 'more than 50 blocks';
  for (const b of blocks as any[]) {
    switch (b?.type) {
      case 'header':
        if (b.text?.type !== 'plain_text' || len(b.text.text) < 1 || len(b.text.text) > 150) return 'header text must be plain_text of 1..150';
        break;
      case 'section':
        if (!b.text && !b.fields) return 'section needs text or fields';
        if (b.text && (!['mrkdwn', 'plain_text'].includes(b.text.type) || len(b.text.text) < 1 || len(b.text.text) > 3000)) return 'section text must be 1..3000';
        if (b.fields && (!Array.isArray(b.fields) || b.fields.length > 10 || b.fields.some((f: any) => len(f.text) < 1 || len(f.text) > 2000)))
          return 'section fields: at most 10, each 1..2000';
        break;
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length < 1 || b.elements.length > 25) return 'actions: 1..25 elements';
        for (const e of b.elements) {
          if (e.type !== 'button' || e.text?.type !== 'plain_text' || len(e.text.text) > 75 || len(e.text.text) < 1) return 'button text must be plain_text of 1..75';
          if (e.url !== undefined && (len(e.url) > 3000 || !/^https?:\/\//.test(e.url))) return 'button url must be http(s) up to 3000';
          if (e.style !== undefined && !['primary', 'danger'].includes(e.style)) return 'button style must be primary or danger';
        }
        break;
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length < 1 || b.elements.length > 10) return 'context: 1..10 elements';
        break;
      case 'divider':
        break;
      default:
        return `unknown block type ${String(b?.type)}`;
    }
  }
  return null;
}

/** Every mrkdwn string in the body (top-level text, section texts and fields, context elements). */
function mrkdwnStrings(body: Record<string, any>): string[] {
  const out: string[] = [];
  if (typeof body.text === 'string') out.push(body.text);
  for (const b of Array.isArray(body.blocks) ? body.blocks : []) {
    if (b.text?.type === 'mrkdwn') out.push(b.text.text);
    for (const f of b.fields ?? []) if (f.type === 'mrkdwn') out.push(f.text);
    if (b.type === 'context') for (const e of b.elements ?? []) if (e.type === 'mrkdwn') out.push(e.text);
  }
  return out;
}

export async function startFakeSlack(opts: { hooks: string[]; archived?: string[] }): Promise<FakeSlack> {
  const rx = await new Receiver().start();
  const messages: SlackMessage[] = [];
  const rejections: FakeSlack['rejections'] = [];
  const violations: string[] = [];
  const forced: Answer[] = [];
  const reject = (a: Answer, reason: string) => {
    rejections.push({ status: a.status, reason });
    return a;
  };
  rx.respond = (req: Received) => {
    const path = new URL(req.path, 'http://x').pathname;
    const hook = /^\/services\/([^/]+\/[^/]+\/[^/]+)$/.exec(path)?.[1];
    if (req.method !== 'POST' || !hook || !opts.hooks.includes(hook)) return reject(text(404, 'no_service'), 'hook');
    const f = forced.shift();
    if (f) return f;
    if (opts.archived?.includes(hook)) return reject(text(410, 'channel_is_archived'), 'archived');
    const body = req.body as Record<string, any>;
    if (typeof body !== 'object' || body === null) return reject(text(400, 'invalid_payload'), 'not JSON');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return reject(text(400, 'invalid_payload'), 'content-type');
    if ((typeof body.text !== 'string' || body.text.trim() === '') && !Array.isArray(body.blocks)) return reject(text(400, 'no_text'), 'no text');
    if (body.blocks !== undefined) {
      const bad = checkBlocks(body.blocks);
      if (bad) return reject(text(400, 'invalid_blocks'), bad);
    }
    const pings: string[] = [];
    const links: string[] = [];
    for (const s of mrkdwnStrings(body)) {
      const c = checkMrkdwn(s);
      violations.push(...c.problems);
      pings.push(...c.pings);
      links.push(...c.links);
    }
    messages.push({ at: req.at, hook, body, pings, links });
    return text(200, 'ok');
  };
  return { url: rx.url, messages, rejections, violations, forceNext: (...a) => forced.push(...a), close: () => rx.close() };
}
