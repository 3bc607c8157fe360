import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/env.js';
import type { ChannelContext, ChannelType } from '../channels/types.js';
import type { Dispatcher } from '../engine/dispatcher.js';
import type { Poller } from '../engine/poller.js';
import type { SourceRegistry } from '../sources/registry.js';
import type { Metrics } from '../metrics.js';
import type { SecretBox } from '../security/secrets.js';
import type { Store } from '../store/db.js';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What route handlers may use. */
export interface Deps {
  config: AppConfig;
  store: Store;
  box: SecretBox;
  metrics: Metrics;
  logger: Logger;
  dispatcher: Dispatcher;
  channels: ReadonlyMap<string, ChannelType>;
  channelContext: ChannelContext;
  sources: SourceRegistry;
  poller: Poller;
}

export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
