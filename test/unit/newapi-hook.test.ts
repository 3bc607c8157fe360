import { describe, expect, it } from 'vitest';
import { extractRemaining, figureToBalance, type NewApiFigure, parseFigure } from '../../src/http/routes/hooks.js';

// The remaining-balance figure in new-api's quota_exceed notification. new-api prints it with logger.FormatQuota:
// "＄%.6f" (USD display, full-width dollar), "¥%.6f" (CNY), "<custom symbol>%.6f" (custom) or "%d" (TOKENS: raw
// quota units); builds before 2025 appended " 额度" / " 点额度".

const money = (amount: number, currency: string | null) => ({ kind: 'money', amount, currency });
const quota = (q: number) => ({ kind: 'quota', quota: q });

describe('parseFigure', () => {
  const cases: [string, ReturnType<typeof money> | ReturnType<typeof quota> | null][] = [
    // new-api's own formats
    ['＄1.234567', money(1.234567, 'USD')],
    ['＄0.000000', money(0, 'USD')],
    ['¥8.500000', money(8.5, 'CNY')],
    ['￥8.50', money(8.5, 'CNY')],
    ['250000', quota(250000)],
    ['＄1.500000 额度', money(1.5, 'USD')],
    ['250000 点额度', quota(250000)],
    ['250000点', quota(250000)],
    ['¤3.000000', money(3, null)],
    // other currency spellings
    ['$1.23', money(1.23, 'USD')],
    ['US$1.23', money(1.23, 'USD')],
    ['$ 1.23', money(1.23, 'USD')],
    ['1.23 USD', money(1.23, 'USD')],
    ['1.23USD', money(1.23, 'USD')],
    ['USD 1.23', money(1.23, 'USD')],
    ['usd 1.23', money(1.23, 'USD')],
    ['8.5 CNY', money(8.5, 'CNY')],
    ['8.5 RMB', money(8.5, 'CNY')],
    ['8.5元', money(8.5, 'CNY')],
    ['8.5 人民币', money(8.5, 'CNY')],
    ['2 美元', money(2, 'USD')],
    ['€4.20', money(4.2, 'EUR')],
    ['£4', money(4, 'GBP')],
    ['12.00 EUR', money(12, 'EUR')],
    // thousands separators, signs, full-width digits
    ['$1,234.56', money(1234.56, 'USD')],
    ['1,234,567', quota(1234567)],
    ['¥12,345.6789', money(12345.6789, 'CNY')],
    ['-$0.20', money(-0.2, 'USD')],
    ['$-0.20', money(-0.2, 'USD')],
    ['−5000', quota(-5000)],
    ['-5000', quota(-5000)],
    ['＄１２.５', money(12.5, 'USD')],
    ['１２３４５', quota(12345)],
    ['$.5', money(0.5, 'USD')],
    ['  $7.25  ', money(7.25, 'USD')],
    // a bare decimal: no currency and not quota units
    ['12.5', money(12.5, null)],
    // garbage
    ['', null],
    ['   ', null],
    ['abc', null],
    ['$', null],
    ['$1.2.3', null],
    ['1,23', null],
    ['1,2345', null],
    ['12,34.5', null],
    ['$1 CNY', null],
    ['$5 点', null],
    ['-$-1', null],
    ['--5', null],
    ['1e3', null],
    ['NaN', null],
    ['Infinity', null],
    ['$1e999', null],
    ['9'.repeat(17), null],
    ['◎1.5', null],
    ['https://relay.example.com/console/topup', null],
    ['您的额度即将用尽', null],
    ['$1.23 and more', null],
    ['1'.repeat(70), null],
  ];
  it.each(cases)('%j → %j', (input, want) => {
    const got = parseFigure(input);
    if (want === null) expect(got).toBeNull();
    else expect(got).toMatchObject(want);
  });

  it('keeps the text it read', () => {
    expect(parseFigure(' ＄1.5 ')?.text).toBe('＄1.5');
  });
});

describe('extractRemaining', () => {
  // new-api's templates, with values substituted in order as its webhook sender does.
  const webhook = (figure: string) =>
    `您的额度即将用尽，当前剩余额度为 ${figure}，为了不影响您的使用，请及时充值。<br/>充值链接：<a href='https://relay.example.com/console/topup'>https://relay.example.com/console/topup</a>`;
  const values = (figure: string) => ['您的额度即将用尽', figure, 'https://relay.example.com/console/topup', 'https://relay.example.com/console/topup'];

  const cases: [string, string, unknown[], ReturnType<typeof money> | ReturnType<typeof quota> | { kind: 'none' }][] = [
    ['webhook USD', webhook('＄1.234567'), values('＄1.234567'), money(1.234567, 'USD')],
    ['webhook CNY', webhook('¥8.500000'), values('¥8.500000'), money(8.5, 'CNY')],
    ['webhook tokens', webhook('250000'), values('250000'), quota(250000)],
    ['webhook thousands', webhook('$1,234.50'), [], money(1234.5, 'USD')],
    ['webhook negative', webhook('＄-0.002000'), [], money(-0.002, 'USD')],
    ['bark', '您的额度即将用尽，剩余额度：＄0.500000，请及时充值', [], money(0.5, 'USD')],
    ['gotify', '您的额度即将用尽，当前剩余额度为 ¥3.600000，请及时充值。', [], money(3.6, 'CNY')],
    ['old build', '您的额度即将用尽，当前剩余额度为 ＄0.800000 额度，为了不影响您的使用，请及时充值。', [], money(0.8, 'USD')],
    ['old build tokens', '您的额度即将用尽，当前剩余额度为 400000 点额度，为了不影响您的使用', [], quota(400000)],
    ['ascii punctuation', 'quota low, 剩余额度: $2.50; top up', [], money(2.5, 'USD')],
    ['ascii comma after the figure', '剩余额度 $2.50, please top up', [], money(2.5, 'USD')],
    ['end of text', '当前剩余额度为 ¥9', [], money(9, 'CNY')],
    ['line break', '当前剩余额度为 $9.10\n请充值', [], money(9.1, 'USD')],
    ['english', 'Your quota is running low. Remaining quota: $3.20. Please top up.', [], money(3.2, 'USD')],
    ['english "is"', 'Remaining balance is 1.5 USD, top up soon', [], money(1.5, 'USD')],
    // content without the marker: the one figure among the values (a custom template)
    ['values only', '您的额度即将用尽', values('＄1.000000'), money(1, 'USD')],
    ['numeric value', 'low', ['low', 300000], quota(300000)],
    // nothing usable
    ['custom symbol', webhook('◎1.500000'), values('◎1.500000'), { kind: 'none' }],
    ['empty', '', [], { kind: 'none' }],
    ['no figure', '您的额度即将用尽，请及时充值。', ['您的额度即将用尽'], { kind: 'none' }],
    ['marker, no figure', '当前剩余额度为 ，请充值', [], { kind: 'none' }],
    ['several figures, no marker', 'low', ['$1', '$2'], { kind: 'none' }],
    ['garbage values', 'x', [null, true, {}, [], 'abc'], { kind: 'none' }],
  ];
  it.each(cases)('%s', (_name, content, vals, want) => {
    expect(extractRemaining(content, vals)).toMatchObject(want);
  });

  it('says why when it cannot read the figure', () => {
    const r = extractRemaining(webhook('◎1.5'), []);
    expect(r).toEqual({ kind: 'none', reason: expect.stringContaining('◎1.5') });
  });
});

describe('figureToBalance', () => {
  const usd = { currency: 'USD', quota_per_unit: null };
  const fig = (f: string) => parseFigure(f) as NewApiFigure;

  it('converts raw quota with new-api\'s 500000 per USD by default, or the account\'s quota_per_unit', () => {
    expect(figureToBalance(fig('250000'), usd)).toEqual({ balance: 0.5 });
    expect(figureToBalance(fig('250000'), { currency: 'USD', quota_per_unit: 100000 })).toEqual({ balance: 2.5 });
    expect(figureToBalance(fig('250000'), { currency: 'CNY', quota_per_unit: 500000 / 7 })).toEqual({ balance: expect.closeTo(3.5, 9) });
  });

  it('does not guess a quota rate for a non-USD account', () => {
    expect(figureToBalance(fig('250000'), { currency: 'CNY', quota_per_unit: null })).toEqual({ reason: expect.stringContaining('quota_per_unit') });
  });

  it('takes money in the account currency as is', () => {
    expect(figureToBalance(fig('＄1.5'), usd)).toEqual({ balance: 1.5 });
    expect(figureToBalance(fig('¥8.5'), { currency: 'CNY', quota_per_unit: null })).toEqual({ balance: 8.5 });
    expect(figureToBalance(fig('¥8.5'), { currency: 'rmb', quota_per_unit: null })).toEqual({ balance: 8.5 });
    expect(figureToBalance(fig('8.5 RMB'), { currency: 'cny', quota_per_unit: null })).toEqual({ balance: 8.5 });
  });

  it('refuses a currency other than the account\'s, and money without a currency', () => {
    expect(figureToBalance(fig('¥8.5'), usd)).toEqual({ reason: expect.stringContaining('CNY') });
    expect(figureToBalance(fig('¤8.5'), usd)).toEqual({ reason: expect.stringContaining('without a currency') });
    expect(figureToBalance(fig('8.5'), usd)).toEqual({ reason: expect.stringContaining('without a currency') });
  });
});
