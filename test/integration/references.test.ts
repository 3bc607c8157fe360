import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databases } from '../helpers/db.js';
import { type Running, startService } from '../helpers/service.js';

// References a user gives must point inside their own workspace, and links must be web links.
describe.each(databases())('references and links on %s', (db) => {
  let svc: Running;
  let wsA: string;
  let accA: string;
  let accB: string;
  beforeAll(async () => {
    svc = await startService(db);
    wsA = (await svc.api('POST', '/api/v1/workspaces', { name: 'A' })).body.id;
    const wsB = (await svc.api('POST', '/api/v1/workspaces', { name: 'B' })).body.id;
    accA = (await svc.api('POST', '/api/v1/accounts', { workspace_id: wsA, name: 'a' })).body.id;
    accB = (await svc.api('POST', '/api/v1/accounts', { workspace_id: wsB, name: 'b' })).body.id;
  });
  afterAll(async () => svc?.close());

  it("a channel's account_ids must be accounts of its own workspace", async () => {
    const base = { workspace_id: wsA, name: 'h', type: 'webhook', url: 'https://example.com/hook' };
    const bad = await svc.api('POST', '/api/v1/channels', { ...base, account_ids: [accA, accB] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([{ path: 'body.account_ids', message: 'unknown account' }]);
    expect(bad.body.error.message).toContain(accB);
    expect((await svc.api('GET', `/api/v1/channels?workspace_id=${wsA}`)).body.data).toEqual([]);
    const ok = await svc.api('POST', '/api/v1/channels', { ...base, account_ids: [accA] });
    expect(ok.status).toBe(201);
    expect(ok.body.account_ids).toEqual([accA]);
    const patch = await svc.api('PATCH', `/api/v1/channels/${ok.body.id}`, { account_ids: [accB] });
    expect(patch.status).toBe(400);
    expect((await svc.api('GET', `/api/v1/channels/${ok.body.id}`)).body.account_ids).toEqual([accA]);
  });

  it.each(['javascript:alert(1)', 'ftp://example.com/pay', 'data:text/html,hi'])('top_up_url %s is refused', async (url) => {
    const r = await svc.api('PATCH', `/api/v1/accounts/${accA}`, { top_up_url: url });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].path).toBe('body.top_up_url');
  });

  it('an https top_up_url is kept', async () => {
    const r = await svc.api('PATCH', `/api/v1/accounts/${accA}`, { top_up_url: 'https://platform.example.com/top-up' });
    expect(r.status).toBe(200);
    expect(r.body.top_up_url).toBe('https://platform.example.com/top-up');
  });

  it('says that a forbidden key is forbidden, and where broken JSON breaks', async () => {
    const proto = await svc.api('POST', '/api/v1/workspaces', '{"__proto__":{"x":1},"name":"p"}');
    expect(proto.status).toBe(400);
    expect(proto.body.error.message).toContain('forbidden key');
    const broken = await svc.api('POST', '/api/v1/workspaces', '{"name": "p",}');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('invalid_json');
    expect(broken.body.error.message).toMatch(/position|column|Unexpected|Expected/i);
  });
});
