import { z } from 'zod';
import { scrubSecrets } from './mailer.js';
import { excerpt, type ChannelResult, type ChannelType } from './types.js';

// Email over the instance's SMTP server (SMTP_URL / SMTP_FROM, SPEC §4): HTML + plain text in the workspace's
// language. SMTP answers are classified like HTTP ones: a permanent 5xx rejection is a configuration problem
// (dead-letter at once), a 4xx deferral or a network failure is retried.

const schema = z
  .object({
    to: z
      .array(z.email({ error: 'not a valid email address' }).max(254))
      .min(1, 'at least one recipient')
      .max(50, 'at most 50 recipients'),
  })
  .strict();

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

export function classifySmtpError(err: unknown): ChannelResult {
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
      error: `the mail server rejected the SMTP login (${message}): check the user and password in SMTP_URL`,
    };
  }
  if (reply !== undefined && reply >= 400 && reply < 600) {
    if (isPermanentReply(reply)) {
      return {
        ok: false,
        retryable: false,
        ...base,
        error: `the mail server rejected the message with ${reply} (${message}): check the recipient addresses and SMTP_FROM`,
      };
    }
    return {
      ok: false,
      retryable: true,
      ...base,
      error: `the mail server deferred the message with ${reply} (${message}); will retry`,
    };
  }
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

export const emailChannel: ChannelType<EmailConfig> = {
  type: 'email',
  schema,
  secretFields: [],
  async send(config, n, ctx) {
    if (!ctx.mailer)
      return { ok: false, retryable: false, error: 'email is not configured: set SMTP_URL and SMTP_FROM' };
    try {
      const info = await ctx.mailer.send({
        to: config.to,
        subject: n.message.title,
        text: n.message.text,
        html: n.message.html,
      });
      return { ok: true, response: excerpt(info.response ?? '') };
    } catch (err) {
      return classifySmtpError(err);
    }
  },
};
