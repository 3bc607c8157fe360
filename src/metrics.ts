import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from './store/schema.js';

// One registry per service instance (tests run several in one process).
export class Metrics {
  readonly registry = new Registry();
  readonly samplesIngested = new Counter({
    name: 'balancewatch_samples_ingested_total',
    help: 'Balance samples accepted (pushed or polled).',
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'balancewatch_deliveries_total',
    help: 'Delivery attempts by channel type and result (delivered, retry, dead, suppressed).',
    labelNames: ['channel_type', 'result'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'balancewatch_delivery_latency_seconds',
    help: 'From the notification being due to the receiver accepting it.',
    labelNames: ['channel_type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 3600],
    registers: [this.registry],
  });
  readonly polls = new Counter({
    name: 'balancewatch_polls_total',
    help: 'Balance polls by source type and result (ok, or the error kind: auth, unreachable, timeout, rate_limited, bad_response).',
    labelNames: ['source_type', 'result'] as const,
    registers: [this.registry],
  });
  readonly pollDuration = new Histogram({
    name: 'balancewatch_poll_duration_seconds',
    help: 'Time one balance poll took.',
    labelNames: ['source_type'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor(db: Kysely<Database>) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'balancewatch_alerts_firing',
      help: 'Alerts currently firing, by level.',
      labelNames: ['level'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await db
          .selectFrom('alerts')
          .select(['level', db.fn.countAll<number>().as('n')])
          .where('status', '=', 'firing')
          .groupBy('level')
          .execute();
        this.reset();
        for (const r of rows) this.set({ level: r.level ?? 'unknown' }, Number(r.n));
      },
    });
    new Gauge({
      name: 'balancewatch_outbox_depth',
      help: 'Deliveries waiting to be sent (including deferred and retrying ones).',
      registers: [this.registry],
      async collect() {
        const r = await db.selectFrom('deliveries').select(db.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirst();
        this.set(Number(r?.n ?? 0));
      },
    });
    new Gauge({
      name: 'balancewatch_account_runway_seconds',
      help: 'Time until the balance runs out at the current spend rate, per account (absent while unknown or not spending).',
      labelNames: ['workspace_id', 'account_id'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await db.selectFrom('accounts').select(['id', 'workspace_id', 'runway_days']).where('runway_days', 'is not', null).execute();
        this.reset();
        for (const r of rows) this.set({ workspace_id: r.workspace_id, account_id: r.id }, r.runway_days! * 86_400);
      },
    });
    new Gauge({
      name: 'balancewatch_deliveries_dead',
      help: 'Deliveries given up on (dead-letter): alert on any increase.',
      registers: [this.registry],
      async collect() {
        const r = await db.selectFrom('deliveries').select(db.fn.countAll<number>().as('n')).where('status', '=', 'dead').executeTakeFirst();
        this.set(Number(r?.n ?? 0));
      },
    });
  }
}
