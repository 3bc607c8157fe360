import { describe, expect, it } from 'vitest';
import { parseCookies, serializeCookie } from '../../src/http/cookies.js';
import { FailureWindow, LoginGuard } from '../../src/http/login-limiter.js';
import { hashPassword, needsRehash, verifyPassword } from '../../src/security/passwords.js';

// The small pieces under the dashboard's login: the Cookie header parser (no dependency), password hashing and
// the failed-login throttle.

describe('parseCookies', () => {
  it.each<[string, string | undefined, Record<string, string>]>([
    ['one pair', 'bw_session=abc', { bw_session: 'abc' }],
    ['several, with spaces', 'a=1; bw_session=xyz ;  c=3', { a: '1', bw_session: 'xyz', c: '3' }],
    ['no spaces', 'a=1;b=2', { a: '1', b: '2' }],
    ['the first of a repeated name wins', 'bw_session=first; bw_session=second', { bw_session: 'first' }],
    ['a quoted value', 'a="quoted value"', { a: 'quoted value' }],
    ['percent escapes', 'a=hello%20world', { a: 'hello world' }],
    ['a broken escape is kept as it is', 'a=100%zz', { a: '100%zz' }],
    ['an empty value', 'a=; b=2', { a: '', b: '2' }],
    ['"=" inside the value', 'a=b=c', { a: 'b=c' }],
    ['pairs without "=" are skipped', 'junk; a=1; =nameless', { a: '1' }],
    ['names that are not tokens are skipped', 'a b=1; c(d)=2; ok=3', { ok: '3' }],
    ['empty header', '', {}],
    ['no header', undefined, {}],
    ['only separators', ';;; ;', {}],
  ])('%s', (_name, header, expected) => {
    expect(Object.fromEntries(parseCookies(header))).toEqual(expected);
  });

  it('joins a repeated Cookie header', () => {
    expect(Object.fromEntries(parseCookies(['a=1', 'b=2']))).toEqual({ a: '1', b: '2' });
  });

  it('does not let a name pollute prototypes', () => {
    const m = parseCookies('__proto__=x; constructor=y');
    expect(m.get('__proto__')).toBe('x');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('gives up on absurdly long headers instead of working through them', () => {
    expect(parseCookies(`a=${'x'.repeat(20_000)}`).size).toBe(0);
  });
});

describe('serializeCookie', () => {
  it('writes the session cookie with its attributes', () => {
    const c = serializeCookie('bw_session', 'abc-_123', { maxAge: 2_592_000, path: '/', httpOnly: true, sameSite: 'Lax', secure: true });
    const parts = c.split('; ');
    expect(parts[0]).toBe('bw_session=abc-_123');
    expect(parts).toContain('Max-Age=2592000');
    expect(parts.find((p) => p.startsWith('Expires='))).toBeTruthy();
    expect(parts).toEqual(expect.arrayContaining(['Path=/', 'HttpOnly', 'Secure', 'SameSite=Lax']));
  });

  it('deletes with Max-Age=0 and an Expires in the past', () => {
    const c = serializeCookie('bw_session', '', { maxAge: 0 });
    expect(c).toContain('Max-Age=0');
    expect(c).toContain('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    expect(c).not.toContain('Secure');
  });

  it('refuses names and values that would break the header', () => {
    expect(() => serializeCookie('a;b', 'x')).toThrow();
    expect(() => serializeCookie('a', 'x; Domain=evil.example')).toThrow();
    expect(() => serializeCookie('a', 'line\r\nbreak')).toThrow();
  });

  it('round-trips through the parser', () => {
    const value = 'AbC-_0123456789abcdefghijklmnopqrstuvwxyzABCD';
    expect(parseCookies(serializeCookie('bw_session', value, { httpOnly: true })).get('bw_session')).toBe(value);
  });
});

describe('passwords', () => {
  it('hash with scrypt and a fresh salt each time, and verify', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('treats the password as Unicode text (NFC), whatever its form', async () => {
    const h = await hashPassword('caf\u00e9 au lait!');
    expect(await verifyPassword('cafe\u0301 au lait!', h)).toBe(true);
  });

  it('answers false for a missing or unreadable hash, after the same work as a real check', async () => {
    const real = await hashPassword('x'.repeat(12));
    const t0 = performance.now();
    expect(await verifyPassword('x'.repeat(12), real)).toBe(true);
    const tReal = performance.now() - t0;
    for (const stored of [null, undefined, '', 'plain', 'scrypt$1$8$1$aa$bb', 'scrypt$1048577$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5', `scrypt$32768$99$1$${'a'.repeat(22)}$${'b'.repeat(43)}`]) {
      const t1 = performance.now();
      expect(await verifyPassword('x'.repeat(12), stored)).toBe(false);
      // Not a timing assertion (machines vary): the dummy check is a full scrypt, not an early return.
      expect(performance.now() - t1).toBeGreaterThan(tReal / 20);
    }
  });

  it('refuses overlong passwords without hashing megabytes', async () => {
    const h = await hashPassword('y'.repeat(1024));
    expect(await verifyPassword('y'.repeat(1024), h)).toBe(true);
    expect(await verifyPassword('y'.repeat(1025), h)).toBe(false);
  });

  it('keeps older parameters readable and flags them for re-hashing', async () => {
    const weak = await hashPassword('old password!', { N: 1024, r: 8, p: 1 });
    expect(await verifyPassword('old password!', weak)).toBe(true);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(await hashPassword('new password!'))).toBe(false);
  });
});

describe('failed-login throttle', () => {
  it('allows max failures per window, then says how long to wait until the oldest one leaves the window', () => {
    const w = new FailureWindow({ max: 3, windowMs: 1000 });
    for (const t of [0, 100, 200]) {
      expect(w.wait('k', t)).toBe(0);
      w.fail('k', t);
    }
    expect(w.wait('k', 300)).toBe(700);
    expect(w.wait('other', 300)).toBe(0);
    expect(w.wait('k', 1000)).toBe(0); // the failure at 0 has left the window
    w.reset('k');
    expect(w.wait('k', 300)).toBe(0);
  });

  it('bounds its memory by forgetting the least recently failed keys', () => {
    const w = new FailureWindow({ max: 1, windowMs: 1000 }, 3);
    for (const k of ['a', 'b', 'c', 'd']) w.fail(k, 0);
    expect(w.wait('a', 1)).toBe(0);
    expect(w.wait('d', 1)).toBe(999);
  });

  it('counts per address and per client; a success clears only the address', () => {
    const g = new LoginGuard({ max: 2, windowMs: 60_000 }, { max: 3, windowMs: 60_000 });
    g.failed('1.1.1.1', 'a@x', 0);
    g.failed('1.1.1.1', 'a@x', 0);
    expect(g.retryAfter('1.1.1.1', 'a@x', 1)).toBe(60);
    expect(g.retryAfter('2.2.2.2', 'a@x', 1)).toBe(60); // the address is blocked from anywhere
    expect(g.retryAfter('1.1.1.1', 'b@x', 1)).toBe(0);
    g.failed('1.1.1.1', 'b@x', 1);
    expect(g.retryAfter('1.1.1.1', 'c@x', 2)).toBe(60); // the client has used up its failures
    g.succeeded('a@x');
    expect(g.retryAfter('2.2.2.2', 'a@x', 3)).toBe(0);
  });
});
