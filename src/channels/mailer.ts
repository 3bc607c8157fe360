import nodemailer from 'nodemailer';
import type { Mailer } from './types.js';

// The SMTP connection shared by every email channel (SMTP_URL / SMTP_FROM, SPEC §7.1): one pooled nodemailer
// transport. Errors it throws keep nodemailer's `code` / `responseCode` (the email channel classifies them) but
// never carry the SMTP password: it is scrubbed from every string on the error before it leaves this module.

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

export function createMailer(smtpUrl: string, from: string): Mailer & { close(): void } {
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
    });
  } catch (err) {
    throw scrubError(err, secrets);
  }
  // Failures surface through sendMail(); an unobserved 'error' event must not crash the process.
  transport.on('error', () => {});

  return {
    from,
    async send(msg) {
      try {
        const info = await transport.sendMail({
          from,
          to: msg.to,
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
