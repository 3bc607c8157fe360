import type { Logger } from 'pino';

/** A background task run every `ms`, never overlapping itself; a failure is logged and retried next time. */
export class Periodic {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly what: string,
    private readonly ms: number,
    private readonly run: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.run();
    } catch (err) {
      this.logger.error({ err }, `${this.what} failed; will retry`);
    } finally {
      this.running = false;
    }
  }
}
