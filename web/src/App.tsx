import { type ReactNode, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { del } from './api';
import { Loading, Notice } from './components/ui';
import { AccountPage } from './pages/Account';
import { ApiKeysPage } from './pages/ApiKeys';
import { DeliveriesPage } from './pages/Deliveries';
import { AcceptInvitePage, LoginPage, SetupPage } from './pages/Auth';
import { NotificationsPage } from './pages/Notifications';
import { OverviewPage } from './pages/Overview';
import { WorkspacePage } from './pages/Workspace';
import { useSession } from './session';

export function App() {
  const { state } = useSession();
  const [location] = useLocation();
  const { t } = useTranslation();

  useEffect(() => {
    document.title = `${t('app.name')}`;
  }, [t]);

  if (location.startsWith('/invite/')) {
    return (
      <AuthFrame>
        <Route path="/invite/:token">{(p) => <AcceptInvitePage token={p.token} />}</Route>
      </AuthFrame>
    );
  }
  switch (state.status) {
    case 'loading':
      return (
        <AuthFrame>
          <Loading />
        </AuthFrame>
      );
    case 'error':
      return (
        <AuthFrame>
          <Notice kind="error">{t('app.unreachable', { message: state.message })}</Notice>
          <button type="button" className="btn" onClick={() => window.location.reload()}>
            {t('common.retry')}
          </button>
        </AuthFrame>
      );
    case 'setup':
      return (
        <AuthFrame>
          <SetupPage />
        </AuthFrame>
      );
    case 'anon':
      return (
        <AuthFrame>
          <LoginPage />
        </AuthFrame>
      );
    case 'ready':
      return (
        <Shell>
          <Switch>
            <Route path="/" component={OverviewPage} />
            <Route path="/accounts/:id">{(p) => <AccountPage id={p.id} />}</Route>
            <Route path="/notifications" component={NotificationsPage} />
            <Route path="/deliveries" component={DeliveriesPage} />
            <Route path="/api-keys" component={ApiKeysPage} />
            <Route path="/workspace" component={WorkspacePage} />
            <Route path="/login">
              <Redirect to={new URLSearchParams(window.location.search).get('next') ?? '/'} replace />
            </Route>
            <Route path="/setup">
              <Redirect to="/" replace />
            </Route>
            <Route>
              <section className="page">
                <h1>{t('app.notFound')}</h1>
                <Link href="/">{t('nav.overview')}</Link>
              </section>
            </Route>
          </Switch>
        </Shell>
      );
  }
}

export function LanguageSwitch() {
  const { i18n, t } = useTranslation();
  const zh = i18n.language === 'zh-CN';
  return (
    <button
      type="button"
      className="btn btn-ghost btn-sm lang-switch"
      lang={zh ? 'en' : 'zh-CN'}
      title={t('app.switchLanguage')}
      onClick={() => void i18n.changeLanguage(zh ? 'en' : 'zh-CN')}
    >
      {zh ? 'English' : '中文'}
    </button>
  );
}

function AuthFrame({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  return (
    <div className="auth-frame">
      <header className="auth-top">
        <span className="brand">
          <span className="brand-mark" aria-hidden="true" />
          {t('app.name')}
        </span>
        <LanguageSwitch />
      </header>
      <main className="auth-card">{children}</main>
    </div>
  );
}

function NavLink({ href, children, onClick }: { href: string; children: ReactNode; onClick?: () => void }) {
  const [location] = useLocation();
  const active = href === '/' ? location === '/' || location.startsWith('/accounts/') : location.startsWith(href);
  return (
    <Link href={href} className={active ? 'nav-link active' : 'nav-link'} aria-current={active ? 'page' : undefined} onClick={onClick}>
      {children}
    </Link>
  );
}

function Shell({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  const s = useSession();
  const [location, navigate] = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const info = s.info!;
  // The picker chooses the workspace of the settings pages; the overview filters on its own, an account has its own.
  const scoped = ['/notifications', '/deliveries', '/api-keys', '/workspace'].some((p) => location.startsWith(p));
  const close = () => setMenuOpen(false);
  const signOut = async () => {
    try {
      await del('/session');
    } catch {}
    s.signedOut();
    navigate('/');
  };
  return (
    <div className="shell">
      <header className="topbar">
        <div className="topbar-inner">
          <Link href="/" className="brand" onClick={close}>
            <span className="brand-mark" aria-hidden="true" />
            {t('app.name')}
          </Link>
          <button type="button" className="btn btn-ghost btn-sm menu-toggle" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((o) => !o)}>
            {menuOpen ? t('nav.closeMenu') : t('nav.menu')}
          </button>
          <nav id="main-nav" className={menuOpen ? 'nav open' : 'nav'} aria-label={t('nav.label')}>
            <NavLink href="/" onClick={close}>
              {t('nav.overview')}
            </NavLink>
            <NavLink href="/notifications" onClick={close}>
              {t('nav.notifications')}
            </NavLink>
            <NavLink href="/deliveries" onClick={close}>
              {t('nav.deliveries')}
            </NavLink>
            <NavLink href="/api-keys" onClick={close}>
              {t('nav.apiKeys')}
            </NavLink>
            <NavLink href="/workspace" onClick={close}>
              {t('nav.workspace')}
            </NavLink>
          </nav>
          <div className={menuOpen ? 'topbar-tools open' : 'topbar-tools'}>
            {info.workspaces.length > 1 && scoped ? <WorkspacePicker /> : null}
            <LanguageSwitch />
            <span className="user" title={info.user.email}>
              {info.user.name || info.user.email}
            </span>
            <button type="button" className="btn btn-ghost btn-sm" onClick={() => void signOut()}>
              {t('nav.signOut')}
            </button>
          </div>
        </div>
      </header>
      <main className="content">{children}</main>
    </div>
  );
}

function WorkspacePicker() {
  const { t } = useTranslation();
  const s = useSession();
  const id = 'workspace-picker';
  return (
    <span className="ws-picker">
      <label htmlFor={id}>{t('nav.workspaceLabel')}</label>
      <select id={id} value={s.workspaceId ?? ''} onChange={(e) => s.setWorkspaceId(e.target.value)}>
        {s.info!.workspaces.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name}
          </option>
        ))}
      </select>
    </span>
  );
}
