// Intl formatters are expensive to build (tens of microseconds each) and immutable, so each distinct
// (locale, options) pair is built once. The set of pairs is small: two locales, a few currencies and time zones.
const numberFormats = new Map<string, Intl.NumberFormat>();
const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();
const MAX = 1000;

function memo<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    if (cache.size >= MAX) cache.clear();
    cache.set(key, v);
  }
  return v;
}

export function numberFormat(locale: string, options: Intl.NumberFormatOptions = {}): Intl.NumberFormat {
  return memo(numberFormats, JSON.stringify([locale, options]), () => new Intl.NumberFormat(locale, options));
}

export function dateTimeFormat(locale: string, options: Intl.DateTimeFormatOptions = {}): Intl.DateTimeFormat {
  return memo(dateTimeFormats, JSON.stringify([locale, options]), () => new Intl.DateTimeFormat(locale, options));
}
