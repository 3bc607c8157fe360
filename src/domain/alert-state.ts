import type { EventType, Level } from './events.js';

/** The durable state of one rule on one account (SPEC §2 "Alert"). */
export interface AlertState {
  status: 'ok' | 'firing';
  /** Current level while firing; null when ok. */
  level: Level | null;
  /** Grows each time the alert starts firing again. */
  episode: number;
  /** Most severe level notified in this episode: escalating past it always notifies; recoveries route by it. */
  maxLevel: Level | null;
  /** Time of the last firing notification in this episode (for repeat_interval). */
  lastFiringAt: number | null;
  /** Reminders sent in this episode, so each reminder has its own idempotency key. */
  reminders: number;
  /** `${event}:${level}` → when the last notification of that kind was due (the anti-spam floor). */
  lastNotified: Record<string, number>;
}

export const INITIAL_ALERT_STATE: AlertState = {
  status: 'ok',
  level: null,
  episode: 0,
  maxLevel: null,
  lastFiringAt: null,
  reminders: 0,
  lastNotified: {},
};

/** A notification the state machine asks for; the engine turns it into one delivery per matching channel. */
export interface Notification {
  event: EventType;
  /** The level notified; null for recoveries. */
  level: Level | null;
  /** Level used for channels' `min_level` filter (a recovery routes like the worst level of its episode). */
  routeLevel: Level;
  episode: number;
  /** 0 for the first notification, n for the n-th reminder. */
  reminder: number;
  /** The line that was crossed (for recoveries: the recovery line). */
  threshold: number;
  /** When to send: `now`, or the end of the anti-spam floor (deferred, sent then only if still in this state). */
  dueAt: number;
  deferred: boolean;
  /**
   * The end of an alert nobody asked to hear about (recovery notices off, or a rule that resolves silently): sent
   * only to channels that open incidents, so they can close them.
   */
  quiet?: boolean;
}

export interface Transition {
  next: AlertState;
  notifications: Notification[];
  /** True when `next` differs from the previous state and must be stored. */
  changed: boolean;
}

export function floorKey(event: EventType, level: Level | null): string {
  return `${event}:${level ?? 'ok'}`;
}

/**
 * Applies the anti-spam floor: the notification is due now, or deferred to the end of the floor. The floor is
 * recorded at the due time so a later one of the same kind waits behind it. Never drops anything.
 */
export function scheduleUnderFloor(
  state: AlertState,
  n: Omit<Notification, 'dueAt' | 'deferred'>,
  now: number,
  floorMs: number,
  ignoreFloor: boolean,
): Notification {
  const key = floorKey(n.event, n.level);
  const last = state.lastNotified[key];
  const dueAt = !ignoreFloor && last !== undefined && now < last + floorMs ? last + floorMs : now;
  state.lastNotified = { ...state.lastNotified, [key]: dueAt };
  return { ...n, dueAt, deferred: dueAt > now };
}

export function sameState(a: AlertState, b: AlertState): boolean {
  if (
    a.status !== b.status ||
    a.level !== b.level ||
    a.episode !== b.episode ||
    a.maxLevel !== b.maxLevel ||
    a.lastFiringAt !== b.lastFiringAt ||
    a.reminders !== b.reminders
  )
    return false;
  if (a.lastNotified === b.lastNotified) return true;
  const ka = Object.keys(a.lastNotified);
  return ka.length === Object.keys(b.lastNotified).length && ka.every((k) => a.lastNotified[k] === b.lastNotified[k]);
}
