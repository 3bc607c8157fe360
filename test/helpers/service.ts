import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/env.js';
import { createLogger, createService, type Service } from '../../src/service.js';
import { type DbKind, freshPostgresUrl } from './db.js';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

export interface Running {
  url: string;
  service: Service;
  dataDir: string;
  env: Record<string, string>;
  /** fetch against the service with the admin key (or another key). */
  api(method: string, p: string, body?: unknown, key?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** Starts the real service in-process on a loopback port, on a fresh SQLite file or PostgreSQL database. */
export async function startService(db: DbKind, extraEnv: Record<string, string> = {}): Promise<Running> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bw-test-'));
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    BALANCEWATCH_DATA_DIR: dataDir,
    BALANCEWATCH_ADMIN_API_KEY: ADMIN_KEY,
    BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true',
    BALANCEWATCH_RETRY_BASE: '200ms',
    BALANCEWATCH_RETRY_MAX: '1s',
    LOG_LEVEL: process.env.BW_TEST_LOG ?? 'silent',
    ...(db === 'postgres' ? { DATABASE_URL: await freshPostgresUrl() } : {}),
    ...extraEnv,
  };
  const config = loadConfig(env);
  const service = await createService(config, { logger: createLogger(config.logLevel) });
  const url = await service.listen();
  return {
    url,
    service,
    dataDir,
    env,
    async api(method, p, body, key = ADMIN_KEY) {
      const headers: Record<string, string> = {};
      if (key) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(url + p, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await service.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
