import { type FormEvent, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { errorMessage, patch, post } from '../api';
import { Loading, Notice, SelectField, TextField } from '../components/ui';
import { useApi } from '../hooks';
import { useSession } from '../session';
import type { Locale, Workspace } from '../types';

// Workspace settings: name, the language of its notifications, and the time zone their times are written in.

function timeZones(): string[] {
  try {
    const zones = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
    return zones.includes('UTC') ? zones : ['UTC', ...zones];
  } catch {
    return ['UTC'];
  }
}

export function WorkspacePage() {
  const { t } = useTranslation();
  const s = useSession();
  const ws = s.workspaceId;
  const w = useApi<Workspace>(ws ? `/workspaces/${ws}` : null);
  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>{t('workspace.title')}</h1>
          <p className="muted">{t('workspace.intro')}</p>
        </div>
      </div>
      {!ws ? <p>{t('common.noWorkspace')}</p> : null}
      {w.error ? <Notice kind="error">{w.error}</Notice> : null}
      {ws && !w.data && !w.error ? <Loading /> : null}
      {w.data ? <WorkspaceForm key={w.data.id} workspace={w.data} canEdit={s.canEdit} onSaved={(next) => w.setData(next)} /> : null}
      {s.info!.user.is_admin ? <NewWorkspace /> : null}
    </section>
  );
}

function WorkspaceForm({ workspace, canEdit, onSaved }: { workspace: Workspace; canEdit: boolean; onSaved(w: Workspace): void }) {
  const { t } = useTranslation();
  const s = useSession();
  const [name, setName] = useState(workspace.name);
  const [locale, setLocale] = useState<Locale>(workspace.locale);
  const [tz, setTz] = useState(workspace.time_zone);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const zones = useMemo(() => timeZones(), []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setMsg(null);
    try {
      const next = await patch<Workspace>(`/workspaces/${workspace.id}`, { name: name.trim(), locale, time_zone: tz.trim() });
      onSaved(next);
      setMsg({ kind: 'success', text: t('common.saved') });
      if (next.name !== workspace.name) await s.refresh();
    } catch (err) {
      setMsg({ kind: 'error', text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="ws-form-title">
      <h2 id="ws-form-title">{t('workspace.settingsTitle')}</h2>
      <fieldset className="fieldset plain" disabled={!canEdit}>
        <div className="form-grid">
          <TextField label={t('workspace.name')} required value={name} onChange={setName} />
          <SelectField
            label={t('workspace.locale')}
            value={locale}
            onChange={(v) => setLocale(v as Locale)}
            options={[
              { value: 'en', label: 'English' },
              { value: 'zh-CN', label: '简体中文' },
            ]}
            hint={t('workspace.localeHint')}
          />
          <TextField label={t('workspace.timeZone')} required value={tz} onChange={setTz} list="tz-list" hint={t('workspace.timeZoneHint')} spellCheck={false} />
          <datalist id="tz-list">
            {zones.map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
          {workspace.external_id ? (
            <div className="field">
              <span className="label-like">{t('workspace.externalId')}</span>
              <code>{workspace.external_id}</code>
            </div>
          ) : null}
        </div>
      </fieldset>
      {canEdit ? (
        <div className="actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? t('common.saving') : t('common.save')}
          </button>
          {msg ? <Notice kind={msg.kind}>{msg.text}</Notice> : null}
        </div>
      ) : (
        <Notice kind="info">{t('common.readOnly')}</Notice>
      )}
    </form>
  );
}

function NewWorkspace() {
  const { t } = useTranslation();
  const s = useSession();
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setMsg(null);
    try {
      const w = await post<Workspace>('/workspaces', {
        name: name.trim(),
        locale: document.documentElement.lang === 'zh-CN' ? 'zh-CN' : 'en',
        time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
      });
      setName('');
      await s.refresh();
      s.setWorkspaceId(w.id);
      setMsg({ kind: 'success', text: t('workspace.created', { name: w.name }) });
    } catch (err) {
      setMsg({ kind: 'error', text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="new-ws-title">
      <h2 id="new-ws-title">{t('workspace.newTitle')}</h2>
      <p className="muted small">{t('workspace.newIntro')}</p>
      <div className="form-row">
        <TextField label={t('workspace.name')} required value={name} onChange={setName} />
        <button type="submit" className="btn" disabled={busy}>
          {t('workspace.create')}
        </button>
      </div>
      {msg ? <Notice kind={msg.kind}>{msg.text}</Notice> : null}
    </form>
  );
}
