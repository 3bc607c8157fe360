import i18next from 'i18next';
import { initReactI18next } from 'react-i18next';
import { en } from './locales/en';
import { zhCN } from './locales/zh-CN';

// i18next with two bundled dictionaries (no loading at run time). The choice is remembered in localStorage and
// defaults from the browser's language; <html lang> follows it.

export const LANGS = ['en', 'zh-CN'] as const;
export type Lang = (typeof LANGS)[number];
const STORAGE_KEY = 'balancewatch.lang';

declare module 'i18next' {
  interface CustomTypeOptions {
    defaultNS: 'translation';
    resources: { translation: typeof en };
  }
}

function storedLang(): Lang | null {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return v === 'en' || v === 'zh-CN' ? v : null;
  } catch {
    return null;
  }
}

export function detectLang(): Lang {
  const stored = storedLang();
  if (stored) return stored;
  const prefs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const p of prefs) {
    const l = (p ?? '').toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

export function initI18n(): typeof i18next {
  const lng = detectLang();
  void i18next.use(initReactI18next).init({
    resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } },
    lng,
    fallbackLng: 'en',
    interpolation: { escapeValue: false }, // React escapes
    returnNull: false,
    initAsync: false,
  });
  document.documentElement.lang = lng;
  i18next.on('languageChanged', (l) => {
    document.documentElement.lang = l;
    try {
      localStorage.setItem(STORAGE_KEY, l);
    } catch {}
  });
  return i18next;
}

/** A translation whose key is built at run time (e.g. `level.${level}`); falls back to `fallback` when missing. */
export type LooseT = (key: string, opts?: Record<string, unknown>) => string;
export function loose(t: unknown): LooseT {
  return t as LooseT;
}

export function currentLang(): Lang {
  return i18next.language === 'zh-CN' ? 'zh-CN' : 'en';
}
