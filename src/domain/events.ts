export const EVENT_TYPES = [
  'balance.low',
  'balance.recovered',
  'balance.runway_low',
  'balance.runway_recovered',
  'spend.spike',
  'source.failing',
  'source.recovered',
  'test',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Alert levels in ascending severity. `depleted` (balance <= 0) is built in; the others are configurable. */
export const LEVELS = ['info', 'warning', 'critical', 'depleted'] as const;
export type Level = (typeof LEVELS)[number];
export const CONFIGURABLE_LEVELS = ['info', 'warning', 'critical'] as const;
export type ConfigurableLevel = (typeof CONFIGURABLE_LEVELS)[number];

export function severity(level: Level): number {
  return LEVELS.indexOf(level);
}

export function moreSevere(a: Level, b: Level): boolean {
  return severity(a) > severity(b);
}
