// Failed-login throttling (SPEC §8 "login rate-limited"): failures are counted per e-mail address and per client
// address in a sliding window; past the limit, attempts are refused with 429 and Retry-After until the oldest
// failure leaves the window. In memory (per instance): a restart forgets, which only helps the legitimate user.

export interface LimitRule {
  max: number;
  windowMs: number;
}

/** Sliding-window failure counts per key, bounded in memory. */
export class FailureWindow {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly rule: LimitRule,
    private readonly maxKeys = 50_000,
  ) {}

  /** Milliseconds until `key` may try again, or 0. */
  wait(key: string, now: number): number {
    const list = this.live(key, now);
    if (list.length < this.rule.max) return 0;
    return list[list.length - this.rule.max]! + this.rule.windowMs - now;
  }

  fail(key: string, now: number): void {
    const list = this.live(key, now);
    list.push(now);
    this.hits.delete(key); // re-insert: the Map's order is the least-recently-failed order
    this.hits.set(key, list.slice(-this.rule.max));
    if (this.hits.size > this.maxKeys) this.hits.delete(this.hits.keys().next().value!);
  }

  reset(key: string): void {
    this.hits.delete(key);
  }

  private live(key: string, now: number): number[] {
    const list = this.hits.get(key);
    if (!list) return [];
    const fresh = list.filter((t) => now - t < this.rule.windowMs);
    if (fresh.length === 0) this.hits.delete(key);
    return fresh;
  }
}

export const EMAIL_LIMIT: LimitRule = { max: 5, windowMs: 15 * 60_000 };
// Higher per client: behind a reverse proxy every user shares its address (trustProxy is off), and one client
// trying many addresses (password spraying) is still slowed to a crawl.
export const IP_LIMIT: LimitRule = { max: 50, windowMs: 15 * 60_000 };

/** Login throttling by e-mail (5 failures / 15 min) and by client address (50 / 15 min). */
export class LoginGuard {
  private readonly byEmail: FailureWindow;
  private readonly byIp: FailureWindow;

  constructor(email: LimitRule = EMAIL_LIMIT, ip: LimitRule = IP_LIMIT) {
    this.byEmail = new FailureWindow(email);
    this.byIp = new FailureWindow(ip);
  }

  /** Seconds to wait before another attempt (for Retry-After), or 0 when one is allowed now. */
  retryAfter(ip: string, email: string, now = Date.now()): number {
    const ms = Math.max(this.byEmail.wait(email, now), this.byIp.wait(ip, now));
    return ms > 0 ? Math.ceil(ms / 1000) : 0;
  }

  failed(ip: string, email: string, now = Date.now()): void {
    this.byEmail.fail(email, now);
    this.byIp.fail(ip, now);
  }

  /** A successful login clears the address's count (not the client's: one client may be guessing many). */
  succeeded(email: string): void {
    this.byEmail.reset(email);
  }
}
