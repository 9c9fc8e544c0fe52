//! The backup archive: writing one from the running daemon and reading one back, checking
//! every member before anything is staged.

use std::io::Read;
use std::path::Path;

use toru_api::{BACKUP_FORMAT_VERSION, BackupFormat, BackupManifest, RestoreStaged};

use super::Backups;
use super::head::{self, HeadError};
use crate::plugins::enabled::EnabledState;
use crate::store::{self, DatabaseSummary, InspectError, Store};

/// The manifest's name in the archive; written first.
pub const MANIFEST: &str = "toru-backup.json";
/// The database's name in the archive.
pub const DATABASE: &str = "toru.db";
/// The enabled set's name in the archive.
pub const ENABLED: &str = "enabled.json";
/// The configuration file's name in the archive, when the daemon read one.
pub const CONFIG: &str = "toru.toml";

/// Why an archive cannot be restored, or could not be written. Its text is what the
/// administrator reads; [`ArchiveError::is_bad_input`] tells the API a 400 from a 500.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a tar archive, or one that ends early.
    #[error("the backup is not a complete tar archive ({0}); was it truncated?")]
    NotAnArchive(std::io::Error),
    /// A member the format requires is absent.
    #[error("the backup has no {0}; it is not a Toru backup, or it is incomplete")]
    Missing(&'static str),
    /// A member the format does not have.
    #[error("the backup holds {0:?}, which no Toru backup has")]
    Unexpected(String),
    /// The manifest is not a whole backup's of a version this daemon reads.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The manifest does not parse.
    #[error("the backup's {MANIFEST} is not valid: {0}")]
    BadManifest(serde_json::Error),
    /// The enabled set does not parse.
    #[error("the backup's {ENABLED} is not valid: {0}")]
    BadEnabled(serde_json::Error),
    /// The database fails its checks.
    #[error(transparent)]
    Database(#[from] InspectError),
    /// The manifest describes another database than the one in the archive.
    #[error(
        "the backup's manifest and database disagree (manifest: schema {manifest_schema}, \
         installation {manifest_instance}; database: schema {db_schema}, installation \
         {db_instance})"
    )]
    Mismatch {
        /// The manifest's schema version.
        manifest_schema: u32,
        /// The manifest's installation.
        manifest_instance: String,
        /// The database's schema version.
        db_schema: u32,
        /// The database's installation.
        db_instance: String,
    },
    /// The daemon's own files could not be read or written.
    #[error("cannot {0}")]
    Io(&'static str, #[source] std::io::Error),
    /// The database copy failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl ArchiveError {
    /// Whether the archive is at fault (400), not the daemon (500).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ArchiveError::Io(..) | ArchiveError::Store(_))
    }
}

/// A backup read and checked in full, its database written to the staging directory.
#[derive(Debug)]
pub struct StagedBackup {
    /// What the API answers.
    pub summary: RestoreStaged,
    /// The enabled set, in `plugins::enabled`'s format.
    pub enabled: Vec<u8>,
}

impl Backups {
    /// The daemon's backup as a tar archive, in memory: a manifest, a consistent copy of the
    /// database, the enabled set and the configuration file. One backup or restore at a time.
    pub async fn create(&self, store: &Store, instance_id: &str) -> Result<Vec<u8>, ArchiveError> {
        let _busy = self.busy.lock().await;
        let dir = tempfile::Builder::new()
            .prefix(".backup-")
            .tempdir_in(&self.data_dir)
            .map_err(|e| ArchiveError::Io("create a directory for the database copy", e))?;
        let copy = dir.path().join(DATABASE);
        store.snapshot_to(&copy).await?;
        let plugins_dir = self.plugins_dir.clone();
        let config_file = self.config_file.clone();
        let instance_id = instance_id.to_owned();
        tokio::task::spawn_blocking(move || {
            let enabled = EnabledState::load(&plugins_dir)
                .map_err(|e| {
                    ArchiveError::Io("read the enabled plugins", std::io::Error::other(e))
                })?
                .to_bytes();
            let manifest = BackupManifest {
                format: BackupFormat::Whole,
                format_version: BACKUP_FORMAT_VERSION,
                toru_version: env!("CARGO_PKG_VERSION").to_owned(),
                schema_version: store::SCHEMA_VERSION,
                instance_id,
                created_at: store::now_unix_ms(),
            };
            let database =
                std::fs::read(&copy).map_err(|e| ArchiveError::Io("read the database copy", e))?;
            let config = match &config_file {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| ArchiveError::Io("read the configuration file", e))?,
                ),
                None => None,
            };
            let mut tar = tar::Builder::new(Vec::new());
            let manifest = serde_json::to_vec_pretty(&manifest).expect("serialisable");
            let mut members = vec![
                (MANIFEST, manifest.as_slice()),
                (DATABASE, database.as_slice()),
                (ENABLED, enabled.as_slice()),
            ];
            if let Some(config) = &config {
                members.push((CONFIG, config.as_slice()));
            }
            for (name, bytes) in members {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o600);
                header.set_mtime(u64::try_from(store::now_unix_ms() / 1000).unwrap_or(0));
                header.set_cksum();
                tar.append_data(&mut header, name, bytes)
                    .map_err(|e| ArchiveError::Io("write the archive", e))?;
            }
            tar.into_inner()
                .map_err(|e| ArchiveError::Io("write the archive", e))
        })
        .await
        .map_err(|e| ArchiveError::Io("write the archive", std::io::Error::other(e)))?
    }
}

/// Reads `bytes` as a backup archive and checks every member: a whole backup's manifest of a
/// known version, a database that passes [`store::inspect_database`] and agrees with the
/// manifest, a valid enabled set. The database is written to `database_dest` (checked there,
/// since SQLite reads files); nothing else is touched. Blocking.
pub fn read(bytes: &[u8], database_dest: &Path) -> Result<StagedBackup, ArchiveError> {
    if bytes.trim_ascii_start().first() == Some(&b'{') {
        // A JSON document: a plugin's backup, most likely, which deserves its own message.
        parse_manifest(bytes)?;
        return Err(ArchiveError::NotAnArchive(std::io::Error::other(
            "a JSON document",
        )));
    }
    let mut manifest = None;
    let mut enabled = None;
    let mut database = false;
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().map_err(ArchiveError::NotAnArchive)? {
        let mut entry = entry.map_err(ArchiveError::NotAnArchive)?;
        let name = entry
            .path()
            .map_err(ArchiveError::NotAnArchive)?
            .to_string_lossy()
            .into_owned();
        let mut content = Vec::new();
        entry
            .read_to_end(&mut content)
            .map_err(ArchiveError::NotAnArchive)?;
        match name.as_str() {
            MANIFEST => manifest = Some(parse_manifest(&content)?),
            DATABASE if database => {
                return Err(ArchiveError::Unexpected(format!("a second {name}")));
            }
            DATABASE => {
                write_private(database_dest, &content)
                    .map_err(|e| ArchiveError::Io("write the staged database", e))?;
                database = true;
            }
            ENABLED => {
                EnabledState::enabled_in(&content).map_err(ArchiveError::BadEnabled)?;
                enabled = Some(content);
            }
            CONFIG => {}
            _ => return Err(ArchiveError::Unexpected(name)),
        }
    }
    let manifest = manifest.ok_or(ArchiveError::Missing(MANIFEST))?;
    if !database {
        return Err(ArchiveError::Missing(DATABASE));
    }
    let enabled = enabled.ok_or(ArchiveError::Missing(ENABLED))?;
    let DatabaseSummary {
        schema_version,
        instance_id,
    } = store::inspect_database(database_dest)?;
    if schema_version != manifest.schema_version || instance_id != manifest.instance_id {
        return Err(ArchiveError::Mismatch {
            manifest_schema: manifest.schema_version,
            manifest_instance: manifest.instance_id,
            db_schema: schema_version,
            db_instance: instance_id,
        });
    }
    let enabled_ids = EnabledState::enabled_in(&enabled).map_err(ArchiveError::BadEnabled)?;
    Ok(StagedBackup {
        summary: RestoreStaged {
            manifest,
            enabled: enabled_ids,
        },
        enabled,
    })
}

/// Writes a file only the daemon's user reads, as the database is (`store/open.rs`).
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(content)
}

/// The manifest, refused unless it is a whole backup's of a version this daemon reads.
fn parse_manifest(content: &[u8]) -> Result<BackupManifest, ArchiveError> {
    head::check(content, BackupFormat::Whole)?;
    serde_json::from_slice(content).map_err(ArchiveError::BadManifest)
}
