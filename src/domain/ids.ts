import { randomFillSync } from 'node:crypto';

// Prefixed, time-ordered ids ("acc_0mf3k2…"): sortable by creation, readable in logs, unguessable.
export type IdPrefix = 'ws' | 'acc' | 'ch' | 'al' | 'dl' | 'at' | 'key' | 'usr';

// Random bytes are drawn in blocks: one system call per id was a measurable cost at thousands of ids a second.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomChunk(n: number): Buffer {
  if (offset + n > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  offset += n;
  return pool.subarray(offset - n, offset);
}

export function newId(prefix: IdPrefix): string {
  const time = Date.now().toString(36).padStart(9, '0');
  return `${prefix}_${time}${randomChunk(10).toString('base64url').replace(/[-_]/g, 'x')}`;
}
