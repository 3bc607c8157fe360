import { createHash } from 'node:crypto';
import type { EventType, Level } from './events.js';

/**
 * SPEC §3.3: a stable hash of (alert, episode, event, level), identical on every retry and from every instance.
 * A reminder is a new notification on purpose, so its number joins the hash.
 */
export function idempotencyKey(alertId: string, episode: number, event: EventType, level: Level | null, reminder = 0): string {
  const parts = [alertId, String(episode), event, level ?? 'ok'];
  if (reminder > 0) parts.push(`r${reminder}`);
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}
