// Applying a channel's and a workspace's template sets to a built-in message at send time, including the simple
// e-mail a templated text is sent as.
import type { NotificationPayload, RenderedMessage } from '../../channels/types.js';
import type { EventType } from '../../domain/events.js';
import { escapeHtml } from '../messages.js';
import { describeError, render } from './engine.js';
import {
  type TemplateField,
  MAX_TEXT_OUTPUT,
  MAX_TITLE_OUTPUT,
  type TemplateKey,
  type TemplateProblem,
  type TemplateSet,
  usable,
} from './schema.js';
import { templateVars } from './variables.js';

export interface ApplyOptions {
  /** The delivery's idempotency key (`key` in templates). */
  key: string;
  dashboardUrl?: string | null;
  /**
   * Called when a template fails at send time (it was valid when saved, but e.g. hit the render limit with real
   * data): the notification then goes out with the built-in message. `set` is the index in `sets`.
   */
  onError?: (problem: TemplateProblem & { set: number }) => void;
}

/** The template for one field: the first set (channel, then workspace) with the event's own entry, else its 'default'. */
function pickTemplate(sets: ReadonlyArray<TemplateSet | null | undefined>, type: EventType, field: TemplateField) {
  for (let i = 0; i < sets.length; i++) {
    const set = sets[i];
    if (!set) continue;
    const own = set[type]?.[field];
    if (usable(own)) return { set: i, key: type as TemplateKey, source: own };
    const dflt = set.default?.[field];
    if (usable(dflt)) return { set: i, key: 'default' as TemplateKey, source: dflt };
  }
  return null;
}

/** Titles from real data are made one line (names may hold line breaks) and cut to the limit. */
function oneLineTitle(s: string): string {
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > MAX_TITLE_OUTPUT ? `${clean.slice(0, MAX_TITLE_OUTPUT - 1)}…` : clean;
}

function cutText(s: string): string {
  return s.length > MAX_TEXT_OUTPUT ? `${s.slice(0, MAX_TEXT_OUTPUT - 1)}…` : s;
}

/**
 * Applies the user's templates to a built-in message. `sets` are in priority order (the channel's, then the
 * workspace's); each field (title, text) falls through on its own: the first set with an entry for the event, else
 * its 'default' entry, else the built-in. A text template makes the message `custom` (text = summary = the rendered
 * text, html = a plain e-mail of it; facts and links are kept but channels do not lay them out); a title template
 * alone changes only the title (and the e-mail's heading). When a template fails, the built-in message is returned
 * unchanged and `opts.onError` is told; this never throws.
 */
export function applyTemplates(
  message: RenderedMessage,
  payload: NotificationPayload,
  sets: ReadonlyArray<TemplateSet | null | undefined>,
  opts: ApplyOptions,
): RenderedMessage {
  const titleTpl = pickTemplate(sets, payload.type, 'title');
  const textTpl = pickTemplate(sets, payload.type, 'text');
  if (!titleTpl && !textTpl) return message;
  let vars: Record<string, unknown>;
  let title = message.title;
  let text: string | null = null;
  const current = { set: 0, path: '' };
  try {
    vars = templateVars(payload, { key: opts.key, dashboardUrl: opts.dashboardUrl, base: message });
    if (titleTpl) {
      Object.assign(current, { set: titleTpl.set, path: `templates.${titleTpl.key}.title` });
      title = oneLineTitle(render(titleTpl.source, vars));
      if (!title) throw new Error('the title template rendered empty');
    }
    if (textTpl) {
      Object.assign(current, { set: textTpl.set, path: `templates.${textTpl.key}.text` });
      text = cutText(render(textTpl.source, vars).trim());
      if (!text) throw new Error('the text template rendered empty');
    }
  } catch (e) {
    try {
      opts.onError?.({ ...current, message: `${describeError(e)}; sent the built-in message instead` });
    } catch {
      // a failing logger must not lose the notification either
    }
    return message;
  }
  if (text === null) {
    return { ...message, title, html: replaceHeading(message.html, message.title, title) };
  }
  return {
    ...message,
    title,
    text,
    summary: text,
    html: textToHtml(message, title, text),
    custom: true,
  };
}

/** The built-in e-mail shows its title in <title> and <h1>: swap in the templated title. */
function replaceHeading(html: string, oldTitle: string, newTitle: string): string {
  if (oldTitle === newTitle) return html;
  return html.split(`>${escapeHtml(oldTitle)}</`).join(`>${escapeHtml(newTitle)}</`);
}

const URL_RE = /https?:\/\/[^\s<>"'`]+/g;

/** Escaped text with its http(s) URLs as links. */
function linkify(text: string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const url = m[0].replace(/[.,;:!?)\]}。，；：！？）]+$/u, '');
    const at = m.index;
    out += escapeHtml(text.slice(last, at));
    let href: string | null = null;
    try {
      const u = new URL(url);
      if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
    } catch {
      href = null;
    }
    out += href ? `<a href="${escapeHtml(href)}" style="color:#2563eb;word-break:break-all;">${escapeHtml(url)}</a>` : escapeHtml(url);
    last = at + url.length;
  }
  return out + escapeHtml(text.slice(last));
}

const FONT =
  "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Arial,'PingFang SC','Microsoft YaHei',sans-serif";

/** A simple e-mail for a templated text: the title, the text as written (escaped, URLs linked), the footer. */
function textToHtml(m: RenderedMessage, title: string, text: string): string {
  const e = escapeHtml;
  const color = /^#[0-9a-fA-F]{6}$/.test(m.color) ? m.color : '#4b5563';
  const body = linkify(text).replace(/\r?\n/g, '<br>\n');
  return `<!DOCTYPE html>
<html lang="${m.lang === 'zh-CN' ? 'zh-CN' : 'en'}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${e(title)}</title></head>
<body style="margin:0;padding:0;background:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;"><tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:560px;background:#ffffff;border-radius:8px;border-top:4px solid ${color};font-family:${FONT};color:#111827;">
<tr><td style="padding:24px;">
<h1 style="margin:0 0 12px;font-size:18px;line-height:1.4;font-weight:700;color:${color};">${e(title)}</h1>
<div style="margin:0;font-size:14px;line-height:1.6;word-break:break-word;">${body}</div>
<p style="margin:20px 0 0;font-size:12px;line-height:1.5;color:#9ca3af;">${e(m.footer)}</p>
</td></tr>
</table>
</td></tr></table>
</body>
</html>`;
}
