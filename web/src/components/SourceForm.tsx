import { useTranslation } from 'react-i18next';
import { type LooseT, loose } from '../i18n';
import type { AccountSource } from '../types';
import { SelectField, TextField } from './ui';

// An account's source: push, or a provider balancewatch polls (SPEC §5). Credentials are write-only: the form
// never shows them, only their masked form as a placeholder, and an empty secret field keeps the stored value.

type FieldKind = 'text' | 'url' | 'secret' | 'json-secret' | 'secret-text' | 'select' | 'number';
interface FieldDef {
  name: string;
  kind: FieldKind;
  required?: boolean;
  options?: string[];
  placeholder?: string;
}

export const SOURCE_TYPES: Record<string, FieldDef[]> = {
  push: [{ name: 'expected_every', kind: 'text', placeholder: '1h' }],
  newapi: [
    { name: 'base_url', kind: 'url', required: true, placeholder: 'https://relay.example.com' },
    { name: 'access_token', kind: 'secret', required: true },
    { name: 'user_id', kind: 'text', placeholder: '42' },
  ],
  'newapi-key': [
    { name: 'base_url', kind: 'url', required: true, placeholder: 'https://relay.example.com' },
    { name: 'api_key', kind: 'secret', required: true, placeholder: 'sk-…' },
  ],
  openrouter: [
    { name: 'api_key', kind: 'secret', required: true, placeholder: 'sk-or-v1-…' },
    { name: 'base_url', kind: 'url', placeholder: 'https://openrouter.ai' },
  ],
  'openrouter-key': [
    { name: 'api_key', kind: 'secret', required: true, placeholder: 'sk-or-v1-…' },
    { name: 'base_url', kind: 'url', placeholder: 'https://openrouter.ai' },
  ],
  deepseek: [
    { name: 'api_key', kind: 'secret', required: true, placeholder: 'sk-…' },
    { name: 'currency', kind: 'select', options: ['', 'CNY', 'USD'] },
    { name: 'base_url', kind: 'url', placeholder: 'https://api.deepseek.com' },
  ],
  siliconflow: [
    { name: 'api_key', kind: 'secret', required: true, placeholder: 'sk-…' },
    { name: 'base_url', kind: 'url', placeholder: 'https://api.siliconflow.cn' },
  ],
  moonshot: [
    { name: 'api_key', kind: 'secret', required: true, placeholder: 'sk-…' },
    { name: 'base_url', kind: 'url', placeholder: 'https://api.moonshot.cn' },
  ],
  'http-json': [
    { name: 'url', kind: 'url', required: true, placeholder: 'https://api.example.com/v1/balance' },
    { name: 'method', kind: 'select', options: ['GET', 'POST'] },
    { name: 'headers', kind: 'json-secret', placeholder: '{"Authorization": "Bearer …"}' },
    { name: 'body', kind: 'secret-text' },
    { name: 'balance_path', kind: 'text', required: true, placeholder: '$.data.balance' },
    { name: 'used_path', kind: 'text' },
    { name: 'currency_path', kind: 'text' },
    { name: 'scale', kind: 'number', placeholder: '1' },
    { name: 'success_path', kind: 'text', placeholder: '$.success' },
  ],
};

const POLLED_COMMON: FieldDef[] = [
  { name: 'interval', kind: 'text', placeholder: '5m' },
  { name: 'fail_after', kind: 'number', placeholder: '3' },
];

export type SourceValues = Record<string, string>;

const isSecret = (k: FieldKind) => k === 'secret' || k === 'json-secret' || k === 'secret-text';

/** Form values for a stored source: plain fields filled in, secrets left empty. */
export function sourceValues(source: AccountSource | null): SourceValues {
  const v: SourceValues = { type: source?.type ?? 'push' };
  if (!source) return v;
  const defs = [...(SOURCE_TYPES[source.type] ?? []), ...(source.type === 'push' ? [] : POLLED_COMMON)];
  for (const d of defs) {
    if (isSecret(d.kind)) continue;
    const val = source[d.name];
    if (val !== undefined && val !== null) v[d.name] = String(val);
  }
  return v;
}

export class SourceFormError extends Error {}

/**
 * The `source` body. With `stored` of the same type, empty secret fields are omitted (kept) and cleared plain
 * fields are sent as null (removed).
 */
export function sourceBody(values: SourceValues, stored: AccountSource | null, t: LooseT): Record<string, unknown> {
  const type = values.type ?? 'push';
  const sameType = stored?.type === type;
  const defs = [...(SOURCE_TYPES[type] ?? []), ...(type === 'push' ? [] : POLLED_COMMON)];
  const body: Record<string, unknown> = { type };
  for (const d of defs) {
    const raw = (values[d.name] ?? '').trim();
    if (raw === '') {
      if (d.required && !(sameType && isSecret(d.kind))) throw new SourceFormError(t('source.required', { field: t(`source.field.${d.name}`) }));
      if (sameType && !isSecret(d.kind) && stored?.[d.name] !== undefined && stored[d.name] !== null && d.name !== 'interval' && d.name !== 'fail_after')
        body[d.name] = null;
      continue;
    }
    if (d.kind === 'json-secret') {
      try {
        body[d.name] = JSON.parse(raw);
      } catch {
        throw new SourceFormError(t('source.badJson', { field: t(`source.field.${d.name}`) }));
      }
    } else if (d.kind === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new SourceFormError(t('source.badNumber', { field: t(`source.field.${d.name}`) }));
      body[d.name] = n;
    } else body[d.name] = raw;
  }
  return body;
}

export function SourceForm({
  values,
  onChange,
  stored,
  disabled,
}: {
  values: SourceValues;
  onChange(v: SourceValues): void;
  stored: AccountSource | null;
  disabled?: boolean;
}) {
  const t = loose(useTranslation().t);
  const type = values.type ?? 'push';
  const defs = [...(SOURCE_TYPES[type] ?? []), ...(type === 'push' ? [] : POLLED_COMMON)];
  const sameType = stored?.type === type;
  const set = (k: string, v: string) => onChange({ ...values, [k]: v });
  return (
    <div className="form-grid">
      <SelectField
        label={t('source.type')}
        value={type}
        disabled={disabled}
        onChange={(v) => onChange(v === stored?.type ? { ...sourceValues(stored) } : { type: v })}
        options={Object.keys(SOURCE_TYPES).map((k) => ({ value: k, label: t(`source.types.${k}`) }))}
        hint={t(`source.help.${type}`)}
        className="span-2"
      />
      {defs.map((d) => {
        const label = `${t(`source.field.${d.name}`)}${d.required ? '' : ` (${t('common.optional')})`}`;
        const storedVal = sameType ? stored?.[d.name] : undefined;
        if (d.kind === 'select')
          return (
            <SelectField
              key={d.name}
              label={label}
              value={values[d.name] ?? ''}
              disabled={disabled}
              onChange={(v) => set(d.name, v)}
              options={(d.options ?? []).map((o) => ({ value: o, label: o || t('common.default') }))}
            />
          );
        const secretPlaceholder =
          isSecret(d.kind) && storedVal !== undefined && storedVal !== null
            ? t('source.keepSecret', { masked: typeof storedVal === 'string' ? storedVal : JSON.stringify(storedVal) })
            : d.placeholder;
        return (
          <TextField
            key={d.name}
            label={label}
            value={values[d.name] ?? ''}
            disabled={disabled}
            onChange={(v) => set(d.name, v)}
            type={d.kind === 'secret' ? 'password' : d.kind === 'url' ? 'url' : 'text'}
            inputMode={d.kind === 'number' ? 'decimal' : undefined}
            autoComplete={isSecret(d.kind) ? 'off' : undefined}
            placeholder={secretPlaceholder}
            hint={isSecret(d.kind) ? t('source.secretHint') : undefined}
            className={d.kind === 'json-secret' || d.kind === 'secret-text' || d.name === 'base_url' || d.name === 'url' ? 'span-2' : undefined}
          />
        );
      })}
    </div>
  );
}
