import { Fragment, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'wouter';
import { errorMessage, get, qs } from '../api';
import { EmptyState, LevelBadge, levelTone, Loading, Notice, SelectField } from '../components/ui';
import { formatDateTime, formatDurationMs } from '../format';
import { useApi } from '../hooks';
import { loose } from '../i18n';
import { useSession } from '../session';
import type { Account, Channel, Delivery, Page } from '../types';

const STATUSES = ['', 'pending', 'delivered', 'dead', 'suppressed'] as const;

export function DeliveriesPage() {
  const { t } = useTranslation();
  const lt = loose(t);
  const s = useSession();
  const ws = s.workspaceId;
  const [status, setStatus] = useState<string>('');
  const [rows, setRows] = useState<Delivery[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const channels = useApi<Page<Channel>>(ws ? `/channels${qs({ workspace_id: ws })}` : null);
  const accounts = useApi<Page<Account>>(ws ? `/accounts${qs({ workspace_id: ws, limit: 1000 })}` : null);
  const chName = new Map((channels.data?.data ?? []).map((c) => [c.id, c.name]));
  const accName = new Map((accounts.data?.data ?? []).map((a) => [a.id, a.name]));

  const [tick, setTick] = useState(0);
  const fetchPage = (after: string | null) =>
    get<Page<Delivery>>(`/deliveries${qs({ workspace_id: ws ?? undefined, status: status || undefined, limit: 50, cursor: after ?? undefined })}`);

  // The first page: now, when the filter changes and on "Refresh" (tick).
  useEffect(() => {
    if (!ws) return;
    let live = true;
    get<Page<Delivery>>(`/deliveries${qs({ workspace_id: ws, status: status || undefined, limit: 50 })}`).then(
      (page) => {
        if (!live) return;
        setRows(page.data);
        setCursor(page.next_cursor ?? null);
        setError(null);
      },
      (err: unknown) => {
        if (live) setError(errorMessage(err));
      },
    );
    return () => {
      live = false;
    };
  }, [ws, status, tick]);

  const more = async () => {
    if (!cursor) return;
    setBusy(true);
    try {
      const page = await fetchPage(cursor);
      setRows((prev) => [...(prev ?? []), ...page.data]);
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  if (!ws)
    return (
      <section className="page">
        <h1>{t('deliveries.title')}</h1>
        <p>{t('common.noWorkspace')}</p>
      </section>
    );

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>{t('deliveries.title')}</h1>
          <p className="muted">{t('deliveries.intro')}</p>
        </div>
        <div className="head-actions">
          <SelectField
            className="inline-field"
            label={t('deliveries.filterStatus')}
            value={status}
            onChange={(v) => {
              setRows(null);
              setStatus(v);
            }}
            options={STATUSES.map((st) => ({ value: st, label: st ? lt(`deliveries.status.${st}`) : t('deliveries.allStatuses') }))}
          />
          <button type="button" className="btn" onClick={() => setTick((n) => n + 1)}>
            {t('overview.refresh')}
          </button>
        </div>
      </div>
      <Notice kind="error">{error}</Notice>
      {rows === null && !error ? <Loading /> : null}
      {rows && rows.length === 0 ? (
        <EmptyState title={t('deliveries.empty.title')}>
          <p>{t('deliveries.empty.text')}</p>
        </EmptyState>
      ) : null}
      {rows && rows.length > 0 ? (
        <div className="table-wrap">
          <table className="table stack-on-phone deliveries-table">
            <thead>
              <tr>
                <th scope="col">{t('deliveries.col.time')}</th>
                <th scope="col">{t('deliveries.col.event')}</th>
                <th scope="col">{t('deliveries.col.channel')}</th>
                <th scope="col">{t('deliveries.col.status')}</th>
                <th scope="col" className="num">
                  {t('deliveries.col.attempts')}
                </th>
                <th scope="col">{t('deliveries.col.answer')}</th>
                <th scope="col">{t('deliveries.col.timing')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => {
                const bad = d.status === 'dead' || (d.status === 'pending' && d.attempts > 0);
                const answer = d.last_error ?? d.last_response ?? '';
                const expanded = open === d.id;
                return (
                  <Fragment key={d.id}>
                    <tr className={bad ? `row-bad row-${d.status}` : undefined}>
                      <td data-label={t('deliveries.col.time')}>
                        <time dateTime={d.created_at}>{formatDateTime(d.created_at)}</time>
                      </td>
                      <td data-label={t('deliveries.col.event')}>
                        <span className="strong">{lt(`event.${d.event}`, { defaultValue: d.event })}</span> {d.level ? <LevelBadge tone={levelTone(d.level)} /> : null}
                        {d.account_id ? (
                          <span className="sub">
                            <Link href={`/accounts/${d.account_id}`}>{accName.get(d.account_id) ?? d.account_id}</Link>
                          </span>
                        ) : null}
                      </td>
                      <td data-label={t('deliveries.col.channel')}>{d.channel_id ? (chName.get(d.channel_id) ?? d.channel_id) : t('deliveries.noChannel')}</td>
                      <td data-label={t('deliveries.col.status')}>
                        <span className={`status status-${d.status}`}>{lt(`deliveries.status.${d.status}`)}</span>
                        {d.deferred ? <span className="sub">{t('deliveries.deferred')}</span> : null}
                      </td>
                      <td data-label={t('deliveries.col.attempts')} className="num">
                        {d.attempts}
                      </td>
                      <td data-label={t('deliveries.col.answer')} className="cell-answer">
                        <span className="answer-lines">
                          {d.last_status_code !== null || d.last_response ? (
                            <span className="answer-line">
                              {d.last_status_code !== null ? <span className="num code-pill">HTTP {d.last_status_code}</span> : null}
                              {d.last_response ? (
                                <span className="answer" title={d.last_response}>
                                  {d.last_response}
                                </span>
                              ) : null}
                            </span>
                          ) : null}
                          {d.last_error ? (
                            <span className="answer error-text" title={d.last_error}>
                              {d.last_error}
                            </span>
                          ) : null}
                          {!answer && d.last_status_code === null ? <span className="muted">—</span> : null}
                        </span>
                      </td>
                      <td data-label={t('deliveries.col.timing')}>
                        <Timing d={d} />
                        {d.attempt_log.length > 0 ? (
                          <button type="button" className="btn btn-link btn-sm" aria-expanded={expanded} onClick={() => setOpen(expanded ? null : d.id)}>
                            {expanded ? t('deliveries.hideAttempts') : t('deliveries.showAttempts', { count: d.attempt_log.length })}
                          </button>
                        ) : null}
                      </td>
                    </tr>
                    {expanded ? (
                      <tr className="attempts-row">
                        <td colSpan={7}>
                          <ol className="attempts">
                            {d.attempt_log.map((at, i) => (
                              <li key={i}>
                                <span className="num">{formatDateTime(at.at)}</span>
                                <span className={`status status-${at.outcome === 'delivered' ? 'delivered' : at.outcome === 'suppressed' ? 'suppressed' : at.outcome === 'retry' ? 'pending' : 'dead'}`}>
                                  {lt(`deliveries.outcome.${at.outcome}`, { defaultValue: at.outcome })}
                                </span>
                                {at.status_code !== null ? <span className="num">HTTP {at.status_code}</span> : null}
                                <span className="num muted">{formatDurationMs(at.duration_ms)}</span>
                                {at.error || at.response ? <code className="answer-text">{at.error ?? at.response}</code> : null}
                              </li>
                            ))}
                          </ol>
                        </td>
                      </tr>
                    ) : null}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {cursor ? (
        <div className="actions">
          <button type="button" className="btn" onClick={() => void more()} disabled={busy}>
            {t('deliveries.more')}
          </button>
        </div>
      ) : null}
    </section>
  );
}

function Timing({ d }: { d: Delivery }) {
  const { t } = useTranslation();
  if (d.delivered_at)
    return (
      <span className="small">
        {t('deliveries.deliveredAfter', { d: formatDurationMs(new Date(d.delivered_at).getTime() - new Date(d.created_at).getTime()) })}
      </span>
    );
  if (d.status === 'pending' && d.next_attempt_at) return <span className="small">{t('deliveries.nextAttempt', { when: formatDateTime(d.next_attempt_at) })}</span>;
  return <span className="muted">—</span>;
}
