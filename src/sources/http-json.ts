import { z } from 'zod';
import { excerpt } from '../channels/types.js';
import { fetchSource, hostOf, toNumber } from './http.js';
import { bodyHint, cleanNumber, errorForStatus, isObject, providerMessage, safeText, saysAuth, tryJson } from './provider-util.js';
import { type Reading, SourceError, type SourceType } from './types.js';

// Any JSON balance endpoint (SPEC §5): a URL, GET or POST, headers (secrets), a JSON path to the balance and
// optionally to the amount used and the currency, a scale factor and a success condition.
//
//   {url, method?: GET|POST, headers?: {name: value}, body?: string (POST), balance_path, used_path?,
//    currency_path?, scale?: number (default 1), success_path?}
//
// Examples: Novita GET /openapi/v1/billing/balance/detail, balance_path "$.availableBalance", scale 0.0001 (1/10000
// USD as strings); StepFun GET /v1/accounts, "$.balance"; z.ai-style envelopes with success_path "$.success"; an
// amount in cents, scale 0.01; xAI's inverted-sign cents, scale -0.01.
//
// JSON paths. No dependency: a small strict evaluator of the JSONPath subset a balance needs, and it must resolve to
// exactly ONE value. jsonpath-plus was considered: its current major needs Node 22 (this project supports 20), and
// its script/filter evaluation has had remote-code-execution advisories (CVE-2024-21534, CVE-2025-1302); paths here
// are written by API users of a multi-tenant service, so evaluating expressions is surface we do not need.
// Supported:
//   $                     the whole answer (the leading "$" / "$." is optional: "data.balance" = "$.data.balance")
//   .name                 an object member (letters, digits, _, $, -, non-ASCII)
//   ['name'] / ["name"]   any member name (backslash escapes)
//   [2] / [-1]            an array element (negative counts from the end)
//   [?(@.a.b == literal)] the one array element whose relative path equals the literal (also [?@.a == literal]);
//                         none or several matching is an error, since a balance must be one number
// Literals: numbers, "strings" / 'strings', true, false, null; an unquoted word is a string. Numbers compare with
// numeric strings by value ("12.50" == 12.5).
//
// success_path: "PATH" (the value must be truthy: not missing, false, 0, "" or null) or "PATH == literal" (e.g.
// `$.success`, `$.code == 0`, `$.status == "ok"`). When it fails the poll fails: auth when the answer says the
// credential is wrong (a 401/403 code, a message about the key / token), else bad_response.
//
// Status: 401/403 → auth; 429 → rate_limited (Retry-After honoured); 5xx / other → bad_response.
// raw holds only what the paths picked (before scaling), never the whole answer, which may hold anything.
// Header values and the body are secrets (stored encrypted, shown masked, scrubbed from messages).

// ───────────────────────────────────────────────────────────────────────────────────────────────── JSON paths

type Literal = string | number | boolean | null;

type Segment =
  | { kind: 'name'; name: string; text: string }
  | { kind: 'index'; index: number; text: string }
  | { kind: 'filter'; path: Segment[]; value: Literal; text: string };

export interface JsonPath {
  text: string;
  segments: Segment[];
}

export interface Condition {
  text: string;
  path: JsonPath;
  /** Absent: the value must be truthy. */
  equals?: Literal;
}

export class PathSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathSyntaxError';
  }
}

const MAX_PATH = 500;
const MAX_SEGMENTS = 32;
const NAME_CHAR = /[A-Za-z0-9_$\-\u0080-\uFFFF]/;

class Parser {
  pos = 0;
  constructor(readonly src: string) {}

  fail(what: string): never {
    throw new PathSyntaxError(`${what} at character ${this.pos + 1} of "${excerpt(this.src, 80)}"`);
  }
  peek(): string | undefined {
    return this.src[this.pos];
  }
  spaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }
  eat(s: string): boolean {
    if (this.src.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }

  /** A path starting with `root` ("$" at the top, "@" inside a filter); the root sign is optional at the top. */
  path(root: '$' | '@'): Segment[] {
    const segments: Segment[] = [];
    if (!this.eat(root)) {
      if (root === '@') this.fail('a filter path must start with "@"');
      if (this.peek() !== undefined && NAME_CHAR.test(this.peek()!)) segments.push(this.name());
      else if (this.peek() !== '[') this.fail('expected "$", a member name or "["');
    }
    for (;;) {
      const c = this.peek();
      if (c === '.') {
        this.pos++;
        if (this.peek() === '.') this.fail('recursive descent ("..") is not supported');
        segments.push(this.name());
      } else if (c === '[') {
        segments.push(this.bracket());
      } else break;
      if (segments.length > MAX_SEGMENTS) this.fail(`more than ${MAX_SEGMENTS} steps`);
    }
    return segments;
  }

  name(): Segment {
    const start = this.pos;
    while (this.peek() !== undefined && NAME_CHAR.test(this.peek()!)) this.pos++;
    if (this.pos === start) this.fail(this.peek() === '*' ? 'wildcards ("*") are not supported' : 'expected a member name');
    const name = this.src.slice(start, this.pos);
    return { kind: 'name', name, text: `.${name}` };
  }

  bracket(): Segment {
    this.pos++; // [
    this.spaces();
    let seg: Segment;
    const c = this.peek();
    if (c === "'" || c === '"') {
      const name = this.quoted();
      seg = { kind: 'name', name, text: `[${JSON.stringify(name)}]` };
    } else if (c === '?') {
      this.pos++;
      this.spaces();
      const paren = this.eat('(');
      this.spaces();
      const path = this.path('@');
      if (path.length === 0) this.fail('a filter compares a member of the element ("@.currency")');
      this.spaces();
      if (!this.eat('==')) this.fail('a filter is "?(@.member == literal)"');
      this.spaces();
      const value = this.literal(paren ? ')' : ']');
      this.spaces();
      if (paren && !this.eat(')')) this.fail('expected ")"');
      seg = { kind: 'filter', path, value, text: `[?(@${path.map((s) => s.text).join('')} == ${JSON.stringify(value)})]` };
    } else {
      const m = /^-?\d{1,9}/.exec(this.src.slice(this.pos));
      if (!m) this.fail(c === '*' ? 'wildcards ("*") are not supported' : c === ':' || /^-?\d*:/.test(this.src.slice(this.pos)) ? 'slices are not supported' : 'expected an index, a quoted name or a filter');
      this.pos += m[0].length;
      const index = Number(m[0]);
      seg = { kind: 'index', index, text: `[${index}]` };
    }
    this.spaces();
    if (!this.eat(']')) this.fail(this.peek() === ',' || this.peek() === ':' ? 'unions and slices are not supported' : 'expected "]"');
    return seg;
  }

  quoted(): string {
    const q = this.peek()!;
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('unterminated quoted name');
      this.pos++;
      if (c === q) return out;
      if (c === '\\') {
        const e = this.peek();
        if (e === undefined) this.fail('unterminated quoted name');
        this.pos++;
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e;
      } else out += c;
    }
  }

  /** A literal; an unquoted word runs up to whitespace or `stop`. */
  literal(stop?: string): Literal {
    const c = this.peek();
    if (c === "'" || c === '"') return this.quoted();
    const start = this.pos;
    while (this.peek() !== undefined && !/\s/.test(this.peek()!) && this.peek() !== stop) this.pos++;
    const word = this.src.slice(start, this.pos);
    if (word === '') this.fail('expected a value (a number, "text", true, false or null)');
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'null') return null;
    if (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(word)) return Number(word);
    if (/[[\]()'"=]/.test(word)) {
      this.pos = start;
      this.fail('expected a value (a number, "text", true, false or null)');
    }
    return word;
  }

  end(): void {
    this.spaces();
    if (this.pos < this.src.length) this.fail(this.src.startsWith('==', this.pos) ? 'a comparison is only allowed in success_path' : `unexpected "${this.src[this.pos]}"`);
  }
}

/** Parses a JSON path (throws PathSyntaxError with what is wrong and where). */
export function parsePath(src: string): JsonPath {
  const text = src.trim();
  if (text === '') throw new PathSyntaxError('the path is empty');
  if (text.length > MAX_PATH) throw new PathSyntaxError(`the path is longer than ${MAX_PATH} characters`);
  const p = new Parser(text);
  const segments = p.path('$');
  p.end();
  return { text, segments };
}

/** Parses a success condition: "PATH" or "PATH == literal". */
export function parseCondition(src: string): Condition {
  const text = src.trim();
  if (text === '') throw new PathSyntaxError('the condition is empty');
  if (text.length > MAX_PATH) throw new PathSyntaxError(`the condition is longer than ${MAX_PATH} characters`);
  const p = new Parser(text);
  const segments = p.path('$');
  const pathText = text.slice(0, p.pos);
  p.spaces();
  if (p.pos === text.length) return { text, path: { text: pathText, segments } };
  if (!p.eat('==')) p.fail('expected "==" or the end (a condition is "PATH" or "PATH == value")');
  p.spaces();
  const equals = p.literal();
  p.end();
  return { text, path: { text: pathText, segments }, equals };
}

export type PathResult = { ok: true; value: unknown } | { ok: false; at: string; why: 'missing' | 'ambiguous'; count?: number };

function same(value: unknown, lit: Literal): boolean {
  if (typeof lit === 'number' || (typeof lit === 'string' && typeof value === 'number')) {
    const a = toNumber(value);
    const b = toNumber(lit);
    return a !== undefined && b !== undefined && a === b;
  }
  return value === lit;
}

function step(cur: unknown, seg: Segment): { ok: true; value: unknown } | { ok: false; count?: number } {
  switch (seg.kind) {
    case 'name':
      return isObject(cur) && Object.hasOwn(cur, seg.name) ? { ok: true, value: cur[seg.name] } : { ok: false };
    case 'index': {
      if (!Array.isArray(cur)) return { ok: false };
      const i = seg.index < 0 ? cur.length + seg.index : seg.index;
      return i >= 0 && i < cur.length ? { ok: true, value: cur[i] } : { ok: false };
    }
    case 'filter': {
      if (!Array.isArray(cur)) return { ok: false };
      const hits = cur.filter((el) => {
        const r = evaluatePath({ text: '', segments: seg.path }, el);
        return r.ok && same(r.value, seg.value);
      });
      return hits.length === 1 ? { ok: true, value: hits[0] } : { ok: false, count: hits.length };
    }
  }
}

/** Follows a path through a parsed JSON value; says where it stopped when it does not lead to exactly one value. */
export function evaluatePath(path: JsonPath, root: unknown): PathResult {
  let cur = root;
  let at = '$';
  for (const seg of path.segments) {
    at += seg.text;
    const r = step(cur, seg);
    if (!r.ok) return r.count !== undefined && r.count > 1 ? { ok: false, at, why: 'ambiguous', count: r.count } : { ok: false, at, why: 'missing' };
    cur = r.value;
  }
  return { ok: true, value: cur };
}

/** Whether a parsed answer meets the condition, and what was found there. */
export function checkCondition(cond: Condition, root: unknown): { ok: boolean; found: PathResult } {
  const found = evaluatePath(cond.path, root);
  if (!found.ok) return { ok: false, found };
  if (cond.equals === undefined) return { ok: Boolean(found.value), found };
  return { ok: same(found.value, cond.equals), found };
}

// ───────────────────────────────────────────────────────────────────────────────────────────────── the source

const LABEL = 'HTTP JSON';

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'not a valid HTTP header name');
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'expect']);

function pathField(field: string, what: string, parse: (s: string) => unknown = parsePath) {
  return z
    .string({ error: `${field} is required: ${what}` })
    .trim()
    .min(1, `${field} must not be empty: ${what}`)
    .max(MAX_PATH, `${field} is longer than ${MAX_PATH} characters`)
    .superRefine((v, c) => {
      try {
        parse(v);
      } catch (e) {
        c.addIssue({ code: 'custom', message: `${field} is not a supported JSON path: ${(e as Error).message}` });
      }
    });
}

const PATH_HELP = 'a JSON path such as "$.data.balance" or "data.items[0].balance" ($ optional; .name, [\'name\'], [n], [?(@.key == value)])';

const schema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, error: 'url must be an http:// or https:// URL' }).max(2048, 'url is longer than 2048 characters'),
    method: z
      .string({ error: 'method must be GET or POST' })
      .trim()
      .toUpperCase()
      .pipe(z.enum(['GET', 'POST'], { error: 'method must be GET or POST' }))
      .optional()
      .describe('GET (default) or POST'),
    headers: z
      .record(headerName, z.string().max(4096, 'header values are at most 4096 characters').regex(/^[^\r\n]*$/, 'header values cannot contain line breaks'), {
        error: (iss) => (iss.code === 'invalid_key' ? 'not a valid HTTP header name (letters, digits and !#$%&\'*+.^_`|~- only)' : undefined),
      })
      .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
      .refine((h) => !Object.keys(h).some((k) => RESERVED.has(k.toLowerCase())), 'headers cannot set Host, Content-Length, Connection or other hop-by-hop headers')
      .optional()
      .describe('Request headers (e.g. {"Authorization": "Bearer …"}); the values are secrets'),
    body: z.string().max(16_384, 'body is at most 16384 characters').optional().describe('Request body for POST (sent as application/json unless a Content-Type header says otherwise); a secret'),
    balance_path: pathField('balance_path', PATH_HELP).describe(`Where the balance is: ${PATH_HELP}; a number or a numeric string`),
    used_path: pathField('used_path', PATH_HELP).optional().describe('Where the amount used so far is (optional; scaled like the balance)'),
    currency_path: pathField('currency_path', PATH_HELP).optional().describe('Where the currency code is (optional)'),
    scale: z
      .number({ error: 'scale must be a number (the balance is multiplied by it, e.g. 0.01 for cents, 0.0001 for 1/10000 USD)' })
      .finite()
      .refine((v) => v !== 0 && Math.abs(v) <= 1e12 && Math.abs(v) >= 1e-12, 'scale must be a non-zero number between 1e-12 and 1e12 (negative flips the sign)')
      .optional()
      .describe('Multiplies the balance and used figures (default 1): 0.01 for cents, 0.0001 for 1/10000 units, -0.01 for inverted-sign cents'),
    success_path: pathField('success_path', 'a condition such as "$.success" or "$.code == 0"', parseCondition)
      .optional()
      .describe(
        'A condition the answer must meet, else the poll fails: "PATH" (the value must be truthy: not missing, false, 0, "" or null) or "PATH == value" ' +
          '(value: a number, "text" or \'text\', true, false, null; an unquoted word is text; numbers equal numeric strings by value). ' +
          'Examples: "$.success", "$.code == 0", "$.status == \\"ok\\"". A failure whose answer mentions the key or token is an auth error.',
      ),
  })
  .refine((c) => c.body === undefined || (c.method ?? 'GET') === 'POST', { message: 'body is only sent with method POST', path: ['body'] });

export type HttpJsonConfig = z.infer<typeof schema>;

/** Headers that describe the request rather than authorise it: their values are not scrubbed from messages. */
const NOT_SECRET = new Set(['accept', 'content-type', 'user-agent', 'accept-language']);

/** Every secret a message could echo: header values (and their token part after "Bearer "), the body and its string values, URL query values. */
function secretsOf(config: HttpJsonConfig): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(config.headers ?? {})) {
    if (NOT_SECRET.has(k.toLowerCase())) continue;
    out.push(v);
    for (const part of v.split(/[\s,;:=]+/)) if (part.length >= 6 && !/^(bearer|basic|token|digest)$/i.test(part)) out.push(part);
  }
  if (config.body) {
    out.push(config.body);
    const parsed = tryJson(config.body);
    const walk = (x: unknown, depth: number): void => {
      if (depth > 8) return;
      if (typeof x === 'string' && x.length >= 6) out.push(x);
      else if (Array.isArray(x)) x.forEach((y) => walk(y, depth + 1));
      else if (isObject(x)) Object.values(x).forEach((y) => walk(y, depth + 1));
    };
    walk(parsed, 0);
  }
  try {
    for (const v of new URL(config.url).searchParams.values()) if (v.length >= 6) out.push(v);
  } catch {}
  return out.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

function labelOf(config: HttpJsonConfig): string {
  return `${LABEL} source ${hostOf(config.url)}`;
}

function describeMiss(field: string, r: Extract<PathResult, { ok: false }>, path: string): string {
  return r.why === 'ambiguous'
    ? `${field} "${path}" is ambiguous: the filter at ${r.at} matches ${r.count} elements, a balance needs exactly one`
    : `${field} "${path}" matches nothing in the answer (stopped at ${r.at})`;
}

function shown(v: unknown, secrets: readonly string[]): string {
  return safeText(JSON.stringify(v) ?? String(v), secrets, 60);
}

export const httpJsonSource: SourceType<HttpJsonConfig> = {
  type: 'http-json',
  label: LABEL,
  schema,
  secretFields: ['headers', 'body'],
  host: (config) => hostOf(config.url),
  async poll(config, ctx): Promise<Reading> {
    const label = labelOf(config);
    const secrets = secretsOf(config);
    const method = config.method ?? 'GET';
    const headers: Record<string, string> = { ...(config.headers ?? {}) };
    const has = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
    if (!has('accept')) headers.Accept = 'application/json';
    if (method === 'POST' && config.body !== undefined && !has('content-type')) headers['Content-Type'] = 'application/json';

    const res = await fetchSource(ctx, label, config.url, { method, headers, ...(method === 'POST' && config.body !== undefined ? { body: config.body } : {}) });
    const authError = (why: string, status: number) =>
      new SourceError('auth', `${label} refused the request (${why}): check the credentials in the source's headers${config.body !== undefined ? ' and body' : ''}`, { status });
    if (res.status < 200 || res.status >= 300) {
      const e = errorForStatus(label, res, ctx.now(), secrets, authError);
      if (e.kind === 'bad_response' && (res.status === 404 || res.status === 405))
        throw new SourceError('bad_response', `${e.message.replace(/; will retry$/, '')}: check the source's url and method`, e.extra);
      throw e;
    }

    const body = tryJson(res.body);
    if (body === undefined)
      throw new SourceError('bad_response', `${label} answered HTTP ${res.status} with something that is not JSON ("${bodyHint(res.body, secrets) ?? ''}"): check the source's url`, {
        status: res.status,
      });

    if (config.success_path !== undefined) {
      const cond = parseCondition(config.success_path);
      const check = checkCondition(cond, body);
      if (!check.ok) {
        const message = providerMessage(body);
        const said = message ? `: ${safeText(message, secrets)}` : '';
        const found = check.found.ok ? `found ${shown(check.found.value, secrets)}` : 'nothing there';
        if (saysAuth(body, message)) throw authError(`HTTP ${res.status}, success_path "${cond.text}" not met (${found})${said}`, res.status);
        throw new SourceError('bad_response', `${label} answered without success: success_path "${cond.text}" is not met (${found})${said}`, { status: res.status });
      }
    }

    const scale = config.scale ?? 1;
    const pick = (field: string, pathText: string): unknown => {
      const r = evaluatePath(parsePath(pathText), body);
      if (!r.ok) throw new SourceError('bad_response', `${label}: ${describeMiss(field, r, pathText)}; check ${field} against what the endpoint answers`, { status: res.status });
      return r.value;
    };
    const number = (field: string, pathText: string): { value: unknown; n: number } => {
      const value = pick(field, pathText);
      const n = toNumber(value);
      if (n === undefined)
        throw new SourceError('bad_response', `${label}: ${field} "${pathText}" leads to ${shown(value, secrets)}, which is not a number`, { status: res.status });
      return { value, n };
    };

    const bal = number('balance_path', config.balance_path);
    const raw: Record<string, unknown> = { balance: bal.value };
    const reading: Reading = { balance: cleanNumber(bal.n * scale) };
    if (config.used_path !== undefined) {
      const used = number('used_path', config.used_path);
      raw.used = used.value;
      reading.used = cleanNumber(used.n * scale);
    }
    if (config.currency_path !== undefined) {
      const cur = pick('currency_path', config.currency_path);
      if (typeof cur !== 'string' || !/^[\p{L}\p{N}_ .-]{1,20}$/u.test(cur.trim()))
        throw new SourceError('bad_response', `${label}: currency_path "${config.currency_path}" leads to ${shown(cur, secrets)}, not a currency code such as "USD"`, {
          status: res.status,
        });
      raw.currency = cur;
      // "usd" → "USD"; a unit name ("credits") is kept as written.
      reading.currency = /^[a-z]{3}$/i.test(cur.trim()) ? cur.trim().toUpperCase() : cur.trim();
    }
    if (scale !== 1) raw.scale = scale;
    reading.raw = raw;
    return reading;
  },
};
