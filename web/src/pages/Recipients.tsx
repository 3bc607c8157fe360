import { type FormEvent, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { del, errorMessage, patch, post } from '../api';
import { ConfirmButton, CopyButton, Loading, Notice, SelectField, TextField } from '../components/ui';
import { useApi } from '../hooks';
import { useSession } from '../session';
import type { Member, Page, Role } from '../types';

// The workspace's people: admins get the alerts by email (when SMTP is configured and "email the admins" is on);
// viewers can look but not change anything. New members get an invite link.

export function RecipientsSection({ workspaceId, canEdit }: { workspaceId: string; canEdit: boolean }) {
  const { t } = useTranslation();
  const s = useSession();
  const list = useApi<Page<Member>>(`/workspaces/${workspaceId}/members`);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('admin');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [invite, setInvite] = useState<{ email: string; url: string | null } | null>(null);

  const roleOptions = [
    { value: 'admin', label: t('members.role.admin') },
    { value: 'viewer', label: t('members.role.viewer') },
  ];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setInvite(null);
    try {
      const r = await post<{ user_id: string; email: string; role: Role; invite_url?: string }>(`/workspaces/${workspaceId}/members`, { email: email.trim(), role });
      setInvite({ email: r.email, url: r.invite_url ?? null });
      setEmail('');
      await list.reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const changeRole = async (m: Member, next: Role) => {
    setError(null);
    try {
      await patch(`/workspaces/${workspaceId}/members/${m.user_id}`, { role: next });
      await list.reload();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const remove = async (m: Member) => {
    setError(null);
    try {
      await del(`/workspaces/${workspaceId}/members/${m.user_id}`);
      await list.reload();
    } catch (err) {
      setError(errorMessage(err));
    }
  };

  return (
    <section className="card stack" aria-labelledby="recipients-title">
      <div>
        <h2 id="recipients-title">{t('members.title')}</h2>
        <p className="muted small">{t('members.intro')}</p>
      </div>
      {list.error ? <Notice kind="error">{list.error}</Notice> : null}
      {!list.data && !list.error ? <Loading /> : null}
      {list.data ? (
        list.data.data.length === 0 ? (
          <p className="muted">
            {t('members.none')} {s.info!.user.is_admin ? t('members.instanceAdmin') : null}
          </p>
        ) : (
          <div className="table-wrap">
            <table className="table stack-on-phone">
              <thead>
                <tr>
                  <th scope="col">{t('members.col.person')}</th>
                  <th scope="col">{t('members.col.role')}</th>
                  <th scope="col">
                    <span className="sr-only">{t('common.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.data.map((m) => {
                  const self = m.user_id === s.info!.user.id;
                  return (
                    <tr key={m.user_id}>
                      <td data-label={t('members.col.person')}>
                        <span className="strong">{m.name || m.email}</span>
                        {m.name ? <span className="sub">{m.email}</span> : null}
                        {m.invited ? <span className="tag">{t('members.invited')}</span> : null}
                        {self ? <span className="tag">{t('members.you')}</span> : null}
                      </td>
                      <td data-label={t('members.col.role')}>
                        {canEdit && !self ? (
                          <SelectField
                            className="inline-field compact"
                            label={t('members.roleFor', { email: m.email })}
                            value={m.role}
                            onChange={(v) => void changeRole(m, v as Role)}
                            options={roleOptions}
                          />
                        ) : (
                          t(`members.role.${m.role}`)
                        )}
                      </td>
                      <td className="cell-actions" data-label="">
                        {canEdit && !self ? (
                          <ConfirmButton confirmLabel={t('members.removeConfirm')} onConfirm={() => remove(m)}>
                            {t('members.remove')}
                          </ConfirmButton>
                        ) : null}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )
      ) : null}

      {canEdit ? (
        <form className="inline-form" onSubmit={submit} aria-labelledby="invite-title">
          <h3 id="invite-title">{t('members.inviteTitle')}</h3>
          <div className="form-row">
            <TextField label={t('auth.email')} type="email" required value={email} onChange={setEmail} placeholder="ops@example.com" />
            <SelectField label={t('members.col.role')} value={role} onChange={(v) => setRole(v as Role)} options={roleOptions} />
            <button type="submit" className="btn" disabled={busy}>
              {t('members.invite')}
            </button>
          </div>
          <Notice kind="error">{error}</Notice>
          {invite ? (
            <Notice kind="success">
              {invite.url ? (
                <>
                  {t('members.invitedLink', { email: invite.email })}
                  <span className="secret-once">
                    <code>{invite.url}</code>
                    <CopyButton text={invite.url} />
                  </span>
                </>
              ) : (
                t('members.invitedMail', { email: invite.email })
              )}
            </Notice>
          ) : null}
        </form>
      ) : null}
    </section>
  );
}
