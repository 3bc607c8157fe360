import { z } from 'zod';
import { parseAmount } from '../../domain/money.js';
import { ingestSamples, type SampleIn } from '../../engine/ingest.js';
import { ingestScope } from '../auth.js';
import type { App, Deps } from '../types.js';

export const MAX_BATCH = 10_000;
const MAX_FUTURE_MS = 5 * 60_000; // clock skew allowance; a far-future sample would freeze the account's state
const MIN_TIME_MS = Date.UTC(2000, 0, 1);
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Date.parse rolls "2025-02-30" over to March 2; a day the month does not have is an error, not a guess. */
function isCalendarDate(iso: string): boolean {
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number) as [number, number, number];
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

const AMOUNT_HINT = 'expected a finite number (or a decimal string) within ±1e15';
const amount = z.union([z.number(), z.string().max(64)], { error: AMOUNT_HINT }).transform((v, ctx) => {
  const n = parseAmount(v);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: AMOUNT_HINT });
    return z.NEVER;
  }
  return n;
});

const timestamp = z.union([z.string().max(64), z.number()], { error: 'expected an ISO 8601 time or Unix seconds' }).transform((v, ctx) => {
  let ms: number;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v > 1e11) {
      ctx.addIssue({ code: 'custom', message: 'numbers are Unix seconds (this looks like milliseconds or is not finite)' });
      return z.NEVER;
    }
    ms = Math.round(v * 1000);
  } else {
    ms = ISO_RE.test(v) && isCalendarDate(v) ? Date.parse(v) : Number.NaN;
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'expected an ISO 8601 time with a zone, e.g. "2026-11-22T08:00:00Z", or Unix seconds' });
      return z.NEVER;
    }
  }
  if (ms < MIN_TIME_MS || ms > Date.now() + MAX_FUTURE_MS) {
    ctx.addIssue({ code: 'custom', message: 'the time is before 2000 or more than 5 minutes in the future' });
    return z.NEVER;
  }
  return ms;
});

const sampleSchema = z
  .object({
    account: z.string().min(1).max(200),
    workspace: z.string().min(1).max(200).optional(),
    balance: amount.optional(),
    quota: amount.optional(),
    at: timestamp.optional(),
    used: amount.optional(),
    requests: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict()
  .refine((s) => (s.balance === undefined) !== (s.quota === undefined), {
    message: 'give exactly one of "balance" (in the account currency) or "quota" (raw relay units)',
  });

const body = z.object({ samples: z.array(sampleSchema).min(1).max(MAX_BATCH) }).strict();

export function balanceRoutes(app: App, d: Deps): void {
  app.post(
    '/api/v1/balances',
    { bodyLimit: 8 * 1024 * 1024, schema: { body: body, tags: ['balances'] } },
    async (req) => {
      const scope = ingestScope(req);
      const now = Date.now();
      const samples: SampleIn[] = req.body.samples.map((s, index) => ({ ...s, index, at: s.at ?? now }));
      const out = await ingestSamples(d.store.db, d.store.dialect, samples, scope, now);
      d.metrics.samplesIngested.inc(samples.length);
      if (out.queuedDeliveries > 0) d.dispatcher.wake();
      return { accepted: samples.length, applied: out.applied, notifications_queued: out.queuedDeliveries, results: out.results };
    },
  );
}
