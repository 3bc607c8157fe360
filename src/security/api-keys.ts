import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// API keys are 32 random bytes, so a plain SHA-256 is a sufficient hash (no password stretching needed).
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const key = `bw_${randomBytes(32).toString('base64url')}`;
  return { key, prefix: key.slice(0, 10), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
