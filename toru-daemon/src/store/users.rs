//! Web UI users and their login sessions (the `users` and `sessions` tables).
//!
//! The store only keeps what it is given: password hashing and token generation belong to the
//! auth layer. Sessions are looked up by the *hash* of their token, so a leaked database does
//! not hand out live sessions.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, Row, ToSql, Transaction, TransactionBehavior};
use toru_api::Role;

use super::{Error, OpError, Store, now_unix_ms};

/// A web UI account. `Debug` leaves out the password hash, and there is deliberately no
/// `Serialize`, so the hash cannot end up in a log line or an API response by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Row id, referenced by sessions.
    pub id: i64,
    /// The login name; unique.
    pub username: String,
    /// The password hash as produced by the auth layer (e.g. a PHC string).
    pub password_hash: String,
    /// When the account was created, in ms since the Unix epoch.
    pub created_at_unix_ms: i64,
    /// What the user may do.
    pub role: Role,
    /// A disabled user cannot log in and has no sessions.
    pub disabled: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("created_at_unix_ms", &self.created_at_unix_ms)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// The columns [`user_from_row`] reads, in order (a macro so queries can `concat!` it).
macro_rules! user_columns {
    () => {
        "users.id, users.username, users.password_hash, users.created_at, users.role, \
         users.disabled"
    };
}

/// How many columns [`user_columns!`] names.
const USER_COLUMNS: usize = 6;

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        created_at_unix_ms: row.get(3)?,
        role: row.get::<_, StoredRole>(4)?.0,
        disabled: row.get(5)?,
    })
}

/// A [`Role`] as the `users.role` column holds it: its wire name (`admin`, `viewer`), which
/// the column's CHECK constraint limits to those two.
struct StoredRole(Role);

impl StoredRole {
    fn name(role: Role) -> &'static str {
        match role {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl ToSql for StoredRole {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(Self::name(self.0)))
    }
}

impl FromSql for StoredRole {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "admin" => Ok(StoredRole(Role::Admin)),
            "viewer" => Ok(StoredRole(Role::Viewer)),
            other => Err(FromSqlError::Other(
                format!("unknown role {other:?}").into(),
            )),
        }
    }
}

/// What an administrator does to a user, for the last-admin rule ([`Store::change_user`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Delete the user and their sessions.
    Delete,
    /// Disable (`true`) or enable (`false`) the user; disabling ends their sessions.
    SetDisabled(bool),
    /// Give the user this role; their sessions stay, with the new role from the next request.
    SetRole(Role),
}

impl UserChange {
    /// Whether `user` stops being an enabled administrator by this change.
    fn removes_an_admin(self, user: &User) -> bool {
        let enabled_admin = user.role == Role::Admin && !user.disabled;
        enabled_admin
            && match self {
                UserChange::Delete | UserChange::SetDisabled(true) => true,
                UserChange::SetDisabled(false) => false,
                UserChange::SetRole(role) => role != Role::Admin,
            }
    }

    /// Whether the user's sessions end with this change.
    fn ends_sessions(self) -> bool {
        matches!(self, UserChange::Delete | UserChange::SetDisabled(true))
    }
}

/// The user named `username`, read in `tx`.
fn user_in(tx: &Transaction<'_>, username: &str) -> rusqlite::Result<Option<User>> {
    tx.prepare_cached(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username = ?1"
    ))?
    .query_row([username], user_from_row)
    .optional()
}

impl Store {
    /// Creates a user. Fails with [`Error::UserExists`] if the name is taken, in any ASCII
    /// case: `erin` cannot be created next to `Erin`, so two accounts never look alike in a
    /// list, a log line or the login limiter (which counts names in lower case).
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, Error> {
        let (username, password_hash) = (username.to_owned(), password_hash.to_owned());
        self.call("create_user", None, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let taken = tx
                .prepare_cached("SELECT username FROM users WHERE username = ?1 COLLATE NOCASE")?
                .query_row([&username], |row| row.get::<_, String>(0))
                .optional()?;
            if let Some(existing) = taken {
                return Err(OpError::Done(Error::UserExists { username: existing }));
            }
            let created_at_unix_ms = now_unix_ms();
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO users (username, password_hash, created_at, role) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute((
                    &username,
                    &password_hash,
                    created_at_unix_ms,
                    StoredRole(role),
                ));
            let user = match inserted {
                Ok(_) => User {
                    id: tx.last_insert_rowid(),
                    username,
                    password_hash,
                    created_at_unix_ms,
                    role,
                    disabled: false,
                },
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                {
                    return Err(OpError::Done(Error::UserExists { username }));
                }
                Err(e) => return Err(e.into()),
            };
            tx.commit()?;
            Ok(user)
        })
        .await
    }

    /// Looks a user up by login name (exact, case-sensitive).
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, Error> {
        let username = username.to_owned();
        self.call("user_by_name", None, move |conn| {
            Ok(conn
                .prepare_cached(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE username = ?1"
                ))?
                .query_row([&username], user_from_row)
                .optional()?)
        })
        .await
    }

    /// Replaces a user's password hash and, in the same transaction, ends all of that user's
    /// sessions (a password change must lock out whoever knew the old one). Returns whether the
    /// user exists.
    pub async fn set_password(&self, username: &str, password_hash: &str) -> Result<bool, Error> {
        let (username, password_hash) = (username.to_owned(), password_hash.to_owned());
        let inner = self.inner.clone();
        self.call("set_password", None, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(id) = tx
                .prepare_cached(
                    "UPDATE users SET password_hash = ?2 WHERE username = ?1 RETURNING id",
                )?
                .query_row((&username, &password_hash), |row| row.get::<_, i64>(0))
                .optional()?
            else {
                return Ok(false);
            };
            tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                .execute([id])?;
            tx.commit()?;
            inner.sessions().remove_user(id);
            Ok(true)
        })
        .await
    }

    /// All users, sorted by username, for the account management page.
    pub async fn list_users(&self) -> Result<Vec<User>, Error> {
        self.call("list_users", None, |conn| {
            Ok(conn
                .prepare_cached(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users ORDER BY username"
                ))?
                .query_map([], user_from_row)?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deletes a user; their sessions go with them (`ON DELETE CASCADE`). Returns whether the
    /// user existed; [`Error::LastAdmin`] for the last enabled administrator.
    pub async fn delete_user(&self, username: &str) -> Result<bool, Error> {
        Ok(self
            .change_user(username, UserChange::Delete)
            .await?
            .is_some())
    }

    /// Applies `change` to the user named `username` and returns the user as they are after
    /// it (as they were, for a delete), or `None` when there is no such user. A change that
    /// would leave no enabled administrator is refused with [`Error::LastAdmin`], decided in
    /// the same `IMMEDIATE` transaction as the change, so two administrators removing each
    /// other at once cannot both succeed. Deleting or disabling ends the user's sessions in
    /// that transaction, and forgets them in the session cache under the connection's lock;
    /// a role change forgets them there too, so the next request reads the new role.
    pub async fn change_user(
        &self,
        username: &str,
        change: UserChange,
    ) -> Result<Option<User>, Error> {
        let username = username.to_owned();
        let inner = self.inner.clone();
        self.call("change_user", None, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut user) = user_in(&tx, &username)? else {
                return Ok(None);
            };
            if change.removes_an_admin(&user) {
                let enabled_admins: i64 = tx
                    .prepare_cached(
                        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
                    )?
                    .query_row([], |row| row.get(0))?;
                if enabled_admins <= 1 {
                    return Err(OpError::Done(Error::LastAdmin { username }));
                }
            }
            match change {
                UserChange::Delete => {
                    tx.prepare_cached("DELETE FROM users WHERE id = ?1")?
                        .execute([user.id])?;
                }
                UserChange::SetDisabled(disabled) => {
                    tx.prepare_cached("UPDATE users SET disabled = ?2 WHERE id = ?1")?
                        .execute((user.id, disabled))?;
                    user.disabled = disabled;
                }
                UserChange::SetRole(role) => {
                    tx.prepare_cached("UPDATE users SET role = ?2 WHERE id = ?1")?
                        .execute((user.id, StoredRole(role)))?;
                    user.role = role;
                }
            }
            if change.ends_sessions() {
                tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                    .execute([user.id])?;
            }
            tx.commit()?;
            inner.sessions().remove_user(user.id);
            Ok(Some(user))
        })
        .await
    }

    /// A user changing their own password: replaces the hash and ends every other session of
    /// theirs, keeping `current_session` (the one asking). Returns whether the user exists.
    pub async fn change_own_password(
        &self,
        user_id: i64,
        password_hash: &str,
        current_session: [u8; 32],
    ) -> Result<bool, Error> {
        let password_hash = password_hash.to_owned();
        let inner = self.inner.clone();
        self.call("change_own_password", None, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx
                .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
                .execute((user_id, &password_hash))?;
            tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2")?
                .execute((user_id, &current_session[..]))?;
            tx.commit()?;
            inner.sessions().remove_user(user_id);
            Ok(changed > 0)
        })
        .await
    }

    /// Records a new login session for `user_id`, identified by the SHA-256 (or similar) hash
    /// of its token. Fails if the user does not exist.
    pub async fn insert_session(
        &self,
        token_hash: [u8; 32],
        user_id: i64,
        expires_at_unix_ms: i64,
    ) -> Result<(), Error> {
        self.call("insert_session", None, move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((&token_hash[..], user_id, now_unix_ms(), expires_at_unix_ms))?;
            Ok(())
        })
        .await
    }

    /// The user a session token hash belongs to, if the session exists and has not expired by
    /// `now_unix_ms` (expiry is exclusive: a session expiring exactly now is dead).
    ///
    /// Every authenticated request asks this, so a session found valid is remembered
    /// (`session_cache.rs`) and later answered from memory, without the blocking pool.
    pub async fn session_user(
        &self,
        token_hash: [u8; 32],
        now_unix_ms: i64,
    ) -> Result<Option<User>, Error> {
        if let Some(user) = self.inner.sessions().get(&token_hash, now_unix_ms) {
            return Ok(Some(user));
        }
        let inner = self.inner.clone();
        self.call("session_user", None, move |conn| {
            let found = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    user_columns!(),
                    ", sessions.expires_at FROM sessions JOIN users ON users.id = sessions.user_id \
                     WHERE sessions.token_hash = ?1 AND sessions.expires_at > ?2 \
                     AND users.disabled = 0"
                ))?
                .query_row((&token_hash[..], now_unix_ms), |row| {
                    Ok((user_from_row(row)?, row.get::<_, i64>(USER_COLUMNS)?))
                })
                .optional()?;
            Ok(found.map(|(user, expires_at)| {
                // Under the connection's lock, so no logout can slip in between.
                inner
                    .sessions()
                    .insert(token_hash, user.clone(), expires_at);
                user
            }))
        })
        .await
    }

    /// Ends one session (logout). Returns whether it existed.
    pub async fn delete_session(&self, token_hash: [u8; 32]) -> Result<bool, Error> {
        let inner = self.inner.clone();
        self.call("delete_session", None, move |conn| {
            let deleted = conn
                .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                .execute([&token_hash[..]])?;
            inner.sessions().remove(&token_hash);
            Ok(deleted > 0)
        })
        .await
    }

    /// Deletes every session that has expired by `now_unix_ms`, returning how many; for a
    /// periodic cleanup.
    pub async fn delete_expired_sessions(&self, now_unix_ms: i64) -> Result<usize, Error> {
        self.call("delete_expired_sessions", None, move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                .execute([now_unix_ms])?)
        })
        .await
    }
}
