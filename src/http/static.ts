import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from './types.js';

// The dashboard (web/dist, built by `npm run build`) served by the same process at `/` (issue #6):
// - a file that exists is sent (hashed files under /assets/ cached for a year as immutable, others for an hour);
// - any other GET outside /api/ gets index.html (no-cache), so client-side routes such as /accounts/x work;
//   a missing /assets/ file or a path with a static-file extension stays a 404 (not HTML posing as a script);
// - every answer carries a strict Content-Security-Policy (no inline or foreign scripts), X-Frame-Options DENY,
//   Referrer-Policy same-origin (invite links carry a token) and X-Content-Type-Options nosniff;
// - without a build, a short page (503) says how to make one.

/** The directory holding balancewatch's package.json, from src/http (tsx, tests) or dist/http (built). */
export function packageRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'balancewatch') return dir;
    } catch {
      // no package.json here: keep going up
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(from, '..', '..');
    dir = up;
  }
}

export const DEFAULT_WEB_DIR = path.join(packageRoot(), 'web', 'dist');

export const SPA_HEADERS: Readonly<Record<string, string>> = {
  // Inline styles stay allowed (components set style attributes); scripts only from this origin, never inline.
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const STATIC_EXT = /\.(?:js|mjs|css|map|json|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|otf|txt|webmanifest|wasm)$/i;

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>balancewatch</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5">
<h1>balancewatch is running</h1>
<p>The dashboard has not been built. Run <code>npm run build</code> (it builds the API and the dashboard into
<code>web/dist</code>), then reload this page.</p>
<p>The API answers under <code>/api/v1</code>; its description is at <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
`;

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export async function installStatic(app: App, webDir: string = DEFAULT_WEB_DIR): Promise<void> {
  const root = path.resolve(webDir);
  // serve: false — only reply.sendFile (ETag, Range, streaming, traversal checks); the routing is ours.
  await app.register(fastifyStatic, { serve: false });

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const raw = req.url.split('?')[0]!;
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(raw);
    } catch {
      return reply.callNotFound();
    }
    // The API's unknown paths answer like the API: a JSON 404.
    if (urlPath === '/api' || urlPath.startsWith('/api/')) return reply.callNotFound();
    reply.headers(SPA_HEADERS);
    const index = path.join(root, 'index.html');
    if (!isFile(index)) return reply.code(503).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(NOT_BUILT);

    const file = path.join(root, urlPath);
    const rel = path.relative(root, file);
    const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    const hidden = rel.split(path.sep).some((seg) => seg.startsWith('.'));
    if (inside && !hidden && !urlPath.includes('\0') && isFile(file)) {
      const immutable = rel.startsWith(`assets${path.sep}`);
      reply.header('cache-control', rel === 'index.html' ? 'no-cache' : immutable ? IMMUTABLE : 'public, max-age=3600');
      return reply.sendFile(rel.split(path.sep).join('/'), root, { cacheControl: false });
    }
    if (urlPath.startsWith('/assets/') || STATIC_EXT.test(urlPath)) return reply.callNotFound();
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', root, { cacheControl: false });
  };
  app.get('/*', { schema: { hide: true } }, handler);
}
