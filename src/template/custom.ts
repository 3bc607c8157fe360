import { Liquid, LiquidError, Tag, type FS, type TagToken, type Template, type TopLevelToken } from 'liquidjs';
import { z } from 'zod';
import type { NotificationPayload, RenderedMessage } from '../channels/types.js';
import { EVENT_TYPES, type EventType } from '../domain/events.js';
import { parseAmount } from '../domain/money.js';
import { escapeHtml, formatAmount, formatValues, languageOf, renderMessage, severityOf } from './messages.js';

// User-editable message templates (SPEC §4, issue #4 point 3): per workspace and per channel, written in Liquid
// (LiquidJS), validated on save, and the webhook channel's optional custom JSON body template. User guide:
// docs/templates.md.
//
// Variables available to every template (all values are plain data; absent values are null and print as nothing):
//
//   event                 the event type: "balance.low", "balance.recovered", "balance.runway_low",
//                         "balance.runway_recovered", "spend.spike", "source.failing", "source.recovered", "test"
//   lang                  "en" or "zh-CN" (from the workspace's locale)
//   level                 the level notified: "info" | "warning" | "critical" | "depleted" (balance.low and the
//                         forecast events), else null
//   level_name            the level's display word: "Critical" / "严重"
//   severity              "resolved" | "info" | "warning" | "critical"
//   account               {id, name, external_id, top_up_url}; null for test notifications
//   workspace             {id, name, external_id, locale, time_zone}
//   balance               formatted in the locale: "$3.00" (en) / "US$3.00" (zh-CN); balance_value: the number
//   currency              "USD", "CNY", or a free unit such as "credits"
//   threshold             formatted ("$5.00"); threshold_value: the number
//   runway                "about 2.5 days" / "约 2.5 天"; runway_days: the number
//   spend_per_day         "$144.00/day" / "US$144.00/天"; spend_per_day_value: the number
//   spend_last_hour       formatted ("$12.00", spend.spike); spend_last_hour_value: the number
//   time                  "2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)" in the workspace's time zone
//   occurred_at           ISO 8601, UTC ("2025-01-15T08:30:00.000Z")
//   episode, reminder     the alert episode's number; 0 for the first notification, 1, 2… for reminders
//   note                  the free text of a test notification
//   source_error          {kind, message, failures} for source.failing
//   key                   the delivery's idempotency key (the same on every retry)
//   dashboard_url         the dashboard's URL when configured
//   default               {title, summary, text}: the built-in message, so a template can wrap it. In the webhook
//                         body template: the message the channel would send (after any title / text template).
//
// Filters: Liquid's standard filters, plus `money` ({{ spend_last_hour_value | money }}, {{ 12 | money: "EUR" }}:
// an amount formatted in the notification's locale and currency). In the webhook body template insert every value
// with `json` ({{ account.name | json }}), which writes a complete JSON value: quotes and escapes included.
//
// Safety: no file access ({% include %}, {% render %} and {% layout %} are refused when the template is parsed,
// and the engine's file system refuses every read besides), own properties only, unknown filters are errors, and
// every parse and render is bounded in size, time and memory. Rendering is synchronous.

/** Longest title template and text template (characters of template source). */
export const MAX_TITLE_TEMPLATE = 300;
export const MAX_TEXT_TEMPLATE = 8000;
/** Longest webhook body template (characters of template source). */
export const MAX_BODY_TEMPLATE = 20_000;
/** Longest rendered title (one line) and rendered text. */
export const MAX_TITLE_OUTPUT = 300;
export const MAX_TEXT_OUTPUT = 16_000;
/** Longest rendered webhook body. */
export const MAX_BODY_OUTPUT = 65_536;

/** Engine limits (LiquidJS DoS options): characters parsed per template, ms per render, allocations per render. */
export const PARSE_LIMIT = 100_000;
export const RENDER_LIMIT_MS = 50;
export const MEMORY_LIMIT = 1_000_000;

export const TEMPLATE_KEYS = [...EVENT_TYPES, 'default'] as const;
export type TemplateKey = (typeof TEMPLATE_KEYS)[number];

export const templateEntrySchema = z.strictObject({
  title: z
    .string()
    .max(MAX_TITLE_TEMPLATE, `a title template is at most ${MAX_TITLE_TEMPLATE} characters`)
    .optional(),
  text: z.string().max(MAX_TEXT_TEMPLATE, `a text template is at most ${MAX_TEXT_TEMPLATE} characters`).optional(),
});
export type TemplateEntry = z.infer<typeof templateEntrySchema>;

const entryShape = Object.fromEntries(TEMPLATE_KEYS.map((k) => [k, templateEntrySchema.optional()])) as Record<
  TemplateKey,
  z.ZodOptional<typeof templateEntrySchema>
>;

/**
 * A set of templates (a workspace's or a channel's): one optional entry per event type, plus 'default' for every
 * event without its own entry. Each entry may set the title, the text, or both; an empty string counts as unset.
 */
export const templateSetSchema = z.strictObject(entryShape);
export type TemplateSet = z.infer<typeof templateSetSchema>;

/** One problem found in a template: `path` names the field ("templates.balance.low.text"). */
export interface TemplateProblem {
  path: string;
  message: string;
}

// ---------------------------------------------------------------------------------------------------------------
// The engine

const NO_FILES = 'templates cannot read files';

function refuse(): never {
  throw new Error(`${NO_FILES}: {% include %}, {% render %} and {% layout %} are not supported`);
}

/** A file system that refuses everything: Liquid never reads a file, whatever a template says. */
export const refusingFs: FS = {
  exists: () => Promise.reject(new Error(NO_FILES)),
  existsSync: refuse,
  readFile: () => Promise.reject(new Error(NO_FILES)),
  readFileSync: refuse,
  resolve: refuse,
  contains: () => Promise.resolve(false),
  containsSync: () => false,
};

/** {% include %}, {% render %}, {% layout %}: refused when the template is parsed, with the tag's position. */
class UnsupportedTag extends Tag {
  constructor(token: TagToken, remainTokens: TopLevelToken[], liquid: Liquid) {
    super(token, remainTokens, liquid);
    throw new Error(`{% ${token.name} %} is not supported: a template cannot load other templates or files`);
  }
  render(): void {}
}

const engine = new Liquid({
  fs: refusingFs,
  relativeReference: false,
  dynamicPartials: false,
  ownPropertyOnly: true,
  strictFilters: true,
  strictVariables: false,
  cache: false,
  parseLimit: PARSE_LIMIT,
  renderLimit: RENDER_LIMIT_MS,
  memoryLimit: MEMORY_LIMIT,
  // The `date` filter works in UTC; `time` is already in the workspace's time zone.
  timezoneOffset: 0,
});
for (const name of ['include', 'render', 'layout']) engine.registerTag(name, UnsupportedTag);

/** {{ 12.5 | money }} → "$12.50" in the notification's currency and language; {{ 12.5 | money: "EUR" }}. */
engine.registerFilter('money', function (this: { context: { getSync(paths: string[]): unknown } }, value: unknown, currency?: unknown) {
  const amount = parseAmount(value);
  if (amount === null) return '';
  const lang = this.context.getSync(['lang']) === 'zh-CN' ? 'zh-CN' : 'en';
  const unit = typeof currency === 'string' && currency.trim() ? currency.trim() : this.context.getSync(['currency']);
  return formatAmount(amount, typeof unit === 'string' ? unit : null, lang);
});

const CACHE_MAX = 256;
const compiled = new Map<string, Template[]>();

/** Parses a template (cached by its source text; throws LiquidError on a syntax error). */
function compile(source: string): Template[] {
  const hit = compiled.get(source);
  if (hit) {
    compiled.delete(source); // most recently used last
    compiled.set(source, hit);
    return hit;
  }
  const tpl = engine.parse(source);
  if (compiled.size >= CACHE_MAX) {
    const oldest = compiled.keys().next();
    if (!oldest.done) compiled.delete(oldest.value);
  }
  compiled.set(source, tpl);
  return tpl;
}

function render(source: string, vars: Record<string, unknown>): string {
  // A fresh top-level scope each time: {% increment %} writes into it.
  return String(engine.renderSync(compile(source), { ...vars }));
}

/** Edit distance, for "did you mean" on unknown filters (names are short). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function suggestFilter(name: string): string {
  let best: string | null = null;
  let bestD = 3;
  for (const f of Object.keys(engine.filters)) {
    const d = distance(name, f);
    if (d < bestD) [best, bestD] = [f, d];
  }
  return best ? `did you mean "${best}"? ` : '';
}

/** A person-readable message for an engine error: what, where in the template (line, column), and what to do. */
function describeError(e: unknown): string {
  const raw = e instanceof Error ? e.message : String(e);
  let what = raw.replace(/, line:\d+, col:\d+$/, '');
  let hint = '';
  let m: RegExpExecArray | null;
  if ((m = /^undefined filter: (.+)$/.exec(what))) {
    what = `unknown filter "${m[1]}"`;
    hint = `${suggestFilter(m[1]!)}see docs/templates.md for the filters`;
  } else if ((m = /^tag "(.+)" not found$/.exec(what))) {
    what = `unknown tag "{% ${m[1]} %}"`;
  } else if ((m = /^(\{% \w+ %\}) is not supported: (.+)$/.exec(what))) {
    what = `${m[1]} is not supported`;
    hint = m[2]!;
  } else if (what === 'template render limit exceeded') {
    what = `the template takes too long to render (more than ${RENDER_LIMIT_MS} ms)`;
    hint = 'make its loops smaller';
  } else if (what === 'memory alloc limit exceeded') {
    what = 'the template uses too much memory';
    hint = 'a loop over a huge range, or a string grown in a loop?';
  } else if (what === 'parse length limit exceeded') {
    what = `the template is too long (more than ${PARSE_LIMIT} characters)`;
  } else if (/ENOENT|Failed to lookup|cannot read files/.test(what)) {
    what = 'templates cannot read files';
    hint = '{% include %}, {% render %} and {% layout %} are not supported';
  }
  if (LiquidError.is(e)) {
    const [line, col] = e.token.getPosition();
    if (line !== undefined && col !== undefined) what += ` at line ${line}, column ${col}`;
  }
  return hint ? `${what}: ${hint}` : what;
}

// ---------------------------------------------------------------------------------------------------------------
// Variables

export interface TemplateVarOptions {
  key: string;
  dashboardUrl?: string | null;
  /** What `default` holds: the built-in message (title / text templates) or the message to send (body template). */
  base: Pick<RenderedMessage, 'title' | 'summary' | 'text'>;
}

/** The variables a template sees for one notification (see the comment at the top of this file). */
export function templateVars(p: NotificationPayload, o: TemplateVarOptions): Record<string, unknown> {
  const f = formatValues(p);
  const num = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  return {
    event: p.type,
    lang: f.lang,
    level: p.level,
    level_name: f.levelName,
    severity: severityOf(p),
    account: p.account
      ? { id: p.account.id, name: p.account.name, external_id: p.account.external_id, top_up_url: p.account.top_up_url }
      : null,
    workspace: {
      id: p.workspace.id,
      name: p.workspace.name,
      external_id: p.workspace.external_id,
      locale: p.workspace.locale,
      time_zone: p.workspace.time_zone,
    },
    balance: f.balance,
    balance_value: num(p.balance),
    currency: p.currency,
    threshold: f.threshold,
    threshold_value: num(p.threshold),
    runway: f.runway,
    runway_days: num(p.runway_days),
    spend_per_day: f.spendPerDay,
    spend_per_day_value: num(p.spend_per_day),
    spend_last_hour: f.spendLastHour,
    spend_last_hour_value: num(p.spend_last_hour),
    time: f.time,
    occurred_at: p.occurred_at,
    episode: p.episode,
    reminder: p.reminder,
    note: p.note ?? null,
    source_error: p.source_error
      ? { kind: p.source_error.kind, message: p.source_error.message, failures: p.source_error.failures }
      : null,
    key: o.key,
    dashboard_url: o.dashboardUrl?.trim() || null,
    default: { title: o.base.title, summary: o.base.summary, text: o.base.text },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Sample notifications for validation: every event type, in both languages. Names carry a double quote so that a
// webhook body inserting a value without `| json` is caught on save, not at 3 a.m.

const SAMPLE_DASHBOARD = 'https://balancewatch.example.com/';
const SAMPLE_KEY = 'sample-delivery-key';

function samplePayloads(): NotificationPayload[] {
  const base = (locale: string): Omit<NotificationPayload, 'type' | 'level' | 'threshold'> => ({
    occurred_at: '2025-01-15T08:30:00.000Z',
    workspace: { id: 'ws_sample', name: 'Acme "AI"', external_id: 'acme', locale, time_zone: 'Asia/Shanghai' },
    account: {
      id: 'ac_sample',
      name: 'DeepSeek "prod"',
      external_id: 'ds-prod',
      top_up_url: 'https://platform.deepseek.com/top_up',
    },
    balance: 3,
    currency: 'USD',
    runway_days: null,
    spend_per_day: null,
    spend_last_hour: null,
    episode: 1,
    reminder: 0,
  });
  const perEvent: Record<EventType, Array<Partial<NotificationPayload>>> = {
    'balance.low': [
      { level: 'warning', threshold: 5, spend_per_day: 1.2, runway_days: 2.5 },
      { level: 'depleted', threshold: 0, balance: 0, reminder: 2 },
    ],
    'balance.recovered': [{ level: null, threshold: 22, balance: 60 }],
    'balance.runway_low': [{ level: 'warning', threshold: null, balance: 60, runway_days: 2.46, spend_per_day: 24.4 }],
    'balance.runway_recovered': [{ level: null, threshold: null, balance: 80, runway_days: 12, spend_per_day: 6.6 }],
    'spend.spike': [{ level: 'warning', threshold: null, balance: 50, spend_per_day: 30, spend_last_hour: 12 }],
    'source.failing': [
      {
        level: null,
        threshold: null,
        balance: null,
        source_error: { kind: 'auth', message: 'HTTP 401 "invalid api key"', failures: 3 },
      },
    ],
    'source.recovered': [{ level: null, threshold: null, balance: 42 }],
    test: [
      {
        level: null,
        threshold: null,
        account: null,
        balance: null,
        currency: null,
        episode: 0,
        note: 'hello "from" the settings page',
      },
    ],
  };
  const out: NotificationPayload[] = [];
  for (const locale of ['en', 'zh-CN']) {
    for (const type of EVENT_TYPES) {
      for (const over of perEvent[type]) out.push({ ...base(locale), type, level: null, threshold: null, ...over });
    }
  }
  return out;
}

interface Sample {
  payload: NotificationPayload;
  builtIn: RenderedMessage;
  vars: Record<string, unknown>;
  label: string;
}

let samplesMemo: Sample[] | null = null;

function samples(): Sample[] {
  samplesMemo ??= samplePayloads().map((payload) => {
    const builtIn = renderMessage(payload, { dashboardUrl: SAMPLE_DASHBOARD });
    const vars = templateVars(payload, { key: SAMPLE_KEY, dashboardUrl: SAMPLE_DASHBOARD, base: builtIn });
    const lang = languageOf(payload.workspace.locale);
    const label = `the sample ${payload.type} notification in ${lang}${payload.type === 'test' ? ': no account, no balance' : ''}`;
    return { payload, builtIn, vars, label };
  });
  return samplesMemo;
}

// ---------------------------------------------------------------------------------------------------------------
// Checking rendered output

type Field = 'title' | 'text';

const LINE_BREAK = /[\r\n\u2028\u2029]/;

/** What is wrong with a rendered title or text on save, or null. */
function outputProblem(field: Field, out: string): string | null {
  const s = out.trim();
  if (!s) return `renders empty`;
  if (field === 'title') {
    if (LINE_BREAK.test(s))
      return 'must render to a single line: remove the line break, or trim the whitespace around tags with {%- -%}';
    if (s.length > MAX_TITLE_OUTPUT) return `renders ${s.length} characters, more than the ${MAX_TITLE_OUTPUT} a title may have`;
  } else if (s.length > MAX_TEXT_OUTPUT) {
    return `renders ${s.length} characters, more than the ${MAX_TEXT_OUTPUT} a text may have`;
  }
  return null;
}

function usable(t: unknown): t is string {
  return typeof t === 'string' && t.trim() !== '';
}

/**
 * Checks a template set before it is saved: every template must parse, use only known filters and tags, and render
 * within the limits for sample notifications of every event type it applies to (an event's own entry: that event;
 * 'default': every event) in English and Chinese, to a non-empty text and a non-empty one-line title of at most
 * 300 characters. Returns one problem per faulty template (empty when the set is valid).
 */
export function validateTemplateSet(set: TemplateSet, opts: { path?: string } = {}): TemplateProblem[] {
  const prefix = opts.path ?? 'templates';
  const problems: TemplateProblem[] = [];
  for (const key of TEMPLATE_KEYS) {
    const entry = set[key];
    if (!entry) continue;
    for (const field of ['title', 'text'] as const) {
      const source = entry[field];
      if (!usable(source)) continue;
      const path = `${prefix}.${key}.${field}`;
      const max = field === 'title' ? MAX_TITLE_TEMPLATE : MAX_TEXT_TEMPLATE;
      if (source.length > max) {
        problems.push({ path, message: `is ${source.length} characters long; the most is ${max}` });
        continue;
      }
      const problem = checkTemplate(source, key === 'default' ? null : key, (out) => outputProblem(field, out));
      if (problem) problems.push({ path, message: problem });
    }
  }
  return problems;
}

/** Parses, then trial-renders against the samples; returns the first problem or null. */
function checkTemplate(source: string, only: EventType | null, check: (out: string) => string | null): string | null {
  try {
    compile(source);
  } catch (e) {
    return describeError(e);
  }
  for (const s of samples()) {
    if (only !== null && s.payload.type !== only) continue;
    let out: string;
    try {
      out = render(source, s.vars);
    } catch (e) {
      return `${describeError(e)} (with ${s.label})`;
    }
    const problem = check(out);
    if (problem) return `${problem} (with ${s.label})`;
  }
  return null;
}

/**
 * Checks the webhook channel's custom body template before it is saved: the checks of validateTemplateSet, and the
 * rendered body must be valid JSON for every sample (the webhook sends application/json). Insert values with the
 * `json` filter, which writes them as complete JSON values: `{"account": {{ account.name | json }}}`.
 */
export function validateBodyTemplate(tpl: string, opts: { path?: string } = {}): TemplateProblem[] {
  const path = opts.path ?? 'body_template';
  if (!usable(tpl)) return [{ path, message: 'is empty: write a JSON body, or remove the template to send the standard body' }];
  if (tpl.length > MAX_BODY_TEMPLATE)
    return [{ path, message: `is ${tpl.length} characters long; the most is ${MAX_BODY_TEMPLATE}` }];
  const problem = checkTemplate(tpl, null, bodyProblem);
  return problem ? [{ path, message: problem }] : [];
}

function bodyProblem(out: string): string | null {
  if (out.length > MAX_BODY_OUTPUT)
    return `renders ${out.length} characters, more than the ${MAX_BODY_OUTPUT} a webhook body may have`;
  return jsonProblem(out);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON checking, with the position of the first error in the rendered output

class JsonAt {
  constructor(
    readonly index: number,
    readonly what: string,
  ) {}
}

/** Finds the first syntax error in a JSON text (JSON.parse's messages do not always give a position). */
function locateJsonError(s: string): JsonAt | null {
  let i = 0;
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const fail = (what: string): never => {
    // At the end of the output, the hint in parentheses does not apply: something is missing.
    throw new JsonAt(i, i >= s.length ? `the body ends too early: ${what.replace(/ \(.*\)$/, '')}` : what);
  };
  const literal = (word: string) => {
    if (s.startsWith(word, i)) i += word.length;
    else fail('unexpected characters (a string value without quotes? insert values with | json)');
  };
  const str = () => {
    i++; // opening quote
    for (;;) {
      if (i >= s.length) fail('a string is not closed');
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('a line break or control character inside a string (insert values with | json)');
      if (c === 0x5c) {
        const e = s[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) fail('a bad \\u escape in a string');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail('a bad escape in a string (insert values with | json)');
      } else i++;
    }
  };
  const num = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(s.slice(i, i + 400));
    if (!m) fail('a malformed number');
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') fail('expected a property name in double quotes');
        str();
        ws();
        if (s[i] !== ':') fail("expected ':' after the property name");
        i++;
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === '}') {
          i++;
          return;
        }
        fail("expected ',' or '}' after a property's value (an unquoted value, or a missing comma?)");
      }
    } else if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ']') {
          i++;
          return;
        }
        fail("expected ',' or ']' after an array item");
      }
    } else if (c === '"') str();
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) num();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === undefined) fail('expected a value');
    else fail('expected a value (a string value without quotes? insert values with | json)');
  };
  try {
    value();
    ws();
    if (i < s.length) fail('unexpected text after the JSON value');
    return null;
  } catch (e) {
    if (e instanceof JsonAt) return e;
    return null; // e.g. nesting too deep for the stack: no position
  }
}

/** Null when `out` is valid JSON, else where and why it is not. */
function jsonProblem(out: string): string | null {
  try {
    JSON.parse(out);
    return null;
  } catch (e) {
    const at = locateJsonError(out);
    if (!at) return `the rendered body is not valid JSON (${e instanceof Error ? e.message : String(e)})`;
    const before = out.slice(0, at.index);
    const line = before.split('\n').length;
    const column = at.index - before.lastIndexOf('\n');
    const near = out
      .slice(Math.max(0, at.index - 30), at.index + 30)
      .replace(/\r?\n/g, '⏎')
      .trim();
    return `the rendered body is not valid JSON: ${at.what} at line ${line}, column ${column} of the output, near \`${near}\``;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sending

export interface ApplyOptions {
  /** The delivery's idempotency key (`key` in templates). */
  key: string;
  dashboardUrl?: string | null;
  /**
   * Called when a template fails at send time (it was valid when saved, but e.g. hit the render limit with real
   * data): the notification then goes out with the built-in message. `set` is the index in `sets`.
   */
  onError?: (problem: TemplateProblem & { set: number }) => void;
}

/** The template for one field: the first set (channel, then workspace) with the event's own entry, else its 'default'. */
function pickTemplate(sets: ReadonlyArray<TemplateSet | null | undefined>, type: EventType, field: Field) {
  for (let i = 0; i < sets.length; i++) {
    const set = sets[i];
    if (!set) continue;
    const own = set[type]?.[field];
    if (usable(own)) return { set: i, key: type as TemplateKey, source: own };
    const dflt = set.default?.[field];
    if (usable(dflt)) return { set: i, key: 'default' as TemplateKey, source: dflt };
  }
  return null;
}

/** Titles from real data are made one line (names may hold line breaks) and cut to the limit. */
function oneLineTitle(s: string): string {
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > MAX_TITLE_OUTPUT ? `${clean.slice(0, MAX_TITLE_OUTPUT - 1)}…` : clean;
}

function cutText(s: string): string {
  return s.length > MAX_TEXT_OUTPUT ? `${s.slice(0, MAX_TEXT_OUTPUT - 1)}…` : s;
}

/**
 * Applies the user's templates to a built-in message. `sets` are in priority order (the channel's, then the
 * workspace's); each field (title, text) falls through on its own: the first set with an entry for the event, else
 * its 'default' entry, else the built-in. A text template makes the message `custom` (text = summary = the rendered
 * text, html = a plain e-mail of it; facts and links are kept but channels do not lay them out); a title template
 * alone changes only the title (and the e-mail's heading). When a template fails, the built-in message is returned
 * unchanged and `opts.onError` is told; this never throws.
 */
export function applyTemplates(
  message: RenderedMessage,
  payload: NotificationPayload,
  sets: ReadonlyArray<TemplateSet | null | undefined>,
  opts: ApplyOptions,
): RenderedMessage {
  const titleTpl = pickTemplate(sets, payload.type, 'title');
  const textTpl = pickTemplate(sets, payload.type, 'text');
  if (!titleTpl && !textTpl) return message;
  let vars: Record<string, unknown>;
  let title = message.title;
  let text: string | null = null;
  const current = { set: 0, path: '' };
  try {
    vars = templateVars(payload, { key: opts.key, dashboardUrl: opts.dashboardUrl, base: message });
    if (titleTpl) {
      Object.assign(current, { set: titleTpl.set, path: `templates.${titleTpl.key}.title` });
      title = oneLineTitle(render(titleTpl.source, vars));
      if (!title) throw new Error('the title template rendered empty');
    }
    if (textTpl) {
      Object.assign(current, { set: textTpl.set, path: `templates.${textTpl.key}.text` });
      text = cutText(render(textTpl.source, vars).trim());
      if (!text) throw new Error('the text template rendered empty');
    }
  } catch (e) {
    try {
      opts.onError?.({ ...current, message: `${describeError(e)}; sent the built-in message instead` });
    } catch {
      // a failing logger must not lose the notification either
    }
    return message;
  }
  if (text === null) {
    return { ...message, title, html: replaceHeading(message.html, message.title, title) };
  }
  return {
    ...message,
    title,
    text,
    summary: text,
    html: textToHtml(message, title, text),
    custom: true,
  };
}

/** The built-in e-mail shows its title in <title> and <h1>: swap in the templated title. */
function replaceHeading(html: string, oldTitle: string, newTitle: string): string {
  if (oldTitle === newTitle) return html;
  return html.split(`>${escapeHtml(oldTitle)}</`).join(`>${escapeHtml(newTitle)}</`);
}

const URL_RE = /https?:\/\/[^\s<>"'`]+/g;

/** Escaped text with its http(s) URLs as links. */
function linkify(text: string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const url = m[0].replace(/[.,;:!?)\]}。，；：！？）]+$/u, '');
    const at = m.index;
    out += escapeHtml(text.slice(last, at));
    let href: string | null = null;
    try {
      const u = new URL(url);
      if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
    } catch {
      href = null;
    }
    out += href ? `<a href="${escapeHtml(href)}" style="color:#2563eb;word-break:break-all;">${escapeHtml(url)}</a>` : escapeHtml(url);
    last = at + url.length;
  }
  return out + escapeHtml(text.slice(last));
}

const FONT =
  "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Arial,'PingFang SC','Microsoft YaHei',sans-serif";

/** A simple e-mail for a templated text: the title, the text as written (escaped, URLs linked), the footer. */
function textToHtml(m: RenderedMessage, title: string, text: string): string {
  const e = escapeHtml;
  const color = /^#[0-9a-fA-F]{6}$/.test(m.color) ? m.color : '#4b5563';
  const body = linkify(text).replace(/\r?\n/g, '<br>\n');
  return `<!DOCTYPE html>
<html lang="${m.lang === 'zh-CN' ? 'zh-CN' : 'en'}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${e(title)}</title></head>
<body style="margin:0;padding:0;background:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;"><tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:560px;background:#ffffff;border-radius:8px;border-top:4px solid ${color};font-family:${FONT};color:#111827;">
<tr><td style="padding:24px;">
<h1 style="margin:0 0 12px;font-size:18px;line-height:1.4;font-weight:700;color:${color};">${e(title)}</h1>
<div style="margin:0;font-size:14px;line-height:1.6;word-break:break-word;">${body}</div>
<p style="margin:20px 0 0;font-size:12px;line-height:1.5;color:#9ca3af;">${e(m.footer)}</p>
</td></tr>
</table>
</td></tr></table>
</body>
</html>`;
}

/**
 * Renders the webhook channel's custom body template for one notification. `message` is what the channel sends
 * otherwise (`default.*` in the template). Throws an Error saying what is wrong when the template fails or its
 * output is not valid JSON (the channel reports it as a failure that retrying cannot fix).
 */
export function renderBodyTemplate(
  tpl: string,
  payload: NotificationPayload,
  message: RenderedMessage,
  key: string,
  opts: { dashboardUrl?: string | null } = {},
): string {
  let out: string;
  try {
    out = render(tpl, templateVars(payload, { key, dashboardUrl: opts.dashboardUrl, base: message }));
  } catch (e) {
    throw new Error(`the webhook body template failed: ${describeError(e)}`);
  }
  if (out.length > MAX_BODY_OUTPUT)
    throw new Error(`the webhook body template rendered ${out.length} characters, more than ${MAX_BODY_OUTPUT}`);
  const problem = jsonProblem(out);
  if (problem) throw new Error(`the webhook body template: ${problem}`);
  return out;
}
