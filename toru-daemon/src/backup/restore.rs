//! A restore in two halves. The API's half ([`Backups::stage`]) checks a whole archive and
//! stages it in `<data dir>/restore/` (written as `restore.partial/`, then renamed, so a staged
//! restore is complete or absent), then stops the daemon. The next start's half
//! ([`load_staged`]), before the database is opened, moves the current database to
//! `<data dir>/before-restore/` (one generation kept, to undo a mistaken restore by hand), puts
//! the staged one in its place and installs the enabled set.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use toru_api::{Actor, BackupManifest, RestoreStaged};

use super::Backups;
use super::archive::{self, ArchiveError, DATABASE, ENABLED, MANIFEST};
use crate::plugins::enabled::EnabledState;
use crate::store;

/// The staged restore's directory in the data directory.
const STAGED: &str = "restore";
/// Where a restore is written before it is complete.
const PARTIAL: &str = "restore.partial";
/// Where the database a restore replaced is kept.
const BEFORE: &str = "before-restore";
/// Who asked for the restore, for the event recorded once it is loaded.
const ACTOR: &str = "actor.json";

impl Backups {
    /// Checks `bytes` as a whole backup ([`archive::read`]) and stages it; then stops the
    /// daemon, which loads it as it starts again. A backup that fails any check changes
    /// nothing. One backup or restore at a time.
    pub async fn stage(&self, bytes: Bytes, by: &Actor) -> Result<RestoreStaged, ArchiveError> {
        let _busy = self.busy.lock().await;
        let data_dir = self.data_dir.clone();
        let actor = serde_json::to_vec(by).expect("an actor serialises");
        let summary =
            tokio::task::spawn_blocking(move || stage_blocking(&data_dir, &bytes, &actor))
                .await
                .map_err(|e| ArchiveError::Io("stage the backup", std::io::Error::other(e)))??;
        tracing::warn!(
            instance_id = summary.manifest.instance_id,
            created_at = summary.manifest.created_at,
            "a backup was staged for restore; stopping to load it"
        );
        self.request_restart();
        Ok(summary)
    }
}

fn stage_blocking(
    data_dir: &Path,
    bytes: &[u8],
    actor: &[u8],
) -> Result<RestoreStaged, ArchiveError> {
    let partial = data_dir.join(PARTIAL);
    remove_dir_if_present(&partial).map_err(|e| ArchiveError::Io("clear restore.partial", e))?;
    create_private_dir(&partial).map_err(|e| ArchiveError::Io("create restore.partial", e))?;
    let staged = archive::read(bytes, &partial.join(DATABASE)).and_then(|staged| {
        let manifest = serde_json::to_vec_pretty(&staged.summary.manifest).expect("serialisable");
        for (name, content) in [
            (ENABLED, staged.enabled.as_slice()),
            (MANIFEST, manifest.as_slice()),
            (ACTOR, actor),
        ] {
            write_synced(&partial.join(name), content)
                .map_err(|e| ArchiveError::Io("write the staged backup", e))?;
        }
        std::fs::File::open(partial.join(DATABASE))
            .and_then(|f| f.sync_all())
            .map_err(|e| ArchiveError::Io("write the staged backup", e))?;
        Ok(staged)
    });
    let staged = match staged {
        Ok(staged) => staged,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    let target = data_dir.join(STAGED);
    remove_dir_if_present(&target).map_err(|e| ArchiveError::Io("replace a staged restore", e))?;
    std::fs::rename(&partial, &target).map_err(|e| ArchiveError::Io("stage the backup", e))?;
    sync_dir(data_dir).map_err(|e| ArchiveError::Io("stage the backup", e))?;
    Ok(staged.summary)
}

/// A backup [`load_staged`] put in place, for the event the daemon records once its store is
/// open.
#[derive(Debug)]
pub struct Loaded {
    /// The backup's manifest.
    pub manifest: BackupManifest,
    /// Who staged it.
    pub actor: Option<Actor>,
}

impl Loaded {
    /// The event's details.
    pub fn details(&self) -> String {
        format!(
            "restored the backup of installation {} taken at {} (ms since the epoch); the \
             database it replaced is in {BEFORE}/",
            self.manifest.instance_id, self.manifest.created_at
        )
    }
}

/// Why a staged restore could not be loaded. The daemon refuses to start on it rather than
/// run on a half-restored state; the message says where things are.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the restore staged in {}: {what}", staged.display())]
pub struct LoadError {
    staged: PathBuf,
    what: String,
}

/// Loads the restore staged in `data_dir`, if there is one: the current database files go to
/// `before-restore/`, the staged database takes their place, the enabled set is installed.
/// Runs before the store is opened, so nothing holds the database. Blocking.
pub fn load_staged(
    data_dir: &Path,
    database: &Path,
    plugins_dir: &Path,
) -> Result<Option<Loaded>, LoadError> {
    let staged = data_dir.join(STAGED);
    if !staged.exists() {
        return Ok(None);
    }
    let fail = |what: String| LoadError {
        staged: staged.clone(),
        what,
    };
    let staged_db = staged.join(DATABASE);
    // The staged files were checked when they were staged; check the database once more, as
    // the file may have been damaged on disk since.
    store::inspect_database(&staged_db).map_err(|e| fail(e.to_string()))?;
    let read =
        |name: &str| std::fs::read(staged.join(name)).map_err(|e| fail(format!("{name}: {e}")));
    let manifest: BackupManifest =
        serde_json::from_slice(&read(MANIFEST)?).map_err(|e| fail(format!("{MANIFEST}: {e}")))?;
    let actor = serde_json::from_slice(&read(ACTOR)?).ok();
    let enabled = read(ENABLED)?;

    let before = data_dir.join(BEFORE);
    remove_dir_if_present(&before).map_err(|e| fail(format!("clearing {BEFORE}: {e}")))?;
    create_private_dir(&before).map_err(|e| fail(format!("creating {BEFORE}: {e}")))?;
    for file in store::database_files(database) {
        if let Some(name) = file.file_name()
            && file.exists()
        {
            std::fs::rename(&file, before.join(name))
                .map_err(|e| fail(format!("moving {} aside: {e}", file.display())))?;
        }
    }
    std::fs::rename(&staged_db, database)
        .map_err(|e| fail(format!("moving the restored database in place: {e}")))?;
    EnabledState::install(plugins_dir, &enabled).map_err(|e| fail(e.to_string()))?;
    std::fs::remove_dir_all(&staged).map_err(|e| fail(format!("removing it: {e}")))?;
    sync_dir(data_dir).map_err(|e| fail(e.to_string()))?;
    Ok(Some(Loaded { manifest, actor }))
}

fn remove_dir_if_present(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A directory only the daemon's user reads: it holds the database and licence keys.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

fn write_synced(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(content)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
