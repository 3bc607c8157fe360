import { decodeConfig, encodeConfig, maskConfig } from '../channels/codec.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import type { SecretBox } from '../security/secrets.js';
import type { AccountsTable } from '../store/schema.js';
import { DEFAULT_FAIL_AFTER, DEFAULT_POLL_INTERVAL_MS, MIN_POLL_INTERVAL_MS } from '../engine/poll-plan.js';
import type { SourceRegistry } from './registry.js';

// An account's `source` as written in the API and config files: {type, ...the adapter's fields} plus the
// scheduling fields every polled source shares (interval, fail_after) and, for push, expected_every. Validated
// here; stored with the credentials encrypted; shown with them masked.

export class SourceConfigError extends Error {
  /** Every problem found (the first is `path` / the message); more than one when the adapter's schema has several. */
  readonly issues: ReadonlyArray<{ path: string; message: string }>;
  constructor(
    readonly path: string,
    message: string,
    issues?: ReadonlyArray<{ path: string; message: string }>,
  ) {
    super(`${path}: ${message}`);
    this.name = 'SourceConfigError';
    this.issues = issues ?? [{ path, message }];
  }
}

export interface ResolvedSource {
  source_type: string;
  /** Adapter fields (encrypted secrets) + fail_after, JSON; null for push. */
  source_config: string | null;
  poll_interval_ms: number | null;
  expected_every_ms: number | null;
}

const COMMON = new Set(['type', 'interval', 'fail_after', 'expected_every']);

function duration(value: unknown, path: string, min: number, max: number): number {
  const ms = typeof value === 'string' ? parseDuration(value) : null;
  if (ms === null) throw new SourceConfigError(path, 'expected a duration such as "60s", "5m" or "1h"');
  if (ms < min) throw new SourceConfigError(path, `must be at least ${formatDuration(min)}`);
  if (ms > max) throw new SourceConfigError(path, `must be at most ${formatDuration(max)}`);
  return ms;
}

/**
 * Validates a source body. `stored` is the account's current source: for a PATCH of the same type, omitted
 * fields keep their stored values (secrets need not be sent again) and null removes a field.
 */
export function resolveSource(
  registry: SourceRegistry,
  box: SecretBox,
  body: Record<string, unknown>,
  stored?: Pick<AccountsTable, 'source_type' | 'source_config' | 'poll_interval_ms' | 'expected_every_ms'>,
  base = 'body.source',
): ResolvedSource {
  const typeName = body.type;
  if (typeof typeName !== 'string') throw new SourceConfigError(`${base}.type`, 'required: "push" or a provider');
  if (typeName === 'push') {
    for (const k of Object.keys(body))
      if (k !== 'type' && k !== 'expected_every') throw new SourceConfigError(`${base}.${k}`, 'a push source takes only "expected_every"');
    const keep = stored?.source_type === 'push' && !('expected_every' in body);
    return {
      source_type: 'push',
      source_config: null,
      poll_interval_ms: null,
      expected_every_ms: keep
        ? (stored?.expected_every_ms ?? null)
        : body.expected_every === undefined || body.expected_every === null
          ? null
          : duration(body.expected_every, `${base}.expected_every`, 60_000, 90 * 86_400_000),
    };
  }
  const type = registry.get(typeName);
  if (!type) throw new SourceConfigError(`${base}.type`, `"${typeName}" is not supported; supported: push, ${[...registry.keys()].join(', ')}`);
  if ('expected_every' in body) throw new SourceConfigError(`${base}.expected_every`, 'only push sources have expected_every; a polled source is failing when its polls fail');

  const sameType = stored?.source_type === typeName;
  const previous = sameType && stored?.source_config ? decodeConfig(type, stored.source_config, box) : {};
  const { fail_after: prevFailAfter, ...prevFields } = previous;
  const fields: Record<string, unknown> = { ...prevFields };
  for (const [k, v] of Object.entries(body)) {
    if (COMMON.has(k)) continue;
    if (v === null) delete fields[k];
    else fields[k] = v;
  }
  const parsed = type.schema.safeParse(fields);
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap((i) => {
      const at = [base, ...i.path.map(String)];
      // An unknown field is reported at the field itself.
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: [...at, k].join('.'), message: i.message }));
      return [{ path: at.join('.'), message: i.message }];
    });
    throw new SourceConfigError(issues[0]!.path, issues[0]!.message, issues);
  }
  let failAfter = typeof prevFailAfter === 'number' ? prevFailAfter : undefined;
  if ('fail_after' in body) {
    const f = body.fail_after;
    if (f === null) failAfter = undefined;
    else if (typeof f !== 'number' || !Number.isInteger(f) || f < 1 || f > 100)
      throw new SourceConfigError(`${base}.fail_after`, 'expected a whole number of failed polls in a row, 1–100');
    else failAfter = f;
  }
  const config = { ...(parsed.data as Record<string, unknown>), ...(failAfter !== undefined ? { fail_after: failAfter } : {}) };
  let interval = sameType ? (stored?.poll_interval_ms ?? null) : null;
  if ('interval' in body) interval = body.interval === null ? null : duration(body.interval, `${base}.interval`, MIN_POLL_INTERVAL_MS, 7 * 86_400_000);
  return { source_type: type.type, source_config: encodeConfig(type, config, box), poll_interval_ms: interval, expected_every_ms: null };
}

/** A new account row: what the caller decides, plus the fresh state every account starts with. */
export function newAccountRow(
  id: string,
  fields: Pick<AccountsTable, 'workspace_id' | 'name' | 'external_id' | 'currency' | 'quota_per_unit' | 'rules' | 'top_up_url' | 'managed'>,
  src: ResolvedSource,
  now: number,
): AccountsTable {
  return {
    id,
    ...fields,
    ...src,
    balance: null,
    observed_at: null,
    spend: null,
    spend_per_day: null,
    runway_days: null,
    suggested_threshold: null,
    // A new polled account is read right away.
    next_poll_at: src.source_type === 'push' ? null : now,
    poll_lease_owner: null,
    poll_lease_until: null,
    poll_failures: 0,
    last_poll_at: null,
    last_poll_error: null,
    hook_token_hash: null,
    hook_secret: null,
    created_at: now,
    updated_at: now,
  };
}

/** The source as shown in API answers: credentials masked, schedule and health included. */
export function sourceView(registry: SourceRegistry, box: SecretBox, a: AccountsTable) {
  if (a.source_type === 'push') {
    return {
      type: 'push',
      expected_every: a.expected_every_ms === null ? null : formatDuration(a.expected_every_ms),
    };
  }
  const type = registry.get(a.source_type);
  let fields: Record<string, unknown> = {};
  if (type && a.source_config) {
    try {
      fields = maskConfig(type, decodeConfig(type, a.source_config, box));
    } catch {
      fields = { error: 'the stored credentials cannot be decrypted with this BALANCEWATCH_SECRET_KEY' };
    }
  }
  const { fail_after, ...rest } = fields;
  const lastError = a.last_poll_error ? (JSON.parse(a.last_poll_error) as { kind: string; message: string; at: number; status?: number }) : null;
  return {
    type: a.source_type,
    ...rest,
    interval: formatDuration(a.poll_interval_ms ?? DEFAULT_POLL_INTERVAL_MS),
    fail_after: typeof fail_after === 'number' ? fail_after : DEFAULT_FAIL_AFTER,
    status: {
      last_poll_at: a.last_poll_at === null ? null : new Date(a.last_poll_at).toISOString(),
      next_poll_at: a.next_poll_at === null ? null : new Date(a.next_poll_at).toISOString(),
      failures: a.poll_failures,
      last_error: lastError ? { kind: lastError.kind, message: lastError.message, at: new Date(lastError.at).toISOString(), status: lastError.status ?? null } : null,
    },
  };
}
