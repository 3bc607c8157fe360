import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { newId } from '../../domain/ids.js';
import { syncAdminEmail } from '../../engine/admin-email.js';
import { hashPassword, verifyPassword } from '../../security/passwords.js';
import type { InvitesTable, MemberRole, UsersTable } from '../../store/schema.js';
import { assertWorkspaceAccess } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import type { LoginGuard } from '../login-limiter.js';
import { hashToken, isTokenShaped, newToken, type SessionOptions } from '../sessions.js';
import { type App, type Deps, iso } from '../types.js';
import { emailSchema, INVALID_CREDENTIALS, logIn, nameSchema, newPasswordSchema, throttle } from './session.js';

// Workspace members and invitations (issue #6):
//   GET    /api/v1/workspaces/{id}/members              members and pending invitations
//   POST   /api/v1/workspaces/{id}/members {email,role} invite (a link valid 7 days, e-mailed or logged)
//   PATCH  /api/v1/workspaces/{id}/members/{user_id}    change the role
//   DELETE /api/v1/workspaces/{id}/members/{user_id}    remove the member (and its pending invitation)
//   POST   /api/v1/invites/accept {token,password,name?} (public) join, logged in
// Membership starts only when the invitation is accepted, by whoever holds the link: a new user chooses a password
// then, an existing user proves theirs. So adding an address never hands another workspace's user to anyone.
// The link is e-mailed when SMTP is configured; otherwise it is logged and returned once (invite_url).

export const INVITE_TTL_MS = 7 * 86_400_000;

const roleSchema = z.enum(['admin', 'viewer']);
const idParams = z.object({ id: z.string().min(1).max(200) });
const memberParams = z.object({ id: z.string().min(1).max(200), user_id: z.string().min(1).max(200) });
const inviteBody = z.object({ email: emailSchema, role: roleSchema.default('viewer') }).strict();
const roleBody = z.object({ role: roleSchema }).strict();
const acceptBody = z.object({ token: z.string().min(1).max(200), password: newPasswordSchema, name: nameSchema.nullish() }).strict();

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function inviteMail(locale: string, workspace: string, url: string) {
  if (locale === 'zh-CN') {
    return {
      subject: `邀请你加入 balancewatch 工作区「${workspace}」`,
      text: `你被邀请加入 balancewatch 工作区「${workspace}」。\n\n打开以下链接设置密码并加入（7 天内有效）：\n${url}\n\n如果你不认识发件人，请忽略此邮件。\n`,
      html: `<p>你被邀请加入 balancewatch 工作区「${escapeHtml(workspace)}」。</p><p><a href="${escapeHtml(url)}">设置密码并加入</a>（7 天内有效）</p><p>如果你不认识发件人，请忽略此邮件。</p>`,
    };
  }
  return {
    subject: `You are invited to the balancewatch workspace "${workspace}"`,
    text: `You have been invited to the balancewatch workspace "${workspace}".\n\nOpen this link to choose a password and join (valid for 7 days):\n${url}\n\nIf you did not expect this, ignore this message.\n`,
    html: `<p>You have been invited to the balancewatch workspace “${escapeHtml(workspace)}”.</p><p><a href="${escapeHtml(url)}">Choose a password and join</a> (valid for 7 days).</p><p>If you did not expect this, ignore this message.</p>`,
  };
}

/** Where the dashboard is reached: BALANCEWATCH_PUBLIC_URL, else the address this request came to. */
function baseUrl(d: Deps, req: FastifyRequest): string {
  return (d.config.publicUrl ?? `${req.protocol}://${req.host}`).replace(/\/+$/, '');
}

export function memberRoutes(app: App, d: Deps, guard: LoginGuard): void {
  const { db } = d.store;
  const sessionOpts: SessionOptions = { publicUrl: d.config.publicUrl };
  const sync = (workspaceId: string) => syncAdminEmail({ db, box: d.box, smtp: d.config.smtp !== null }, [workspaceId]);
  const loadWorkspace = async (id: string) => {
    const w = await db.selectFrom('workspaces').select(['id', 'name', 'locale']).where('id', '=', id).executeTakeFirst();
    if (!w) throw notFound('workspace', id);
    return w;
  };
  const pendingInvites = (workspaceId: string, now: number) =>
    db
      .selectFrom('invites')
      .innerJoin('users', 'users.id', 'invites.user_id')
      .select(['invites.user_id', 'invites.role', 'invites.expires_at', 'users.email', 'users.name'])
      .where('invites.workspace_id', '=', workspaceId)
      .where('invites.accepted_at', 'is', null)
      .where('invites.expires_at', '>', now);

  app.get('/api/v1/workspaces/:id/members', { schema: { params: idParams, tags: ['members'] } }, async (req) => {
    assertWorkspaceAccess(req, req.params.id);
    await loadWorkspace(req.params.id);
    const now = Date.now();
    const [members, invites] = await Promise.all([
      db
        .selectFrom('memberships')
        .innerJoin('users', 'users.id', 'memberships.user_id')
        .select(['memberships.user_id', 'memberships.role', 'users.email', 'users.name'])
        .where('memberships.workspace_id', '=', req.params.id)
        .execute(),
      pendingInvites(req.params.id, now).execute(),
    ]);
    const joined = new Set(members.map((m) => m.user_id));
    const data = [
      ...members.map((m) => ({ user_id: m.user_id, email: m.email, name: m.name, role: m.role, invited: false })),
      ...invites
        .filter((i) => !joined.has(i.user_id))
        .map((i) => ({ user_id: i.user_id, email: i.email, name: i.name, role: i.role, invited: true, invite_expires_at: iso(i.expires_at) })),
    ].sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
    return { data };
  });

  app.post('/api/v1/workspaces/:id/members', { schema: { params: idParams, body: inviteBody, tags: ['members'] } }, async (req, reply) => {
    assertWorkspaceAccess(req, req.params.id);
    const w = await loadWorkspace(req.params.id);
    const { email, role } = req.body;
    const now = Date.now();
    let user = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    if (user) {
      const member = await db.selectFrom('memberships').select('role').where('user_id', '=', user.id).where('workspace_id', '=', w.id).executeTakeFirst();
      if (member) throw new ApiError(409, 'conflict', `${email} is a member of this workspace already (change the role with PATCH …/members/${user.id})`);
    } else {
      const fresh: UsersTable = { id: newId('usr'), email, name: null, password_hash: null, is_admin: 0, created_at: now, last_login_at: null };
      await db
        .insertInto('users')
        .values(fresh)
        .onConflict((oc) => oc.column('email').doNothing())
        .execute();
      user = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
    }
    const token = newToken();
    const invite: InvitesTable = { token_hash: hashToken(token), workspace_id: w.id, user_id: user.id, role, created_at: now, expires_at: now + INVITE_TTL_MS, accepted_at: null };
    await db.transaction().execute(async (trx) => {
      // A new invitation replaces the pending one: only the newest link works.
      await trx.deleteFrom('invites').where('workspace_id', '=', w.id).where('user_id', '=', user.id).where('accepted_at', 'is', null).execute();
      await trx.insertInto('invites').values(invite).execute();
    });
    const url = `${baseUrl(d, req)}/invite/${token}`;
    const out = { user_id: user.id, email, role, invited: true, invite_expires_at: iso(invite.expires_at) };
    const mailer = d.channelContext.mailer;
    if (mailer) {
      try {
        await mailer.send({ to: [email], ...inviteMail(w.locale, w.name, url) });
        req.log.info({ workspace_id: w.id, user_id: user.id }, 'invitation e-mailed');
        return reply.code(201).send(out);
      } catch (err) {
        // The admin can still pass the link on.
        req.log.warn({ workspace_id: w.id, user_id: user.id, err: (err as Error).message }, 'the invitation e-mail could not be sent; the link is returned instead');
      }
    } else {
      req.log.info({ workspace_id: w.id, user_id: user.id }, `SMTP is not configured: invitation link for ${email} to "${w.name}": ${url}`);
    }
    return reply.code(201).send({ ...out, invite_url: url });
  });

  app.patch('/api/v1/workspaces/:id/members/:user_id', { schema: { params: memberParams, body: roleBody, tags: ['members'] } }, async (req) => {
    assertWorkspaceAccess(req, req.params.id);
    const w = await loadWorkspace(req.params.id);
    const userId = req.params.user_id;
    const role: MemberRole = req.body.role;
    const m = await db.updateTable('memberships').set({ role }).where('workspace_id', '=', w.id).where('user_id', '=', userId).executeTakeFirst();
    const i = await db
      .updateTable('invites')
      .set({ role })
      .where('workspace_id', '=', w.id)
      .where('user_id', '=', userId)
      .where('accepted_at', 'is', null)
      .where('expires_at', '>', Date.now())
      .executeTakeFirst();
    if (Number(m.numUpdatedRows) + Number(i.numUpdatedRows) === 0) throw notFound('member', userId);
    await sync(w.id);
    const u = await db.selectFrom('users').select(['email', 'name']).where('id', '=', userId).executeTakeFirstOrThrow();
    return { user_id: userId, email: u.email, name: u.name, role, invited: Number(m.numUpdatedRows) === 0 };
  });

  app.delete('/api/v1/workspaces/:id/members/:user_id', { schema: { params: memberParams, tags: ['members'] } }, async (req, reply) => {
    assertWorkspaceAccess(req, req.params.id);
    const w = await loadWorkspace(req.params.id);
    const userId = req.params.user_id;
    const removed = await db.transaction().execute(async (trx) => {
      const m = await trx.deleteFrom('memberships').where('workspace_id', '=', w.id).where('user_id', '=', userId).executeTakeFirst();
      const i = await trx.deleteFrom('invites').where('workspace_id', '=', w.id).where('user_id', '=', userId).where('accepted_at', 'is', null).executeTakeFirst();
      return Number(m.numDeletedRows) + Number(i.numDeletedRows);
    });
    if (removed === 0) throw notFound('member', userId);
    await sync(w.id);
    return reply.code(204).send();
  });

  const invalidInvite = () =>
    new ApiError(404, 'invalid_invite', 'this invitation link is not valid: it was used already, replaced by a newer one or has expired (after 7 days); ask for a new one');

  app.post('/api/v1/invites/accept', { config: { publicRoute: true }, schema: { body: acceptBody, tags: ['members'] } }, async (req, reply) => {
    const { token, password, name } = req.body;
    if (!isTokenShaped(token)) throw invalidInvite();
    const now = Date.now();
    const invite = await db
      .selectFrom('invites')
      .innerJoin('users', 'users.id', 'invites.user_id')
      .select(['invites.token_hash', 'invites.workspace_id', 'invites.role', 'invites.expires_at', 'users.id as user_id', 'users.email', 'users.password_hash'])
      .where('invites.token_hash', '=', hashToken(token))
      .where('invites.accepted_at', 'is', null)
      .executeTakeFirst();
    if (!invite || invite.expires_at <= now) throw invalidInvite();
    if (throttle(reply, guard, req.ip, invite.email)) return reply;

    // A new user chooses the password now; an existing user (invited to one more workspace) proves theirs.
    let claimed = false;
    if (invite.password_hash === null) {
      const hash = await hashPassword(password);
      const r = await db.updateTable('users').set({ password_hash: hash }).where('id', '=', invite.user_id).where('password_hash', 'is', null).executeTakeFirst();
      claimed = Number(r.numUpdatedRows) === 1;
    }
    if (!claimed) {
      const current = await db.selectFrom('users').select('password_hash').where('id', '=', invite.user_id).executeTakeFirstOrThrow();
      if (!(await verifyPassword(password, current.password_hash))) {
        guard.failed(req.ip, invite.email);
        throw new ApiError(401, 'invalid_credentials', `${INVALID_CREDENTIALS}: ${invite.email} has an account already, so enter its password`);
      }
    }
    const accepted = await db.transaction().execute(async (trx) => {
      const r = await trx.updateTable('invites').set({ accepted_at: now }).where('token_hash', '=', invite.token_hash).where('accepted_at', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await trx
        .insertInto('memberships')
        .values({ user_id: invite.user_id, workspace_id: invite.workspace_id, role: invite.role, created_at: now })
        .onConflict((oc) => oc.columns(['user_id', 'workspace_id']).doUpdateSet({ role: invite.role }))
        .execute();
      if (name) await trx.updateTable('users').set({ name }).where('id', '=', invite.user_id).execute();
      return true;
    });
    if (!accepted) throw invalidInvite();
    guard.succeeded(invite.email);
    await sync(invite.workspace_id);
    const user = await db.selectFrom('users').selectAll().where('id', '=', invite.user_id).executeTakeFirstOrThrow();
    req.log.info({ workspace_id: invite.workspace_id, user_id: user.id }, 'invitation accepted');
    return logIn(db, req, reply, user, sessionOpts);
  });
}
