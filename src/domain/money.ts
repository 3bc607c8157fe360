import { numberFormat } from './intl.js';

// Balances are plain IEEE doubles: every provider reports at most a few decimals and well under 1e15, where
// doubles are exact enough to compare against thresholds; we reject anything that is not a finite, sane number.
export const MAX_ABS_AMOUNT = 1e15;
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Accepts a JSON number or a decimal string ("12.30"); null for NaN, infinities, huge or non-numeric values. */
export function parseAmount(value: unknown): number | null {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && DECIMAL_RE.test(value.trim())) n = Number(value.trim());
  else return null;
  if (!Number.isFinite(n) || Math.abs(n) > MAX_ABS_AMOUNT) return null;
  return n === 0 ? 0 : n; // normalise -0
}

/** Converts a raw relay quota figure into the account's currency (new-api: 500000 quota per USD). */
export function quotaToBalance(quota: number, quotaPerUnit: number): number {
  return quota / quotaPerUnit;
}

const ISO_CURRENCY_RE = /^[A-Z]{3}$/;

/** "USD 12.3" → "$12.30"; free units ("credits") print as "12.3 credits". */
export function formatMoney(amount: number, currency: string, locale: string): string {
  if (ISO_CURRENCY_RE.test(currency)) {
    try {
      return numberFormat(locale, { style: 'currency', currency, maximumFractionDigits: 4 }).format(amount);
    } catch {
      // unknown ISO-looking code: fall through to the plain form
    }
  }
  const n = numberFormat(locale, { maximumFractionDigits: 4 }).format(amount);
  return `${n} ${currency}`;
}
