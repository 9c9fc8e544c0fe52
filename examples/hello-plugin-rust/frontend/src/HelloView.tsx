// hello-rust's dashboard view: a greeting and a counter kept in the plugin's KV store.

import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { type ToruApi, callJson, countOf, messageOf } from './api';

type Work = (signal: AbortSignal) => Promise<void>;

export function HelloView({ api }: { api: ToruApi }) {
  const [greeting, setGreeting] = useState<string | null>(null);
  const [count, setCount] = useState<number | null>(null);
  const [busy, setBusy] = useState(true);
  const [error, setError] = useState<string | null>(null);
  // Aborted on unmount: cancels requests in flight and drops their late results.
  const lifetime = useRef<AbortController | null>(null);
  const labelId = useId();

  /** Runs one request-making action with the buttons disabled; reports its failure. */
  const run = useCallback(
    async (work: Work) => {
      const signal = lifetime.current?.signal;
      if (!signal || signal.aborted) return;
      setBusy(true);
      setError(null);
      try {
        await work(signal);
      } catch (e) {
        if (signal.aborted) return; // unmounted meanwhile: nobody to tell
        const message = e instanceof Error && e.message ? e.message : String(e);
        setError(message);
        api.showToast(message, 'error');
      } finally {
        if (!signal.aborted) setBusy(false);
      }
    },
    [api],
  );

  const load = useCallback(
    () =>
      run(async (signal) => {
        const [hello, current] = await Promise.all([
          callJson(api, '/greeting', {}, signal),
          callJson(api, '/counter', {}, signal),
        ]);
        if (signal.aborted) return;
        setGreeting(messageOf(hello));
        setCount(countOf(current));
      }),
    [api, run],
  );

  const post = (path: string, after?: () => void) => () =>
    run(async (signal) => {
      const next = countOf(await callJson(api, path, { method: 'POST' }, signal));
      if (signal.aborted) return;
      setCount(next);
      after?.();
    });

  useEffect(() => {
    const controller = new AbortController();
    lifetime.current = controller;
    void load();
    return () => controller.abort();
  }, [load]);

  const loaded = count !== null;

  if (!loaded && error === null) {
    return (
      <p className="hr-muted" data-testid="loading" role="status">
        Loading…
      </p>
    );
  }

  const problem = error !== null && (
    <p className="hr-error" role="alert" data-testid="error">
      <span>{error}</span>
      {!loaded && (
        <button
          type="button"
          className="hr-button"
          data-testid="retry"
          disabled={busy}
          onClick={() => void load()}
        >
          Retry
        </button>
      )}
    </p>
  );

  if (!loaded) {
    // The first load failed: say so instead of showing an empty view.
    return (
      <section aria-label="Hello (Rust)" aria-busy={busy}>
        <p className="hr-muted">Could not load the counter.</p>
        {problem}
      </section>
    );
  }

  return (
    <section aria-label="Hello (Rust)" aria-busy={busy} className="hr-view">
      <p className="hr-greeting" data-testid="greeting">
        {greeting}
      </p>
      <div className="hr-counter">
        <span id={labelId}>Counter:</span>
        <output className="hr-value" data-testid="counter-value" aria-labelledby={labelId} aria-live="polite">
          {count}
        </output>
        <button
          type="button"
          className="hr-button"
          data-testid="increment"
          disabled={busy}
          onClick={post('/counter/increment')}
        >
          Increment
        </button>
        <button
          type="button"
          className="hr-button"
          data-testid="reset"
          disabled={busy}
          onClick={post('/counter/reset', () => api.showToast('Counter reset', 'success'))}
        >
          Reset
        </button>
      </div>
      {problem}
    </section>
  );
}
