import pino, { type Logger } from 'pino';
import type { AppConfig } from './config/env.js';
import { ConfigError } from './config/env.js';
import { closeChannelMailers, createMailer } from './channels/mailer.js';
import { channelRegistry } from './channels/registry.js';
import { syncAdminEmail } from './engine/admin-email.js';
import { HostLimiter } from './engine/host-limiter.js';
import { checkPushSilence, Poller } from './engine/poller.js';
import { sourceRegistry } from './sources/registry.js';
import type { ChannelContext } from './channels/types.js';
import { Dispatcher } from './engine/dispatcher.js';
import { sendDueReminders } from './engine/reevaluate.js';
import { Periodic } from './engine/periodic.js';
import { downsampleHistory } from './engine/retention.js';
import { buildHttpApp } from './http/app.js';
import { ensureEnvAdmin } from './http/routes/session.js';
import type { App } from './http/types.js';
import { Metrics } from './metrics.js';
import { createHttpClient } from './net/http-client.js';
import { SecretBox } from './security/secrets.js';
import { migrate, openStore, type Store } from './store/db.js';

// The composition root: one place that wires config, store, secrets, outbound clients, engine and HTTP.

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.secret',
  '*.password',
  '*.token',
  '*.api_key',
  '*.access_token',
  '*.key',
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}

export interface Service {
  app: App;
  store: Store;
  dispatcher: Dispatcher;
  poller: Poller;
  logger: Logger;
  /** Encrypts stored secrets (config as code applies sources and channels with it). */
  box: SecretBox;
  /** What channels send with (the CLI's `notify test`). */
  channelContext: ChannelContext;
  /** Listens on config.port/host; returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Checks that the secret key is the one existing secrets were encrypted with. */
async function checkSecretKey(store: Store, box: SecretBox): Promise<void> {
  const fp = box.fingerprint();
  const row = await store.db.selectFrom('meta').select('value').where('key', '=', 'secret_key_fingerprint').executeTakeFirst();
  if (!row) {
    await store.db
      .insertInto('meta')
      .values({ key: 'secret_key_fingerprint', value: fp })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    return;
  }
  if (row.value !== fp)
    throw new ConfigError(
      'the secret key does not match the one this database was set up with, so stored secrets cannot be decrypted: ' +
        'set BALANCEWATCH_SECRET_KEY to the original key (or restore secret.key in the data directory)',
    );
}

export async function createService(config: AppConfig, opts: { logger?: Logger; dispatch?: boolean } = {}): Promise<Service> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const store = openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(store);
    let box: SecretBox;
    if (config.secretKey) box = SecretBox.fromText(config.secretKey);
    else {
      const k = SecretBox.fromKeyFile(config.dataDir);
      if (k.created) logger.warn({ file: k.file }, 'generated a new secret key for stored secrets; back it up (or set BALANCEWATCH_SECRET_KEY)');
      if (config.databaseUrl)
        logger.warn('BALANCEWATCH_SECRET_KEY is not set: every instance sharing this PostgreSQL needs the same key, so set it explicitly');
      box = k.box;
    }
    await checkSecretKey(store, box);
    // The dashboard: the first admin from the environment (once), and every workspace's admin e-mail channel in
    // line with the members and with whether SMTP is configured now.
    if (config.dashboardAdmin) await ensureEnvAdmin(store.db, config.dashboardAdmin, logger);
    await syncAdminEmail({ db: store.db, box, smtp: config.smtp !== null }, 'all');

    const metrics = new Metrics(store.db);
    const http = createHttpClient({ allowPrivateTargets: config.allowPrivateTargets, timeoutMs: config.outboundTimeoutMs });
    const mailer = config.smtp ? createMailer(config.smtp.url, config.smtp.from) : null;
    const channelContext: ChannelContext = { http, mailer, now: Date.now, allowPrivateTargets: config.allowPrivateTargets };
    const dispatcher = new Dispatcher({
      db: store.db,
      dialect: store.dialect,
      channels: channelRegistry,
      box,
      ctx: channelContext,
      metrics,
      logger,
      retry: { baseMs: config.delivery.retryBaseMs, maxMs: config.delivery.retryMaxMs, giveUpMs: config.delivery.giveUpMs },
      concurrency: config.delivery.concurrency,
      dashboardUrl: config.publicUrl ?? null,
      // Longer than one send can take (the outbound deadline) plus recording its result.
      leaseMs: config.outboundTimeoutMs * 2 + 10_000,
    });
    const poller = new Poller({
      db: store.db,
      dialect: store.dialect,
      sources: sourceRegistry,
      box,
      http,
      logger,
      metrics,
      onQueued: () => dispatcher.wake(),
      concurrency: config.poll.concurrency,
      hosts: new HostLimiter(config.poll.hostLimit),
      timeoutMs: config.poll.timeoutMs,
    });
    const app = await buildHttpApp({ config, store, box, metrics, logger, dispatcher, channels: channelRegistry, channelContext, sources: sourceRegistry, poller });

    const tasks = [
      new Periodic('reminder sweep', 5_000, async () => {
        if ((await sendDueReminders(store.db, store.dialect, Date.now())) > 0) dispatcher.wake();
      }, logger),
      // Push accounts silent for longer than their expected_every: source.failing.
      new Periodic('push silence check', 15_000, async () => {
        if ((await checkPushSilence(store.db, store.dialect, Date.now())) > 0) dispatcher.wake();
      }, logger),
      // Downsampling old history: a batch of day-slices per minute until caught up.
      new Periodic('downsampling sample history', 60_000, async () => {
        await downsampleHistory(store.db, Date.now(), config.rawHistoryMs);
      }, logger),
    ];

    let closed = false;
    return {
      app,
      store,
      dispatcher,
      poller,
      logger,
      box,
      channelContext,
      async listen() {
        const url = await app.listen({ port: config.port, host: config.host });
        if (opts.dispatch !== false) {
          dispatcher.start();
          poller.start();
          for (const t of tasks) t.start();
        }
        return url.replace('0.0.0.0', '127.0.0.1');
      },
      async close() {
        if (closed) return;
        closed = true;
        for (const t of tasks) t.stop();
        await app.close();
        await poller.stop();
        await dispatcher.stop();
        await http.close();
        mailer?.close();
        closeChannelMailers();
        await store.close();
      },
    };
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}
