import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { type ChannelRegistry, channelRegistry } from '../channels/registry.js';
import {
  applySettingsPatch,
  DEFAULT_SETTINGS,
  effectiveSettings,
  type NotificationSettings,
  SettingsError,
  settingsPatchSchema,
} from '../domain/settings.js';
import { SecretBox } from '../security/secrets.js';
import { resolveSource, SourceConfigError } from '../sources/config.js';
import { type SourceRegistry, sourceRegistry } from '../sources/registry.js';
import { checkChannel } from './channel-check.js';
import { interpolate, retype } from './interpolate.js';
import { type ConfigProblem, eachScalar, formatPath, Locator, type Path, splitDotted, zodIssues } from './problems.js';
import { accountSchema, topSchema, workspaceSchema } from './schema.js';
import type { AccountSpec, ChannelSpec, ConfigSpec, WorkspaceSpec } from './spec.js';

// Config as code (SPEC §6): a YAML file declaring workspaces with their accounts (sources, rules) and channels,
// `${ENV}` interpolation for secrets. Validation reports every problem with its line, column and path in the file;
// applying it (config/apply.ts) upserts what it declares and marks it managed.
// This module reads and validates the file (the loader); the parts: spec.ts (what it yields), interpolate.ts,
// schema.ts, problems.ts (paths, positions, messages), channel-check.ts.

export { applyConfig, type ApplySummary } from './apply.js';
export { interpolate } from './interpolate.js';
export { type ConfigProblem, formatPath, formatProblem } from './problems.js';
export type { AccountSpec, ChannelSpec, ConfigSpec, WorkspaceSpec } from './spec.js';

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
      const spec = checkChannel(rawCh, chPath, accountKeys, channels, report);
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
}
