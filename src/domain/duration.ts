// Durations as people write them in settings and env: "30s", "10m", "24h", "7d", "1h30m", "0s".
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART_RE = /(\d+)(ms|s|m|h|d)/g;

/** Parses a duration string into milliseconds; returns null when the text is not a duration. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (!DURATION_RE.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(PART_RE)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isSafeInteger(total) ? total : null;
}

/** Formats milliseconds back into the shortest exact duration string ("90m" → "1h30m"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
