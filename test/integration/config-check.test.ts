import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killAll, requireBuild, startServe } from '../helpers/process.js';
import { Receiver } from '../helpers/receiver.js';

// The compiled CLI against a temporary data dir (issue #3 points 4 and 5, issue #4 point 5): `config validate`,
// `check --config` from cron with a loopback provider and a loopback webhook, `notify test`, `serve --config`.

const BIN = path.resolve('bin/balancewatch.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

/** A provider's balance API: an http-json source reads $.data.balance (a string, as many providers send it). */
class FakeProvider {
  balance = '3.5';
  status = 200;
  requests = 0;
  private server: Server | null = null;
  url = '';
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests++;
      if (req.headers.authorization !== 'Bearer sk-provider-secret-0001') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid key"}');
        return;
      }
      res.writeHead(this.status, { 'content-type': 'application/json' });
      res.end(this.status === 200 ? JSON.stringify({ success: true, data: { balance: this.balance, currency: 'USD' } }) : '{"error":"upstream exploded"}');
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
    return this;
  }
  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const CONFIG = `
# check --config: one polled account (http-json), one push account, a webhook channel.
workspaces:
  - key: acme
    name: Acme
    notification_settings:
      low_balance_threshold: 10
    accounts:
      - key: relay
        name: Relay wallet
        currency: USD
        source:
          type: http-json
          url: "\${PROVIDER_URL}/api/balance"
          headers: { Authorization: "Bearer \${PROVIDER_KEY}" }
          balance_path: $.data.balance
          success_path: $.success
      - key: pushed
        name: Pushed credits
        currency: credits
        source: { type: push }
    channels:
      - name: ops
        type: webhook
        url: "\${HOOK_URL}/hook"
        secret: "\${HOOK_SECRET}"
        events: [balance.low, balance.recovered, source.failing]
`;

describe('balancewatch config validate', () => {
  let dir: string;
  beforeAll(() => {
    requireBuild();
    dir = mkdtempSync(path.join(tmpdir(), 'bw-cfg-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints "ok" with the counts and exits 0, without touching any database', async () => {
    const file = path.join(dir, 'ok.yaml');
    writeFileSync(file, CONFIG);
    const dataDir = path.join(dir, 'no-data-here');
    const r = await cli(['config', 'validate', file], {
      BALANCEWATCH_DATA_DIR: dataDir,
      PROVIDER_URL: 'http://127.0.0.1:9',
      PROVIDER_KEY: 'k',
      HOOK_URL: 'http://127.0.0.1:9',
      HOOK_SECRET: 's3cret',
    });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(r.stdout.trim()).toBe(`${file}: ok (1 workspace, 2 accounts, 1 channel)`);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('prints every problem as FILE:LINE:COL path: message and exits 2, never printing a variable', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'workspaces:', // 1
        '  - key: acme', // 2
        '    locale: de', // 3
        '    accounts:', // 4
        '      - key: ds', // 5
        '        source: { type: deepseek, api_key: "${DS_KEY}" }', // 6
        '      - key: or', // 7
        '        source: { type: openrouter, api_key: "${OR_KEY}", colour: red }', // 8
        '    channels:', // 9
        '      - name: dt', // 10
        '        url: "dingtalk://${DT_SECRET}@${DT_TOKEN}/"', // 11
      ].join('\n'),
    );
    const r = await cli(['config', 'validate', file], { OR_KEY: 'sk-or-v1-TOPSECRETVALUE', DT_SECRET: 'not a valid secret!', DT_TOKEN: 'abc123' });
    expect(r.code).toBe(2);
    const out = r.stdout.trim().split('\n');
    expect(out).toEqual([
      `${file}:3:13 workspaces[0].locale: Invalid option: expected one of "en"|"zh-CN"`,
      expect.stringMatching(new RegExp(`^${escape(file)}:6:44 workspaces\\[0\\]\\.accounts\\[0\\]\\.source\\.api_key: environment variable DS_KEY is not set`)),
      `${file}:8:59 workspaces[0].accounts[1].source.colour: unknown field "colour"`,
      expect.stringMatching(new RegExp(`^${escape(file)}:11:14 workspaces\\[0\\]\\.channels\\[0\\]\\.url: the DingTalk secret may only contain letters and digits`)),
    ]);
    expect(r.stderr).toContain(`${file}: 4 problems`);
    expect(r.stdout + r.stderr).not.toContain('TOPSECRETVALUE');
    expect(r.stdout + r.stderr).not.toContain('not a valid secret!');

    const missing = await cli(['config', 'validate', path.join(dir, 'nope.yaml')], {});
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('nope.yaml: cannot read the config file: no such file');
  });
});

describe('balancewatch check --config (cron) and notify test', () => {
  let dir: string;
  let dataDir: string;
  let file: string;
  let provider: FakeProvider;
  let rx: Receiver;
  let env: Record<string, string>;
  beforeAll(async () => {
    requireBuild();
    dir = mkdtempSync(path.join(tmpdir(), 'bw-check-'));
    dataDir = path.join(dir, 'data');
    file = path.join(dir, 'balancewatch.yaml');
    writeFileSync(file, CONFIG);
    provider = await new FakeProvider().start();
    rx = await new Receiver().start();
    env = {
      BALANCEWATCH_DATA_DIR: dataDir,
      BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true',
      PROVIDER_URL: provider.url,
      PROVIDER_KEY: 'sk-provider-secret-0001',
      HOOK_URL: rx.url,
      HOOK_SECRET: 'whsec-0123456789',
    };
  });
  afterAll(async () => {
    await killAll();
    await provider?.close();
    await rx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const events = () => rx.received.filter((r) => r.path === '/hook').map((r) => r.event);

  it('alerts once when low (exit 1), stays quiet while still low, sends the recovery (exit 0), and reports a failing provider (exit 2)', async () => {
    // 1. Low: the table shows the account, the notification is sent before the process exits.
    const first = await cli(['check', '--config', file], env);
    expect(first.code, first.stdout + first.stderr).toBe(1);
    const [header, ...rows] = first.stdout.trim().split('\n');
    expect(header).toMatch(/^ACCOUNT\s+WORKSPACE\s+BALANCE\s+THRESHOLD\s+LEVEL\s+RUNWAY\s+ERROR$/);
    const relay = rows.find((l) => l.startsWith('Relay wallet'))!;
    expect(relay).toMatch(/^Relay wallet\s+Acme\s+3\.50 USD\s+10\.00\s+warning\s+-$/);
    expect(rows.find((l) => l.startsWith('Pushed credits'))).toMatch(/^Pushed credits\s+Acme\s+-\s+10\.00\s+ok\s+-$/);
    expect(first.stdout).toMatch(/2 accounts \(1 polled\) · 1 alerting · 0 errors · notifications: 1 sent/);
    expect(first.stdout).not.toContain('\x1b['); // no colours when not a terminal
    // The header and the columns line up.
    expect(relay.indexOf('3.50 USD') + '3.50 USD'.length).toBe(header!.indexOf('BALANCE') + 'BALANCE'.length);
    expect(events()).toEqual(['balance.low']);
    const low = rx.received.find((r) => r.path === '/hook')!;
    expect(low.body).toMatchObject({ type: 'balance.low', balance: 3.5, currency: 'USD', level: 'warning', threshold: 10, account: { external_id: 'relay' } });
    expect(low.headers['x-balancewatch-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);

    // 2. Still low, next cron run: no new notification, still exit 1. JSON output parses.
    const second = await cli(['check', '--config', file, '--json'], env);
    expect(second.code, second.stderr).toBe(1);
    const json = JSON.parse(second.stdout) as any[];
    expect(json).toHaveLength(2);
    const r2 = json.find((r) => r.account === 'Relay wallet');
    expect(r2).toMatchObject({
      workspace: 'Acme',
      account_external_id: 'relay',
      source: 'http-json',
      polled: true,
      ok: true,
      balance: 3.5,
      currency: 'USD',
      threshold: 10,
      level: 'warning',
      alerting: true,
      alerts: [{ rule: 'balance.low', level: 'warning' }],
      runway_days: null,
      error: null,
    });
    expect(json.find((r) => r.account === 'Pushed credits')).toMatchObject({ polled: false, ok: true, balance: null, level: 'ok', alerting: false });
    expect(events()).toEqual(['balance.low']);

    // 3. Topped up: the recovery goes out, exit 0.
    provider.balance = '100';
    const third = await cli(['check', '--config', file], env);
    expect(third.code, third.stdout + third.stderr).toBe(0);
    expect(third.stdout).toMatch(/Relay wallet\s+Acme\s+100\.00 USD\s+10\.00\s+ok/);
    expect(events()).toEqual(['balance.low', 'balance.recovered']);

    // 4. The provider fails: exit 2, the error in the table and in JSON; no false "low".
    provider.status = 500;
    const fourth = await cli(['check', '--config', file], env);
    expect(fourth.code, fourth.stdout + fourth.stderr).toBe(2);
    expect(fourth.stdout).toMatch(/Relay wallet\s+Acme\s+100\.00 USD\s+10\.00\s+ok\s+-\s+bad_response: .*500/);
    const fifth = await cli(['check', '--json'], env); // without --config: what the database holds
    expect(fifth.code).toBe(2);
    const failed = (JSON.parse(fifth.stdout) as any[]).find((r) => r.account === 'Relay wallet');
    expect(failed).toMatchObject({ ok: false, balance: 100, level: 'ok', error: { kind: 'bad_response' } });
    expect(failed.error.message).toMatch(/500/);
    expect(events()).toEqual(['balance.low', 'balance.recovered']);
    expect(fourth.stdout + fourth.stderr + fifth.stdout + fifth.stderr).not.toContain('sk-provider-secret-0001');
    provider.status = 200;

    // --workspace limits the run; an unknown one is bad input.
    const scoped = await cli(['check', '--json', '--workspace', 'acme'], env);
    expect(JSON.parse(scoped.stdout)).toHaveLength(2);
    const unknown = await cli(['check', '--workspace', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no workspace "nope"');
  });

  it('refuses a broken config file before touching anything (exit 2)', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, CONFIG.replace('balance_path: $.data.balance', 'balance_path: "$.data[oops"'));
    const r = await cli(['check', '--config', bad], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${escape(bad)}:\\d+:\\d+ workspaces\\[0\\]\\.accounts\\[0\\]\\.source\\.balance_path: `));
    expect(r.stdout).toBe('');
  });

  it('notify test delivers to a URL without a database, fails clearly on a dead port, and tests a stored channel', async () => {
    const noDb = path.join(dir, 'never-created');
    const ok = await cli(['notify', 'test', `json://${rx.url.replace('http://', '')}/notify-test`, '--message', 'hello from cron'], {
      BALANCEWATCH_DATA_DIR: noDb,
      BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true',
    });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe('ok (HTTP 200): ok');
    const got = rx.received.find((r) => r.path === '/notify-test')!;
    expect(got.event).toBe('test');
    expect(got.raw).toContain('hello from cron');
    expect(existsSync(noDb)).toBe(false);

    const port = await freePort();
    const dead = await cli(['notify', 'test', `json://127.0.0.1:${port}/x`, '--json'], { BALANCEWATCH_DATA_DIR: noDb, BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true' });
    expect(dead.code).toBe(1);
    const deadJson = JSON.parse(dead.stdout);
    expect(deadJson).toMatchObject({ ok: false, status: null, response: null });
    expect(deadJson.error).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
    const deadText = await cli(['notify', 'test', `json://127.0.0.1:${port}/x`], { BALANCEWATCH_DATA_DIR: noDb, BALANCEWATCH_ALLOW_PRIVATE_TARGETS: 'true' });
    expect(deadText.stdout.trim()).toMatch(/^failed: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);

    // Loopback is refused unless allowed.
    const blocked = await cli(['notify', 'test', `json://127.0.0.1:${port}/x`], { BALANCEWATCH_DATA_DIR: noDb });
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toMatch(/^failed: /);

    // Bad input: exit 2.
    const bad = await cli(['notify', 'test', 'carrier-pigeon://home'], { BALANCEWATCH_DATA_DIR: noDb });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a channel balancewatch knows/);
    expect((await cli(['notify', 'test', 'https://example.com/x', '--locale', 'fr'], { BALANCEWATCH_DATA_DIR: noDb })).code).toBe(2);
    expect((await cli(['notify', 'test', 'ch_doesnotexist'], env)).code).toBe(2);

    // A stored channel (created by the config file): sent like POST /channels/{id}/test, recorded as a delivery.
    const db = new SQLite(path.join(dataDir, 'balancewatch.db'), { readonly: true });
    const ch = db.prepare("select id from channels where name = 'ops'").get() as { id: string };
    db.close();
    const stored = await cli(['notify', 'test', ch.id, '--locale', 'zh-CN'], env);
    expect(stored.code, stored.stdout + stored.stderr).toBe(0);
    expect(stored.stdout.trim()).toBe('ok (HTTP 200): ok');
    const test = rx.received.filter((r) => r.path === '/hook' && r.event === 'test');
    expect(test).toHaveLength(1);
    expect(test[0]!.headers['x-balancewatch-signature']).toBeDefined();
    expect(test[0]!.body.message.title).toMatch(/测试/);
    const db2 = new SQLite(path.join(dataDir, 'balancewatch.db'), { readonly: true });
    expect(db2.prepare("select status from deliveries where event = 'test'").all()).toEqual([{ status: 'delivered' }]);
    db2.close();
  });

  it('serve --config applies the file at start (and refuses a broken one with exit 2)', async () => {
    const serveDir = path.join(dir, 'serve-data');
    const adminKey = 'test-admin-key-0123456789abcdef';
    const proc = await startServe({ ...env, BALANCEWATCH_DATA_DIR: serveDir, BALANCEWATCH_CONFIG: file, BALANCEWATCH_ADMIN_API_KEY: adminKey, LOG_LEVEL: 'silent' });
    try {
      const res = await fetch(`${proc.url}/api/v1/workspaces`, { headers: { authorization: `Bearer ${adminKey}` } });
      const body = (await res.json()) as { data: Array<{ external_id: string; name: string }> };
      expect(body.data.map((w) => [w.external_id, w.name])).toEqual([['acme', 'Acme']]);
      const accounts = (await (await fetch(`${proc.url}/api/v1/accounts`, { headers: { authorization: `Bearer ${adminKey}` } })).json()) as { data: any[] };
      expect(accounts.data.map((a) => a.external_id).sort()).toEqual(['pushed', 'relay']);
      expect(JSON.stringify(accounts.data)).not.toContain('sk-provider-secret-0001');
    } finally {
      await proc.kill();
    }
    const bad = path.join(dir, 'serve-bad.yaml');
    writeFileSync(bad, 'workspaces:\n  - key: x\n    locale: klingon\n');
    const r = await cli(['serve', '--config', bad], { ...env, BALANCEWATCH_DATA_DIR: serveDir, PORT: '0' }, 20_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:3:13 workspaces[0].locale: `);
    expect(r.stderr).toContain('nothing was started');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
