import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { get, setCsrfToken, setUnauthorizedHandler } from './api';
import type { Role, SessionInfo } from './types';

// Who is signed in, their workspaces and the workspace the pages work on.
//
// A browser that never signed in here is sent to the login page without asking GET /session first: that request
// would answer 401, which the browser reports in its console as a failed resource. A small hint in localStorage
// ("signed in here before") decides whether to ask; a stale hint only costs one 401.

const HINT_KEY = 'balancewatch.signedIn';
const WS_KEY = 'balancewatch.workspace';

export type SessionState =
  | { status: 'loading' }
  | { status: 'setup' }
  | { status: 'anon' }
  | { status: 'error'; message: string }
  | { status: 'ready'; info: SessionInfo };

interface SessionApi {
  state: SessionState;
  info: SessionInfo | null;
  /** The workspace the settings pages work on (null when the user has none). */
  workspaceId: string | null;
  setWorkspaceId(id: string): void;
  role: Role | null;
  canEdit: boolean;
  /** Use a session body (from POST /session, /setup, /invites/accept). */
  signedIn(info: SessionInfo): void;
  signedOut(): void;
  refresh(): Promise<void>;
}

const Ctx = createContext<SessionApi | null>(null);

function readLocal(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
function writeLocal(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {}
}

/** Where a fresh page load stands: setup needed, signed in, or not. */
async function resolveSession(): Promise<SessionState> {
  try {
    const setup = await get<{ setup_required: boolean }>('/setup', { quiet401: true });
    if (setup.setup_required) return { status: 'setup' };
    if (readLocal(HINT_KEY) !== '1') return { status: 'anon' };
    return { status: 'ready', info: await get<SessionInfo>('/session', { quiet401: true }) };
  } catch (err) {
    if ((err as { status?: number }).status === 401) return { status: 'anon' };
    return { status: 'error', message: (err as Error).message };
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });
  const [workspaceId, setWs] = useState<string | null>(() => readLocal(WS_KEY));

  const apply = useCallback((info: SessionInfo) => {
    setCsrfToken(info.csrf_token);
    writeLocal(HINT_KEY, '1');
    setState({ status: 'ready', info });
  }, []);

  const signedOut = useCallback(() => {
    setCsrfToken(null);
    writeLocal(HINT_KEY, null);
    setState({ status: 'anon' });
  }, []);

  useEffect(() => {
    let live = true;
    void resolveSession().then((next) => {
      if (!live) return;
      if (next.status === 'ready') apply(next.info);
      else if (next.status === 'anon') signedOut();
      else setState(next);
    });
    return () => {
      live = false;
    };
  }, [apply, signedOut]);

  useEffect(() => {
    setUnauthorizedHandler(signedOut);
    return () => setUnauthorizedHandler(null);
  }, [signedOut]);

  const info = state.status === 'ready' ? state.info : null;
  const workspaces = info?.workspaces;
  const current = workspaces?.find((w) => w.id === workspaceId) ?? workspaces?.[0] ?? null;

  const value = useMemo<SessionApi>(
    () => ({
      state,
      info,
      workspaceId: current?.id ?? null,
      setWorkspaceId(id) {
        writeLocal(WS_KEY, id);
        setWs(id);
      },
      role: current?.role ?? null,
      canEdit: current?.role === 'admin',
      signedIn: apply,
      signedOut,
      async refresh() {
        try {
          apply(await get<SessionInfo>('/session'));
        } catch {}
      },
    }),
    [state, info, current, apply, signedOut],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): SessionApi {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
