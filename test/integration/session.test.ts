import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { createLogger, createService } from '../../src/service.js';
import { databases } from '../helpers/db.js';
import { sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';
import { asUser, inviteToken, invitedMember, login, type Session, sessionCookieOf, sessionFrom } from '../helpers/session.js';

// The dashboard's server side (issue #6): first-run setup, the admin from the environment, login with throttling,
// the session cookie and CSRF, roles (a viewer reads, never writes), members and invitations end to end, chart
// data (history, sparklines), the built SPA served at `/`, and e-mail to the workspace's admins by default.
// Isolation of sessions between workspaces on every route is in isolation.test.ts.

const PASSWORD = 'correct horse battery';
const nowS = () => Math.floor(Date.now() / 1000);

function cookieAttributes(headers: Headers): string[] {
  const c = headers.getSetCookie().find((x) => x.startsWith('bw_session='));
  expect(c).toBeTruthy();
  return c!.split(';').map((x) => x.trim());
}

describe.each(databases())('dashboard sessions on %s', (db) => {
  let svc: Running;
  let admin: Session;

  beforeAll(async () => {
    svc = await startService(db);
  });
  afterAll(async () => {
    await svc?.close();
  });

  describe('first-run setup', () => {
    it('is required until the first admin exists, refuses weak input, then creates the instance admin once', async () => {
      expect((await asUser(svc, null, 'GET', '/api/v1/setup')).body).toEqual({ setup_required: true });
      const short = await asUser(svc, null, 'POST', '/api/v1/setup', { email: 'root@example.com', password: 'short' });
      expect(short.status).toBe(400);
      expect(short.body.error.details[0].path).toBe('body.password');
      const badEmail = await asUser(svc, null, 'POST', '/api/v1/setup', { email: 'not an address', password: PASSWORD });
      expect(badEmail.status).toBe(400);

      const r = await asUser(svc, null, 'POST', '/api/v1/setup', { email: '  Root@Example.COM ', password: PASSWORD, name: 'Root' });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toEqual({
        user: { id: expect.stringMatching(/^usr_/), email: 'root@example.com', name: 'Root', is_admin: true },
        workspaces: [],
        csrf_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      });
      admin = sessionFrom(r);
      expect((await asUser(svc, null, 'GET', '/api/v1/setup')).body).toEqual({ setup_required: false });

      const again = await asUser(svc, null, 'POST', '/api/v1/setup', { email: 'other@example.com', password: PASSWORD });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('already_set_up');
      expect(sessionCookieOf(again.headers)).toBeNull();
    });

    it('sets the session cookie HttpOnly, SameSite=Lax, Path=/, for 30 days, not Secure over plain http', async () => {
      const r = await asUser(svc, null, 'POST', '/api/v1/session', { email: 'root@example.com', password: PASSWORD });
      expect(r.status).toBe(200);
      const attrs = cookieAttributes(r.headers);
      expect(attrs[0]).toMatch(/^bw_session=[A-Za-z0-9_-]{43}$/);
      expect(attrs).toContain('HttpOnly');
      expect(attrs).toContain('SameSite=Lax');
      expect(attrs).toContain('Path=/');
      expect(attrs).toContain(`Max-Age=${30 * 86400}`);
      expect(attrs).not.toContain('Secure');
    });

    it('stores the session id hashed, never as sent', async () => {
      const id = admin.cookie.split('=')[1]!;
      const rows = await svc.service.store.db.selectFrom('sessions').selectAll().execute();
      expect(rows.length).toBeGreaterThan(0);
      expect(JSON.stringify(rows)).not.toContain(id);
      expect(rows.map((r) => r.id_hash)).toContain(createHash('sha256').update(id).digest('hex'));
      const users = await svc.service.store.db.selectFrom('users').selectAll().execute();
      expect(JSON.stringify(users)).not.toContain(PASSWORD);
      expect(users[0]!.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    });
  });

  describe('login and logout', () => {
    it('logs in whatever the case of the address, and GET /session says who with which workspaces', async () => {
      const s = await login(svc, 'ROOT@example.com', PASSWORD);
      const r = await asUser(svc, s, 'GET', '/api/v1/session');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ user: { id: admin.userId, email: 'root@example.com', name: 'Root', is_admin: true }, workspaces: [], csrf_token: s.csrf });
      expect(s.csrf).not.toBe(admin.csrf);
    });

    it('answers a wrong password and an unknown address alike: 401 invalid_credentials, same message', async () => {
      const wrong = await asUser(svc, null, 'POST', '/api/v1/session', { email: 'root@example.com', password: 'wrong password!' });
      const unknown = await asUser(svc, null, 'POST', '/api/v1/session', { email: 'nobody@example.com', password: 'wrong password!' });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(wrong.body).toEqual(unknown.body);
      expect(wrong.body.error.code).toBe('invalid_credentials');
      expect(sessionCookieOf(wrong.headers)).toBeNull();
    });

    it('is not logged in without a cookie, with a bogus one, or with an API key', async () => {
      expect((await asUser(svc, null, 'GET', '/api/v1/session')).status).toBe(401);
      const bogus = await asUser(svc, null, 'GET', '/api/v1/session', undefined, { headers: { cookie: `bw_session=${'x'.repeat(43)}` } });
      expect(bogus.status).toBe(401);
      // The stale cookie is cleared.
      expect(cookieAttributes(bogus.headers)).toContain('Max-Age=0');
      expect((await svc.api('GET', '/api/v1/session')).status).toBe(401);
    });

    it('logs out: DELETE needs the CSRF token, ends the session server-side and clears the cookie', async () => {
      const s = await login(svc, 'root@example.com', PASSWORD);
      const noToken = await asUser(svc, s, 'DELETE', '/api/v1/session', undefined, { csrf: false });
      expect(noToken.status).toBe(403);
      expect(noToken.body.error.code).toBe('csrf');
      expect((await asUser(svc, s, 'GET', '/api/v1/session')).status).toBe(200);
      const out = await asUser(svc, s, 'DELETE', '/api/v1/session');
      expect(out.status).toBe(204);
      expect(cookieAttributes(out.headers)).toContain('Max-Age=0');
      expect((await asUser(svc, s, 'GET', '/api/v1/session')).status).toBe(401);
      expect((await asUser(svc, s, 'GET', '/api/v1/workspaces')).status).toBe(401);
      // Logging out again (a stale cookie) still clears it.
      expect((await asUser(svc, s, 'DELETE', '/api/v1/session')).status).toBe(204);
      expect((await asUser(svc, null, 'DELETE', '/api/v1/session')).status).toBe(204);
    });

    it('refuses an expired session and slides the expiry of a used one', async () => {
      const s = await login(svc, 'root@example.com', PASSWORD);
      const hash = createHash('sha256').update(s.cookie.split('=')[1]!).digest('hex');
      const sdb = svc.service.store.db;
      const past = Date.now() - 2 * 3_600_000;
      await sdb.updateTable('sessions').set({ last_seen_at: past, expires_at: Date.now() + 86_400_000 }).where('id_hash', '=', hash).execute();
      const used = await asUser(svc, s, 'GET', '/api/v1/session');
      expect(used.status).toBe(200);
      expect(cookieAttributes(used.headers)).toContain(`Max-Age=${30 * 86400}`);
      const row = await sdb.selectFrom('sessions').selectAll().where('id_hash', '=', hash).executeTakeFirstOrThrow();
      expect(row.expires_at).toBeGreaterThan(Date.now() + 29 * 86_400_000);
      // Used again within the hour: no write, no new cookie.
      expect((await asUser(svc, s, 'GET', '/api/v1/session')).headers.getSetCookie()).toEqual([]);
      await sdb.updateTable('sessions').set({ expires_at: Date.now() - 1 }).where('id_hash', '=', hash).execute();
      const expired = await asUser(svc, s, 'GET', '/api/v1/session');
      expect(expired.status).toBe(401);
      expect(expired.body.error.code).toBe('unauthorized');
    });

    it('throttles failed logins per address: the 6th attempt within 15 minutes is 429 with Retry-After, even with the right password', async () => {
      const w = await asUser(svc, admin, 'POST', '/api/v1/workspaces', { name: 'Throttle' });
      await invitedMember(svc, w.body.id, 'target@example.com', 'viewer');
      for (let i = 0; i < 5; i++) {
        const r = await asUser(svc, null, 'POST', '/api/v1/session', { email: 'target@example.com', password: `guess number ${i}` });
        expect(r.status).toBe(401);
      }
      const blocked = await asUser(svc, null, 'POST', '/api/v1/session', { email: 'Target@example.com', password: PASSWORD });
      expect(blocked.status).toBe(429);
      expect(blocked.body.error.code).toBe('rate_limited');
      const after = Number(blocked.headers.get('retry-after'));
      expect(after).toBeGreaterThan(800);
      expect(after).toBeLessThanOrEqual(900);
      expect(sessionCookieOf(blocked.headers)).toBeNull();
      // Another address from the same client is not blocked (the per-client limit is higher).
      expect((await asUser(svc, null, 'POST', '/api/v1/session', { email: 'root@example.com', password: PASSWORD })).status).toBe(200);
    });
  });

  describe('CSRF', () => {
    it('a cookie request that changes something needs X-CSRF-Token; GETs do not; API keys never do', async () => {
      const noToken = await asUser(svc, admin, 'POST', '/api/v1/workspaces', { name: 'No token' }, { csrf: false });
      expect(noToken.status).toBe(403);
      expect(noToken.body.error.code).toBe('csrf');
      const wrong = await asUser(svc, admin, 'POST', '/api/v1/workspaces', { name: 'Wrong token' }, { csrf: 'x'.repeat(43) });
      expect(wrong.status).toBe(403);
      const ok = await asUser(svc, admin, 'POST', '/api/v1/workspaces', { name: 'With token' });
      expect(ok.status).toBe(201);
      expect((await asUser(svc, admin, 'GET', `/api/v1/workspaces/${ok.body.id}`, undefined, { csrf: false })).status).toBe(200);
      const names = (await svc.api('GET', '/api/v1/workspaces')).body.data.map((w: any) => w.name);
      expect(names).toContain('With token');
      expect(names).not.toContain('No token');
      expect(names).not.toContain('Wrong token');
      // Bearer: no CSRF token, and a cookie alongside changes nothing (the key decides).
      expect((await svc.api('POST', '/api/v1/workspaces', { name: 'By key' })).status).toBe(201);
      const both = await fetch(`${svc.url}/api/v1/workspaces`, {
        method: 'POST',
        headers: { authorization: 'Bearer bw_not_a_key_0123456789abcdef', cookie: admin.cookie, 'x-csrf-token': admin.csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'key wins' }),
      });
      expect(both.status).toBe(401);
    });

    it('a workspace created in the dashboard has its creator as admin member', async () => {
      const w = await asUser(svc, admin, 'POST', '/api/v1/workspaces', { name: 'Mine' });
      const m = await asUser(svc, admin, 'GET', `/api/v1/workspaces/${w.body.id}/members`);
      expect(m.body.data).toEqual([{ user_id: admin.userId, email: 'root@example.com', name: 'Root', role: 'admin', invited: false }]);
      const byKey = await svc.api('POST', '/api/v1/workspaces', { name: 'By key, no members' });
      expect((await svc.api('GET', `/api/v1/workspaces/${byKey.body.id}/members`)).body.data).toEqual([]);
    });
  });

  describe('members, invitations and roles', () => {
    let ws: string;
    let other: string;
    let adminOfWs: Session;
    let viewer: Session;

    beforeAll(async () => {
      ws = (await svc.api('POST', '/api/v1/workspaces', { name: 'Team', locale: 'en' })).body.id;
      other = (await svc.api('POST', '/api/v1/workspaces', { name: 'Other team' })).body.id;
    });

    it('invites end to end: link in the answer, pending in the list, accepted once, logged in with the role', async () => {
      const inv = await asUser(svc, admin, 'POST', `/api/v1/workspaces/${ws}/members`, { email: 'Alice@Example.com', role: 'admin' });
      expect(inv.status, JSON.stringify(inv.body)).toBe(201);
      expect(inv.body).toMatchObject({ user_id: expect.stringMatching(/^usr_/), email: 'alice@example.com', role: 'admin', invited: true });
      // No SMTP and no BALANCEWATCH_PUBLIC_URL: the link is returned, on the address the request came to.
      expect(inv.body.invite_url).toMatch(new RegExp(`^${svc.url.replace(/[.]/g, '\\.')}/invite/[A-Za-z0-9_-]{43}$`));
      const pending = await asUser(svc, admin, 'GET', `/api/v1/workspaces/${ws}/members`);
      expect(pending.body.data).toEqual([expect.objectContaining({ user_id: inv.body.user_id, email: 'alice@example.com', role: 'admin', invited: true })]);
      // A pending invitee cannot log in.
      expect((await asUser(svc, null, 'POST', '/api/v1/session', { email: 'alice@example.com', password: PASSWORD })).status).toBe(401);

      const token = inviteToken(inv.body.invite_url);
      const weak = await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token, password: 'short' });
      expect(weak.status).toBe(400);
      const bogus = await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token: 'A'.repeat(43), password: PASSWORD });
      expect(bogus.status).toBe(404);
      expect(bogus.body.error.code).toBe('invalid_invite');

      const ok = await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token, password: PASSWORD, name: 'Alice' });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      adminOfWs = sessionFrom(ok);
      expect(ok.body.user).toEqual({ id: inv.body.user_id, email: 'alice@example.com', name: 'Alice', is_admin: false });
      expect(ok.body.workspaces).toEqual([{ id: ws, name: 'Team', role: 'admin' }]);
      expect((await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token, password: PASSWORD })).status).toBe(404);
      const joined = await asUser(svc, adminOfWs, 'GET', `/api/v1/workspaces/${ws}/members`);
      expect(joined.body.data).toEqual([{ user_id: inv.body.user_id, email: 'alice@example.com', name: 'Alice', role: 'admin', invited: false }]);
      expect((await login(svc, 'alice@example.com', PASSWORD)).userId).toBe(inv.body.user_id);
    });

    it('a workspace admin manages its workspace: settings, accounts, channels, keys, members; not other workspaces', async () => {
      expect((await asUser(svc, adminOfWs, 'PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { runway_days: 5 })).status).toBe(200);
      const acc = await asUser(svc, adminOfWs, 'POST', '/api/v1/accounts', { name: 'main' });
      expect(acc.status, JSON.stringify(acc.body)).toBe(201);
      expect(acc.body.workspace_id).toBe(ws);
      expect((await asUser(svc, adminOfWs, 'POST', '/api/v1/channels', { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/x' })).status).toBe(201);
      expect((await asUser(svc, adminOfWs, 'POST', `/api/v1/workspaces/${ws}/api-keys`, { name: 'ci' })).status).toBe(201);
      expect((await asUser(svc, adminOfWs, 'POST', '/api/v1/balances', { samples: [{ account: acc.body.id, balance: 50 }] })).status).toBe(200);
      // Creating and deleting workspaces is for instance admins.
      const create = await asUser(svc, adminOfWs, 'POST', '/api/v1/workspaces', { name: 'mine now' });
      expect(create.status).toBe(403);
      expect(create.body.error.code).toBe('forbidden');
      expect((await asUser(svc, adminOfWs, 'DELETE', `/api/v1/workspaces/${ws}`)).status).toBe(403);
      expect((await asUser(svc, adminOfWs, 'GET', `/api/v1/workspaces/${other}`)).status).toBe(404);
      expect((await asUser(svc, adminOfWs, 'GET', '/api/v1/workspaces')).body.data.map((w: any) => w.id)).toEqual([ws]);
    });

    it('a viewer reads its workspace but every change is 403 "viewers cannot change settings"', async () => {
      const inv = await asUser(svc, adminOfWs, 'POST', `/api/v1/workspaces/${ws}/members`, { email: 'vic@example.com', role: 'viewer' });
      expect(inv.status).toBe(201);
      viewer = sessionFrom(await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token: inviteToken(inv.body.invite_url), password: PASSWORD }));
      expect(viewer.body.workspaces).toEqual([{ id: ws, name: 'Team', role: 'viewer' }]);
      for (const p of [`/api/v1/workspaces/${ws}`, `/api/v1/workspaces/${ws}/notification-settings`, '/api/v1/accounts', '/api/v1/channels', `/api/v1/workspaces/${ws}/members`, '/api/v1/alerts', '/api/v1/deliveries']) {
        expect((await asUser(svc, viewer, 'GET', p)).status, p).toBe(200);
      }
      const accounts = (await asUser(svc, viewer, 'GET', '/api/v1/accounts')).body.data;
      expect(accounts).toHaveLength(1);
      const writes: [string, string, unknown?][] = [
        ['PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { runway_days: 9 }],
        ['PATCH', `/api/v1/workspaces/${ws}`, { name: 'renamed' }],
        ['POST', '/api/v1/accounts', { name: 'sneaky' }],
        ['PATCH', `/api/v1/accounts/${accounts[0].id}`, { name: 'renamed' }],
        ['DELETE', `/api/v1/accounts/${accounts[0].id}`],
        ['POST', '/api/v1/channels', { name: 'tap', type: 'webhook', url: 'http://127.0.0.1:9/tap' }],
        ['POST', `/api/v1/workspaces/${ws}/api-keys`, { name: 'stolen' }],
        ['POST', `/api/v1/workspaces/${ws}/members`, { email: 'friend@example.com', role: 'admin' }],
        ['PATCH', `/api/v1/workspaces/${ws}/members/${viewer.userId}`, { role: 'admin' }],
        ['POST', '/api/v1/balances', { samples: [{ account: accounts[0].id, balance: 1 }] }],
      ];
      for (const [method, p, body] of writes) {
        const r = await asUser(svc, viewer, method, p, body);
        expect(r.status, `${method} ${p}`).toBe(403);
        expect(r.body.error).toEqual({ code: 'forbidden', message: 'viewers cannot change settings; ask a workspace admin', details: null });
      }
      expect((await svc.api('GET', `/api/v1/workspaces/${ws}/notification-settings`)).body.runway_days).toBe(5);
      expect((await svc.api('GET', `/api/v1/accounts/${accounts[0].id}`)).body.name).toBe('main');
    });

    it('changing the role takes effect at once; removing the member ends its access', async () => {
      expect((await asUser(svc, adminOfWs, 'PATCH', `/api/v1/workspaces/${ws}/members/${viewer.userId}`, { role: 'admin' })).status).toBe(200);
      expect((await asUser(svc, viewer, 'PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { runway_days: 6 })).status).toBe(200);
      expect((await asUser(svc, viewer, 'GET', '/api/v1/session')).body.workspaces).toEqual([{ id: ws, name: 'Team', role: 'admin' }]);
      expect((await asUser(svc, adminOfWs, 'PATCH', `/api/v1/workspaces/${ws}/members/${viewer.userId}`, { role: 'viewer' })).status).toBe(200);
      expect((await asUser(svc, viewer, 'PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { runway_days: 7 })).status).toBe(403);
      expect((await asUser(svc, adminOfWs, 'DELETE', `/api/v1/workspaces/${ws}/members/${viewer.userId}`)).status).toBe(204);
      expect((await asUser(svc, viewer, 'GET', `/api/v1/workspaces/${ws}`)).status).toBe(404);
      expect((await asUser(svc, viewer, 'GET', '/api/v1/workspaces')).body.data).toEqual([]);
      const none = await asUser(svc, viewer, 'GET', '/api/v1/accounts');
      expect(none.status).toBe(403);
      expect((await asUser(svc, adminOfWs, 'DELETE', `/api/v1/workspaces/${ws}/members/${viewer.userId}`)).status).toBe(404);
      expect((await asUser(svc, adminOfWs, 'PATCH', `/api/v1/workspaces/${ws}/members/usr_nobody`, { role: 'admin' })).status).toBe(404);
    });

    it('an existing user invited to another workspace joins it by proving their password; lists then need workspace_id', async () => {
      const inv = await svc.api('POST', `/api/v1/workspaces/${other}/members`, { email: 'alice@example.com', role: 'viewer' });
      expect(inv.status).toBe(201);
      // Inviting does not make a member: only accepting does.
      expect((await asUser(svc, adminOfWs, 'GET', `/api/v1/workspaces/${other}`)).status).toBe(404);
      const token = inviteToken(inv.body.invite_url);
      const wrong = await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token, password: 'not her password' });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error.code).toBe('invalid_credentials');
      const ok = await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token, password: PASSWORD });
      expect(ok.status).toBe(200);
      const s = sessionFrom(ok);
      expect(ok.body.workspaces.map((w: any) => [w.id, w.role]).sort()).toEqual([[other, 'viewer'], [ws, 'admin']].sort());
      const list = await asUser(svc, s, 'GET', '/api/v1/accounts');
      expect(list.status).toBe(400);
      expect(list.body.error.details[0].path).toBe('querystring.workspace_id');
      expect((await asUser(svc, s, 'GET', `/api/v1/accounts?workspace_id=${ws}`)).status).toBe(200);
      expect((await asUser(svc, s, 'GET', `/api/v1/accounts?workspace_id=${other}`)).status).toBe(200);
      expect((await asUser(svc, s, 'POST', '/api/v1/accounts', { name: 'where?' })).status).toBe(400);
      expect((await asUser(svc, s, 'POST', '/api/v1/accounts', { workspace_id: ws, name: 'here' })).status).toBe(201);
      expect((await asUser(svc, s, 'POST', '/api/v1/accounts', { workspace_id: other, name: 'not as viewer' })).status).toBe(403);
      expect((await asUser(svc, s, 'POST', '/api/v1/balances', { samples: [{ account: 'x', balance: 1 }] })).status).toBe(400);
    });

    it('a re-invitation replaces the pending link; an expired link is refused; inviting a member is a conflict', async () => {
      const first = await svc.api('POST', `/api/v1/workspaces/${ws}/members`, { email: 'bob@example.com', role: 'viewer' });
      const second = await svc.api('POST', `/api/v1/workspaces/${ws}/members`, { email: 'bob@example.com', role: 'admin' });
      expect([first.status, second.status]).toEqual([201, 201]);
      expect((await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token: inviteToken(first.body.invite_url), password: PASSWORD })).status).toBe(404);
      await svc.service.store.db.updateTable('invites').set({ expires_at: Date.now() - 1 }).where('user_id', '=', second.body.user_id).execute();
      const expired = await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token: inviteToken(second.body.invite_url), password: PASSWORD });
      expect(expired.status).toBe(404);
      expect(expired.body.error.code).toBe('invalid_invite');
      const dup = await svc.api('POST', `/api/v1/workspaces/${ws}/members`, { email: 'alice@example.com', role: 'viewer' });
      expect(dup.status).toBe(409);
    });

    it('an instance admin sees every workspace with role admin', async () => {
      const r = await asUser(svc, admin, 'GET', '/api/v1/session');
      const mine = r.body.workspaces.filter((w: any) => [ws, other].includes(w.id));
      expect(mine).toEqual(expect.arrayContaining([{ id: ws, name: 'Team', role: 'admin' }, { id: other, name: 'Other team', role: 'admin' }]));
      expect((await asUser(svc, admin, 'GET', '/api/v1/accounts')).status).toBe(200);
    });
  });

  describe('chart data', () => {
    let ws: string;
    let acc: string;
    let empty: string;
    const t0 = nowS() - 10 * 3600;

    beforeAll(async () => {
      ws = (await svc.api('POST', '/api/v1/workspaces', { name: 'Charts', notification_settings: { levels: [{ level: 'warning', below: 20 }, { level: 'critical', below: 5 }] } })).body.id;
      acc = (await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'charted' })).body.id;
      empty = (await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'silent' })).body.id;
      // 200 samples over 10 hours: a slow decline from 100 with one dip to 1 at sample 123.
      const samples = Array.from({ length: 200 }, (_, i) => ({ account: acc, balance: i === 123 ? 1 : 100 - i * 0.25, at: t0 + i * 180 }));
      const r = await svc.api('POST', '/api/v1/balances', { samples });
      expect(r.status).toBe(200);
    });

    it('history: every sample when they fit, in time order, with the threshold lines and the forecast', async () => {
      const r = await svc.api('GET', `/api/v1/accounts/${acc}/history?points=2000`);
      expect(r.status).toBe(200);
      expect(r.body.data).toHaveLength(200);
      expect(r.body.data[0]).toEqual({ at: new Date(t0 * 1000).toISOString(), balance: 100 });
      const times = r.body.data.map((p: any) => Date.parse(p.at));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      expect(r.body.threshold_levels).toEqual([
        { level: 'warning', below: 20 },
        { level: 'critical', below: 5 },
      ]);
      expect(Object.keys(r.body.forecast).sort()).toEqual(['runway_days', 'spend_per_day', 'zero_at']);
      const a = (await svc.api('GET', `/api/v1/accounts/${acc}`)).body;
      expect(r.body.forecast.runway_days).toBe(a.runway_days);
      expect(r.body.forecast.spend_per_day).toBe(a.spend_per_day);
      if (a.runway_days !== null) expect(Date.parse(r.body.forecast.zero_at)).toBeGreaterThan(Date.parse(a.observed_at));
      else expect(r.body.forecast.zero_at).toBeNull();
    });

    it('history: downsampled to at most `points`, keeping each bucket\'s low and high (the dip survives)', async () => {
      for (const points of [2, 10, 37, 100]) {
        const r = await svc.api('GET', `/api/v1/accounts/${acc}/history?points=${points}`);
        expect(r.status).toBe(200);
        expect(r.body.data.length).toBeGreaterThan(0);
        expect(r.body.data.length).toBeLessThanOrEqual(points);
        const balances = r.body.data.map((p: any) => p.balance);
        expect(Math.min(...balances)).toBe(1);
        expect(Math.max(...balances)).toBe(100);
        const times = r.body.data.map((p: any) => Date.parse(p.at));
        expect([...times].sort((a, b) => a - b)).toEqual(times);
        expect(new Set(times).size).toBe(times.length);
      }
    });

    it('history: from/to select the range; bad ranges and sizes are 400', async () => {
      const from = new Date((t0 + 180 * 10) * 1000).toISOString();
      const to = new Date((t0 + 180 * 19) * 1000).toISOString();
      const r = await svc.api('GET', `/api/v1/accounts/${acc}/history?from=${from}&to=${to}`);
      expect(r.status).toBe(200);
      expect(r.body.data).toHaveLength(10);
      expect(r.body.data[0].at).toBe(from);
      expect(r.body.data[9].at).toBe(to);
      for (const q of [`from=${to}&to=${from}`, 'from=yesterday', 'points=2001', 'points=1', 'points=abc']) {
        const bad = await svc.api('GET', `/api/v1/accounts/${acc}/history?${q}`);
        expect(bad.status, q).toBe(400);
        expect(bad.body.error.code).toBe('invalid_request');
      }
      expect((await svc.api('GET', `/api/v1/accounts/${empty}/history`)).body.data).toEqual([]);
      expect((await svc.api('GET', '/api/v1/accounts/acc_missing/history')).status).toBe(404);
    });

    it("history: an account's own levels replace the workspace's; low-balance alerts off → no lines", async () => {
      await svc.api('PATCH', `/api/v1/accounts/${empty}`, { rules: { low_balance_threshold: 42 } });
      expect((await svc.api('GET', `/api/v1/accounts/${empty}/history`)).body.threshold_levels).toEqual([
        { level: 'warning', below: 42 },
        { level: 'critical', below: 5 },
      ]);
      await svc.api('PATCH', `/api/v1/accounts/${empty}`, { rules: { notify_low_balance: false } });
      expect((await svc.api('GET', `/api/v1/accounts/${empty}/history`)).body.threshold_levels).toEqual([]);
    });

    it('sparklines: ≤ 48 points of the last 7 days, ending at the current balance; only when asked', async () => {
      const r = await svc.api('GET', `/api/v1/accounts?workspace_id=${ws}&include=sparkline`);
      expect(r.status).toBe(200);
      const byId = new Map(r.body.data.map((a: any) => [a.id, a]));
      const charted = byId.get(acc) as any;
      expect(charted.sparkline.length).toBeGreaterThan(1);
      expect(charted.sparkline.length).toBeLessThanOrEqual(48);
      expect(charted.sparkline.every((n: unknown) => typeof n === 'number')).toBe(true);
      expect(charted.sparkline.at(-1)).toBe(charted.balance);
      expect(charted.sparkline[0]).toBeGreaterThan(charted.sparkline.at(-1));
      expect((byId.get(empty) as any).sparkline).toEqual([]);
      const plain = await svc.api('GET', `/api/v1/accounts?workspace_id=${ws}`);
      expect(plain.body.data[0]).not.toHaveProperty('sparkline');
      const bad = await svc.api('GET', `/api/v1/accounts?workspace_id=${ws}&include=everything`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].path).toBe('querystring.include');
    });

    it('sparklines leave out samples older than 7 days and bucket a dense week into 48 points', async () => {
      const dense = (await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'dense' })).body.id;
      const start = nowS() - 8 * 86400;
      const samples = Array.from({ length: 8 * 48 }, (_, i) => ({ account: dense, balance: 1000 - i, at: start + i * 1800 }));
      expect((await svc.api('POST', '/api/v1/balances', { samples })).status).toBe(200);
      const r = await svc.api('GET', `/api/v1/accounts?workspace_id=${ws}&include=sparkline`);
      const line = r.body.data.find((a: any) => a.id === dense).sparkline as number[];
      expect(line.length).toBeGreaterThanOrEqual(46);
      expect(line.length).toBeLessThanOrEqual(48);
      // Nothing from the first day (balances above 1000 - 48).
      expect(Math.max(...line)).toBeLessThan(1000 - 40);
      expect(line.at(-1)).toBe(1000 - (8 * 48 - 1));
    });
  });
});

describe.each(databases())('the dashboard admin from the environment on %s', (db) => {
  it('is created at start, once, and a restart with another password does not overwrite it', async () => {
    const svc = await startService(db, { BALANCEWATCH_ADMIN_EMAIL: 'Ops@Example.com', BALANCEWATCH_ADMIN_PASSWORD: 'first password 1' });
    try {
      expect((await asUser(svc, null, 'GET', '/api/v1/setup')).body).toEqual({ setup_required: false });
      expect((await asUser(svc, null, 'POST', '/api/v1/setup', { email: 'x@example.com', password: PASSWORD })).status).toBe(409);
      const s = await login(svc, 'ops@example.com', 'first password 1');
      expect(s.body.user).toMatchObject({ email: 'ops@example.com', is_admin: true });
      // A second start on the same database with another password.
      const again = await createService(loadConfig({ ...svc.env, BALANCEWATCH_ADMIN_PASSWORD: 'second password 2' }), { logger: createLogger('silent'), dispatch: false });
      await again.close();
      expect((await asUser(svc, null, 'POST', '/api/v1/session', { email: 'ops@example.com', password: 'second password 2' })).status).toBe(401);
      expect((await login(svc, 'ops@example.com', 'first password 1')).userId).toBe(s.userId);
      expect(await svc.service.store.db.selectFrom('users').select('id').execute()).toHaveLength(1);
    } finally {
      await svc.close();
    }
  });

  it('refuses half the pair', () => {
    expect(() => loadConfig({ BALANCEWATCH_ADMIN_EMAIL: 'ops@example.com' })).toThrow(/BALANCEWATCH_ADMIN_PASSWORD/);
    expect(() => loadConfig({ BALANCEWATCH_ADMIN_EMAIL: 'ops@example.com', BALANCEWATCH_ADMIN_PASSWORD: 'short' })).toThrow(/at least 10/);
  });
});

describe('setup under contention', () => {
  it('two setups at the same moment make exactly one admin', async () => {
    const svc = await startService(databases().at(-1)!);
    try {
      const results = await Promise.all(
        ['a', 'b', 'c'].map((n) => asUser(svc, null, 'POST', '/api/v1/setup', { email: `${n}@example.com`, password: PASSWORD })),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409]);
      expect(await svc.service.store.db.selectFrom('users').select('id').where('is_admin', '=', 1).execute()).toHaveLength(1);
    } finally {
      await svc.close();
    }
  });
});

describe('the session cookie behind https', () => {
  it('is Secure when BALANCEWATCH_PUBLIC_URL is https, and invite links use that URL', async () => {
    const svc = await startService('sqlite', { BALANCEWATCH_PUBLIC_URL: 'https://bw.example.com/' });
    try {
      const r = await asUser(svc, null, 'POST', '/api/v1/setup', { email: 'root@example.com', password: PASSWORD });
      expect(r.status).toBe(201);
      expect(cookieAttributes(r.headers)).toContain('Secure');
      const ws = (await svc.api('POST', '/api/v1/workspaces', { name: 'W' })).body.id;
      const inv = await svc.api('POST', `/api/v1/workspaces/${ws}/members`, { email: 'a@example.com', role: 'viewer' });
      expect(inv.body.invite_url).toMatch(/^https:\/\/bw\.example\.com\/invite\/[A-Za-z0-9_-]{43}$/);
    } finally {
      await svc.close();
    }
  });
});

describe('the dashboard served at /', () => {
  let svc: Running;
  let web: string;
  const INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-Ab12Cd34.js"></script></head><body><div id="app"></div></body></html>';

  beforeAll(async () => {
    web = mkdtempSync(path.join(tmpdir(), 'bw-web-'));
    mkdirSync(path.join(web, 'assets'));
    writeFileSync(path.join(web, 'index.html'), INDEX);
    writeFileSync(path.join(web, 'assets', 'index-Ab12Cd34.js'), 'console.log("app")');
    writeFileSync(path.join(web, 'assets', 'index-Ef56Gh78.css'), 'body{margin:0}');
    writeFileSync(path.join(web, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(path.join(web, '.env'), 'SECRET=1');
    svc = await startService('sqlite', { BALANCEWATCH_WEB_DIR: web });
  });
  afterAll(async () => {
    await svc?.close();
    rmSync(web, { recursive: true, force: true });
  });

  const get = (p: string, method = 'GET') => fetch(svc.url + p, { method });

  function expectSecurityHeaders(h: Headers) {
    const csp = h.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(h.get('x-frame-options')).toBe('DENY');
    expect(h.get('referrer-policy')).toBe('same-origin');
    expect(h.get('x-content-type-options')).toBe('nosniff');
  }

  it('serves index.html at / (no-cache) with the security headers', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expectSecurityHeaders(r.headers);
    expect(await r.text()).toBe(INDEX);
    expect((await get('/index.html')).headers.get('cache-control')).toBe('no-cache');
    expect((await get('/', 'HEAD')).status).toBe(200);
  });

  it('answers client-side routes (deep links) with index.html', async () => {
    for (const p of ['/accounts/acc_123', '/workspaces/ws_1/settings', '/invite/abc', '/login?next=%2Faccounts', '/accounts/weird.name']) {
      const r = await get(p);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-cache');
      expectSecurityHeaders(r.headers);
      expect(await r.text()).toBe(INDEX);
    }
  });

  it('caches hashed assets for a year (immutable), other files for an hour', async () => {
    const js = await get('/assets/index-Ab12Cd34.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expectSecurityHeaders(js.headers);
    expect(await js.text()).toBe('console.log("app")');
    const css = await get('/assets/index-Ef56Gh78.css');
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    const icon = await get('/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers.get('cache-control')).toBe('public, max-age=3600');
  });

  it('a missing asset is a 404, not index.html; dotfiles and paths outside the directory are never served', async () => {
    for (const p of ['/assets/index-missing.js', '/app.js', '/styles.css']) {
      const r = await get(p);
      expect(r.status, p).toBe(404);
      expect(await r.text()).not.toContain('<!doctype html>');
    }
    const dot = await get('/.env');
    expect(await dot.text()).not.toContain('SECRET');
    for (const raw of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2f..%2f..%2fetc%2fpasswd']) {
      const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const u = new URL(svc.url);
        const req = request({ host: u.hostname, port: u.port, path: raw, method: 'GET' }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body.text, raw).not.toMatch(/root:/);
    }
  });

  it('leaves the API, health and metrics alone: unknown API paths are JSON 404s', async () => {
    const api = await svc.api('GET', '/api/v1/nothing-here');
    expect(api.status).toBe(404);
    expect(api.body.error.code).toBe('not_found');
    expect((await svc.api('GET', '/api/nope', undefined, null)).body.error.code).toBe('not_found');
    expect((await get('/healthz')).status).toBe(200);
    expect((await svc.api('GET', '/api/v1/workspaces')).status).toBe(200);
    expect((await svc.api('GET', '/api/v1/workspaces', undefined, null)).status).toBe(401);
    const post = await fetch(`${svc.url}/accounts/x`, { method: 'POST' });
    expect(post.status).toBe(404);
  });

  it('without a build, / says how to make one', async () => {
    const bare = await startService('sqlite', { BALANCEWATCH_WEB_DIR: path.join(web, 'does-not-exist') });
    try {
      const r = await fetch(`${bare.url}/accounts/x`);
      expect(r.status).toBe(503);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await r.text()).toContain('npm run build');
      expectSecurityHeaders(r.headers);
      expect((await bare.api('GET', '/api/v1/workspaces')).status).toBe(200);
    } finally {
      await bare.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// E-mail to the workspace's admins, through a real SMTP server.

interface Mail {
  to: string[];
  raw: string;
  /** The raw message with quoted-printable undone (enough to find links and words). */
  text: string;
}

async function startSmtp(): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    closeTimeout: 200,
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, text });
        cb(null);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe.each(databases())("e-mail to the workspace's admins on %s", (db) => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let svc: Running;
  let ws: string;
  let acc: string;
  let alice: Session;

  beforeAll(async () => {
    smtp = await startSmtp();
    svc = await startService(db, { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, SMTP_FROM: 'balancewatch <bw@example.com>', BALANCEWATCH_PUBLIC_URL: 'http://dash.example.com' });
    ws = (await svc.api('POST', '/api/v1/workspaces', { name: 'Mailed' })).body.id;
    acc = (await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'DeepSeek prod' })).body.id;
  });
  afterAll(async () => {
    await svc?.close();
    await smtp?.close();
  });

  const mailsTo = (addr: string) => smtp.mails.filter((m) => m.to.includes(addr));

  it('e-mails the invitation instead of returning the link; the link in the mail works', async () => {
    const inv = await svc.api('POST', `/api/v1/workspaces/${ws}/members`, { email: 'alice@example.com', role: 'admin' });
    expect(inv.status).toBe(201);
    expect(inv.body).not.toHaveProperty('invite_url');
    const mail = await until('the invitation', () => mailsTo('alice@example.com')[0]);
    expect(mail.text).toContain('Mailed');
    const link = /http:\/\/dash\.example\.com\/invite\/([A-Za-z0-9_-]{43})/.exec(mail.text);
    expect(link).toBeTruthy();
    alice = sessionFrom(await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token: link![1], password: PASSWORD }));
    expect(alice.body.workspaces).toEqual([{ id: ws, name: 'Mailed', role: 'admin' }]);
  });

  it('lists the system channel (type email, system: true) with the admins as recipients; it cannot be edited or deleted', async () => {
    const viewerInv = await svc.api('POST', `/api/v1/workspaces/${ws}/members`, { email: 'victor@example.com', role: 'viewer' });
    const mail = await until('the viewer invitation', () => mailsTo('victor@example.com')[0]);
    const token = /\/invite\/([A-Za-z0-9_-]{43})/.exec(mail.text)![1]!;
    expect((await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token, password: PASSWORD })).status).toBe(200);
    expect(viewerInv.status).toBe(201);
    const list = await asUser(svc, alice, 'GET', '/api/v1/channels');
    const system = list.body.data.filter((c: any) => c.system === true);
    expect(system).toHaveLength(1);
    expect(system[0]).toMatchObject({ type: 'email', system: true, enabled: true, to: ['alice@example.com'] });
    for (const [method, body] of [['PATCH', { enabled: false }], ['DELETE', undefined]] as const) {
      const r = await asUser(svc, alice, method, `/api/v1/channels/${system[0].id}`, body);
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('system_channel');
    }
  });

  it('a low balance reaches the admins by e-mail without any channel configured', async () => {
    const before = mailsTo('alice@example.com').length;
    const r = await svc.api('POST', '/api/v1/balances', { samples: [{ account: acc, balance: 3 }] });
    expect(r.status).toBe(200);
    expect(r.body.notifications_queued).toBe(1);
    const mail = await until('the alert e-mail', () => mailsTo('alice@example.com')[before]);
    expect(mail.to).toEqual(['alice@example.com']);
    expect(mail.text).toContain('DeepSeek prod');
    expect(mailsTo('victor@example.com')).toHaveLength(1); // the invitation only: viewers get no alerts
    const dl = await until('the delivery', async () => (await svc.api('GET', `/api/v1/deliveries?workspace_id=${ws}`)).body.data.find((x: any) => x.status === 'delivered'));
    expect(dl.event).toBe('balance.low');
  });

  it('email_admins: false stops them; a new admin is added to the recipients; no admin left disables the channel', async () => {
    expect((await asUser(svc, alice, 'PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { email_admins: false })).body.email_admins).toBe(false);
    const count = smtp.mails.length;
    const recovered = await svc.api('POST', '/api/v1/balances', { samples: [{ account: acc, balance: 500 }] });
    expect(recovered.body.notifications_queued).toBe(0);
    await sleep(300);
    expect(smtp.mails.length).toBe(count);
    expect((await asUser(svc, alice, 'PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { email_admins: true })).status).toBe(200);
    // An account cannot override it.
    expect((await svc.api('PATCH', `/api/v1/accounts/${acc}`, { rules: { email_admins: false } })).status).toBe(400);

    const victor = (await svc.api('GET', `/api/v1/workspaces/${ws}/members`)).body.data.find((m: any) => m.email === 'victor@example.com');
    expect((await asUser(svc, alice, 'PATCH', `/api/v1/workspaces/${ws}/members/${victor.user_id}`, { role: 'admin' })).status).toBe(200);
    const sys = async () => (await svc.api('GET', `/api/v1/channels?workspace_id=${ws}`)).body.data.find((c: any) => c.system);
    expect((await sys()).to).toEqual(['alice@example.com', 'victor@example.com']);
    for (const m of (await svc.api('GET', `/api/v1/workspaces/${ws}/members`)).body.data)
      expect((await svc.api('DELETE', `/api/v1/workspaces/${ws}/members/${m.user_id}`)).status).toBe(204);
    expect(await sys()).toMatchObject({ enabled: false });
  });

  it('a restart without SMTP disables the system channels; with SMTP again they are back', async () => {
    const member = await svc.api('POST', `/api/v1/workspaces/${ws}/members`, { email: 'alice@example.com', role: 'admin' });
    const mail = await until('the invitation', () => [...mailsTo('alice@example.com')].reverse().find((m) => m.text.includes('/invite/')));
    const token = /\/invite\/([A-Za-z0-9_-]{43})/.exec(mail.text)![1]!;
    expect(member.status).toBe(201);
    expect((await asUser(svc, null, 'POST', '/api/v1/invites/accept', { token, password: PASSWORD })).status).toBe(200);
    const sdb = svc.service.store.db;
    const enabled = async () => (await sdb.selectFrom('channels').select('enabled').where('system', '=', 1).where('workspace_id', '=', ws).executeTakeFirstOrThrow()).enabled;
    expect(await enabled()).toBe(1);
    const { SMTP_URL: _u, SMTP_FROM: _f, ...noSmtp } = svc.env;
    const without = await createService(loadConfig(noSmtp), { logger: createLogger('silent'), dispatch: false });
    await without.close();
    expect(await enabled()).toBe(0);
    const withAgain = await createService(loadConfig(svc.env), { logger: createLogger('silent'), dispatch: false });
    await withAgain.close();
    expect(await enabled()).toBe(1);
  });
});
