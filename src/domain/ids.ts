import { randomBytes } from 'node:crypto';

// Prefixed, time-ordered ids ("acc_0mf3k2…"): sortable by creation, readable in logs, unguessable.
export type IdPrefix = 'ws' | 'acc' | 'ch' | 'al' | 'dl' | 'at' | 'key';

export function newId(prefix: IdPrefix): string {
  const time = Date.now().toString(36).padStart(9, '0');
  return `${prefix}_${time}${randomBytes(10).toString('base64url').replace(/[-_]/g, 'x')}`;
}
