import { type FormEvent, useState } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import { errorMessage, patch } from '../api';
import { CheckField, Loading, Notice, SelectField, TextField } from '../components/ui';
import { useApi } from '../hooks';
import { loose } from '../i18n';
import { useSession } from '../session';
import type { LevelLine, NotificationSettings, Workspace } from '../types';
import { ChannelsSection } from './Channels';
import { RecipientsSection } from './Recipients';

// The seeds' "Notification Settings" page: when to alert (threshold or levels, recovery, reminders, runway),
// who gets it (members, email to admins) and where (channels, each with on/off and a Test button).

const REPEAT = ['', '1h', '6h', '12h', '24h', '48h'];
const FLOOR = ['0s', '1m', '5m', '10m', '30m', '1h', '6h'];
const LEVEL_NAMES = ['info', 'warning', 'critical'] as const;

interface Draft {
  notify_low_balance: boolean;
  mode: 'single' | 'levels';
  threshold: string;
  levels: { level: LevelLine['level']; below: string }[];
  notify_depleted: boolean;
  notify_recovery: boolean;
  recovery_margin: string;
  repeat_interval: string;
  min_notify_interval: string;
  notify_runway: boolean;
  runway_days: string;
  notify_spike: boolean;
  spike_factor: string;
  email_admins: boolean | undefined;
}

function toDraft(s: NotificationSettings): Draft {
  const levels = s.levels ? [...s.levels].sort((a, b) => b.below - a.below) : null;
  return {
    notify_low_balance: s.notify_low_balance,
    mode: levels && levels.length > 1 ? 'levels' : 'single',
    threshold: String(s.low_balance_threshold),
    levels: (levels ?? [{ level: 'warning' as const, below: s.low_balance_threshold }]).map((l) => ({ level: l.level, below: String(l.below) })),
    notify_depleted: s.notify_depleted,
    notify_recovery: s.notify_recovery,
    recovery_margin: s.recovery_margin === null ? '' : String(s.recovery_margin),
    repeat_interval: s.repeat_interval ?? '',
    min_notify_interval: s.min_notify_interval,
    notify_runway: s.notify_runway,
    runway_days: String(s.runway_days),
    notify_spike: s.notify_spike,
    spike_factor: String(s.spike_factor),
    email_admins: s.email_admins,
  };
}

export function NotificationsPage() {
  const { t } = useTranslation();
  const s = useSession();
  const ws = s.workspaceId;
  const workspace = useApi<Workspace>(ws ? `/workspaces/${ws}` : null);
  if (!ws)
    return (
      <section className="page">
        <h1>{t('notifications.title')}</h1>
        <p>{t('common.noWorkspace')}</p>
      </section>
    );
  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>{t('notifications.title')}</h1>
          <p className="muted">{t('notifications.intro', { workspace: workspace.data?.name ?? '' })}</p>
        </div>
      </div>
      {!s.canEdit ? <Notice kind="info">{t('common.readOnly')}</Notice> : null}
      <SettingsForm key={ws} workspaceId={ws} canEdit={s.canEdit} />
      <ChannelsSection key={`c-${ws}`} workspaceId={ws} canEdit={s.canEdit} />
      <RecipientsSection key={`r-${ws}`} workspaceId={ws} canEdit={s.canEdit} />
    </section>
  );
}

function SettingsForm({ workspaceId, canEdit }: { workspaceId: string; canEdit: boolean }) {
  const { t } = useTranslation();
  const lt = loose(t);
  const settings = useApi<NotificationSettings>(`/workspaces/${workspaceId}/notification-settings`);
  // The form's edits; null = the saved settings as they are.
  const [edits, setDraft] = useState<Draft | null>(null);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);

  if (settings.error && !settings.data) return <Notice kind="error">{settings.error}</Notice>;
  if (!settings.data) return <Loading />;
  const current = settings.data;
  const draft = edits ?? toDraft(current);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => {
    setDraft({ ...draft, [k]: v });
    setMsg(null);
  };
  const disabled = !canEdit;

  const num = (v: string, field: string, opts: { min?: number; gt?: number } = {}): number => {
    const n = Number(v.trim().replace(',', '.'));
    if (v.trim() === '' || !Number.isFinite(n) || (opts.gt !== undefined && n <= opts.gt) || (opts.min !== undefined && n < opts.min))
      throw new Error(t('notifications.invalidNumber', { field }));
    return n;
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMsg(null);
    const body: Partial<NotificationSettings> = {};
    try {
      if (draft.notify_low_balance !== current.notify_low_balance) body.notify_low_balance = draft.notify_low_balance;
      if (draft.mode === 'single') {
        const th = num(draft.threshold, t('notifications.threshold'), { gt: 0 });
        if (current.levels && current.levels.length > 1) {
          body.levels = null;
          body.low_balance_threshold = th;
        } else if (th !== current.low_balance_threshold) body.low_balance_threshold = th;
      } else {
        const levels = draft.levels.map((l) => ({ level: l.level, below: num(l.below, lt(`level.${l.level}`), { gt: 0 }) })).sort((a, b) => b.below - a.below);
        if (JSON.stringify(levels) !== JSON.stringify(current.levels ? [...current.levels].sort((a, b) => b.below - a.below) : null)) body.levels = levels;
      }
      if (draft.notify_depleted !== current.notify_depleted) body.notify_depleted = draft.notify_depleted;
      if (draft.notify_recovery !== current.notify_recovery) body.notify_recovery = draft.notify_recovery;
      const margin = draft.recovery_margin.trim() === '' ? null : num(draft.recovery_margin, t('notifications.recoveryMargin'), { min: 0 });
      if (margin !== current.recovery_margin) body.recovery_margin = margin;
      const repeat = draft.repeat_interval || null;
      if (repeat !== current.repeat_interval) body.repeat_interval = repeat;
      if (draft.min_notify_interval !== current.min_notify_interval) body.min_notify_interval = draft.min_notify_interval;
      if (draft.notify_runway !== current.notify_runway) body.notify_runway = draft.notify_runway;
      const days = num(draft.runway_days, t('notifications.runwayDays'), { gt: 0 });
      if (days !== current.runway_days) body.runway_days = days;
      if (draft.notify_spike !== current.notify_spike) body.notify_spike = draft.notify_spike;
      const factor = num(draft.spike_factor, t('notifications.spikeFactor'), { gt: 1 });
      if (factor !== current.spike_factor) body.spike_factor = factor;
      if (draft.email_admins !== undefined && draft.email_admins !== current.email_admins) body.email_admins = draft.email_admins;
    } catch (err) {
      setMsg({ kind: 'error', text: (err as Error).message });
      return;
    }
    if (Object.keys(body).length === 0) {
      setMsg({ kind: 'success', text: t('notifications.nothingChanged') });
      return;
    }
    setBusy(true);
    try {
      const next = await patch<NotificationSettings>(`/workspaces/${workspaceId}/notification-settings`, body);
      settings.setData(next);
      setDraft(null);
      setMsg({ kind: 'success', text: t('notifications.saved') });
    } catch (err) {
      setMsg({ kind: 'error', text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };

  const durationLabel = (d: string) => (d === '' ? t('notifications.repeatOff') : d === '0s' ? t('notifications.floorOff') : lt('notifications.every', { d: humanDuration(d, lt) }));
  const withCurrent = (list: string[], v: string) => (list.includes(v) ? list : [...list, v]);

  return (
    <form className="card stack settings-form" onSubmit={submit} aria-labelledby="alerts-title">
      <h2 id="alerts-title">{t('notifications.alertsTitle')}</h2>
      <CheckField
        label={t('notifications.notifyLow')}
        hint={t('notifications.notifyLowHint')}
        checked={draft.notify_low_balance}
        onChange={(v) => set('notify_low_balance', v)}
        disabled={disabled}
      />

      <fieldset className="fieldset" disabled={disabled}>
        <legend>{t('notifications.thresholdLegend')}</legend>
        <div className="radio-row">
          <span className="radio">
            <input id="mode-single" type="radio" name="mode" checked={draft.mode === 'single'} onChange={() => set('mode', 'single')} />
            <label htmlFor="mode-single">{t('notifications.modeSingle')}</label>
          </span>
          <span className="radio">
            <input id="mode-levels" type="radio" name="mode" checked={draft.mode === 'levels'} onChange={() => set('mode', 'levels')} />
            <label htmlFor="mode-levels">{t('notifications.modeLevels')}</label>
          </span>
        </div>
        {draft.mode === 'single' ? (
          <TextField
            label={t('notifications.threshold')}
            inputMode="decimal"
            value={draft.threshold}
            onChange={(v) => set('threshold', v)}
            suffix={t('notifications.thresholdUnit')}
            hint={t('notifications.thresholdHint')}
            className="narrow-field"
          />
        ) : (
          <div className="levels">
            {draft.levels.map((l, i) => (
              <div className="level-row" key={i}>
                <SelectField
                  label={t('notifications.levelName', { n: i + 1 })}
                  value={l.level}
                  onChange={(v) => set('levels', draft.levels.map((x, j) => (j === i ? { ...x, level: v as LevelLine['level'] } : x)))}
                  options={LEVEL_NAMES.map((n) => ({ value: n, label: t(`level.${n}`) }))}
                />
                <TextField
                  label={t('notifications.levelBelow', { n: i + 1 })}
                  inputMode="decimal"
                  value={l.below}
                  onChange={(v) => set('levels', draft.levels.map((x, j) => (j === i ? { ...x, below: v } : x)))}
                />
                <button
                  type="button"
                  className="btn btn-ghost btn-sm"
                  disabled={draft.levels.length <= 1}
                  onClick={() => set('levels', draft.levels.filter((_, j) => j !== i))}
                >
                  {t('notifications.removeLevel', { n: i + 1 })}
                </button>
              </div>
            ))}
            {draft.levels.length < 3 ? (
              <button
                type="button"
                className="btn btn-sm"
                onClick={() => {
                  const used = new Set(draft.levels.map((l) => l.level));
                  const next = [...LEVEL_NAMES].reverse().find((n) => !used.has(n)) ?? 'critical';
                  set('levels', [...draft.levels, { level: next, below: '' }]);
                }}
              >
                {t('notifications.addLevel')}
              </button>
            ) : null}
            <p className="hint">{t('notifications.levelsHint')}</p>
          </div>
        )}
        <CheckField label={t('notifications.notifyDepleted')} checked={draft.notify_depleted} onChange={(v) => set('notify_depleted', v)} disabled={disabled} />
      </fieldset>

      <fieldset className="fieldset" disabled={disabled}>
        <legend>{t('notifications.recoveryLegend')}</legend>
        <CheckField label={t('notifications.notifyRecovery')} checked={draft.notify_recovery} onChange={(v) => set('notify_recovery', v)} disabled={disabled} />
        <div className="form-grid">
          <TextField
            label={`${t('notifications.recoveryMargin')} (${t('common.optional')})`}
            inputMode="decimal"
            value={draft.recovery_margin}
            onChange={(v) => set('recovery_margin', v)}
            placeholder={t('notifications.recoveryMarginDefault')}
            hint={t('notifications.recoveryMarginHint')}
          />
          <SelectField
            label={t('notifications.repeat')}
            value={draft.repeat_interval}
            onChange={(v) => set('repeat_interval', v)}
            options={withCurrent(REPEAT, draft.repeat_interval).map((d) => ({ value: d, label: durationLabel(d) }))}
            hint={t('notifications.repeatHint')}
          />
          <SelectField
            label={t('notifications.floor')}
            value={draft.min_notify_interval}
            onChange={(v) => set('min_notify_interval', v)}
            options={withCurrent(FLOOR, draft.min_notify_interval).map((d) => ({ value: d, label: d === '0s' ? t('notifications.floorOff') : humanDuration(d, lt) }))}
            hint={t('notifications.floorHint')}
          />
        </div>
      </fieldset>

      <fieldset className="fieldset" disabled={disabled}>
        <legend>{t('notifications.forecastLegend')}</legend>
        <CheckField label={t('notifications.notifyRunway')} checked={draft.notify_runway} onChange={(v) => set('notify_runway', v)} disabled={disabled} />
        <div className="form-grid">
          <TextField
            label={t('notifications.runwayDays')}
            inputMode="decimal"
            value={draft.runway_days}
            onChange={(v) => set('runway_days', v)}
            suffix={t('notifications.daysUnit')}
            hint={t('notifications.runwayHint')}
          />
        </div>
        <CheckField label={t('notifications.notifySpike')} checked={draft.notify_spike} onChange={(v) => set('notify_spike', v)} disabled={disabled} />
        <div className="form-grid">
          <TextField
            label={t('notifications.spikeFactor')}
            inputMode="decimal"
            value={draft.spike_factor}
            onChange={(v) => set('spike_factor', v)}
            suffix="×"
            hint={t('notifications.spikeHint')}
          />
        </div>
      </fieldset>

      {draft.email_admins !== undefined ? (
        <fieldset className="fieldset" disabled={disabled}>
          <legend>{t('notifications.emailLegend')}</legend>
          <CheckField
            label={t('notifications.emailAdmins')}
            hint={t('notifications.emailAdminsHint')}
            checked={draft.email_admins}
            onChange={(v) => set('email_admins', v)}
            disabled={disabled}
          />
        </fieldset>
      ) : null}

      {canEdit ? (
        <div className="actions sticky-actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? t('common.saving') : t('notifications.save')}
          </button>
          <button type="button" className="btn btn-ghost" disabled={busy} onClick={() => setDraft(null)}>
            {t('common.reset')}
          </button>
          {msg ? <Notice kind={msg.kind}>{msg.text}</Notice> : null}
        </div>
      ) : null}
      <p className="hint">
        <Trans i18nKey="notifications.accountOverrides" />
      </p>
    </form>
  );
}

/** "24h" → "24 hours" / "24 小时". */
export function humanDuration(d: string, lt: (k: string, o?: Record<string, unknown>) => string): string {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(d);
  if (!m) return d;
  const n = Number(m[1]);
  const unit = { ms: 'ms', s: 'seconds', m: 'minutes', h: 'hours', d: 'days', w: 'weeks' }[m[2] as 'ms'];
  return lt(`duration.${unit}`, { count: n });
}
