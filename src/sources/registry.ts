import { deepseekSource } from './deepseek.js';
import { httpJsonSource } from './http-json.js';
import { moonshotSource } from './moonshot.js';
import { newapiSource } from './newapi.js';
import { newapiKeySource } from './newapi-key.js';
import { openrouterSource } from './openrouter.js';
import { openrouterKeySource } from './openrouter-key.js';
import { siliconflowSource } from './siliconflow.js';
import type { SourceType } from './types.js';

// Every polled source type, by its `source.type`. A new provider is one file plus one line here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry has its own config type; the registry erases it
const SOURCES: SourceType<any>[] = [
  newapiSource,
  newapiKeySource,
  openrouterSource,
  openrouterKeySource,
  deepseekSource,
  siliconflowSource,
  moonshotSource,
  httpJsonSource,
];

export type SourceRegistry = ReadonlyMap<string, SourceType<Record<string, unknown>>>;

export const sourceRegistry: SourceRegistry = new Map(SOURCES.map((s) => [s.type, s]));
