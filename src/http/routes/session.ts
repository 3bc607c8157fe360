import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { newId } from '../../domain/ids.js';
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, needsRehash, verifyPassword, warmPasswordCheck } from '../../security/passwords.js';
import { safeEqual } from '../../security/api-keys.js';
import { isUniqueViolation } from '../../store/errors.js';
import type { Database, UsersTable } from '../../store/schema.js';
import { ApiError } from '../errors.js';
import { parseCookies } from '../cookies.js';
import type { LoginGuard } from '../login-limiter.js';
import {
  clearSessionCookie,
  createSession,
  deleteSession,
  findSession,
  SESSION_COOKIE,
  sessionBody,
  type SessionOptions,
  setSessionCookie,
} from '../sessions.js';
import type { App, Deps } from '../types.js';

// The dashboard's first-run setup and login (issue #6):
//   GET|POST /api/v1/setup     the first instance admin, while there is none (public)
//   POST /api/v1/session       log in: e-mail + password → session cookie (public, throttled)
//   GET /api/v1/session        who is logged in, their workspaces and the CSRF token
//   DELETE /api/v1/session     log out (public: also clears a stale cookie)
// Login CSRF: these public POSTs accept only application/json (http/app.ts), which a cross-site form cannot send
// and a cross-site script cannot send without a CORS preflight this server never grants.

/** An e-mail address as stored: trimmed and lower-cased. */
export const emailSchema = z
  .string()
  .trim()
  .max(254)
  .toLowerCase()
  .pipe(z.email({ pattern: z.regexes.html5Email, error: 'not a valid e-mail address' }));
export const newPasswordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `the password needs at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH, `the password may have at most ${MAX_PASSWORD_LENGTH} characters`);
export const nameSchema = z.string().trim().min(1).max(200);

const setupBody = z.object({ email: emailSchema, password: newPasswordSchema, name: nameSchema.nullish() }).strict();
const loginBody = z
  .object({
    email: z.string().trim().min(1).max(254).toLowerCase(),
    password: z.string().min(1).max(MAX_PASSWORD_LENGTH),
  })
  .strict();

/** The key of the meta row that marks the first admin as created (two concurrent setups: one wins). */
const FIRST_ADMIN = 'first_admin';
export const INVALID_CREDENTIALS = 'the e-mail address or the password is wrong';

async function adminExists(db: Kysely<Database>): Promise<boolean> {
  return (await db.selectFrom('users').select('id').where('is_admin', '=', 1).limit(1).executeTakeFirst()) !== undefined;
}

/**
 * Creates the first instance admin, or makes an existing password-less (invited) user with that address the admin.
 * Returns null when an instance admin exists already.
 */
export async function createFirstAdmin(db: Kysely<Database>, email: string, passwordHash: string, name: string | null, now = Date.now()): Promise<UsersTable | null> {
  return db.transaction().execute(async (trx) => {
    // Writing the marker row first serialises concurrent setups (PostgreSQL locks the row until commit; SQLite runs
    // one write transaction at a time), so the check below sees an admin another setup has just created.
    await trx
      .insertInto('meta')
      .values({ key: FIRST_ADMIN, value: String(now) })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(now) }))
      .execute();
    if (await adminExists(trx)) return null;
    const existing = await trx.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    if (existing) {
      if (existing.password_hash !== null) throw new ApiError(409, 'conflict', 'a user with this e-mail address exists already');
      await trx.updateTable('users').set({ password_hash: passwordHash, is_admin: 1, name: name ?? existing.name }).where('id', '=', existing.id).execute();
      return { ...existing, password_hash: passwordHash, is_admin: 1, name: name ?? existing.name };
    }
    const user: UsersTable = { id: newId('usr'), email, name, password_hash: passwordHash, is_admin: 1, created_at: now, last_login_at: null };
    await trx.insertInto('users').values(user).execute();
    return user;
  });
}

/** Starts a session, sets the cookie and answers with the session body. */
export async function logIn(db: Kysely<Database>, req: FastifyRequest, reply: FastifyReply, user: UsersTable, opts: SessionOptions, status = 200) {
  const now = Date.now();
  const { sid, csrfToken } = await createSession(db, user.id, now);
  await db.updateTable('users').set({ last_login_at: now }).where('id', '=', user.id).execute();
  setSessionCookie(req, reply, sid, opts);
  return reply.code(status).send(await sessionBody(db, { ...user, last_login_at: now }, csrfToken));
}

/** 429 with Retry-After when the guard says so; otherwise nothing. */
export function throttle(reply: FastifyReply, guard: LoginGuard, ip: string, email: string): boolean {
  const wait = guard.retryAfter(ip, email);
  if (wait === 0) return false;
  const minutes = Math.ceil(wait / 60);
  reply
    .code(429)
    .header('retry-after', String(wait))
    .send({
      error: {
        code: 'rate_limited',
        message: `too many failed attempts: try again in ${minutes} minute${minutes === 1 ? '' : 's'}`,
        details: { retry_after_seconds: wait },
      },
    });
  return true;
}

export function sessionRoutes(app: App, d: Deps, guard: LoginGuard): void {
  const { db } = d.store;
  const opts: SessionOptions = { publicUrl: d.config.publicUrl };
  warmPasswordCheck();

  app.get('/api/v1/setup', { config: { publicRoute: true }, schema: { tags: ['session'] } }, async () => ({ setup_required: !(await adminExists(db)) }));

  app.post('/api/v1/setup', { config: { publicRoute: true }, schema: { body: setupBody, tags: ['session'] } }, async (req, reply) => {
    const already = () => new ApiError(409, 'already_set_up', 'balancewatch is set up already: log in (POST /api/v1/session)');
    if (await adminExists(db)) throw already();
    const b = req.body;
    const user = await createFirstAdmin(db, b.email, await hashPassword(b.password), b.name ?? null);
    if (!user) throw already();
    req.log.info({ user_id: user.id }, 'first dashboard admin created');
    return logIn(db, req, reply, user, opts, 201);
  });

  app.post('/api/v1/session', { config: { publicRoute: true }, schema: { body: loginBody, tags: ['session'] } }, async (req, reply) => {
    const { email, password } = req.body;
    if (throttle(reply, guard, req.ip, email)) return reply;
    const user = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    // Unknown addresses cost a full hash too (verifyPassword), and get the same answer.
    if (!(await verifyPassword(password, user?.password_hash)) || !user) {
      guard.failed(req.ip, email);
      throw new ApiError(401, 'invalid_credentials', INVALID_CREDENTIALS);
    }
    guard.succeeded(email);
    if (user.password_hash && needsRehash(user.password_hash))
      await db.updateTable('users').set({ password_hash: await hashPassword(password) }).where('id', '=', user.id).execute();
    return logIn(db, req, reply, user, opts);
  });

  app.get('/api/v1/session', { schema: { tags: ['session'] } }, async (req) => {
    const s = req.authSession;
    if (!s) throw new ApiError(401, 'unauthorized', 'not logged in: this is the dashboard session (POST /api/v1/session logs in); API keys have none');
    const user = await db.selectFrom('users').selectAll().where('id', '=', s.userId).executeTakeFirstOrThrow();
    return sessionBody(db, user, s.csrfToken);
  });

  // Public so that a stale or already-ended session can still clear its cookie; a live one needs its CSRF token.
  app.delete('/api/v1/session', { config: { publicRoute: true }, schema: { tags: ['session'] } }, async (req, reply) => {
    const sid = req.headers.authorization === undefined ? parseCookies(req.headers.cookie).get(SESSION_COOKIE) : undefined;
    const s = sid ? await findSession(db, sid) : null;
    if (s) {
      const token = req.headers['x-csrf-token'];
      if (typeof token !== 'string' || !safeEqual(token, s.csrfToken))
        throw new ApiError(403, 'csrf', 'missing or wrong X-CSRF-Token header: send the csrf_token of GET /api/v1/session with every change');
      await deleteSession(db, s.idHash);
    }
    clearSessionCookie(req, reply, opts);
    return reply.code(204).send();
  });
}

/** BALANCEWATCH_ADMIN_EMAIL + BALANCEWATCH_ADMIN_PASSWORD at start: the admin is created once, never updated. */
export async function ensureEnvAdmin(
  db: Kysely<Database>,
  admin: { email: string; password: string },
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void },
): Promise<void> {
  const existing = await db.selectFrom('users').select(['id', 'is_admin', 'password_hash']).where('email', '=', admin.email).executeTakeFirst();
  if (existing) {
    if (existing.is_admin !== 1)
      log.warn({ user_id: existing.id }, 'BALANCEWATCH_ADMIN_EMAIL names an existing user who is not an instance admin: left unchanged');
    return;
  }
  const hash = await hashPassword(admin.password);
  const now = Date.now();
  try {
    await db.insertInto('users').values({ id: newId('usr'), email: admin.email, name: null, password_hash: hash, is_admin: 1, created_at: now, last_login_at: null }).execute();
  } catch (err) {
    if (isUniqueViolation(err)) return; // another instance starting at the same time created it
    throw err;
  }
  await db
    .insertInto('meta')
    .values({ key: FIRST_ADMIN, value: String(now) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  log.info({}, 'dashboard admin created from BALANCEWATCH_ADMIN_EMAIL');
}
