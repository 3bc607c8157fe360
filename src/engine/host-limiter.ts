// A per-host request budget for polling (SPEC §5: relays limit /api/* per IP — new-api allows 180 per 180 s). Kept
// per process: instances share a host's budget only loosely, so the default stays well under the relays' limit.

export interface HostLimit {
  count: number;
  windowMs: number;
}

/** 60 requests per 180 s per host: a third of new-api's default, leaving room for other clients and instances. */
export const DEFAULT_HOST_LIMIT: HostLimit = { count: 60, windowMs: 180_000 };

export class HostLimiter {
  private readonly sent = new Map<string, number[]>();

  constructor(private readonly limit: HostLimit = DEFAULT_HOST_LIMIT) {}

  /** Takes a slot for `host` now and returns 0, or returns how long to wait for one (nothing taken). */
  take(host: string, now = Date.now()): number {
    const horizon = now - this.limit.windowMs;
    const times = (this.sent.get(host) ?? []).filter((t) => t > horizon);
    if (times.length >= this.limit.count) {
      this.sent.set(host, times);
      return times[times.length - this.limit.count]! + this.limit.windowMs - now + 1;
    }
    times.push(now);
    this.sent.set(host, times);
    if (this.sent.size > 10_000) this.prune(now);
    return 0;
  }

  private prune(now: number): void {
    for (const [h, times] of this.sent) if (!times.some((t) => t > now - this.limit.windowMs)) this.sent.delete(h);
  }
}
