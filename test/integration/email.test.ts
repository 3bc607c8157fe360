import { createServer, type Server, type Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { emailChannel } from '../../src/channels/email.js';
import { channelMailerCount, closeChannelMailers, createMailer, scrubSecrets } from '../../src/channels/mailer.js';
import type {
  ChannelContext,
  ChannelResult,
  NotificationPayload,
  OutgoingNotification,
} from '../../src/channels/types.js';
import { renderMessage } from '../../src/template/messages.js';

// A real SMTP round trip: createMailer (pooled nodemailer) → a local smtp-server with authentication, then the
// received raw message is decoded by hand (mailparser is not a dependency): RFC 2047 subject, MIME parts with
// quoted-printable or base64 bodies.

const USER = 'alerts@example.com';
const PASSWORD = 'S3cr3t-P@ss:w0rd!';
const ENCODED_PASSWORD = encodeURIComponent(PASSWORD);
const PASSWORD_FORMS = [
  PASSWORD,
  ENCODED_PASSWORD,
  Buffer.from(PASSWORD).toString('base64'),
  Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'),
];
const FROM = 'balancewatch <alerts@example.com>';

interface Received {
  from: string | false;
  rcptTo: string[];
  user: string | undefined;
  raw: string;
}

interface TestServer {
  port: number;
  received: Received[];
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function startSmtp(opts: Partial<SMTPServerOptions> = {}): Promise<TestServer> {
  const received: Received[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    closeTimeout: 200,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === PASSWORD) return cb(null, { user: auth.username });
      return cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        cb(null);
      });
    },
    ...opts,
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  let closed = false;
  const close = () =>
    closed
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          closed = true;
          server.close(() => resolve());
        });
  cleanups.push(close);
  return { port, received, close };
}

function mailerFor(url: string) {
  const mailer = createMailer(url, FROM);
  cleanups.push(() => mailer.close());
  return mailer;
}

function ctxWith(mailer: ChannelContext['mailer']): ChannelContext {
  return {
    http: {
      request: () => Promise.reject(new Error('no HTTP in the email channel')),
    } as unknown as ChannelContext['http'],
    mailer,
    now: Date.now,
  };
}

function notification(locale: string, over: Partial<NotificationPayload> = {}): OutgoingNotification {
  const payload: NotificationPayload = {
    type: 'balance.low',
    occurred_at: '2025-01-15T08:30:00.000Z',
    workspace: { id: 'ws_1', name: 'Acme', external_id: null, locale, time_zone: 'Asia/Shanghai' },
    account: {
      id: 'ac_1',
      name: 'DeepSeek prod',
      external_id: null,
      top_up_url: 'https://platform.deepseek.com/top_up',
    },
    balance: 3,
    currency: locale === 'zh-CN' ? 'CNY' : 'USD',
    level: 'critical',
    threshold: 5,
    episode: 1,
    reminder: 0,
    ...over,
  };
  return { key: 'dk_test', payload, message: renderMessage(payload, { dashboardUrl: 'https://bw.example.com/' }) };
}

// ---- a small MIME decoder (enough for what nodemailer produces) ----

interface Part {
  headers: Map<string, string>;
  body: string;
}

function splitHeaders(raw: string): Part {
  const idx = raw.indexOf('\r\n\r\n');
  const head = idx < 0 ? raw : raw.slice(0, idx);
  const body = idx < 0 ? '' : raw.slice(idx + 4);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function qpDecode(s: string): Buffer {
  const soft = s.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const c = soft[i] as string;
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

/** RFC 2047: adjacent encoded-words are joined (the whitespace between them is not part of the text). */
function decodeWords(value: string): string {
  const word = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  const pieces: Array<{ start: number; end: number; bytes: Buffer }> = [];
  for (let m = word.exec(value); m; m = word.exec(value)) {
    const [all, , enc, text] = m as unknown as [string, string, string, string];
    const bytes = enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : qpDecode(text.replace(/_/g, ' '));
    pieces.push({ start: m.index, end: m.index + all.length, bytes });
  }
  let out = '';
  let pos = 0;
  let pending: Buffer[] = [];
  for (const p of pieces) {
    const between = value.slice(pos, p.start);
    if (pending.length && /^\s*$/.test(between)) {
      pending.push(p.bytes);
    } else {
      out += Buffer.concat(pending).toString('utf8') + between;
      pending = [p.bytes];
    }
    pos = p.end;
  }
  return out + Buffer.concat(pending).toString('utf8') + value.slice(pos);
}

function decodeBody(part: Part): string {
  const cte = (part.headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  if (cte === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') return qpDecode(part.body).toString('utf8');
  return part.body;
}

/** Leaf parts of a (possibly nested) multipart message, by content type. */
function leafParts(part: Part): Array<{ type: string; charset: string | undefined; text: string }> {
  const ct = part.headers.get('content-type') ?? 'text/plain';
  const type = (ct.split(';')[0] ?? '').trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = /boundary="?([^";]+)"?/i.exec(ct)?.[1];
    if (!boundary) throw new Error(`multipart without boundary: ${ct}`);
    const sections = part.body.split(`--${boundary}`).slice(1);
    return sections.filter((s) => !s.startsWith('--')).flatMap((s) => leafParts(splitHeaders(s.replace(/^\r\n/, ''))));
  }
  return [{ type, charset: /charset="?([^";]+)"?/i.exec(ct)?.[1]?.toLowerCase(), text: decodeBody(part) }];
}

function parse(raw: string) {
  const top = splitHeaders(raw);
  const parts = leafParts(top);
  return {
    subject: decodeWords(top.headers.get('subject') ?? ''),
    rawSubject: top.headers.get('subject') ?? '',
    to: decodeWords(top.headers.get('to') ?? ''),
    from: decodeWords(top.headers.get('from') ?? ''),
    text: parts.find((p) => p.type === 'text/plain'),
    html: parts.find((p) => p.type === 'text/html'),
  };
}

function expectNoPassword(r: ChannelResult) {
  const all = JSON.stringify(r);
  for (const form of PASSWORD_FORMS) expect(all).not.toContain(form);
}

// ---- tests ----

describe('email channel over a real SMTP server', () => {
  it.each([
    {
      locale: 'en',
      subject: '[Critical] DeepSeek prod balance low: $3.00',
      balance: 'Balance: $3.00',
      threshold: 'Threshold: below $5.00',
      htmlBalance: '$3.00',
    },
    {
      locale: 'zh-CN',
      subject: '【严重】DeepSeek prod 余额不足：¥3.00',
      balance: '余额：¥3.00',
      threshold: '阈值：低于 ¥5.00',
      htmlBalance: '¥3.00',
    },
  ])(
    'sends an authenticated $locale message with text and HTML parts',
    async ({ locale, subject, balance, threshold, htmlBalance }) => {
      const srv = await startSmtp();
      const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}`);
      const to = ['ops@example.com', 'cto@example.org'];
      const n = notification(locale);
      expect(n.message.title).toBe(subject);

      const r = await emailChannel.send({ to }, n, ctxWith(mailer));
      expect(r).toMatchObject({ ok: true });
      expect(r.response).toMatch(/^250\b/);

      expect(srv.received).toHaveLength(1);
      const got = srv.received[0] as Received;
      expect(got.user).toBe(USER); // authenticated
      expect(got.from).toBe('alerts@example.com');
      expect(got.rcptTo).toEqual(to);

      const mail = parse(got.raw);
      expect(mail.to).toContain('ops@example.com');
      expect(mail.to).toContain('cto@example.org');
      expect(mail.from).toContain('alerts@example.com');
      expect(mail.subject).toBe(subject);
      if (locale === 'zh-CN') expect(mail.rawSubject).toMatch(/=\?UTF-8\?[BQ]\?/i); // non-ASCII subject travels as encoded-words

      expect(mail.text).toBeDefined();
      expect(mail.html).toBeDefined();
      expect(mail.text?.charset).toBe('utf-8');
      expect(mail.text?.text).toContain(balance);
      expect(mail.text?.text).toContain(threshold);
      expect(mail.text?.text).toContain('DeepSeek prod');
      expect(mail.text?.text).toContain('https://platform.deepseek.com/top_up');
      expect(mail.html?.text).toContain(htmlBalance);
      expect(mail.html?.text).toContain('href="https://platform.deepseek.com/top_up"');
      expect(mail.html?.text).toContain(locale === 'zh-CN' ? '余额' : 'Balance');
    },
  );

  it('reuses pooled connections for several messages and escapes names in the HTML part', async () => {
    const srv = await startSmtp();
    const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}`);
    const n = notification('en', {
      account: { id: 'a', name: '<script>x</script> & Co', external_id: null, top_up_url: null },
    });
    for (let i = 0; i < 3; i++)
      expect((await emailChannel.send({ to: ['ops@example.com'] }, n, ctxWith(mailer))).ok).toBe(true);
    expect(srv.received).toHaveLength(3);
    const mail = parse(srv.received[0]?.raw ?? '');
    expect(mail.subject).toBe('[Critical] <script>x</script> & Co balance low: $3.00');
    expect(mail.html?.text).toContain('&lt;script&gt;x&lt;/script&gt; &amp; Co');
    expect(mail.html?.text).not.toContain('<script>');
  });

  it('works without credentials on a plain server (smtp://host:port)', async () => {
    const srv = await startSmtp({ authOptional: true });
    const mailer = mailerFor(`smtp://127.0.0.1:${srv.port}`);
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('en'), ctxWith(mailer));
    expect(r.ok).toBe(true);
    expect(srv.received[0]?.user).toBeUndefined();
  });

  it('works over implicit TLS (smtps://)', async () => {
    const srv = await startSmtp({ secure: true, disabledCommands: [] });
    // the test server's certificate is self-signed: the URL's query turns verification off for this test only
    const mailer = mailerFor(
      `smtps://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}?tls.rejectUnauthorized=false`,
    );
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('zh-CN'), ctxWith(mailer));
    expect(r).toMatchObject({ ok: true });
    expect(srv.received[0]?.user).toBe(USER);
    expect(parse(srv.received[0]?.raw ?? '').subject).toBe('【严重】DeepSeek prod 余额不足：¥3.00');
  });

  it('a 550 rejection of the recipient is permanent', async () => {
    const srv = await startSmtp({
      onRcptTo(_address, _session, cb) {
        cb(Object.assign(new Error('5.1.1 mailbox unavailable'), { responseCode: 550 }));
      },
    });
    const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}`);
    const r = await emailChannel.send({ to: ['nobody@example.com'] }, notification('en'), ctxWith(mailer));
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (!r.ok) expect(r.error).toMatch(/550/);
    expectNoPassword(r);
    expect(srv.received).toHaveLength(0);
  });

  it('a 550 rejection of the message data is permanent', async () => {
    const srv = await startSmtp({
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => cb(Object.assign(new Error('5.7.1 message refused'), { responseCode: 550 })));
      },
    });
    const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}`);
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('en'), ctxWith(mailer));
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (!r.ok) expect(r.error).toContain('message refused');
    expectNoPassword(r);
  });

  it('a 4xx deferral is retried', async () => {
    const srv = await startSmtp({
      onRcptTo(_address, _session, cb) {
        cb(Object.assign(new Error('4.2.1 try again later'), { responseCode: 451 }));
      },
    });
    const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}`);
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('en'), ctxWith(mailer));
    expect(r).toMatchObject({ ok: false, retryable: true });
    expectNoPassword(r);
  });

  it('a partially rejected recipient list is delivered and the rejection is reported', async () => {
    const srv = await startSmtp({
      onRcptTo(address, _session, cb) {
        if (address.address.startsWith('bad'))
          return cb(Object.assign(new Error('no such user'), { responseCode: 550 }));
        cb();
      },
    });
    const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}`);
    const r = await emailChannel.send(
      { to: ['good@example.com', 'bad@example.com'] },
      notification('en'),
      ctxWith(mailer),
    );
    expect(r.ok).toBe(true);
    expect(r.response).toContain('bad@example.com');
    expect(srv.received[0]?.rcptTo).toEqual(['good@example.com']);
  });

  it('a wrong password is permanent and the password never shows', async () => {
    const srv = await startSmtp();
    const wrong = 'Wr0ng-P@ss!';
    const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${encodeURIComponent(wrong)}@127.0.0.1:${srv.port}`);
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('en'), ctxWith(mailer));
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (!r.ok) expect(r.error).toMatch(/login|auth/i);
    const all = JSON.stringify(r);
    for (const form of [
      wrong,
      encodeURIComponent(wrong),
      Buffer.from(wrong).toString('base64'),
      Buffer.from(`\0${USER}\0${wrong}`).toString('base64'),
    ]) {
      expect(all).not.toContain(form);
    }
  });

  it('a stopped server is retried and the password never shows', async () => {
    const srv = await startSmtp();
    await srv.close();
    const mailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${srv.port}`);
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('en'), ctxWith(mailer));
    expect(r).toMatchObject({ ok: false, retryable: true });
    if (!r.ok) expect(r.error).toMatch(/ECONNREFUSED|connect/i);
    expectNoPassword(r);
  });

  it('a server that never greets times out and is retried', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as { port: number }).port;
    // the 10 s greeting timeout is shortened through the URL's query to keep the test fast
    const mailer = mailerFor(
      `smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${port}?greetingTimeout=300`,
    );
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('en'), ctxWith(mailer));
    expect(r).toMatchObject({ ok: false, retryable: true });
    if (!r.ok) expect(r.error).toMatch(/timed out|timeout/i);
    expectNoPassword(r);
  });

  it('without SMTP configured the channel says so and does not retry', async () => {
    const r = await emailChannel.send({ to: ['ops@example.com'] }, notification('en'), ctxWith(null));
    expect(r).toEqual({ ok: false, retryable: false, error: 'email is not configured: set SMTP_URL and SMTP_FROM' });
  });
});

describe('email channel config', () => {
  it.each([
    { config: { to: ['ops@example.com'] }, ok: true },
    { config: { to: Array.from({ length: 50 }, (_, i) => `u${i}@example.com`) }, ok: true },
    { config: { to: [] }, ok: false },
    { config: { to: Array.from({ length: 51 }, (_, i) => `u${i}@example.com`) }, ok: false },
    { config: { to: ['not-an-address'] }, ok: false },
    { config: { to: ['ops@example.com\r\nBcc: x@example.com'] }, ok: false },
    { config: { to: 'ops@example.com' }, ok: false },
    { config: { to: ['ops@example.com'], reply_to: ['x@example.com'] }, ok: false },
    { config: { to: ['ops@example.com'], cc: ['x@example.com'], bcc: ['y@example.com'] }, ok: true },
    { config: { to: ['root@localhost'] }, ok: true },
    { config: {}, ok: false },
  ])('$config → $ok', ({ config, ok }) => {
    expect(emailChannel.schema.safeParse(config).success).toBe(ok);
  });

  it('scrubs credentials from any text that leaves the mailer', () => {
    expect(scrubSecrets(`connect to smtp://alerts:${ENCODED_PASSWORD}@mail.example.com:587 failed`, [])).toBe(
      'connect to smtp://alerts:***@mail.example.com:587 failed',
    );
    expect(
      scrubSecrets(`AUTH failed for ${PASSWORD} (${Buffer.from(PASSWORD).toString('base64')})`, PASSWORD_FORMS),
    ).toBe('AUTH failed for *** (***)');
  });

  it("declares the channel's own SMTP URL (it holds the password) as its only secret", () => {
    expect(emailChannel.type).toBe('email');
    expect(emailChannel.secretFields).toEqual(['smtp_url']);
  });
});

describe('a channel with its own SMTP server (mailto://)', () => {
  afterEach(() => closeChannelMailers());

  const configFor = (port: number, query = '') => {
    const fields = emailChannel.parseUrl!(
      `mailto://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${port}/ops@example.com?from=alerts@example.com&name=Billing%20Bot${query}`,
      'mailto',
    );
    const parsed = emailChannel.schema.safeParse(fields);
    if (!parsed.success) throw new Error(parsed.error.message);
    return parsed.data;
  };

  it('logs in with the URL\'s user and password and sends as its from address, without an instance SMTP_URL', async () => {
    const srv = await startSmtp();
    const config = configFor(srv.port, '&cc=cc@example.com&bcc=audit@example.com');
    expect(config).toMatchObject({ to: ['ops@example.com'], from: 'alerts@example.com', from_name: 'Billing Bot', cc: ['cc@example.com'], bcc: ['audit@example.com'] });
    const r = await emailChannel.send(config, notification('zh-CN'), ctxWith(null));
    expect(r).toMatchObject({ ok: true });
    expectNoPassword(r);
    const got = srv.received[0] as Received;
    expect(got.user).toBe(USER);
    expect(got.from).toBe('alerts@example.com');
    expect(got.rcptTo.sort()).toEqual(['audit@example.com', 'cc@example.com', 'ops@example.com']);
    const mail = parse(got.raw);
    expect(mail.from).toBe('Billing Bot <alerts@example.com>');
    expect(mail.subject).toBe('【严重】DeepSeek prod 余额不足：¥3.00');
    expect(got.raw).toMatch(/^Cc: cc@example\.com\r?$/m);
    expect(got.raw).not.toMatch(/^Bcc:/m);
  });

  it('uses its own server even when the instance has one, and shares one pooled transport per server', async () => {
    const own = await startSmtp();
    const instance = await startSmtp();
    const instanceMailer = mailerFor(`smtp://${encodeURIComponent(USER)}:${ENCODED_PASSWORD}@127.0.0.1:${instance.port}`);
    const config = configFor(own.port);
    const before = channelMailerCount();
    for (let i = 0; i < 3; i++) expect((await emailChannel.send(config, notification('en'), ctxWith(instanceMailer))).ok).toBe(true);
    expect(own.received).toHaveLength(3);
    expect(instance.received).toHaveLength(0);
    expect(channelMailerCount()).toBe(before + 1);
    closeChannelMailers();
    expect(channelMailerCount()).toBe(0);
    // a closed transport is replaced on the next send
    expect((await emailChannel.send(config, notification('en'), ctxWith(instanceMailer))).ok).toBe(true);
    expect(own.received).toHaveLength(4);
  });

  it('refuses a private or loopback mail server when private targets are not allowed', async () => {
    const srv = await startSmtp();
    const ctx = { ...ctxWith(null), allowPrivateTargets: false } as ChannelContext;
    const r = await emailChannel.send(configFor(srv.port), notification('en'), ctx);
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (!r.ok) expect(r.error).toMatch(/refusing to connect to the mail server 127\.0\.0\.1: .*BALANCEWATCH_ALLOW_PRIVATE_TARGETS=true/);
    expect(srv.received).toHaveLength(0);
  });

  it('a wrong password points at the channel\'s URL and never shows', async () => {
    const srv = await startSmtp();
    const config = { ...configFor(srv.port), smtp_url: `smtp://${encodeURIComponent(USER)}:Wr0ng-P%40ss!@127.0.0.1:${srv.port}?ignoreTLS=true` };
    const r = await emailChannel.send(config, notification('en'), ctxWith(null));
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (!r.ok) expect(r.error).toMatch(/check the user and password in the channel's SMTP URL/);
    expect(JSON.stringify(r)).not.toMatch(/Wr0ng/);
  });
});
