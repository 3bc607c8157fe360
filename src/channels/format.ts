import type { RenderedMessage } from './types.js';

// Shared layout helpers for chat services: each service supplies its own escaping and markup (its "dialect"), and
// the size limits are applied to whole lines, so a cut never leaves half a link or an unclosed tag behind.

/** How one service writes rich text. Each function receives raw text and must escape it itself. */
export interface MarkupDialect {
  escape(text: string): string;
  bold(text: string): string;
  link(label: string, url: string): string;
  /** Prefix of a fact line; default "- ". */
  bullet?: string;
}

/** Cuts `s` to at most `max` characters (code points, not UTF-16 units), ending with "…" when cut. */
export function truncateChars(s: string, max: number): string {
  const cps = Array.from(s);
  if (cps.length <= max) return s;
  return `${cps.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** Cuts `s` to at most `maxBytes` bytes of UTF-8, never inside a character, ending with "…" when cut. */
export function truncateBytes(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let out = '';
  let used = 0;
  const budget = maxBytes - 3; // "…" is 3 bytes
  for (const ch of s) {
    const b = Buffer.byteLength(ch, 'utf8');
    if (used + b > budget) break;
    out += ch;
    used += b;
  }
  return `${out}…`;
}

export const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');
export const charLength = (s: string): number => Array.from(s).length;

/**
 * Joins lines with "\n" keeping whole lines while the result fits `limit` (measured by `measure`); a final "…"
 * line marks the cut. Lines are already-marked-up units, so the result is never broken markup.
 */
export function joinWithin(lines: string[], limit: number, measure: (s: string) => number = charLength): string {
  const all = lines.join('\n');
  if (measure(all) <= limit) return all;
  const kept: string[] = [];
  for (const line of lines) {
    const next = [...kept, line, '…'].join('\n');
    if (measure(next) > limit) break;
    kept.push(line);
  }
  return [...kept, '…'].join('\n');
}

/**
 * The body lines of a message in a service's markup: summary, one bold-labelled line per fact, the links.
 * The title is not included (services show it in their own title field, or callers prepend it).
 * A user template's text (`custom`) is the author's own markup and is returned as its lines, unescaped.
 */
export function markupLines(m: RenderedMessage, d: MarkupDialect): string[] {
  if (m.custom) return m.text.split('\n');
  const sep = m.lang === 'zh-CN' ? '：' : ': ';
  const bullet = d.bullet ?? '- ';
  const lines = m.summary.split('\n').map((l) => d.escape(l));
  if (m.facts.length > 0) lines.push('');
  for (const [label, value] of m.facts) lines.push(`${bullet}${d.bold(label)}${d.escape(sep)}${d.escape(value)}`);
  if (m.links.length > 0) {
    lines.push('');
    lines.push(m.links.map((l) => d.link(l.button, l.url)).join('  '));
  }
  return lines;
}

/** Plain text body, cut at whole lines to fit. */
export function plainText(m: RenderedMessage, limit: number, measure: (s: string) => number = charLength): string {
  return joinWithin(m.text.split('\n'), limit, measure);
}
