import { describe, expect, it } from 'vitest';
import { planSlots, RATE_MARGIN_MS } from '../../src/engine/channel-rate.js';

const MIN = 60_000;
const perMinute = [{ count: 20, windowMs: MIN }];
const feishu = [
  { count: 5, windowMs: 1000 },
  { count: 100, windowMs: MIN },
];
const now = 10_000_000;

describe('planSlots', () => {
  it.each([
    // [earlier sends, limits, want, granted]
    [[], perMinute, 30, 20],
    [[], perMinute, 5, 5],
    [Array(19).fill(now - 1000), perMinute, 3, 1],
    [Array(20).fill(now - 1000), perMinute, 1, 0],
    // Sends older than the window (+ margin) no longer count.
    [Array(20).fill(now - MIN - RATE_MARGIN_MS - 1), perMinute, 20, 20],
    // Inside the margin they still count: our clock and the service's may differ.
    [Array(20).fill(now - MIN - RATE_MARGIN_MS + 10), perMinute, 1, 0],
    [[], feishu, 12, 5],
    [Array(97).fill(now - 30_000), feishu, 12, 3],
  ] as const)('%#: %j sends, want %i → %i', (sends, limits, want, granted) => {
    expect(planSlots([...sends], limits, want, now, null).granted).toBe(granted);
  });

  it('says when the next slot frees: when the oldest counted send leaves the window', () => {
    const sends = Array.from({ length: 20 }, (_, i) => now - 50_000 + i * 100);
    const g = planSlots(sends, perMinute, 1, now, null);
    expect(g.granted).toBe(0);
    expect(g.freeAt).toBe(now - 50_000 + MIN + RATE_MARGIN_MS + 1);
  });

  it('after granting some, the next free slot accounts for the ones just granted', () => {
    const g = planSlots([], perMinute, 25, now, null);
    expect(g.granted).toBe(20);
    expect(g.freeAt).toBe(now + MIN + RATE_MARGIN_MS + 1);
  });

  it('the per-second limit frees sooner than the per-minute one', () => {
    const g = planSlots([], feishu, 6, now, null);
    expect(g.granted).toBe(5);
    expect(g.freeAt).toBe(now + 1000 + RATE_MARGIN_MS + 1);
  });

  it('a pause asked by the service blocks every slot until it ends', () => {
    expect(planSlots([], perMinute, 3, now, now + 2000)).toEqual({ granted: 0, freeAt: now + 2000 });
    expect(planSlots([], perMinute, 3, now, now - 1).granted).toBe(3);
  });
});
