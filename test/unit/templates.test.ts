import { readFileSync } from 'node:fs';
import { Liquid } from 'liquidjs';
import { describe, expect, it } from 'vitest';
import type { NotificationPayload, RenderedMessage } from '../../src/channels/types.js';
import { EVENT_TYPES } from '../../src/domain/events.js';
import {
  applyTemplates,
  refusingFs,
  renderBodyTemplate,
  templateSetSchema,
  validateBodyTemplate,
  validateTemplateSet,
  type TemplateProblem,
  type TemplateSet,
} from '../../src/template/custom.js';
import { renderMessage } from '../../src/template/messages.js';

const KEY = 'dlv_42:1';
const DASH = 'https://bw.example.com/ws/1';

function payload(over: Partial<NotificationPayload> = {}, locale = 'en'): NotificationPayload {
  return {
    type: 'balance.low',
    occurred_at: '2025-01-15T08:30:00.000Z',
    workspace: { id: 'ws_1', name: 'Acme', external_id: 'acme-ext', locale, time_zone: 'Asia/Shanghai' },
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
    runway_days: 2.46,
    spend_per_day: 144,
    episode: 7,
    reminder: 2,
    ...over,
  };
}

interface Applied {
  message: RenderedMessage;
  builtIn: RenderedMessage;
  errors: Array<TemplateProblem & { set: number }>;
}

function apply(p: NotificationPayload, sets: Array<TemplateSet | null | undefined>): Applied {
  const builtIn = renderMessage(p, { dashboardUrl: DASH });
  const errors: Applied['errors'] = [];
  const message = applyTemplates(builtIn, p, sets, { key: KEY, dashboardUrl: DASH, onError: (e) => errors.push(e) });
  return { message, builtIn, errors };
}

function renderText(tpl: string, p: NotificationPayload): string {
  const r = apply(p, [{ default: { text: tpl } }]);
  expect(r.errors).toEqual([]);
  return r.message.text;
}

describe('template variables, in both languages', () => {
  const cases: Array<[tpl: string, en: string, zh: string]> = [
    ['{{ event }}', 'balance.low', 'balance.low'],
    ['{{ lang }}', 'en', 'zh-CN'],
    ['{{ level }}|{{ level_name }}|{{ severity }}', 'critical|Critical|critical', 'critical|严重|critical'],
    ['{{ account.id }} {{ account.name }} {{ account.external_id }}', 'ac_1 DeepSeek prod ext-1', 'ac_1 DeepSeek prod ext-1'],
    ['{{ account.top_up_url }}', 'https://platform.deepseek.com/top_up', 'https://platform.deepseek.com/top_up'],
    [
      '{{ workspace.id }} {{ workspace.name }} {{ workspace.external_id }} {{ workspace.locale }} {{ workspace.time_zone }}',
      'ws_1 Acme acme-ext en Asia/Shanghai',
      'ws_1 Acme acme-ext zh-CN Asia/Shanghai',
    ],
    ['{{ balance }} ({{ balance_value }} {{ currency }})', '$3.00 (3 USD)', 'US$3.00 (3 USD)'],
    ['{{ threshold }} / {{ threshold_value }}', '$5.00 / 5', 'US$5.00 / 5'],
    ['{{ runway }} / {{ runway_days }}', 'about 2.5 days / 2.46', '约 2.5 天 / 2.46'],
    ['{{ spend_per_day }} / {{ spend_per_day_value }}', '$144.00/day / 144', 'US$144.00/天 / 144'],
    ['{{ time }}', '2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)', '2025-01-15 16:30 (Asia/Shanghai, UTC+08:00)'],
    ['{{ occurred_at }}', '2025-01-15T08:30:00.000Z', '2025-01-15T08:30:00.000Z'],
    ['{{ occurred_at | date: "%H:%M" }}', '08:30', '08:30'],
    ['#{{ episode }}.{{ reminder }}', '#7.2', '#7.2'],
    ['{{ key }} {{ dashboard_url }}', `${KEY} ${DASH}`, `${KEY} ${DASH}`],
    ['{{ 12.5 | money }} {{ 7 | money: "EUR" }}', '$12.50 €7.00', 'US$12.50 €7.00'],
    ['{{ balance_value | plus: 1 }}', '4', '4'],
    ['{% if runway_days < 3 %}soon{% else %}later{% endif %}', 'soon', 'soon'],
    ['[{{ note }}][{{ source_error.kind }}][{{ spend_last_hour }}]', '[][][]', '[][][]'],
  ];
  for (const [tpl, en, zh] of cases) {
    it(`${tpl} → ${en} / ${zh}`, () => {
      expect(renderText(tpl, payload({}, 'en'))).toBe(en);
      expect(renderText(tpl, payload({}, 'zh-CN'))).toBe(zh);
    });
  }

  it('test notifications have no account: account is null, note is set', () => {
    const p = payload({ type: 'test', account: null, balance: null, note: 'hi there', level: null });
    expect(renderText('{% if account %}A{% else %}no account{% endif %}: {{ note }}', p)).toBe('no account: hi there');
  });

  it('source.failing carries source_error; spend.spike spend_last_hour', () => {
    const failing = payload({
      type: 'source.failing',
      level: null,
      source_error: { kind: 'auth', message: 'HTTP 401', failures: 3 },
    });
    expect(renderText('{{ source_error.kind }}: {{ source_error.message }} x{{ source_error.failures }}', failing)).toBe(
      'auth: HTTP 401 x3',
    );
    const spike = payload({ type: 'spend.spike', level: 'warning', spend_last_hour: 12 }, 'zh-CN');
    expect(renderText('{{ spend_last_hour }}/{{ spend_last_hour_value }}', spike)).toBe('US$12.00/12');
  });

  it('default.* is the built-in message, so a template can wrap it', () => {
    for (const locale of ['en', 'zh-CN']) {
      const p = payload({}, locale);
      const r = apply(p, [{ default: { title: '🔥 {{ default.title }}', text: '{{ default.summary }}\n--\n{{ default.text }}' } }]);
      expect(r.message.title).toBe(`🔥 ${r.builtIn.title}`);
      expect(r.message.text).toBe(`${r.builtIn.summary}\n--\n${r.builtIn.text}`);
    }
  });

  it('only own properties are visible', () => {
    expect(renderText('x{{ account.constructor }}{{ account.__proto__ }}{{ workspace.toString }}{{ account.name.length }}y', payload())).toBe(
      'x13y',
    );
  });
});

describe('applyTemplates: per-field fallthrough channel → workspace → built-in', () => {
  const cases: Array<{
    name: string;
    sets: Array<TemplateSet | null | undefined>;
    title: string | null; // null: the built-in title
    text: string | null; // null: the built-in text
  }> = [
    { name: 'no sets', sets: [], title: null, text: null },
    { name: 'null and undefined sets', sets: [null, undefined], title: null, text: null },
    {
      name: 'channel title, workspace text',
      sets: [{ 'balance.low': { title: 'C-T' } }, { 'balance.low': { title: 'W-T', text: 'W-X' } }],
      title: 'C-T',
      text: 'W-X',
    },
    {
      name: "the channel's default beats the workspace's own entry",
      sets: [{ default: { title: 'C-D' } }, { 'balance.low': { title: 'W-T' } }],
      title: 'C-D',
      text: null,
    },
    {
      name: "within a set, the event's own entry beats default, field by field",
      sets: [{ 'balance.low': { title: 'own' }, default: { title: 'dflt', text: 'dtext' } }],
      title: 'own',
      text: 'dtext',
    },
    {
      name: 'an empty string counts as unset',
      sets: [{ 'balance.low': { title: '  ', text: '' } }, { default: { title: 'W-D', text: 'W-X' } }],
      title: 'W-D',
      text: 'W-X',
    },
    {
      name: "another event's entry does not apply",
      sets: [{ 'balance.recovered': { title: 'R', text: 'R' } }, { test: { title: 'T' } }],
      title: null,
      text: null,
    },
    { name: 'workspace only', sets: [null, { default: { text: 'W {{ balance }}' } }], title: null, text: 'W $3.00' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = apply(payload(), c.sets);
      expect(r.errors).toEqual([]);
      expect(r.message.title).toBe(c.title ?? r.builtIn.title);
      expect(r.message.text).toBe(c.text ?? r.builtIn.text);
      expect(r.message.custom).toBe(c.text !== null);
      if (c.title === null && c.text === null) expect(r.message).toEqual(r.builtIn);
    });
  }

  it("a 'default' entry applies to every event", () => {
    for (const type of EVENT_TYPES) {
      const p = payload({ type, level: type === 'balance.low' ? 'warning' : null });
      const r = apply(p, [{ default: { title: '{{ event }}!' } }]);
      expect(r.errors).toEqual([]);
      expect(r.message.title).toBe(`${type}!`);
      expect(r.message.custom).toBe(false);
    }
  });

  it('a title-only template changes the title (and the e-mail heading), nothing else', () => {
    const r = apply(payload(), [{ 'balance.low': { title: 'Low: {{ account.name }} <{{ balance }}>' } }]);
    expect(r.message.custom).toBe(false);
    expect(r.message.title).toBe('Low: DeepSeek prod <$3.00>');
    expect(r.message.text).toBe(r.builtIn.text);
    expect(r.message.summary).toBe(r.builtIn.summary);
    expect(r.message.facts).toEqual(r.builtIn.facts);
    expect(r.message.links).toEqual(r.builtIn.links);
    expect(r.message.html).toContain('<title>Low: DeepSeek prod &lt;$3.00&gt;</title>');
    expect(r.message.html).toMatch(/<h1[^>]*>Low: DeepSeek prod &lt;\$3\.00&gt;<\/h1>/);
    expect(r.message.html).not.toContain(r.builtIn.title.replace('[', '').slice(0, 20));
    expect({ ...r.message, title: r.builtIn.title, html: r.builtIn.html }).toEqual(r.builtIn);
  });

  it('a title rendered from real data is made one line', () => {
    const p = payload({ account: { id: 'a', name: 'evil\nname\r\there', external_id: null, top_up_url: null } });
    const r = apply(p, [{ default: { title: '{{ account.name }}' } }]);
    expect(r.message.title).toBe('evil name here');
  });

  it('a text template makes the message custom: text = summary, facts and links kept, escaped HTML', () => {
    const p = payload({ account: { id: 'a', name: '<script>x</script>', external_id: null, top_up_url: 'https://pay.example.com/?a=1&b=2' } });
    const r = apply(p, [{ default: { text: '\n{{ account.name }} is low.\nTop up: {{ account.top_up_url }}.\n' } }]);
    expect(r.message.custom).toBe(true);
    expect(r.message.text).toBe('<script>x</script> is low.\nTop up: https://pay.example.com/?a=1&b=2.');
    expect(r.message.summary).toBe(r.message.text);
    expect(r.message.title).toBe(r.builtIn.title);
    expect(r.message.facts).toEqual(r.builtIn.facts);
    expect(r.message.links).toEqual(r.builtIn.links);
    expect(r.message.html).not.toContain('<script>');
    expect(r.message.html).toContain('&lt;script&gt;x&lt;/script&gt; is low.<br>');
    expect(r.message.html).toContain('<a href="https://pay.example.com/?a=1&amp;b=2"');
    expect(r.message.html).toContain('>https://pay.example.com/?a=1&amp;b=2</a>.');
  });
});

describe('validateTemplateSet', () => {
  const cases: Array<{ name: string; set: TemplateSet; path: string; message: RegExp }> = [
    {
      name: 'syntax error',
      set: { 'balance.low': { text: 'Hi\n{% if balance %}low' } },
      path: 'templates.balance.low.text',
      message: /not closed at line 2, column 1$/,
    },
    {
      name: 'unclosed output',
      set: { 'balance.low': { title: 'Low {{ balance ' } },
      path: 'templates.balance.low.title',
      message: /not closed at line 1, column 5$/,
    },
    {
      name: 'unknown filter',
      set: { 'balance.low': { title: 'Low: {{ balance | moneyy }}' } },
      path: 'templates.balance.low.title',
      message: /^unknown filter "moneyy" at line 1, column 6: did you mean "money"\? see docs\/templates\.md/,
    },
    {
      name: 'unknown tag',
      set: { default: { text: 'a\n  {% shell "ls" %}' } },
      path: 'templates.default.text',
      message: /^unknown tag "\{% shell %\}" at line 2, column 3$/,
    },
    {
      name: '{% include %}',
      set: { default: { text: '{% include "/etc/passwd" %}' } },
      path: 'templates.default.text',
      message: /^\{% include %\} is not supported at line 1, column 1: a template cannot load other templates or files$/,
    },
    {
      name: '{% render %}',
      set: { test: { text: 'x {% render "secrets" %}' } },
      path: 'templates.test.text',
      message: /^\{% render %\} is not supported at line 1, column 3/,
    },
    {
      name: '{% layout %}',
      set: { test: { title: '{% layout "base" %}x' } },
      path: 'templates.test.title',
      message: /^\{% layout %\} is not supported/,
    },
    {
      name: 'runaway loop (huge range)',
      set: { default: { text: '{% for i in (1..100000000) %}x{% endfor %}' } },
      path: 'templates.default.text',
      message: /too much memory/,
    },
    {
      name: 'runaway loop (nested, slow)',
      set: { 'spend.spike': { text: '{% for i in (1..1000) %}{% for j in (1..1000) %}{% for k in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}' } },
      path: 'templates.spend.spike.text',
      message: /too long to render|too much memory/,
    },
    {
      name: 'multi-line title',
      set: { 'balance.low': { title: 'Low balance\n{{ balance }}' } },
      path: 'templates.balance.low.title',
      message: /must render to a single line/,
    },
    {
      name: 'title too long after rendering',
      set: { 'balance.low': { title: '{% for i in (1..400) %}x{% endfor %}' } },
      path: 'templates.balance.low.title',
      message: /renders 400 characters, more than the 300/,
    },
    {
      name: 'text too long after rendering',
      set: { 'balance.low': { text: '{% for i in (1..100) %}{{ default.text }}{% endfor %}' } },
      path: 'templates.balance.low.text',
      message: /^renders \d{5} characters, more than the 16000 a text may have/,
    },
    {
      name: "a 'default' title empty for the test notification (no account)",
      set: { default: { title: '{{ account.name }}' } },
      path: 'templates.default.title',
      message: /^renders empty \(with the sample test notification in en: no account, no balance\)$/,
    },
    {
      name: 'a text empty for one event',
      set: { default: { text: '{% if event != "source.recovered" %}x{% endif %}' } },
      path: 'templates.default.text',
      message: /^renders empty \(with the sample source\.recovered notification in en\)$/,
    },
    {
      name: 'render error in one language only',
      set: { default: { text: 'x{% if lang == "zh-CN" %}{% for i in (1..100000000) %}{% endfor %}{% endif %}' } },
      path: 'templates.default.text',
      message: /^the template uses too much memory at line 1, column 26: .*\(with the sample balance\.low notification in zh-CN\)$/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const problems = validateTemplateSet(c.set);
      expect(problems).toHaveLength(1);
      expect(problems[0]!.path).toBe(c.path);
      expect(problems[0]!.message).toMatch(c.message);
    });
  }

  it('an event entry is checked against its own event only: {{ account.name }} is fine for balance.low', () => {
    expect(validateTemplateSet({ 'balance.low': { title: '{{ account.name }}' } })).toEqual([]);
  });

  it('whitespace around a one-line title is trimmed, so tags on their own lines are fine', () => {
    expect(validateTemplateSet({ default: { title: '{% if account %}\n{{ account.name }}\n{% else %}\nTest\n{% endif %}' } })).toEqual([]);
  });

  it('accepts a realistic bilingual set', () => {
    const set: TemplateSet = {
      default: { title: '[{{ severity }}] {{ default.title }}' },
      'balance.low': {
        title: '{% if lang == "zh-CN" %}{{ account.name }} 余额不足：{{ balance }}{% else %}{{ account.name }} is low: {{ balance }}{% endif %}',
        text:
          '{% if lang == "zh-CN" %}余额 {{ balance }}，低于 {{ threshold }}。预计 {{ runway | default: "未知" }} 后耗尽。{% else %}Balance {{ balance }}, below {{ threshold }}.{% endif %}\n' +
          '{% if account.top_up_url %}{{ account.top_up_url }}{% endif %}\n{{ time }} · {{ key }}',
      },
      'source.failing': { text: '{{ default.summary }}\n{{ source_error.kind }}: {{ source_error.message }}' },
      test: { text: '{{ note | default: "test" }} {{ 1 | money }}' },
    };
    expect(templateSetSchema.parse(set)).toEqual(set);
    expect(validateTemplateSet(set)).toEqual([]);
  });

  it('reports every faulty template, each with its own path, under the given prefix', () => {
    const problems = validateTemplateSet(
      { 'balance.low': { title: '{{ x | nope }}', text: 'fine' }, test: { text: '{% if %}' } },
      { path: 'channel.template' },
    );
    expect(problems.map((p) => p.path)).toEqual(['channel.template.balance.low.title', 'channel.template.test.text']);
  });

  it('the schema is strict: known keys and fields, bounded lengths', () => {
    expect(templateSetSchema.safeParse({ 'balance.lo': { title: 'x' } }).success).toBe(false);
    expect(templateSetSchema.safeParse({ default: { title: 'x', body: 'y' } }).success).toBe(false);
    expect(templateSetSchema.safeParse({ default: { title: 'x'.repeat(301) } }).success).toBe(false);
    expect(templateSetSchema.safeParse({ default: { text: 'x'.repeat(8001) } }).success).toBe(false);
    expect(templateSetSchema.safeParse({ default: { title: 'x'.repeat(300), text: 'y'.repeat(8000) } }).success).toBe(true);
    expect(templateSetSchema.safeParse({}).success).toBe(true);
  });
});

describe('webhook body template', () => {
  const good = '{"account": {{ account.name | json }}, "balance": {{ balance_value | json }}, "text": {{ default.text | json }}, "key": {{ key | json }}}';

  it('a template that inserts values with | json is valid', () => {
    expect(validateBodyTemplate(good)).toEqual([]);
  });

  const bad: Array<{ name: string; tpl: string; message: RegExp }> = [
    {
      name: 'a value inserted without | json (the sample name has quotes)',
      tpl: '{"account": "{{ account.name }}"}',
      message: /^the rendered body is not valid JSON: expected ',' or '}' after a property's value.* at line 1, column 24 of the output, near `.*DeepSeek "prod"/,
    },
    {
      name: 'an unquoted text value',
      tpl: '{\n  "balance": {{ balance }}\n}',
      message: /not valid JSON: .* at line 2, column 14 of the output/,
    },
    { name: 'a missing comma', tpl: '{"a": 1 "b": 2}', message: /expected ',' or '}'.* at line 1, column 9 of the output/ },
    { name: 'not closed', tpl: '{"a": {{ key | json }}', message: /the body ends too early: expected ',' or '}' after a property's value at line 1, column 28/ },
    { name: 'a liquid syntax error', tpl: '{"a": {{ key | json }', message: /not closed at line 1, column 7$/ },
    { name: 'an unknown filter', tpl: '{"a": {{ key | to_json }}}', message: /^unknown filter "to_json"/ },
    { name: 'empty', tpl: '  ', message: /^is empty/ },
  ];
  for (const c of bad) {
    it(c.name, () => {
      const problems = validateBodyTemplate(c.tpl);
      expect(problems).toHaveLength(1);
      expect(problems[0]!.path).toBe('body_template');
      expect(problems[0]!.message).toMatch(c.message);
    });
  }

  it('| json writes valid JSON for names with quotes, backslashes, newlines and unicode', () => {
    const names = ['Ac"me', 'back\\slash', 'line\nbreak\r\ttab', '测试 😀 \u2028\u2029', "it's </script>", '\u0000\u001f'];
    for (const name of names) {
      const p = payload({ account: { id: 'a', name, external_id: null, top_up_url: null } });
      const m = renderMessage(p);
      const out = renderBodyTemplate(good, p, m, KEY);
      expect(JSON.parse(out)).toEqual({ account: name, balance: 3, text: m.text, key: KEY });
    }
  });

  it('renderBodyTemplate: default.* is the message passed in (after title / text templates)', () => {
    const p = payload();
    const m = apply(p, [{ default: { title: 'T!', text: 'X!' } }]).message;
    const out = renderBodyTemplate('{"t": {{ default.title | json }}, "x": {{ default.text | json }}, "d": {{ dashboard_url | json }}}', p, m, KEY, {
      dashboardUrl: DASH,
    });
    expect(JSON.parse(out)).toEqual({ t: 'T!', x: 'X!', d: DASH });
  });

  it('renderBodyTemplate throws a clear error when the output is not JSON', () => {
    const p = payload({ account: { id: 'a', name: 'plain', external_id: null, top_up_url: null } });
    expect(() => renderBodyTemplate('{"a": "{{ account.name }}" "b"}', p, renderMessage(p), KEY)).toThrow(
      /^the webhook body template: the rendered body is not valid JSON: .*line 1, column 15/,
    );
  });

  it('renderBodyTemplate throws when the template fails', () => {
    const p = payload();
    expect(() => renderBodyTemplate('{% for i in (1..100000000) %}x{% endfor %}', p, renderMessage(p), KEY)).toThrow(
      /^the webhook body template failed: the template uses too much memory/,
    );
    expect(() => renderBodyTemplate('{% include "x" %}', p, renderMessage(p), KEY)).toThrow(/not supported/);
  });
});

describe('send-time failures fall back to the built-in message', () => {
  it('a template valid on save that hits the memory limit with real data', () => {
    const set: TemplateSet = { default: { title: 'T {{ balance }}', text: '{% for i in (1..balance_value) %}*{% endfor %}.' } };
    expect(validateTemplateSet(set)).toEqual([]); // the samples' balances are small
    const ok = apply(payload({ balance: 3 }), [null, set]);
    expect(ok.errors).toEqual([]);
    expect(ok.message.text).toBe('***.');

    const r = apply(payload({ balance: 1e8 }), [null, set]);
    expect(r.message).toEqual(r.builtIn);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ set: 1, path: 'templates.default.text' });
    expect(r.errors[0]!.message).toMatch(/too much memory.*sent the built-in message instead$/);
  });

  it('a runaway loop at send time (never validated)', () => {
    const tpl = '{% for i in (1..1000) %}{% for j in (1..1000) %}{% for k in (1..1000) %}x{% endfor %}{% endfor %}{% endfor %}';
    const r = apply(payload(), [{ 'balance.low': { text: tpl } }]);
    expect(r.message).toEqual(r.builtIn);
    expect(r.errors[0]).toMatchObject({ set: 0, path: 'templates.balance.low.text' });
  });

  it('a title that renders empty, a syntax error, an include: built-in message', () => {
    const p = payload({ type: 'test', account: null, level: null });
    for (const set of [
      { default: { title: '{{ account.name }}', text: 'x' } },
      { default: { text: '{% if %}' } },
      { default: { text: '{% include "a" %}' } },
    ] satisfies TemplateSet[]) {
      const r = apply(p, [set]);
      expect(r.message).toEqual(r.builtIn);
      expect(r.errors).toHaveLength(1);
    }
  });

  it('never throws, even when the error callback does', () => {
    const p = payload();
    const builtIn = renderMessage(p);
    const out = applyTemplates(builtIn, p, [{ default: { text: '{{ x | nope }}' } }], {
      key: KEY,
      onError: () => {
        throw new Error('logger down');
      },
    });
    expect(out).toEqual(builtIn);
    expect(applyTemplates(builtIn, p, [{ default: { text: '{{ x | nope }}' } }], { key: KEY })).toEqual(builtIn);
  });
});

describe('no file system access', () => {
  it('the refusing fs fails every lookup, even in a Liquid instance without our tag overrides', () => {
    const liquid = new Liquid({ fs: refusingFs, root: ['/'] });
    for (const src of ['{% include "/etc/passwd" %}', '{% render "etc/passwd" %}', '{% layout "/etc/passwd" %}x']) {
      expect(() => liquid.parseAndRenderSync(src, {})).toThrow(/templates cannot read files/);
    }
    expect(() => liquid.renderFileSync('/etc/passwd')).toThrow(/templates cannot read files/);
    expect(() => refusingFs.readFileSync('/etc/passwd')).toThrow(/cannot read files/);
  });
});

describe('the examples in docs/templates.md are valid', () => {
  const doc = readFileSync(new URL('../../docs/templates.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```(json|liquid)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2]! }));

  it('the template sets (English and Chinese)', () => {
    const sets = blocks.filter((b) => b.lang === 'json').map((b) => templateSetSchema.parse(JSON.parse(b.body)));
    expect(sets).toHaveLength(2);
    for (const set of sets) expect(validateTemplateSet(set)).toEqual([]);
    const zh = apply(payload({}, 'zh-CN'), [sets[1]!]);
    expect(zh.message.title).toBe('【严重】DeepSeek prod 余额 US$3.00');
    expect(zh.message.text).toContain('按当前消耗速度（US$144.00/天），约 2.5 天后用完。');
  });

  it('the webhook body template', () => {
    const body = blocks.find((b) => b.lang === 'liquid')!.body;
    expect(validateBodyTemplate(body)).toEqual([]);
    const p = payload();
    const m = renderMessage(p);
    expect(JSON.parse(renderBodyTemplate(body, p, m, KEY))).toEqual({
      msgtype: 'text',
      event: 'balance.low',
      account: 'DeepSeek prod',
      balance: 3,
      currency: 'USD',
      content: `${m.title}\n${m.text}`,
      id: KEY,
    });
  });
});
