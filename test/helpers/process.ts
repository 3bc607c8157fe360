import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Runs the real, compiled CLI (`node bin/balancewatch.js serve`) as a child process, for tests that need a real
// process boundary: kill -9, SIGTERM, restart on the same data.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'balancewatch.js');
const COMPILED = path.join(ROOT, 'dist', 'cli', 'main.js');

/** Throws a clear error when the CLI has not been compiled. */
export function requireBuild(): void {
  if (!existsSync(COMPILED)) throw new Error(`${path.relative(ROOT, COMPILED)} is missing: run \`npm run build\` first`);
}

/** A free loopback TCP port (released before returning, so there is a small window in which it could be taken). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the process has exited (immediately if it already has). */
  exited(timeoutMs?: number): Promise<Exit>;
  /** Sends a signal (no-op when already exited). */
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

const live = new Set<ServeProcess>();

/** SIGKILLs every child started by this helper that is still running (for afterEach / afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

/** Starts `balancewatch serve` on a free loopback port with `env` and waits until GET /healthz answers 200. */
export async function startServe(env: Record<string, string>, opts: { readyTimeoutMs?: number } = {}): Promise<ServeProcess> {
  requireBuild();
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  let exit: Exit | null = null;
  const exitP = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    }),
  );
  const proc: ServeProcess = {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => out,
    async exited(timeoutMs = 10_000) {
      if (exit) return exit;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        return await Promise.race([exitP, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    signal(sig) {
      if (!exit && child.pid) child.kill(sig);
    },
    async kill() {
      if (!exit) child.kill('SIGKILL');
      await exitP;
      live.delete(proc);
    },
  };
  live.add(proc);
  void exitP.then(() => live.delete(proc));

  const until = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (exit) throw new Error(`balancewatch serve exited (${JSON.stringify(exit)}) before it was healthy:\n${out}`);
    try {
      const res = await fetch(`${proc.url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      await proc.kill();
      throw new Error(`balancewatch serve was not healthy within ${opts.readyTimeoutMs ?? 15_000} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
