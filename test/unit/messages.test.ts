import { describe, expect, it } from 'vitest';
import type { NotificationPayload } from '../../src/channels/types.js';
import { EVENT_TYPES, LEVELS, type EventType, type Level } from '../../src/domain/events.js';
import { escapeHtml, formatTime, languageOf, renderMessage } from '../../src/template/messages.js';

const OCCURRED = '2025-01-15T08:30:00.000Z';

function payload(over: Partial<NotificationPayload> = {}, locale = 'en'): NotificationPayload {
  return {
    type: 'balance.low',
    occurred_at: OCCURRED,
    workspace: { id: 'ws_1', name: 'Acme', external_id: null, locale, time_zone: 'Asia/Shanghai' },
    account: {
      id: 'ac_1',
      name: 'DeepSeek prod',
      external_id: 'ext-1',
      top_up_url: 'https://platform.deepseek.com/top_up',
    },
    balance: 3,
    currency: 'USD',
    level: 'critical',
    threshold: 5,
    episode: 1,
    reminder: 0,
    ...over,
  };
}

/** A realistic payload for each event, as the engine and the test endpoint build them. */
const EVENT_PAYLOADS: Record<EventType, Partial<NotificationPayload>> = {
  'balance.low': { level: 'critical', threshold: 5 },
  'balance.recovered': { balance: 60, level: null, threshold: 22 },
  'balance.runway_low': { level: 'warning', threshold: null, runway_days: 2.46 },
  'balance.runway_recovered': { balance: 80, level: null, threshold: null, runway_days: 12 },
  'spend.spike': { level: 'warning', threshold: null },
  'source.failing': { level: null, threshold: null },
  'source.recovered': { level: null, threshold: null },
  test: {
    account: null,
    balance: null,
    currency: null,
    level: null,
    threshold: null,
    episode: 0,
    note: 'hello from the settings page',
  },
};

const LOCALES = [
  { locale: 'en', money: (n: number) => `$${n.toFixed(2)}`, balanceLabel: 'Balance: ' },
  { locale: 'zh-CN', money: (n: number) => `US$${n.toFixed(2)}`, balanceLabel: '余额：' },
] as const;

const ENGLISH_WORDS =
  /\b(info|warning|critical|depleted|recovered|reminder|balance|threshold|runway|level|account|workspace|time|top up|dashboard|below)\b/i;
const CJK = /[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]/;
const GARBAGE = /\b(undefined|null|NaN|Infinity)\b|\[object/;

describe('renderMessage: every event in every locale', () => {
  const cases = EVENT_TYPES.flatMap((type) => LOCALES.map((l) => ({ type, ...l })));

  it.each(cases)('$type in $locale', ({ type, locale, money, balanceLabel }) => {
    const p = payload({ type, ...EVENT_PAYLOADS[type] }, locale);
    const m = renderMessage(p, { dashboardUrl: 'https://bw.example.com/' });

    // title: one short line
    expect(m.title).not.toMatch(/\n/);
    expect(m.title.length).toBeLessThan(120);
    for (const out of [m.title, m.text, m.html]) expect(out).not.toMatch(GARBAGE);

    if (p.account) {
      expect(m.title).toContain('DeepSeek prod');
      expect(m.text).toContain('DeepSeek prod');
      expect(m.text).toContain('https://platform.deepseek.com/top_up');
    }
    if (p.balance !== null) expect(m.text).toContain(`${balanceLabel}${money(p.balance)}`);
    expect(m.text).toContain('https://bw.example.com/');
    expect(m.text).toContain('2025-01-15 16:30');

    if (locale === 'zh-CN') {
      expect(m.text).toContain('余额');
      expect(m.title).toMatch(/^【[^】]+】/);
      // no English wording besides the names, URLs and product words we put in ourselves
      const stripped = (s: string) =>
        s
          .replace(/https?:\/\/\S+/g, '')
          .replace(/DeepSeek prod|Acme|balancewatch|API|hello from the settings page/g, '');
      expect(stripped(m.title)).not.toMatch(ENGLISH_WORDS);
      expect(stripped(m.text)).not.toMatch(ENGLISH_WORDS);
      expect(m.html).toContain('lang="zh-CN"');
    } else {
      expect(m.title).toMatch(/^\[[A-Z][a-z ]+\] /);
      expect(m.title).not.toMatch(CJK);
      expect(m.text).not.toMatch(CJK);
      expect(m.text).toMatch(/balance/i);
      expect(m.html).toContain('lang="en"');
    }

    // HTML: a complete, self-contained document with the same content
    expect(m.html).toMatch(/^<!DOCTYPE html>/);
    expect(m.html).toContain('</html>');
    expect(m.html).not.toMatch(/<link|<script|<style|src="http/i);
    if (p.account) expect(m.html).toContain('DeepSeek prod');
    if (p.balance !== null) expect(m.html).toContain(money(p.balance));
    expect(m.html).toContain('href="https://bw.example.com/"');
  });
});

describe('renderMessage: balance.low per level', () => {
  const WORDS: Record<Level, { en: string; zh: string }> = {
    info: { en: 'Info', zh: '提示' },
    warning: { en: 'Warning', zh: '警告' },
    critical: { en: 'Critical', zh: '严重' },
    depleted: { en: 'Depleted', zh: '耗尽' },
  };
  const cases = LEVELS.map((level) => ({ level, ...WORDS[level] }));

  it.each(cases)('$level', ({ level, en, zh }) => {
    const balance = level === 'depleted' ? 0 : 3;
    const threshold = level === 'depleted' ? 0 : 5;
    const e = renderMessage(payload({ level, balance, threshold }));
    const z = renderMessage(payload({ level, balance, threshold, currency: 'CNY' }, 'zh-CN'));
    expect(e.title.startsWith(`[${en}] DeepSeek prod `)).toBe(true);
    expect(e.text).toContain(`Level: ${en}`);
    expect(z.title.startsWith(`【${zh}】DeepSeek prod `)).toBe(true);
    expect(z.text).toContain(`级别：${zh}`);
    for (const other of LEVELS.filter((l) => l !== level)) {
      expect(e.title).not.toContain(WORDS[other].en);
      expect(z.title).not.toContain(WORDS[other].zh);
    }
    if (level === 'depleted') {
      expect(e.title).toContain('used up');
      expect(e.text).toContain('used up');
      expect(e.text).toContain('Threshold: at or below $0.00');
      expect(z.title).toContain('用完');
      expect(z.text).toContain('用完');
      expect(z.text).toContain('阈值：小于或等于 ¥0.00');
    } else {
      expect(e.title).toBe(`[${en}] DeepSeek prod balance low: $3.00`);
      expect(e.text).toContain('Threshold: below $5.00');
      expect(z.title).toBe(`【${zh}】DeepSeek prod 余额不足：¥3.00`);
      expect(z.text).toContain('阈值：低于 ¥5.00');
      expect(e.title).not.toContain('used up');
      expect(z.title).not.toContain('用完');
    }
  });

  it('matches the documented examples', () => {
    expect(renderMessage(payload()).title).toBe('[Critical] DeepSeek prod balance low: $3.00');
    expect(renderMessage(payload({}, 'zh-CN')).title).toBe('【严重】DeepSeek prod 余额不足：US$3.00');
    const t = renderMessage(payload({ runway_days: 2.46 }), { dashboardUrl: 'https://bw.example.com/' }).text;
    expect(t).toContain('Account: DeepSeek prod');
    expect(t).toContain('Balance: $3.00');
    expect(t).toContain('Level: Critical');
    expect(t).toContain('Threshold: below $5.00');
    expect(t).toContain('Runway: about 2.5 days');
    expect(t).toContain('Top up: https://platform.deepseek.com/top_up');
    expect(t).toContain('Dashboard: https://bw.example.com/');
    expect(t).toContain('Time: 2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)');
  });
});

describe('renderMessage: reminders', () => {
  it.each([
    { level: 'warning', locale: 'en', word: 'Reminder', still: 'still low' },
    { level: 'depleted', locale: 'en', word: 'Reminder', still: 'still used up' },
    { level: 'warning', locale: 'zh-CN', word: '提醒', still: '仍然不足' },
    { level: 'depleted', locale: 'zh-CN', word: '提醒', still: '余额仍未充值' },
  ])('$level reminder in $locale', ({ level, locale, word, still }) => {
    const first = renderMessage(payload({ level, reminder: 0 }, locale));
    const again = renderMessage(payload({ level, reminder: 2 }, locale));
    expect(first.title).not.toContain(word);
    expect(first.text).not.toContain(word);
    expect(again.title).toContain(word);
    expect(again.title).toContain(still);
    expect(again.text).toContain(word);
    expect(again.text).toMatch(locale === 'en' ? /Reminder: #2/ : /提醒：第 2 次/);
    expect(again.html).toContain(word);
  });
});

describe('renderMessage: HTML escaping of user input', () => {
  const evil = '<script>alert("x")</script> & Sons\'';

  it.each(LOCALES.map((l) => l.locale))('escapes every interpolated value (%s)', (locale) => {
    for (const type of EVENT_TYPES) {
      const p = payload(
        {
          type,
          ...EVENT_PAYLOADS[type],
          account: { id: 'ac_1', name: evil, external_id: null, top_up_url: 'https://pay.example.com/?a=1&b="2"<x>' },
          workspace: { id: 'ws', name: '<b>WS</b> & co', external_id: null, locale, time_zone: 'UTC' },
          note: type === 'test' ? '<img src=x onerror=alert(1)>\nline 2' : undefined,
        },
        locale,
      );
      const m = renderMessage(p, { dashboardUrl: 'https://bw.example.com/?x="y"&z=<1>' });
      expect(m.html).not.toContain('<script');
      expect(m.html).not.toContain('<b>WS');
      expect(m.html).not.toContain('<img');
      expect(m.html).not.toContain('"2"');
      expect(m.html).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#39;)/);
      expect(m.html).toContain('&lt;b&gt;WS&lt;/b&gt; &amp; co');
      if (type !== 'test') {
        expect(m.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons&#39;');
        // plain text keeps the name as typed
        expect(m.text).toContain(evil);
        expect(m.title).toContain(evil);
      } else {
        expect(m.html).toContain('&lt;img src=x onerror=alert(1)&gt;<br>line 2');
        expect(m.text).toContain('<img src=x onerror=alert(1)>\nline 2');
      }
    }
  });

  it('never turns a non-http(s) top-up URL into a link', () => {
    const m = renderMessage(
      payload({ account: { id: 'a', name: 'X', external_id: null, top_up_url: 'javascript:alert(1)' } }),
    );
    expect(m.html).not.toMatch(/href="javascript:/i);
    expect(m.html).toContain('javascript:alert(1)'); // shown as text
    expect(m.text).toContain('Top up: javascript:alert(1)');
  });

  it('keeps titles on one line whatever the names contain', () => {
    const m = renderMessage(
      payload({ account: { id: 'a', name: 'evil\r\nBcc: x@example.com', external_id: null, top_up_url: null } }),
    );
    expect(m.title).toBe('[Critical] evil Bcc: x@example.com balance low: $3.00');
  });

  it('escapeHtml', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('renderMessage: currencies and units', () => {
  it.each([
    {
      currency: null,
      locale: 'en',
      balance: 'Balance: 3',
      threshold: 'Threshold: below 5',
      title: '[Critical] DeepSeek prod balance low: 3',
    },
    {
      currency: null,
      locale: 'zh-CN',
      balance: '余额：3',
      threshold: '阈值：低于 5',
      title: '【严重】DeepSeek prod 余额不足：3',
    },
    {
      currency: 'credits',
      locale: 'en',
      balance: 'Balance: 3 credits',
      threshold: 'below 5 credits',
      title: 'balance low: 3 credits',
    },
    {
      currency: 'credits',
      locale: 'zh-CN',
      balance: '余额：3 credits',
      threshold: '低于 5 credits',
      title: '余额不足：3 credits',
    },
    {
      currency: 'CNY',
      locale: 'zh-CN',
      balance: '余额：¥3.00',
      threshold: '阈值：低于 ¥5.00',
      title: '余额不足：¥3.00',
    },
    {
      currency: 'CNY',
      locale: 'en',
      balance: 'Balance: CN¥3.00',
      threshold: 'below CN¥5.00',
      title: 'balance low: CN¥3.00',
    },
    { currency: 'EUR', locale: 'en', balance: 'Balance: €3.00', threshold: 'below €5.00', title: 'balance low: €3.00' },
  ])('$currency in $locale', ({ currency, locale, balance, threshold, title }) => {
    const m = renderMessage(payload({ currency }, locale));
    expect(m.text).toContain(balance);
    expect(m.text).toContain(threshold);
    expect(m.title).toContain(title);
    for (const out of [m.title, m.text, m.html]) expect(out).not.toMatch(GARBAGE);
  });

  it('a large balance is grouped, a small one keeps its decimals', () => {
    expect(renderMessage(payload({ balance: 1234567.5 })).text).toContain('Balance: $1,234,567.50');
    expect(renderMessage(payload({ balance: 0.0123 })).text).toContain('Balance: $0.0123');
  });

  it('a negative balance (Moonshot) reads well', () => {
    const m = renderMessage(payload({ level: 'depleted', balance: -1.5, threshold: 0 }));
    expect(m.title).toBe('[Depleted] DeepSeek prod balance used up: -$1.50');
  });

  it('an unknown balance is left out rather than printed as null', () => {
    const m = renderMessage(payload({ type: 'balance.recovered', balance: null, level: null, threshold: 22 }));
    expect(m.title).toBe('[Recovered] DeepSeek prod balance recovered');
    expect(m.text).not.toContain('Balance:');
    expect(m.text).not.toMatch(GARBAGE);
  });
});

describe('renderMessage: time, runway and links', () => {
  it.each([
    { tz: 'Asia/Shanghai', expected: '2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)' },
    { tz: 'America/New_York', expected: '2025-01-15 03:30 (America/New_York, UTC-05:00)' },
    { tz: 'UTC', expected: '2025-01-15 08:30 (UTC)' },
    { tz: 'Not/AZone', expected: '2025-01-15 08:30 (UTC)' },
    { tz: '', expected: '2025-01-15 08:30 (UTC)' },
  ])('occurred_at in time zone "$tz"', ({ tz, expected }) => {
    for (const locale of ['en', 'zh-CN']) {
      const p = payload({}, locale);
      const m = renderMessage({ ...p, workspace: { ...p.workspace, time_zone: tz } });
      expect(m.text).toContain(expected);
      expect(m.html).toContain(escapeHtml(expected));
    }
  });

  it('an invalid occurred_at is shown as given', () => {
    expect(formatTime('not a date', 'UTC')).toBe('not a date');
  });

  it.each([
    { days: 2.46, en: 'about 2.5 days', zh: '约 2.5 天' },
    { days: 1, en: 'about 1 day', zh: '约 1 天' },
    { days: 0.25, en: 'about 6 hours', zh: '约 6 小时' },
    { days: 0.01, en: 'less than an hour', zh: '不到 1 小时' },
  ])('runway of $days days', ({ days, en, zh }) => {
    const e = renderMessage(
      payload({ type: 'balance.runway_low', level: 'warning', threshold: null, runway_days: days }),
    );
    const z = renderMessage(
      payload({ type: 'balance.runway_low', level: 'warning', threshold: null, runway_days: days }, 'zh-CN'),
    );
    expect(e.title).toBe(`[Runway low] DeepSeek prod runs out of balance in ${en}`);
    expect(e.text).toContain(`Runway: ${en}`);
    expect(z.title).toBe(`【余额预警】DeepSeek prod 余额预计${zh}后用完`);
    expect(z.text).toContain(`预计可用：${zh}`);
  });

  it('runway unknown', () => {
    for (const runway_days of [null, undefined]) {
      const e = renderMessage(payload({ type: 'balance.runway_low', level: 'warning', threshold: null, runway_days }));
      const z = renderMessage(
        payload({ type: 'balance.runway_low', level: 'warning', threshold: null, runway_days }, 'zh-CN'),
      );
      expect(e.title).toBe('[Runway low] DeepSeek prod will run out of balance soon');
      expect(e.text).not.toContain('Runway:');
      expect(z.title).toBe('【余额预警】DeepSeek prod 余额即将用完');
    }
  });

  it('links appear only when known', () => {
    const none = renderMessage(payload({ account: { id: 'a', name: 'X', external_id: null, top_up_url: null } }));
    expect(none.text).not.toContain('Top up');
    expect(none.text).not.toContain('Dashboard');
    expect(none.html).not.toContain('href=');
    const both = renderMessage(payload({}, 'zh-CN'), { dashboardUrl: 'https://bw.example.com/' });
    expect(both.text).toContain('充值：https://platform.deepseek.com/top_up');
    expect(both.text).toContain('控制台：https://bw.example.com/');
    expect(both.html).toContain('href="https://platform.deepseek.com/top_up"');
    expect(both.html).toContain('立即充值');
  });
});

describe('renderMessage: test notifications and locale choice', () => {
  it('a test uses the note and needs no account', () => {
    const e = renderMessage(payload({ type: 'test', ...EVENT_PAYLOADS.test }));
    expect(e.title).toBe('[Test] balancewatch test notification');
    expect(e.text).toContain('Note: hello from the settings page');
    expect(e.text).toContain('Acme');
    const z = renderMessage(payload({ type: 'test', ...EVENT_PAYLOADS.test }, 'zh-CN'));
    expect(z.title).toBe('【测试】balancewatch 测试通知');
    expect(z.text).toContain('备注：hello from the settings page');
    const plain = renderMessage(payload({ type: 'test', ...EVENT_PAYLOADS.test, note: undefined }));
    expect(plain.text).not.toContain('Note:');
  });

  it.each([
    ['zh-CN', 'zh-CN'],
    ['zh-cn', 'zh-CN'],
    ['en', 'en'],
    ['en-US', 'en'],
    ['fr', 'en'],
    ['', 'en'],
  ])('locale %j → %s', (locale, lang) => {
    expect(languageOf(locale)).toBe(lang);
    const m = renderMessage(payload({}, locale));
    expect(m.title.startsWith(lang === 'zh-CN' ? '【严重】' : '[Critical]')).toBe(true);
  });
});
