import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { sleep } from '../helpers/receiver.js';
import { type Running, startService } from '../helpers/service.js';

const run = promisify(execFile);
const CLI = path.resolve('bin/balancewatch.js');

describe('command line', () => {
  let dir: string;
  beforeAll(() => {
    if (!existsSync('dist/cli/main.js')) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
    dir = mkdtempSync(path.join(tmpdir(), 'bw-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = () => ({ ...process.env, BALANCEWATCH_DATA_DIR: dir, LOG_LEVEL: 'silent' });

  it('migrate, then apikey create prints a key once, and the key works against the service', async () => {
    const m = await run(process.execPath, [CLI, 'migrate'], { env: env() });
    expect(m.stdout).toMatch(/applied: 0001_initial|database is up to date/);
    const again = await run(process.execPath, [CLI, 'migrate'], { env: env() });
    expect(again.stdout.trim()).toBe('database is up to date');
    const k = await run(process.execPath, [CLI, 'apikey', 'create', '--json', '--name', 'ops'], { env: env() });
    const created = JSON.parse(k.stdout);
    expect(created.key).toMatch(/^bw_[A-Za-z0-9_-]{43}$/);
    expect(created.workspace_id).toBeNull();

    const svc = await startService('sqlite', { BALANCEWATCH_DATA_DIR: dir });
    try {
      const w = await svc.api('POST', '/api/v1/workspaces', { name: 'cli', external_id: 'cli-ws' }, created.key);
      expect(w.status).toBe(201);
      const wk = await run(process.execPath, [CLI, 'apikey', 'create', '--workspace', 'cli-ws'], { env: env() });
      const wsKey = wk.stdout.trim();
      expect(wk.stderr).toContain(`a key for workspace ${w.body.id}`);
      const list = await svc.api('GET', '/api/v1/workspaces', undefined, wsKey);
      expect(list.body.data.map((x: any) => x.id)).toEqual([w.body.id]);
      expect((await svc.api('POST', '/api/v1/workspaces', { name: 'nope' }, wsKey)).status).toBe(403);
    } finally {
      await svc.service.close();
    }
  });

  it('fails with a clear message and exit code 2 on bad input', async () => {
    const bad = await run(process.execPath, [CLI, 'apikey', 'create', '--workspace', 'missing'], { env: env() }).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no workspace "missing"');
    const port = await run(process.execPath, [CLI, 'serve'], { env: { ...env(), PORT: 'eighty' } }).catch((e) => e);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('PORT');
    const key = await run(process.execPath, [CLI, 'serve'], { env: { ...env(), BALANCEWATCH_SECRET_KEY: 'a-different-key-than-the-file' } }).catch((e) => e);
    expect(key.code).toBe(2);
    expect(key.stderr).toContain('secret key does not match');
  });
});

describe.each(databases())('operations endpoints on %s', (db) => {
  let svc: Running;
  beforeAll(async () => {
    svc = await startService(db);
  });
  afterAll(async () => svc?.close());

  it('answers /healthz, serves an OpenAPI document and Prometheus metrics', async () => {
    expect((await svc.api('GET', '/healthz', undefined, null)).body).toEqual({ status: 'ok' });
    const doc = (await svc.api('GET', '/api/openapi.json', undefined, null)).body;
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/api/v1/balances', '/api/v1/workspaces/{id}/notification-settings', '/api/v1/channels/{id}/test', '/api/v1/deliveries'])
      expect(Object.keys(doc.paths)).toContain(p);
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'm' });
    const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'a' });
    await svc.api('POST', '/api/v1/balances', { samples: [{ account: a.body.id, balance: 1 }] });
    const m = (await svc.api('GET', '/metrics', undefined, null)).body as string;
    expect(m).toMatch(/^balancewatch_samples_ingested_total 1$/m);
    expect(m).toMatch(/^balancewatch_alerts_firing\{level="warning"\} 1$/m);
    expect(m).toMatch(/^balancewatch_outbox_depth 0$/m);
    expect(m).toContain('# TYPE balancewatch_delivery_latency_seconds histogram');
    expect(m).toMatch(/^balancewatch_deliveries_dead 0$/m);
  });
});

describe('email through the service and a real SMTP server', () => {
  const mails: { to: string[]; raw: string }[] = [];
  let smtp: SMTPServer;
  let svc: Running;
  let port = 0;
  beforeAll(async () => {
    smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      onAuth(auth, _s, cb) {
        cb(auth.username === 'bw' && auth.password === 'p4ss' ? null : new Error('bad login'), { user: 'bw' });
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    port = (smtp.server.address() as { port: number }).port;
    svc = await startService('sqlite', { SMTP_URL: `smtp://bw:p4ss@127.0.0.1:${port}`, SMTP_FROM: 'balancewatch <alerts@example.com>' });
  });
  afterAll(async () => {
    await svc?.close();
    await new Promise<void>((r) => smtp.close(() => r()));
  });

  it.each([
    ['en', 'ops@example.com', /balance low/i, 'Critical'],
    ['zh-CN', 'zh@example.com', /余额不足/, '严重'],
  ])('sends a low-balance email in %s', async (locale, to, subject, levelWord) => {
    const w = await svc.api('POST', '/api/v1/workspaces', { name: `mail-${locale}`, locale, notification_settings: { levels: [{ level: 'warning', below: 20 }, { level: 'critical', below: 5 }] } });
    await svc.api('POST', '/api/v1/channels', { workspace_id: w.body.id, name: 'mail', type: 'email', to: [to] });
    const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'OpenRouter main', currency: 'USD' });
    await svc.api('POST', '/api/v1/balances', { samples: [{ account: a.body.id, balance: 2.4 }] });
    const until = Date.now() + 10_000;
    while (!mails.some((m) => m.to.includes(to)) && Date.now() < until) await sleep(50);
    const mail = mails.find((m) => m.to.includes(to));
    expect(mail).toBeDefined();
    const decoded = decodeMime(mail!.raw);
    expect(decoded).toMatch(subject);
    expect(decoded).toContain('OpenRouter main');
    expect(decoded).toContain(levelWord);
    expect(decoded).toMatch(/\$2\.40/);
    expect(mail!.raw).toMatch(/Content-Type: text\/plain/i);
    expect(mail!.raw).toMatch(/Content-Type: text\/html/i);
    // The result is recorded just after the SMTP server accepts the message (results are written in batches).
    let d = await svc.api('GET', `/api/v1/deliveries?workspace_id=${w.body.id}`);
    for (let i = 0; i < 100 && d.body.data[0]?.status === 'pending'; i++) {
      await sleep(50);
      d = await svc.api('GET', `/api/v1/deliveries?workspace_id=${w.body.id}`);
    }
    expect(d.body.data[0]).toMatchObject({ status: 'delivered', event: 'balance.low', level: 'critical' });
  });
});

/** Decodes RFC 2047 words and quoted-printable / base64 parts well enough to search the text. */
function decodeMime(raw: string): string {
  let out = raw.replace(/=\?utf-8\?([BQ])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : qp(text.replace(/_/g, ' ')),
  );
  out += '\n' + qp(raw);
  for (const m of raw.matchAll(/Content-Transfer-Encoding: base64\r?\n(?:[^\r\n]+\r?\n)*\r?\n([A-Za-z0-9+/=\r\n]+)/gi))
    out += '\n' + Buffer.from(m[1]!.replace(/\s/g, ''), 'base64').toString('utf8');
  return out;
}

function qp(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}
