import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage, get } from './api';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload(): Promise<void>;
  setData(next: T | ((prev: T | null) => T | null)): void;
}

/** GETs `path` (null: nothing to load yet) and again when it changes; `reload` re-fetches in place. */
export function useApi<T>(path: string | null, opts: { refreshMs?: number } = {}): Loaded<T> {
  // The answer is kept with the path it belongs to: a new path shows nothing (loading) until its own answer.
  const [state, setState] = useState<{ path: string | null; data: T | null; error: string | null }>({ path: null, data: null, error: null });
  const seq = useRef(0);

  const fetchIt = useCallback(async (p: string | null, signal?: AbortSignal) => {
    if (p === null) return;
    const mine = ++seq.current;
    try {
      const d = await get<T>(p, { signal });
      if (mine === seq.current) setState({ path: p, data: d, error: null });
    } catch (err) {
      if ((err as Error).name === 'AbortError' || mine !== seq.current) return;
      setState((s) => ({ path: p, data: s.path === p ? s.data : null, error: errorMessage(err) }));
    }
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    void fetchIt(path, ac.signal);
    return () => ac.abort();
  }, [path, fetchIt]);

  useEffect(() => {
    if (!opts.refreshMs || path === null) return;
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') void fetchIt(path);
    }, opts.refreshMs);
    return () => window.clearInterval(id);
  }, [path, opts.refreshMs, fetchIt]);

  const reload = useCallback(() => fetchIt(path), [path, fetchIt]);
  const current = state.path === path;
  const setData = useCallback(
    (next: T | ((prev: T | null) => T | null)) =>
      setState((s) => {
        const prev = s.path === path ? s.data : null;
        return { path, data: typeof next === 'function' ? (next as (p: T | null) => T | null)(prev) : next, error: null };
      }),
    [path],
  );
  return {
    data: current ? state.data : null,
    error: current ? state.error : null,
    loading: path !== null && !current,
    reload,
    setData,
  };
}

/** A value that re-renders every `ms` (relative times stay fresh). */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(id);
  }, [ms]);
  return now;
}
