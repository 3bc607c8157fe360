import type { FastifyError } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { SettingsError } from '../domain/settings.js';
import { IngestError } from '../engine/ingest.js';
import type { App } from './types.js';

// Every error leaves as {"error":{"code","message","details"}} with a message that says what to do.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) => new ApiError(404, 'not_found', `${what} "${id}" does not exist or is not visible to this API key`);

interface Issue {
  path: string;
  message: string;
}

function zodIssues(err: FastifyError): Issue[] {
  const ctx = err.validationContext ?? 'body';
  return (err.validation ?? []).map((v) => {
    const p = (v as { instancePath?: string; params?: { issue?: { path?: (string | number)[] } } }).params?.issue?.path;
    const path = Array.isArray(p) ? p.join('.') : (v.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    return { path: path ? `${ctx}.${path}` : ctx, message: v.message ?? 'invalid' };
  });
}

export function installErrorHandling(app: App): void {
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}`, details: null } });
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const send = (status: number, code: string, message: string, details: unknown = null) =>
      reply.code(status).send({ error: { code, message, details } });
    if (err instanceof ApiError) return send(err.status, err.code, err.message, err.details ?? null);
    if (err instanceof IngestError) return send(422, 'invalid_samples', err.message, err.details);
    if (err instanceof SettingsError) return send(400, 'invalid_request', err.message, [{ path: `body.${err.path}`, message: err.message }]);
    if (hasZodFastifySchemaValidationErrors(err) || err.validation) {
      const issues = zodIssues(err);
      const first = issues[0];
      return send(400, 'invalid_request', first ? `${first.path}: ${first.message}` : 'the request is invalid', issues);
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(413, 'payload_too_large', `the request body is larger than this endpoint accepts (${Math.round((req.routeOptions.bodyLimit ?? 1048576) / 1048576)} MiB)`);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(400, 'invalid_json', 'the body is empty; send a JSON object');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return send(400, 'invalid_json', `the body is not valid JSON: ${err.message}`);
    }
    if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message)))
      return send(400, 'invalid_json', `the body is not valid JSON: ${err.message}`);
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return send(err.statusCode, 'bad_request', err.message);
    req.log.error({ err }, 'unhandled error');
    return send(500, 'internal', 'an internal error occurred; it has been logged');
  });
}
