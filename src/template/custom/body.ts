// The webhook channel's optional custom JSON body template: its limits, validation on save, and rendering at send
// time.
import type { NotificationPayload, RenderedMessage } from '../../channels/types.js';
import { describeError, render } from './engine.js';
import { jsonProblem } from './json-check.js';
import { type TemplateProblem, usable } from './schema.js';
import { checkTemplate } from './validate.js';
import { templateVars } from './variables.js';

/** Longest webhook body template (characters of template source). */
export const MAX_BODY_TEMPLATE = 20_000;
/** Longest rendered webhook body. */
export const MAX_BODY_OUTPUT = 65_536;

/**
 * Checks the webhook channel's custom body template before it is saved: the checks of validateTemplateSet, and the
 * rendered body must be valid JSON for every sample (the webhook sends application/json). Insert values with the
 * `json` filter, which writes them as complete JSON values: `{"account": {{ account.name | json }}}`.
 */
export function validateBodyTemplate(tpl: string, opts: { path?: string } = {}): TemplateProblem[] {
  const path = opts.path ?? 'body_template';
  if (!usable(tpl)) return [{ path, message: 'is empty: write a JSON body, or remove the template to send the standard body' }];
  if (tpl.length > MAX_BODY_TEMPLATE)
    return [{ path, message: `is ${tpl.length} characters long; the most is ${MAX_BODY_TEMPLATE}` }];
  const problem = checkTemplate(tpl, null, bodyProblem);
  return problem ? [{ path, message: problem }] : [];
}

function bodyProblem(out: string): string | null {
  if (out.length > MAX_BODY_OUTPUT)
    return `renders ${out.length} characters, more than the ${MAX_BODY_OUTPUT} a webhook body may have`;
  return jsonProblem(out);
}

/**
 * Renders the webhook channel's custom body template for one notification. `message` is what the channel sends
 * otherwise (`default.*` in the template). Throws an Error saying what is wrong when the template fails or its
 * output is not valid JSON (the channel reports it as a failure that retrying cannot fix).
 */
export function renderBodyTemplate(
  tpl: string,
  payload: NotificationPayload,
  message: RenderedMessage,
  key: string,
  opts: { dashboardUrl?: string | null } = {},
): string {
  let out: string;
  try {
    out = render(tpl, templateVars(payload, { key, dashboardUrl: opts.dashboardUrl, base: message }));
  } catch (e) {
    throw new Error(`the webhook body template failed: ${describeError(e)}`);
  }
  if (out.length > MAX_BODY_OUTPUT)
    throw new Error(`the webhook body template rendered ${out.length} characters, more than ${MAX_BODY_OUTPUT}`);
  const problem = jsonProblem(out);
  if (problem) throw new Error(`the webhook body template: ${problem}`);
  return out;
}
