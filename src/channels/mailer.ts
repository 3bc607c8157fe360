import dns from 'node:dns';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { isPublicAddress } from '../net/http-client.js';
import type { Mailer } from './types.js';

// The SMTP connection shared by every email channel (SMTP_URL / SMTP_FROM, SPEC §7.1): one pooled nodemailer
// transport. Errors it throws keep nodemailer's `code` / `responseCode` (the email channel classifies them) but
// never carry the SMTP password: it is scrubbed from every string on the error before it leaves this module.
//
// A channel can bring its own SMTP server (`smtp_url`, e.g. from an Apprise mailto:// URL): channelMailer() keeps
// one pooled transport per server URL, created on first use and closed by closeChannelMailers() (service close).

const CONNECTION_TIMEOUT_MS = 10_000;
const GREETING_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 30_000;

/** Every form in which the credentials could show up in an error: raw, percent-encoded, base64 (AUTH PLAIN / LOGIN). */
function secretForms(smtpUrl: string): string[] {
  let user = '';
  let pass = '';
  try {
    const u = new URL(smtpUrl);
    user = safeDecode(u.username);
    pass = safeDecode(u.password);
    if (u.password) {
      const forms = new Set<string>([
        pass,
        u.password,
        encodeURIComponent(pass),
        Buffer.from(pass, 'utf8').toString('base64'),
        Buffer.from(`\u0000${user}\u0000${pass}`, 'utf8').toString('base64'),
        Buffer.from(`${user}\u0000${user}\u0000${pass}`, 'utf8').toString('base64'),
      ]);
      return [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
    }
  } catch {
    // not a WHATWG-parsable URL: nodemailer will report it; scrub whatever looks like userinfo below
  }
  return [];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Removes the password from a string; also masks any `scheme://user:pass@` userinfo, whatever its origin. */
export function scrubSecrets(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const f of secrets) out = out.split(f).join('***');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*):[^\s/@]*@/gi, '$1$2:***@');
}

function scrubError(err: unknown, secrets: readonly string[]): unknown {
  if (!err || typeof err !== 'object') return typeof err === 'string' ? scrubSecrets(err, secrets) : err;
  const rec = err as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(err)) {
    const v = rec[key];
    if (typeof v === 'string') {
      try {
        rec[key] = scrubSecrets(v, secrets);
      } catch {
        // read-only property: leave it
      }
    }
  }
  if (rec.cause) scrubError(rec.cause, secrets);
  return err;
}

/** A message; `from`, `cc` and `bcc` are optional (the mailer's own sender when no `from`). */
export interface MailMessage {
  to: string[];
  cc?: string[];
  bcc?: string[];
  subject: string;
  text: string;
  html: string;
  from?: string | { name: string; address: string };
}

export interface MailerOptions {
  /**
   * False: refuse mail servers whose host is (or resolves to) a private, loopback, link-local or otherwise
   * non-public address, like the HTTP client's guard (BALANCEWATCH_ALLOW_PRIVATE_TARGETS). Default true.
   */
  allowPrivateTargets?: boolean;
}

export interface SmtpMailer extends Mailer {
  send(msg: MailMessage): Promise<{ response: string }>;
  close(): void;
}

/** Checked before every new SMTP connection; the error's code EBLOCKED marks it as configuration, not network. */
async function checkMailHost(host: string): Promise<void> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  let addresses: string[];
  if (net.isIP(bare)) addresses = [bare];
  else {
    try {
      addresses = (await dns.promises.lookup(bare, { all: true })).map((a) => a.address);
    } catch (err) {
      throw Object.assign(new Error(`could not resolve the mail server ${host}: ${(err as Error).message}`), { code: 'EDNS' });
    }
  }
  if (addresses.length === 0 || addresses.some((a) => !isPublicAddress(a)))
    throw Object.assign(
      new Error(
        `refusing to connect to the mail server ${host}: it is a private, loopback, link-local or otherwise non-public address; ` +
          'set BALANCEWATCH_ALLOW_PRIVATE_TARGETS=true if this target is intended',
      ),
      { code: 'EBLOCKED' },
    );
}

export function createMailer(smtpUrl: string, from: string, opts: MailerOptions = {}): SmtpMailer {
  const secrets = secretForms(smtpUrl);
  let transport: ReturnType<typeof nodemailer.createTransport>;
  try {
    // Keys set in the URL's query (e.g. ?pool=false, ?tls.rejectUnauthorized=false) win over these defaults.
    transport = nodemailer.createTransport({
      url: smtpUrl,
      pool: true,
      maxConnections: 3,
      maxMessages: 100,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      greetingTimeout: GREETING_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      dnsTimeout: CONNECTION_TIMEOUT_MS,
      ...(opts.allowPrivateTargets === false
        ? {
            getSocket(options: { host?: string }, callback: (err: Error | null, socket?: false) => void) {
              checkMailHost(options.host ?? 'localhost').then(
                () => callback(null, false),
                (err: Error) => callback(err),
              );
            },
          }
        : {}),
    });
  } catch (err) {
    throw scrubError(err, secrets);
  }
  // Failures surface through sendMail(); an unobserved 'error' event must not crash the process.
  transport.on('error', () => {});

  return {
    from,
    async send(msg: MailMessage) {
      try {
        const info = await transport.sendMail({
          from: msg.from ?? from,
          to: msg.to,
          ...(msg.cc?.length ? { cc: msg.cc } : {}),
          ...(msg.bcc?.length ? { bcc: msg.bcc } : {}),
          subject: msg.subject,
          text: msg.text,
          html: msg.html,
        });
        const response = typeof info.response === 'string' ? info.response : String(info.response ?? '');
        const rejected = Array.isArray(info.rejected)
          ? info.rejected.map((r: unknown) =>
              typeof r === 'string' ? r : String((r as { address?: string }).address ?? r),
            )
          : [];
        return {
          response: scrubSecrets(
            rejected.length ? `${response} (rejected recipients: ${rejected.join(', ')})` : response,
            secrets,
          ),
        };
      } catch (err) {
        throw scrubError(err, secrets);
      }
    },
    close() {
      transport.close();
    },
  };
}

// ---- per-channel SMTP servers ----

const MAX_CHANNEL_MAILERS = 200;
const channelMailers = new Map<string, SmtpMailer>();

/**
 * The pooled mailer for a channel's own SMTP server, shared by every channel with the same `smtp_url` (and guard
 * setting). The least recently used one is closed when more than 200 servers are in use.
 */
export function channelMailer(smtpUrl: string, opts: MailerOptions = {}): SmtpMailer {
  const key = `${opts.allowPrivateTargets === false ? 'guarded' : 'open'} ${smtpUrl}`;
  let mailer = channelMailers.get(key);
  if (mailer) {
    channelMailers.delete(key); // re-insert: the Map's order is the LRU order
  } else {
    mailer = createMailer(smtpUrl, '', opts);
    if (channelMailers.size >= MAX_CHANNEL_MAILERS) {
      const [oldestKey, oldest] = channelMailers.entries().next().value as [string, SmtpMailer];
      channelMailers.delete(oldestKey);
      oldest.close();
    }
  }
  channelMailers.set(key, mailer);
  return mailer;
}

/** Closes every per-channel SMTP transport (called when the service stops); later sends open new ones. */
export function closeChannelMailers(): void {
  const all = [...channelMailers.values()];
  channelMailers.clear();
  for (const m of all) m.close();
}

/** How many per-channel transports are open (for tests and metrics). */
export function channelMailerCount(): number {
  return channelMailers.size;
}
