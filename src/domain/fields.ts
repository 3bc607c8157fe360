import { z } from 'zod';

// Field schemas shared by the HTTP API and the config file, so both accept and reject exactly the same values.

export const LOCALES = ['en', 'zh-CN'] as const;

export const timeZoneSchema = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'not an IANA time zone such as "UTC" or "Asia/Shanghai"');

export const externalIdSchema = z.string().min(1).max(200);

export const currencySchema = z
  .string()
  .trim()
  .min(1)
  .max(20)
  .regex(/^[\p{L}\p{N}_ .-]+$/u, 'a currency code such as USD or CNY, or a unit name such as credits');

export const quotaPerUnitSchema = z.number().finite().positive().max(1e12);

export const topUpUrlSchema = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).max(2048);
