import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

// Dashboard passwords: scrypt (memory-hard) with a random salt per password. The stored form carries its own
// parameters, so they can be raised later without invalidating existing hashes:
//   scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>
// Verification of an unknown user (or a user without a password) runs the same work against a dummy hash, so the
// answer time does not tell which e-mail addresses have an account.

export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LEN = 32;
const SALT_LEN = 16;
/** Longer passwords are refused before hashing (pass phrases fit; megabytes of input are not a password). */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 10;

// Upper bounds for parameters read back from the database: a corrupted row must not make a login cost a gigabyte.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

interface Params {
  N: number;
  r: number;
  p: number;
}

function derive(password: string, salt: Buffer, params: Params, keyLen: number): Promise<Buffer> {
  // Node refuses scrypt above `maxmem` (32 MiB by default); 128·N·r is what it needs, doubled for headroom.
  const maxmem = 256 * params.N * params.r;
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keyLen, { ...params, maxmem }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string, params: Params = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_LEN);
  const key = await derive(password, salt, params, KEY_LEN);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface Parsed extends Params {
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map((x) => (/^\d{1,8}$/.test(x!) ? Number(x) : NaN)) as [number, number, number];
  if (!(N >= 2 && N <= MAX_N && (N & (N - 1)) === 0) || !(r >= 1 && r <= MAX_R) || !(p >= 1 && p <= MAX_P)) return null;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length < 16 || key.length > 128) return null;
  return { N, r, p, salt, key };
}

let dummy: Promise<Parsed> | null = null;
/** A hash of a random password with the current parameters: what unknown users are checked against. */
function dummyHash(): Promise<Parsed> {
  dummy ??= hashPassword(randomBytes(16).toString('hex')).then((h) => parse(h)!);
  return dummy;
}

/** Computes the dummy hash in the background, so that even the first unknown address costs no more than a known one. */
export function warmPasswordCheck(): void {
  dummyHash().catch(() => {
    dummy = null;
  });
}

/**
 * Whether `password` matches `stored`. `stored` null (no such user, or no password yet) or unreadable costs the same
 * as a real check and answers false.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const real = stored ? parse(stored) : null;
  const target = real ?? (await dummyHash());
  const key = await derive(password.length > MAX_PASSWORD_LENGTH ? '' : password, target.salt, target, target.key.length);
  const same = timingSafeEqual(key, target.key);
  return real !== null && same && password.length <= MAX_PASSWORD_LENGTH;
}

/** Whether a stored hash uses weaker parameters than today's (re-hash it after a successful login). */
export function needsRehash(stored: string): boolean {
  const p = parse(stored);
  return !p || p.N < SCRYPT_PARAMS.N || p.r < SCRYPT_PARAMS.r || p.p < SCRYPT_PARAMS.p;
}
