// The sandboxed LiquidJS engine custom templates run in: no file access, bounded parse and render, the `money`
// filter, a cache of parsed templates, and person-readable error messages.
import { Liquid, LiquidError, Tag, type FS, type TagToken, type Template, type TopLevelToken } from 'liquidjs';
import { parseAmount } from '../../domain/money.js';
import { formatAmount } from '../messages.js';

// Filters: Liquid's standard filters, plus `money` ({{ spend_last_hour_value | money }}, {{ 12 | money: "EUR" }}:
// an amount formatted in the notification's locale and currency). In the webhook body template insert every value
// with `json` ({{ account.name | json }}), which writes a complete JSON value: quotes and escapes included.
//
// Safety: no file access ({% include %}, {% render %} and {% layout %} are refused when the template is parsed,
// and the engine's file system refuses every read besides), own properties only, unknown filters are errors, and
// every parse and render is bounded in size, time and memory. Rendering is synchronous.

/** Engine limits (LiquidJS DoS options): characters parsed per template, ms per render, allocations per render. */
export const PARSE_LIMIT = 100_000;
export const RENDER_LIMIT_MS = 50;
export const MEMORY_LIMIT = 1_000_000;

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
export function compile(source: string): Template[] {
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

/** Renders a template with the given variables (throws on a render error or a limit). */
export function render(source: string, vars: Record<string, unknown>): string {
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
export function describeError(e: unknown): string {
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
