import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { installAuth } from './auth.js';
import { ApiError, installErrorHandling } from './errors.js';
import { accountRoutes } from './routes/accounts.js';
import { alertRoutes } from './routes/alerts.js';
import { balanceRoutes } from './routes/balances.js';
import { channelRoutes } from './routes/channels.js';
import { LoginGuard } from './login-limiter.js';
import { historyRoutes } from './routes/history.js';
import { hookRoutes } from './routes/hooks.js';
import { memberRoutes } from './routes/members.js';
import { sessionRoutes } from './routes/session.js';
import { workspaceRoutes } from './routes/workspaces.js';
import { installStatic } from './static.js';
import type { App, Deps } from './types.js';

export async function buildHttpApp(d: Deps): Promise<App> {
  const app = Fastify({
    loggerInstance: d.logger as unknown as FastifyBaseLogger,
    // Per-request lines would drown the log at ingest rates; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);
  installAuth(app, d.store.db, d.config.adminApiKey, { publicUrl: d.config.publicUrl });
  // The API speaks JSON only: a text/plain body would reach the schemas as a string and fail with a puzzling
  // "expected object" instead of a clear 415.
  app.removeContentTypeParser('text/plain');
  // Our own JSON parser, for messages that say where the JSON breaks and that a forbidden key is not "invalid JSON".
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(new ApiError(400, 'invalid_json', 'the body is empty; send a JSON object'), undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return done(new ApiError(400, 'invalid_json', `the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
    if (/"(?:__proto__|constructor)"\s*:/.test(text) && hasForbiddenKey(value))
      return done(new ApiError(400, 'invalid_request', 'the body contains a forbidden key ("__proto__" or "constructor.prototype")'), undefined);
    done(null, value);
  });
  // No name, id or setting legitimately contains U+0000, and PostgreSQL text cannot store it (that would be a 500).
  app.addHook('preValidation', async (req) => {
    for (const [where, value] of [['params', req.params], ['querystring', req.query], ['body', req.body]] as const) {
      const path = nulBytePath(value, where);
      if (path) throw new ApiError(400, 'invalid_request', `${path}: text cannot contain the NUL character (\\u0000)`, [{ path, message: 'contains U+0000' }]);
    }
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'balancewatch API', version: '1', description: 'Low-balance alerting for AI API accounts.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', d.metrics.registry.contentType);
    return d.metrics.registry.metrics();
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  workspaceRoutes(app, d);
  accountRoutes(app, d);
  channelRoutes(app, d);
  balanceRoutes(app, d);
  alertRoutes(app, d);
  hookRoutes(app, d);
  // The dashboard: login and members (one failed-login guard for both), chart data, and the built SPA at `/`.
  const loginGuard = new LoginGuard();
  sessionRoutes(app, d, loginGuard);
  memberRoutes(app, d, loginGuard);
  historyRoutes(app, d);
  await installStatic(app, d.config.webDir);
  return app;
}

/** The path of the first string (value or key) holding U+0000, or null. Iterative: bodies may nest deeply. */
function nulBytePath(root: unknown, base: string): string | null {
  if (typeof root === 'string') return root.includes('\0') ? base : null;
  const stack: [object, string][] = root !== null && typeof root === 'object' ? [[root, base]] : [];
  while (stack.length > 0) {
    const [obj, path] = stack.pop()!;
    for (const [k, v] of Object.entries(obj)) {
      if (k.includes('\0') || (typeof v === 'string' && v.includes('\0'))) return `${path}.${k}`;
      if (v !== null && typeof v === 'object') stack.push([v, `${path}.${k}`]);
    }
  }
  return null;
}

/** Keys that would pollute prototypes if the body were ever merged into an object. Iterative: bodies may nest deeply. */
function hasForbiddenKey(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    for (const [k, child] of Object.entries(v)) {
      if (k === '__proto__') return true;
      if (k === 'constructor' && child !== null && typeof child === 'object' && 'prototype' in child) return true;
      stack.push(child);
    }
  }
  return false;
}
