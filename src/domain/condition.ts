import { type AlertState, type Notification, sameState, scheduleUnderFloor, type Transition } from './alert-state.js';
import type { EventType, Level } from './events.js';

// The state machine shared by the rules that are either breached or not (runway, spend spike): ok → firing →
// resolved, once per episode, under the same anti-spam floor as the threshold rule. Between `breached` and
// `cleared` (hysteresis) nothing changes.

export interface ConditionSpec {
  enabled: boolean;
  event: EventType;
  /** Event sent on resolving, or null to resolve silently. */
  resolveEvent: EventType | null;
  level: Level;
  floorMs: number;
}

export interface ConditionInput {
  breached: boolean;
  cleared: boolean;
  /** The line the value was compared with (shown in messages). */
  threshold: number;
}

export function evaluateCondition(prev: AlertState, input: ConditionInput, spec: ConditionSpec, now: number): Transition {
  const s: AlertState = { ...prev };
  const notifications: Notification[] = [];
  const base = { routeLevel: spec.level, reminder: 0, threshold: input.threshold };
  if (!spec.enabled) {
    if (s.status === 'firing') Object.assign(s, { status: 'ok', level: null, lastFiringAt: null });
  } else if (s.status === 'ok' && input.breached) {
    Object.assign(s, { status: 'firing', level: spec.level, episode: s.episode + 1, maxLevel: spec.level, lastFiringAt: now, reminders: 0 });
    notifications.push(scheduleUnderFloor(s, { ...base, event: spec.event, level: spec.level, episode: s.episode }, now, spec.floorMs, false));
  } else if (s.status === 'firing' && input.cleared) {
    Object.assign(s, { status: 'ok', level: null, lastFiringAt: null });
    if (spec.resolveEvent)
      notifications.push(scheduleUnderFloor(s, { ...base, event: spec.resolveEvent, level: null, episode: s.episode }, now, spec.floorMs, false));
  }
  return { next: s, notifications, changed: !sameState(prev, s) };
}
