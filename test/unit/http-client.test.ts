import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, guardedLookup, isPublicAddress } from '../../src/net/http-client.js';
import type { HttpClient } from '../../src/net/types.js';
import { OutboundError } from '../../src/net/types.js';

// Every server here listens on 127.0.0.1 only; no test contacts a non-loopback address (the blocked literals such as
// 10.0.0.1 or 169.254.169.254 are refused before any connection is attempted).

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface TestServer {
  port: number;
  origin: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function startServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function expectOutbound(p: Promise<unknown>): Promise<OutboundError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OutboundError);
    return err as OutboundError;
  }
  throw new Error('expected the request to fail');
}

const clients: HttpClient[] = [];
const servers: TestServer[] = [];

function client(opts: Parameters<typeof createHttpClient>[0]): HttpClient {
  const c = createHttpClient(opts);
  clients.push(c);
  return c;
}

async function server(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('isPublicAddress', () => {
  const publicAddrs = [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '11.0.0.1',
    '172.15.255.255',
    '172.32.0.1',
    '192.169.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '169.253.255.255',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '[2606:4700:4700::1111]',
  ];
  const blockedAddrs = [
    // loopback
    '127.0.0.1',
    '127.255.255.254',
    '::1',
    // private
    '10.0.0.1',
    '10.255.255.255',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '192.168.255.255',
    // link-local, including the cloud metadata address
    '169.254.0.1',
    '169.254.169.254',
    'fe80::1',
    'fe80::1%eth0',
    'febf::1',
    // unspecified
    '0.0.0.0',
    '0.1.2.3',
    '::',
    // carrier-grade NAT
    '100.64.0.1',
    '100.127.255.255',
    // multicast, broadcast, reserved
    '224.0.0.1',
    '239.255.255.250',
    'ff02::1',
    '255.255.255.255',
    '240.0.0.1',
    '192.0.2.1',
    '198.51.100.7',
    '203.0.113.9',
    '198.18.0.1',
    '2001:db8::1',
    // unique-local
    'fc00::1',
    'fd12:3456:789a::1',
    // IPv4-mapped / -compatible / NAT64 forms of blocked addresses
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '::ffff:192.168.1.1',
    '::ffff:0.0.0.0',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '[::1]',
    // not IP addresses at all
    'localhost',
    'example.com',
    '',
    '127.1',
    '2130706433',
    '0x7f.0.0.1',
  ];

  it.each(publicAddrs)('allows %s', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each(blockedAddrs)('refuses %s', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });
});

describe('guardedLookup (connect-time check)', () => {
  function lookup(host: string, all: boolean): Promise<{ address: string | LookupAddress[]; family?: number }> {
    return new Promise((resolve, reject) => {
      guardedLookup(host, { all }, (err, address, family) => (err ? reject(err) : resolve({ address, family })));
    });
  }

  it('rejects localhost, which is not an IP literal and so passes the pre-connect check', async () => {
    // The pre-connect check only judges IP literals; 'localhost' is a name, so only resolution can catch it.
    expect(isPublicAddress('localhost')).toBe(false); // not an address at all ...
    for (const all of [true, false]) {
      const err = await expectOutbound(lookup('localhost', all));
      expect(err.kind).toBe('blocked');
      expect(err.message).toContain('localhost');
      expect(err.message).toContain('BALANCEWATCH_ALLOW_PRIVATE_TARGETS=true');
    }
  });
});

describe('createHttpClient', () => {
  it('does a GET and a POST round trip with headers and body', async () => {
    const s = await server((req, res, body) => {
      res.setHeader('X-Echo-Method', req.method ?? '');
      res.setHeader('X-Multi', ['a', 'b']);
      res.setHeader('Content-Type', 'application/json');
      res.statusCode = req.method === 'POST' ? 201 : 200;
      res.end(JSON.stringify({ method: req.method, body, ua: req.headers['user-agent'] }));
    });
    const c = client({ allowPrivateTargets: true });

    const get = await c.request(`${s.origin}/status?x=1`, { headers: { 'X-Token': 't1' } });
    expect(get.status).toBe(200);
    expect(get.headers['x-echo-method']).toBe('GET');
    expect(get.headers['x-multi']).toBe('a, b');
    expect(get.headers['content-type']).toBe('application/json');
    expect(Object.keys(get.headers).every((k) => k === k.toLowerCase())).toBe(true);
    expect(JSON.parse(get.body)).toEqual({ method: 'GET', body: '', ua: 'balancewatch' });

    const post = await c.request(`${s.origin}/hook`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'custom/1.0' },
      body: '{"text":"héllo"}',
    });
    expect(post.status).toBe(201);
    expect(JSON.parse(post.body)).toEqual({ method: 'POST', body: '{"text":"héllo"}', ua: 'custom/1.0' });

    expect(s.seen).toHaveLength(2);
    expect(s.seen[0]?.url).toBe('/status?x=1');
    expect(s.seen[0]?.headers['x-token']).toBe('t1');
    expect(s.seen[1]?.headers['content-type']).toBe('application/json');
  });

  it('returns 4xx/5xx and unusual statuses instead of throwing', async () => {
    const s = await server((req, res) => {
      res.statusCode = Number(req.url?.slice(1));
      res.end('nope');
    });
    const c = client({ allowPrivateTargets: true });
    for (const status of [404, 500, 503, 599]) {
      const r = await c.request(`${s.origin}/${status}`);
      expect(r.status).toBe(status);
      expect(r.body).toBe('nope');
    }
  });

  it('uses the configured user agent', async () => {
    const s = await server((req, res) => res.end(req.headers['user-agent']));
    const c = client({ allowPrivateTargets: true, userAgent: 'bw-test/2' });
    expect((await c.request(s.origin)).body).toBe('bw-test/2');
  });

  describe('private-target guard', () => {
    let target: TestServer;
    beforeAll(async () => {
      target = await startServer((_req, res) => res.end('should not be reached'));
    });
    afterAll(async () => {
      await target.close();
    });

    const cases = (port: () => number) => [
      `http://127.0.0.1:${port()}/`,
      `http://localhost:${port()}/`,
      `http://[::1]:${port()}/`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/',
      `http://[::ffff:127.0.0.1]:${port()}/`,
      `http://0.0.0.0:${port()}/`,
      `http://2130706433:${port()}/`,
      `http://0x7f.1:${port()}/`,
      `https://127.0.0.1:${port()}/`,
    ];

    it('blocks loopback, private, link-local and unspecified targets without contacting them', async () => {
      const c = client({ allowPrivateTargets: false });
      for (const url of cases(() => target.port)) {
        const err = await expectOutbound(c.request(url));
        expect(err.kind, url).toBe('blocked');
        expect(err.message).toContain('BALANCEWATCH_ALLOW_PRIVATE_TARGETS=true');
        const host = new URL(url).hostname;
        expect(err.message, url).toContain(host.replace(/^\[|\]$/g, ''));
      }
      expect(target.seen).toHaveLength(0);
    });

    it('blocks localhost at connect time (the name passes the literal check)', async () => {
      const c = client({ allowPrivateTargets: false });
      const err = await expectOutbound(
        c.request(`http://localhost:${target.port}/hook?key=SECRET`, { method: 'POST', body: 'x' }),
      );
      expect(err.kind).toBe('blocked');
      expect(err.message).toContain('localhost');
      expect(err.message).not.toContain('SECRET');
      expect(err.message).not.toContain('/hook');
      expect(target.seen).toHaveLength(0);
    });

    it('allows the same targets when allowPrivateTargets is true', async () => {
      const c = client({ allowPrivateTargets: true });
      expect((await c.request(`http://127.0.0.1:${target.port}/`)).status).toBe(200);
      expect((await c.request(`http://localhost:${target.port}/`)).status).toBe(200);
      target.seen.splice(0);
    });
  });

  describe('bad URLs', () => {
    it.each([
      ['not a url', 'not a valid URL'],
      ['ftp://example.com/file', "'ftp:'"],
      ['file:///etc/passwd', "'file:'"],
      ['javascript:alert(1)', "'javascript:'"],
      ['http://user:pa55word@127.0.0.1/', 'user name or password'],
    ])('%s → bad_url', async (url, fragment) => {
      const c = client({ allowPrivateTargets: true });
      const err = await expectOutbound(c.request(url));
      expect(err.kind).toBe('bad_url');
      expect(err.message).toContain(fragment);
      expect(err.message).not.toContain('pa55word');
      expect(err.message).not.toContain('passwd');
    });
  });

  describe('redirects', () => {
    it('follows a chain of redirects', async () => {
      const s = await server((req, res) => {
        const next: Record<string, [number, string]> = {
          '/start': [302, '/a'],
          '/a': [301, `http://127.0.0.1:${(req.socket.address() as AddressInfo).port}/b`],
          '/b': [307, 'c?q=1'],
          '/c?q=1': [308, '/done'],
        };
        const hop = next[req.url ?? ''];
        if (hop) {
          res.writeHead(hop[0], { Location: hop[1] });
          res.end('moved');
        } else {
          res.end(`arrived at ${req.url}`);
        }
      });
      const c = client({ allowPrivateTargets: true });
      const r = await c.request(`${s.origin}/start`);
      expect(r.status).toBe(200);
      expect(r.body).toBe('arrived at /done');
      expect(s.seen.map((x) => x.url)).toEqual(['/start', '/a', '/b', '/c?q=1', '/done']);
    });

    it('turns POST into GET without body on 303 and on 301/302, keeps it on 307/308', async () => {
      const s = await server((req, res) => {
        const m = /^\/(\d{3})$/.exec(req.url ?? '');
        if (m) {
          res.writeHead(Number(m[1]), { Location: '/target' });
          res.end();
        } else {
          res.end(`${req.method} ${req.headers['content-type'] ?? '-'}`);
        }
      });
      const c = client({ allowPrivateTargets: true });
      const post = { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'payload' };
      for (const [code, expected] of [
        ['303', 'GET -'],
        ['301', 'GET -'],
        ['302', 'GET -'],
        ['307', 'POST text/plain'],
        ['308', 'POST text/plain'],
      ] as const) {
        s.seen.splice(0);
        const r = await c.request(`${s.origin}/${code}`, post);
        expect(r.body, code).toBe(expected);
        expect(s.seen[1]?.body, code).toBe(expected.startsWith('POST') ? 'payload' : '');
      }
      // 303 turns PUT into GET too; 301 keeps PUT.
      s.seen.splice(0);
      expect((await c.request(`${s.origin}/303`, { ...post, method: 'PUT' })).body).toBe('GET -');
      expect((await c.request(`${s.origin}/301`, { ...post, method: 'PUT' })).body).toBe('PUT text/plain');
    });

    it('keeps Authorization on same-origin redirects and drops it on cross-origin ones', async () => {
      const other = await server((req, res) =>
        res.end(`auth=${req.headers.authorization ?? 'none'} x=${req.headers['x-keep'] ?? 'none'}`),
      );
      const s = await server((req, res) => {
        if (req.url === '/same') {
          res.writeHead(302, { Location: '/echo' });
          res.end();
        } else if (req.url === '/cross') {
          res.writeHead(307, { Location: `${other.origin}/landing` });
          res.end();
        } else {
          res.end(`auth=${req.headers.authorization ?? 'none'}`);
        }
      });
      const c = client({ allowPrivateTargets: true });
      const headers = { Authorization: 'Bearer sk-secret', 'X-Keep': 'yes' };
      expect((await c.request(`${s.origin}/same`, { headers })).body).toBe('auth=Bearer sk-secret');
      expect((await c.request(`${s.origin}/cross`, { headers })).body).toBe('auth=none x=yes');
      expect(other.seen[0]?.headers.authorization).toBeUndefined();
    });

    it("with redirect: 'same-origin' refuses to follow a redirect to another origin at all", async () => {
      const other = await server((_req, res) => res.end('landed'));
      const s = await server((req, res) => {
        if (req.url === '/same') {
          res.writeHead(302, { Location: '/echo' });
          res.end();
        } else if (req.url === '/cross') {
          res.writeHead(307, { Location: `${other.origin}/landing` });
          res.end();
        } else res.end(`key=${req.headers['x-api-key'] ?? 'none'}`);
      });
      const c = client({ allowPrivateTargets: true });
      const headers = { 'X-Api-Key': 'sk-secret' };
      expect((await c.request(`${s.origin}/same`, { headers, redirect: 'same-origin' })).body).toBe('key=sk-secret');
      const err = await expectOutbound(c.request(`${s.origin}/cross`, { headers, redirect: 'same-origin', method: 'POST', body: 'secret body' }));
      expect(err.kind).toBe('unreachable');
      expect(err.message).toContain('another origin');
      expect(err.message).not.toContain('sk-secret');
      expect(other.seen).toHaveLength(0);
    });

    it('gives up after maxRedirects', async () => {
      const s = await server((_req, res) => {
        res.writeHead(302, { Location: '/loop?token=SECRET' });
        res.end();
      });
      const c = client({ allowPrivateTargets: true, maxRedirects: 3 });
      const err = await expectOutbound(c.request(`${s.origin}/loop?token=SECRET`));
      expect(err.kind).toBe('unreachable');
      expect(err.message).toContain('too many redirects');
      expect(err.message).not.toContain('SECRET');
      expect(s.seen).toHaveLength(4);
    });

    it('re-checks every hop: a redirect to an unsupported scheme is refused', async () => {
      const s = await server((_req, res) => {
        res.writeHead(302, { Location: 'file:///etc/passwd' });
        res.end();
      });
      const c = client({ allowPrivateTargets: true });
      const err = await expectOutbound(c.request(`${s.origin}/`));
      expect(err.kind).toBe('bad_url');
      expect(err.message).not.toContain('passwd');
    });

    it('returns a 3xx without Location as a response', async () => {
      const s = await server((_req, res) => {
        res.statusCode = 304;
        res.end();
      });
      const c = client({ allowPrivateTargets: true });
      expect((await c.request(s.origin)).status).toBe(304);
    });
  });

  describe('timeouts and failures', () => {
    it('times out a server that never answers', async () => {
      const s = await server(() => {
        /* never respond */
      });
      const c = client({ allowPrivateTargets: true, timeoutMs: 300 });
      const started = Date.now();
      const err = await expectOutbound(c.request(`${s.origin}/bot123:SECRET/sendMessage?key=SECRET`));
      const elapsed = Date.now() - started;
      expect(err.kind).toBe('timeout');
      expect(err.message).toBe(`no answer from ${s.origin} within 0.3 s`);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(1300);
    });

    it('the deadline also covers a body that stalls, and per-request timeoutMs wins', async () => {
      const s = await server((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('partial'); // ... and never end
      });
      const c = client({ allowPrivateTargets: true, timeoutMs: 10_000 });
      const started = Date.now();
      const err = await expectOutbound(c.request(s.origin, { timeoutMs: 300 }));
      expect(err.kind).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(1300);
    });

    it('reports a refused port as unreachable without leaking path or query', async () => {
      const c = client({ allowPrivateTargets: true });
      const err = await expectOutbound(c.request('http://127.0.0.1:1/hook?key=SECRET'));
      expect(err.kind).toBe('unreachable');
      expect(err.message).toContain('127.0.0.1:1');
      expect(err.message).toContain('ECONNREFUSED');
      expect(err.message).not.toContain('SECRET');
      expect(err.message).not.toContain('hook');
    });

    it('reports a connection reset as unreachable', async () => {
      const s = await server((req) => req.socket.destroy());
      const c = client({ allowPrivateTargets: true });
      const err = await expectOutbound(c.request(`${s.origin}/x?key=SECRET`));
      expect(err.kind).toBe('unreachable');
      expect(err.message).toContain(s.origin);
      expect(err.message).not.toContain('SECRET');
    });
  });

  describe('body cap', () => {
    it('cuts a 1 MB body at maxBodyBytes (default 64 KiB)', async () => {
      const s = await server((_req, res) => res.end(Buffer.alloc(1024 * 1024, 'a')));
      const c = client({ allowPrivateTargets: true });
      const r = await c.request(s.origin);
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(65536);
    });

    it('honours a custom cap and does not split a multi-byte character into garbage', async () => {
      const s = await server((_req, res) => res.end('€€€€€')); // 3 bytes each
      const c = client({ allowPrivateTargets: true, maxBodyBytes: 7 });
      const r = await c.request(s.origin);
      expect(r.body).toBe('€€');
      const all = client({ allowPrivateTargets: true, maxBodyBytes: 15 });
      expect((await all.request(s.origin)).body).toBe('€€€€€');
    });

    it('keeps working after a capped body (the connection is not left half-read)', async () => {
      const s = await server((req, res) => res.end(req.url === '/big' ? Buffer.alloc(1024 * 1024, 'b') : 'small'));
      const c = client({ allowPrivateTargets: true, maxBodyBytes: 1000 });
      expect((await c.request(`${s.origin}/big`)).body).toHaveLength(1000);
      expect((await c.request(`${s.origin}/small`)).body).toBe('small');
    });
  });
});
