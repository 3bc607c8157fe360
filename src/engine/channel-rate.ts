import type { Kysely } from 'kysely';
import type { RateLimit } from '../channels/types.js';
import type { DialectName } from '../store/db.js';
import type { Database } from '../store/schema.js';

// Per-channel send slots under the service's rate limits (SPEC §4: DingTalk blocks a bot for 10 min past 20/min, so
// never cross it). The recent send times live in channel_rate, locked per channel while slots are handed out, so
// several instances on one PostgreSQL share one budget. A slot is spent when granted, whether or not the request
// then reaches the service: erring on the side of sending less.

/** Sends are counted for this much longer than the window: our clock and the service's need not agree exactly. */
export const RATE_MARGIN_MS = 1000;

export interface SlotGrant {
  granted: number;
  /** When the next slot frees up (only meaningful when granted < wanted). */
  freeAt: number;
}

/** Pure: how many of `want` sends fit now under `limits` given earlier `sends`, and when the next one would fit. */
export function planSlots(sends: number[], limits: readonly RateLimit[], want: number, now: number, blockedUntil: number | null): SlotGrant {
  if (blockedUntil !== null && blockedUntil > now) return { granted: 0, freeAt: blockedUntil };
  let granted = want;
  for (const l of limits) {
    const inWindow = sends.filter((t) => t > now - l.windowMs - RATE_MARGIN_MS).length;
    granted = Math.min(granted, Math.max(0, l.count - inWindow));
  }
  let freeAt = now;
  if (granted < want) {
    const all = [...sends, ...Array<number>(granted).fill(now)].sort((a, b) => a - b);
    for (const l of limits) {
      const inWindow = all.filter((t) => t > now - l.windowMs - RATE_MARGIN_MS);
      if (inWindow.length < l.count) continue;
      // The send that must leave the window before one more fits.
      const oldest = inWindow[inWindow.length - l.count]!;
      freeAt = Math.max(freeAt, oldest + l.windowMs + RATE_MARGIN_MS + 1);
    }
  }
  return { granted, freeAt };
}

const longest = (limits: readonly RateLimit[]) => Math.max(...limits.map((l) => l.windowMs)) + RATE_MARGIN_MS;

async function lockRow(trx: Kysely<Database>, dialect: DialectName, channelId: string) {
  await trx.insertInto('channel_rate').values({ channel_id: channelId, sends: '[]', blocked_until: null }).onConflict((oc) => oc.column('channel_id').doNothing()).execute();
  let q = trx.selectFrom('channel_rate').selectAll().where('channel_id', '=', channelId);
  if (dialect === 'postgres') q = q.forUpdate();
  return q.executeTakeFirstOrThrow();
}

/** Takes up to `want` send slots for the channel now and records them. */
export async function reserveSlots(
  db: Kysely<Database>,
  dialect: DialectName,
  channelId: string,
  limits: readonly RateLimit[],
  want: number,
  now = Date.now(),
): Promise<SlotGrant> {
  if (limits.length === 0 || want <= 0) return { granted: want, freeAt: now };
  return db.transaction().execute(async (trx) => {
    const row = await lockRow(trx, dialect, channelId);
    const horizon = now - longest(limits);
    const sends = (JSON.parse(row.sends) as number[]).filter((t) => t > horizon);
    const grant = planSlots(sends, limits, want, now, row.blocked_until);
    if (grant.granted > 0 || sends.length !== JSON.parse(row.sends).length) {
      const keep = [...sends, ...Array<number>(grant.granted).fill(now)];
      await trx.updateTable('channel_rate').set({ sends: JSON.stringify(keep) }).where('channel_id', '=', channelId).execute();
    }
    return grant;
  });
}

/** The service asked for a pause (429 Retry-After, Discord's reset header): nothing more until `until`. */
export async function blockChannel(db: Kysely<Database>, dialect: DialectName, channelId: string, until: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await lockRow(trx, dialect, channelId);
    if (row.blocked_until !== null && row.blocked_until >= until) return;
    await trx.updateTable('channel_rate').set({ blocked_until: until }).where('channel_id', '=', channelId).execute();
  });
}

/** For tests and the API: the channel's current pause, if any. */
export async function blockedUntil(db: Kysely<Database>, channelId: string): Promise<number | null> {
  const r = await db.selectFrom('channel_rate').select('blocked_until').where('channel_id', '=', channelId).executeTakeFirst();
  return r?.blocked_until ?? null;
}

