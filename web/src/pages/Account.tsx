import { type FormEvent, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useLocation } from 'wouter';
import { del, errorMessage, patch, post, qs } from '../api';
import { BalanceChart } from '../components/BalanceChart';
import { SourceForm, SourceFormError, sourceBody, sourceValues, type SourceValues } from '../components/SourceForm';
import { accountTone, Amount, ConfirmButton, LevelBadge, levelTone, Loading, Notice, TextField } from '../components/ui';
import { formatDateTime, formatMoney, formatRelative, formatRunway } from '../format';
import { useApi, useNow } from '../hooks';
import { loose } from '../i18n';
import { useSession } from '../session';
import type { Account, Alert, Channel, Delivery, History, NotificationSettings, Page, PollResult } from '../types';

const RANGES = [
  { key: '24h', ms: 86_400_000 },
  { key: '7d', ms: 7 * 86_400_000 },
  { key: '30d', ms: 30 * 86_400_000 },
  { key: '90d', ms: 90 * 86_400_000 },
] as const;

export function AccountPage({ id }: { id: string }) {
  const { t } = useTranslation();
  const lt = loose(t);
  const s = useSession();
  const now = useNow();
  const acc = useApi<Account>(`/accounts/${encodeURIComponent(id)}`, { refreshMs: 30_000 });
  const a = acc.data;
  const ws = a?.workspace_id ?? null;
  const settings = useApi<NotificationSettings>(ws ? `/workspaces/${ws}/notification-settings` : null);
  const canEdit = s.info!.workspaces.find((w) => w.id === ws)?.role === 'admin';

  const [range, setRange] = useState<(typeof RANGES)[number]['key']>('7d');
  const [to, setTo] = useState(() => Date.now());
  // The chart follows new samples: the range ends at the newest sample when that is later than the last click.
  const observed = a?.observed_at ? Date.parse(a.observed_at) : 0;
  const end = Math.max(to, observed);
  const historyPath = useMemo(() => {
    const r = RANGES.find((x) => x.key === range)!;
    return `/accounts/${encodeURIComponent(id)}/history${qs({ from: new Date(end - r.ms).toISOString(), to: new Date(end + 60_000).toISOString(), points: 600 })}`;
  }, [id, range, end]);
  const history = useApi<History>(historyPath);

  if (acc.error && !a)
    return (
      <section className="page">
        <Breadcrumb name={id} />
        <Notice kind="error">{acc.error}</Notice>
      </section>
    );
  if (!a) return <Loading />;

  const tone = accountTone(a);
  const pulled = a.source.type !== 'push';
  const wsThreshold = settings.data?.low_balance_threshold ?? null;
  const ownThreshold = a.rules?.low_balance_threshold ?? null;
  const effective = ownThreshold ?? wsThreshold;
  const err = a.source.status?.last_error;

  return (
    <section className="page">
      <Breadcrumb name={a.name} />
      <div className="account-head card">
        <div className="account-title">
          <h1>{a.name}</h1>
          <LevelBadge tone={tone} />
        </div>
        <div className="big-balance num">
          <Amount value={a.balance} currency={a.currency} />
        </div>
        <dl className="facts">
          <div>
            <dt>{t('account.runway')}</dt>
            <dd className="num">{formatRunway(a.runway_days, lt)}</dd>
          </div>
          <div>
            <dt>{t('account.spendPerDay')}</dt>
            <dd className="num">{a.spend_per_day === null ? '—' : formatMoney(a.spend_per_day, a.currency)}</dd>
          </div>
          <div>
            <dt>{t('account.threshold')}</dt>
            <dd className="num">
              {effective === null ? '—' : formatMoney(effective, a.currency)}{' '}
              <span className="muted small">{ownThreshold !== null ? t('account.thresholdOwn') : t('account.thresholdWorkspace')}</span>
            </dd>
          </div>
          <div>
            <dt>{t('account.lastUpdate')}</dt>
            <dd>
              <time dateTime={a.observed_at ?? undefined} title={formatDateTime(a.observed_at)}>
                {a.observed_at ? formatRelative(a.observed_at, now) : t('overview.never')}
              </time>
            </dd>
          </div>
          <div>
            <dt>{t('account.sourceLabel')}</dt>
            <dd>
              {lt(`source.short.${a.source.type}`, { defaultValue: a.source.type })}
              {pulled && a.source.status?.last_poll_at ? (
                <span className="muted small"> · {t('account.lastPoll', { when: formatRelative(a.source.status.last_poll_at, now) })}</span>
              ) : null}
            </dd>
          </div>
        </dl>
        {err ? (
          <Notice kind="warning">
            {t('account.sourceFailing', { kind: lt(`errorKind.${err.kind}`, { defaultValue: err.kind }), message: err.message, count: a.source.status?.failures ?? 1 })}
          </Notice>
        ) : null}
        {pulled ? <PollNow account={a} onPolled={() => void acc.reload()} canEdit={canEdit} /> : null}
      </div>

      <div className="card">
        <div className="card-head">
          <h2>{t('account.chart.title')}</h2>
          <div className="segmented" role="group" aria-label={t('account.chart.range')}>
            {RANGES.map((r) => (
              <button
                key={r.key}
                type="button"
                className={range === r.key ? 'seg active' : 'seg'}
                aria-pressed={range === r.key}
                onClick={() => {
                  setRange(r.key);
                  setTo(Date.now());
                }}
              >
                {lt(`account.chart.ranges.${r.key}`)}
              </button>
            ))}
          </div>
        </div>
        {history.error ? <Notice kind="error">{history.error}</Notice> : null}
        {history.data ? <BalanceChart history={history.data} currency={a.currency} /> : history.error ? null : <Loading />}
        {history.data?.forecast.zero_at ? (
          <p className="muted small">{t('account.chart.zeroAt', { when: formatDateTime(history.data.forecast.zero_at) })}</p>
        ) : null}
      </div>

      <div className="grid-2">
        <SuggestedThreshold account={a} wsThreshold={wsThreshold} canEdit={canEdit} onChanged={(next) => acc.setData(next)} onReload={() => void history.reload()} />
        <AlertStates account={a} />
      </div>

      <NotificationHistory account={a} />

      {canEdit ? (
        <>
          <EditSource account={a} onSaved={(next) => acc.setData(next)} />
          <AccountDetails account={a} onSaved={(next) => acc.setData(next)} />
        </>
      ) : (
        <Notice kind="info">{t('common.readOnly')}</Notice>
      )}
    </section>
  );
}

function Breadcrumb({ name }: { name: string }) {
  const { t } = useTranslation();
  return (
    <nav className="breadcrumb" aria-label={t('common.breadcrumb')}>
      <Link href="/">{t('nav.overview')}</Link>
      <span aria-hidden="true"> / </span>
      <span aria-current="page">{name}</span>
    </nav>
  );
}

function PollNow({ account, onPolled, canEdit }: { account: Account; onPolled(): void; canEdit: boolean }) {
  const { t } = useTranslation();
  const lt = loose(t);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const poll = async () => {
    setBusy(true);
    setResult(null);
    try {
      const r = await post<PollResult>(`/accounts/${account.id}/poll`, {});
      if (r.ok) setResult({ kind: 'success', text: t('account.poll.ok', { balance: formatMoney(r.balance ?? null, r.currency ?? account.currency) }) });
      else setResult({ kind: 'error', text: t('account.poll.failed', { kind: lt(`errorKind.${r.error?.kind ?? 'error'}`, { defaultValue: r.error?.kind }), message: r.error?.message ?? '' }) });
      onPolled();
    } catch (err) {
      setResult({ kind: 'error', text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="inline-actions">
      <button type="button" className="btn" onClick={() => void poll()} disabled={busy || !canEdit}>
        {busy ? t('account.poll.busy') : t('account.poll.button')}
      </button>
      {result ? <Notice kind={result.kind}>{result.text}</Notice> : null}
    </div>
  );
}

function SuggestedThreshold({
  account,
  wsThreshold,
  canEdit,
  onChanged,
  onReload,
}: {
  account: Account;
  wsThreshold: number | null;
  canEdit: boolean;
  onChanged(a: Account): void;
  onReload(): void;
}) {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const own = account.rules?.low_balance_threshold ?? null;
  const suggested = account.suggested_threshold;

  const setRules = async (rules: Record<string, unknown> | null, success: string) => {
    setBusy(true);
    setMsg(null);
    try {
      onChanged(await patch<Account>(`/accounts/${account.id}`, { rules }));
      setMsg({ kind: 'success', text: success });
      onReload();
    } catch (err) {
      setMsg({ kind: 'error', text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };
  const otherRules = () => {
    const { low_balance_threshold: _drop, ...rest } = account.rules ?? {};
    return Object.keys(rest).length > 0 ? rest : null;
  };

  return (
    <div className="card">
      <h2>{t('account.suggest.title')}</h2>
      {suggested === null ? (
        <p className="muted">{t('account.suggest.none')}</p>
      ) : (
        <>
          <p className="big-number num">{formatMoney(suggested, account.currency)}</p>
          <p className="muted small">{t('account.suggest.why')}</p>
        </>
      )}
      <p className="small">
        {own !== null
          ? t('account.suggest.currentOwn', { value: formatMoney(own, account.currency), workspace: wsThreshold === null ? '—' : formatMoney(wsThreshold, account.currency) })
          : t('account.suggest.currentWorkspace', { value: wsThreshold === null ? '—' : formatMoney(wsThreshold, account.currency) })}
      </p>
      {canEdit ? (
        <div className="actions">
          {suggested !== null && suggested > 0 && suggested !== own ? (
            <button
              type="button"
              className="btn btn-primary"
              disabled={busy}
              onClick={() =>
                void setRules({ ...(account.rules ?? {}), low_balance_threshold: suggested }, t('account.suggest.applied', { value: formatMoney(suggested, account.currency) }))
              }
            >
              {t('account.suggest.apply', { value: formatMoney(suggested, account.currency) })}
            </button>
          ) : null}
          {own !== null ? (
            <button type="button" className="btn" disabled={busy} onClick={() => void setRules(otherRules(), t('account.suggest.resetDone'))}>
              {t('account.suggest.reset')}
            </button>
          ) : null}
        </div>
      ) : null}
      {msg ? <Notice kind={msg.kind}>{msg.text}</Notice> : null}
    </div>
  );
}

function AlertStates({ account }: { account: Account }) {
  const { t } = useTranslation();
  const lt = loose(t);
  const alerts = useApi<Page<Alert>>(`/alerts${qs({ workspace_id: account.workspace_id, account_id: account.id, limit: 50 })}`);
  return (
    <div className="card">
      <h2>{t('account.alerts.title')}</h2>
      {alerts.error ? <Notice kind="error">{alerts.error}</Notice> : null}
      {!alerts.data ? (
        alerts.error ? null : <Loading />
      ) : alerts.data.data.length === 0 ? (
        <p className="muted">{t('account.alerts.none')}</p>
      ) : (
        <ul className="alert-list">
          {alerts.data.data.map((al) => (
            <li key={al.id}>
              <span className="alert-rule">{lt(`rule.${al.rule}`, { defaultValue: al.rule })}</span>
              {al.state === 'firing' ? <LevelBadge tone={levelTone(al.level ?? 'warning')} /> : <LevelBadge tone="ok" />}
              <span className="muted small">
                {al.state === 'firing'
                  ? t('account.alerts.firingSince', { when: formatDateTime(al.fired_at), episode: al.episode })
                  : al.resolved_at
                    ? t('account.alerts.resolvedAt', { when: formatDateTime(al.resolved_at) })
                    : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function NotificationHistory({ account }: { account: Account }) {
  const { t } = useTranslation();
  const lt = loose(t);
  const list = useApi<Page<Delivery>>(`/deliveries${qs({ workspace_id: account.workspace_id, account_id: account.id, limit: 30 })}`);
  const channels = useApi<Page<Channel>>(`/channels${qs({ workspace_id: account.workspace_id })}`);
  const names = new Map((channels.data?.data ?? []).map((c) => [c.id, c.name]));
  return (
    <div className="card">
      <div className="card-head">
        <h2>{t('account.history.title')}</h2>
        <Link href={`/deliveries`}>{t('account.history.all')}</Link>
      </div>
      {list.error ? <Notice kind="error">{list.error}</Notice> : null}
      {!list.data ? (
        list.error ? null : <Loading />
      ) : list.data.data.length === 0 ? (
        <p className="muted">{t('account.history.none')}</p>
      ) : (
        <div className="table-wrap">
          <table className="table stack-on-phone">
            <thead>
              <tr>
                <th scope="col">{t('deliveries.col.time')}</th>
                <th scope="col">{t('deliveries.col.event')}</th>
                <th scope="col">{t('deliveries.col.channel')}</th>
                <th scope="col">{t('deliveries.col.status')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((d) => (
                <tr key={d.id}>
                  <td data-label={t('deliveries.col.time')}>{formatDateTime(d.created_at)}</td>
                  <td data-label={t('deliveries.col.event')}>
                    {lt(`event.${d.event}`, { defaultValue: d.event })} {d.level ? <LevelBadge tone={levelTone(d.level)} /> : null}
                  </td>
                  <td data-label={t('deliveries.col.channel')}>{d.channel_id ? (names.get(d.channel_id) ?? d.channel_id) : t('deliveries.noChannel')}</td>
                  <td data-label={t('deliveries.col.status')}>
                    <span className={`status status-${d.status}`}>{lt(`deliveries.status.${d.status}`)}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function EditSource({ account, onSaved }: { account: Account; onSaved(a: Account): void }) {
  const { t } = useTranslation();
  const [values, setValues] = useState<SourceValues>(() => sourceValues(account.source));
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMsg(null);
    let body: Record<string, unknown>;
    try {
      body = sourceBody(values, account.source, loose(t));
    } catch (err) {
      if (err instanceof SourceFormError) return setMsg({ kind: 'error', text: err.message });
      throw err;
    }
    setBusy(true);
    try {
      const next = await patch<Account>(`/accounts/${account.id}`, { source: body });
      onSaved(next);
      setValues(sourceValues(next.source));
      setMsg({ kind: 'success', text: t('account.source.saved') });
    } catch (err) {
      setMsg({ kind: 'error', text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="edit-source-title">
      <h2 id="edit-source-title">{t('account.source.title')}</h2>
      {account.source.type === 'push' ? <PushHelp account={account} /> : null}
      <SourceForm values={values} onChange={setValues} stored={account.source} />
      <div className="actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t('account.source.save')}
        </button>
      </div>
      {msg ? <Notice kind={msg.kind}>{msg.text}</Notice> : null}
    </form>
  );
}

function PushHelp({ account }: { account: Account }) {
  const { t } = useTranslation();
  const ref = account.external_id ? `"account":"${account.external_id}","workspace":"${account.workspace_id}"` : `"account":"${account.id}"`;
  const example = `curl -X POST ${window.location.origin}/api/v1/balances \\
  -H "Authorization: Bearer $BALANCEWATCH_KEY" -H "Content-Type: application/json" \\
  -d '{"samples":[{${ref},"balance":12.30}]}'`;
  return (
    <div className="help">
      <p>{t('account.source.pushHelp')}</p>
      <pre className="code">{example}</pre>
    </div>
  );
}

function AccountDetails({ account, onSaved }: { account: Account; onSaved(a: Account): void }) {
  const { t } = useTranslation();
  const [, navigate] = useLocation();
  const [name, setName] = useState(account.name);
  const [topUp, setTopUp] = useState(account.top_up_url ?? '');
  const [externalId, setExternalId] = useState(account.external_id ?? '');
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setMsg(null);
    try {
      const next = await patch<Account>(`/accounts/${account.id}`, {
        name: name.trim(),
        top_up_url: topUp.trim() || null,
        external_id: externalId.trim() || null,
      });
      onSaved(next);
      setMsg({ kind: 'success', text: t('common.saved') });
    } catch (err) {
      setMsg({ kind: 'error', text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    try {
      await del(`/accounts/${account.id}`);
      navigate('/');
    } catch (err) {
      setMsg({ kind: 'error', text: errorMessage(err) });
    }
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="details-title">
      <h2 id="details-title">{t('account.details.title')}</h2>
      <div className="form-grid">
        <TextField label={t('account.details.name')} required value={name} onChange={setName} />
        <TextField label={`${t('overview.add.externalId')} (${t('common.optional')})`} value={externalId} onChange={setExternalId} />
        <TextField
          label={`${t('account.details.topUp')} (${t('common.optional')})`}
          type="url"
          value={topUp}
          onChange={setTopUp}
          placeholder="https://…"
          hint={t('account.details.topUpHint')}
          className="span-2"
        />
      </div>
      <div className="actions spread">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t('common.save')}
        </button>
        <ConfirmButton confirmLabel={t('account.details.deleteConfirm')} onConfirm={remove}>
          {t('account.details.delete')}
        </ConfirmButton>
      </div>
      {msg ? <Notice kind={msg.kind}>{msg.text}</Notice> : null}
    </form>
  );
}
