//! The kind and version both backup documents start with, read before the rest, so that a
//! file of the other kind or of a newer format gets a message that says which, not a parse
//! error about some field.

use toru_api::{BACKUP_FORMAT_VERSION, BackupFormat};

/// Why a document is not the backup expected.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// Not JSON with a `format` and a `format_version`.
    #[error("not a Toru backup ({0})")]
    NotABackup(serde_json::Error),
    /// A plugin's backup where a whole one was expected.
    #[error("this is one plugin's backup; restore it with `toructl plugin restore ID FILE`")]
    PluginBackup,
    /// A whole backup where a plugin's was expected.
    #[error("this is a whole daemon's backup; restore it with `toructl restore FILE`")]
    WholeBackup,
    /// A format version this daemon does not read.
    #[error(
        "the backup's format version is {0}, this daemon reads version {BACKUP_FORMAT_VERSION}; \
         upgrade Toru first"
    )]
    UnknownVersion(u32),
}

/// Checks that `document` is a backup of kind `expected` in the version this daemon reads.
pub fn check(document: &[u8], expected: BackupFormat) -> Result<(), HeadError> {
    #[derive(serde::Deserialize)]
    struct Head {
        format: BackupFormat,
        format_version: u32,
    }
    let head: Head = serde_json::from_slice(document).map_err(HeadError::NotABackup)?;
    match (head.format, expected) {
        (BackupFormat::Plugin, BackupFormat::Whole) => Err(HeadError::PluginBackup),
        (BackupFormat::Whole, BackupFormat::Plugin) => Err(HeadError::WholeBackup),
        _ if head.format_version != BACKUP_FORMAT_VERSION => {
            Err(HeadError::UnknownVersion(head.format_version))
        }
        _ => Ok(()),
    }
}
