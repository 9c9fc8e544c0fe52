//! The store's error type.
//!
//! Every variant says *what* the store was doing (and, for per-plugin data, for which plugin),
//! so a log line is actionable without a backtrace. The underlying cause is exposed through
//! [`std::error::Error::source`], not repeated in the message; print with `{:#}` (anyhow) or walk
//! the chain to see both.

use std::path::PathBuf;

/// Everything that can go wrong in [`Store`](super::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem step of opening the database (creating the directory or the file, setting
    /// its permissions) failed; usually a permissions or disk problem on the host.
    #[error("cannot {op} {path}")]
    Io {
        /// What the store was trying to do, e.g. "create the database directory".
        op: &'static str,
        /// The path it was doing it to.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// SQLite refused to open or configure the database file (not a database, unreadable,
    /// locked for longer than the busy timeout, …).
    #[error("cannot open database {path} ({step})")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Which step of opening failed, e.g. "set journal_mode".
        step: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// The filesystem would not let SQLite use write-ahead logging, without which the store's
    /// durability promise does not hold (e.g. some network filesystems).
    #[error("database {path} cannot use WAL mode (SQLite chose journal_mode={mode})")]
    WalUnavailable {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite fell back to.
        mode: String,
    },

    /// Applying schema migration number `version` failed; the database was left at the version
    /// it had before this open (all pending migrations run in one transaction).
    #[error("schema migration to version {version} failed")]
    Migration {
        /// The schema version the failing migration would have produced.
        version: u32,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// The database was written by a newer Toru than this one. We refuse to touch it rather
    /// than misread it; upgrade Toru again or restore a backup.
    #[error(
        "database {path} has schema version {found}, but this build of Toru only knows up to \
         version {supported}; it was written by a newer Toru (downgrade?) — refusing to open it"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The `user_version` found in the file.
        found: i64,
        /// The newest schema version this build knows ([`SCHEMA_VERSION`](super::SCHEMA_VERSION)).
        supported: u32,
    },

    /// A query failed while performing `op`.
    #[error("store operation {op}{} failed", for_plugin(.plugin_id))]
    Sqlite {
        /// The store operation, e.g. "kv_set".
        op: &'static str,
        /// The plugin whose data was being touched, if the operation is per-plugin.
        plugin_id: Option<String>,
        /// SQLite's error.
        source: rusqlite::Error,
    },

    /// A KV write would take the plugin's data past its quota (key and value bytes of all its
    /// entries). Nothing was written; deletes, and overwrites that do not grow, still work.
    #[error(
        "plugin {plugin_id:?} is over its KV quota of {quota} bytes: {used} bytes in use, and \
         this write would make it {would_be}"
    )]
    KvQuotaExceeded {
        /// The plugin.
        plugin_id: String,
        /// Its quota in bytes ([`Store::set_kv_quota`](super::Store::set_kv_quota)).
        quota: u64,
        /// The bytes its entries take now.
        used: u64,
        /// The bytes they would take after this write.
        would_be: u64,
    },

    /// A plugin's settings are over [`MAX_PLUGIN_SETTINGS`](super::MAX_PLUGIN_SETTINGS) bytes
    /// of JSON; nothing was written.
    #[error("the settings of plugin {plugin_id:?} take {size} bytes, more than {max}")]
    SettingsTooLarge {
        /// The plugin.
        plugin_id: String,
        /// The size of the JSON text.
        size: usize,
        /// The bound.
        max: usize,
    },

    /// `create_user` was asked for a username that is already taken.
    #[error("a user named {username:?} already exists")]
    UserExists {
        /// The username that is taken.
        username: String,
    },

    /// A delete, disable or demotion would leave no enabled administrator; nothing changed.
    #[error("{username:?} is the last enabled administrator")]
    LastAdmin {
        /// The user the change was asked for.
        username: String,
    },

    /// Data read back from the database is not something this code ever writes (hand-edited
    /// database, bug in an older version, disk corruption). The string says what and where.
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),

    /// The blocking task running the SQLite call panicked (a bug) or was cancelled because the
    /// runtime is shutting down. The connection stays usable for later calls.
    #[error("store operation {op} did not complete (task panicked or was cancelled)")]
    TaskPanicked {
        /// The store operation.
        op: &'static str,
        /// Tokio's join error, carrying the panic payload if there was one.
        source: tokio::task::JoinError,
    },
}

fn for_plugin(plugin_id: &Option<String>) -> String {
    match plugin_id {
        Some(id) => format!(" for plugin {id:?}"),
        None => String::new(),
    }
}

/// What a closure running on the database thread can fail with; the blocking-call helper turns
/// it into an [`Error`] with the operation and plugin attached, so the closures can just use `?`.
#[derive(Debug)]
pub(crate) enum OpError {
    /// A query failed.
    Sqlite(rusqlite::Error),
    /// Stored data did not parse; the message says what and where.
    Corrupt(String),
    /// An error that already carries its full context.
    Done(Error),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::Sqlite(e)
    }
}

impl OpError {
    /// Attaches the operation name and plugin id.
    pub(crate) fn into_error(self, op: &'static str, plugin_id: Option<&str>) -> Error {
        match self {
            OpError::Sqlite(source) => Error::Sqlite {
                op,
                plugin_id: plugin_id.map(str::to_owned),
                source,
            },
            OpError::Corrupt(what) => Error::Corrupt(match plugin_id {
                Some(id) => format!("{op} for plugin {id:?}: {what}"),
                None => format!("{op}: {what}"),
            }),
            OpError::Done(e) => e,
        }
    }
}
