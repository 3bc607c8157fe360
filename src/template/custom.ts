// User-editable message templates (SPEC §4, issue #4 point 3): per workspace and per channel, written in Liquid
// (LiquidJS), validated on save, and the webhook channel's optional custom JSON body template. User guide:
// docs/templates.md. This module is the entry point; the parts live in template/custom/:
//
//   schema.ts      a template set's shape and the title / text limits
//   engine.ts      the sandboxed Liquid engine (no file access, bounded), the `money` filter, error messages
//   variables.ts   the variables a template sees (listed there)
//   validate.ts    checking a template set on save against sample notifications
//   apply.ts       applying the channel's and the workspace's templates to a message at send time
//   body.ts        the webhook body template: validation and rendering (json-check.ts: where its JSON breaks)

export { applyTemplates, type ApplyOptions } from './custom/apply.js';
export { MAX_BODY_OUTPUT, MAX_BODY_TEMPLATE, renderBodyTemplate, validateBodyTemplate } from './custom/body.js';
export { MEMORY_LIMIT, PARSE_LIMIT, refusingFs, RENDER_LIMIT_MS } from './custom/engine.js';
export {
  MAX_TEXT_OUTPUT,
  MAX_TEXT_TEMPLATE,
  MAX_TITLE_OUTPUT,
  MAX_TITLE_TEMPLATE,
  TEMPLATE_KEYS,
  type TemplateEntry,
  templateEntrySchema,
  type TemplateKey,
  type TemplateProblem,
  type TemplateSet,
  templateSetSchema,
} from './custom/schema.js';
export { validateTemplateSet } from './custom/validate.js';
export { type TemplateVarOptions, templateVars } from './custom/variables.js';
