import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, type Scalar } from 'yaml';
import { z } from 'zod';
import { type ChannelRegistry, channelRegistry } from '../channels/registry.js';
import { ChannelConfigError, checkChannelFields, resolveChannelType } from '../channels/resolve.js';
import { EVENT_TYPES, type EventType, type Level, LEVELS } from '../domain/events.js';
import { currencySchema, externalIdSchema, LOCALES, quotaPerUnitSchema, timeZoneSchema, topUpUrlSchema } from '../domain/fields.js';
import {
  accountRulesSchema,
  applySettingsPatch,
  DEFAULT_SETTINGS,
  effectiveSettings,
  type NotificationSettings,
  SettingsError,
  type SettingsPatch,
  settingsPatchSchema,
} from '../domain/settings.js';
import { SecretBox } from '../security/secrets.js';
import { resolveSource, SourceConfigError } from '../sources/config.js';
import { type SourceRegistry, sourceRegistry } from '../sources/registry.js';
import { type TemplateSet, templateSetSchema, validateTemplateSet } from '../template/custom.js';

// Config as code (SPEC §6): a YAML file declaring workspaces with their accounts (sources, rules) and channels,
// `${ENV}` interpolation for secrets. Validation reports every problem with its line, column and path in the file;
// applying it (config/apply.ts) upserts what it declares and marks it managed.

export { applyConfig, type ApplySummary } from './apply.js';

/** One problem in a config file. `line`/`column` are 1-based; 0 when the problem is the file as a whole. */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  /** Where in the document, e.g. `workspaces[0].accounts[1].source.api_key` ('' for the file as a whole). */
  path: string;
  message: string;
}

export interface AccountSpec {
  /** The key in the file; `external_id` is the identity in the database (the key unless given). */
  key: string;
  external_id: string;
  name: string;
  currency: string;
  quota_per_unit: number | null;
  top_up_url: string | null;
  /** The `source` as written (interpolated), validated; resolved again with the real secret key when applied. */
  source: Record<string, unknown>;
  rules: SettingsPatch | null;
}

export interface ChannelSpec {
  name: string;
  type: string;
  /** The type's fields, validated by its schema (secrets in clear: encrypted when applied). */
  fields: Record<string, unknown>;
  events: EventType[] | null;
  min_level: Level | null;
  enabled: boolean;
  /** External ids of accounts of the same workspace the channel is limited to; null = every account. */
  accounts: string[] | null;
  template: TemplateSet | null;
}

export interface WorkspaceSpec {
  key: string;
  external_id: string;
  name: string;
  locale: (typeof LOCALES)[number];
  time_zone: string;
  /** The settings patch as written; applied over the defaults. Null = keep the stored settings. */
  notification_settings: SettingsPatch | null;
  accounts: AccountSpec[];
  channels: ChannelSpec[];
}

export interface ConfigSpec {
  file: string;
  workspaces: WorkspaceSpec[];
}

export interface ConfigCheck {
  file: string;
  problems: ConfigProblem[];
  /** Set only when there is no problem. */
  config: ConfigSpec | null;
  counts: { workspaces: number; accounts: number; channels: number };
}

export interface ValidateOptions {
  /** Variables for `${NAME}` (default: process.env). */
  env?: NodeJS.ProcessEnv;
  sources?: SourceRegistry;
  channels?: ChannelRegistry;
  /** The file's text, instead of reading `path`. */
  text?: string;
}

type Path = Array<string | number>;

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

// ---- interpolation ---------------------------------------------------------------------------------------------

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Interpolated {
  value: string;
  /** Problems, never containing a variable's value. */
  problems: string[];
  used: boolean;
}

/**
 * Replaces `${NAME}`, `${NAME:-default}` (default when unset or empty) and `${NAME-default}` (default when unset);
 * `$${` is a literal `${`. A missing variable without a default is a problem naming the variable.
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv): Interpolated {
  const problems: string[] = [];
  let out = '';
  let used = false;
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf('$', i);
    if (at < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, at);
    if (text.startsWith('$${', at)) {
      out += '${';
      i = at + 3;
      used = true;
      continue;
    }
    if (!text.startsWith('${', at)) {
      out += '$';
      i = at + 1;
      continue;
    }
    used = true;
    const end = text.indexOf('}', at + 2);
    if (end < 0) {
      problems.push('"${" without a closing "}" (write "$${" for a literal "${")');
      out += text.slice(at);
      break;
    }
    const expr = text.slice(at + 2, end);
    const m = /^([^:-]*)(?:(:-|-)([\s\S]*))?$/.exec(expr);
    const name = m?.[1] ?? expr;
    if (!m || !VAR_NAME.test(name)) {
      problems.push(`"\${${expr.length > 40 ? `${expr.slice(0, 40)}…` : expr}}" is not a variable reference: use \${NAME} or \${NAME:-default}`);
      i = end + 1;
      continue;
    }
    const value = env[name];
    const op = m[2];
    if (value === undefined || (op === ':-' && value === '')) {
      if (op) out += m[3] ?? '';
      else problems.push(`environment variable ${name} is not set (set it, or give a default: \${${name}:-default})`);
    } else out += value;
    i = end + 1;
  }
  return { value: out, problems, used };
}

// ---- schema ----------------------------------------------------------------------------------------------------

const keySchema = externalIdSchema;
const nameSchema = z.string().trim().min(1).max(200);

const topSchema = z
  .object({
    version: z.literal(1, { error: 'the only config file version is 1' }).optional(),
    workspaces: z.array(z.unknown()).max(10_000),
  })
  .strict();

const workspaceSchema = z
  .object({
    key: keySchema,
    external_id: externalIdSchema.optional(),
    name: nameSchema.optional(),
    locale: z.enum(LOCALES).default('en'),
    time_zone: timeZoneSchema.default('UTC'),
    notification_settings: settingsPatchSchema.nullish(),
    accounts: z.array(z.unknown()).max(100_000).default([]),
    channels: z.array(z.unknown()).max(10_000).default([]),
  })
  .strict();

const accountSchema = z
  .object({
    key: keySchema,
    external_id: externalIdSchema.optional(),
    name: nameSchema.optional(),
    currency: currencySchema.default('USD'),
    quota_per_unit: quotaPerUnitSchema.nullish(),
    top_up_url: topUpUrlSchema.nullish(),
    source: z.object({ type: z.string().min(1).max(50) }).passthrough().default({ type: 'push' }),
    rules: accountRulesSchema.nullish(),
  })
  .strict();

/** What every channel takes besides its type's own fields (as in POST /api/v1/channels, with `accounts` by key). */
const CHANNEL_COMMON = ['name', 'type', 'events', 'min_level', 'enabled', 'accounts', 'template'] as const;
const channelCommonSchema = z
  .object({
    name: nameSchema,
    type: z.string().min(1).max(50).optional(),
    events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).nullish(),
    min_level: z.enum(LEVELS).nullish(),
    enabled: z.boolean().default(true),
    accounts: z.array(keySchema).max(10_000).nullish(),
    template: templateSetSchema.nullish(),
  })
  .passthrough();

// ---- locating a path in the document ---------------------------------------------------------------------------

class Locator {
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
function eachScalar(node: unknown, path: Path, fn: (s: Scalar, path: Path) => void): void {
  if (isMap(node)) {
    for (const pair of node.items) if (isPair(pair)) eachScalar(pair.value, [...path, keyText(pair.key)], fn);
  } else if (isSeq(node)) node.items.forEach((item, i) => eachScalar(item, [...path, i], fn));
  else if (isScalar(node)) fn(node, path);
}

/** A plain (unquoted) scalar written as `${X}` takes the type its value has in YAML: `${LIMIT}` with LIMIT=20 is 20. */
function retype(text: string): unknown {
  const t = text.trim();
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  return text;
}

// ---- validation ------------------------------------------------------------------------------------------------

/** Zod issues as [path, message] pairs; an unknown key is reported at the key itself. */
function zodIssues(issues: readonly z.core.$ZodIssue[], base: Path): Array<[Path, string]> {
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
function splitDotted(path: string): Path {
  return path
    .split('.')
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads and validates a config file. Reports every problem found (YAML syntax, schema, source and channel fields,
 * settings, duplicate identities), each with its line, column and path; `config` is set only when there are none.
 * Needs no database; secrets are checked with a throwaway key.
 */
export function validateConfigFile(file: string, opts: ValidateOptions = {}): ConfigCheck {
  const env = opts.env ?? process.env;
  const sources = opts.sources ?? sourceRegistry;
  const channels = opts.channels ?? channelRegistry;
  const problems: ConfigProblem[] = [];
  const counts = { workspaces: 0, accounts: 0, channels: 0 };
  const done = (config: ConfigSpec | null): ConfigCheck => {
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    return { file, problems, config: problems.length === 0 ? config : null, counts };
  };

  let text: string;
  try {
    text = opts.text ?? readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    problems.push({ file, line: 0, column: 0, path: '', message: `cannot read the config file: ${why}` });
    return done(null);
  }

  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  // Duplicate keys leave a usable document; after any other syntax error the rest is noise: the first is reported.
  const syntax = doc.errors.find((e) => e.code !== 'DUPLICATE_KEY');
  for (const e of doc.errors) {
    if (e.code !== 'DUPLICATE_KEY' && e !== syntax) continue;
    const pos = lines.linePos(e.pos[0]);
    let message = e.code === 'DUPLICATE_KEY' ? 'this key is already set above in the same mapping' : `YAML syntax: ${e.message}`;
    const lineText = text.split(/\r?\n/)[pos.line - 1] ?? '';
    if (e.code !== 'DUPLICATE_KEY' && /[{[][^"']*\$\{/.test(lineText)) message += ' (inside { } or [ ], put a value with ${…} in quotes: "${NAME}")';
    problems.push({ file, line: pos.line, column: pos.col, path: '', message });
  }
  if (syntax) return done(null);

  const where = new Locator(doc, lines);
  /** Values whose interpolation failed: what the schema then says about them would only repeat it. */
  const unresolved = new Set<string>();
  /** Paths already reported by validation: one problem per value is enough ("too short" and "bad characters"…). */
  const reported = new Set<string>();
  const report = (path: Path, message: string, opts: { key?: boolean; interpolation?: boolean } = {}) => {
    const at = formatPath(path);
    if (!opts.interpolation) {
      if (unresolved.has(at) || reported.has(at)) return;
      reported.add(at);
    }
    const unknown = message.startsWith('Unrecognized key') || message.startsWith('unknown field');
    const pos = where.at(path, opts.key || unknown);
    problems.push({ file, line: pos.line, column: pos.column, path: at, message: unknown ? `unknown field "${String(path[path.length - 1])}"` : message });
  };

  // Interpolation, in place, before anything reads a value.
  eachScalar(doc.contents, [], (s, path) => {
    if (typeof s.value !== 'string' || !s.value.includes('$')) return;
    const r = interpolate(s.value, env);
    for (const p of r.problems) report(path, p, { interpolation: true });
    if (r.problems.length > 0) unresolved.add(formatPath(path));
    if (!r.used) return;
    s.value = s.type === 'PLAIN' ? retype(r.value) : r.value;
  });

  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isRecord(root)) {
    report([], root === null || root === undefined ? 'the file is empty: expected "workspaces:" with a list of workspaces' : 'expected a mapping with "workspaces:" at the top level');
    return done(null);
  }
  const top = topSchema.safeParse(root);
  for (const [p, m] of top.success ? [] : zodIssues(top.error.issues, [])) report(p, m);
  const rawWorkspaces = Array.isArray(root.workspaces) ? root.workspaces : [];

  // A throwaway key: sources are validated exactly as the API does, their secrets encrypted with a key then dropped.
  const box = new SecretBox(randomBytes(32));
  const workspaces: WorkspaceSpec[] = [];
  const seenWorkspaces = new Map<string, number>();

  rawWorkspaces.forEach((rawWs, wi) => {
    const wsPath: Path = ['workspaces', wi];
    counts.workspaces++;
    const wsRecord = isRecord(rawWs) ? rawWs : {};
    const wsIdField = typeof wsRecord.external_id === 'string' ? 'external_id' : 'key';
    const wsId = wsRecord[wsIdField];
    if (typeof wsId === 'string' && wsId !== '') {
      const first = seenWorkspaces.get(wsId);
      if (first !== undefined) report([...wsPath, wsIdField], `workspace "${wsId}" is already declared (workspaces[${first}]): keys must be unique`);
      else seenWorkspaces.set(wsId, wi);
    }
    const ws = workspaceSchema.safeParse(rawWs);
    for (const [p, m] of ws.success ? [] : zodIssues(ws.error.issues, wsPath)) report(p, m);

    let settings: NotificationSettings = DEFAULT_SETTINGS;
    // Checked on its own, so its problems show even when the workspace has others.
    const patch = isRecord(wsRecord.notification_settings) ? settingsPatchSchema.safeParse(wsRecord.notification_settings) : null;
    if (patch?.success) {
      try {
        settings = applySettingsPatch(DEFAULT_SETTINGS, patch.data);
      } catch (err) {
        if (!(err instanceof SettingsError)) throw err;
        report([...wsPath, 'notification_settings', ...splitDotted(err.path)], err.message);
      }
    }

    // Accounts.
    const accounts: AccountSpec[] = [];
    const seenAccounts = new Map<string, number>();
    const accountKeys = new Map<string, string>(); // key or external_id → external_id
    const rawAccounts = Array.isArray(wsRecord.accounts) ? wsRecord.accounts : [];
    rawAccounts.forEach((rawAcc, ai) => {
      const accPath: Path = [...wsPath, 'accounts', ai];
      counts.accounts++;
      // Identity first, so a duplicate is reported even when either entry has other problems.
      const rawAccount = isRecord(rawAcc) ? rawAcc : {};
      const idField = typeof rawAccount.external_id === 'string' ? 'external_id' : 'key';
      const rawId = rawAccount[idField];
      if (typeof rawId === 'string' && rawId !== '') {
        const first = seenAccounts.get(rawId);
        if (first !== undefined) report([...accPath, idField], `account "${rawId}" is already declared in this workspace (accounts[${first}]): keys must be unique`);
        else seenAccounts.set(rawId, ai);
        // Channels may name it by key or external id (even when it has problems of its own, reported here).
        accountKeys.set(rawId, rawId);
        if (typeof rawAccount.key === 'string' && rawAccount.key !== '') accountKeys.set(rawAccount.key, rawId);
      }
      const acc = accountSchema.safeParse(rawAcc);
      if (!acc.success) {
        for (const [p, m] of zodIssues(acc.error.issues, accPath)) report(p, m);
        // The source is still worth checking on its own.
        const rawSource = isRecord(rawAcc) ? rawAcc.source : undefined;
        if (isRecord(rawSource) && typeof rawSource.type === 'string') checkSource(rawSource, [...accPath, 'source']);
        return;
      }
      const a = acc.data;
      const externalId = a.external_id ?? a.key;
      const sourceOk = checkSource(a.source, [...accPath, 'source']);
      if (a.rules) {
        try {
          effectiveSettings(settings, a.rules);
        } catch (err) {
          if (!(err instanceof SettingsError)) throw err;
          report([...accPath, 'rules', ...splitDotted(err.path)], err.message);
        }
      }
      if (sourceOk)
        accounts.push({
          key: a.key,
          external_id: externalId,
          name: a.name ?? a.key,
          currency: a.currency,
          quota_per_unit: a.quota_per_unit ?? null,
          top_up_url: a.top_up_url ?? null,
          source: a.source,
          rules: a.rules ?? null,
        });
    });

    // Channels.
    const channelSpecs: ChannelSpec[] = [];
    const seenChannels = new Map<string, number>();
    const rawChannels = Array.isArray(wsRecord.channels) ? wsRecord.channels : [];
    rawChannels.forEach((rawCh, ci) => {
      const chPath: Path = [...wsPath, 'channels', ci];
      counts.channels++;
      const rawName = isRecord(rawCh) && typeof rawCh.name === 'string' ? rawCh.name.trim() : null;
      if (rawName) {
        const first = seenChannels.get(rawName);
        if (first !== undefined) report([...chPath, 'name'], `channel "${rawName}" is already declared in this workspace (channels[${first}]): names must be unique`);
        else seenChannels.set(rawName, ci);
      }
      const spec = checkChannel(rawCh, chPath, accountKeys);
      if (spec) channelSpecs.push(spec);
    });

    if (ws.success)
      workspaces.push({
        key: ws.data.key,
        external_id: ws.data.external_id ?? ws.data.key,
        name: ws.data.name ?? ws.data.key,
        locale: ws.data.locale,
        time_zone: ws.data.time_zone,
        notification_settings: ws.data.notification_settings ?? null,
        accounts,
        channels: channelSpecs,
      });
  });

  return done({ file, workspaces });

  /** Validates a source like the API does; reports its problems; true when it is usable. */
  function checkSource(source: Record<string, unknown>, path: Path): boolean {
    try {
      resolveSource(sources, box, source, undefined, 'source');
      return true;
    } catch (err) {
      if (!(err instanceof SourceConfigError)) throw err;
      for (const i of err.issues) report([...path.slice(0, -1), ...splitDotted(i.path)], i.message);
      return false;
    }
  }

  function checkChannel(raw: unknown, path: Path, accountKeys: Map<string, string>): ChannelSpec | null {
    const common = channelCommonSchema.safeParse(raw);
    if (!common.success) {
      for (const [p, m] of zodIssues(common.error.issues, path)) report(p, m);
      return null;
    }
    const c = common.data;
    let ok = true;
    const given: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(c)) if (!(CHANNEL_COMMON as readonly string[]).includes(k)) given[k] = v;
    const fields = { ...given };
    let type;
    try {
      type = resolveChannelType(channels, c.type, fields);
    } catch (err) {
      if (!(err instanceof ChannelConfigError)) throw err;
      report([...path, err.field === 'type' && !c.type ? 'url' : err.field], err.field === 'type' && !c.type ? `give the channel a "url" (a webhook or Apprise-style URL) or a "type" with its fields` : err.message);
      return null;
    }
    const checked = checkChannelFields(type, fields);
    if (!checked.ok) {
      ok = false;
      for (const [p, m] of zodIssues(checked.issues, [])) {
        // A field read from the URL is reported at the URL.
        const head = p[0];
        if (head !== undefined && !(String(head) in given) && 'url' in given) report([...path, 'url'], `${formatPath(p)} (from the URL): ${m}`);
        else report([...path, ...p], m);
      }
    }
    if (c.template) {
      for (const prob of validateTemplateSet(c.template, { path: 'template' })) {
        ok = false;
        report([...path, ...splitDotted(prob.path)], prob.message);
      }
    }
    let accounts: string[] | null = null;
    if (c.accounts) {
      accounts = [];
      c.accounts.forEach((k, i) => {
        const ext = accountKeys.get(k);
        if (ext === undefined) {
          ok = false;
          report([...path, 'accounts', i], `no account "${k}" in this workspace (give the key of one of its accounts)`);
        } else accounts!.push(ext);
      });
    }
    if (!ok || !checked.ok) return null;
    return {
      name: c.name,
      type: type.type,
      fields: checked.data,
      events: c.events ?? null,
      min_level: c.min_level ?? null,
      enabled: c.enabled,
      accounts,
      template: c.template ?? null,
    };
  }
}
