import { Command, type CommanderError } from 'commander';
import pino, { type Logger } from 'pino';
import { closeChannelMailers, createMailer } from '../channels/mailer.js';
import { channelRegistry } from '../channels/registry.js';
import { ChannelConfigError, checkChannelFields, resolveChannelType } from '../channels/resolve.js';
import { type AppConfig, ConfigError, loadConfig } from '../config/env.js';
import { applyConfig, type ConfigSpec, formatPath, formatProblem, validateConfigFile } from '../config/file.js';
import { LOCALES } from '../domain/fields.js';
import { sendChannelTest, sendUnstoredTest, type TestResult } from '../engine/test-send.js';
import { createApiKey } from '../http/routes/workspaces.js';
import { createHttpClient } from '../net/http-client.js';
import { createLogger, createService, REDACT_PATHS, type Service } from '../service.js';
import { migrate, openStore } from '../store/db.js';
import { formatSummary, formatTable, runCheck } from './check.js';

// `balancewatch <command>`: serve, check, notify test, config validate, migrate, apikey create. Errors print one
// clear line; bad input exits 2.

/** Writes to stdout and waits until it is flushed (a pipe is asynchronous; process.exit would cut it). */
function out(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`, () => resolve()));
}

function err(text: string): Promise<void> {
  return new Promise((resolve) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`, () => resolve()));
}

/** Exits with `code`; callers flush their output (out / err) and close what they opened first. */
function exitWith(code: number): never {
  process.exit(code);
}

/**
 * Reads and validates a config file; on problems prints each as FILE:LINE:COL path: message (stderr) and exits 2.
 */
async function loadConfigFileOrExit(file: string): Promise<ConfigSpec> {
  const check = validateConfigFile(file);
  if (check.config) return check.config;
  await err(check.problems.map(formatProblem).join('\n'));
  await err(`${file}: ${check.problems.length} problem${check.problems.length === 1 ? '' : 's'}; nothing was started`);
  return exitWith(2);
}

/** One-shot commands log to stderr (stdout is the command's output), errors only unless LOG_LEVEL is set. */
function cliLogger(config: AppConfig): Logger {
  const level = process.env.LOG_LEVEL ? config.logLevel : 'error';
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ dest: 2, sync: true }));
}

const program = new Command()
  .name('balancewatch')
  .description('Watches AI API balances and alerts before they run dry.')
  .showHelpAfterError()
  // Usage errors (unknown option, missing argument) are bad input: exit 2, like every other bad input.
  .exitOverride((e: CommanderError) => process.exit(e.exitCode === 0 ? 0 : 2));

program
  .command('serve')
  .description('run the API, the dashboard and the notifier')
  .option('--config <file>', 'apply this config file (workspaces, accounts, channels) at start', process.env.BALANCEWATCH_CONFIG || undefined)
  .action(async (opts: { config?: string }) => {
    const config = loadConfig();
    const file = opts.config ? await loadConfigFileOrExit(opts.config) : null;
    const service = await createService(config);
    if (file) {
      try {
        await applyConfig(service.store, service.box, file, { logger: service.logger });
      } catch (e) {
        await service.close();
        throw e;
      }
    }
    const url = await service.listen();
    service.logger.info({ url, database: service.store.dialect }, `balancewatch listening on ${url}`);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      service.logger.info({ signal }, 'shutting down: finishing in-flight deliveries');
      const force = setTimeout(() => process.exit(1), 30_000);
      force.unref();
      await service.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const config = loadConfig();
    const store = openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      const applied = await migrate(store);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    } finally {
      await store.close();
    }
  });

const apikey = program.command('apikey').description('manage API keys');
apikey
  .command('create')
  .description('create an API key (printed once); without --workspace it is an instance admin key')
  .option('--workspace <id>', 'workspace id or external id the key is limited to')
  .option('--name <name>', 'a label for the key', 'cli')
  .option('--json', 'print JSON')
  .action(async (opts: { workspace?: string; name: string; json?: boolean }) => {
    const config = loadConfig();
    const store = openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      await migrate(store);
      let workspaceId: string | null = null;
      if (opts.workspace) {
        const w = await store.db
          .selectFrom('workspaces')
          .select('id')
          .where((eb) => eb.or([eb('id', '=', opts.workspace!), eb('external_id', '=', opts.workspace!)]))
          .executeTakeFirst();
        if (!w) throw new ConfigError(`no workspace "${opts.workspace}" (give its id or external id)`);
        workspaceId = w.id;
      }
      const created = await createApiKey({ store }, workspaceId, opts.name);
      if (opts.json) console.log(JSON.stringify(created));
      else {
        console.log(created.key);
        console.error(`created ${workspaceId ? `a key for workspace ${workspaceId}` : 'an instance admin key'} (id ${created.id}); it is shown only once`);
      }
    } finally {
      await store.close();
    }
  });

program
  .command('check')
  .description('poll every account once, send the notifications that causes, print the balances (for cron); exit 0 ok, 1 alerting, 2 errors')
  .option('--config <file>', 'apply this config file first', process.env.BALANCEWATCH_CONFIG || undefined)
  .option('--json', 'print JSON (an array, one object per account)')
  .option('--workspace <id>', 'only this workspace (id or external id)')
  .action(async (opts: { config?: string; json?: boolean; workspace?: string }) => {
    const config = loadConfig();
    const file = opts.config ? await loadConfigFileOrExit(opts.config) : null;
    const logger = cliLogger(config);
    const service = await createService(config, { logger, dispatch: false });
    let code: number;
    try {
      if (file) await applyConfig(service.store, service.box, file, { logger });
      let workspaceId: string | undefined;
      if (opts.workspace) {
        const w = await service.store.db
          .selectFrom('workspaces')
          .select('id')
          .where((eb) => eb.or([eb('id', '=', opts.workspace!), eb('external_id', '=', opts.workspace!)]))
          .executeTakeFirst();
        if (!w) throw new ConfigError(`no workspace "${opts.workspace}" (give its id or external id)`);
        workspaceId = w.id;
      }
      const result = await runCheck(service, { workspaceId, concurrency: config.poll.concurrency });
      if (opts.json) await out(JSON.stringify(result.rows, null, 2));
      else {
        const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
        if (result.rows.length === 0) await out('no accounts to check');
        else await out(formatTable(result.rows, { color }));
        await out(formatSummary(result));
      }
      code = result.exitCode;
    } finally {
      await service.close();
    }
    exitWith(code);
  });

const notify = program.command('notify').description('notification channels');
notify
  .command('test')
  .description('send a test message to a stored channel (ch_…) or to a channel URL (no database needed)')
  .argument('<target>', 'a channel id (ch_…), a webhook URL or an Apprise-style URL (dingtalk://…, tgram://…, json://…)')
  .option('--message <text>', 'a line of text to include in the test message')
  .option('--locale <locale>', `the message language: ${LOCALES.join(' or ')}`)
  .option('--json', 'print {ok, status, response, error} as JSON')
  .action(async (target: string, opts: { message?: string; locale?: string; json?: boolean }) => {
    if (opts.locale !== undefined && !(LOCALES as readonly string[]).includes(opts.locale))
      throw new ConfigError(`--locale must be ${LOCALES.join(' or ')}, not "${opts.locale}"`);
    if (opts.message !== undefined && opts.message.length > 1000) throw new ConfigError('--message is limited to 1000 characters');
    const config = loadConfig();
    const testOpts = { message: opts.message, locale: opts.locale, dashboardUrl: config.publicUrl ?? null };
    let result: TestResult;
    let channel: string;
    if (/^ch_[A-Za-z0-9_-]+$/.test(target)) {
      const service = await createService(config, { logger: cliLogger(config), dispatch: false });
      try {
        const c = await service.store.db.selectFrom('channels').selectAll().where('id', '=', target).executeTakeFirst();
        if (!c) throw new ConfigError(`no channel "${target}" in this database (check BALANCEWATCH_DATA_DIR / DATABASE_URL)`);
        const w = await service.store.db.selectFrom('workspaces').selectAll().where('id', '=', c.workspace_id).executeTakeFirstOrThrow();
        channel = `${c.type} channel "${c.name}"`;
        result = await sendChannelTest(
          { db: service.store.db, dialect: service.store.dialect, box: service.box, channels: channelRegistry, ctx: service.channelContext },
          c,
          w,
          testOpts,
        );
      } finally {
        await service.close();
      }
    } else {
      const fields: Record<string, unknown> = { url: target };
      let type;
      try {
        type = resolveChannelType(channelRegistry, undefined, fields);
      } catch (e) {
        if (e instanceof ChannelConfigError) throw new ConfigError(`${target.includes('://') ? 'this URL' : `"${target}"`} cannot be used: ${e.message}`);
        throw e;
      }
      const checked = checkChannelFields(type, fields);
      if (!checked.ok) {
        const problems = checked.issues.map((i) => `${formatPath(i.path as Array<string | number>) || type.type}: ${i.message}`);
        throw new ConfigError(`this URL does not make a usable ${type.label} channel: ${problems.join('; ')}`);
      }
      channel = `${type.label}`;
      result = await withChannelContext(config, (ctx) =>
        sendUnstoredTest(type, checked.data, { id: 'ws_cli', name: 'balancewatch', external_id: null, locale: 'en', time_zone: 'UTC' }, testOpts, ctx),
      );
    }
    if (opts.json) await out(JSON.stringify({ ok: result.ok, status: result.status, response: result.response, error: result.error, channel }));
    else {
      const status = result.status !== null ? ` (HTTP ${result.status})` : '';
      if (result.ok) await out(`ok${status}${result.response ? `: ${result.response}` : ''}`);
      else await out(`failed${status}: ${result.error ?? 'the channel reported a failure'}`);
    }
    exitWith(result.ok ? 0 : 1);
  });

const configCmd = program.command('config').description('config as code');
configCmd
  .command('validate')
  .description('check a config file (every problem with its line and path); needs no database')
  .argument('<file>', 'the YAML config file')
  .action(async (file: string) => {
    const check = validateConfigFile(file);
    if (check.problems.length > 0) {
      await out(check.problems.map(formatProblem).join('\n'));
      await err(`${file}: ${check.problems.length} problem${check.problems.length === 1 ? '' : 's'}`);
      exitWith(2);
    }
    const c = check.counts;
    await out(`${file}: ok (${c.workspaces} workspace${c.workspaces === 1 ? '' : 's'}, ${c.accounts} account${c.accounts === 1 ? '' : 's'}, ${c.channels} channel${c.channels === 1 ? '' : 's'})`);
    exitWith(0);
  });

/** A channel context without a service (nothing stored): outbound HTTP client and, when configured, SMTP. */
async function withChannelContext<T>(config: AppConfig, fn: (ctx: Service['channelContext']) => Promise<T>): Promise<T> {
  const http = createHttpClient({ allowPrivateTargets: config.allowPrivateTargets, timeoutMs: config.outboundTimeoutMs });
  const mailer = config.smtp ? createMailer(config.smtp.url, config.smtp.from) : null;
  try {
    return await fn({ http, mailer, now: Date.now, allowPrivateTargets: config.allowPrivateTargets });
  } finally {
    await http.close();
    mailer?.close();
    closeChannelMailers();
  }
}

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) console.error(`balancewatch: ${e.message}`);
  else {
    const logger = createLogger('error');
    logger.error({ err: e }, 'balancewatch failed');
    console.error(`balancewatch: ${(e as Error).message}`);
  }
  process.exit(2);
});
