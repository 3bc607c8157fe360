import { type AlertState, type Notification, sameState, scheduleUnderFloor, type Transition } from './alert-state.js';
import { type Level, moreSevere, severity } from './events.js';
import type { ThresholdRule } from './settings.js';

// The low-balance state machine of SPEC §3.1. Pure: the caller supplies the state, the newest balance, the rule
// and the time, and stores what comes back together with the notifications, in one transaction.

/** The most severe level whose line the balance is under, or null when it is under none. */
export function levelFor(balance: number, rule: ThresholdRule): Level | null {
  if (rule.depleted && balance <= 0) return 'depleted';
  let found: Level | null = null;
  for (const l of rule.levels) if (balance < l.below) found = l.level; // levels go from least to most severe
  return found;
}

function lineOf(level: Level, rule: ThresholdRule): number {
  if (level === 'depleted') return 0;
  return rule.levels.find((l) => l.level === level)?.below ?? rule.levels[0]?.below ?? 0;
}

function leastSevereLevel(rule: ThresholdRule): Level {
  return rule.levels[0]?.level ?? 'depleted';
}

/** Evaluates one new (newest-so-far) balance. */
export function evaluateBalance(prev: AlertState, balance: number, rule: ThresholdRule, now: number): Transition {
  const s: AlertState = { ...prev };
  const notifications: Notification[] = [];
  const level = rule.enabled ? levelFor(balance, rule) : null;

  if (!rule.enabled) {
    // Low-balance alerts switched off: a firing alert ends silently, nothing is armed.
    if (s.status === 'firing') Object.assign(s, { status: 'ok', level: null });
  } else if (s.status === 'ok') {
    if (level) {
      Object.assign(s, {
        status: 'firing',
        level,
        episode: s.episode + 1,
        maxLevel: level,
        lastFiringAt: now,
        reminders: 0,
      });
      notifications.push(
        scheduleUnderFloor(s, lowNotification(s, level, rule, 0), now, rule.floorMs, false),
      );
    }
  } else if (level && moreSevere(level, s.level ?? 'info')) {
    // Escalation. The first time this episode reaches a level it notifies at once; coming back to a level it
    // already announced (after a partial recovery) is treated like any repeat and respects the floor.
    // A repeat gets its own sequence number so its idempotency key differs from the first announcement's.
    const firstTime = !s.maxLevel || moreSevere(level, s.maxLevel);
    Object.assign(s, { level, lastFiringAt: now, maxLevel: firstTime ? level : s.maxLevel });
    const seq = firstTime ? 0 : ++s.reminders;
    notifications.push(scheduleUnderFloor(s, lowNotification(s, level, rule, seq), now, rule.floorMs, firstTime));
  } else if (!level && balance >= rule.recoverAt) {
    Object.assign(s, { status: 'ok', level: null, lastFiringAt: null });
    if (rule.notifyRecovery) {
      notifications.push(
        scheduleUnderFloor(
          s,
          {
            event: 'balance.recovered',
            level: null,
            routeLevel: s.maxLevel ?? 'warning',
            episode: s.episode,
            reminder: 0,
            threshold: rule.recoverAt,
          },
          now,
          rule.floorMs,
          false,
        ),
      );
    }
  } else {
    // Still firing: partial recovery lowers the level silently; inside the hysteresis band keep the mildest level.
    const current = level ?? leastSevereLevel(rule);
    if (s.level && severity(current) < severity(s.level)) s.level = current;
    const reminder = dueReminder(s, rule, now);
    if (reminder) notifications.push(reminder);
  }
  return { next: s, notifications, changed: !sameState(prev, s) };
}

/** Time passing without a new sample: only reminders (repeat_interval) can come due. */
export function evaluateTick(prev: AlertState, rule: ThresholdRule, now: number): Transition {
  const s: AlertState = { ...prev };
  const reminder = rule.enabled && s.status === 'firing' ? dueReminder(s, rule, now) : null;
  return { next: s, notifications: reminder ? [reminder] : [], changed: !sameState(prev, s) };
}

/** When a firing alert's next reminder is due, or null without repeat_interval. */
export function nextReminderAt(s: AlertState, rule: ThresholdRule): number | null {
  if (s.status !== 'firing' || !rule.repeatMs || s.lastFiringAt === null) return null;
  return s.lastFiringAt + rule.repeatMs;
}

function dueReminder(s: AlertState, rule: ThresholdRule, now: number): Notification | null {
  const at = nextReminderAt(s, rule);
  if (at === null || now < at || !s.level) return null;
  s.reminders += 1;
  s.lastFiringAt = now;
  return scheduleUnderFloor(s, lowNotification(s, s.level, rule, s.reminders), now, rule.floorMs, false);
}

function lowNotification(s: AlertState, level: Level, rule: ThresholdRule, reminder: number) {
  return {
    event: 'balance.low' as const,
    level,
    routeLevel: level,
    episode: s.episode,
    reminder,
    threshold: lineOf(level, rule),
  };
}
