import type { z } from 'zod';
import type { ChannelRegistry } from './registry.js';
import { channelFromUrl } from './registry.js';
import { type ChannelType, ChannelUrlError } from './types.js';

// How a channel body becomes a channel type and its fields: shared by POST /api/v1/channels and the config file.

/** A channel body that names no usable type; `field` is the body field at fault ("type" or "url"). */
export class ChannelConfigError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'unsupported_channel',
    readonly field: 'type' | 'url',
    message: string,
    /** Short form for an error's details ("required", "unsupported", or the message). */
    readonly detail: string,
  ) {
    super(message);
    this.name = 'ChannelConfigError';
  }
}

/**
 * The channel type and its fields: `type` given (a `url` in one of its Apprise schemes is parsed; any other `url`
 * is the endpoint as given), or inferred from `url` (Apprise scheme or a known native webhook host; any other
 * http(s) URL is a generic webhook). Fields given explicitly win over those read from the URL. `fields` is
 * rewritten in place with the fields read from the URL. Throws ChannelConfigError.
 */
export function resolveChannelType(registry: ChannelRegistry, type: string | undefined, fields: Record<string, unknown>): ChannelType {
  const url = typeof fields.url === 'string' ? fields.url : undefined;
  const fromUrl = (parse: () => { type: ChannelType; fields: Record<string, unknown> }) => {
    try {
      const r = parse();
      const { url: _given, ...explicit } = fields;
      for (const k of Object.keys(fields)) delete fields[k];
      Object.assign(fields, r.fields, explicit);
      if (r.fields.url !== undefined) fields.url = r.fields.url;
      return r.type;
    } catch (err) {
      if (err instanceof ChannelUrlError) throw new ChannelConfigError('invalid_request', 'url', err.message, err.message);
      throw err;
    }
  };
  if (!type) {
    if (url === undefined)
      throw new ChannelConfigError('invalid_request', 'type', 'give the channel a "url" (a webhook or Apprise-style URL) or a "type" with its fields', 'required');
    return fromUrl(() => channelFromUrl(url, registry));
  }
  const t = registry.get(type);
  if (!t)
    throw new ChannelConfigError('unsupported_channel', 'type', `channel type "${type}" is not supported; supported: ${[...registry.keys()].join(', ')}`, 'unsupported');
  const scheme = url ? /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase() : undefined;
  if (url && scheme && t.schemes?.includes(scheme) && t.parseUrl) return fromUrl(() => ({ type: t, fields: t.parseUrl!(url, scheme) ?? {} }));
  return t;
}

export type ChannelFieldCheck =
  | { ok: true; data: Record<string, unknown> }
  | { ok: false; issues: z.core.$ZodIssue[] };

/** Validates a channel's structured fields against its type's schema; every issue, paths relative to the fields. */
export function checkChannelFields(type: ChannelType, fields: Record<string, unknown>): ChannelFieldCheck {
  const r = type.schema.safeParse(fields);
  if (r.success) return { ok: true, data: r.data as Record<string, unknown> };
  return { ok: false, issues: r.error.issues };
}
