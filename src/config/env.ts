import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';

// Every setting the process reads from its environment (SPEC §7.1), validated once at start.

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const duration = (name: string) =>
  z.string().transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a duration such as 30s, 10m or 24h` });
      return z.NEVER;
    }
    return ms;
  });

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  BALANCEWATCH_DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must start with postgres:// or postgresql://')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  BALANCEWATCH_ADMIN_API_KEY: z.string().min(16, 'BALANCEWATCH_ADMIN_API_KEY must be at least 16 characters').optional(),
  BALANCEWATCH_SECRET_KEY: z.string().min(16, 'BALANCEWATCH_SECRET_KEY must be at least 16 characters').optional(),
  BALANCEWATCH_ALLOW_PRIVATE_TARGETS: bool.default(false),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'SMTP_URL must start with smtp:// or smtps://')
    .optional(),
  SMTP_FROM: z.string().optional(),
  BALANCEWATCH_PUBLIC_URL: z.string().url().optional(),
  // The first dashboard admin (SPEC §7.1), created at start when no user has this e-mail yet.
  BALANCEWATCH_ADMIN_EMAIL: z
    .email({ pattern: z.regexes.html5Email, error: 'BALANCEWATCH_ADMIN_EMAIL must be an e-mail address' })
    .max(254)
    .optional(),
  BALANCEWATCH_ADMIN_PASSWORD: z
    .string()
    .min(10, 'BALANCEWATCH_ADMIN_PASSWORD must be at least 10 characters')
    .max(1024, 'BALANCEWATCH_ADMIN_PASSWORD must be at most 1024 characters')
    .optional(),
  /** The built dashboard (default: web/dist in the package). */
  BALANCEWATCH_WEB_DIR: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BALANCEWATCH_DELIVERY_GIVE_UP: duration('BALANCEWATCH_DELIVERY_GIVE_UP').default(24 * 3_600_000),
  BALANCEWATCH_RETRY_BASE: duration('BALANCEWATCH_RETRY_BASE').default(2_000),
  BALANCEWATCH_RETRY_MAX: duration('BALANCEWATCH_RETRY_MAX').default(10 * 60_000),
  BALANCEWATCH_DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(64),
  BALANCEWATCH_OUTBOUND_TIMEOUT: duration('BALANCEWATCH_OUTBOUND_TIMEOUT').default(10_000),
  BALANCEWATCH_RAW_HISTORY: duration('BALANCEWATCH_RAW_HISTORY').default(30 * 86_400_000),
  BALANCEWATCH_POLL_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
  BALANCEWATCH_POLL_TIMEOUT: duration('BALANCEWATCH_POLL_TIMEOUT').default(10_000),
  BALANCEWATCH_POLL_HOST_LIMIT: z
    .string()
    .regex(/^\d+\/\d+(ms|s|m|h)$/, 'BALANCEWATCH_POLL_HOST_LIMIT must look like 60/180s (requests per window)')
    .default('60/180s'),
});

export interface AppConfig {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  adminApiKey: string | undefined;
  secretKey: string | undefined;
  allowPrivateTargets: boolean;
  smtp: { url: string; from: string } | null;
  publicUrl: string | undefined;
  /** BALANCEWATCH_ADMIN_EMAIL + BALANCEWATCH_ADMIN_PASSWORD: the first dashboard admin, created at start. */
  dashboardAdmin: { email: string; password: string } | null;
  /** BALANCEWATCH_WEB_DIR, absolute; undefined = the package's web/dist. */
  webDir: string | undefined;
  logLevel: string;
  delivery: { giveUpMs: number; retryBaseMs: number; retryMaxMs: number; concurrency: number };
  outboundTimeoutMs: number;
  /** How long samples are kept raw before being downsampled to one per hour. */
  rawHistoryMs: number;
  poll: { concurrency: number; timeoutMs: number; hostLimit: { count: number; windowMs: number } };
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.SMTP_URL && !e.SMTP_FROM) throw new ConfigError('SMTP_URL is set but SMTP_FROM is not: set the sender address');
  if (!e.BALANCEWATCH_ADMIN_EMAIL !== !e.BALANCEWATCH_ADMIN_PASSWORD)
    throw new ConfigError('set both BALANCEWATCH_ADMIN_EMAIL and BALANCEWATCH_ADMIN_PASSWORD (the first dashboard admin), or neither');
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.BALANCEWATCH_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    adminApiKey: e.BALANCEWATCH_ADMIN_API_KEY,
    secretKey: e.BALANCEWATCH_SECRET_KEY,
    allowPrivateTargets: e.BALANCEWATCH_ALLOW_PRIVATE_TARGETS,
    smtp: e.SMTP_URL && e.SMTP_FROM ? { url: e.SMTP_URL, from: e.SMTP_FROM } : null,
    publicUrl: e.BALANCEWATCH_PUBLIC_URL,
    dashboardAdmin:
      e.BALANCEWATCH_ADMIN_EMAIL && e.BALANCEWATCH_ADMIN_PASSWORD
        ? { email: e.BALANCEWATCH_ADMIN_EMAIL.trim().toLowerCase(), password: e.BALANCEWATCH_ADMIN_PASSWORD }
        : null,
    webDir: e.BALANCEWATCH_WEB_DIR ? path.resolve(e.BALANCEWATCH_WEB_DIR) : undefined,
    logLevel: e.LOG_LEVEL,
    delivery: {
      giveUpMs: e.BALANCEWATCH_DELIVERY_GIVE_UP,
      retryBaseMs: e.BALANCEWATCH_RETRY_BASE,
      retryMaxMs: e.BALANCEWATCH_RETRY_MAX,
      concurrency: e.BALANCEWATCH_DISPATCH_CONCURRENCY,
    },
    outboundTimeoutMs: e.BALANCEWATCH_OUTBOUND_TIMEOUT,
    rawHistoryMs: e.BALANCEWATCH_RAW_HISTORY,
    poll: {
      concurrency: e.BALANCEWATCH_POLL_CONCURRENCY,
      timeoutMs: e.BALANCEWATCH_POLL_TIMEOUT,
      hostLimit: {
        count: Math.max(1, Number(e.BALANCEWATCH_POLL_HOST_LIMIT.split('/')[0])),
        windowMs: parseDuration(e.BALANCEWATCH_POLL_HOST_LIMIT.split('/')[1]!) ?? 180_000,
      },
    },
  };
}
