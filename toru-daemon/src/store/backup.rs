//! Backups of the database: a consistent copy of the whole file taken while the daemon runs
//! (SQLite's online backup API), the check a backup's copy must pass before a restore uses it,
//! and one plugin's data read and replaced as a unit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{Error, OpError, SCHEMA_VERSION, Store, licenses, now_unix_ms, plugin_settings};

/// One plugin's data as a backup carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginData {
    /// Every KV entry, by key.
    pub kv: BTreeMap<String, String>,
    /// The installed licence key.
    pub license_key: Option<String>,
    /// The stored settings, a JSON object as `plugin_settings` keeps it.
    pub settings: Option<String>,
}

/// What a database file in a backup is, once it passed [`inspect_database`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSummary {
    /// Its schema version, at most [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The installation it belongs to.
    pub instance_id: String,
}

/// Why a database file cannot be restored. Its text is what the administrator reads.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Not a SQLite database, or a damaged one.
    #[error("the database in the backup is damaged ({0})")]
    Damaged(String),
    /// Written by a newer Toru, whose schema this daemon cannot read.
    #[error(
        "the backup is from a newer Toru (database schema {found}, this daemon knows up to \
         {SCHEMA_VERSION}); upgrade Toru first"
    )]
    TooNew {
        /// The file's schema version.
        found: u32,
    },
    /// A database without an installation id: not one a Toru daemon wrote.
    #[error("the database in the backup has no installation id; it is not a Toru database")]
    NotToru,
}

impl Store {
    /// Writes a consistent copy of the whole database to `dest` (a new file) while the daemon
    /// runs: SQLite's online backup API, in one step under the store's turn, so the copy is the
    /// database between two transactions. Holds the store for the copy's duration, as any call
    /// does: SQLite's backup of a 64 MiB database took 0.33–1.1 s on the 2-core development
    /// machine (measured with Python's sqlite3 `backup`, the same C API and one step, while
    /// other builds ran), during which plugins' KV requests wait.
    pub async fn snapshot_to(&self, dest: &Path) -> Result<(), Error> {
        let dest = dest.to_owned();
        self.call("snapshot", None, move |conn| {
            let mut copy = Connection::open(&dest)?;
            Backup::new(conn, &mut copy)?.step(-1)?;
            // A single file, whatever the source's journal mode: the copy is read as one file.
            copy.pragma_update(None, "journal_mode", "DELETE")?;
            Ok(())
        })
        .await
    }

    /// `plugin_id`'s KV entries, licence key and settings, read in one transaction.
    pub async fn plugin_data(&self, plugin_id: &str) -> Result<PluginData, Error> {
        let plugin = plugin_id.to_owned();
        self.call("plugin_data", Some(plugin_id), move |conn| {
            let tx = conn.transaction()?;
            let kv = tx
                .prepare_cached("SELECT key, value FROM plugin_kv WHERE plugin_id = ?1")?
                .query_map([&plugin], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let license_key = licenses::read_key(&tx, &plugin)?;
            let settings = plugin_settings::read_settings(&tx, &plugin)?;
            Ok(PluginData {
                kv,
                license_key,
                settings,
            })
        })
        .await
    }

    /// Replaces all of `plugin_id`'s KV entries, licence key and settings with `data`, in one
    /// transaction: afterwards the plugin has exactly the backup's data, or, on any error,
    /// exactly what it had. Fails with [`Error::KvQuotaExceeded`] when the entries are more
    /// than the plugin's quota.
    pub async fn replace_plugin_data(
        &self,
        plugin_id: &str,
        data: PluginData,
    ) -> Result<(), Error> {
        let plugin = plugin_id.to_owned();
        let quota = self
            .inner
            .kv_quota
            .load(std::sync::atomic::Ordering::Relaxed);
        self.call("replace_plugin_data", Some(plugin_id), move |conn| {
            let would_be = data
                .kv
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>();
            if would_be > quota {
                return Err(OpError::Done(Error::KvQuotaExceeded {
                    plugin_id: plugin,
                    quota,
                    used: 0,
                    would_be,
                }));
            }
            let now = now_unix_ms();
            let tx = conn.transaction()?;
            tx.prepare_cached("DELETE FROM plugin_kv WHERE plugin_id = ?1")?
                .execute([&plugin])?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO plugin_kv (plugin_id, key, value, updated_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (key, value) in &data.kv {
                    insert.execute((&plugin, key, value, now))?;
                }
            }
            licenses::write_key(&tx, &plugin, data.license_key.as_deref())?;
            plugin_settings::write_settings(&tx, &plugin, data.settings.as_deref())?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

/// Checks a database file taken from a backup, read-only: SQLite's `integrity_check`, a schema
/// this daemon can migrate from, and an installation id. Blocking; the file is not changed.
pub fn inspect_database(path: &Path) -> Result<DatabaseSummary, InspectError> {
    let damaged = |e: rusqlite::Error| InspectError::Damaged(e.to_string());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(damaged)?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(damaged)?;
    if check != "ok" {
        return Err(InspectError::Damaged(check));
    }
    let found: u32 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(damaged)?;
    if found > SCHEMA_VERSION {
        return Err(InspectError::TooNew { found });
    }
    let instance_id = conn
        .query_row(
            "SELECT value FROM settings WHERE key = 'instance_id'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(damaged)?
        .ok_or(InspectError::NotToru)?;
    Ok(DatabaseSummary {
        schema_version: found,
        instance_id,
    })
}

/// The files a database at `path` may consist of: the file, its WAL and its shared-memory
/// index. Moving a database moves all three.
pub fn database_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
}
