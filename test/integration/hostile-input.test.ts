import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { ADMIN_KEY, type Running, startService } from '../helpers/service.js';

// SPEC §8 Reliability, "Bad input": malformed JSON, wrong types, NaN, huge numbers, oversized bodies and unknown
// accounts get a 4xx with a clear message, as {"error":{"code","message","details"}}, and change nothing. Every case
// below is sent at a workspace whose account has a firing alert that was delivered to a receiver; after each one the
// account's balance and time, its alert, the deliveries, the settings, the channels and the receiver must be exactly
// as they were. SPEC §8 Security: secrets are never returned, including inside error messages.

interface Ctx {
  ws: string;
  main: string;
  relay: string;
  channel: string;
  /** Unix seconds of the low sample that fired the alert. */
  t0: number;
  /** A later time (still in the past) at which a valid sample would move the account. */
  tNew: number;
}

type Body = unknown;

interface Hostile {
  name: string;
  method?: string;
  /** Default: POST /api/v1/balances. */
  url?: (c: Ctx) => string;
  /** An object is sent as JSON; a string or a Buffer is sent as it is. */
  body?: (c: Ctx) => Body;
  /** Content-Type; default application/json when there is a body; null sends none. */
  type?: string | null;
  /** Default: the admin key; null sends no Authorization header. */
  key?: string | null;
  /** A raw Authorization header instead of "Bearer <key>". */
  authorization?: string;
  status: number;
  code: string;
  /** A details[].path the answer must name. */
  detail?: string;
  /** For invalid_samples: the index and field the details must name. */
  sample?: { index: number; field: string };
}

/** A valid sample that would recover the alert (50 > 10 + 10%) if it were stored. */
const good = (c: Ctx, extra: Record<string, unknown> = {}) => ({ account: c.main, balance: 50, at: c.tNew, ...extra });
const batch = (...samples: unknown[]) => ({ samples });
const nowIso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
const long = (n: number) => 'x'.repeat(n);

const MB = 1024 * 1024;
let big: Buffer | null = null;
/** 20 MB of valid-looking JSON (built once; a few ms). */
const bigBody = () => {
  big ??= Buffer.from(`{"samples":[${'{"account":"main","balance":50},'.repeat((20 * MB) / 31)}{"account":"main","balance":50}]}`);
  return big;
};

const settingsUrl = (c: Ctx) => `/api/v1/workspaces/${c.ws}/notification-settings`;

const CASES: Hostile[] = [
  // Not JSON, or not an object.
  { name: 'broken JSON', body: () => '{"samples":[{"account":"main","balance":50}', status: 400, code: 'invalid_json' },
  { name: 'JSON with a trailing comma', body: (c) => `{"samples":[{"account":"${c.main}","balance":50},]}`, status: 400, code: 'invalid_json' },
  { name: 'an empty body', body: () => '', status: 400, code: 'invalid_json' },
  { name: 'a JSON array instead of an object', body: (c) => [good(c)], status: 400, code: 'invalid_request', detail: 'body' },
  { name: 'a JSON string instead of an object', body: () => '"samples"', status: 400, code: 'invalid_request', detail: 'body' },
  { name: 'JSON null', body: () => 'null', status: 400, code: 'invalid_request', detail: 'body' },
  { name: 'a JSON number', body: () => '42', status: 400, code: 'invalid_request', detail: 'body' },
  { name: 'samples not an array', body: (c) => ({ samples: good(c) }), status: 400, code: 'invalid_request', detail: 'body.samples' },
  { name: 'no samples', body: () => batch(), status: 400, code: 'invalid_request', detail: 'body.samples' },
  { name: 'a sample that is a string', body: () => batch('main'), status: 400, code: 'invalid_request', detail: 'body.samples.0' },
  {
    name: '100,000 nested arrays',
    body: () => `{"samples":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0',
  },
  // Wrong types.
  { name: 'balance true', body: (c) => batch(good(c, { balance: true })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance null', body: (c) => batch(good(c, { balance: null })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance an object', body: (c) => batch(good(c, { balance: {} })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'account 5', body: (c) => batch(good(c, { account: 5 })), status: 400, code: 'invalid_request', detail: 'body.samples.0.account' },
  { name: 'account empty', body: (c) => batch(good(c, { account: '' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.account' },
  {
    name: 'an account reference of 100,000 characters',
    body: (c) => batch(good(c, { account: long(100_000) })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.account',
  },
  { name: 'requests -1', body: (c) => batch(good(c, { requests: -1 })), status: 400, code: 'invalid_request', detail: 'body.samples.0.requests' },
  { name: 'requests 1.5', body: (c) => batch(good(c, { requests: 1.5 })), status: 400, code: 'invalid_request', detail: 'body.samples.0.requests' },
  // Numbers that are not numbers, or too big.
  { name: 'balance "NaN"', body: (c) => batch(good(c, { balance: 'NaN' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance "Infinity"', body: (c) => batch(good(c, { balance: 'Infinity' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance "-Infinity"', body: (c) => batch(good(c, { balance: '-Infinity' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  {
    name: 'balance 1e400 (parses to Infinity)',
    body: (c) => `{"samples":[{"account":"${c.main}","balance":1e400,"at":${c.tNew}}]}`,
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.balance',
  },
  { name: 'balance 1e16', body: (c) => batch(good(c, { balance: 1e16 })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance -1e16', body: (c) => batch(good(c, { balance: -1e16 })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance "1e16"', body: (c) => batch(good(c, { balance: '1e16' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance "1,000"', body: (c) => batch(good(c, { balance: '1,000' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance "0x10"', body: (c) => batch(good(c, { balance: '0x10' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'balance ""', body: (c) => batch(good(c, { balance: '' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.balance' },
  { name: 'used "NaN"', body: (c) => batch(good(c, { used: 'NaN' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.used' },
  // Times.
  { name: 'at "yesterday"', body: (c) => batch(good(c, { at: 'yesterday' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.at' },
  {
    name: 'at "2026-13-45T00:00:00Z"',
    body: (c) => batch(good(c, { at: '2026-13-45T00:00:00Z' })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.at',
  },
  {
    name: 'at "2025-02-30T00:00:00Z" (a day February does not have)',
    body: (c) => batch(good(c, { at: '2025-02-30T00:00:00Z' })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.at',
  },
  {
    name: 'a time without a zone',
    body: (c) => batch(good(c, { at: nowIso(-3_600_000).slice(0, 19) })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.at',
  },
  {
    name: 'milliseconds given as a number',
    body: (c) => batch(good(c, { at: Date.now() - 60_000 })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.at',
  },
  { name: 'a time a day in the future', body: (c) => batch(good(c, { at: nowIso(86_400_000) })), status: 400, code: 'invalid_request', detail: 'body.samples.0.at' },
  {
    name: 'Unix seconds a day in the future',
    body: (c) => batch(good(c, { at: Math.floor(Date.now() / 1000) + 86_400 })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.at',
  },
  { name: 'the year 1990', body: (c) => batch(good(c, { at: '1990-06-01T00:00:00Z' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.at' },
  { name: 'the year 1990 in Unix seconds', body: (c) => batch(good(c, { at: 644_198_400 })), status: 400, code: 'invalid_request', detail: 'body.samples.0.at' },
  { name: 'at -1', body: (c) => batch(good(c, { at: -1 })), status: 400, code: 'invalid_request', detail: 'body.samples.0.at' },
  { name: 'at ""', body: (c) => batch(good(c, { at: '' })), status: 400, code: 'invalid_request', detail: 'body.samples.0.at' },
  { name: 'at true', body: (c) => batch(good(c, { at: true })), status: 400, code: 'invalid_request', detail: 'body.samples.0.at' },
  {
    name: 'at with an offset of +25:00',
    body: (c) => batch(good(c, { at: '2026-01-01T00:00:00+25:00' })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.0.at',
  },
  // Shape.
  { name: 'both balance and quota', body: (c) => batch(good(c, { quota: 5 })), status: 400, code: 'invalid_request', detail: 'body.samples.0' },
  { name: 'neither balance nor quota', body: (c) => batch({ account: c.main, at: c.tNew }), status: 400, code: 'invalid_request', detail: 'body.samples.0' },
  { name: 'an unknown field in a sample', body: (c) => batch(good(c, { currency: 'USD' })), status: 400, code: 'invalid_request', detail: 'body.samples.0' },
  { name: 'an unknown top-level field', body: (c) => ({ ...batch(good(c)), dry_run: true }), status: 400, code: 'invalid_request', detail: 'body' },
  {
    name: 'a valid sample then a wrongly typed one',
    body: (c) => batch(good(c), good(c, { balance: 'lots', at: c.tNew + 1 })),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples.1.balance',
  },
  // Unknown references: the whole batch is refused, the valid sample included.
  {
    name: 'an unknown account next to a valid sample',
    body: (c) => batch(good(c), good(c, { account: 'acc_nobody', at: c.tNew + 1 })),
    status: 422,
    code: 'invalid_samples',
    sample: { index: 1, field: 'account' },
  },
  {
    name: 'an unknown workspace by external id',
    body: (c) => batch(good(c), { account: 'main', workspace: 'nowhere', balance: 50, at: c.tNew + 1 }),
    status: 422,
    code: 'invalid_samples',
    sample: { index: 1, field: 'workspace' },
  },
  {
    name: 'a quota for an account without quota_per_unit',
    body: (c) => batch({ account: c.main, quota: 5_000_000, at: c.tNew }),
    status: 422,
    code: 'invalid_samples',
    sample: { index: 0, field: 'quota' },
  },
  {
    name: 'a quota that converts to a balance beyond 1e15',
    body: (c) => batch(good(c), { account: c.relay, quota: 1e15, at: c.tNew }),
    status: 422,
    code: 'invalid_samples',
    sample: { index: 1, field: 'quota' },
  },
  // Size.
  {
    name: '10,001 samples',
    body: (c) => ({ samples: Array.from({ length: 10_001 }, (_, i) => ({ account: c.main, balance: 50, at: c.t0 + 1 + i })) }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.samples',
  },
  { name: 'a 20 MB body', body: () => bigBody(), status: 413, code: 'payload_too_large' },
  {
    name: 'a 2 MB workspace (over the 1 MiB default)',
    url: () => '/api/v1/workspaces',
    body: () => ({ name: 'big', external_id: long(2 * MB) }),
    status: 413,
    code: 'payload_too_large',
  },
  // Content type and credentials.
  { name: 'Content-Type text/plain', body: (c) => JSON.stringify(batch(good(c))), type: 'text/plain', status: 415, code: 'unsupported_media_type' },
  {
    name: 'Content-Type form-urlencoded',
    body: (c) => JSON.stringify(batch(good(c))),
    type: 'application/x-www-form-urlencoded',
    status: 415,
    code: 'unsupported_media_type',
  },
  { name: 'Content-Type application/xml', body: () => '<samples/>', type: 'application/xml', status: 415, code: 'unsupported_media_type' },
  { name: 'no Content-Type', body: (c) => Buffer.from(JSON.stringify(batch(good(c)))), type: null, status: 415, code: 'unsupported_media_type' },
  { name: 'a wrong API key', body: (c) => batch(good(c)), key: 'bw_wrong_0123456789abcdef0123456789', status: 401, code: 'unauthorized' },
  { name: 'no API key', body: (c) => batch(good(c)), key: null, status: 401, code: 'unauthorized' },
  { name: 'a Basic Authorization header', body: (c) => batch(good(c)), authorization: 'Basic YWRtaW46YWRtaW4=', status: 401, code: 'unauthorized' },
  { name: 'the admin key without "Bearer"', body: (c) => batch(good(c)), authorization: ADMIN_KEY, status: 401, code: 'unauthorized' },
  // Prototype pollution (Object.prototype is checked after all cases).
  {
    name: '__proto__ at the top level',
    body: (c) => `{"__proto__":{"polluted":1},"samples":[${JSON.stringify(good(c))}]}`,
    status: 400,
    code: 'invalid_request', // valid JSON with a forbidden key: said as such, not as broken JSON
  },
  {
    name: 'constructor.prototype at the top level',
    body: (c) => `{"constructor":{"prototype":{"polluted":1}},"samples":[${JSON.stringify(good(c))}]}`,
    status: 400,
    code: 'invalid_request', // valid JSON with a forbidden key: said as such, not as broken JSON
  },
  {
    name: '__proto__ inside a sample',
    body: (c) => `{"samples":[{"__proto__":{"polluted":1},"account":"${c.main}","balance":50,"at":${c.tNew}}]}`,
    status: 400,
    code: 'invalid_request', // valid JSON with a forbidden key: said as such, not as broken JSON
  },
  {
    name: '__proto__ in the workspace settings',
    method: 'PATCH',
    url: settingsUrl,
    body: () => '{"__proto__":{"notify_low_balance":false},"runway_days":4}',
    status: 400,
    code: 'invalid_request', // valid JSON with a forbidden key: said as such, not as broken JSON
  },
  // U+0000, which PostgreSQL text cannot hold.
  { name: 'NUL in an account reference', body: (c) => batch(good(c, { account: `${c.main}\u0000` })), status: 400, code: 'invalid_request', detail: 'body.samples.0.account' },
  { name: 'NUL in a field name', body: (c) => batch({ ...good(c), 'x\u0000': 1 }), status: 400, code: 'invalid_request' },
  { name: 'NUL in a workspace name', url: () => '/api/v1/workspaces', body: () => ({ name: 'a\u0000b' }), status: 400, code: 'invalid_request', detail: 'body.name' },
  { name: 'NUL in a path id', method: 'GET', url: () => '/api/v1/accounts/%00', status: 400, code: 'invalid_request', detail: 'params.id' },
  { name: 'NUL in a cursor', method: 'GET', url: () => '/api/v1/accounts?cursor=%00', status: 400, code: 'invalid_request', detail: 'querystring.cursor' },
  // Query strings.
  { name: 'limit=abc', method: 'GET', url: (c) => `/api/v1/accounts?workspace_id=${c.ws}&limit=abc`, status: 400, code: 'invalid_request', detail: 'querystring.limit' },
  { name: 'limit=0', method: 'GET', url: (c) => `/api/v1/deliveries?workspace_id=${c.ws}&limit=0`, status: 400, code: 'invalid_request', detail: 'querystring.limit' },
  { name: 'limit=1e9', method: 'GET', url: (c) => `/api/v1/alerts?workspace_id=${c.ws}&limit=1e9`, status: 400, code: 'invalid_request', detail: 'querystring.limit' },
  { name: 'state=burning', method: 'GET', url: (c) => `/api/v1/alerts?workspace_id=${c.ws}&state=burning`, status: 400, code: 'invalid_request', detail: 'querystring.state' },
  { name: 'an unknown method', method: 'PUT', url: (c) => `/api/v1/accounts/${c.main}`, body: () => ({ name: 'x' }), status: 404, code: 'not_found' },
  // Names and ids over 200 characters.
  { name: 'a workspace name of 201 characters', url: () => '/api/v1/workspaces', body: () => ({ name: long(201) }), status: 400, code: 'invalid_request', detail: 'body.name' },
  {
    name: 'a workspace external_id of 201 characters',
    url: () => '/api/v1/workspaces',
    body: () => ({ name: 'x', external_id: long(201) }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.external_id',
  },
  { name: 'renaming the workspace to 201 characters', method: 'PATCH', url: (c) => `/api/v1/workspaces/${c.ws}`, body: () => ({ name: long(201) }), status: 400, code: 'invalid_request', detail: 'body.name' },
  {
    name: 'an account name of 201 characters',
    url: () => '/api/v1/accounts',
    body: (c) => ({ workspace_id: c.ws, name: long(201) }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.name',
  },
  {
    name: 'an account external_id of 201 characters',
    url: () => '/api/v1/accounts',
    body: (c) => ({ workspace_id: c.ws, name: 'x', external_id: long(201) }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.external_id',
  },
  { name: 'renaming the account to 201 characters', method: 'PATCH', url: (c) => `/api/v1/accounts/${c.main}`, body: () => ({ name: long(201) }), status: 400, code: 'invalid_request', detail: 'body.name' },
  {
    name: 'a channel name of 201 characters',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: long(201), type: 'webhook', url: 'http://127.0.0.1:9/' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.name',
  },
  { name: 'renaming the channel to 201 characters', method: 'PATCH', url: (c) => `/api/v1/channels/${c.channel}`, body: () => ({ name: long(201) }), status: 400, code: 'invalid_request', detail: 'body.name' },
  {
    name: 'an API key name of 201 characters',
    url: (c) => `/api/v1/workspaces/${c.ws}/api-keys`,
    body: () => ({ name: long(201) }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.name',
  },
  { name: 'a currency of 21 characters', url: () => '/api/v1/accounts', body: (c) => ({ workspace_id: c.ws, name: 'x', currency: long(21) }), status: 400, code: 'invalid_request', detail: 'body.currency' },
  { name: 'a currency with markup', url: () => '/api/v1/accounts', body: (c) => ({ workspace_id: c.ws, name: 'x', currency: '<b>' }), status: 400, code: 'invalid_request', detail: 'body.currency' },
  { name: 'an account without workspace_id (admin key)', url: () => '/api/v1/accounts', body: () => ({ name: 'x' }), status: 400, code: 'invalid_request', detail: 'body.workspace_id' },
  { name: 'quota_per_unit -1', method: 'PATCH', url: (c) => `/api/v1/accounts/${c.main}`, body: () => ({ quota_per_unit: -1 }), status: 400, code: 'invalid_request', detail: 'body.quota_per_unit' },
  {
    name: 'quota_per_unit 1e400',
    method: 'PATCH',
    url: (c) => `/api/v1/accounts/${c.main}`,
    body: () => '{"quota_per_unit":1e400}',
    status: 400,
    code: 'invalid_request',
    detail: 'body.quota_per_unit',
  },
  { name: 'an unsupported account source', url: () => '/api/v1/accounts', body: (c) => ({ workspace_id: c.ws, name: 'x', source: { type: 'ouija' } }), status: 400, code: 'unsupported_source', detail: 'body.source.type' },
  // Notification settings.
  {
    name: 'levels out of order',
    method: 'PATCH',
    url: settingsUrl,
    body: () => ({ levels: [{ level: 'warning', below: 5 }, { level: 'critical', below: 20 }] }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.levels.0.level',
  },
  {
    name: 'a level listed twice',
    method: 'PATCH',
    url: settingsUrl,
    body: () => ({ levels: [{ level: 'warning', below: 20 }, { level: 'warning', below: 5 }] }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.levels.1.level',
  },
  {
    name: 'two levels on one line',
    method: 'PATCH',
    url: settingsUrl,
    body: () => ({ levels: [{ level: 'warning', below: 5 }, { level: 'critical', below: 5 }] }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.levels.1.below',
  },
  { name: 'an unknown level', method: 'PATCH', url: settingsUrl, body: () => ({ levels: [{ level: 'doom', below: 5 }] }), status: 400, code: 'invalid_request', detail: 'body.levels.0.level' },
  { name: 'a negative level line', method: 'PATCH', url: settingsUrl, body: () => ({ levels: [{ level: 'warning', below: -5 }] }), status: 400, code: 'invalid_request', detail: 'body.levels.0.below' },
  { name: 'a negative threshold', method: 'PATCH', url: settingsUrl, body: () => ({ low_balance_threshold: -5 }), status: 400, code: 'invalid_request', detail: 'body.low_balance_threshold' },
  { name: 'a threshold as a string', method: 'PATCH', url: settingsUrl, body: () => ({ low_balance_threshold: '10' }), status: 400, code: 'invalid_request', detail: 'body.low_balance_threshold' },
  { name: 'a threshold of 1e400', method: 'PATCH', url: settingsUrl, body: () => '{"low_balance_threshold":1e400}', status: 400, code: 'invalid_request', detail: 'body.low_balance_threshold' },
  { name: 'duration "10 minutes"', method: 'PATCH', url: settingsUrl, body: () => ({ min_notify_interval: '10 minutes' }), status: 400, code: 'invalid_request', detail: 'body.min_notify_interval' },
  { name: 'duration "1 day"', method: 'PATCH', url: settingsUrl, body: () => ({ repeat_interval: '1 day' }), status: 400, code: 'invalid_request', detail: 'body.repeat_interval' },
  {
    name: 'repeat_interval shorter than min_notify_interval',
    method: 'PATCH',
    url: settingsUrl,
    body: () => ({ repeat_interval: '1m', min_notify_interval: '10m' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.repeat_interval',
  },
  {
    name: 'repeat_interval shorter than the current min_notify_interval',
    method: 'PATCH',
    url: settingsUrl,
    body: () => ({ repeat_interval: '5m' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.repeat_interval',
  },
  { name: 'runway_days 0', method: 'PATCH', url: settingsUrl, body: () => ({ runway_days: 0 }), status: 400, code: 'invalid_request', detail: 'body.runway_days' },
  { name: 'an unknown setting', method: 'PATCH', url: settingsUrl, body: () => ({ threshold: 5 }), status: 400, code: 'invalid_request', detail: 'body' },
  { name: 'settings as an array', method: 'PATCH', url: settingsUrl, body: () => [], status: 400, code: 'invalid_request', detail: 'body' },
  {
    name: 'four levels',
    method: 'PATCH',
    url: settingsUrl,
    body: () => ({ levels: [30, 20, 10, 5].map((below) => ({ level: 'warning', below })) }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.levels',
  },
  {
    name: 'a new workspace with invalid settings',
    url: () => '/api/v1/workspaces',
    body: () => ({ name: 'bad settings', notification_settings: { repeat_interval: '1m', min_notify_interval: '1h' } }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.notification_settings.repeat_interval',
  },
  {
    name: 'account rules with levels out of order',
    method: 'PATCH',
    url: (c) => `/api/v1/accounts/${c.main}`,
    body: () => ({ rules: { levels: [{ level: 'warning', below: 1 }, { level: 'critical', below: 2 }] } }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.rules.levels.0.level',
  },
  {
    name: 'a new account with a bad duration in its rules',
    url: () => '/api/v1/accounts',
    body: (c) => ({ workspace_id: c.ws, name: 'x', rules: { min_notify_interval: 'soon' } }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.rules.min_notify_interval',
  },
  // Channels.
  {
    name: 'a webhook with a URL that is not one',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'not a url' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.url',
  },
  {
    name: 'a webhook with a javascript: URL',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'javascript:alert(1)' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.url',
  },
  {
    name: 'a webhook with an ftp: URL',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'ftp://example.com/hook' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.url',
  },
  {
    name: 'a webhook URL without a host',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'http://' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.url',
  },
  {
    name: 'an unknown channel type',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'pigeon', url: 'http://127.0.0.1:9/' }),
    status: 400,
    code: 'unsupported_channel',
    detail: 'body.type',
  },
  { name: 'a channel type 123', url: () => '/api/v1/channels', body: (c) => ({ workspace_id: c.ws, name: 'x', type: 123 }), status: 400, code: 'invalid_request', detail: 'body.type' },
  { name: 'a channel with neither type nor URL', url: () => '/api/v1/channels', body: (c) => ({ workspace_id: c.ws, name: 'x' }), status: 400, code: 'invalid_request', detail: 'body.type' },
  {
    name: 'a channel URL with an unknown scheme and no type',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', url: 'gopher://example.com/' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.url', // the URL is what is wrong: its scheme names no channel
  },
  {
    name: 'a header value with a line break (header injection)',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'http://127.0.0.1:9/', headers: { 'X-A': 'a\r\nX-Injected: 1' } }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a header that replaces X-Balancewatch-Signature',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'http://127.0.0.1:9/', headers: { 'X-Balancewatch-Signature': 'forged' } }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.headers',
  },
  {
    name: 'an unknown event',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'http://127.0.0.1:9/', events: ['balance.nope'] }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.events.0',
  },
  {
    name: 'an unknown min_level',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'webhook', url: 'http://127.0.0.1:9/', min_level: 'apocalypse' }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.min_level',
  },
  {
    name: 'an email channel to a non-address',
    url: () => '/api/v1/channels',
    body: (c) => ({ workspace_id: c.ws, name: 'x', type: 'email', to: ['not-an-address'] }),
    status: 400,
    code: 'invalid_request',
    detail: 'body.to.0',
  },
  { name: 'moving the channel to a javascript: URL', method: 'PATCH', url: (c) => `/api/v1/channels/${c.channel}`, body: () => ({ url: 'javascript:alert(1)' }), status: 400, code: 'invalid_request', detail: 'body.url' },
  { name: "changing the channel's type", method: 'PATCH', url: (c) => `/api/v1/channels/${c.channel}`, body: () => ({ type: 'email' }), status: 400, code: 'invalid_request' },
  { name: 'a test message of 2,000 characters', url: (c) => `/api/v1/channels/${c.channel}/test`, body: () => ({ message: long(2000) }), status: 400, code: 'invalid_request', detail: 'body.message' },
  // Workspaces: locale and time zone.
  { name: 'a workspace locale "fr"', url: () => '/api/v1/workspaces', body: () => ({ name: 'x', locale: 'fr' }), status: 400, code: 'invalid_request', detail: 'body.locale' },
  { name: 'a workspace time zone "Mars/Olympus"', url: () => '/api/v1/workspaces', body: () => ({ name: 'x', time_zone: 'Mars/Olympus' }), status: 400, code: 'invalid_request', detail: 'body.time_zone' },
  { name: 'changing the locale to "xx"', method: 'PATCH', url: (c) => `/api/v1/workspaces/${c.ws}`, body: () => ({ locale: 'xx' }), status: 400, code: 'invalid_request', detail: 'body.locale' },
  { name: 'changing the time zone to "Nowhere/Land"', method: 'PATCH', url: (c) => `/api/v1/workspaces/${c.ws}`, body: () => ({ time_zone: 'Nowhere/Land' }), status: 400, code: 'invalid_request', detail: 'body.time_zone' },
  { name: 'changing the time zone to ""', method: 'PATCH', url: (c) => `/api/v1/workspaces/${c.ws}`, body: () => ({ time_zone: '' }), status: 400, code: 'invalid_request', detail: 'body.time_zone' },
  { name: 'an empty workspace external_id', method: 'PATCH', url: (c) => `/api/v1/workspaces/${c.ws}`, body: () => ({ external_id: '' }), status: 400, code: 'invalid_request', detail: 'body.external_id' },
  // The dashboard: setup, login, invitations, members, chart data. Public routes are sent without a key.
  { name: 'a login password that is a number', url: () => '/api/v1/session', key: null, body: () => ({ email: 'a@example.com', password: 12345678901 }), status: 400, code: 'invalid_request', detail: 'body.password' },
  { name: 'a login with an extra field', url: () => '/api/v1/session', key: null, body: () => ({ email: 'a@example.com', password: 'xxxxxxxxxxxx', is_admin: true }), status: 400, code: 'invalid_request', detail: 'body' },
  {
    name: '__proto__ in a login',
    url: () => '/api/v1/session',
    key: null,
    body: () => '{"email":"a@example.com","password":"xxxxxxxxxxxx","__proto__":{"is_admin":1}}',
    status: 400,
    code: 'invalid_request',
  },
  { name: 'a login password of 2,000 characters', url: () => '/api/v1/session', key: null, body: () => ({ email: 'a@example.com', password: long(2000) }), status: 400, code: 'invalid_request', detail: 'body.password' },
  { name: 'a login with an empty body', url: () => '/api/v1/session', key: null, body: () => '', status: 400, code: 'invalid_json' },
  { name: 'a login as a form post', url: () => '/api/v1/session', key: null, body: () => 'email=a%40example.com&password=x', type: 'application/x-www-form-urlencoded', status: 415, code: 'unsupported_media_type' },
  { name: 'a setup with a short password', url: () => '/api/v1/setup', key: null, body: () => ({ email: 'root@example.com', password: 'short' }), status: 400, code: 'invalid_request', detail: 'body.password' },
  { name: 'a setup with an e-mail list', url: () => '/api/v1/setup', key: null, body: () => ({ email: ['a@example.com'], password: 'long enough password' }), status: 400, code: 'invalid_request', detail: 'body.email' },
  { name: 'an invitation token of 100,000 characters', url: () => '/api/v1/invites/accept', key: null, body: () => ({ token: long(100_000), password: 'long enough password' }), status: 400, code: 'invalid_request', detail: 'body.token' },
  { name: 'an invitation token that is an object', url: () => '/api/v1/invites/accept', key: null, body: () => ({ token: { $ne: null }, password: 'long enough password' }), status: 400, code: 'invalid_request', detail: 'body.token' },
  { name: 'an unknown invitation token', url: () => '/api/v1/invites/accept', key: null, body: () => ({ token: 'A'.repeat(43), password: 'long enough password' }), status: 404, code: 'invalid_invite' },
  { name: 'inviting as "owner"', url: (c) => `/api/v1/workspaces/${c.ws}/members`, body: () => ({ email: 'a@example.com', role: 'owner' }), status: 400, code: 'invalid_request', detail: 'body.role' },
  { name: 'inviting a non-address', url: (c) => `/api/v1/workspaces/${c.ws}/members`, body: () => ({ email: 'a@', role: 'viewer' }), status: 400, code: 'invalid_request', detail: 'body.email' },
  { name: 'a member role "god"', method: 'PATCH', url: (c) => `/api/v1/workspaces/${c.ws}/members/usr_x`, body: () => ({ role: 'god' }), status: 400, code: 'invalid_request', detail: 'body.role' },
  { name: 'history with 1e9 points', method: 'GET', url: (c) => `/api/v1/accounts/${c.main}/history?points=1e9`, status: 400, code: 'invalid_request', detail: 'querystring.points' },
  { name: 'history from "NaN"', method: 'GET', url: (c) => `/api/v1/accounts/${c.main}/history?from=NaN`, status: 400, code: 'invalid_request', detail: 'querystring.from' },
  { name: 'accounts including "__proto__"', method: 'GET', url: (c) => `/api/v1/accounts?workspace_id=${c.ws}&include=__proto__`, status: 400, code: 'invalid_request', detail: 'querystring.include' },
];

/** The error envelope SPEC §6 promises: exactly {error: {code, message, details}}. */
function expectErrorShape(body: any): void {
  expect(body, 'a JSON error body').toBeTypeOf('object');
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message']);
  expect(body.error.code).toMatch(/^[a-z_]+$/);
  expect(body.error.message).toBeTypeOf('string');
  expect(body.error.message.length).toBeGreaterThan(5);
  if (body.error.details !== null) {
    expect(Array.isArray(body.error.details)).toBe(true);
    for (const d of body.error.details) expect(d.message).toBeTypeOf('string');
  }
}

describe.each(databases())('hostile input on %s', (db) => {
  let svc: Running;
  let rx: Receiver;
  let ctx: Ctx;
  let before: unknown;
  let protoBefore: string[];

  const send = async (method: string, url: string, opts: { body?: Body; type?: string | null; key?: string | null; authorization?: string } = {}) => {
    const headers: Record<string, string> = {};
    const key = opts.key === undefined ? ADMIN_KEY : opts.key;
    if (opts.authorization !== undefined) headers.authorization = opts.authorization;
    else if (key !== null) headers.authorization = `Bearer ${key}`;
    let body: string | Uint8Array<ArrayBuffer> | undefined;
    if (Buffer.isBuffer(opts.body)) body = new Uint8Array(opts.body);
    else if (opts.body !== undefined) body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const type = opts.type === undefined ? (body !== undefined ? 'application/json' : null) : opts.type;
    if (type) headers['content-type'] = type;
    const res = await fetch(svc.url + url, { method, headers, body });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, text, contentType: res.headers.get('content-type') ?? '' };
  };

  /** Everything a bad request could have changed, read with the admin key. */
  const snapshot = async () => {
    const paths = [
      `/api/v1/workspaces/${ctx.ws}`,
      `/api/v1/workspaces/${ctx.ws}/notification-settings`,
      `/api/v1/workspaces/${ctx.ws}/api-keys`,
      `/api/v1/accounts/${ctx.main}`,
      `/api/v1/accounts/${ctx.relay}`,
      `/api/v1/accounts?workspace_id=${ctx.ws}`,
      `/api/v1/channels?workspace_id=${ctx.ws}`,
      `/api/v1/alerts?workspace_id=${ctx.ws}`,
      `/api/v1/deliveries?workspace_id=${ctx.ws}`,
      '/api/v1/workspaces',
      `/api/v1/workspaces/${ctx.ws}/members`,
      '/api/v1/setup',
    ];
    const out: Record<string, unknown> = {};
    for (const p of paths) {
      const r = await svc.api('GET', p);
      expect(r.status, p).toBe(200);
      out[p] = r.body;
    }
    out.received = rx.received.length;
    return out;
  };

  beforeAll(async () => {
    protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    rx = await new Receiver().start();
    svc = await startService(db);
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Hostile', external_id: 'hostile' });
    expect(w.status).toBe(201);
    const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: w.body.id, name: 'hook', type: 'webhook', url: `${rx.url}/hook` });
    expect(ch.status).toBe(201);
    const main = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'main', external_id: 'main' });
    const relay = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'relay', external_id: 'relay', quota_per_unit: 0.001 });
    expect([main.status, relay.status]).toEqual([201, 201]);
    const t0 = Math.floor(Date.now() / 1000) - 20_000;
    ctx = { ws: w.body.id, main: main.body.id, relay: relay.body.id, channel: ch.body.id, t0, tNew: t0 + 100 };
    const push = await svc.api('POST', '/api/v1/balances', { samples: [{ account: ctx.main, balance: 5, at: t0 }, { account: ctx.relay, quota: 50_000, at: t0 }] });
    expect(push.status).toBe(200);
    expect(push.body.results[0].alert).toEqual({ status: 'firing', level: 'warning' });
    await rx.waitFor(1);
    const end = Date.now() + 10_000;
    for (;;) {
      const d = await svc.api('GET', `/api/v1/deliveries?workspace_id=${ctx.ws}`);
      if (d.body.data.length === 1 && d.body.data[0].status === 'delivered') break;
      if (Date.now() > end) throw new Error('the first alert was not delivered');
      await sleep(25);
    }
    before = await snapshot();
  });
  afterAll(async () => {
    await svc?.close();
    await rx?.close();
  });

  it.each(CASES)('$name → $status $code, and nothing changes', async (h) => {
    // Compared with the state just before (so one failure does not cascade) and, at the end, with the start.
    const prior = await snapshot();
    const r = await send(h.method ?? 'POST', (h.url ?? (() => '/api/v1/balances'))(ctx), {
      body: h.body?.(ctx),
      type: h.type,
      key: h.key,
      authorization: h.authorization,
    });
    expect(r.status, r.text.slice(0, 500)).toBe(h.status);
    expect(r.contentType).toMatch(/^application\/json/);
    expectErrorShape(r.body);
    expect(r.body.error.code).toBe(h.code);
    if (h.detail) expect(r.body.error.details.map((d: any) => d.path)).toContain(h.detail);
    if (h.sample) {
      expect(r.body.error.message).toMatch(/nothing was stored/);
      expect(r.body.error.details).toEqual([expect.objectContaining({ index: h.sample.index, field: h.sample.field })]);
    }
    expect(await snapshot()).toEqual(prior);
  });

  it('a 20 MB body streamed without Content-Length is refused with 413 too, quickly', async () => {
    const prior = await snapshot();
    const started = Date.now();
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${svc.url}/api/v1/balances`);
      const req = request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      const data = bigBody();
      let offset = 0;
      const pump = () => {
        while (offset < data.length) {
          const chunk = data.subarray(offset, offset + MB);
          offset += MB;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(answer.status).toBe(413);
    const body = JSON.parse(answer.body);
    expectErrorShape(body);
    expect(body.error.code).toBe('payload_too_large');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await snapshot()).toEqual(prior);
  });

  it('after all of the cases above, the workspace is exactly as it was at the start', async () => {
    await sleep(200); // a notification queued by a mistakenly accepted sample would be on its way
    expect(await snapshot()).toEqual(before);
  });

  it('query-string keys named __proto__ or constructor are harmless', async () => {
    const r = await svc.api('GET', `/api/v1/accounts?workspace_id=${ctx.ws}&__proto__=x&constructor=y&__proto__[polluted]=1`);
    expect(r.status).toBe(200);
    expect(r.body.data).toHaveLength(2);
  });

  it('Object.prototype is untouched by everything above', () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as any).polluted).toBeUndefined();
    expect(({} as any).notify_low_balance).toBeUndefined();
  });

  it('accepts 10,000 samples in one batch (the documented limit)', async () => {
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Bulk' });
    const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'bulk' });
    const start = Math.floor(Date.now() / 1000) - 20_000;
    const samples = Array.from({ length: 10_000 }, (_, i) => ({ account: a.body.id, balance: 100 + (i % 7), at: start + i }));
    const r = await svc.api('POST', '/api/v1/balances', { samples });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 10_000, applied: 10_000, notifications_queued: 0 });
    expect(r.body.results).toHaveLength(10_000);
    const acc = await svc.api('GET', `/api/v1/accounts/${a.body.id}`);
    expect(acc.body.balance).toBe(100 + (9_999 % 7));
    expect(acc.body.observed_at).toBe(new Date((start + 9_999) * 1000).toISOString());
  });

  it('stored no sample from any refused batch (re-sending them now applies them afresh)', async () => {
    // A stored sample would come back as "duplicate"; these times were in the refused batches above.
    const r = await svc.api('POST', '/api/v1/balances', {
      samples: [
        { account: ctx.main, balance: 50, at: ctx.tNew },
        { account: ctx.main, balance: 50, at: ctx.tNew + 1 },
        { account: ctx.main, balance: 50, at: ctx.t0 + 1 },
        { account: ctx.relay, quota: 50_000, at: ctx.tNew },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: any) => x.result)).toEqual(['applied', 'applied', 'applied', 'applied']);
  });

  describe('secrets never come back', () => {
    const SECRET = 'whsec_SUPERSECRET';
    const HEADER = 'Bearer TOPSECRET';
    let rxS: Receiver;
    let wsS: string;
    let chS: string;
    const seen: string[] = [];
    /** Every answer in this block goes through here and may not contain either secret. */
    const clean = <R extends { text?: string; body?: any }>(what: string, r: R): R => {
      const text = r.text ?? JSON.stringify(r.body);
      seen.push(what);
      expect(text, what).not.toContain('SUPERSECRET');
      expect(text, what).not.toContain('TOPSECRET');
      return r;
    };
    const verify = (raw: string, header: string | undefined) => {
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
      return !!m && createHmac('sha256', SECRET).update(`${m[1]}.${raw}`).digest('hex') === m[2];
    };

    beforeAll(async () => {
      rxS = await new Receiver().start();
      const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Secrets' });
      wsS = w.body.id;
      const ch = await send('POST', '/api/v1/channels', {
        body: { workspace_id: wsS, name: 'signed', type: 'webhook', url: `${rxS.url}/hook`, secret: SECRET, headers: { Authorization: HEADER } },
      });
      expect(ch.status).toBe(201);
      clean('create', ch);
      chS = ch.body.id;
    });
    afterAll(async () => {
      await rxS?.close();
    });

    it('reads: the channel, the lists, a test send and the deliveries', async () => {
      const one = clean('GET channel', await send('GET', `/api/v1/channels/${chS}`));
      expect(one.body.secret).toEqual(expect.any(String)); // masked, but says one is set
      expect(one.body.headers).toEqual({ Authorization: expect.any(String) });
      clean('GET channels?workspace_id', await send('GET', `/api/v1/channels?workspace_id=${wsS}`));
      clean('GET channels', await send('GET', '/api/v1/channels'));
      const t = clean('POST test', await send('POST', `/api/v1/channels/${chS}/test`, { body: {} }));
      expect(t.body.ok).toBe(true);
      // The secrets were stored and used, not dropped: the receiver got both.
      const got = (await rxS.waitFor(1))[0]!;
      expect(got.headers.authorization).toBe(HEADER);
      expect(verify(got.raw, got.headers['x-balancewatch-signature'] as string)).toBe(true);
      clean('GET deliveries', await send('GET', `/api/v1/deliveries?workspace_id=${wsS}`));
      clean('GET delivery', await send('GET', `/api/v1/deliveries/${t.body.delivery_id}`));
      clean('openapi', await send('GET', '/api/openapi.json'));
      clean('metrics', await send('GET', '/metrics'));
    });

    it('errors: bad requests that carry the secrets do not echo them, and do not change them', async () => {
      const base = { workspace_id: wsS, name: 'again', type: 'webhook', url: `${rxS.url}/hook`, secret: SECRET, headers: { Authorization: HEADER } };
      const errors: [string, string, string, Body][] = [
        ['broken JSON', 'POST', '/api/v1/channels', `${JSON.stringify(base).slice(0, -1)},}`],
        ['bad URL', 'POST', '/api/v1/channels', { ...base, url: 'ftp://x/TOPSECRET' }],
        ['secret too long', 'POST', '/api/v1/channels', { ...base, secret: SECRET.repeat(40) }],
        ['header with a line break', 'POST', '/api/v1/channels', { ...base, headers: { Authorization: `${HEADER}\r\nX: y` } }],
        ['header value too long', 'POST', '/api/v1/channels', { ...base, headers: { Authorization: `${HEADER}${long(5000)}` } }],
        ['secret of the wrong type', 'POST', '/api/v1/channels', { ...base, secret: { value: SECRET } }],
        ['secret as an array', 'POST', '/api/v1/channels', { ...base, secret: [SECRET] }],
        ['unknown type', 'POST', '/api/v1/channels', { ...base, type: 'pigeon' }],
        ['misspelt field', 'POST', '/api/v1/channels', { ...base, secrte: SECRET }],
        ['__proto__ next to the secret', 'POST', '/api/v1/channels', `{"__proto__":{},${JSON.stringify(base).slice(1)}`],
        ['NUL next to the secret', 'POST', '/api/v1/channels', { ...base, secret: `${SECRET}\u0000` }],
        ['no workspace', 'POST', '/api/v1/channels', { ...base, workspace_id: 'ws_nowhere' }],
        ['patch: header with a line break', 'PATCH', `/api/v1/channels/${chS}`, { headers: { Authorization: `${HEADER}\n` } }],
        ['patch: secret too long', 'PATCH', `/api/v1/channels/${chS}`, { secret: SECRET.repeat(40) }],
        ['patch: new secret with a bad URL', 'PATCH', `/api/v1/channels/${chS}`, { secret: `${SECRET}2`, url: 'javascript:TOPSECRET' }],
        ['patch: new secret with a type change', 'PATCH', `/api/v1/channels/${chS}`, { secret: `${SECRET}2`, type: 'email' }],
        ['patch: empty secret', 'PATCH', `/api/v1/channels/${chS}`, { secret: '' }],
        ['patch: broken JSON', 'PATCH', `/api/v1/channels/${chS}`, `{"secret":"${SECRET}2"`],
      ];
      for (const [what, method, url, body] of errors) {
        const r = await send(method, url, { body });
        expect(r.status, `${what}: ${r.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        expect(r.status, what).toBeLessThan(500);
        expectErrorShape(r.body);
        clean(what, r);
      }
      // The receiver answers an error: its answer is shown, the secrets still are not.
      rxS.respond = () => ({ status: 401, body: 'signature rejected' });
      const failed = clean('failing test', await send('POST', `/api/v1/channels/${chS}/test`, { body: {} }));
      expect(failed.body.ok).toBe(false);
      clean('deliveries after a failure', await send('GET', `/api/v1/deliveries?workspace_id=${wsS}`));
      rxS.respond = () => ({ status: 200, body: 'ok' });
      // Nothing above changed the stored secrets: a new test is still signed with the original ones.
      expect((await send('POST', `/api/v1/channels/${chS}/test`, { body: {} })).body.ok).toBe(true);
      const last = rxS.received.at(-1)!;
      expect(last.headers.authorization).toBe(HEADER);
      expect(verify(last.raw, last.headers['x-balancewatch-signature'] as string)).toBe(true);
      const list = clean('channels after the errors', await send('GET', `/api/v1/channels?workspace_id=${wsS}`));
      expect(list.body.data).toHaveLength(1);
      expect(seen.length).toBeGreaterThan(errors.length);
    });
  });
});
