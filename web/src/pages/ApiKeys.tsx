import { type FormEvent, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { del, errorMessage, post } from '../api';
import { ConfirmButton, CopyButton, EmptyState, Loading, Notice, TextField } from '../components/ui';
import { formatDateTime } from '../format';
import { useApi } from '../hooks';
import { useSession } from '../session';
import type { ApiKey, CreatedApiKey, Page } from '../types';

// Workspace API keys: the key is shown once, right after it is created (only its hash is stored), and can be revoked.

export function ApiKeysPage() {
  const { t } = useTranslation();
  const s = useSession();
  const ws = s.workspaceId;
  const list = useApi<Page<ApiKey>>(ws ? `/workspaces/${ws}/api-keys` : null);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);

  if (!ws)
    return (
      <section className="page">
        <h1>{t('keys.title')}</h1>
        <p>{t('common.noWorkspace')}</p>
      </section>
    );

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const k = await post<CreatedApiKey>(`/workspaces/${ws}/api-keys`, { name: name.trim() || 'api key' });
      setCreated(k);
      setName('');
      await list.reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (k: ApiKey) => {
    setError(null);
    try {
      await del(`/api-keys/${k.id}`);
      await list.reload();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const keys = list.data?.data ?? [];

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>{t('keys.title')}</h1>
          <p className="muted">{t('keys.intro')}</p>
        </div>
      </div>
      {s.canEdit ? (
        <form className="card stack" onSubmit={create} aria-labelledby="new-key-title">
          <h2 id="new-key-title">{t('keys.newTitle')}</h2>
          <div className="form-row">
            <TextField label={t('keys.name')} value={name} onChange={setName} placeholder={t('keys.namePlaceholder')} required />
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {t('keys.create')}
            </button>
          </div>
          {created ? (
            <div className="notice notice-warning secret-box" role="status">
              <strong>{t('keys.onceTitle')}</strong>
              <p>{t('keys.onceText')}</p>
              <span className="secret-once">
                <code className="secret-value">{created.key}</code>
                <CopyButton text={created.key} />
              </span>
            </div>
          ) : null}
        </form>
      ) : (
        <Notice kind="info">{t('common.readOnly')}</Notice>
      )}
      <Notice kind="error">{error ?? list.error}</Notice>
      {!list.data && !list.error ? <Loading /> : null}
      {list.data && keys.length === 0 ? <EmptyState title={t('keys.empty')} /> : null}
      {keys.length > 0 ? (
        <div className="table-wrap">
          <table className="table stack-on-phone">
            <thead>
              <tr>
                <th scope="col">{t('keys.col.name')}</th>
                <th scope="col">{t('keys.col.prefix')}</th>
                <th scope="col">{t('keys.col.created')}</th>
                <th scope="col">{t('keys.col.lastUsed')}</th>
                <th scope="col">{t('keys.col.state')}</th>
                <th scope="col">
                  <span className="sr-only">{t('common.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.id} className={k.revoked_at ? 'row-revoked' : undefined}>
                  <td data-label={t('keys.col.name')} className="strong">
                    {k.name}
                  </td>
                  <td data-label={t('keys.col.prefix')}>
                    <code>{k.prefix}…</code>
                  </td>
                  <td data-label={t('keys.col.created')}>{formatDateTime(k.created_at)}</td>
                  <td data-label={t('keys.col.lastUsed')}>{k.last_used_at ? formatDateTime(k.last_used_at) : t('keys.neverUsed')}</td>
                  <td data-label={t('keys.col.state')}>
                    {k.revoked_at ? <span className="status status-dead">{t('keys.revokedAt', { when: formatDateTime(k.revoked_at) })}</span> : <span className="status status-delivered">{t('keys.active')}</span>}
                  </td>
                  <td className="cell-actions" data-label="">
                    {s.canEdit && !k.revoked_at ? (
                      <ConfirmButton confirmLabel={t('keys.revokeConfirm')} onConfirm={() => revoke(k)}>
                        {t('keys.revoke')}
                      </ConfirmButton>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
