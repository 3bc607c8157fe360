// Checks one channel entry of a config file: its common fields, its type's own fields (or a URL), its template
// set, and the accounts it names; reports every problem and returns the channel when there is none.
import type { ChannelRegistry } from '../channels/registry.js';
import { ChannelConfigError, checkChannelFields, resolveChannelType } from '../channels/resolve.js';
import { validateTemplateSet } from '../template/custom.js';
import { formatPath, type Path, type ReportProblem, splitDotted, zodIssues } from './problems.js';
import { CHANNEL_COMMON, channelCommonSchema } from './schema.js';
import type { ChannelSpec } from './spec.js';

/** Validates a channel like the API does; `accountKeys` maps the workspace's account keys and ids to external ids. */
export function checkChannel(
  raw: unknown,
  path: Path,
  accountKeys: Map<string, string>,
  channels: ChannelRegistry,
  report: ReportProblem,
): ChannelSpec | null {
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
