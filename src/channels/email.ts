import { z } from 'zod';
import { channelMailer, scrubSecrets, type MailMessage } from './mailer.js';
import { ChannelUrlError, excerpt, type ChannelContext, type ChannelResult, type ChannelType } from './types.js';
import { appriseBool, parseAppriseUrl } from './webhook.js';

// Email over the instance's SMTP server (SMTP_URL / SMTP_FROM, SPEC §4): HTML + plain text in the workspace's
// language. SMTP answers are classified like HTTP ones: a permanent 5xx rejection is a configuration problem
// (dead-letter at once), a 4xx deferral or a network failure is retried.
//
// A channel may bring its own SMTP server (`smtp_url` + `from`), which is what an Apprise mailto:// / mailtos://
// URL describes: the server, login and sender travel in the URL. Such a channel sends through its own pooled
// transport (mailer.ts channelMailer) instead of the instance's.

// HTML's e-mail rule: also accepts single-label domains such as root@localhost (local mail servers, Apprise's default).
const emailAddress = z.email({ pattern: z.regexes.html5Email, error: 'not a valid email address' }).max(254);

/** smtp://[user:pass@]host[:port][?requireTLS=true|ignoreTLS=true] or smtps://… (implicit TLS), like SMTP_URL. */
function isSmtpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'smtp:' || u.protocol === 'smtps:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const schema = z
  .object({
    to: z.array(emailAddress).min(1, 'at least one recipient').max(50, 'at most 50 recipients'),
    cc: z.array(emailAddress).max(50, 'at most 50 recipients').optional(),
    bcc: z.array(emailAddress).max(50, 'at most 50 recipients').optional(),
    /** The channel's own SMTP server, e.g. smtps://user:pass@smtp.example.com:465 (instead of SMTP_URL). */
    smtp_url: z
      .string()
      .max(2048)
      .refine(isSmtpUrl, 'expected smtp://user:password@host:port (STARTTLS when offered) or smtps://… (TLS)')
      .optional(),
    /** Sender address and display name (with smtp_url). */
    from: emailAddress.optional(),
    from_name: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .regex(/^[^\r\n]*$/, 'no line breaks')
      .optional(),
  })
  .strict()
  .refine((c) => !c.smtp_url || c.from, { message: 'the sender address is required with smtp_url', path: ['from'] })
  .refine((c) => (!c.from && !c.from_name) || c.smtp_url, {
    message: "from and from_name need the channel's own smtp_url: the instance's SMTP server sends as SMTP_FROM",
    path: ['from'],
  });

export type EmailConfig = z.infer<typeof schema>;

/** Errors that no retry can fix: bad configuration, credentials or addresses. */
const PERMANENT_CODES = new Set([
  'EAUTH',
  'ENOAUTH',
  'EOAUTH2',
  'ECONFIG',
  'EENVELOPE',
  'EMAXRECIPIENTS',
  'EREQUIRETLS',
  'EFILEACCESS',
  'EURLACCESS',
  'EBLOCKED',
]);

const NETWORK_HINTS: Record<string, string> = {
  ETIMEDOUT: 'timed out talking to the mail server',
  EDNS: "could not resolve the mail server's host name",
  ETLS: 'the TLS handshake with the mail server failed',
  ECONNECTION: 'the connection to the mail server failed',
  ESOCKET: 'the connection to the mail server failed',
  EPROTOCOL: 'the mail server sent an invalid answer',
  EPROXY: 'the proxy to the mail server failed',
};

interface SmtpError {
  message?: unknown;
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
}

/** RFC 5321: 5yz is a permanent rejection, 4yz transient. 503 (bad sequence of commands) is a session glitch. */
function isPermanentReply(code: number): boolean {
  return code >= 500 && code < 600 && code !== 503;
}

/** Whose SMTP settings a failure points at: the instance's (SMTP_URL / SMTP_FROM) or the channel's own. */
export type SmtpSource = 'instance' | 'channel';

export function classifySmtpError(err: unknown, source: SmtpSource = 'instance'): ChannelResult {
  const login = source === 'channel' ? "in the channel's SMTP URL (smtp_url / mailto://)" : 'in SMTP_URL';
  const sender = source === 'channel' ? "the channel's from address" : 'SMTP_FROM';
  const e = (err && typeof err === 'object' ? err : { message: String(err) }) as SmtpError;
  const clean = (s: unknown) => excerpt(scrubSecrets(typeof s === 'string' ? s : String(s ?? ''), []), 300);
  const message = clean(e.message) || 'unknown error';
  const code = typeof e.code === 'string' ? e.code : undefined;
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const response = typeof e.response === 'string' && e.response ? clean(e.response) : undefined;
  const base = response ? { response } : {};

  if (code === 'EAUTH' && (reply === undefined || reply >= 500)) {
    return {
      ok: false,
      retryable: false,
      ...base,
      error: `the mail server rejected the SMTP login (${message}): check the user and password ${login}`,
    };
  }
  if (reply !== undefined && reply >= 400 && reply < 600) {
    if (isPermanentReply(reply)) {
      return {
        ok: false,
        retryable: false,
        ...base,
        error: `the mail server rejected the message with ${reply} (${message}): check the recipient addresses and ${sender}`,
      };
    }
    return {
      ok: false,
      retryable: true,
      ...base,
      error: `the mail server deferred the message with ${reply} (${message}); will retry`,
    };
  }
  if (code === 'EBLOCKED') return { ok: false, retryable: false, ...base, error: message };
  if (code && PERMANENT_CODES.has(code)) {
    return {
      ok: false,
      retryable: false,
      ...base,
      error: `email could not be sent (${message}): check the SMTP settings and the recipient addresses`,
    };
  }
  const hint = (code && NETWORK_HINTS[code]) || 'could not reach the mail server';
  return { ok: false, retryable: true, ...base, error: `${hint} (${message}); will retry` };
}

// ---- Apprise mailto:// / mailtos:// ----

type SecureMode = 'starttls' | 'ssl' | 'insecure';
const DEFAULT_PORTS: Record<SecureMode, number> = { starttls: 587, ssl: 465, insecure: 25 };

interface ProviderTemplate {
  name: string;
  match: RegExp;
  host?: string;
  port?: number;
  secure?: boolean;
  mode?: SecureMode;
  /** How the provider wants the login: the full address, the bare user id, or either (absent). */
  login?: 'email' | 'userid';
  /** Sender user when the URL has none (Apprise: root@localhost). */
  fromUser?: string;
}

const ID = '^(?:(?<label>[^+]+)\\+)?(?<id>[^@]+)@';

/** Apprise's provider table (apprise/plugins/email/templates.py), matched against user@domain in order. */
export const EMAIL_TEMPLATES: readonly ProviderTemplate[] = [
  { name: 'Google Mail', match: new RegExp(`${ID}(?<domain>gmail\\.com)$`, 'i'), host: 'smtp.gmail.com', port: 587, secure: true, mode: 'starttls', login: 'email' },
  { name: 'Yandex', match: new RegExp(`${ID}(?<domain>yandex\\.(com|ru|ua|by|kz|uz|tr|fr))$`, 'i'), host: 'smtp.yandex.ru', port: 465, secure: true, mode: 'ssl', login: 'userid' },
  { name: 'Microsoft Hotmail', match: new RegExp(`${ID}(?<domain>(hotmail|live)\\.com(\\.au)?)$`, 'i'), host: 'smtp-mail.outlook.com', port: 587, secure: true, mode: 'starttls', login: 'email' },
  { name: 'Microsoft Outlook', match: new RegExp(`${ID}(?<domain>(smtp\\.)?outlook\\.com(\\.au)?)$`, 'i'), host: 'smtp.outlook.com', port: 587, secure: true, mode: 'starttls', login: 'email' },
  { name: 'Microsoft Office 365', match: /^[^@]+@(?<domain>(smtp\.)?office365\.com)$/i, host: 'smtp.office365.com', port: 587, secure: true, mode: 'starttls' },
  { name: 'Yahoo Mail', match: new RegExp(`${ID}(?<domain>yahoo\\.(ca|com))$`, 'i'), host: 'smtp.mail.yahoo.com', port: 465, secure: true, mode: 'starttls', login: 'email' },
  { name: 'GMX Mail', match: new RegExp(`${ID}(?<domain>gmx\\.(com|net|de|at|ch|fr))$`, 'i'), host: 'mail.gmx.com', port: 587, secure: true, mode: 'starttls', login: 'email' },
  {
    name: 'Fast Mail',
    match: new RegExp(`${ID}(?<domain>fastmail\\.(com|cn|co\\.uk|com\\.au|de|es|fm|fr|im|in|jp|mx|net|nl|org|se|to|tw|uk|us))$`, 'i'),
    host: 'smtp.fastmail.com',
    port: 465,
    secure: true,
    mode: 'ssl',
    login: 'email',
  },
  { name: 'Zoho Mail', match: new RegExp(`${ID}(?<domain>zoho(mail)?\\.com)$`, 'i'), host: 'smtp.zoho.com', port: 587, secure: true, mode: 'starttls', login: 'email' },
  { name: 'SendGrid', match: new RegExp(`${ID}(?<domain>(\\.smtp)?sendgrid\\.(com|net))$`, 'i'), host: 'smtp.sendgrid.net', port: 465, secure: true, mode: 'ssl', login: 'userid' },
  { name: '163.com', match: new RegExp(`${ID}(?<domain>163\\.com)$`, 'i'), host: 'smtp.163.com', port: 465, secure: true, mode: 'ssl', login: 'email' },
  { name: 'Foxmail.com', match: new RegExp(`${ID}(?<domain>(foxmail|qq)\\.com)$`, 'i'), host: 'smtp.qq.com', port: 587, secure: true, mode: 'starttls', login: 'email' },
  { name: 'Comcast.net', match: new RegExp(`${ID}(?<domain>(comcast)\\.net)$`, 'i'), host: 'smtp.comcast.net', port: 465, secure: true, mode: 'ssl', login: 'email' },
  { name: 'Local Mail Server', match: /^(((?<label>[^+]+)\+)?(?<id>[^@]+)@)?(?<domain>localhost(\.localdomain)?)$/i, fromUser: 'root' },
];

const HOSTNAME = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,62})?)(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62})?)*\.?$/i;
const IP_HOST = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])$/i;
const looksLikeEmail = (s: string) => z.regexes.html5Email.test(s);

/** Addresses from a list such as "a@x.com,b@y.com" or "<a@x.com> b@y.com" (commas, semicolons or spaces). */
function addressList(value: string): string[] {
  return value
    .split(/[,;\s]+/)
    .map((s) => s.replace(/^<|>$/g, '').trim())
    .filter(Boolean);
}

function checkAddresses(list: string[], what: string): string[] {
  for (const a of list) if (!looksLikeEmail(a)) throw new ChannelUrlError(`"${a}" is not a valid email address (${what})`);
  return list;
}

/**
 * mailto://[user[:pass]@]domain[:port][/to…][?to=&from=&name=&smtp=&mode=&cc=&bcc=] exactly as Apprise reads it:
 * the URL names the SMTP server and login; mailto:// is plain SMTP (port 25) and mailtos:// STARTTLS (587) unless
 * ?mode=ssl (465) or a known provider says otherwise (gmail.com → smtp.gmail.com:587 STARTTLS); the sender is
 * user@domain unless ?from= says; with no recipient the mail goes to the sender.
 */
export function parseMailto(raw: string, scheme: string): Record<string, unknown> {
  const u = parseAppriseUrl(raw);
  if (!u) throw new ChannelUrlError(`expected ${scheme}://user:password@example.com`);
  for (const k of ['pgp', 'pgppub', 'pgpkey', 'pgpprv', 'wkd'])
    if (u.query.has(k) && appriseBool(u.query.get(k), true)) throw new ChannelUrlError('PGP-signed or encrypted email (pgp=, wkd=) is not supported');
  let host = u.host.toLowerCase();
  const targets: string[] = [];
  if (host && !HOSTNAME.test(host) && !IP_HOST.test(host)) {
    if (looksLikeEmail(host)) targets.push(host);
    host = '';
  }
  targets.push(...u.segments.flatMap(addressList));
  const to = u.query.get('to');
  if (to) targets.push(...addressList(to));
  let smtpHost = u.query.get('smtp')?.toLowerCase() ?? '';
  if (smtpHost && !HOSTNAME.test(smtpHost) && !IP_HOST.test(smtpHost)) throw new ChannelUrlError(`smtp=${smtpHost} is not a host name`);
  const modeArg = u.query.get('mode')?.toLowerCase() || undefined;
  if (modeArg && !(modeArg in DEFAULT_PORTS)) throw new ChannelUrlError(`mode=${modeArg} is not an email mode: use starttls, ssl or insecure`);
  let secure = scheme === 'mailtos';
  let mode: SecureMode = (modeArg as SecureMode | undefined) ?? (secure ? 'starttls' : 'insecure');
  let port = u.port;
  let user = u.user || null;
  const password = u.password || null;
  let from = '';

  if (!smtpHost) {
    // Apprise's provider defaults, only when no smtp= names the server explicitly.
    const probe = user ? `${user.split(/[\s@]+/)[0]}@${host}` : host;
    for (const t of EMAIL_TEMPLATES) {
      const m = t.match.exec(probe);
      if (!m) continue;
      if (t.secure !== undefined) secure = t.secure;
      if (t.host) smtpHost = t.host;
      if (!port && t.port) port = t.port;
      if (!modeArg && t.mode) mode = t.mode;
      if (t.login && user) {
        if (user.includes('@')) {
          if (t.login !== 'email') user = m.groups?.id ?? user;
          else host = user.split('@')[1] ?? host;
        } else if (t.login !== 'userid') user = `${user}@${host}`;
      }
      if (t.fromUser && !from) from = `${t.fromUser}@${host}`;
      break;
    }
  }
  if (user) {
    if (host) from = `${user.split(/[\s@]+/)[0]}@${host}`;
    else if (looksLikeEmail(user)) {
      host = user.split('@')[1] ?? '';
      from = user;
    }
  }
  let fromName: string | undefined;
  const fromArg = u.query.get('from');
  const nameArg = u.query.get('name');
  if (fromArg) {
    const addr = /<([^>]+)>/.exec(fromArg)?.[1]?.trim() ?? fromArg;
    const display = /^\s*"?([^"<]*?)"?\s*</.exec(fromArg)?.[1]?.trim();
    if (looksLikeEmail(addr)) {
      from = addr;
      if (display) fromName = display;
    } else fromName = fromArg; // Apprise: a from= that is not an address is the display name
  }
  if (nameArg) fromName = nameArg;
  if (!looksLikeEmail(from))
    throw new ChannelUrlError(
      `a ${scheme}:// URL needs a sender: ${scheme}://user:password@example.com (sends as user@example.com) or ?from=alerts@example.com`,
    );
  if (!secure && mode !== 'insecure') secure = true;
  port ??= DEFAULT_PORTS[mode];
  if (!smtpHost) smtpHost = host;
  if (!smtpHost) throw new ChannelUrlError(`a ${scheme}:// URL needs the mail domain or server: ${scheme}://user:password@example.com`);
  if (port < 1 || port > 65535) throw new ChannelUrlError(`port ${port} is out of range`);

  const auth = user && password ? `${encodeURIComponent(user)}:${encodeURIComponent(password)}@` : '';
  const query = new URLSearchParams();
  if (mode === 'starttls') query.set('requireTLS', 'true');
  if (mode === 'insecure') query.set('ignoreTLS', 'true');
  if (!appriseBool(u.query.get('verify'), true)) query.set('tls.rejectUnauthorized', 'false');
  const qs = query.toString();
  const smtpUrl = `${mode === 'ssl' ? 'smtps' : 'smtp'}://${auth}${smtpHost}:${port}${qs ? `?${qs}` : ''}`;

  const fields: Record<string, unknown> = {
    to: checkAddresses(targets.length > 0 ? [...new Set(targets)] : [from], 'to'),
    smtp_url: smtpUrl,
    from,
  };
  if (fromName) fields.from_name = fromName;
  const cc = u.query.get('cc');
  if (cc) fields.cc = checkAddresses(addressList(cc), 'cc');
  const bcc = u.query.get('bcc');
  if (bcc) fields.bcc = checkAddresses(addressList(bcc), 'bcc');
  return fields;
}

/** Set by the service when outbound calls to private addresses are refused (BALANCEWATCH_ALLOW_PRIVATE_TARGETS). */
function allowPrivateTargets(ctx: ChannelContext): boolean | undefined {
  const v = (ctx as ChannelContext & { allowPrivateTargets?: unknown }).allowPrivateTargets;
  return typeof v === 'boolean' ? v : undefined;
}

export const emailChannel: ChannelType<EmailConfig> = {
  type: 'email',
  label: 'Email',
  schema,
  secretFields: ['smtp_url'],
  schemes: ['mailto', 'mailtos'],
  parseUrl(raw, scheme) {
    if (scheme !== 'mailto' && scheme !== 'mailtos') return null;
    return parseMailto(raw, scheme);
  },
  async send(config, n, ctx) {
    const own = config.smtp_url ? channelMailer(config.smtp_url, { allowPrivateTargets: allowPrivateTargets(ctx) }) : null;
    const mailer = own ?? ctx.mailer;
    if (!mailer)
      return { ok: false, retryable: false, error: 'email is not configured: set SMTP_URL and SMTP_FROM' };
    const msg: MailMessage = {
      to: config.to,
      ...(config.cc?.length ? { cc: config.cc } : {}),
      ...(config.bcc?.length ? { bcc: config.bcc } : {}),
      subject: n.message.title,
      text: n.message.text,
      html: n.message.html,
      ...(own && config.from ? { from: config.from_name ? { name: config.from_name, address: config.from } : config.from } : {}),
    };
    try {
      const info = await mailer.send(msg);
      return { ok: true, response: excerpt(info.response ?? '') };
    } catch (err) {
      return classifySmtpError(err, own ? 'channel' : 'instance');
    }
  },
};
