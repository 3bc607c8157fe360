import { type FormEvent, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useLocation } from 'wouter';
import { errorMessage, post } from '../api';
import { Notice, TextField } from '../components/ui';
import { useSession } from '../session';
import type { SessionInfo } from '../types';

export function LoginPage() {
  const { t } = useTranslation();
  const s = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      s.signedIn(await post<SessionInfo>('/session', { email: email.trim(), password }, { quiet401: true }));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack" onSubmit={submit} aria-labelledby="login-title">
      <h1 id="login-title">{t('auth.login.title')}</h1>
      <p className="muted">{t('auth.login.intro')}</p>
      <Notice kind="error">{error}</Notice>
      <TextField label={t('auth.email')} type="email" autoComplete="username" required value={email} onChange={setEmail} />
      <TextField label={t('auth.password')} type="password" autoComplete="current-password" required value={password} onChange={setPassword} />
      <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
        {busy ? t('auth.login.busy') : t('auth.login.submit')}
      </button>
    </form>
  );
}

export function SetupPage() {
  const { t } = useTranslation();
  const s = useSession();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (password.length < 10) {
      setError(t('auth.passwordTooShort'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      s.signedIn(await post<SessionInfo>('/setup', { email: email.trim(), password, ...(name.trim() ? { name: name.trim() } : {}) }, { quiet401: true }));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack" onSubmit={submit} aria-labelledby="setup-title">
      <h1 id="setup-title">{t('auth.setup.title')}</h1>
      <p className="muted">{t('auth.setup.intro')}</p>
      <Notice kind="error">{error}</Notice>
      <TextField label={t('auth.name')} autoComplete="name" value={name} onChange={setName} />
      <TextField label={t('auth.email')} type="email" autoComplete="username" required value={email} onChange={setEmail} />
      <TextField
        label={t('auth.password')}
        type="password"
        autoComplete="new-password"
        required
        minLength={10}
        value={password}
        onChange={setPassword}
        hint={t('auth.passwordHint')}
      />
      <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
        {busy ? t('auth.setup.busy') : t('auth.setup.submit')}
      </button>
    </form>
  );
}

export function AcceptInvitePage({ token }: { token: string }) {
  const { t } = useTranslation();
  const s = useSession();
  const [, navigate] = useLocation();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (password.length < 10) {
      setError(t('auth.passwordTooShort'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const info = await post<SessionInfo>('/invites/accept', { token, password, ...(name.trim() ? { name: name.trim() } : {}) }, { quiet401: true });
      s.signedIn(info);
      navigate('/', { replace: true });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack" onSubmit={submit} aria-labelledby="invite-title">
      <h1 id="invite-title">{t('auth.invite.title')}</h1>
      <p className="muted">{t('auth.invite.intro')}</p>
      <Notice kind="error">{error}</Notice>
      <TextField label={t('auth.name')} autoComplete="name" value={name} onChange={setName} />
      <TextField
        label={t('auth.password')}
        type="password"
        autoComplete="new-password"
        required
        minLength={10}
        value={password}
        onChange={setPassword}
        hint={t('auth.passwordHint')}
      />
      <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
        {busy ? t('auth.invite.busy') : t('auth.invite.submit')}
      </button>
    </form>
  );
}
