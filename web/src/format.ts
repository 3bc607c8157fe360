import { currentLang } from './i18n';

// Numbers, money and times in the dashboard's language. Amounts keep the account's own unit: an ISO currency is
// formatted as money, anything else ("credits") as a number followed by the unit.

const ISO = /^[A-Z]{3}$/;

function fractionDigits(v: number): number {
  const a = Math.abs(v);
  if (a !== 0 && a < 1) return 4;
  return 2;
}

export function formatNumber(v: number | null | undefined, digits?: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const d = digits ?? fractionDigits(v);
  return new Intl.NumberFormat(currentLang(), { minimumFractionDigits: Math.min(d, 2), maximumFractionDigits: d }).format(v);
}

export function formatMoney(v: number | null | undefined, currency: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (ISO.test(currency)) {
    try {
      const d = fractionDigits(v);
      return new Intl.NumberFormat(currentLang(), {
        style: 'currency',
        currency,
        currencyDisplay: 'narrowSymbol',
        minimumFractionDigits: 2,
        maximumFractionDigits: d,
      }).format(v);
    } catch {}
  }
  return `${formatNumber(v)} ${currency}`;
}

/** "12.30" + " USD" pieces, for big figures where the unit is set smaller. */
export function moneyParts(v: number | null | undefined, currency: string): { amount: string; unit: string } {
  if (v === null || v === undefined || !Number.isFinite(v)) return { amount: '—', unit: '' };
  return { amount: formatNumber(v, fractionDigits(v) === 4 ? 4 : 2), unit: currency };
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(currentLang(), { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
}

export function formatShortDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(currentLang(), { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(d);
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];

export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const diff = t - now;
  const rtf = new Intl.RelativeTimeFormat(currentLang(), { numeric: 'auto' });
  for (const [unit, ms] of UNITS) {
    if (Math.abs(diff) >= ms || unit === 'second') {
      if (unit === 'second' && Math.abs(diff) < 10_000) return currentLang() === 'zh-CN' ? '刚刚' : 'just now';
      return rtf.format(Math.round(diff / ms), unit);
    }
  }
  return iso;
}

export function formatDurationMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** Runway in days as words: "under an hour", "5.2 hours", "3.4 days". */
export function formatRunway(days: number | null | undefined, t: (k: string, o?: Record<string, unknown>) => string): string {
  if (days === null || days === undefined || !Number.isFinite(days)) return '—';
  if (days < 1 / 24) return t('common.lessThanHour');
  if (days < 1) return t('common.hours', { count: days * 24, value: formatNumber(days * 24, 1) });
  return t('common.days', { count: days, value: formatNumber(days, 1) });
}
