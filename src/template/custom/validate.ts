// Validation of a template set on save: every template must parse and trial-render, within the limits, against
// sample notifications of every event type it applies to, in both languages.
import type { NotificationPayload, RenderedMessage } from '../../channels/types.js';
import { EVENT_TYPES, type EventType } from '../../domain/events.js';
import { languageOf, renderMessage } from '../messages.js';
import { compile, describeError, render } from './engine.js';
import {
  type TemplateField,
  MAX_TEXT_OUTPUT,
  MAX_TEXT_TEMPLATE,
  MAX_TITLE_OUTPUT,
  MAX_TITLE_TEMPLATE,
  TEMPLATE_KEYS,
  type TemplateProblem,
  type TemplateSet,
  usable,
} from './schema.js';
import { templateVars } from './variables.js';

// ---------------------------------------------------------------------------------------------------------------
// Sample notifications for validation: every event type, in both languages. Names carry a double quote so that a
// webhook body inserting a value without `| json` is caught on save, not at 3 a.m.

const SAMPLE_DASHBOARD = 'https://balancewatch.example.com/';
const SAMPLE_KEY = 'sample-delivery-key';

function samplePayloads(): NotificationPayload[] {
  const base = (locale: string): Omit<NotificationPayload, 'type' | 'level' | 'threshold'> => ({
    occurred_at: '2025-01-15T08:30:00.000Z',
    workspace: { id: 'ws_sample', name: 'Acme "AI"', external_id: 'acme', locale, time_zone: 'Asia/Shanghai' },
    account: {
      id: 'ac_sample',
      name: 'DeepSeek "prod"',
      external_id: 'ds-prod',
      top_up_url: 'https://platform.deepseek.com/top_up',
    },
    balance: 3,
    currency: 'USD',
    runway_days: null,
    spend_per_day: null,
    spend_last_hour: null,
    episode: 1,
    reminder: 0,
  });
  const perEvent: Record<EventType, Array<Partial<NotificationPayload>>> = {
    'balance.low': [
      { level: 'warning', threshold: 5, spend_per_day: 1.2, runway_days: 2.5 },
      { level: 'depleted', threshold: 0, balance: 0, reminder: 2 },
    ],
    'balance.recovered': [{ level: null, threshold: 22, balance: 60 }],
    'balance.runway_low': [{ level: 'warning', threshold: null, balance: 60, runway_days: 2.46, spend_per_day: 24.4 }],
    'balance.runway_recovered': [{ level: null, threshold: null, balance: 80, runway_days: 12, spend_per_day: 6.6 }],
    'spend.spike': [{ level: 'warning', threshold: null, balance: 50, spend_per_day: 30, spend_last_hour: 12 }],
    'source.failing': [
      {
        level: null,
        threshold: null,
        balance: null,
        source_error: { kind: 'auth', message: 'HTTP 401 "invalid api key"', failures: 3 },
      },
    ],
    'source.recovered': [{ level: null, threshold: null, balance: 42 }],
    test: [
      {
        level: null,
        threshold: null,
        account: null,
        balance: null,
        currency: null,
        episode: 0,
        note: 'hello "from" the settings page',
      },
    ],
  };
  const out: NotificationPayload[] = [];
  for (const locale of ['en', 'zh-CN']) {
    for (const type of EVENT_TYPES) {
      for (const over of perEvent[type]) out.push({ ...base(locale), type, level: null, threshold: null, ...over });
    }
  }
  return out;
}

interface Sample {
  payload: NotificationPayload;
  builtIn: RenderedMessage;
  vars: Record<string, unknown>;
  label: string;
}

let samplesMemo: Sample[] | null = null;

function samples(): Sample[] {
  samplesMemo ??= samplePayloads().map((payload) => {
    const builtIn = renderMessage(payload, { dashboardUrl: SAMPLE_DASHBOARD });
    const vars = templateVars(payload, { key: SAMPLE_KEY, dashboardUrl: SAMPLE_DASHBOARD, base: builtIn });
    const lang = languageOf(payload.workspace.locale);
    const label = `the sample ${payload.type} notification in ${lang}${payload.type === 'test' ? ': no account, no balance' : ''}`;
    return { payload, builtIn, vars, label };
  });
  return samplesMemo;
}

// ---------------------------------------------------------------------------------------------------------------
// Checking rendered output

const LINE_BREAK = /[\r\n\u2028\u2029]/;

/** What is wrong with a rendered title or text on save, or null. */
function outputProblem(field: TemplateField, out: string): string | null {
  const s = out.trim();
  if (!s) return `renders empty`;
  if (field === 'title') {
    if (LINE_BREAK.test(s))
      return 'must render to a single line: remove the line break, or trim the whitespace around tags with {%- -%}';
    if (s.length > MAX_TITLE_OUTPUT) return `renders ${s.length} characters, more than the ${MAX_TITLE_OUTPUT} a title may have`;
  } else if (s.length > MAX_TEXT_OUTPUT) {
    return `renders ${s.length} characters, more than the ${MAX_TEXT_OUTPUT} a text may have`;
  }
  return null;
}

/**
 * Checks a template set before it is saved: every template must parse, use only known filters and tags, and render
 * within the limits for sample notifications of every event type it applies to (an event's own entry: that event;
 * 'default': every event) in English and Chinese, to a non-empty text and a non-empty one-line title of at most
 * 300 characters. Returns one problem per faulty template (empty when the set is valid).
 */
export function validateTemplateSet(set: TemplateSet, opts: { path?: string } = {}): TemplateProblem[] {
  const prefix = opts.path ?? 'templates';
  const problems: TemplateProblem[] = [];
  for (const key of TEMPLATE_KEYS) {
    const entry = set[key];
    if (!entry) continue;
    for (const field of ['title', 'text'] as const) {
      const source = entry[field];
      if (!usable(source)) continue;
      const path = `${prefix}.${key}.${field}`;
      const max = field === 'title' ? MAX_TITLE_TEMPLATE : MAX_TEXT_TEMPLATE;
      if (source.length > max) {
        problems.push({ path, message: `is ${source.length} characters long; the most is ${max}` });
        continue;
      }
      const problem = checkTemplate(source, key === 'default' ? null : key, (out) => outputProblem(field, out));
      if (problem) problems.push({ path, message: problem });
    }
  }
  return problems;
}

/** Parses, then trial-renders against the samples; returns the first problem or null. */
export function checkTemplate(source: string, only: EventType | null, check: (out: string) => string | null): string | null {
  try {
    compile(source);
  } catch (e) {
    return describeError(e);
  }
  for (const s of samples()) {
    if (only !== null && s.payload.type !== only) continue;
    let out: string;
    try {
      out = render(source, s.vars);
    } catch (e) {
      return `${describeError(e)} (with ${s.label})`;
    }
    const problem = check(out);
    if (problem) return `${problem} (with ${s.label})`;
  }
  return null;
}
