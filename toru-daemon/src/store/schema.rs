//! The database schema and its migrations.
//!
//! The schema version lives in `PRAGMA user_version`: version N means the first N entries of
//! [`MIGRATIONS`] have been applied. Migrations are append-only — never edit or reorder a
//! released entry, add a new one instead.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::Error;

/// The migrations, in order. Entry `i` takes the schema from version `i` to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // Version 1: the initial schema.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE plugin_kv (
        plugin_id  TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        updated_at INTEGER NOT NULL, -- unix ms
        PRIMARY KEY (plugin_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE plugin_events (
        id        INTEGER PRIMARY KEY,
        plugin_id TEXT NOT NULL,
        at        INTEGER NOT NULL, -- unix ms
        kind      TEXT NOT NULL,
        details   TEXT NOT NULL
    );
    CREATE INDEX plugin_events_plugin_at ON plugin_events (plugin_id, at);
    CREATE INDEX plugin_events_at ON plugin_events (at);

    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    INTEGER NOT NULL -- unix ms
    );

    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL, -- unix ms
        expires_at INTEGER NOT NULL  -- unix ms
    );
    -- Without this, ON DELETE CASCADE and "log out everywhere" scan the whole table.
    CREATE INDEX sessions_user_id ON sessions (user_id);
    CREATE INDEX sessions_expires_at ON sessions (expires_at);
    "#,
    // Version 2: licence keys the administrator installed, one per plugin.
    r#"
    CREATE TABLE plugin_licenses (
        plugin_id  TEXT PRIMARY KEY,
        key        TEXT NOT NULL,
        updated_at INTEGER NOT NULL -- unix ms
    ) WITHOUT ROWID;
    "#,
    // Version 3: each plugin's KV use in bytes (UTF-8 key + value lengths), kept by triggers so
    // the quota check is one primary-key read; filled from the rows already there. Written to
    // apply cleanly over a file whose version number was set back by hand, too.
    r#"
    CREATE TABLE IF NOT EXISTS plugin_kv_usage (
        plugin_id TEXT PRIMARY KEY,
        bytes     INTEGER NOT NULL
    ) WITHOUT ROWID;

    DELETE FROM plugin_kv_usage;
    INSERT INTO plugin_kv_usage (plugin_id, bytes)
        SELECT plugin_id, SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB)))
        FROM plugin_kv GROUP BY plugin_id;

    CREATE TRIGGER IF NOT EXISTS plugin_kv_usage_insert AFTER INSERT ON plugin_kv BEGIN
        INSERT INTO plugin_kv_usage (plugin_id, bytes)
            VALUES (NEW.plugin_id, length(CAST(NEW.key AS BLOB)) + length(CAST(NEW.value AS BLOB)))
            ON CONFLICT (plugin_id) DO UPDATE SET bytes = bytes + excluded.bytes;
    END;

    CREATE TRIGGER IF NOT EXISTS plugin_kv_usage_update AFTER UPDATE ON plugin_kv BEGIN
        UPDATE plugin_kv_usage
            SET bytes = bytes
                - length(CAST(OLD.key AS BLOB)) - length(CAST(OLD.value AS BLOB))
            WHERE plugin_id = OLD.plugin_id;
        INSERT INTO plugin_kv_usage (plugin_id, bytes)
            VALUES (NEW.plugin_id, length(CAST(NEW.key AS BLOB)) + length(CAST(NEW.value AS BLOB)))
            ON CONFLICT (plugin_id) DO UPDATE SET bytes = bytes + excluded.bytes;
    END;

    CREATE TRIGGER IF NOT EXISTS plugin_kv_usage_delete AFTER DELETE ON plugin_kv BEGIN
        UPDATE plugin_kv_usage
            SET bytes = bytes
                - length(CAST(OLD.key AS BLOB)) - length(CAST(OLD.value AS BLOB))
            WHERE plugin_id = OLD.plugin_id;
    END;
    "#,
    // Version 4: users get a role (every user so far was an administrator) and can be
    // disabled.
    r#"
    ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
        CHECK (role IN ('admin', 'viewer'));
    ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
    "#,
    // Version 5: the event log becomes the audit trail too: an event may be about no plugin
    // (a user change, a rescan) or about a dashboard user, and records who caused it through
    // the API. SQLite cannot drop a NOT NULL, so the table is rebuilt under a new name.
    r#"
    CREATE TABLE events (
        id            INTEGER PRIMARY KEY,
        plugin_id     TEXT,
        user_name     TEXT,
        at            INTEGER NOT NULL, -- unix ms
        kind          TEXT NOT NULL,
        details       TEXT NOT NULL,
        actor_via     TEXT,    -- 'password' or 'local_socket'; NULL: the daemon itself
        actor_name    TEXT,
        actor_uid     INTEGER, -- local_socket only
        actor_address TEXT     -- password only, when the session came over TCP
    );
    INSERT INTO events (id, plugin_id, at, kind, details)
        SELECT id, plugin_id, at, kind, details FROM plugin_events;
    DROP TABLE plugin_events;
    CREATE INDEX events_plugin_at ON events (plugin_id, at);
    CREATE INDEX events_at ON events (at);
    CREATE INDEX events_actor_at ON events (actor_name, at);
    "#,
    // Version 6: each plugin's settings, one JSON object per plugin, validated against the
    // plugin's schema before it is written (plugins/plugin_config.rs); the CHECK is the
    // backstop of its 64 KiB bound.
    r#"
    CREATE TABLE plugin_settings (
        plugin_id  TEXT PRIMARY KEY,
        settings   TEXT NOT NULL CHECK (length(CAST(settings AS BLOB)) <= 65536),
        updated_at INTEGER NOT NULL -- unix ms
    );
    "#,
    // Version 7: each plugin's resource limits over the configured defaults; NULL keeps the
    // default. The CHECKs are the backstop of the bounds `toru_api::limits` enforces.
    r#"
    CREATE TABLE plugin_limits (
        plugin_id         TEXT PRIMARY KEY,
        memory_max_bytes  INTEGER CHECK (memory_max_bytes > 0),
        cpu_quota_percent INTEGER CHECK (cpu_quota_percent > 0),
        tasks_max         INTEGER CHECK (tasks_max > 0),
        updated_at        INTEGER NOT NULL -- unix ms
    );
    "#,
];

/// The schema version this build of Toru writes and understands: the number of migrations it
/// knows. Opening a database with a higher `user_version` fails with
/// [`Error::SchemaTooNew`](super::Error::SchemaTooNew).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database at `path` (already open as `conn`) up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), Error> {
    apply(conn, path, MIGRATIONS)
}

/// Applies the not-yet-applied entries of `migrations`, all in one `IMMEDIATE` transaction: the
/// version is read under the write lock (so two processes opening at once cannot both
/// migrate), and a failure leaves the database exactly as it was.
fn apply(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<(), Error> {
    let open_err = |step: &'static str| {
        move |source| Error::Open {
            path: path.to_owned(),
            step,
            source,
        }
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_err("begin migration transaction"))?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_err("read user_version"))?;
    let known = migrations.len();
    // A negative user_version is never written by us; treat it like an unknown future version.
    let Ok(current) = usize::try_from(found) else {
        return Err(too_new(path, found, known));
    };
    if current > known {
        return Err(too_new(path, found, known));
    }
    if current == known {
        // Nothing to do; dropping `tx` rolls back the empty transaction.
        return Ok(());
    }
    for (index, sql) in migrations.iter().enumerate().skip(current) {
        let version = u32::try_from(index + 1).expect("fewer than 2^32 migrations");
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .map_err(|source| Error::Migration { version, source })?;
        tracing::info!(version, path = %path.display(), "applied database migration");
    }
    tx.commit().map_err(|source| Error::Migration {
        version: u32::try_from(known).expect("fewer than 2^32 migrations"),
        source,
    })
}

fn too_new(path: &Path, found: i64, known: usize) -> Error {
    Error::SchemaTooNew {
        path: path.to_owned(),
        found,
        supported: u32::try_from(known).expect("fewer than 2^32 migrations"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    fn table_exists(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    #[test]
    fn a_failing_migration_rolls_back_everything_and_names_its_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        let migrations = ["CREATE TABLE a (x)", "CREATE TABLE b (x); THIS IS NOT SQL"];
        let err = apply(&mut conn, path, &migrations).unwrap_err();
        assert!(
            matches!(err, Error::Migration { version: 2, .. }),
            "{err:?}"
        );
        assert_eq!(user_version(&conn), 0);
        assert!(!table_exists(&conn, "a"), "migration 1 must be rolled back");
        assert!(!table_exists(&conn, "b"));
    }

    #[test]
    fn migrations_apply_incrementally() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        apply(&mut conn, path, &["CREATE TABLE a (x)"]).unwrap();
        assert_eq!(user_version(&conn), 1);
        apply(
            &mut conn,
            path,
            &["CREATE TABLE a (x)", "CREATE TABLE b (x)"],
        )
        .unwrap();
        assert_eq!(user_version(&conn), 2);
        assert!(table_exists(&conn, "a") && table_exists(&conn, "b"));
        // Knowing fewer migrations than the file has applied is the "too new" case.
        let err = apply(&mut conn, path, &["CREATE TABLE a (x)"]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SchemaTooNew {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn kv_usage_is_filled_from_existing_rows_and_kept_by_the_triggers() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        apply(&mut conn, path, &MIGRATIONS[..2]).unwrap();
        conn.execute_batch(
            "INSERT INTO plugin_kv VALUES ('a', 'k1', 'vvv', 0), ('a', 'é', 'ü', 0), \
             ('b', 'k', '', 0);",
        )
        .unwrap();
        migrate(&mut conn, path).unwrap();
        let usage = |conn: &Connection, id: &str| -> i64 {
            conn.query_row(
                "SELECT bytes FROM plugin_kv_usage WHERE plugin_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        // UTF-8 bytes: 'k1' + 'vvv' = 5, 'é' + 'ü' = 4.
        assert_eq!(usage(&conn, "a"), 9);
        assert_eq!(usage(&conn, "b"), 1);
        conn.execute_batch(
            "UPDATE plugin_kv SET value = 'v' WHERE plugin_id = 'a' AND key = 'k1'; \
             DELETE FROM plugin_kv WHERE plugin_id = 'a' AND key = 'é'; \
             INSERT INTO plugin_kv VALUES ('b', 'new', 'xy', 0);",
        )
        .unwrap();
        assert_eq!(usage(&conn, "a"), 3);
        assert_eq!(usage(&conn, "b"), 6);
    }

    #[test]
    fn users_from_before_roles_become_enabled_administrators() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        apply(&mut conn, path, &MIGRATIONS[..3]).unwrap();
        conn.execute_batch(
            "INSERT INTO users (username, password_hash, created_at) VALUES ('a', 'h', 0);",
        )
        .unwrap();
        migrate(&mut conn, path).unwrap();
        let (role, disabled): (String, i64) = conn
            .query_row("SELECT role, disabled FROM users", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((role.as_str(), disabled), ("admin", 0));
        // Only the two roles can be stored.
        assert!(
            conn.execute_batch("UPDATE users SET role = 'root'")
                .is_err()
        );
    }

    #[test]
    fn the_real_migrations_apply_to_an_empty_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(user_version(&conn), i64::from(SCHEMA_VERSION));
    }
}
