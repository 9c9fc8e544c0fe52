// Dashboard users: the list (name, role, state, created), and for administrators adding a user,
// resetting a password, disabling or enabling, and deleting (after a confirmation). What the
// daemon refuses (the last enabled administrator, a taken name) is shown in its own words.

import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { Dialog } from '../components/Dialog';
import { Spinner } from '../components/Spinner';
import * as api from '../lib/api';
import type { Role, User } from '../lib/api';
import { READ_ONLY_REASON, useReadOnly } from '../lib/role';
import { useToast } from '../lib/toast';

/** What a failed call says, for a notice. */
function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A creation time as people read it, in their locale. */
function created(unixMs: number): string {
  return new Date(unixMs).toLocaleString();
}

type Pending = { kind: 'delete' | 'password'; user: User } | { kind: 'add' } | null;

export function UsersPage() {
  const readOnly = useReadOnly();
  const toast = useToast();
  const [users, setUsers] = useState<User[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [dialog, setDialog] = useState<Pending>(null);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      setUsers(await api.listUsers(signal));
      setLoadError(null);
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') return;
      setLoadError(reason(e));
    }
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  /** Runs one change for `username`, showing its refusal, and reloads the list. */
  const change = async (username: string, work: () => Promise<unknown>, done: string): Promise<boolean> => {
    setBusy(username);
    setError(null);
    try {
      await work();
      toast(done, 'success');
      await load();
      return true;
    } catch (e) {
      setError(reason(e));
      return false;
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="page" data-testid="users-page">
      <header className="page-header">
        <div>
          <h1 className="page-title">Users</h1>
          <p className="page-subtitle">Who may use this dashboard. Viewers see everything and change nothing.</p>
        </div>
        <div className="page-actions">
          <button
            type="button"
            className="button button-primary"
            onClick={() => {
              setError(null);
              setDialog({ kind: 'add' });
            }}
            disabled={readOnly}
            title={readOnly ? READ_ONLY_REASON : undefined}
            aria-haspopup="dialog"
            data-testid="user-add"
          >
            Add user
          </button>
        </div>
      </header>

      {error ? (
        <div className="notice notice-error" role="alert" data-testid="users-error">
          {error}
        </div>
      ) : null}
      {loadError ? (
        <div className="notice notice-error" role="alert">
          Could not load the users: {loadError}
        </div>
      ) : null}
      {users === null ? (
        loadError ? null : <Spinner label="Loading users…" />
      ) : (
        <div className="panel users-panel">
          <table className="users-table" data-testid="users-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((user) => (
                <tr key={user.username} data-testid={`user-row-${user.username}`}>
                  <td className="mono">{user.username}</td>
                  <td data-testid={`user-role-${user.username}`}>{user.role}</td>
                  <td>
                    <span className={`badge ${user.disabled ? 'badge-failed' : 'badge-running'}`} data-testid={`user-state-${user.username}`}>
                      {user.disabled ? 'disabled' : 'enabled'}
                    </span>
                  </td>
                  <td>{created(user.created_at_unix_ms)}</td>
                  <td>
                    <div className="users-actions">
                      <button
                        type="button"
                        className="button button-small"
                        disabled={readOnly || busy !== null}
                        title={readOnly ? READ_ONLY_REASON : undefined}
                        onClick={() => {
                          setError(null);
                          setDialog({ kind: 'password', user });
                        }}
                        aria-haspopup="dialog"
                        data-testid={`user-password-${user.username}`}
                      >
                        Reset password
                      </button>
                      <button
                        type="button"
                        className="button button-small"
                        disabled={readOnly || busy !== null}
                        title={readOnly ? READ_ONLY_REASON : undefined}
                        onClick={() =>
                          void change(
                            user.username,
                            () => api.setUserDisabled(user.username, !user.disabled),
                            `${user.username} ${user.disabled ? 'enabled' : 'disabled'}`,
                          )
                        }
                        data-testid={`user-toggle-${user.username}`}
                      >
                        {user.disabled ? 'Enable' : 'Disable'}
                      </button>
                      <button
                        type="button"
                        className="button button-small button-danger"
                        disabled={readOnly || busy !== null}
                        title={readOnly ? READ_ONLY_REASON : undefined}
                        onClick={() => setDialog({ kind: 'delete', user })}
                        aria-haspopup="dialog"
                        data-testid={`user-delete-${user.username}`}
                      >
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {dialog?.kind === 'delete' ? (
        <Dialog title={`Delete ${dialog.user.username}?`} onClose={() => setDialog(null)} testId="user-delete-dialog">
          <div className="confirm">
            <p>
              {dialog.user.username} can no longer log in, and any session of theirs ends at once. To keep the account but
              lock it, disable it instead.
            </p>
            <div className="details-buttons confirm-buttons">
              <button type="button" className="button" onClick={() => setDialog(null)} data-testid="user-delete-cancel">
                Cancel
              </button>
              <button
                type="button"
                className="button button-danger"
                onClick={() => {
                  const { username } = dialog.user;
                  setDialog(null);
                  void change(username, () => api.deleteUser(username), `${username} deleted`);
                }}
                data-testid="user-delete-confirm"
              >
                Delete user
              </button>
            </div>
          </div>
        </Dialog>
      ) : null}
      {dialog?.kind === 'password' ? (
        <PasswordDialog
          user={dialog.user}
          error={error}
          onClose={() => setDialog(null)}
          onSubmit={(password) =>
            change(dialog.user.username, () => api.setUserPassword(dialog.user.username, password), `Password of ${dialog.user.username} changed`)
          }
        />
      ) : null}
      {dialog?.kind === 'add' ? (
        <AddUserDialog
          error={error}
          onClose={() => setDialog(null)}
          onSubmit={(username, password, role) => change(username, () => api.createUser(username, password, role), `${username} added`)}
        />
      ) : null}
    </div>
  );
}

/** A password field with its label. */
function PasswordField({ value, onChange, testId }: { value: string; onChange(v: string): void; testId: string }) {
  return (
    <label className="field">
      <span className="field-label">Password (at least 8 characters)</span>
      <input type="password" autoComplete="new-password" minLength={8} required value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId} />
    </label>
  );
}

/** The daemon's refusal, inside a dialog (the page's notice is behind it). */
function DialogError({ error }: { error: string | null }) {
  return error ? (
    <p className="notice notice-error" role="alert" data-testid="user-dialog-error">
      {error}
    </p>
  ) : null;
}

interface AddUserProps {
  error: string | null;
  onClose(): void;
  onSubmit(username: string, password: string, role: Role): Promise<boolean>;
}

function AddUserDialog({ error, onClose, onSubmit }: AddUserProps) {
  const roleId = useId();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('admin');
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await onSubmit(username.trim(), password, role)) onClose();
  };
  return (
    <Dialog title="Add a user" onClose={onClose} testId="user-add-dialog">
      <form className="confirm" onSubmit={(event) => void submit(event)}>
        <label className="field">
          <span className="field-label">User name</span>
          <input autoComplete="off" required value={username} onChange={(e) => setUsername(e.target.value)} data-testid="user-add-name" />
        </label>
        <PasswordField value={password} onChange={setPassword} testId="user-add-password" />
        <div className="field-inline">
          <label className="field-label" htmlFor={roleId}>
            Role
          </label>
          <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)} data-testid="user-add-role">
            <option value="admin">admin: sees and changes everything</option>
            <option value="viewer">viewer: sees everything, changes nothing</option>
          </select>
        </div>
        <DialogError error={error} />
        <div className="details-buttons confirm-buttons">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" data-testid="user-add-submit">
            Add user
          </button>
        </div>
      </form>
    </Dialog>
  );
}

interface PasswordProps {
  user: User;
  error: string | null;
  onClose(): void;
  onSubmit(password: string): Promise<boolean>;
}

function PasswordDialog({ user, error, onClose, onSubmit }: PasswordProps) {
  const [password, setPassword] = useState('');
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await onSubmit(password)) onClose();
  };
  return (
    <Dialog title={`New password for ${user.username}`} onClose={onClose} testId="user-password-dialog">
      <form className="confirm" onSubmit={(event) => void submit(event)}>
        <p>Their sessions end; they log in again with the new password.</p>
        <PasswordField value={password} onChange={setPassword} testId="user-password-input" />
        <DialogError error={error} />
        <div className="details-buttons confirm-buttons">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" data-testid="user-password-submit">
            Set password
          </button>
        </div>
      </form>
    </Dialog>
  );
}
