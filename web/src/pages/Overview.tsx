import { type FormEvent, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useLocation } from 'wouter';
import { errorMessage, get, post, qs } from '../api';
import { SourceForm, SourceFormError, sourceBody, type SourceValues } from '../components/SourceForm';
import { accountTone, EmptyState, LevelBadge, Loading, Notice, SelectField, Sparkline, TextField, type Tone } from '../components/ui';
import { Amount } from '../components/ui';
import { formatDateTime, formatRelative, formatRunway } from '../format';
import { useNow } from '../hooks';
import { loose } from '../i18n';
import { useSession } from '../session';
import type { Account, Page, Workspace } from '../types';

const REFRESH_MS = 30_000;
const SEVERITY: Record<Tone, number> = { depleted: 5, critical: 4, warning: 3, info: 2, nodata: 1, ok: 0, muted: 0 };

async function loadAccounts(workspaceIds: string[]): Promise<Account[]> {
  const pages = await Promise.all(
    workspaceIds.map(async (ws) => {
      const out: Account[] = [];
      let cursor: string | null | undefined;
      do {
        const page = await get<Page<Account>>(`/accounts${qs({ workspace_id: ws, include: 'sparkline', limit: 1000, cursor })}`);
        out.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor);
      return out;
    }),
  );
  return pages.flat();
}

export function OverviewPage() {
  const { t } = useTranslation();
  const s = useSession();
  const now = useNow(15_000);
  const workspaces = s.info!.workspaces;
  const [filter, setFilter] = useState<string>('all');
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const [adding, setAdding] = useState(false);

  const [tick, setTick] = useState(0);
  const refresh = () => setTick((n) => n + 1);
  const idsKey = (filter === 'all' ? workspaces.map((w) => w.id) : [filter]).join(',');

  // Loads now, on "Refresh" (tick) and every 30 s while the tab is visible.
  useEffect(() => {
    let live = true;
    const run = () =>
      loadAccounts(idsKey ? idsKey.split(',') : []).then(
        (list) => {
          if (!live) return;
          setAccounts(list);
          setError(null);
          setLoadedAt(Date.now());
        },
        (err: unknown) => {
          if (live) setError(errorMessage(err));
        },
      );
    void run();
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') void run();
    }, REFRESH_MS);
    return () => {
      live = false;
      window.clearInterval(id);
    };
  }, [idsKey, tick]);

  if (workspaces.length === 0) return <NoWorkspace />;

  const wsName = new Map(workspaces.map((w) => [w.id, w.name]));
  const sorted = [...(accounts ?? [])].sort((a, b) => {
    const d = SEVERITY[accountTone(b)] - SEVERITY[accountTone(a)];
    if (d !== 0) return d;
    const ra = a.runway_days ?? Infinity;
    const rb = b.runway_days ?? Infinity;
    if (ra !== rb) return ra - rb;
    return a.name.localeCompare(b.name);
  });
  const alerting = sorted.filter((a) => SEVERITY[accountTone(a)] >= 2).length;
  const failing = sorted.filter((a) => a.source.status?.last_error).length;
  const addTarget = filter === 'all' ? s.workspaceId : filter;
  const canAdd = workspaces.find((w) => w.id === addTarget)?.role === 'admin';

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>{t('overview.title')}</h1>
          <p className="muted" aria-live="polite">
            {loadedAt ? t('overview.updated', { when: formatRelative(new Date(loadedAt).toISOString(), now) }) : ' '}
          </p>
        </div>
        <div className="head-actions">
          {workspaces.length > 1 ? (
            <SelectField
              className="inline-field"
              label={t('overview.filterWorkspace')}
              value={filter}
              onChange={(v) => {
                setAccounts(null);
                setFilter(v);
              }}
              options={[{ value: 'all', label: t('overview.allWorkspaces') }, ...workspaces.map((w) => ({ value: w.id, label: w.name }))]}
            />
          ) : null}
          <button type="button" className="btn" onClick={refresh}>
            {t('overview.refresh')}
          </button>
          {canAdd ? (
            <button type="button" className="btn btn-primary" onClick={() => setAdding((a) => !a)} aria-expanded={adding}>
              {t('overview.addAccount')}
            </button>
          ) : null}
        </div>
      </div>

      {adding && addTarget ? (
        <AddAccount
          workspaceId={addTarget}
          workspaceName={wsName.get(addTarget) ?? ''}
          onDone={() => {
            setAdding(false);
            refresh();
          }}
        />
      ) : null}

      <Notice kind="error">{error}</Notice>

      {accounts === null && !error ? <Loading /> : null}

      {accounts !== null ? (
        <>
          <div className="stats" role="group" aria-label={t('overview.summary')}>
            <div className="stat">
              <span className="stat-label">{t('overview.stat.accounts')}</span>
              <span className="stat-value num">{sorted.length}</span>
            </div>
            <div className={alerting > 0 ? 'stat stat-alert' : 'stat'}>
              <span className="stat-label">{t('overview.stat.alerting')}</span>
              <span className="stat-value num">{alerting}</span>
            </div>
            <div className={failing > 0 ? 'stat stat-warn' : 'stat'}>
              <span className="stat-label">{t('overview.stat.sourceErrors')}</span>
              <span className="stat-value num">{failing}</span>
            </div>
          </div>
          {sorted.length === 0 ? (
            <EmptyState title={t('overview.empty.title')}>
              <p>{t('overview.empty.text')}</p>
            </EmptyState>
          ) : (
            <AccountTable accounts={sorted} now={now} wsName={workspaces.length > 1 && filter === 'all' ? wsName : null} />
          )}
        </>
      ) : null}
    </section>
  );
}

function AccountTable({ accounts, now, wsName }: { accounts: Account[]; now: number; wsName: Map<string, string> | null }) {
  const { t } = useTranslation();
  const lt = loose(t);
  return (
    <div className="table-wrap">
      <table className="table stack-on-phone accounts-table">
        <thead>
          <tr>
            <th scope="col">{t('overview.col.account')}</th>
            <th scope="col">{t('overview.col.status')}</th>
            <th scope="col" className="num">
              {t('overview.col.balance')}
            </th>
            <th scope="col" className="num">
              {t('overview.col.runway')}
            </th>
            <th scope="col" className="num">
              {t('overview.col.spend')}
            </th>
            <th scope="col">{t('overview.col.trend')}</th>
            <th scope="col">{t('overview.col.updated')}</th>
          </tr>
        </thead>
        <tbody>
          {accounts.map((a) => {
            const tone = accountTone(a);
            const err = a.source.status?.last_error;
            return (
              <tr key={a.id} className={`row-${tone}`}>
                <td data-label={t('overview.col.account')} className="cell-account">
                  <Link href={`/accounts/${a.id}`} className="account-link">
                    {a.name}
                  </Link>
                  <span className="sub">
                    {wsName ? `${wsName.get(a.workspace_id) ?? ''} · ` : ''}
                    {lt(`source.short.${a.source.type}`, { defaultValue: a.source.type })}
                    {a.external_id ? ` · ${a.external_id}` : ''}
                  </span>
                  {err ? (
                    <span className="source-error" title={err.message}>
                      {t('overview.sourceError', { kind: lt(`errorKind.${err.kind}`, { defaultValue: err.kind }), message: err.message })}
                    </span>
                  ) : null}
                </td>
                <td data-label={t('overview.col.status')}>
                  <LevelBadge tone={tone} />
                </td>
                <td data-label={t('overview.col.balance')} className="num balance">
                  <Amount value={a.balance} currency={a.currency} />
                </td>
                <td data-label={t('overview.col.runway')} className="num">
                  {a.runway_days === null ? <span className="muted">—</span> : formatRunway(a.runway_days, lt)}
                </td>
                <td data-label={t('overview.col.spend')} className="num">
                  {a.spend_per_day === null ? (
                    <span className="muted">—</span>
                  ) : (
                    <span className="nowrap">
                      <Amount value={a.spend_per_day} currency={a.currency} />
                      <span className="unit">{t('common.perDayUnit')}</span>
                    </span>
                  )}
                </td>
                <td data-label={t('overview.col.trend')} className="cell-spark">
                  <Sparkline values={a.sparkline ?? []} tone={tone} label={t('overview.sparkLabel', { name: a.name })} />
                </td>
                <td data-label={t('overview.col.updated')}>
                  <time dateTime={a.observed_at ?? undefined} title={formatDateTime(a.observed_at)}>
                    {a.observed_at ? formatRelative(a.observed_at, now) : t('overview.never')}
                  </time>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function AddAccount({ workspaceId, workspaceName, onDone }: { workspaceId: string; workspaceName: string; onDone(): void }) {
  const { t } = useTranslation();
  const [, navigate] = useLocation();
  const [name, setName] = useState('');
  const [currency, setCurrency] = useState('USD');
  const [externalId, setExternalId] = useState('');
  const [source, setSource] = useState<SourceValues>({ type: 'push' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    let src: Record<string, unknown>;
    try {
      src = sourceBody(source, null, loose(t));
    } catch (err) {
      if (err instanceof SourceFormError) return setError(err.message);
      throw err;
    }
    setBusy(true);
    try {
      const a = await post<Account>('/accounts', {
        workspace_id: workspaceId,
        name: name.trim(),
        currency: currency.trim() || 'USD',
        ...(externalId.trim() ? { external_id: externalId.trim() } : {}),
        source: src,
      });
      onDone();
      navigate(`/accounts/${a.id}`);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="add-account-title">
      <h2 id="add-account-title">{t('overview.add.title', { workspace: workspaceName })}</h2>
      <Notice kind="error">{error}</Notice>
      <div className="form-grid">
        <TextField label={t('overview.add.name')} required value={name} onChange={setName} placeholder="DeepSeek prod" />
        <TextField label={t('overview.add.currency')} required value={currency} onChange={setCurrency} hint={t('overview.add.currencyHint')} />
        <TextField label={`${t('overview.add.externalId')} (${t('common.optional')})`} value={externalId} onChange={setExternalId} hint={t('overview.add.externalIdHint')} className="span-2" />
      </div>
      <SourceForm values={source} onChange={setSource} stored={null} />
      <div className="actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {t('overview.add.submit')}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onDone}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}

function NoWorkspace() {
  const { t } = useTranslation();
  const s = useSession();
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const w = await post<Workspace>('/workspaces', { name: name.trim(), locale: document.documentElement.lang === 'zh-CN' ? 'zh-CN' : 'en', time_zone: tz });
      s.setWorkspaceId(w.id);
      await s.refresh();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="page narrow">
      <h1>{t('overview.noWorkspace.title')}</h1>
      {s.info!.user.is_admin ? (
        <form className="card stack" onSubmit={submit}>
          <p>{t('overview.noWorkspace.text')}</p>
          <Notice kind="error">{error}</Notice>
          <TextField label={t('workspace.name')} required value={name} onChange={setName} placeholder="Acme" />
          <div className="actions">
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {t('overview.noWorkspace.create')}
            </button>
          </div>
        </form>
      ) : (
        <p>{t('overview.noWorkspace.askAdmin')}</p>
      )}
    </section>
  );
}
