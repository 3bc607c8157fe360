import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { Receiver, sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';
import { asUser, invitedMember, type Session } from '../helpers/session.js';

// SPEC §8 Security: "a workspace key sees only its workspace (tested on every endpoint)". Two workspaces, A and B,
// each with an account, a webhook channel, a firing alert, a delivery and API keys. A's key is aimed at every route
// with B's ids and must neither read nor change anything; the answer must be exactly the one for an id that does
// not exist, so a key cannot even learn that B's objects exist. A route registered by the app that the tables
// below do not cover fails the suite, so a new endpoint cannot skip this test.
// The dashboard's session cookie is held to the same: an admin member and a viewer member of A (and a member of B)
// are aimed at every route too; a viewer may read its own workspace but change nothing in it; cookie requests
// that change something need the CSRF token.

/** The ids of one workspace's objects that a request can aim at. */
interface Target {
  ws: string;
  wsExt: string;
  account: string;
  accountExt: string;
  channel: string;
  /** The id of an API key of the workspace (one the test may revoke). */
  apiKey: string;
  alert: string;
  delivery: string;
  /** A member of the workspace (a user id) that the test may change or remove. */
  member: string;
}

interface Req {
  method: string;
  path: string;
  body?: unknown;
}

interface Case {
  /** The route as Fastify registers it: "METHOD /api/v1/…/:id". */
  route: string;
  what: string;
  req: (t: Target) => Req;
  /** Status for A's key aimed at B's objects, and (the same) at ids that do not exist. */
  denied: number;
  code: string;
  /** Status for A's key aimed at A's own objects: proves the denial comes from isolation, not a bad request. */
  own: number;
  /** Status for a viewer of A aimed at B, when not `denied` (a change a viewer may make nowhere: 403). */
  viewerDenied?: number;
}

const CASES: Case[] = [
  {
    route: 'POST /api/v1/workspaces',
    what: 'create a workspace (admin only)',
    req: () => ({ method: 'POST', path: '/api/v1/workspaces', body: { name: 'made by a workspace key' } }),
    denied: 403,
    code: 'forbidden',
    own: 403,
  },
  {
    route: 'GET /api/v1/workspaces/:id',
    what: 'read the workspace',
    req: (t) => ({ method: 'GET', path: `/api/v1/workspaces/${t.ws}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'PATCH /api/v1/workspaces/:id',
    what: 'rename the workspace',
    req: (t) => ({ method: 'PATCH', path: `/api/v1/workspaces/${t.ws}`, body: { name: 'hijacked', locale: 'zh-CN' } }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'DELETE /api/v1/workspaces/:id',
    what: 'delete the workspace (admin only)',
    req: (t) => ({ method: 'DELETE', path: `/api/v1/workspaces/${t.ws}` }),
    denied: 403,
    code: 'forbidden',
    own: 403,
  },
  {
    route: 'GET /api/v1/workspaces/:id/notification-settings',
    what: 'read the notification settings',
    req: (t) => ({ method: 'GET', path: `/api/v1/workspaces/${t.ws}/notification-settings` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'PATCH /api/v1/workspaces/:id/notification-settings',
    what: 'change the notification settings',
    req: (t) => ({ method: 'PATCH', path: `/api/v1/workspaces/${t.ws}/notification-settings`, body: { runway_days: 9 } }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'POST /api/v1/workspaces/:id/api-keys',
    what: 'mint an API key',
    req: (t) => ({ method: 'POST', path: `/api/v1/workspaces/${t.ws}/api-keys`, body: { name: 'stolen' } }),
    denied: 404,
    code: 'not_found',
    own: 201,
  },
  {
    route: 'GET /api/v1/workspaces/:id/api-keys',
    what: 'list the API keys',
    req: (t) => ({ method: 'GET', path: `/api/v1/workspaces/${t.ws}/api-keys` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'DELETE /api/v1/api-keys/:id',
    what: 'revoke an API key',
    req: (t) => ({ method: 'DELETE', path: `/api/v1/api-keys/${t.apiKey}` }),
    denied: 404,
    code: 'not_found',
    own: 204,
  },
  {
    route: 'POST /api/v1/accounts',
    what: 'plant an account',
    req: (t) => ({ method: 'POST', path: '/api/v1/accounts', body: { workspace_id: t.ws, name: 'planted' } }),
    denied: 404,
    code: 'not_found',
    own: 201,
  },
  {
    route: 'GET /api/v1/accounts',
    what: 'list the accounts',
    req: (t) => ({ method: 'GET', path: `/api/v1/accounts?workspace_id=${t.ws}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'GET /api/v1/accounts/:id',
    what: 'read the account',
    req: (t) => ({ method: 'GET', path: `/api/v1/accounts/${t.account}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'PATCH /api/v1/accounts/:id',
    what: 'change the account and its rules',
    req: (t) => ({ method: 'PATCH', path: `/api/v1/accounts/${t.account}`, body: { name: 'hijacked', rules: { low_balance_threshold: 1 } } }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'DELETE /api/v1/accounts/:id',
    what: 'delete the account',
    req: (t) => ({ method: 'DELETE', path: `/api/v1/accounts/${t.account}` }),
    denied: 404,
    code: 'not_found',
    own: 204,
  },
  {
    route: 'POST /api/v1/accounts/:id/poll',
    what: "poll the account's provider (with its stored credentials)",
    req: (t) => ({ method: 'POST', path: `/api/v1/accounts/${t.account}/poll` }),
    denied: 404,
    code: 'not_found',
    own: 409, // visible to its own workspace: a push account has nothing to poll
  },
  {
    route: 'POST /api/v1/accounts/:id/hooks/newapi',
    what: "create or rotate the account's new-api webhook",
    req: (t) => ({ method: 'POST', path: `/api/v1/accounts/${t.account}/hooks/newapi`, body: { secret: 'stolen' } }),
    denied: 404,
    code: 'not_found',
    own: 201,
  },
  {
    route: 'DELETE /api/v1/accounts/:id/hooks/newapi',
    what: "remove the account's new-api webhook",
    req: (t) => ({ method: 'DELETE', path: `/api/v1/accounts/${t.account}/hooks/newapi` }),
    denied: 404,
    code: 'not_found',
    own: 204,
  },
  {
    route: 'POST /api/v1/channels',
    what: 'add a channel that taps the alerts',
    req: (t) => ({
      method: 'POST',
      path: '/api/v1/channels',
      body: { workspace_id: t.ws, name: 'tap', type: 'webhook', url: 'http://127.0.0.1:9/tap' },
    }),
    denied: 404,
    code: 'not_found',
    own: 201,
  },
  {
    route: 'GET /api/v1/channels',
    what: 'list the channels',
    req: (t) => ({ method: 'GET', path: `/api/v1/channels?workspace_id=${t.ws}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'GET /api/v1/channels/:id',
    what: 'read the channel',
    req: (t) => ({ method: 'GET', path: `/api/v1/channels/${t.channel}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'PATCH /api/v1/channels/:id',
    what: 'redirect and disable the channel',
    req: (t) => ({ method: 'PATCH', path: `/api/v1/channels/${t.channel}`, body: { url: 'http://127.0.0.1:9/redirected', enabled: false } }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'DELETE /api/v1/channels/:id',
    what: 'delete the channel',
    req: (t) => ({ method: 'DELETE', path: `/api/v1/channels/${t.channel}` }),
    denied: 404,
    code: 'not_found',
    own: 204,
  },
  {
    route: 'POST /api/v1/channels/:id/test',
    what: 'send a test through the channel',
    req: (t) => ({ method: 'POST', path: `/api/v1/channels/${t.channel}/test`, body: { message: 'sent with another workspace key' } }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    // Samples answer like an unknown account (422 invalid_samples, nothing stored), never like a forbidden one.
    route: 'POST /api/v1/balances',
    what: 'push a balance by account id',
    req: (t) => ({ method: 'POST', path: '/api/v1/balances', body: { samples: [{ account: t.account, balance: 1000 }] } }),
    denied: 422,
    code: 'invalid_samples',
    own: 200,
    viewerDenied: 403,
  },
  {
    route: 'POST /api/v1/balances',
    what: 'push a balance by external id with the workspace id',
    req: (t) => ({ method: 'POST', path: '/api/v1/balances', body: { samples: [{ account: t.accountExt, workspace: t.ws, balance: 1000 }] } }),
    denied: 422,
    code: 'invalid_samples',
    own: 200,
    viewerDenied: 403,
  },
  {
    route: 'POST /api/v1/balances',
    what: 'push a balance by external id with the workspace external id',
    req: (t) => ({ method: 'POST', path: '/api/v1/balances', body: { samples: [{ account: t.accountExt, workspace: t.wsExt, balance: 1000 }] } }),
    denied: 422,
    code: 'invalid_samples',
    own: 200,
    viewerDenied: 403,
  },
  {
    route: 'GET /api/v1/accounts/:id/history',
    what: "read the account's balance history",
    req: (t) => ({ method: 'GET', path: `/api/v1/accounts/${t.account}/history?points=10` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'GET /api/v1/accounts',
    what: 'list the accounts with their sparklines',
    req: (t) => ({ method: 'GET', path: `/api/v1/accounts?workspace_id=${t.ws}&include=sparkline` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'GET /api/v1/workspaces/:id/members',
    what: 'list the members',
    req: (t) => ({ method: 'GET', path: `/api/v1/workspaces/${t.ws}/members` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'POST /api/v1/workspaces/:id/members',
    what: 'invite a member',
    req: (t) => ({ method: 'POST', path: `/api/v1/workspaces/${t.ws}/members`, body: { email: `mallory-${t.ws.slice(-6)}@example.com`, role: 'admin' } }),
    denied: 404,
    code: 'not_found',
    own: 201,
  },
  {
    route: 'PATCH /api/v1/workspaces/:id/members/:user_id',
    what: "change a member's role",
    req: (t) => ({ method: 'PATCH', path: `/api/v1/workspaces/${t.ws}/members/${t.member}`, body: { role: 'admin' } }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'DELETE /api/v1/workspaces/:id/members/:user_id',
    what: 'remove a member',
    req: (t) => ({ method: 'DELETE', path: `/api/v1/workspaces/${t.ws}/members/${t.member}` }),
    denied: 404,
    code: 'not_found',
    own: 204,
  },
  {
    route: 'GET /api/v1/alerts',
    what: 'list the alerts',
    req: (t) => ({ method: 'GET', path: `/api/v1/alerts?workspace_id=${t.ws}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'GET /api/v1/deliveries',
    what: 'list the deliveries',
    req: (t) => ({ method: 'GET', path: `/api/v1/deliveries?workspace_id=${t.ws}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
  {
    route: 'GET /api/v1/deliveries/:id',
    what: 'read a delivery',
    req: (t) => ({ method: 'GET', path: `/api/v1/deliveries/${t.delivery}` }),
    denied: 404,
    code: 'not_found',
    own: 200,
  },
];

interface List {
  route: string;
  path: (t: Target) => string;
  /** Ids of the target's objects the list must show to the target's key. */
  ids: (t: Target) => string[];
  /** The workspace of one item, when the item says. */
  wsOf?: (item: any) => string;
}

/** Lists read with a workspace key and no workspace_id: only the key's own workspace. */
const LISTS: List[] = [
  { route: 'GET /api/v1/workspaces', path: () => '/api/v1/workspaces', ids: (t) => [t.ws], wsOf: (x) => x.id },
  { route: 'GET /api/v1/accounts', path: () => '/api/v1/accounts', ids: (t) => [t.account], wsOf: (x) => x.workspace_id },
  { route: 'GET /api/v1/channels', path: () => '/api/v1/channels', ids: (t) => [t.channel], wsOf: (x) => x.workspace_id },
  { route: 'GET /api/v1/alerts', path: () => '/api/v1/alerts', ids: (t) => [t.alert], wsOf: (x) => x.workspace_id },
  { route: 'GET /api/v1/deliveries', path: () => '/api/v1/deliveries', ids: (t) => [t.delivery], wsOf: (x) => x.workspace_id },
  { route: 'GET /api/v1/workspaces/:id/api-keys', path: (t) => `/api/v1/workspaces/${t.ws}/api-keys`, ids: (t) => [t.apiKey] },
];

/**
 * Routes that take no API key: the credential is an unguessable token in the URL (tested in newapi-hook.test.ts),
 * or they are the dashboard's way in (setup, login, logout, accepting an invitation: session.test.ts).
 */
const PUBLIC_ROUTES = [
  'POST /api/v1/hooks/newapi/:token',
  'GET /api/v1/setup',
  'POST /api/v1/setup',
  'POST /api/v1/session',
  'DELETE /api/v1/session',
  'POST /api/v1/invites/accept',
];

/** Routes about the caller only, with no workspace object to aim at (tested below and in session.test.ts). */
const SELF_ROUTES = ['GET /api/v1/session'];

/** Ids of the same shapes that do not exist: the denial must look exactly like these. */
const GHOST: Target = {
  ws: 'ws_0000ghost0000000000000',
  wsExt: 'ghost-workspace',
  account: 'acc_0000ghost000000000000',
  accountExt: 'ghost-account',
  channel: 'ch_0000ghost0000000000000',
  apiKey: 'key_0000ghost000000000000',
  alert: 'al_0000ghost0000000000000',
  delivery: 'dl_0000ghost0000000000000',
  member: 'usr_0000ghost000000000000',
};

const routeOf = (method: string, path: string) => `${method} ${path}`;

/** Parses `printRoutes({ commonPrefix: false })` (an indented tree of path segments) into "METHOD /path" strings. */
function parseRouteTree(tree: string): string[] {
  const out: string[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (\S+)(?: \(([^)]*)\))?\s*$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const full = (depth > 0 ? prefixes[depth - 1]! : '') + m[2]!;
    prefixes[depth] = full;
    prefixes.length = depth + 1;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) out.push(routeOf(method, full));
  }
  return out;
}

/** Replaces a target's ids with their field names, so answers about B and about ghost ids compare equal. */
function normalise(value: unknown, t: Target): string {
  let s = JSON.stringify(value);
  const entries = Object.entries(t).sort((a, b) => b[1].length - a[1].length);
  for (const [k, v] of entries) s = s.replaceAll(v, `<${k}>`);
  return s;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe.each(databases())('workspace isolation on %s', (db) => {
  let svc: Running;
  const rx: Record<'A' | 'B', Receiver> = {} as never;
  const T: Record<'A' | 'B', Target> = {} as never;
  const key: Record<'A' | 'B', string> = {} as never;
  /** Logged-in members: a viewer of each workspace (the workspace's `member`), and an admin and a viewer of A. */
  const member: Record<'A' | 'B', Session> = {} as never;
  let adminOfA: Session;
  let viewerOfA: Session;
  let beforeB: unknown;
  let beforeA: unknown;

  const call = (r: Req, k: string | null) => svc.api(r.method, r.path, r.body, k);

  /** A member of A that a case may change or remove (a pending invitation is a member too). */
  const freshMember = async (n: string): Promise<string> => {
    const inv = await svc.api('POST', `/api/v1/workspaces/${T.A.ws}/members`, { email: `own-${n}@example.com`, role: 'viewer' });
    expect(inv.status).toBe(201);
    return inv.body.user_id;
  };

  /** Everything of one workspace, read with the admin key. */
  const snapshot = async (t: Target) => {
    const paths = [
      `/api/v1/workspaces/${t.ws}`,
      `/api/v1/workspaces/${t.ws}/notification-settings`,
      `/api/v1/workspaces/${t.ws}/api-keys`,
      `/api/v1/accounts?workspace_id=${t.ws}`,
      `/api/v1/accounts/${t.account}`,
      `/api/v1/channels?workspace_id=${t.ws}`,
      `/api/v1/channels/${t.channel}`,
      `/api/v1/alerts?workspace_id=${t.ws}`,
      `/api/v1/deliveries?workspace_id=${t.ws}`,
      `/api/v1/deliveries/${t.delivery}`,
      `/api/v1/workspaces/${t.ws}/members`,
    ];
    const out: Record<string, unknown> = {};
    for (const p of paths) {
      const r = await svc.api('GET', p);
      expect(r.status, p).toBe(200);
      out[p] = r.body;
    }
    // Using a key stamps its last_used_at: that is the key's owner acting, not a change to the workspace.
    for (const k of (out[`/api/v1/workspaces/${t.ws}/api-keys`] as any).data) k.last_used_at = '(ignored)';
    out.workspaces = (await svc.api('GET', '/api/v1/workspaces')).body.data.map((w: any) => w.id);
    return out;
  };

  /** A workspace with an account whose low balance fired an alert delivered to its channel, and two API keys. */
  const makeWorkspace = async (name: 'A' | 'B') => {
    const w = await svc.api('POST', '/api/v1/workspaces', { name: `Tenant ${name}`, external_id: `tenant-${name.toLowerCase()}` });
    expect(w.status).toBe(201);
    const ws = w.body.id as string;
    const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'hook', type: 'webhook', url: `${rx[name].url}/hook`, secret: 'whsec_isolation' });
    expect(ch.status).toBe(201);
    // Both accounts share one external id: external ids are per workspace, and a push must resolve within the key's.
    const acc = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'main', external_id: 'shared-ext' });
    expect(acc.status).toBe(201);
    const push = await svc.api('POST', '/api/v1/balances', { samples: [{ account: acc.body.id, balance: 5, at: Math.floor(Date.now() / 1000) - 60 }] });
    expect(push.status).toBe(200);
    expect(push.body.results[0].alert).toMatchObject({ status: 'firing' });
    await rx[name].waitFor(1);
    const delivery = await until(`${name}'s delivery`, async () => {
      const d = await svc.api('GET', `/api/v1/deliveries?workspace_id=${ws}`);
      return d.body.data.find((x: any) => x.status === 'delivered');
    });
    const alerts = await svc.api('GET', `/api/v1/alerts?workspace_id=${ws}`);
    expect(alerts.body.data).toHaveLength(1);
    const main = await svc.api('POST', `/api/v1/workspaces/${ws}/api-keys`, { name: 'main' });
    expect(main.status).toBe(201);
    expect(main.body.key).toEqual(expect.any(String));
    const spare = await svc.api('POST', `/api/v1/workspaces/${ws}/api-keys`, { name: 'spare' });
    expect(spare.status).toBe(201);
    key[name] = main.body.key;
    member[name] = await invitedMember(svc, ws, `member-${name.toLowerCase()}@example.com`, 'viewer');
    T[name] = {
      ws,
      wsExt: w.body.external_id,
      account: acc.body.id,
      accountExt: 'shared-ext',
      channel: ch.body.id,
      apiKey: spare.body.id,
      alert: alerts.body.data[0].id,
      delivery: delivery.id,
      member: member[name].userId,
    };
  };

  beforeAll(async () => {
    rx.A = await new Receiver().start();
    rx.B = await new Receiver().start();
    svc = await startService(db);
    await makeWorkspace('A');
    await makeWorkspace('B');
    adminOfA = await invitedMember(svc, T.A.ws, 'admin-a@example.com', 'admin');
    viewerOfA = await invitedMember(svc, T.A.ws, 'viewer-a@example.com', 'viewer');
    beforeA = await snapshot(T.A);
    beforeB = await snapshot(T.B);
  });
  afterAll(async () => {
    await svc?.close();
    await rx.A?.close();
    await rx.B?.close();
  });

  it('covers every /api/v1 route the app registers, and only those', () => {
    const registered = parseRouteTree(svc.service.app.printRoutes({ commonPrefix: false }))
      .filter((r) => r.split(' ')[1]!.startsWith('/api/v1/') || r.split(' ')[1] === '/api/v1')
      .filter((r) => !r.startsWith('HEAD ')); // Fastify's automatic HEAD for every GET: checked with the GETs below
    // Guard against a parser that silently finds nothing.
    expect(registered).toContain('GET /api/v1/workspaces/:id/notification-settings');
    expect(registered).toContain('POST /api/v1/channels/:id/test');
    expect(registered.length).toBeGreaterThanOrEqual(20);
    const covered = new Set([...CASES.map((c) => c.route), ...LISTS.map((l) => l.route), ...PUBLIC_ROUTES, ...SELF_ROUTES]);
    const missing = registered.filter((r) => !covered.has(r));
    expect(missing, 'routes with no isolation case: add them to CASES or LISTS').toEqual([]);
    const stale = [...covered].filter((r) => !registered.includes(r));
    expect(stale, 'isolation cases for routes that do not exist').toEqual([]);
  });

  it.each(CASES)("A's key cannot $what of B ($route → $denied), and the answer is the one for a missing id", async (c) => {
    const r = await call(c.req(T.B), key.A);
    expect(r.status, JSON.stringify(r.body)).toBe(c.denied);
    expect(r.body.error.code).toBe(c.code);
    const ghost = await call(c.req(GHOST), key.A);
    expect(ghost.status).toBe(c.denied);
    expect(normalise(ghost.body, GHOST)).toBe(normalise(r.body, T.B));
    expect(JSON.stringify(r.body)).not.toContain('Tenant B');
    const req = c.req(T.B);
    if (req.method === 'GET') {
      const head = await fetch(svc.url + req.path, { method: 'HEAD', headers: { authorization: `Bearer ${key.A}` } });
      expect(head.status).toBe(c.denied);
    }
  });

  const sessionCall = (r: Req, who: Session, opts: { csrf?: boolean } = {}) => asUser(svc, who, r.method, r.path, r.body, opts);

  it.each(CASES)("A's admin member (session) cannot $what of B ($route → $denied), and the answer is the one for a missing id", async (c) => {
    const r = await sessionCall(c.req(T.B), adminOfA);
    expect(r.status, JSON.stringify(r.body)).toBe(c.denied);
    expect(r.body.error.code).toBe(c.code);
    const ghost = await sessionCall(c.req(GHOST), adminOfA);
    expect(ghost.status).toBe(c.denied);
    expect(normalise(ghost.body, GHOST)).toBe(normalise(r.body, T.B));
    expect(JSON.stringify(r.body)).not.toContain('Tenant B');
    const req = c.req(T.B);
    if (req.method === 'GET') expect((await asUser(svc, adminOfA, 'HEAD', req.path)).status).toBe(c.denied);
  });

  it.each(CASES)("A's viewer (session) cannot $what of B either ($route), and the answer is the one for a missing id", async (c) => {
    const want = c.viewerDenied ?? c.denied;
    const r = await sessionCall(c.req(T.B), viewerOfA);
    expect(r.status, JSON.stringify(r.body)).toBe(want);
    const ghost = await sessionCall(c.req(GHOST), viewerOfA);
    expect(ghost.status).toBe(want);
    expect(normalise(ghost.body, GHOST)).toBe(normalise(r.body, T.B));
    expect(JSON.stringify(r.body)).not.toContain('Tenant B');
  });

  it.each(CASES.filter((c) => c.req(GHOST).method !== 'GET'))('a cookie request without the CSRF token is refused before anything else ($route)', async (c) => {
    for (const t of [T.A, T.B, GHOST]) {
      const r = await sessionCall(c.req(t), adminOfA, { csrf: false });
      expect(r.status, JSON.stringify(r.body)).toBe(403);
      expect(r.body.error.code).toBe('csrf');
      const wrong = await asUser(svc, adminOfA, c.req(t).method, c.req(t).path, c.req(t).body, { csrf: viewerOfA.csrf });
      expect(wrong.status).toBe(403);
      expect(wrong.body.error.code).toBe('csrf');
    }
  });

  it('GET /api/v1/session describes the caller only: no other workspace, and nothing for an API key', async () => {
    for (const [who, ws] of [
      [adminOfA, T.A.ws],
      [viewerOfA, T.A.ws],
      [member.B, T.B.ws],
    ] as const) {
      const r = await asUser(svc, who, 'GET', '/api/v1/session');
      expect(r.status).toBe(200);
      expect(r.body.workspaces.map((w: any) => w.id)).toEqual([ws]);
      expect(JSON.stringify(r.body)).not.toContain(ws === T.A.ws ? T.B.ws : T.A.ws);
    }
    for (const k of [key.A, undefined]) {
      const r = await svc.api('GET', '/api/v1/session', undefined, k);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
  });

  it("left every one of B's objects (and A's) unchanged, and B's receiver got nothing", async () => {
    await sleep(300); // a test message or a re-evaluation, had one slipped through, would be on its way
    expect(await snapshot(T.B)).toEqual(beforeB);
    expect(await snapshot(T.A)).toEqual(beforeA);
    expect(rx.B.received).toHaveLength(1);
    expect(rx.A.received).toHaveLength(1);
  });

  it.each(LISTS)("a list without workspace_id shows a workspace key only its own objects ($route)", async (l) => {
    for (const [me, other] of [
      ['A', 'B'],
      ['B', 'A'],
    ] as const) {
      const r = await svc.api('GET', l.path(T[me]), undefined, key[me]);
      expect(r.status).toBe(200);
      const ids = r.body.data.map((x: any) => x.id);
      for (const id of l.ids(T[me])) expect(ids).toContain(id);
      for (const id of l.ids(T[other])) expect(ids).not.toContain(id);
      if (l.wsOf) for (const x of r.body.data) expect(l.wsOf(x)).toBe(T[me].ws);
      expect(JSON.stringify(r.body)).not.toContain(T[other].ws);
      expect(JSON.stringify(r.body)).not.toContain(`Tenant ${other}`);
    }
  });

  it.each(LISTS)('a list without workspace_id shows a member (session) only its own workspace ($route)', async (l) => {
    for (const [me, other, who] of [
      ['A', 'B', adminOfA],
      ['A', 'B', viewerOfA],
      ['B', 'A', member.B],
    ] as const) {
      const r = await asUser(svc, who, 'GET', l.path(T[me]));
      expect(r.status).toBe(200);
      const ids = r.body.data.map((x: any) => x.id);
      for (const id of l.ids(T[me])) expect(ids).toContain(id);
      for (const id of l.ids(T[other])) expect(ids).not.toContain(id);
      if (l.wsOf) for (const x of r.body.data) expect(l.wsOf(x)).toBe(T[me].ws);
      expect(JSON.stringify(r.body)).not.toContain(T[other].ws);
      expect(JSON.stringify(r.body)).not.toContain(`Tenant ${other}`);
    }
  });

  it('filters naming B\'s objects give A an empty list, not B\'s rows', async () => {
    for (const p of [
      `/api/v1/alerts?account_id=${T.B.account}`,
      `/api/v1/deliveries?account_id=${T.B.account}`,
      `/api/v1/deliveries?channel_id=${T.B.channel}`,
    ]) {
      const r = await svc.api('GET', p, undefined, key.A);
      expect(r.status, p).toBe(200);
      expect(r.body.data, p).toEqual([]);
      const viaSession = await asUser(svc, adminOfA, 'GET', p);
      expect(viaSession.status, p).toBe(200);
      expect(viaSession.body.data, p).toEqual([]);
    }
  });

  it('API key lists never show a key or its hash', async () => {
    const r = await svc.api('GET', `/api/v1/workspaces/${T.A.ws}/api-keys`, undefined, key.A);
    expect(r.status).toBe(200);
    expect(r.body.data.length).toBeGreaterThanOrEqual(2);
    for (const k of r.body.data) {
      expect(Object.keys(k).sort()).toEqual(['created_at', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at']);
    }
    expect(JSON.stringify(r.body)).not.toContain(key.A);
  });

  it("the admin key sees both workspaces' objects", async () => {
    for (const l of LISTS) {
      for (const t of [T.A, T.B]) {
        const r = await svc.api('GET', l.path(t));
        expect(r.status).toBe(200);
        const ids = r.body.data.map((x: any) => x.id);
        for (const id of l.ids(t)) expect(ids).toContain(id);
      }
    }
    for (const t of [T.A, T.B]) {
      for (const p of [`/api/v1/workspaces/${t.ws}`, `/api/v1/accounts/${t.account}`, `/api/v1/channels/${t.channel}`, `/api/v1/deliveries/${t.delivery}`]) {
        expect((await svc.api('GET', p)).status, p).toBe(200);
      }
    }
  });

  it('without a key, with a bogus key or a malformed header, every route answers 401', async () => {
    const headers: (string | null)[] = [null, 'bw_bogus_0123456789abcdef0123456789abcdef', ''];
    for (const c of CASES) {
      const r = c.req(T.B);
      for (const k of headers) {
        const res = await call(r, k);
        expect(res.status, `${c.route} key=${k}`).toBe(401);
        expect(res.body.error.code).toBe('unauthorized');
      }
      for (const auth of ['Basic YTpi', 'Bearer', `Token ${key.A}`, `Bearer ${key.A} extra`]) {
        const res = await fetch(svc.url + r.path, {
          method: r.method,
          headers: { authorization: auth, ...(r.body ? { 'content-type': 'application/json' } : {}) },
          body: r.body ? JSON.stringify(r.body) : undefined,
        });
        expect(res.status, `${c.route} ${auth}`).toBe(401);
      }
    }
    for (const l of LISTS) expect((await svc.api('GET', l.path(T.A), undefined, null)).status).toBe(401);
  });

  it('with a bogus, malformed or ended session cookie, every route answers 401', async () => {
    const ended = await invitedMember(svc, T.A.ws, 'short-session@example.com', 'admin');
    expect((await asUser(svc, ended, 'DELETE', '/api/v1/session')).status).toBe(204);
    const cookies = ['bw_session=garbage', `bw_session=${'A'.repeat(43)}`, 'bw_session=', ended.cookie];
    for (const c of CASES) {
      const r = c.req(T.A);
      for (const cookie of cookies) {
        const res = await asUser(svc, null, r.method, r.path, r.body, { headers: { cookie, 'x-csrf-token': ended.csrf } });
        expect(res.status, `${c.route} ${cookie}`).toBe(401);
        expect(res.body.error.code).toBe('unauthorized');
      }
    }
  });

  it('a percent-encoded path cannot slip past authentication or isolation', async () => {
    for (const c of CASES) {
      const r = c.req(T.B);
      for (const encoded of [r.path.replace('/api/v1/', '/api/%761/'), r.path.replace('/api/v1/', '/%61pi/v1/')]) {
        // The router decodes the path, so this reaches the very same handler: it must authenticate like it.
        const anon = await call({ ...r, path: encoded }, null);
        expect(anon.status, `${c.route} ${encoded}`).toBe(401);
        expect(anon.body.error.code).toBe('unauthorized');
        const asA = await call({ ...r, path: encoded }, key.A);
        expect(asA.status, `${c.route} ${encoded} with A's key`).toBe(c.denied);
        const asMember = await sessionCall({ ...r, path: encoded }, adminOfA);
        expect(asMember.status, `${c.route} ${encoded} with A's admin member`).toBe(c.denied);
      }
    }
    for (const l of LISTS) {
      const anon = await svc.api('GET', l.path(T.B).replace('/api/v1/', '/api/%761/'), undefined, null);
      expect(anon.status).toBe(401);
    }
  });

  it('a revoked key gets 401 on every route', async () => {
    const made = await svc.api('POST', `/api/v1/workspaces/${T.A.ws}/api-keys`, { name: 'short-lived' }, key.A);
    expect(made.status).toBe(201);
    const k = made.body.key as string;
    expect((await svc.api('GET', `/api/v1/workspaces/${T.A.ws}`, undefined, k)).status).toBe(200);
    expect((await svc.api('DELETE', `/api/v1/api-keys/${made.body.id}`, undefined, key.A)).status).toBe(204);
    for (const c of CASES) {
      for (const t of [T.A, T.B]) {
        const r = await call(c.req(t), k);
        expect(r.status, c.route).toBe(401);
        expect(r.body.error.code).toBe('unauthorized');
      }
    }
    for (const l of LISTS) expect((await svc.api('GET', l.path(T.A), undefined, k)).status).toBe(401);
    const keys = await svc.api('GET', `/api/v1/workspaces/${T.A.ws}/api-keys`, undefined, key.A);
    expect(keys.body.data.find((x: any) => x.id === made.body.id).revoked_at).toEqual(expect.any(String));
  });

  it("a workspace key cannot move its workspace's external_id (onto B's or anywhere): no 409 tells B exists", async () => {
    const onto = await svc.api('PATCH', `/api/v1/workspaces/${T.A.ws}`, { external_id: T.B.wsExt }, key.A);
    const free = await svc.api('PATCH', `/api/v1/workspaces/${T.A.ws}`, { external_id: 'never-used' }, key.A);
    expect(onto.status).toBe(403);
    expect(free.status).toBe(403);
    expect(onto.body).toEqual(free.body);
    expect((await svc.api('PATCH', `/api/v1/workspaces/${T.A.ws}`, { external_id: T.A.wsExt }, key.A)).status).toBe(200);
    expect((await svc.api('GET', `/api/v1/workspaces/${T.A.ws}`)).body.external_id).toBe(T.A.wsExt);
    // The admin may, and hears about the clash.
    expect((await svc.api('PATCH', `/api/v1/workspaces/${T.A.ws}`, { external_id: T.B.wsExt })).status).toBe(409);
  });

  it("a push by external id with A's key resolves within A, never to B's account of the same external id", async () => {
    const r = await svc.api('POST', '/api/v1/balances', { samples: [{ account: 'shared-ext', balance: 4 }] }, key.A);
    expect(r.status).toBe(200);
    expect(r.body.results[0].account_id).toBe(T.A.account);
  });

  it("after all of the above, B is still exactly as it was", async () => {
    expect(await snapshot(T.B)).toEqual(beforeB);
    expect(rx.B.received).toHaveLength(1);
  });

  // Last: these change A. Each runs against fresh objects of A so that deleting one does not affect the next.
  it.each(CASES)("positive control: A's key may $what of its own ($route → $own)", async (c) => {
    const n = Math.random().toString(36).slice(2, 8);
    const acc = await svc.api('POST', '/api/v1/accounts', { workspace_id: T.A.ws, name: `own ${n}`, external_id: `own-${n}` });
    const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: T.A.ws, name: `own ${n}`, type: 'webhook', url: `${rx.A.url}/own` });
    const spare = await svc.api('POST', `/api/v1/workspaces/${T.A.ws}/api-keys`, { name: `own ${n}` });
    const test = await svc.api('POST', `/api/v1/channels/${ch.body.id}/test`, {});
    expect([acc.status, ch.status, spare.status, test.status]).toEqual([201, 201, 201, 200]);
    const own: Target = {
      ...T.A,
      account: acc.body.id,
      accountExt: `own-${n}`,
      channel: ch.body.id,
      apiKey: spare.body.id,
      delivery: test.body.delivery_id,
      member: await freshMember(n),
    };
    const r = await call(c.req(own), key.A);
    expect(r.status, JSON.stringify(r.body)).toBe(c.own);
  });

  /** Fresh objects of A, so that changing or deleting one does not affect the next case. */
  const freshA = async (n: string): Promise<Target> => {
    const acc = await svc.api('POST', '/api/v1/accounts', { workspace_id: T.A.ws, name: `own ${n}`, external_id: `own-${n}` });
    const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: T.A.ws, name: `own ${n}`, type: 'webhook', url: `${rx.A.url}/own` });
    const spare = await svc.api('POST', `/api/v1/workspaces/${T.A.ws}/api-keys`, { name: `own ${n}` });
    const test = await svc.api('POST', `/api/v1/channels/${ch.body.id}/test`, {});
    expect([acc.status, ch.status, spare.status, test.status]).toEqual([201, 201, 201, 200]);
    return { ...T.A, account: acc.body.id, accountExt: `own-${n}`, channel: ch.body.id, apiKey: spare.body.id, delivery: test.body.delivery_id, member: await freshMember(n) };
  };

  it.each(CASES)("positive control: A's admin member (session) may $what of its own ($route → $own)", async (c) => {
    const own = await freshA(Math.random().toString(36).slice(2, 8));
    const r = await sessionCall(c.req(own), adminOfA);
    expect(r.status, JSON.stringify(r.body)).toBe(c.own);
  });

  it.each(CASES)("A's viewer (session) may read its own workspace but not change it ($route)", async (c) => {
    const own = await freshA(Math.random().toString(36).slice(2, 8));
    const req = c.req(own);
    const r = await sessionCall(req, viewerOfA);
    if (req.method === 'GET') {
      expect(r.status, JSON.stringify(r.body)).toBe(c.own);
      return;
    }
    expect(r.status, JSON.stringify(r.body)).toBe(403);
    expect(r.body.error.code).toBe('forbidden');
  });
});
