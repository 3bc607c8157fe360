import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/domain/duration.js';
import type { EventType, Level } from '../../src/domain/events.js';
import { idempotencyKey } from '../../src/domain/idempotency.js';
import { formatMoney, MAX_ABS_AMOUNT, parseAmount } from '../../src/domain/money.js';

describe('parseDuration', () => {
  it.each<[string, number]>([
    ['0s', 0],
    ['0ms', 0],
    ['1ms', 1],
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['90m', 5_400_000],
    ['1d2h3m4s5ms', 86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4000 + 5],
    ['1m500ms', 60_500],
    [' 10m ', 600_000],
    ['\t5s\n', 5000],
    ['010m', 600_000],
  ])('%j → %d', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each<[string]>([
    [''],
    ['   '],
    ['10'],
    ['1x'],
    ['-5m'],
    ['+5m'],
    ['1.5h'],
    ['10M'],
    ['10 m'],
    ['1h 30m'],
    ['m'],
    ['h1'],
    ['10mins'],
    ['1w'],
    ['PT10M'],
    ['5m-'],
    ['999999999999999999d'], // beyond a safe integer of ms
  ])('%j → null', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [0, '0s'],
    [1, '1ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1s500ms'],
    [60_000, '1m'],
    [5_400_000, '1h30m'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
    [90_061_001, '1d1h1m1s1ms'],
    [7 * 86_400_000, '7d'],
    [48 * 3_600_000, '2d'],
  ])('%d → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each<[string, string]>([
    ['0s', '0s'],
    ['0ms', '0s'],
    ['90m', '1h30m'],
    ['24h', '1d'],
    ['60s', '1m'],
    ['1h30m', '1h30m'],
    ['36h', '1d12h'],
    ['1500ms', '1s500ms'],
    ['10m', '10m'],
  ])('round trip: %s → %s → same ms', (text, canonical) => {
    const ms = parseDuration(text)!;
    expect(formatDuration(ms)).toBe(canonical);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it.each([0, 1, 999, 1000, 59_999, 61_000, 3_599_999, 86_399_999, 86_400_001, 123_456_789_012])(
    'parseDuration(formatDuration(%d)) is the identity',
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );
});

describe('parseAmount', () => {
  it.each<[string, unknown, number | null]>([
    ['integer', 12, 12],
    ['float', 12.5, 12.5],
    ['zero', 0, 0],
    ['negative', -3.25, -3.25],
    ['max', 1e15, 1e15],
    ['min', -1e15, -1e15],
    ['above max', 1e15 + 2, null],
    ['1e16', 1e16, null],
    ['-1e16', -1e16, null],
    ['NaN', Number.NaN, null],
    ['Infinity', Number.POSITIVE_INFINITY, null],
    ['-Infinity', Number.NEGATIVE_INFINITY, null],
    ['1e400 parsed from JSON', JSON.parse('1e400'), null],
    ['decimal string', '12.30', 12.3],
    ['integer string', '42', 42],
    ['negative string', '-7.5', -7.5],
    ['explicit plus', '+5', 5],
    ['leading dot', '.5', 0.5],
    ['trailing dot', '5.', 5],
    ['exponent string', '1e3', 1000],
    ['exponent with sign', '2.5E-2', 0.025],
    ['padded string', ' 12.5 ', 12.5],
    ['"1e400" string', '1e400', null],
    ['"1e16" string', '1e16', null],
    ['"NaN"', 'NaN', null],
    ['"Infinity"', 'Infinity', null],
    ['"-Infinity"', '-Infinity', null],
    ['empty string', '', null],
    ['blank string', '   ', null],
    ['hex string', '0x10', null],
    ['thousands separator', '1,000', null],
    ['underscore separator', '1_000', null],
    ['currency sign', '$12', null],
    ['trailing unit', '12 USD', null],
    ['lone dot', '.', null],
    ['lone minus', '-', null],
    ['null', null, null],
    ['undefined', undefined, null],
    ['boolean', true, null],
    ['object', { amount: 12 }, null],
    ['array', [12], null],
    ['bigint', 12n, null],
  ])('%s', (_name, value, expected) => {
    expect(parseAmount(value)).toBe(expected);
  });

  it.each<[string, unknown]>([
    ['-0 number', -0],
    ['"-0" string', '-0'],
    ['"-0.00" string', '-0.00'],
  ])('normalises %s to +0', (_name, value) => {
    const n = parseAmount(value);
    expect(n).toBe(0);
    expect(Object.is(n, 0)).toBe(true);
  });

  it('MAX_ABS_AMOUNT is 1e15', () => {
    expect(MAX_ABS_AMOUNT).toBe(1e15);
  });
});

describe('formatMoney', () => {
  it.each<[number, string, string, string]>([
    [12.3, 'USD', 'en', '$12.30'],
    [12, 'USD', 'en', '$12.00'],
    [0, 'USD', 'en', '$0.00'],
    [-3, 'USD', 'en', '-$3.00'],
    [12.34567, 'USD', 'en', '$12.3457'],
    [1234.5, 'USD', 'en', '$1,234.50'],
    [1234.5, 'CNY', 'zh-CN', '¥1,234.50'],
    [12.3, 'CNY', 'zh-CN', '¥12.30'],
    [12.3, 'credits', 'en', '12.3 credits'],
    [1234.56789, 'credits', 'en', '1,234.5679 credits'],
    [5, 'tokens', 'en', '5 tokens'],
    [12.3, 'usd', 'en', '12.3 usd'],
  ])('%d %s in %s → %s', (amount, currency, locale, expected) => {
    expect(formatMoney(amount, currency, locale)).toBe(expected);
  });
});

describe('idempotencyKey', () => {
  const base = ['al_1', 1, 'balance.low', 'warning'] as const;

  it('is 32 lowercase hex characters', () => {
    expect(idempotencyKey(...base)).toMatch(/^[0-9a-f]{32}$/);
    expect(idempotencyKey('al_1', 1, 'balance.recovered', null)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is stable: the same value on every call and from every instance (pinned)', () => {
    expect(idempotencyKey(...base)).toBe(idempotencyKey(...base));
    expect(idempotencyKey(...base)).toBe('58d398845b69f05e4482ad51aab5e568');
    expect(idempotencyKey('al_1', 1, 'balance.recovered', null)).toBe('443a005790fb056ce9d4bd093b52e6ec');
  });

  it('reminder 0 is the same as no reminder', () => {
    expect(idempotencyKey(...base, 0)).toBe(idempotencyKey(...base));
  });

  it.each<[string, [string, number, EventType, Level | null, number?]]>([
    ['another alert', ['al_2', 1, 'balance.low', 'warning']],
    ['another episode', ['al_1', 2, 'balance.low', 'warning']],
    ['another event', ['al_1', 1, 'balance.runway_low', 'warning']],
    ['another level', ['al_1', 1, 'balance.low', 'critical']],
    ['no level', ['al_1', 1, 'balance.low', null]],
    ['reminder 1', ['al_1', 1, 'balance.low', 'warning', 1]],
    ['reminder 2', ['al_1', 1, 'balance.low', 'warning', 2]],
    ['alert id and episode glued differently', ['al_11', 1, 'balance.low', 'warning']],
  ])('differs for %s', (_name, args) => {
    expect(idempotencyKey(...args)).not.toBe(idempotencyKey(...base));
  });

  it('every variation gives a distinct key (no collisions among them)', () => {
    const keys = new Set<string>();
    const alerts = ['al_1', 'al_2', 'al_1', 'al_'];
    for (const alert of new Set(alerts))
      for (const episode of [0, 1, 2, 11])
        for (const event of ['balance.low', 'balance.recovered', 'spend.spike'] as const)
          for (const level of ['warning', 'critical', null] as const)
            for (const reminder of [0, 1, 2]) keys.add(idempotencyKey(alert, episode, event, level, reminder));
    expect(keys.size).toBe(3 * 4 * 3 * 3 * 3);
  });

  it('separates fields unambiguously ("al_1" + episode 12 ≠ "al_11" + episode 2)', () => {
    expect(idempotencyKey('al_1', 12, 'balance.low', 'warning')).not.toBe(idempotencyKey('al_11', 2, 'balance.low', 'warning'));
  });

  it.each<[number, number]>([
    [1, 2],
    [2, 3],
    [1, 10],
  ])('reminder %d and %d have different keys', (a, b) => {
    expect(idempotencyKey(...base, a)).not.toBe(idempotencyKey(...base, b));
  });
});
