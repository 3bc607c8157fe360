import type { Kysely } from 'kysely';
import { decodeConfig } from '../channels/codec.js';
import type { ChannelContext, ChannelResult, ChannelType, NotificationPayload, OutgoingNotification } from '../channels/types.js';
import { newId } from '../domain/ids.js';
import type { Metrics } from '../metrics.js';
import type { SecretBox } from '../security/secrets.js';
import type { DialectName } from '../store/db.js';
import type { ChannelsTable, Database, WorkspacesTable } from '../store/schema.js';
import { parseStoredSettings } from '../domain/settings.js';
import type { TemplateSet } from '../template/custom.js';
import { renderNotification, storedTemplates } from '../template/render.js';
import { blockChannel, reserveSlots } from './channel-rate.js';
import { sendSafely } from './delivery-results.js';

// The channel Test action (SPEC §4), shared by POST /api/v1/channels/{id}/test and `balancewatch notify test`:
// sends a real test message now (not through the outbox) and answers with what the receiver said.

export interface TestResult {
  ok: boolean;
  status: number | null;
  response: string | null;
  error: string | null;
}

/** The workspace the test is sent for; with `settings`, its message templates apply as they would to an alert. */
export type TestWorkspace = Pick<WorkspacesTable, 'id' | 'name' | 'external_id' | 'locale' | 'time_zone'> & { settings?: string };

export interface TestOptions {
  /** Free text shown in the test message. */
  message?: string | undefined;
  /** Overrides the workspace's locale for this message. */
  locale?: string | undefined;
  dashboardUrl: string | null;
  /** The channel's own templates, if any. */
  channelTemplates?: TemplateSet | null;
}

/** The `test` notification for a workspace, its idempotency key and its rendered message. */
export function testNotification(w: TestWorkspace, opts: TestOptions, now = Date.now()): OutgoingNotification {
  const payload: NotificationPayload = {
    type: 'test',
    occurred_at: new Date(now).toISOString(),
    workspace: { id: w.id, name: w.name, external_id: w.external_id, locale: opts.locale ?? w.locale, time_zone: w.time_zone },
    account: null,
    balance: null,
    currency: null,
    level: null,
    threshold: null,
    episode: 0,
    reminder: 0,
    ...(opts.message ? { note: opts.message } : {}),
  };
  const key = `test_${newId('dl').slice(3)}`;
  let workspaceTemplates: TemplateSet | null = null;
  if (w.settings) {
    try {
      workspaceTemplates = parseStoredSettings(w.settings).templates ?? null;
    } catch {}
  }
  const message = renderNotification(payload, key, { dashboardUrl: opts.dashboardUrl, channelTemplates: opts.channelTemplates ?? null, workspaceTemplates });
  return { key, payload, message };
}

const toResult = (r: ChannelResult): TestResult => ({ ok: r.ok, status: r.status ?? null, response: r.response ?? null, error: r.ok ? null : r.error });

/** Sends a test to a channel that is not stored (a URL given on the command line): no rate-limit slots, no record. */
export async function sendUnstoredTest(type: ChannelType, config: Record<string, unknown>, w: TestWorkspace, opts: TestOptions, ctx: ChannelContext): Promise<TestResult> {
  return toResult(await sendSafely(type, config, testNotification(w, opts), ctx));
}

export interface ChannelTestDeps {
  db: Kysely<Database>;
  dialect: DialectName;
  box: SecretBox;
  channels: ReadonlyMap<string, ChannelType>;
  ctx: ChannelContext;
  metrics?: Metrics;
}

/**
 * Sends a test to a stored channel: it spends a slot of the service's rate limit like any message, honours a
 * requested pause, and is recorded in the deliveries log with its attempt.
 */
export async function sendChannelTest(d: ChannelTestDeps, c: ChannelsTable, w: TestWorkspace, opts: TestOptions): Promise<TestResult & { delivery_id: string | null }> {
  const { db, dialect } = d;
  const type = d.channels.get(c.type);
  if (!type) return { ok: false, status: null, response: null, error: `channel type "${c.type}" is not supported by this version`, delivery_id: null };
  const now = Date.now();
  const n = testNotification(w, { ...opts, channelTemplates: storedTemplates(c.template) }, now);
  const started = Date.now();
  // A test spends a slot of the service's rate limit like any message (DingTalk blocks a bot for 10 min past it).
  if (type.limits?.length) {
    const grant = await reserveSlots(db, dialect, c.id, type.limits, 1, started);
    if (grant.granted === 0) {
      const secs = Math.max(1, Math.ceil((grant.freeAt - started) / 1000));
      return {
        ok: false,
        status: null,
        response: null,
        error: `not sent: ${type.label} allows only ${type.limits.map((l) => `${l.count} messages per ${l.windowMs / 1000} s`).join(' and ')} and this channel is at that limit; try again in ${secs} s`,
        delivery_id: null,
      };
    }
  }
  const result = await sendSafely(type, decodeConfig(type, c.config, d.box), n, d.ctx);
  const pause = result.ok ? result.pauseMs : result.retryAfterMs;
  if (type.limits?.length && pause) await blockChannel(db, dialect, c.id, Date.now() + pause);
  const done = Date.now();
  const id = newId('dl');
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('deliveries')
      .values({
        id,
        workspace_id: c.workspace_id,
        channel_id: c.id,
        account_id: null,
        alert_id: null,
        event: 'test',
        level: null,
        episode: 0,
        idempotency_key: n.key,
        payload: JSON.stringify(n.payload),
        status: result.ok ? 'delivered' : 'dead',
        deferred: 0,
        attempts: 1,
        next_attempt_at: now,
        lease_owner: null,
        lease_until: null,
        last_status_code: result.status ?? null,
        last_error: result.ok ? null : result.error,
        last_response: result.response ?? null,
        created_at: now,
        updated_at: done,
        delivered_at: result.ok ? done : null,
      })
      .execute();
    await trx
      .insertInto('delivery_attempts')
      .values({
        id: newId('at'),
        delivery_id: id,
        started_at: started,
        duration_ms: done - started,
        status_code: result.status ?? null,
        response: result.response ?? null,
        error: result.ok ? null : result.error,
        outcome: result.ok ? 'delivered' : 'failed',
      })
      .execute();
  });
  d.metrics?.deliveries.inc({ channel_type: c.type, result: result.ok ? 'delivered' : 'test_failed' });
  return { ...toResult(result), delivery_id: id };
}
