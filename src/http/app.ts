import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { installAuth } from './auth.js';
import { installErrorHandling } from './errors.js';
import { accountRoutes } from './routes/accounts.js';
import { alertRoutes } from './routes/alerts.js';
import { balanceRoutes } from './routes/balances.js';
import { channelRoutes } from './routes/channels.js';
import { workspaceRoutes } from './routes/workspaces.js';
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
  installAuth(app, d.store.db, d.config.adminApiKey);

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
  return app;
}
