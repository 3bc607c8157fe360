import { type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, useEffect, useId, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { moneyParts } from '../format';
import type { Account, Level } from '../types';

// Small building blocks: every field has a <label for>, every action is a <button> with text.

export type Tone = 'ok' | 'info' | 'warning' | 'critical' | 'depleted' | 'nodata' | 'muted';

export function accountTone(a: Pick<Account, 'balance' | 'alert'>): Tone {
  if (a.balance === null) return 'nodata';
  if (a.alert.status === 'firing' && a.alert.level) return a.alert.level;
  return 'ok';
}

export function LevelBadge({ tone }: { tone: Tone }) {
  const { t } = useTranslation();
  return <span className={`badge badge-${tone}`}>{t(`level.${tone}`)}</span>;
}

export function levelTone(level: Level | null | undefined): Tone {
  return level ?? 'muted';
}

type TextFieldProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value'> & {
  label: ReactNode;
  hint?: ReactNode;
  value: string;
  onChange(value: string): void;
  suffix?: ReactNode;
};

export function TextField({ label, hint, value, onChange, suffix, className, ...rest }: TextFieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      <div className={suffix ? 'input-with-suffix' : undefined}>
        <input id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={hintId} {...rest} />
        {suffix ? <span className="suffix">{suffix}</span> : null}
      </div>
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

type SelectFieldProps = Omit<SelectHTMLAttributes<HTMLSelectElement>, 'onChange' | 'value'> & {
  label: ReactNode;
  hint?: ReactNode;
  value: string;
  onChange(value: string): void;
  options: { value: string; label: string }[];
};

export function SelectField({ label, hint, value, onChange, options, className, ...rest }: SelectFieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={hintId} {...rest}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export function CheckField({
  label,
  hint,
  checked,
  onChange,
  disabled,
}: {
  label: ReactNode;
  hint?: ReactNode;
  checked: boolean;
  onChange(v: boolean): void;
  disabled?: boolean;
}) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="check">
      <input id={id} type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} aria-describedby={hintId} />
      <div>
        <label htmlFor={id}>{label}</label>
        {hint ? (
          <p className="hint" id={hintId}>
            {hint}
          </p>
        ) : null}
      </div>
    </div>
  );
}

/** An on/off switch: a real checkbox with a label, drawn as a switch. */
export function Switch({
  label,
  srPrefix,
  checked,
  onChange,
  disabled,
}: {
  label: string;
  /** Read before the visible label by screen readers (e.g. what is switched). */
  srPrefix?: string;
  checked: boolean;
  onChange(v: boolean): void;
  disabled?: boolean;
}) {
  const id = useId();
  return (
    <span className="switch">
      <input id={id} type="checkbox" role="switch" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>
        {srPrefix ? <span className="sr-only">{srPrefix} </span> : null}
        {label}
      </label>
    </span>
  );
}

export function Notice({ kind, children }: { kind: 'error' | 'success' | 'info' | 'warning'; children: ReactNode }) {
  if (children === null || children === undefined || children === '') return null;
  return (
    <div className={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function Loading() {
  const { t } = useTranslation();
  return (
    <p className="loading" role="status">
      {t('common.loading')}
    </p>
  );
}

/** A button that asks again inline before doing something destructive. */
export function ConfirmButton({
  children,
  confirmLabel,
  onConfirm,
  disabled,
  className = 'btn btn-danger-ghost btn-sm',
}: {
  children: ReactNode;
  confirmLabel: ReactNode;
  onConfirm(): void | Promise<void>;
  disabled?: boolean;
  className?: string;
}) {
  const { t } = useTranslation();
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className={className} disabled={disabled} onClick={() => setAsking(true)}>
        {children}
      </button>
    );
  return (
    <span className="confirm">
      <button
        type="button"
        className="btn btn-danger btn-sm"
        onClick={() => {
          setAsking(false);
          void onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className="btn btn-ghost btn-sm" onClick={() => setAsking(false)}>
        {t('common.cancel')}
      </button>
    </span>
  );
}

export function CopyButton({ text, label }: { text: string; label?: string }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  useEffect(() => {
    if (!copied) return;
    const id = window.setTimeout(() => setCopied(null), 2000);
    return () => window.clearTimeout(id);
  }, [copied]);
  return (
    <button
      type="button"
      className="btn btn-sm"
      onClick={() => {
        const done = () => setCopied('yes');
        if (navigator.clipboard?.writeText) navigator.clipboard.writeText(text).then(done, () => setCopied('no'));
        else setCopied('no');
      }}
    >
      {copied === 'yes' ? t('common.copied') : copied === 'no' ? t('common.copyFailed') : (label ?? t('common.copy'))}
    </button>
  );
}

export function Sparkline({ values, tone, label }: { values: number[]; tone: Tone; label: string }) {
  if (values.length < 2) return <span className="spark-empty" aria-hidden="true" />;
  const w = 120;
  const h = 30;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const pts = values.map((v, i) => `${((i / (values.length - 1)) * w).toFixed(1)},${(h - 2 - ((v - min) / span) * (h - 4)).toFixed(1)}`).join(' ');
  return (
    <svg className={`spark spark-${tone}`} viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={label} preserveAspectRatio="none">
      <polyline points={pts} fill="none" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}

export function EmptyState({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

/** An amount with its unit set smaller: "2.40 USD". */
export function Amount({ value, currency, className }: { value: number | null | undefined; currency: string; className?: string }) {
  const p = moneyParts(value, currency);
  return (
    <span className={`amount ${className ?? ''}`}>
      <span className="amount-value">{p.amount}</span>
      {p.unit ? <span className="unit"> {p.unit}</span> : null}
    </span>
  );
}
