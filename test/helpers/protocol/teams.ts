import { type Answer, Receiver } from '../receiver.js';

// A loopback Microsoft Teams Workflows trigger ("When a Teams webhook request is received"):
// POST /workflows/{id}/triggers/manual/paths/invoke?api-version=…&sp=/triggers/manual/run&sv=1.0&sig=…, the
// signature checked, the Bot Framework envelope with exactly one Adaptive Card checked element by element, the
// ~28 KB request limit, and Logic Apps' answers (202 with an empty body; {"error":{"code","message"}}).

export interface TeamsPost {
  card: Record<string, any>;
  raw: string;
}

export interface FakeTeams {
  /** The complete webhook URL (with the valid signature). */
  webhookUrl: string;
  url: string;
  posts: TeamsPost[];
  rejections: Array<{ status: number; code: string; message: string }>;
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

const ELEMENTS = new Set(['TextBlock', 'FactSet', 'ColumnSet', 'Container', 'Image', 'RichTextBlock']);
const COLORS = new Set(['default', 'dark', 'light', 'accent', 'good', 'warning', 'attention']);

export async function startFakeTeams(opts: { workflowId: string; sig: string }): Promise<FakeTeams> {
  const rx = await new Receiver().start();
  const posts: TeamsPost[] = [];
  const rejections: FakeTeams['rejections'] = [];
  const forced: Answer[] = [];
  const fail = (status: number, code: string, message: string): Answer => {
    rejections.push({ status, code, message });
    return { status, body: JSON.stringify({ error: { code, message } }), headers: { 'content-type': 'application/json' } };
  };
  const check = (card: any): string | null => {
    if (card?.type !== 'AdaptiveCard') return 'content.type must be AdaptiveCard';
    if (card.version !== '1.4') return `expected card version 1.4, got ${String(card.version)}`;
    if (!Array.isArray(card.body) || card.body.length === 0) return 'the card has no body';
    for (const el of card.body) {
      if (!ELEMENTS.has(el?.type)) return `unknown element ${String(el?.type)}`;
      if (el.type === 'TextBlock' && typeof el.text !== 'string') return 'TextBlock.text must be a string';
      if (el.color !== undefined && !COLORS.has(el.color)) return `invalid color ${String(el.color)}`;
      if (el.type === 'FactSet' && !(Array.isArray(el.facts) && el.facts.every((f: any) => typeof f?.title === 'string' && typeof f?.value === 'string')))
        return 'FactSet.facts must be {title, value} strings';
    }
    for (const a of card.actions ?? []) if (a?.type !== 'Action.OpenUrl' || !/^https?:\/\//.test(a.url) || typeof a.title !== 'string') return 'invalid action';
    return null;
  };
  rx.respond = (req) => {
    const f = forced.shift();
    if (f) return f;
    const u = new URL(req.path, 'http://x');
    const m = /^\/workflows\/([^/]+)\/triggers\/manual\/paths\/invoke$/.exec(u.pathname);
    if (req.method !== 'POST' || !m) return fail(404, 'NotFound', 'The requested resource was not found.');
    if (m[1] !== opts.workflowId) return fail(404, 'WorkflowNotFound', `The workflow '${m[1]}' could not be found.`);
    const sig = u.searchParams.get('sig');
    if (!sig || u.searchParams.get('sp') !== '/triggers/manual/run' || u.searchParams.get('sv') !== '1.0')
      return fail(401, 'DirectApiAuthorizationRequired', 'The request must be authenticated only by Shared Access scheme.');
    // Echoes the signature, as Logic Apps does: the channel must not repeat it.
    if (sig !== opts.sig) return fail(401, 'DirectApiInvalidAuthorizationSignature', `The provided authorization signature '${sig}' is not valid.`);
    if (Buffer.byteLength(req.raw) > 28 * 1024) return fail(413, 'MessageTooLarge', 'request entity too large');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return fail(400, 'InvalidRequestContent', 'The request content is not valid JSON.');
    const b = req.body as Record<string, any>;
    if (b?.type !== 'message' || !Array.isArray(b.attachments) || b.attachments.length !== 1) return fail(400, 'InvalidRequestContent', 'expected a message with one attachment');
    const att = b.attachments[0];
    if (att?.contentType !== 'application/vnd.microsoft.card.adaptive') return fail(400, 'InvalidRequestContent', 'the attachment is not an Adaptive Card');
    const problem = check(att.content);
    if (problem) return fail(400, 'InvalidRequestContent', problem);
    posts.push({ card: att.content, raw: req.raw });
    return { status: 202, body: '' };
  };
  const base = `${rx.url}/workflows/${opts.workflowId}/triggers/manual/paths/invoke`;
  return {
    url: rx.url,
    webhookUrl: `${base}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${opts.sig}`,
    posts,
    rejections,
    forceNext: (...a) => forced.push(...a),
    close: () => rx.close(),
  };
}
