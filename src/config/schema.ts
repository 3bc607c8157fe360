// The zod schemas for the config file's top level and for a workspace, an account and a channel's common fields
// (sources, channel types and settings are checked by their own schemas).
import { z } from 'zod';
import { EVENT_TYPES, LEVELS } from '../domain/events.js';
import { currencySchema, externalIdSchema, LOCALES, quotaPerUnitSchema, timeZoneSchema, topUpUrlSchema } from '../domain/fields.js';
import { accountRulesSchema, settingsPatchSchema } from '../domain/settings.js';
import { templateSetSchema } from '../template/custom.js';

const keySchema = externalIdSchema;
const nameSchema = z.string().trim().min(1).max(200);

export const topSchema = z
  .object({
    version: z.literal(1, { error: 'the only config file version is 1' }).optional(),
    workspaces: z.array(z.unknown()).max(10_000),
  })
  .strict();

export const workspaceSchema = z
  .object({
    key: keySchema,
    external_id: externalIdSchema.optional(),
    name: nameSchema.optional(),
    locale: z.enum(LOCALES).default('en'),
    time_zone: timeZoneSchema.default('UTC'),
    notification_settings: settingsPatchSchema.nullish(),
    accounts: z.array(z.unknown()).max(100_000).default([]),
    channels: z.array(z.unknown()).max(10_000).default([]),
  })
  .strict();

export const accountSchema = z
  .object({
    key: keySchema,
    external_id: externalIdSchema.optional(),
    name: nameSchema.optional(),
    currency: currencySchema.default('USD'),
    quota_per_unit: quotaPerUnitSchema.nullish(),
    top_up_url: topUpUrlSchema.nullish(),
    source: z.object({ type: z.string().min(1).max(50) }).passthrough().default({ type: 'push' }),
    rules: accountRulesSchema.nullish(),
  })
  .strict();

/** What every channel takes besides its type's own fields (as in POST /api/v1/channels, with `accounts` by key). */
export const CHANNEL_COMMON = ['name', 'type', 'events', 'min_level', 'enabled', 'accounts', 'template'] as const;
export const channelCommonSchema = z
  .object({
    name: nameSchema,
    type: z.string().min(1).max(50).optional(),
    events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).nullish(),
    min_level: z.enum(LEVELS).nullish(),
    enabled: z.boolean().default(true),
    accounts: z.array(keySchema).max(10_000).nullish(),
    template: templateSetSchema.nullish(),
  })
  .passthrough();
