import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Received {
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  body: any;
  /** X-Balancewatch-Delivery and X-Balancewatch-Event ('' when absent). */
  key: string;
  event: string;
  /** The account's external id in a balancewatch webhook body, else null. */
  account: string | null;
  /** The status answered; undefined while the answer is pending (or never sent). */
  status?: number;
}

export type Answer = { status: number; body?: string; headers?: Record<string, string> };
export type Responder = (req: Received, index: number) => Answer | 'hang' | Promise<Answer | 'hang'>;

/** A loopback HTTP receiver that records every request and answers as told (default 200 "ok"), possibly slowly. */
export class Receiver {
  readonly received: Received[] = [];
  private server: Server | null = null;
  respond: Responder = () => ({ status: 200, body: 'ok' });
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown = raw;
        try {
          body = JSON.parse(raw);
        } catch {}
        const r: Received = {
          at: Date.now(),
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          raw,
          body,
          key: String(req.headers['x-balancewatch-delivery'] ?? ''),
          event: String(req.headers['x-balancewatch-event'] ?? ''),
          account: (body as any)?.account?.external_id ?? null,
        };
        const index = this.received.length;
        this.received.push(r);
        void Promise.resolve(this.respond(r, index)).then((answer) => {
          if (answer === 'hang' || res.destroyed) return;
          res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
          res.end(answer.body ?? '', () => {
            r.status = answer.status;
          });
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
    return this;
  }

  async waitFor(n: number, timeoutMs = 10_000): Promise<Received[]> {
    const until = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > until) throw new Error(`receiver got ${this.received.length} requests, expected ${n}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.received;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
