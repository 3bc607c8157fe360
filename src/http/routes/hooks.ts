import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseAmount } from '../../domain/money.js';
import { ingestSamples } from '../../engine/ingest.js';
import { safeEqual } from '../../security/api-keys.js';
import type { AccountsTable } from '../../store/schema.js';
import { canSee } from '../auth.js';
import { ApiError, notFound } from '../errors.js';
import type { App, Deps } from '../types.js';

// new-api webhook relay (SPEC §5, issue #3 point 6). new-api can send its own per-user low-quota notification to
// one webhook URL: POST {"type":"quota_exceed","title","content","values":[…],"timestamp":<unix s>}, signed with
// X-Webhook-Signature = hex HMAC-SHA256(secret, raw body) (its worker/proxy mode also sends
// "Authorization: Bearer <secret>"). Pointing that URL at balancewatch turns each call into a balance sample of the
// mapped account, so the account's own rules decide what to send and through every channel new-api lacks. new-api
// checks a LEVEL (every request below its threshold, ~2 calls per 10 minutes); the state machine turns that into
// one notification per crossing.
//
// Management: POST|DELETE /api/v1/accounts/{id}/hooks/newapi (API key). The relay: POST /api/v1/hooks/newapi/{token},
// authenticated by the unguessable token in the URL (stored as its SHA-256, found by index lookup), plus the secret
// when one is set.

/** new-api's default QuotaPerUnit: 500000 quota = 1 USD. */
export const NEWAPI_QUOTA_PER_USD = 500_000;
/** Calls per token per minute; more answer 429 (new-api itself sends at most ~2 per 10 minutes). */
export const HOOK_RATE_LIMIT = 60;
const RATE_WINDOW_MS = 60_000;
const HOOK_BODY_LIMIT = 64 * 1024;
const MAX_TEXT = 10 * 1024;
const MIN_TIME_S = Date.UTC(2000, 0, 1) / 1000;

// ---------------------------------------------------------------------------------------------------------------
// The remaining-balance figure in new-api's message

/**
 * A figure as new-api prints it (logger.FormatQuota by quota display type): "＄1.234567" (USD), "¥8.500000" (CNY),
 * "<symbol>1.5" (custom), "250000" (raw quota units, TOKENS display); older builds add " 额度" / " 点额度".
 * `money` has a currency code, or null when the symbol is unknown (new-api's custom symbols, a bare decimal).
 */
export type NewApiFigure =
  | { kind: 'money'; amount: number; currency: string | null; text: string }
  | { kind: 'quota'; quota: number; text: string };

export type FigureResult = NewApiFigure | { kind: 'none'; reason: string };

const SYMBOLS: Record<string, string | null> = {
  $: 'USD',
  US$: 'USD',
  '¥': 'CNY', // new-api's CNY display (the yen shares the sign; new-api never shows JPY)
  '€': 'EUR',
  '£': 'GBP',
  '₩': 'KRW',
  '₽': 'RUB',
  '¤': null, // new-api's default custom-currency sign: the rate is the operator's, the currency unknown
};
const WORD_CURRENCIES: Record<string, string> = { 元: 'CNY', 人民币: 'CNY', 块: 'CNY', RMB: 'CNY', 美元: 'USD', 美金: 'USD' };
const QUOTA_UNITS = /^(?:点额度|点|tokens?|quota|points?)$/i;
const FIGURE_RE =
  /^(?<pre>US\$|[$¥€£₩₽¤]|[A-Za-z]{3}(?=\s*[-+\d.]))?\s*(?<sign>[-+]?)\s*(?<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)\s*(?<post>[A-Za-z]{3}|元|人民币|块|美元|美金|点额度|点|额度|tokens?|quota|points?)?$/u;

/** Parses one figure ("$1.23", "¥ 8.50", "1,234.5 USD", "-$0.20", "250000", "250000 点额度"); null if it is not one. */
export function parseFigure(input: string): NewApiFigure | null {
  const text = input.trim();
  // NFKC: full-width forms as new-api prints them (＄, ￥, digits); U+2212 is a minus sign too.
  let s = text.normalize('NFKC').replace(/\u2212/g, '-').trim();
  if (s.length === 0 || s.length > 64) return null;
  // A sign before the symbol ("-$1.23") is the same as after it ("$-1.23").
  let lead = '';
  if (/^[-+]\s*\D/.test(s)) {
    lead = s[0]!;
    s = s.slice(1).trim();
  }
  const m = FIGURE_RE.exec(s);
  if (!m?.groups) return null;
  const { pre, num } = m.groups as { pre?: string; num: string };
  let { sign, post } = m.groups as { sign: string; post?: string };
  if (lead) {
    if (sign) return null; // "-$-1"
    sign = lead;
  }
  if (post === '额度') post = undefined; // "＄1.5 额度": the unit word of older builds, no currency of its own
  const value = parseAmount(`${sign === '-' ? '-' : ''}${num.replace(/,/g, '')}`);
  if (value === null) return null;

  const preCur = pre === undefined ? undefined : pre in SYMBOLS ? SYMBOLS[pre]! : pre.toUpperCase();
  if (post !== undefined && QUOTA_UNITS.test(post)) {
    if (pre !== undefined) return null; // "$5 点": a currency and quota units at once
    return { kind: 'quota', quota: value, text };
  }
  const postCur = post === undefined ? undefined : (WORD_CURRENCIES[post] ?? WORD_CURRENCIES[post.toUpperCase()] ?? post.toUpperCase());
  if (preCur !== undefined && postCur !== undefined && preCur !== postCur) return null; // "$1 CNY"
  const currency = preCur !== undefined ? preCur : postCur;
  if (currency === undefined) {
    // No currency: new-api's TOKENS display prints raw quota as an integer; a bare decimal is not a unit we know.
    return /[.]/.test(num) ? { kind: 'money', amount: value, currency: null, text } : { kind: 'quota', quota: value, text };
  }
  return { kind: 'money', amount: value, currency, text };
}

// "当前剩余额度为 X，" (webhook, email, Gotify), "剩余额度：X，" (Bark), and an English wording some forks use.
const MARKER_RE = /(?:剩余额度|剩余余额|可用额度|当前余额|remaining\s+(?:quota|balance|credits?)|balance\s+remaining)\s*(?:为|是|:|：|is|of|=)?\s*/iu;
/** Where the figure after the marker ends: Chinese punctuation, markup, a line end, an ASCII comma or full stop
 * that is not inside the number ("1,234.5"), or ", " in English text. */
const FIGURE_END_RE = /[，。；;！!？?、<>\n\r"'（(]|,(?!\d{3}(?:\D|$))|\.(?!\d)/u;

/** The remaining balance in new-api's notification: after "剩余额度" in `content`, else the one figure in `values`. */
export function extractRemaining(content: string, values: readonly unknown[]): FigureResult {
  const m = MARKER_RE.exec(content);
  if (m) {
    const rest = content.slice(m.index + m[0].length);
    const end = rest.search(FIGURE_END_RE);
    const token = (end === -1 ? rest : rest.slice(0, end)).trim();
    const fig = parseFigure(token);
    if (fig) return fig;
    return { kind: 'none', reason: `the figure after "${m[0].trim()}" is not an amount balancewatch can read: "${clip(token, 40)}"` };
  }
  const figures = new Map<string, NewApiFigure>();
  for (const v of values) {
    const fig = typeof v === 'string' ? parseFigure(v) : typeof v === 'number' ? parseFigure(String(v)) : null;
    if (fig) figures.set(fig.kind === 'quota' ? `q${fig.quota}` : `m${fig.amount}${fig.currency}`, fig);
  }
  if (figures.size === 1) return [...figures.values()][0]!;
  if (figures.size > 1) return { kind: 'none', reason: 'the content has no "剩余额度" (remaining quota) figure and the values hold several amounts' };
  return { kind: 'none', reason: 'neither the content nor the values hold a remaining-quota figure' };
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The balance in the account's currency, or why the figure cannot be one (a currency we cannot convert). */
export function figureToBalance(
  fig: NewApiFigure,
  account: Pick<AccountsTable, 'currency' | 'quota_per_unit'>,
): { balance: number } | { reason: string } {
  const accountCurrency = account.currency.trim().toUpperCase();
  if (fig.kind === 'quota') {
    const perUnit = account.quota_per_unit ?? (accountCurrency === 'USD' ? NEWAPI_QUOTA_PER_USD : null);
    if (!perUnit)
      return {
        reason: `the webhook reports raw quota (${fig.text}) and the account is in ${account.currency}: set the account's quota_per_unit (new-api: ${NEWAPI_QUOTA_PER_USD} per USD times the exchange rate)`,
      };
    const balance = parseAmount(fig.quota / perUnit);
    return balance === null ? { reason: `quota ${fig.quota} / ${perUnit} is not a balance` } : { balance };
  }
  if (fig.currency === null)
    return {
      reason: `the webhook reports "${fig.text}" without a currency balancewatch knows: set new-api's quota display to USD, CNY or tokens`,
    };
  const want = accountCurrency === 'RMB' ? 'CNY' : accountCurrency;
  if (fig.currency !== want)
    return { reason: `the webhook reports ${fig.currency} ("${fig.text}") but the account is in ${account.currency}: make them match` };
  return { balance: fig.amount };
}

// ---------------------------------------------------------------------------------------------------------------
// Routes

const idParams = z.object({ id: z.string().min(1).max(200) });
const tokenParams = z.object({ token: z.string().min(1).max(200) });
const createBody = z
  .object({
    secret: z.string().min(1).max(512).optional(),
    generate_secret: z.boolean().optional(),
  })
  .strict()
  .nullish();

const value = z.union([z.string().max(MAX_TEXT), z.number(), z.boolean(), z.null()], { error: 'expected a string, number, boolean or null' });
const notifyBody = z.object({
  type: z.string().min(1).max(100),
  title: z.string().max(MAX_TEXT).default(''),
  content: z.string().max(MAX_TEXT).default(''),
  values: z.array(value).max(20).nullish(),
  timestamp: z
    .number()
    .refine((t) => t >= MIN_TIME_S && t < 1e11, { message: 'expected Unix seconds (after 2000; this looks like milliseconds or is out of range)' }),
});

const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** Raw request bodies of the relay route, for the signature (the parsed JSON cannot be re-serialised byte for byte). */
const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/** Fixed one-minute windows per hook token (known tokens only: memory is bounded by the hooks called recently). */
class TokenRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts a call; returns the seconds to wait when over the limit, else 0. */
  take(key: string, now: number): number {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size >= 10_000) this.prune(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count += 1;
    return w.count > this.limit ? Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)) : 0;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}

function verifySignature(secret: string, raw: Buffer, header: string | string[] | undefined): boolean {
  const sig = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase() ?? '';
  if (!/^(?:sha256=)?[0-9a-f]{64}$/.test(sig)) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(Buffer.from(sig.replace(/^sha256=/, ''), 'hex'), expected);
}

function verifyBearer(secret: string, header: string | undefined): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return m !== null && safeEqual(m[1]!.trim(), secret);
}

function baseUrl(d: Deps, req: FastifyRequest): string {
  if (d.config.publicUrl) return d.config.publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.host}`;
}

export function hookRoutes(app: App, d: Deps): void {
  const { db, dialect } = d.store;
  const limiter = new TokenRateLimiter(HOOK_RATE_LIMIT, RATE_WINDOW_MS);

  const loadAccount = async (req: FastifyRequest, id: string) => {
    const a = await db.selectFrom('accounts').select(['id', 'workspace_id']).where('id', '=', id).executeTakeFirst();
    if (!a || !canSee(req, a.workspace_id)) throw notFound('account', id);
    return a;
  };

  app.post(
    '/api/v1/accounts/:id/hooks/newapi',
    {
      schema: {
        params: idParams,
        body: createBody,
        tags: ['accounts'],
        description:
          "Creates (or rotates) the account's new-api webhook URL, optionally with a signing secret. Set the URL (and secret) as the webhook in new-api's notification settings. The token and secret are shown only in this answer; a rotation invalidates the previous URL.",
      },
    },
    async (req, reply) => {
      const a = await loadAccount(req, req.params.id);
      const b = req.body ?? {};
      if (b.secret !== undefined && b.generate_secret)
        throw new ApiError(400, 'invalid_request', 'give either "secret" or "generate_secret", not both', [{ path: 'body.generate_secret', message: 'conflicts with secret' }]);
      const secret = b.secret ?? (b.generate_secret ? randomBytes(24).toString('base64url') : undefined);
      const token = randomBytes(32).toString('base64url');
      await db
        .updateTable('accounts')
        .set({ hook_token_hash: hashToken(token), hook_secret: secret === undefined ? null : d.box.encrypt(secret), updated_at: Date.now() })
        .where('id', '=', a.id)
        .execute();
      return reply.code(201).send({
        url: `${baseUrl(d, req)}/api/v1/hooks/newapi/${token}`,
        token,
        ...(secret !== undefined ? { secret } : {}),
      });
    },
  );

  app.delete(
    '/api/v1/accounts/:id/hooks/newapi',
    { schema: { params: idParams, tags: ['accounts'], description: "Removes the account's new-api webhook: its URL stops working." } },
    async (req, reply) => {
      const a = await loadAccount(req, req.params.id);
      await db.updateTable('accounts').set({ hook_token_hash: null, hook_secret: null, updated_at: Date.now() }).where('id', '=', a.id).execute();
      return reply.code(204).send();
    },
  );

  // The relay endpoint, in its own context: its JSON parser keeps the raw bytes for the signature and leaves the
  // parsing to the handler, so that an unknown token (404) or a bad signature (401) is answered before the body is
  // judged (400).
  void app.register(async (plugin) => {
    const hook = plugin.withTypeProvider<ZodTypeProvider>();
    hook.removeContentTypeParser('application/json');
    hook.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: HOOK_BODY_LIMIT }, (req, body, done) => {
      rawBodies.set(req, body as Buffer);
      done(null, undefined);
    });
    hook.post(
      '/api/v1/hooks/newapi/:token',
      {
        bodyLimit: HOOK_BODY_LIMIT,
        config: { publicRoute: true },
        schema: {
          params: tokenParams,
          tags: ['hooks'],
          security: [],
          description:
            'Receives new-api\'s per-user webhook ({"type":"quota_exceed","title","content","values","timestamp"}) and records the remaining balance as a sample of the account the token belongs to. Authenticated by the token in the URL and, when the hook has a secret, by X-Webhook-Signature (hex HMAC-SHA256 of the body) or Authorization: Bearer <secret>.',
        },
      },
      async (req, reply) => {
        const tokenHash = hashToken(req.params.token);
        const acc = await db
          .selectFrom('accounts')
          .select(['id', 'workspace_id', 'currency', 'quota_per_unit', 'hook_secret'])
          .where('hook_token_hash', '=', tokenHash)
          .executeTakeFirst();
        if (!acc) throw new ApiError(404, 'not_found', 'no webhook at this URL: the token is unknown or the hook was rotated or removed');

        const now = Date.now();
        const wait = limiter.take(tokenHash, now);
        if (wait > 0) {
          reply.header('retry-after', String(wait));
          throw new ApiError(429, 'rate_limited', `more than ${HOOK_RATE_LIMIT} calls a minute to this webhook; retry in ${wait}s`);
        }

        const raw = rawBodies.get(req) ?? Buffer.alloc(0);
        if (acc.hook_secret !== null) {
          let secret: string;
          try {
            secret = d.box.decrypt(acc.hook_secret);
          } catch {
            throw new ApiError(500, 'secret_unreadable', "this hook's secret cannot be decrypted with the current BALANCEWATCH_SECRET_KEY; create the hook again");
          }
          const sig = req.headers['x-webhook-signature'];
          if (!verifySignature(secret, raw, sig) && !verifyBearer(secret, req.headers.authorization)) {
            throw new ApiError(
              401,
              'unauthorized',
              sig === undefined && req.headers.authorization === undefined
                ? "this webhook has a secret: the call must carry X-Webhook-Signature (hex HMAC-SHA256 of the body with the secret) or Authorization: Bearer <secret>; set the same secret as the webhook secret in new-api"
                : "the X-Webhook-Signature (or bearer secret) does not match this webhook's secret; set the same secret as the webhook secret in new-api",
            );
          }
        }

        let json: unknown;
        try {
          json = JSON.parse(raw.toString('utf8'));
        } catch (err) {
          const why = raw.length === 0 ? 'the body is empty' : `the body is not valid JSON: ${(err as Error).message}`;
          throw new ApiError(400, 'invalid_json', `${why}; new-api sends {"type","title","content","values","timestamp"}`);
        }
        const parsed = notifyBody.safeParse(json);
        if (!parsed.success) {
          const issues = parsed.error.issues.map((i) => ({ path: ['body', ...i.path].join('.'), message: i.message }));
          throw new ApiError(400, 'invalid_request', `${issues[0]!.path}: ${issues[0]!.message}`, issues);
        }
        const n = parsed.data;

        if (n.type !== 'quota_exceed')
          return reply.code(202).send({ ok: true, applied: false, reason: `notification type "${clip(n.type, 100)}" is not a balance report; ignored` });

        const fig = extractRemaining(n.content, n.values ?? []);
        const conv = fig.kind === 'none' ? { reason: fig.reason } : figureToBalance(fig, acc);
        if ('reason' in conv) {
          // Not a balance: nothing is stored (absent is not zero); the reason goes back to the caller and the log.
          req.log.warn({ account: acc.id, reason: conv.reason, content: clip(n.content, 200) }, 'new-api webhook without a usable balance');
          return reply.code(202).send({ ok: true, applied: false, reason: conv.reason });
        }

        const at = Math.min(Math.round(n.timestamp * 1000), now);
        const out = await ingestSamples(
          db,
          dialect,
          [{ index: 0, account: acc.id, balance: conv.balance, at, raw: { source: 'newapi-hook', type: n.type, content: clip(n.content, 1000), values: n.values ?? [] } }],
          acc.workspace_id,
          now,
        );
        d.metrics.samplesIngested.inc(1);
        if (out.queuedDeliveries > 0) d.dispatcher.wake();
        const r = out.results[0]!;
        if (r.result !== 'applied') {
          const reason =
            r.result === 'duplicate'
              ? 'a sample at this time was already recorded for the account'
              : 'the account already has a newer balance; this one was stored as history only';
          return reply.code(202).send({ ok: true, applied: false, reason, result: r.result, balance: r.balance, currency: acc.currency });
        }
        return reply.code(200).send({ ok: true, applied: true, balance: r.balance, currency: acc.currency, alert: r.alert });
      },
    );
  });
}
