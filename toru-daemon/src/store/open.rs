//! Opening the database file: directory, file permissions, connection settings, migrations.
//! Everything here is blocking and runs on a blocking-pool thread (see [`Store::open`]).
//!
//! [`Store::open`]: super::Store::open

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{Error, schema};

/// How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Enough cached prepared statements for every query the store runs, so none is re-parsed.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Opens (creating if needed) and migrates the database at `path`.
pub(crate) fn open_blocking(path: &Path) -> Result<Connection, Error> {
    create_parent_dir(path)?;
    create_file_private(path)?;

    let open_err = |step: &'static str| {
        move |source| Error::Open {
            path: path.to_owned(),
            step,
            source,
        }
    };
    let mut conn = Connection::open(path).map_err(open_err("open"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(open_err("set busy_timeout"))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);

    // journal_mode answers with the mode actually in effect, which is not WAL on filesystems
    // that cannot do it. This is also the first statement that reads the file, so a file that
    // is not a SQLite database fails here.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err("set journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::WalUnavailable {
            path: path.to_owned(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err("set synchronous"))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err("set foreign_keys"))?;

    schema::migrate(&mut conn, path)?;
    Ok(conn)
}

/// Creates the database's directory (and its parents) if missing. New directories get 0700:
/// the database holds password hashes and session tokens.
fn create_parent_dir(path: &Path) -> Result<(), Error> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|source| Error::Io {
            op: "create the database directory",
            path: parent.to_owned(),
            source,
        })
}

/// Creates the database file with mode 0600 if it does not exist yet, so it is never readable
/// by others, not even for a moment. (An empty file is a valid, empty SQLite database.) SQLite
/// gives the `-wal` and `-shm` files the same permissions as the database file. An existing
/// file's permissions are left alone: an administrator may have chosen them.
fn create_file_private(path: &Path) -> Result<(), Error> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::Io {
            op: "create the database file",
            path: path.to_owned(),
            source,
        }),
    }
}
