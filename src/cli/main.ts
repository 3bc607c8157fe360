import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/env.js';
import { createApiKey } from '../http/routes/workspaces.js';
import { createLogger, createService } from '../service.js';
import { migrate, openStore } from '../store/db.js';

// `balancewatch <command>`: serve, migrate, apikey create. Errors print one clear line and exit non-zero.

const program = new Command()
  .name('balancewatch')
  .description('Watches AI API balances and alerts before they run dry.')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the API, the dashboard and the notifier')
  .action(async () => {
    const config = loadConfig();
    const service = await createService(config);
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

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`balancewatch: ${err.message}`);
  else {
    const logger = createLogger('error');
    logger.error({ err }, 'balancewatch failed');
    console.error(`balancewatch: ${(err as Error).message}`);
  }
  process.exit(2);
});
