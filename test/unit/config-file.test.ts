import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyConfig, type ConfigSpec, formatProblem, interpolate, validateConfigFile } from '../../src/config/file.js';
import { SecretBox } from '../../src/security/secrets.js';
import { migrate, openStore, type Store } from '../../src/store/db.js';
import { databases, freshPostgresUrl } from '../helpers/db.js';

// Config as code (issue #3 point 4): interpolation, every problem with its line and path, identities, and applying
// a file to the database (managed objects, updates, unmanaged objects left alone).

const validate = (text: string, env: Record<string, string> = {}) => validateConfigFile('bw.yaml', { text, env });
const lines = (text: string, env: Record<string, string> = {}) => validate(text, env).problems.map(formatProblem);

describe('interpolation', () => {
  const env = { A: 'alpha', EMPTY: '', N: '42' };
  it.each([
    ['${A}', 'alpha'],
    ['x-${A}-y', 'x-alpha-y'],
    ['${MISSING:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${MISSING-dflt}', 'dflt'],
    ['${MISSING:-}', ''],
    ['$${A}', '${A}'],
    ['cost $5', 'cost $5'],
    ['${A}${N}', 'alpha42'],
  ])('%s → %s', (text, want) => {
    const r = interpolate(text, env);
    expect(r.problems).toEqual([]);
    expect(r.value).toBe(want);
  });

  it('names a missing variable (never a value) and rejects malformed references', () => {
    expect(interpolate('${NOPE}', env).problems).toEqual([expect.stringContaining('environment variable NOPE is not set')]);
    expect(interpolate('${A', env).problems[0]).toMatch(/without a closing/);
    expect(interpolate('${1BAD}', env).problems[0]).toMatch(/not a variable reference/);
  });

  it('replaces variables in values (not keys), keeps quoted values strings and types unquoted ones', () => {
    const text = `
workspaces:
  - key: \${WS_KEY}
    name: "\${WS_NAME}"
    notification_settings:
      low_balance_threshold: \${LIMIT}
      notify_recovery: \${RECOVERY}
    accounts:
      - key: a
        name: "\${LIMIT}"
`;
    const r = validate(text, { WS_KEY: 'acme', WS_NAME: 'Acme', LIMIT: '25', RECOVERY: 'false' });
    expect(r.problems).toEqual([]);
    const ws = r.config!.workspaces[0]!;
    expect(ws).toMatchObject({ key: 'acme', external_id: 'acme', name: 'Acme', notification_settings: { low_balance_threshold: 25, notify_recovery: false } });
    expect(ws.accounts[0]!.name).toBe('25');
  });

  it('reports a missing variable at its line, once, without the schema repeating it, and never prints values', () => {
    const text = `workspaces:
  - key: acme
    accounts:
      - key: ds
        source:
          type: deepseek
          api_key: "\${DEEPSEEK_API_KEY}"
    channels:
      - name: hook
        type: webhook
        url: http://example.com/hook
        secret: "\${SECRET_WITH_SPACES}x y"
`;
    const r = validate(text, { SECRET_WITH_SPACES: 'hunter2-very-secret' });
    expect(r.problems.map((p) => [p.line, p.path])).toEqual([[7, 'workspaces[0].accounts[0].source.api_key']]);
    expect(r.problems[0]!.message).toContain('DEEPSEEK_API_KEY is not set');
    const bad = validate(text.replace('${DEEPSEEK_API_KEY}', 'sk-0123456789abcdef0123456789abcdef').replace('secret: "${SECRET_WITH_SPACES}x y"', 'secret: "${SECRET_WITH_SPACES}"\n        headers: { "Bad Header": "${SECRET_WITH_SPACES}" }'), {
      SECRET_WITH_SPACES: 'hunter2-very-secret',
    });
    expect(bad.problems.length).toBeGreaterThan(0);
    expect(JSON.stringify(bad.problems)).not.toContain('hunter2');
  });
});

describe('validation', () => {
  it('accepts a complete file and resolves identities, sources and channels', () => {
    const r = validate(
      `
version: 1
workspaces:
  - key: acme
    name: Acme
    locale: zh-CN
    time_zone: Asia/Shanghai
    notification_settings: { levels: [{ level: warning, below: 20 }, { level: critical, below: 5 }] }
    accounts:
      - key: ds
        name: DeepSeek
        currency: CNY
        top_up_url: https://platform.deepseek.com/top_up
        source: { type: deepseek, api_key: "\${KEY}", interval: 10m }
        rules: { low_balance_threshold: 50 }
      - key: pushed
        external_id: ext-pushed
        source: { type: push, expected_every: 1h }
    channels:
      - name: dt
        url: "dingtalk://SEC123@abcdef0123456789/"
        min_level: critical
        accounts: [ds, ext-pushed]
      - name: mail
        type: email
        to: [ops@example.com]
        events: [balance.low]
  - key: other
`,
      { KEY: 'sk-0123456789abcdef0123456789abcdef' },
    );
    expect(r.problems).toEqual([]);
    expect(r.counts).toEqual({ workspaces: 2, accounts: 2, channels: 2 });
    const [acme, other] = r.config!.workspaces;
    expect(other).toMatchObject({ key: 'other', external_id: 'other', name: 'other', locale: 'en', time_zone: 'UTC', notification_settings: null, accounts: [], channels: [] });
    expect(acme!.accounts.map((a) => [a.key, a.external_id, a.name, a.currency])).toEqual([
      ['ds', 'ds', 'DeepSeek', 'CNY'],
      ['pushed', 'ext-pushed', 'pushed', 'USD'],
    ]);
    expect(acme!.accounts[0]!.source).toMatchObject({ type: 'deepseek', api_key: 'sk-0123456789abcdef0123456789abcdef' });
    const dt = acme!.channels[0]!;
    expect(dt).toMatchObject({ name: 'dt', type: 'dingtalk', min_level: 'critical', accounts: ['ds', 'ext-pushed'], enabled: true });
    expect(dt.fields).toMatchObject({ secret: 'SEC123' });
    expect(String(dt.fields.url)).toContain('access_token=abcdef0123456789');
    expect(acme!.channels[1]).toMatchObject({ type: 'email', events: ['balance.low'], fields: { to: ['ops@example.com'] } });
  });

  it('reports every problem with its line, column and path, sorted by line', () => {
    const text = [
      'workspaces:', // 1
      '  - key: acme', // 2
      '    locale: fr', // 3
      '    colour: blue', // 4
      '    notification_settings:', // 5
      '      repeat_interval: 1m', // 6
      '    accounts:', // 7
      '      - key: a', // 8
      '        currency: ""', // 9
      '        source: { type: deepseek, api_key: "sk with spaces", bogus: 1 }', // 10
      '      - key: b', // 11
      '        source: { type: ouija }', // 12
      '      - key: c', // 13
      '        rules: { low_balance_threshold: -1 }', // 14
      '    channels:', // 15
      '      - name: hook', // 16
      '        type: webhook', // 17
      '        url: ftp://example.com', // 18
      '      - name: tg', // 19
      '        url: tgram://not-a-token/chat', // 20
      '      - name: nothing', // 21
      '      - name: mail', // 22
      '        type: email', // 23
      '        to: [not-an-address]', // 24
      '        accounts: [zz]', // 25
    ].join('\n');
    const r = validate(text);
    expect(r.config).toBeNull();
    const got = r.problems.map((p) => `${p.line}:${p.column} ${p.path}`);
    expect(got).toEqual([
      '3:13 workspaces[0].locale',
      '4:5 workspaces[0].colour',
      '6:24 workspaces[0].notification_settings.repeat_interval',
      '9:19 workspaces[0].accounts[0].currency',
      '10:44 workspaces[0].accounts[0].source.api_key',
      '10:62 workspaces[0].accounts[0].source.bogus',
      '12:25 workspaces[0].accounts[1].source.type',
      '14:41 workspaces[0].accounts[2].rules.low_balance_threshold',
      '18:14 workspaces[0].channels[0].url',
      '20:14 workspaces[0].channels[1].url',
      '21:9 workspaces[0].channels[2].url',
      '24:14 workspaces[0].channels[3].to[0]',
      '25:20 workspaces[0].channels[3].accounts[0]',
    ]);
    const byPath = Object.fromEntries(r.problems.map((p) => [p.path, p.message]));
    expect(byPath['workspaces[0].colour']).toBe('unknown field "colour"');
    expect(byPath['workspaces[0].accounts[0].source.bogus']).toBe('unknown field "bogus"');
    expect(byPath['workspaces[0].accounts[1].source.type']).toMatch(/"ouija" is not supported/);
    expect(byPath['workspaces[0].notification_settings.repeat_interval']).toMatch(/cannot be shorter than min_notify_interval/);
    expect(byPath['workspaces[0].channels[2].url']).toMatch(/give the channel a "url"/);
    expect(byPath['workspaces[0].channels[3].accounts[0]']).toMatch(/no account "zz"/);
    expect(formatProblem(r.problems[0]!)).toMatch(/^bw\.yaml:3:13 workspaces\[0\]\.locale: /);
  });

  it('reports a field read from a channel URL at the URL', () => {
    const r = validate('workspaces:\n  - key: a\n    channels:\n      - name: dt\n        url: "dingtalk://bad secret!@abc/"\n');
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ line: 5, path: 'workspaces[0].channels[0].url' });
  });

  it('reports duplicate YAML keys and duplicate identities at the second occurrence', () => {
    const text = [
      'workspaces:', // 1
      '  - key: acme', // 2
      '    name: A', // 3
      '    name: B', // 4
      '    accounts:', // 5
      '      - key: a', // 6
      '      - key: b', // 7
      '      - key: x', // 8
      '        external_id: a', // 9
      '    channels:', // 10
      '      - { name: hook, url: "https://example.com/1" }', // 11
      '      - { name: hook, url: "https://example.com/2" }', // 12
      '  - key: other', // 13
      '    external_id: acme', // 14
    ].join('\n');
    const r = validate(text);
    expect(r.problems.map((p) => `${p.line} ${p.path} ${p.message}`)).toEqual([
      '4  this key is already set above in the same mapping',
      expect.stringMatching(/^9 workspaces\[0\]\.accounts\[2\]\.external_id account "a" is already declared .*accounts\[0\]/),
      expect.stringMatching(/^12 workspaces\[0\]\.channels\[1\]\.name channel "hook" is already declared/),
      expect.stringMatching(/^14 workspaces\[1\]\.external_id workspace "acme" is already declared/),
    ]);
  });

  it('reports YAML syntax errors with their position, and unreadable or empty files', () => {
    const r = validate('workspaces:\n  - key: a\n    name: [unclosed\n');
    expect(r.problems).toHaveLength(1); // the first syntax error; what follows it is noise
    expect(r.problems[0]!.line).toBeGreaterThanOrEqual(3);
    expect(r.problems[0]!.message).toMatch(/^YAML syntax: /);
    const flow = validate('workspaces:\n  - key: a\n    notification_settings: { low_balance_threshold: ${LIMIT} }\n', { LIMIT: '5' });
    expect(flow.problems).toHaveLength(1);
    expect(flow.problems[0]).toMatchObject({ line: 3, message: expect.stringContaining('put a value with ${…} in quotes') });
    expect(lines('')).toEqual([expect.stringMatching(/the file is empty/)]);
    expect(lines('- a\n- b\n')).toEqual([expect.stringMatching(/expected a mapping/)]);
    expect(lines('workspaces: {}\nextra: 1\n')).toEqual([expect.stringMatching(/^bw\.yaml:1:1 workspaces: .*expected array/), 'bw.yaml:2:1 extra: unknown field "extra"']);
    const missing = validateConfigFile('/nonexistent/balancewatch.yaml');
    expect(missing.problems.map(formatProblem)).toEqual(['/nonexistent/balancewatch.yaml: cannot read the config file: no such file']);
  });

  it('checks account rules against the workspace settings and channel templates', () => {
    const r = validate(`
workspaces:
  - key: a
    notification_settings: { levels: [{ level: warning, below: 20 }] }
    accounts:
      - key: x
        rules: { levels: [{ level: critical, below: 30 }, { level: warning, below: 10 }] }
    channels:
      - name: hook
        url: https://example.com/h
        template: { default: { title: "{% for %}" } }
`);
    expect(r.problems.map((p) => [p.line, p.path])).toEqual([
      [7, 'workspaces[0].accounts[0].rules.levels[1].level'],
      [11, 'workspaces[0].channels[0].template.default.title'],
    ]);
  });
});

describe.each(databases())('applying a config file on %s', (db) => {
  let store: Store | null = null;
  let dir: string | null = null;
  const box = new SecretBox(randomBytes(32));
  afterEach(async () => {
    await store?.close();
    store = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const open = async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'bw-apply-'));
    store = openStore({ dataDir: dir, databaseUrl: db === 'postgres' ? await freshPostgresUrl() : undefined });
    await migrate(store);
    return store;
  };
  const spec = (text: string, env: Record<string, string> = {}): ConfigSpec => {
    const r = validate(text, env);
    expect(r.problems).toEqual([]);
    return r.config!;
  };
  const FILE = (key: string, threshold = 20) => `
workspaces:
  - key: acme
    name: Acme
    notification_settings: { low_balance_threshold: ${threshold} }
    accounts:
      - key: ds
        name: DeepSeek
        currency: CNY
        source: { type: deepseek, api_key: "${key}" }
      - key: pushed
        source: { type: push }
    channels:
      - name: hook
        type: webhook
        url: https://example.com/hook
        secret: whsec-123456
        accounts: [ds]
`;

  it('creates managed objects with secrets encrypted, and changes nothing when applied again', async () => {
    const s = await open();
    const first = await applyConfig(s, box, spec(FILE('sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')));
    expect(first.workspaces).toEqual({ created: 1, updated: 0, unchanged: 0 });
    expect(first.accounts).toEqual({ created: 2, updated: 0, unchanged: 0 });
    expect(first.channels).toEqual({ created: 1, updated: 0, unchanged: 0 });
    const ws = await s.db.selectFrom('workspaces').selectAll().executeTakeFirstOrThrow();
    expect(ws).toMatchObject({ external_id: 'acme', name: 'Acme', managed: 1 });
    expect(JSON.parse(ws.settings).low_balance_threshold).toBe(20);
    const accounts = await s.db.selectFrom('accounts').selectAll().orderBy('external_id').execute();
    expect(accounts.map((a) => [a.external_id, a.source_type, a.managed])).toEqual([
      ['ds', 'deepseek', 1],
      ['pushed', 'push', 1],
    ]);
    expect(accounts[0]!.source_config).not.toContain('sk-aaaa');
    expect(accounts[0]!.next_poll_at).not.toBeNull();
    const ch = await s.db.selectFrom('channels').selectAll().executeTakeFirstOrThrow();
    expect(ch).toMatchObject({ name: 'hook', type: 'webhook', managed: 1, account_ids: JSON.stringify([accounts[0]!.id]) });
    expect(ch.config).not.toContain('whsec-123456');

    const again = await applyConfig(s, box, spec(FILE('sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')));
    expect([again.workspaces, again.accounts, again.channels]).toEqual([
      { created: 0, updated: 0, unchanged: 1 },
      { created: 0, updated: 0, unchanged: 2 },
      { created: 0, updated: 0, unchanged: 1 },
    ]);
    const after = await s.db.selectFrom('accounts').selectAll().where('external_id', '=', 'ds').executeTakeFirstOrThrow();
    expect(after.source_config).toBe(accounts[0]!.source_config);
  });

  it('updates what changed (a new credential is polled at once) and leaves unmanaged objects alone', async () => {
    const s = await open();
    await applyConfig(s, box, spec(FILE('sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')));
    const now = Date.now();
    // Objects created elsewhere (API / dashboard), and a poll scheduled for later.
    const ws = await s.db.selectFrom('workspaces').select('id').executeTakeFirstOrThrow();
    await s.db.updateTable('accounts').set({ next_poll_at: now + 3_600_000, poll_failures: 2 }).execute();
    await s.db
      .insertInto('workspaces')
      .values({ id: 'ws_manual', name: 'Manual', external_id: null, locale: 'en', time_zone: 'UTC', settings: '{}', managed: 0, created_at: now, updated_at: now })
      .execute();
    await s.db
      .insertInto('channels')
      .values({ id: 'ch_manual', workspace_id: ws.id, name: 'by hand', type: 'webhook', config: '{"url":"https://example.com/x"}', events: null, min_level: null, account_ids: null, enabled: 1, template: null, managed: 0, created_at: now, updated_at: now })
      .execute();

    const changed = await applyConfig(s, box, spec(FILE('sk-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 30)));
    expect(changed.workspaces).toEqual({ created: 0, updated: 1, unchanged: 0 });
    expect(changed.accounts).toEqual({ created: 0, updated: 1, unchanged: 1 });
    expect(changed.unmanaged).toEqual({ workspaces: ['Manual'], accounts: [], channels: ['Acme / by hand'] });
    expect(changed.released).toEqual([]);
    const ds = await s.db.selectFrom('accounts').selectAll().where('external_id', '=', 'ds').executeTakeFirstOrThrow();
    expect(ds.next_poll_at).toBeLessThanOrEqual(Date.now());
    expect(ds.poll_failures).toBe(0);
    const pushed = await s.db.selectFrom('accounts').selectAll().where('external_id', '=', 'pushed').executeTakeFirstOrThrow();
    expect(pushed.poll_failures).toBe(2); // untouched
    expect(JSON.parse((await s.db.selectFrom('workspaces').select('settings').where('id', '=', ws.id).executeTakeFirstOrThrow()).settings).low_balance_threshold).toBe(30);
    expect(await s.db.selectFrom('workspaces').select('id').where('id', '=', 'ws_manual').executeTakeFirst()).toBeDefined();
    expect((await s.db.selectFrom('channels').select('managed').where('id', '=', 'ch_manual').executeTakeFirstOrThrow()).managed).toBe(0);

    // An account and a channel dropped from the file are kept, no longer managed.
    const smaller = spec(`
workspaces:
  - key: acme
    name: Acme renamed
    accounts:
      - key: ds
        name: DeepSeek
        currency: CNY
        source: { type: deepseek, api_key: "sk-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" }
`);
    const dropped = await applyConfig(s, box, smaller);
    expect(dropped.released.sort()).toEqual(['account Acme renamed / pushed', 'channel Acme renamed / hook']);
    expect((await s.db.selectFrom('accounts').select('managed').where('external_id', '=', 'pushed').executeTakeFirstOrThrow()).managed).toBe(0);
    expect((await s.db.selectFrom('channels').select(['name', 'managed']).where('name', '=', 'hook').executeTakeFirstOrThrow()).managed).toBe(0);
    // No notification_settings in the file: the stored ones are kept.
    expect(JSON.parse((await s.db.selectFrom('workspaces').select('settings').where('id', '=', ws.id).executeTakeFirstOrThrow()).settings).low_balance_threshold).toBe(30);
  });

  it('takes over an existing unmanaged workspace and account with the same external ids', async () => {
    const s = await open();
    const now = Date.now();
    await s.db
      .insertInto('workspaces')
      .values({ id: 'ws_old', name: 'Old', external_id: 'acme', locale: 'en', time_zone: 'UTC', settings: '{}', managed: 0, created_at: now, updated_at: now })
      .execute();
    const r = await applyConfig(s, box, spec(FILE('sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')));
    expect(r.workspaces).toEqual({ created: 0, updated: 1, unchanged: 0 });
    const ws = await s.db.selectFrom('workspaces').selectAll().executeTakeFirstOrThrow();
    expect(ws).toMatchObject({ id: 'ws_old', name: 'Acme', managed: 1 });
  });
});
