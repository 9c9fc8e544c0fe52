// Toasts: short messages in a polite live region at the bottom right. Errors stay longer and
// are announced assertively.

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

export type ToastKind = 'info' | 'success' | 'warning' | 'error';

export interface Toast {
  id: number;
  message: string;
  kind: ToastKind;
}

type ShowToast = (message: string, kind?: ToastKind) => void;

const ToastContext = createContext<ShowToast>(() => {
  // Outside a provider (some unit tests): drop it.
});

/** How long a toast stays, in ms. */
const LIFETIME: Record<ToastKind, number> = { info: 5000, success: 4000, warning: 8000, error: 10000 };
/** Most toasts shown at once; older ones make room. */
const MAX_TOASTS = 4;

export function useToast(): ShowToast {
  return useContext(ToastContext);
}

function asKind(kind: unknown): ToastKind {
  return kind === 'success' || kind === 'warning' || kind === 'error' ? kind : 'info';
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);
  const timers = useRef(new Map<number, ReturnType<typeof setTimeout>>());

  const dismiss = useCallback((id: number) => {
    const timer = timers.current.get(id);
    if (timer) clearTimeout(timer);
    timers.current.delete(id);
    setToasts((all) => all.filter((t) => t.id !== id));
  }, []);

  const show = useCallback<ShowToast>(
    (message, kind) => {
      const toast: Toast = { id: nextId.current++, message: String(message), kind: asKind(kind) };
      setToasts((all) => [...all, toast].slice(-MAX_TOASTS));
      timers.current.set(
        toast.id,
        setTimeout(() => dismiss(toast.id), LIFETIME[toast.kind]),
      );
    },
    [dismiss],
  );

  useEffect(() => {
    const all = timers.current;
    return () => {
      for (const timer of all.values()) clearTimeout(timer);
      all.clear();
    };
  }, []);

  const value = useMemo(() => show, [show]);
  return (
    <ToastContext.Provider value={value}>
      {children}
      <div className="toasts" role="region" aria-label="Notifications" data-testid="toasts">
        <div aria-live="polite" aria-relevant="additions" className="toasts-polite">
          {toasts
            .filter((t) => t.kind !== 'error')
            .map((t) => (
              <ToastView key={t.id} toast={t} onClose={() => dismiss(t.id)} />
            ))}
        </div>
        <div aria-live="assertive" aria-relevant="additions" className="toasts-assertive">
          {toasts
            .filter((t) => t.kind === 'error')
            .map((t) => (
              <ToastView key={t.id} toast={t} onClose={() => dismiss(t.id)} />
            ))}
        </div>
      </div>
    </ToastContext.Provider>
  );
}

const ICON: Record<ToastKind, string> = { info: 'i', success: '✓', warning: '!', error: '✕' };

function ToastView({ toast, onClose }: { toast: Toast; onClose: () => void }) {
  return (
    <div className={`toast toast-${toast.kind}`} data-testid={`toast-${toast.kind}`}>
      <span className="toast-icon" aria-hidden="true">
        {ICON[toast.kind]}
      </span>
      <p className="toast-message">{toast.message}</p>
      <button type="button" className="icon-button toast-close" onClick={onClose} aria-label="Dismiss notification">
        ×
      </button>
    </div>
  );
}
