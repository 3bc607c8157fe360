import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downsampleHistory, downsampleSlice } from '../../src/engine/retention.js';
import { databases } from '../helpers/db.js';
import { type Running, startService } from '../helpers/service.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe.each(databases())('sample history downsampling on %s', (db) => {
  let svc: Running;
  beforeAll(async () => {
    svc = await startService(db);
  });
  afterAll(async () => svc?.close());

  it('keeps recent samples raw and one (the newest) per hour beyond the raw window', async () => {
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'history' });
    const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'minutes' });
    const b = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'other' });
    const now = Date.now();
    const hour0 = Math.floor((now - 3 * DAY) / HOUR) * HOUR; // 3 days ago, on an hour boundary
    const old = [];
    for (let m = 0; m < 6 * 60; m += 10) old.push({ account: a.body.id, balance: 1000 - m, at: (hour0 + m * 60_000) / 1000 });
    old.push({ account: b.body.id, balance: 5, at: (hour0 + 5 * 60_000) / 1000 });
    const recent = [];
    for (let m = 0; m < 60; m += 10) recent.push({ account: a.body.id, balance: 500 - m, at: (now - HOUR + m * 60_000) / 1000 });
    expect((await svc.api('POST', '/api/v1/balances', { samples: [...old, ...recent] })).status).toBe(200);

    const dbh = svc.service.store.db;
    const count = async (id: string, from: number, to: number) =>
      Number(
        (await dbh.selectFrom('samples').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', id).where('observed_at', '>=', from).where('observed_at', '<', to).executeTakeFirstOrThrow()).n,
      );
    expect(await count(a.body.id, hour0, hour0 + 6 * HOUR)).toBe(36);

    let deleted = 0;
    for (let i = 0; i < 10; i++) {
      const n = await downsampleSlice(dbh, now, { olderThanMs: 2 * DAY, bucketMs: HOUR });
      if (n === null) break;
      deleted += n;
    }
    expect(deleted).toBe(30);
    expect(await downsampleSlice(dbh, now, { olderThanMs: 2 * DAY, bucketMs: HOUR })).toBeNull();
    // One per hour, the newest of each hour.
    for (let h = 0; h < 6; h++) expect(await count(a.body.id, hour0 + h * HOUR, hour0 + (h + 1) * HOUR)).toBe(1);
    const kept = await dbh.selectFrom('samples').select('observed_at').where('account_id', '=', a.body.id).where('observed_at', '<', hour0 + HOUR).execute();
    expect(kept.map((r) => r.observed_at)).toEqual([hour0 + 50 * 60_000]);
    expect(await count(b.body.id, 0, now + HOUR)).toBe(1);
    expect(await count(a.body.id, now - 2 * HOUR, now + HOUR)).toBe(6); // recent history stays raw
    // Forecasts and the balance are unaffected.
    expect((await svc.api('GET', `/api/v1/accounts/${a.body.id}`)).body.balance).toBe(450);
  });

  it('keeps one sample per day beyond half a year', async () => {
    const w = await svc.api('POST', '/api/v1/workspaces', { name: 'old history' });
    const a = await svc.api('POST', '/api/v1/accounts', { workspace_id: w.body.id, name: 'yearly' });
    const now = Date.now();
    const day0 = Math.floor((now - 200 * DAY) / DAY) * DAY;
    const samples = [];
    for (let h = 0; h < 72; h += 2) samples.push({ account: a.body.id, balance: 100 + h, at: (day0 + h * HOUR + 60_000) / 1000 });
    samples.push({ account: a.body.id, balance: 1, at: (now - 60_000) / 1000 });
    expect((await svc.api('POST', '/api/v1/balances', { samples })).status).toBe(200);
    const dbh = svc.service.store.db;
    await downsampleHistory(dbh, now, 30 * DAY, 10_000);
    const kept = await dbh.selectFrom('samples').select(['observed_at', 'balance']).where('account_id', '=', a.body.id).orderBy('observed_at').execute();
    // The newest sample of each of the three old days, and the recent one.
    expect(kept.map((r) => r.balance)).toEqual([122, 146, 170, 1]);
  });
});
