import type { NotificationPayload, RenderedMessage } from '../channels/types.js';
import { applyTemplates, type TemplateProblem, type TemplateSet } from './custom.js';
import { renderMessage } from './messages.js';

// One way to turn a stored notification into the message a channel sends: the built-in wording in the workspace's
// language, then the channel's and the workspace's templates (channel first) when they have any.

export interface RenderContext {
  dashboardUrl: string | null;
  channelTemplates?: TemplateSet | null;
  workspaceTemplates?: TemplateSet | null;
  /** A template that fails at send time falls back to the built-in message; this hears about it. */
  onTemplateError?(problem: TemplateProblem & { set: number }): void;
}

export function renderNotification(payload: NotificationPayload, key: string, ctx: RenderContext): RenderedMessage {
  const base = renderMessage(payload, { dashboardUrl: ctx.dashboardUrl });
  if (!ctx.channelTemplates && !ctx.workspaceTemplates) return base;
  return applyTemplates(base, payload, [ctx.channelTemplates, ctx.workspaceTemplates], {
    key,
    dashboardUrl: ctx.dashboardUrl,
    ...(ctx.onTemplateError ? { onError: ctx.onTemplateError } : {}),
  });
}

/** Parses a stored template set (JSON text or null); a damaged value means "no templates", never a failed send. */
export function storedTemplates(text: string | null | undefined): TemplateSet | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as TemplateSet;
  } catch {
    return null;
  }
}
