import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type ConsoleMessage, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/http/static.js';
import { Receiver } from '../helpers/receiver.js';
import { startService, type Running } from '../helpers/service.js';

// The dashboard in a real browser (issue #6, "Done when"): Debian's Chromium driven by playwright-core against the
// real service started in-process, serving the built SPA (web/dist, made by `npm run build`, which `npm test` runs
// first). Screenshots go to test/browser/screenshots/ (gitignored).
//
// Never downloads a browser. Without /usr/bin/chromium the suite is skipped with a message, except under CI=true,
// where that is a failure (.ci/run installs chromium).

const CHROMIUM = process.env.BALANCEWATCH_CHROMIUM ?? '/usr/bin/chromium';
const CI = process.env.CI === 'true' || process.env.CI === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ROOT = packageRoot();
const WEB_INDEX = path.join(ROOT, 'web', 'dist', 'index.html');
const SHOTS = path.join(ROOT, 'test', 'browser', 'screenshots');

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'correct horse battery staple';

if (!HAVE_CHROMIUM) {
  if (CI)
    describe('dashboard in Chromium', () => {
      it('needs Chromium under CI', () => {
        throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run installs it with "apt-get install -y chromium"`);
      });
    });
  else {
    console.warn(`\n[balancewatch tests] browser tests skipped: ${CHROMIUM} not found (apt-get install chromium; CI installs it)\n`);
    describe.skip('dashboard in Chromium (skipped: no Chromium at ' + CHROMIUM + ')', () => {
      it('runs with Chromium', () => {});
    });
  }
}

/** Console errors and uncaught exceptions of a page, collected for the whole test. */
function watch(page: Page, problems: string[]): void {
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
}

/** Whether the page scrolls sideways (the document is wider than the viewport). */
async function sideways(page: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  return page.evaluate('({ scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth })');
}

async function shot(page: Page, name: string): Promise<void> {
  // From the top: a full-page capture otherwise draws the sticky header where the page was scrolled to.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

describe.runIf(HAVE_CHROMIUM)('dashboard in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(WEB_INDEX)) throw new Error(`${WEB_INDEX} is missing: run "npm run build" first (npm test does)`);
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  describe('a new admin', () => {
    let svc: Running;
    let hook: Receiver;
    let provider: Receiver;
    let ws: string;
    let accountId: string;
    let context: BrowserContext;
    let page: Page;
    const problems: string[] = [];

    beforeAll(async () => {
      hook = await new Receiver().start();
      // One path of the receiver is a webhook that is gone: its deliveries are dead at once.
      hook.respond = (r) => (r.path === '/gone' ? { status: 410, body: 'this hook was removed' } : { status: 200, body: 'ok' });
      // A provider that rejects the key: the overview shows a source error.
      provider = await new Receiver().start();
      provider.respond = () => ({ status: 401, body: JSON.stringify({ code: 20015, message: 'Invalid token' }), headers: { 'content-type': 'application/json' } });
      svc = await startService('sqlite', { BALANCEWATCH_ADMIN_EMAIL: ADMIN_EMAIL, BALANCEWATCH_ADMIN_PASSWORD: ADMIN_PASSWORD });

      const w = await svc.api('POST', '/api/v1/workspaces', { name: 'Acme AI', locale: 'en', time_zone: 'Asia/Shanghai' });
      expect(w.status).toBe(201);
      ws = w.body.id;
      expect((await svc.api('PATCH', `/api/v1/workspaces/${ws}/notification-settings`, { low_balance_threshold: 10 })).status).toBe(200);
      const ch = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'Ops webhook', type: 'webhook', url: `${hook.url}/hook` });
      expect(ch.status).toBe(201);
      const gone = await svc.api('POST', '/api/v1/channels', { workspace_id: ws, name: 'Old hook', type: 'webhook', url: `${hook.url}/gone` });
      expect(gone.status).toBe(201);

      const low = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'OpenRouter prod', external_id: 'or-prod', currency: 'USD' });
      expect(low.status).toBe(201);
      accountId = low.body.id;
      const fine = await svc.api('POST', '/api/v1/accounts', { workspace_id: ws, name: 'DeepSeek batch', external_id: 'ds-batch', currency: 'CNY' });
      expect(fine.status).toBe(201);
      const failing = await svc.api('POST', '/api/v1/accounts', {
        workspace_id: ws,
        name: 'SiliconFlow eval',
        currency: 'CNY',
        source: { type: 'siliconflow', api_key: 'sk-test-rejected-0000', base_url: provider.url },
      });
      expect(failing.status).toBe(201);
      // A second workspace: the overview can show both or filter to one.
      const other = await svc.api('POST', '/api/v1/workspaces', { name: 'Beta Labs', locale: 'zh-CN', time_zone: 'Asia/Shanghai' });
      expect(other.status).toBe(201);
      const beta = await svc.api('POST', '/api/v1/accounts', { workspace_id: other.body.id, name: 'Kimi research', external_id: 'kimi', currency: 'CNY' });
      expect(beta.status).toBe(201);
      expect((await svc.api('POST', '/api/v1/balances', { samples: [{ account: 'kimi', workspace: other.body.id, balance: 318.4 }] })).status).toBeLessThan(300);

      // Six hours of a draining balance, ending at 2.40 USD (below the threshold of 10); a steady CNY account.
      const now = Date.now();
      const drain = [30, 26.1, 21.75, 17.2, 12.9, 8.05, 5.3, 2.4];
      const steady = [905.2, 899.4, 893.1, 888.8, 880.6, 874.9, 869.3, 862.5];
      const samples = drain.flatMap((b, i) => {
        const at = new Date(now - (drain.length - 1 - i) * 45 * 60_000).toISOString();
        return [
          { account: 'or-prod', workspace: ws, balance: b, at },
          { account: 'ds-batch', workspace: ws, balance: steady[i], at },
        ];
      });
      const pushed = await svc.api('POST', '/api/v1/balances', { samples });
      expect(pushed.status, JSON.stringify(pushed.body)).toBeLessThan(300);
      const acc = await svc.api('GET', `/api/v1/accounts/${accountId}`);
      expect(acc.body.balance).toBe(2.4);
      expect(acc.body.alert.status).toBe('firing');

      context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US', deviceScaleFactor: 1 });
      page = await context.newPage();
      watch(page, problems);
    }, 60_000);

    afterAll(async () => {
      await context?.close();
      await svc?.close();
      await hook?.close();
      await provider?.close();
    });

    it('logs in and sees the low account with its chart, changes the threshold, tests a channel, reads it in Chinese and on a phone', async () => {
      // Log in.
      await page.goto(svc.url + '/');
      await page.getByLabel('Email').fill(ADMIN_EMAIL);
      await page.getByLabel('Password').fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();

      // Overview: 2.40 USD flagged low (warning level), a sparkline, the source error of the failing account.
      await page.getByRole('heading', { name: 'Accounts', exact: true }).waitFor();
      const row = page.locator('tr', { has: page.getByRole('link', { name: 'OpenRouter prod' }) });
      await expect.poll(() => row.locator('.balance').innerText()).toMatch(/2\.40\s*USD/);
      await expect.poll(() => row.locator('.badge').innerText()).toBe('Warning');
      expect(await row.getAttribute('class')).toContain('row-warning');
      expect(await row.locator('svg.spark polyline').count()).toBe(1);
      const failingRow = page.locator('tr', { has: page.getByRole('link', { name: 'SiliconFlow eval' }) });
      await expect.poll(() => failingRow.locator('.source-error').count(), { timeout: 15_000 }).toBe(1);
      // Reload the list so the failing source shows in the summary too.
      await page.getByRole('button', { name: 'Refresh' }).click();
      await expect.poll(() => page.locator('.stat-warn .stat-value').innerText()).toBe('1');
      expect(await page.locator('tbody tr').count()).toBe(4);
      await shot(page, 'overview-desktop');
      // Filter by workspace.
      await page.locator('main').getByLabel('Workspace').selectOption({ label: 'Beta Labs' });
      await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
      expect(await page.locator('tbody tr').innerText()).toContain('Kimi research');
      await page.locator('main').getByLabel('Workspace').selectOption({ label: 'All workspaces' });
      await expect.poll(() => page.locator('tbody tr').count()).toBe(4);

      // The account page: a uPlot chart with the threshold line.
      await page.getByRole('link', { name: 'OpenRouter prod' }).click();
      await page.getByRole('heading', { name: 'OpenRouter prod' }).waitFor();
      await page.locator('.chart canvas').waitFor();
      expect(await page.locator('.big-balance').innerText()).toMatch(/2\.40\s*USD/);
      expect(await page.locator('.account-head .badge').innerText()).toBe('Warning');
      expect(await page.locator('.chart .u-legend').innerText()).toContain('Balance');
      await shot(page, 'account');

      // A polled account whose provider rejects the key: "Poll now" shows why.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
      await page.getByRole('link', { name: 'SiliconFlow eval' }).click();
      await page.getByRole('button', { name: 'Poll now' }).click();
      const polled = page.locator('.inline-actions .notice');
      await polled.waitFor();
      expect(await polled.innerText()).toMatch(/^The poll failed \(credentials rejected\): .*HTTP 401/);

      // Notification settings: threshold 10 → 25, saved through the API.
      await page.getByRole('link', { name: 'Notification settings' }).click();
      const threshold = page.getByLabel('Alert when the balance is below');
      await expect.poll(() => threshold.inputValue()).toBe('10');
      await threshold.fill('25');
      await page.getByRole('button', { name: 'Save settings' }).click();
      await page.getByText('Settings saved').waitFor();
      const settings = await svc.api('GET', `/api/v1/workspaces/${ws}/notification-settings`);
      expect(settings.body.low_balance_threshold).toBe(25);

      // Add a channel by pasting a URL (a plain https? URL is a webhook).
      await page.getByRole('button', { name: 'Add channel' }).first().click();
      await page.getByRole('button', { name: 'Paste a URL' }).waitFor();
      await page.getByRole('button', { name: 'DingTalk' }).click();
      await page.getByText('Smart Group Assistant').waitFor();
      await page.locator('form[aria-labelledby="add-channel-title"]').screenshot({ path: path.join(SHOTS, 'add-channel.png') });
      await page.getByLabel('Channel name').fill('Pasted hook');
      await page.getByLabel('Webhook or Apprise URL').fill(`${hook.url}/pasted`);
      await page.locator('form[aria-labelledby="add-channel-title"]').getByRole('button', { name: 'Add channel' }).click();
      const pasted = page.locator('li.channel[data-channel="Pasted hook"]');
      await pasted.waitFor();
      expect(await pasted.locator('.type-tag').innerText()).toBe('Webhook');
      const channels = await svc.api('GET', `/api/v1/channels?workspace_id=${ws}`);
      expect(channels.body.data.map((c: { name: string }) => c.name).sort()).toEqual(['Old hook', 'Ops webhook', 'Pasted hook']);

      // Test: the receiver gets the test message and the page shows its answer.
      const before = hook.received.filter((r) => r.event === 'test').length;
      const ops = page.locator('li.channel[data-channel="Ops webhook"]');
      await ops.getByRole('button', { name: 'Test' }).click();
      await ops.locator('.test-answer').waitFor();
      const tests = hook.received.filter((r) => r.event === 'test');
      expect(tests.length).toBe(before + 1);
      expect(tests.at(-1)!.path).toBe('/hook');
      expect(tests.at(-1)!.body.type).toBe('test');
      const answer = await ops.locator('.test-answer').innerText();
      expect(answer).toContain('Delivered');
      expect(answer).toContain('HTTP 200');
      expect(answer).toContain('ok');

      // Turning a channel off is one click.
      await pasted.getByRole('switch').uncheck();
      await expect.poll(async () => (await svc.api('GET', `/api/v1/channels?workspace_id=${ws}`)).body.data.find((c: { name: string }) => c.name === 'Pasted hook').enabled).toBe(false);
      await shot(page, 'settings');

      // 中文: the page switches, and stays Chinese after a reload.
      await page.getByRole('button', { name: '中文' }).click();
      await page.getByRole('heading', { name: '通知设置' }).waitFor();
      expect(await page.evaluate('document.documentElement.lang')).toBe('zh-CN');
      expect(await page.getByLabel('余额低于此值时告警').inputValue()).toBe('25');
      await page.reload();
      await page.getByRole('heading', { name: '通知设置' }).waitFor();
      await page.getByRole('link', { name: '总览' }).click();
      await page.getByRole('heading', { name: '账户', exact: true }).waitFor();
      await expect.poll(() => row.locator('.badge').innerText()).toBe('警告');
      await shot(page, 'zh-CN');

      // Deliveries: the test and the alerts are listed with their answers.
      await page.getByRole('link', { name: '发送记录' }).click();
      await page.getByRole('heading', { name: '发送记录' }).waitFor();
      await expect.poll(() => page.locator('tbody tr').count()).toBeGreaterThan(0);
      expect(await page.locator('table').innerText()).toContain('测试');
      // Failed deliveries stand out, with the receiver's answer; the status filter shows only them.
      await expect.poll(() => page.locator('tr.row-dead').count()).toBeGreaterThan(0);
      expect(await page.locator('tr.row-dead').first().innerText()).toContain('HTTP 410');
      await shot(page, 'deliveries-zh-CN');
      await page.getByLabel('状态').selectOption('dead');
      await expect.poll(async () => (await page.locator('tbody tr').count()) === (await page.locator('tbody tr.row-dead').count())).toBe(true);

      // A small laptop / tablet width: the navigation folds into the menu, nothing scrolls sideways.
      await page.setViewportSize({ width: 1024, height: 768 });
      await page.goto(svc.url + '/');
      await page.getByRole('heading', { name: '账户', exact: true }).waitFor();
      expect((await sideways(page)).scrollWidth).toBeLessThanOrEqual(1024);
      await shot(page, 'tablet-overview');

      // A 390 px phone: no sideways scrolling on any page; tables become cards.
      await page.setViewportSize({ width: 390, height: 844 });
      for (const [p, heading] of [
        ['/', '账户'],
        [`/accounts/${accountId}`, 'OpenRouter prod'],
        ['/notifications', '通知设置'],
        ['/deliveries', '发送记录'],
        ['/api-keys', 'API 密钥'],
        ['/workspace', '工作区'],
      ] as const) {
        await page.goto(svc.url + p);
        await page.getByRole('heading', { name: heading, exact: true }).waitFor();
        await page.waitForLoadState('networkidle');
        const w = await sideways(page);
        expect(w.scrollWidth, `${p} at 390 px`).toBeLessThanOrEqual(w.innerWidth);
        if (p === '/') await shot(page, 'phone-overview');
        if (p === '/notifications') await shot(page, 'phone-settings');
        if (p === `/accounts/${accountId}`) await shot(page, 'phone-account');
      }
      // The menu opens and closes on a phone.
      await page.getByRole('button', { name: '菜单' }).click();
      await page.getByRole('link', { name: '总览' }).click();
      await page.getByRole('heading', { name: '账户', exact: true }).waitFor();
      expect((await sideways(page)).scrollWidth).toBeLessThanOrEqual(390);

      expect(problems).toEqual([]);
    }, 120_000);

    it('creates an API key shown once, then revokes it', async () => {
      await page.setViewportSize({ width: 1280, height: 860 });
      await page.evaluate("localStorage.setItem('balancewatch.lang', 'en')");
      await page.goto(svc.url + '/api-keys');
      await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
      await page.getByLabel('Key name').fill('billing pusher');
      await page.getByRole('button', { name: 'Create key' }).click();
      const key = (await page.locator('.secret-value').innerText()).trim();
      await shot(page, 'api-keys');
      // The key works against the API.
      const r = await svc.api('GET', `/api/v1/accounts?workspace_id=${ws}`, undefined, key);
      expect(r.status).toBe(200);
      await page.getByRole('button', { name: 'Revoke' }).click();
      await page.getByRole('button', { name: 'Revoke key' }).click();
      await page.getByText(/^Revoked /).waitFor();
      expect((await svc.api('GET', `/api/v1/accounts?workspace_id=${ws}`, undefined, key)).status).toBe(401);
      expect(problems).toEqual([]);
    }, 60_000);
  });

  describe('first run without BALANCEWATCH_ADMIN_EMAIL', () => {
    let svc: Running;
    let context: BrowserContext;

    beforeAll(async () => {
      svc = await startService('sqlite');
      context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
    });

    afterAll(async () => {
      await context?.close();
      await svc?.close();
    });

    it('sets up the first admin once, creates a workspace and an account, invites a viewer', async () => {
      const problems: string[] = [];
      const page = await context.newPage();
      watch(page, problems);
      expect((await svc.api('GET', '/api/v1/setup', undefined, null)).body).toEqual({ setup_required: true });

      await page.goto(svc.url + '/');
      await page.getByRole('heading', { name: 'Set up balancewatch' }).waitFor();
      await shot(page, 'setup');
      await page.getByLabel('Name').fill('Ada Admin');
      await page.getByLabel('Email').fill('ada@example.com');
      await page.getByLabel('Password').fill('a long enough password');
      await page.getByRole('button', { name: 'Create administrator' }).click();

      await page.getByRole('heading', { name: 'Welcome to balancewatch' }).waitFor();
      await shot(page, 'welcome');
      await page.getByLabel('Workspace name').fill('First team');
      await page.getByRole('button', { name: 'Create workspace' }).click();
      await page.getByRole('heading', { name: 'Accounts', exact: true }).waitFor();
      await page.getByText('No accounts yet').waitFor();

      // The first account, added in the page: a push account, then its page with the push example.
      await page.getByRole('button', { name: 'Add account' }).click();
      await page.getByLabel('Name', { exact: true }).fill('Team wallet');
      await page.getByLabel('Currency or unit').fill('credits');
      await page.locator('form[aria-labelledby="add-account-title"]').getByRole('button', { name: 'Add account' }).click();
      await page.getByRole('heading', { name: 'Team wallet' }).waitFor();
      await page.getByText('No balance in this time range yet.').waitFor();
      await page.getByText('This account is a push account').waitFor();
      const accounts = await svc.api('GET', '/api/v1/accounts');
      expect(accounts.body.data.map((a: { name: string; currency: string }) => [a.name, a.currency])).toEqual([['Team wallet', 'credits']]);

      // Setup happened once: the API says so, and a second setup is refused.
      expect((await svc.api('GET', '/api/v1/setup', undefined, null)).body).toEqual({ setup_required: false });
      const again = await svc.api('POST', '/api/v1/setup', { email: 'eve@example.com', password: 'another long password' }, null);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('already_set_up');
      const wsList = await svc.api('GET', '/api/v1/workspaces');
      expect(wsList.body.data.map((w: { name: string }) => w.name)).toEqual(['First team']);

      // Invite a viewer: without SMTP the link is shown once; the viewer joins with it and can only look.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Notification settings' }).click();
      await page.getByRole('heading', { name: 'Recipients and members' }).waitFor();
      const invite = page.locator('form[aria-labelledby="invite-title"]');
      await invite.getByLabel('Email').fill('val@example.com');
      await invite.getByLabel('Role').selectOption('viewer');
      await invite.getByRole('button', { name: 'Invite' }).click();
      const link = (await invite.locator('.secret-once code').innerText()).trim();
      expect(link).toMatch(new RegExp(`^${svc.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/invite/`));
      const viewerContext = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
      try {
        const viewer = await viewerContext.newPage();
        watch(viewer, problems);
        await viewer.goto(link);
        await viewer.getByRole('heading', { name: '加入工作区' }).waitFor();
        await viewer.getByLabel('密码').fill('viewer password 123');
        await viewer.getByRole('button', { name: '加入' }).click();
        await viewer.getByRole('heading', { name: '账户', exact: true }).waitFor();
        await viewer.goto(svc.url + '/notifications');
        await viewer.getByText('你在此工作区只有查看权限').first().waitFor();
        expect(await viewer.getByLabel('余额低于此值时告警').isDisabled()).toBe(true);
        expect(await viewer.getByRole('button', { name: '保存设置' }).count()).toBe(0);
      } finally {
        await viewerContext.close();
      }
      const members = await svc.api('GET', `/api/v1/workspaces/${wsList.body.data[0].id}/members`);
      expect(members.body.data.map((m: { email: string; role: string; invited: boolean }) => [m.email, m.role, m.invited]).sort()).toEqual([
        ['ada@example.com', 'admin', false],
        ['val@example.com', 'viewer', false],
      ]);

      // Sign out, and back in.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.getByLabel('Email').fill('ada@example.com');
      await page.getByLabel('Password').fill('a long enough password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Accounts', exact: true }).waitFor();
      expect(problems).toEqual([]);

      // Errors: the API's message is shown as it is; an ended session goes back to the sign-in form. (The browser
      // logs each 4xx answer as a failed resource: those two are the only console errors allowed here.)
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Notification settings' }).click();
      await page.getByRole('button', { name: 'Add channel' }).first().click();
      await page.getByLabel('Channel name').fill('Broken');
      await page.getByLabel('Webhook or Apprise URL').fill('gopher://example.com/hook');
      await page.locator('form[aria-labelledby="add-channel-title"]').getByRole('button', { name: 'Add channel' }).click();
      const refused = page.locator('form[aria-labelledby="add-channel-title"] [role="alert"]');
      await refused.waitFor();
      const said = await svc.api('POST', '/api/v1/channels', { workspace_id: wsList.body.data[0].id, name: 'Broken', url: 'gopher://example.com/hook' });
      expect(said.status).toBe(400);
      expect(await refused.innerText()).toBe(said.body.error.message);
      await context.clearCookies();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Deliveries' }).click();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      expect(problems.filter((p) => !/Failed to load resource: the server responded with a status of (400|401)/.test(p))).toEqual([]);
      expect(problems.length).toBeGreaterThan(0);
    }, 60_000);
  });
});
