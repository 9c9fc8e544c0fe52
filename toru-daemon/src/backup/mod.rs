//! Whole backups and restores of a daemon (`toructl backup`, `toructl restore`).
//!
//! A backup is a tar archive (`archive.rs`): a manifest, a consistent copy of the database taken
//! while the daemon runs, the enabled set and, for the record, the configuration file. A
//! restore is checked in full and staged next to the database (`restore.rs`); the daemon then
//! restarts and, before it opens the database, swaps the staged copy in. Loading the backup at
//! start rather than into the running daemon means every piece of state read from the
//! database (the installation id, licence keys, sessions, settings) is read the one way it
//! always is, and a plugin that runs is re-initialised by adoption as after any daemon restart.
//!
//! Depends on `store` (the copy, the check) and `plugins::enabled` (the enabled set's file);
//! `api` calls it, and `daemon.rs` applies a staged restore before opening the store.

pub mod archive;
pub mod head;
pub mod restore;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

pub use archive::{ArchiveError, StagedBackup};

/// The exit status of a daemon that stops to load a restored backup. `toru-daemon.service` has
/// it in `RestartForceExitStatus=` (systemd starts the daemon again at once) and
/// `SuccessExitStatus=` (it is not a failure). `EX_TEMPFAIL` from `sysexits.h`.
pub const RESTART_EXIT_STATUS: u8 = 75;

/// The largest backup `POST /api/restore` accepts. A backup holds the whole database in memory
/// while it is checked, and one restore runs at a time.
pub const MAX_RESTORE_BYTES: usize = 512 * 1024 * 1024;

/// Where a daemon's backups come from and go, and the one-at-a-time rule. Shared by the API's
/// handlers; cheap to clone through an `Arc`.
#[derive(Debug)]
pub struct Backups {
    data_dir: PathBuf,
    plugins_dir: PathBuf,
    config_file: Option<PathBuf>,
    /// Held by whoever is taking or staging a backup: each holds a copy of the database in
    /// memory, so there is one at a time.
    busy: tokio::sync::Mutex<()>,
    shutdown: CancellationToken,
    restart: AtomicBool,
}

impl Backups {
    /// The backups of the daemon whose state lives in these places; `shutdown` stops it when a
    /// restore is staged.
    pub fn new(
        data_dir: &Path,
        plugins_dir: &Path,
        config_file: Option<&Path>,
        shutdown: CancellationToken,
    ) -> Self {
        Backups {
            data_dir: data_dir.to_owned(),
            plugins_dir: plugins_dir.to_owned(),
            config_file: config_file.map(Path::to_owned),
            busy: tokio::sync::Mutex::new(()),
            shutdown,
            restart: AtomicBool::new(false),
        }
    }

    /// Whether a staged restore asked the daemon to stop so that it loads at the next start;
    /// the daemon then exits with [`RESTART_EXIT_STATUS`].
    pub fn restart_requested(&self) -> bool {
        self.restart.load(Ordering::SeqCst)
    }

    /// Stops the daemon so that it starts again on the staged backup. Requests in progress (the
    /// restore's own answer among them) get the HTTP server's shutdown grace.
    fn request_restart(&self) {
        self.restart.store(true, Ordering::SeqCst);
        self.shutdown.cancel();
    }
}
