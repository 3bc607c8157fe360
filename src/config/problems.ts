// Problems in a config file and where they are: paths in the document (`workspaces[0].accounts[1].source`), their
// line and column in the YAML text, and zod issues turned into path + message pairs.
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type Scalar } from 'yaml';
import type { z } from 'zod';

/** One problem in a config file. `line`/`column` are 1-based; 0 when the problem is the file as a whole. */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  /** Where in the document, e.g. `workspaces[0].accounts[1].source.api_key` ('' for the file as a whole). */
  path: string;
  message: string;
}

/** A path in the document: mapping keys and sequence indexes. */
export type Path = Array<string | number>;

/** `workspaces[0].accounts[1].source.api_key` */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** `FILE:LINE:COL path: message`, the way compilers print problems. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return `${where}${p.path ? ` ${p.path}` : ''}: ${p.message}`;
}

/** Reports a problem at a path (the loader keeps one problem per path). */
export type ReportProblem = (path: Path, message: string) => void;

export class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Line and column of the node at `path`, or of the deepest entry of it that exists: a scalar value itself, a
   * collection (or, with `key`, any value) at its key.
   */
  at(path: Path, key = false): { line: number; column: number } {
    let node: unknown = this.doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (const seg of path) {
      node = this.deref(node);
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
        if (!pair) break;
        offset = rangeStart(pair.key) ?? offset;
        node = pair.value;
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)];
        if (item === undefined || !Number.isInteger(Number(seg))) break;
        offset = rangeStart(item) ?? offset;
        node = item;
      } else break;
      // A scalar is pointed at itself (the value); a collection at its key.
      const target = this.deref(node);
      if (!key && isScalar(target) && target === node) offset = rangeStart(target) ?? offset;
    }
    const pos = this.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }

  private deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as Node | null | undefined)?.range;
  return r ? r[0] : undefined;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

/** Every string scalar value (not keys) with its path. */
export function eachScalar(node: unknown, path: Path, fn: (s: Scalar, path: Path) => void): void {
  if (isMap(node)) {
    for (const pair of node.items) if (isPair(pair)) eachScalar(pair.value, [...path, keyText(pair.key)], fn);
  } else if (isSeq(node)) node.items.forEach((item, i) => eachScalar(item, [...path, i], fn));
  else if (isScalar(node)) fn(node, path);
}

/** Zod issues as [path, message] pairs; an unknown key is reported at the key itself. */
export function zodIssues(issues: readonly z.core.$ZodIssue[], base: Path): Array<[Path, string]> {
  const out: Array<[Path, string]> = [];
  for (const i of issues) {
    const at = [...base, ...(i.path as Array<string | number>)];
    if (i.code === 'unrecognized_keys') for (const k of i.keys) out.push([[...at, k], `unknown field "${k}"`]);
    else if (i.code === 'invalid_union' && i.errors.length > 0 && i.errors[0]!.length > 0) out.push(...zodIssues(i.errors[0]!, at));
    else out.push([at, i.message]);
  }
  return out;
}

/** A dotted path from an error ("body.source.api_key", "levels.0.level") as path segments. */
export function splitDotted(path: string): Path {
  return path
    .split('.')
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}
