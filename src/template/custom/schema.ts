// The shape of a custom template set (a workspace's or a channel's: one title / text entry per event type, plus
// 'default') and the size limits on title and text templates and their rendered output.
import { z } from 'zod';
import { EVENT_TYPES } from '../../domain/events.js';

/** Longest title template and text template (characters of template source). */
export const MAX_TITLE_TEMPLATE = 300;
export const MAX_TEXT_TEMPLATE = 8000;
/** Longest rendered title (one line) and rendered text. */
export const MAX_TITLE_OUTPUT = 300;
export const MAX_TEXT_OUTPUT = 16_000;

export const TEMPLATE_KEYS = [...EVENT_TYPES, 'default'] as const;
export type TemplateKey = (typeof TEMPLATE_KEYS)[number];

export const templateEntrySchema = z.strictObject({
  title: z
    .string()
    .max(MAX_TITLE_TEMPLATE, `a title template is at most ${MAX_TITLE_TEMPLATE} characters`)
    .optional(),
  text: z.string().max(MAX_TEXT_TEMPLATE, `a text template is at most ${MAX_TEXT_TEMPLATE} characters`).optional(),
});
export type TemplateEntry = z.infer<typeof templateEntrySchema>;

const entryShape = Object.fromEntries(TEMPLATE_KEYS.map((k) => [k, templateEntrySchema.optional()])) as Record<
  TemplateKey,
  z.ZodOptional<typeof templateEntrySchema>
>;

/**
 * A set of templates (a workspace's or a channel's): one optional entry per event type, plus 'default' for every
 * event without its own entry. Each entry may set the title, the text, or both; an empty string counts as unset.
 */
export const templateSetSchema = z.strictObject(entryShape);
export type TemplateSet = z.infer<typeof templateSetSchema>;

/** One problem found in a template: `path` names the field ("templates.balance.low.text"). */
export interface TemplateProblem {
  path: string;
  message: string;
}

/** The two templated fields of a message. */
export type TemplateField = 'title' | 'text';

/** A template that is set: a string that is not blank (an empty string counts as unset). */
export function usable(t: unknown): t is string {
  return typeof t === 'string' && t.trim() !== '';
}
