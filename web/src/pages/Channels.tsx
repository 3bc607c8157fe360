import { type FormEvent, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { del, errorMessage, patch, post, qs } from '../api';
import { CHANNEL_TYPES, channelTarget, HELP_TYPES } from '../channelDefs';
import { ConfirmButton, EmptyState, Loading, Notice, SelectField, Switch, TextField } from '../components/ui';
import { useApi } from '../hooks';
import { loose } from '../i18n';
import type { Channel, Page, TestResult } from '../types';

const EVENTS = ['balance.low', 'balance.recovered', 'balance.runway_low', 'balance.runway_recovered', 'spend.spike', 'source.failing', 'source.recovered'] as const;
const MIN_LEVELS = ['', 'warning', 'critical', 'depleted'] as const;

export function ChannelsSection({ workspaceId, canEdit }: { workspaceId: string; canEdit: boolean }) {
  const { t } = useTranslation();
  const list = useApi<Page<Channel>>(`/channels${qs({ workspace_id: workspaceId })}`);
  const [adding, setAdding] = useState(false);
  const channels = list.data?.data ?? [];

  return (
    <section className="card stack" aria-labelledby="channels-title">
      <div className="card-head">
        <div>
          <h2 id="channels-title">{t('channels.title')}</h2>
          <p className="muted small">{t('channels.intro')}</p>
        </div>
        {canEdit ? (
          <button type="button" className="btn btn-primary" aria-expanded={adding} onClick={() => setAdding((a) => !a)}>
            {t('channels.add')}
          </button>
        ) : null}
      </div>
      {adding ? (
        <AddChannel
          workspaceId={workspaceId}
          onCancel={() => setAdding(false)}
          onAdded={(c) => {
            setAdding(false);
            list.setData((prev) => (prev ? { ...prev, data: [...prev.data, c] } : { data: [c] }));
          }}
        />
      ) : null}
      {list.error ? <Notice kind="error">{list.error}</Notice> : null}
      {!list.data && !list.error ? <Loading /> : null}
      {list.data && channels.length === 0 ? (
        <EmptyState title={t('channels.empty.title')}>
          <p>{t('channels.empty.text')}</p>
        </EmptyState>
      ) : null}
      {channels.length > 0 ? (
        <ul className="channel-list">
          {channels.map((c) => (
            <ChannelRow
              key={c.id}
              channel={c}
              canEdit={canEdit}
              onChanged={(next) => list.setData((prev) => (prev ? { ...prev, data: prev.data.map((x) => (x.id === next.id ? next : x)) } : prev))}
              onDeleted={() => list.setData((prev) => (prev ? { ...prev, data: prev.data.filter((x) => x.id !== c.id) } : prev))}
            />
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function ChannelRow({ channel: c, canEdit, onChanged, onDeleted }: { channel: Channel; canEdit: boolean; onChanged(c: Channel): void; onDeleted(): void }) {
  const { t } = useTranslation();
  const lt = loose(t);
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [toggling, setToggling] = useState(false);

  const test = async () => {
    setTesting(true);
    setResult(null);
    setError(null);
    try {
      setResult(await post<TestResult>(`/channels/${c.id}/test`, {}));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setTesting(false);
    }
  };
  // The switch moves at once; it moves back when the service refuses.
  const toggle = async (enabled: boolean) => {
    setToggling(true);
    setError(null);
    onChanged({ ...c, enabled });
    try {
      onChanged(await patch<Channel>(`/channels/${c.id}`, { enabled }));
    } catch (err) {
      onChanged({ ...c, enabled: !enabled });
      setError(errorMessage(err));
    } finally {
      setToggling(false);
    }
  };
  const remove = async () => {
    try {
      await del(`/channels/${c.id}`);
      onDeleted();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const filters = [
    c.events ? t('channels.onlyEvents', { events: c.events.map((e) => lt(`event.${e}`, { defaultValue: e })).join(', ') }) : t('channels.allEvents'),
    c.min_level ? t('channels.minLevel', { level: lt(`level.${c.min_level}`) }) : null,
    c.account_ids ? t('channels.someAccounts', { count: c.account_ids.length }) : null,
  ].filter(Boolean);

  return (
    <li className={c.enabled ? 'channel' : 'channel channel-off'} data-channel={c.name}>
      <div className="channel-main">
        <div className="channel-info">
          <span className="channel-name">{c.name}</span>
          <span className="type-tag">{lt(`channelType.${c.type}`, { defaultValue: c.type })}</span>
          <span className="channel-target" title={channelTarget(c)}>
            {channelTarget(c)}
          </span>
          <span className="muted small">{filters.join(' · ')}</span>
        </div>
        <div className="channel-actions">
          <Switch label={c.enabled ? t('channels.on') : t('channels.off')} srPrefix={c.name} checked={c.enabled} disabled={!canEdit || toggling} onChange={(v) => void toggle(v)} />
          <button type="button" className="btn btn-sm" onClick={() => void test()} disabled={testing || !canEdit} aria-label={t('channels.testAria', { name: c.name })}>
            {testing ? t('channels.testing') : t('channels.test')}
          </button>
          {canEdit ? (
            <ConfirmButton confirmLabel={t('channels.deleteConfirm')} onConfirm={remove}>
              {t('common.delete')}
            </ConfirmButton>
          ) : null}
        </div>
      </div>
      {error ? <Notice kind="error">{error}</Notice> : null}
      {result ? <TestAnswer result={result} /> : null}
    </li>
  );
}

export function TestAnswer({ result }: { result: TestResult }) {
  const { t } = useTranslation();
  return (
    <div className={result.ok ? 'test-answer test-ok' : 'test-answer test-failed'} role="status">
      <strong>{result.ok ? t('channels.answer.ok') : t('channels.answer.failed')}</strong>
      <dl className="kv">
        {result.status !== null && result.status !== undefined ? (
          <div>
            <dt>{t('channels.answer.status')}</dt>
            <dd className="num">HTTP {result.status}</dd>
          </div>
        ) : null}
        {result.response ? (
          <div>
            <dt>{t('channels.answer.response')}</dt>
            <dd>
              <code className="answer-text">{result.response}</code>
            </dd>
          </div>
        ) : null}
        {result.error ? (
          <div>
            <dt>{t('channels.answer.error')}</dt>
            <dd className="error-text">{result.error}</dd>
          </div>
        ) : null}
      </dl>
    </div>
  );
}

function AddChannel({ workspaceId, onAdded, onCancel }: { workspaceId: string; onAdded(c: Channel): void; onCancel(): void }) {
  const { t } = useTranslation();
  const lt = loose(t);
  const [mode, setMode] = useState<'url' | 'form'>('url');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState('');
  const [type, setType] = useState('wecom');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [minLevel, setMinLevel] = useState('');
  const [events, setEvents] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [help, setHelp] = useState<(typeof HELP_TYPES)[number]>('wecom');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, unknown> = { workspace_id: workspaceId, name: name.trim() };
    if (minLevel) body.min_level = minLevel;
    if (events) {
      if (events.length === 0) return setError(t('channels.form.noEvents'));
      body.events = events;
    }
    if (mode === 'url') {
      body.url = url.trim();
      if (secret.trim()) body.secret = secret.trim();
    } else {
      body.type = type;
      for (const d of CHANNEL_TYPES[type] ?? []) {
        const v = (fields[d.name] ?? '').trim();
        if (!v) {
          if (d.required) return setError(t('source.required', { field: lt(`channels.field.${d.name}`) }));
          continue;
        }
        if (d.kind === 'emails') body[d.name] = v.split(/[\s,;]+/).filter(Boolean);
        else if (d.kind === 'json') {
          try {
            body[d.name] = JSON.parse(v);
          } catch {
            return setError(t('source.badJson', { field: lt(`channels.field.${d.name}`) }));
          }
        } else body[d.name] = v;
      }
    }
    setBusy(true);
    try {
      onAdded(await post<Channel>('/channels', body));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="subcard stack" onSubmit={submit} aria-labelledby="add-channel-title">
      <h3 id="add-channel-title">{t('channels.form.title')}</h3>
      <div className="segmented" role="group" aria-label={t('channels.form.how')}>
        <button type="button" className={mode === 'url' ? 'seg active' : 'seg'} aria-pressed={mode === 'url'} onClick={() => setMode('url')}>
          {t('channels.form.byUrl')}
        </button>
        <button type="button" className={mode === 'form' ? 'seg active' : 'seg'} aria-pressed={mode === 'form'} onClick={() => setMode('form')}>
          {t('channels.form.byType')}
        </button>
      </div>
      <Notice kind="error">{error}</Notice>
      <TextField label={t('channels.form.name')} required value={name} onChange={setName} placeholder={t('channels.form.namePlaceholder')} />
      {mode === 'url' ? (
        <>
          <TextField
            label={t('channels.form.url')}
            required
            value={url}
            onChange={setUrl}
            autoComplete="off"
            spellCheck={false}
            placeholder="https://oapi.dingtalk.com/robot/send?access_token=…"
            hint={t('channels.form.urlHint')}
          />
          <TextField
            label={`${t('channels.form.secret')} (${t('common.optional')})`}
            type="password"
            autoComplete="off"
            value={secret}
            onChange={setSecret}
            hint={t('channels.form.secretHint')}
          />
        </>
      ) : (
        <>
          <SelectField
            label={t('channels.form.type')}
            value={type}
            onChange={(v) => {
              setType(v);
              setFields({});
              if ((HELP_TYPES as readonly string[]).includes(v)) setHelp(v as (typeof HELP_TYPES)[number]);
            }}
            options={Object.keys(CHANNEL_TYPES).map((k) => ({ value: k, label: lt(`channelType.${k}`) }))}
          />
          <div className="form-grid">
            {(CHANNEL_TYPES[type] ?? []).map((d) => (
              <TextField
                key={`${type}-${d.name}`}
                label={`${lt(`channels.field.${d.name}`)}${d.required ? '' : ` (${t('common.optional')})`}`}
                value={fields[d.name] ?? ''}
                onChange={(v) => setFields({ ...fields, [d.name]: v })}
                type={d.kind === 'secret' ? 'password' : d.kind === 'url' ? 'url' : 'text'}
                autoComplete="off"
                spellCheck={false}
                placeholder={d.placeholder}
                hint={lt(`channels.fieldHint.${d.name}`, { defaultValue: '' }) || undefined}
                className={d.kind === 'url' || d.kind === 'json' || d.kind === 'emails' ? 'span-2' : undefined}
              />
            ))}
          </div>
        </>
      )}

      <details className="advanced">
        <summary>{t('channels.form.filters')}</summary>
        <div className="stack">
          <SelectField
            label={t('channels.form.minLevel')}
            value={minLevel}
            onChange={setMinLevel}
            options={MIN_LEVELS.map((l) => ({ value: l, label: l ? t('channels.minLevel', { level: lt(`level.${l}`) }) : t('channels.form.anyLevel') }))}
          />
          <fieldset className="fieldset">
            <legend>{t('channels.form.events')}</legend>
            <div className="check">
              <input id="ev-all" type="checkbox" checked={events === null} onChange={(e) => setEvents(e.target.checked ? null : [...EVENTS])} />
              <label htmlFor="ev-all">{t('channels.allEvents')}</label>
            </div>
            {events !== null ? (
              <div className="checks-grid">
                {EVENTS.map((ev) => (
                  <div className="check" key={ev}>
                    <input
                      id={`ev-${ev}`}
                      type="checkbox"
                      checked={events.includes(ev)}
                      onChange={(e) => setEvents(e.target.checked ? [...events, ev] : events.filter((x) => x !== ev))}
                    />
                    <label htmlFor={`ev-${ev}`}>{lt(`event.${ev}`)}</label>
                  </div>
                ))}
              </div>
            ) : null}
          </fieldset>
        </div>
      </details>

      <div className="help-box">
        <h4>{t('channels.help.title')}</h4>
        <div className="segmented small" role="group" aria-label={t('channels.help.title')}>
          {HELP_TYPES.map((h) => (
            <button key={h} type="button" className={help === h ? 'seg active' : 'seg'} aria-pressed={help === h} onClick={() => setHelp(h)}>
              {lt(`channelType.${h}`)}
            </button>
          ))}
        </div>
        <ol className="steps">
          {(t(`channels.help.${help}.steps`, { returnObjects: true }) as string[]).map((step, i) => (
            <li key={i}>{step}</li>
          ))}
        </ol>
        <p className="hint">{t(`channels.help.${help}.note`)}</p>
      </div>

      <div className="actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? t('common.saving') : t('channels.form.submit')}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}
