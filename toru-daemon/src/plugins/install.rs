//! The files of installed plugins, for install, upgrade, rollback and uninstall: where an
//! upload is staged, where the previous version of each plugin is kept, and the renames that
//! swap them. Every file lives under the plugins directory, one filesystem, so each step that
//! puts a binary in place is one `rename(2)`: a reader (discovery, a plugin start) sees the old
//! file or the new one, never a partial one.
//!
//! ```text
//! <plugins dir>/<name>.binary            the installed binary (its name may differ from its id)
//! <plugins dir>/<name>.binary.sig        its detached signature, if it came with one
//! <plugins dir>/.staging/upload-XXXXXX   an upload being received and checked (+ .sig)
//! <plugins dir>/.previous/<id>.binary    the version before the last upgrade (+ .sig)
//! <plugins dir>/.previous/<id>.json      {"version": "1.0.0"}, that version's number
//! ```
//!
//! The functions here do blocking file I/O and are called through `spawn_blocking`.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toru_plugin_api::PluginId;

use super::enabled::write_atomically;

/// Where uploads are received and checked before they are installed.
pub fn staging_dir(plugins_dir: &Path) -> PathBuf {
    plugins_dir.join(".staging")
}

/// Where the previous version of each upgraded plugin is kept.
fn previous_dir(plugins_dir: &Path) -> PathBuf {
    plugins_dir.join(".previous")
}

/// The detached signature that travels with `binary`: `<binary>.sig`.
pub fn signature_path(binary: &Path) -> PathBuf {
    let mut name = OsString::from(binary.as_os_str());
    name.push(".sig");
    PathBuf::from(name)
}

/// The previous version of one plugin, as kept in `.previous/`.
#[derive(Debug, Clone)]
pub struct Previous {
    /// `.previous/<id>.binary`.
    pub binary: PathBuf,
    /// `.previous/<id>.json`, its version.
    record: PathBuf,
}

/// The content of `.previous/<id>.json`.
#[derive(Debug, Serialize, Deserialize)]
struct PreviousRecord {
    version: String,
}

impl Previous {
    /// Where `id`'s previous version is kept.
    pub fn of(plugins_dir: &Path, id: &PluginId) -> Self {
        let dir = previous_dir(plugins_dir);
        Previous {
            binary: dir.join(format!("{id}.binary")),
            record: dir.join(format!("{id}.json")),
        }
    }

    /// Whether a previous binary is kept.
    pub fn exists(&self) -> bool {
        self.binary.symlink_metadata().is_ok()
    }

    /// The kept version's number, when a previous binary and its record are there.
    pub fn version(&self) -> Option<String> {
        if !self.exists() {
            return None;
        }
        let bytes = std::fs::read(&self.record).ok()?;
        serde_json::from_slice::<PreviousRecord>(&bytes)
            .ok()
            .map(|r| r.version)
    }

    /// Keeps the binary installed at `current` (and its signature) as the previous version
    /// `version`, replacing what was kept before. `current` stays in place: it is hard-linked
    /// (copied where a link is refused), so the plugin's path never lacks a binary.
    pub fn keep(&self, current: &Path, version: &str) -> io::Result<()> {
        let dir = self.binary.parent().expect("a directory");
        create_shared_dir(dir)?;
        link_or_copy(current, &self.binary)?;
        link_or_copy_optional(&signature_path(current), &signature_path(&self.binary))?;
        let record = serde_json::to_vec(&PreviousRecord {
            version: version.to_owned(),
        })?;
        write_atomically(&self.record, &record)
    }

    /// Swaps the kept version with the one at `current` (a manual rollback): the kept binary
    /// goes to `current` by one rename, and what was at `current` is kept as `current_version`.
    pub fn swap_with(&self, current: &Path, current_version: &str) -> io::Result<()> {
        let dir = self.binary.parent().expect("a directory");
        let held = dir.join(".swap.binary");
        link_or_copy(current, &held)?;
        link_or_copy_optional(&signature_path(current), &signature_path(&held))?;
        self.restore(current)?;
        std::fs::rename(&held, &self.binary)?;
        rename_optional(&signature_path(&held), &signature_path(&self.binary))?;
        let record = serde_json::to_vec(&PreviousRecord {
            version: current_version.to_owned(),
        })?;
        write_atomically(&self.record, &record)
    }

    /// Puts the kept version back at `current` by rename (after a failed upgrade), replacing
    /// the binary there and its signature; nothing is kept afterwards.
    pub fn restore(&self, current: &Path) -> io::Result<()> {
        std::fs::rename(&self.binary, current)?;
        let signature = signature_path(current);
        if !rename_optional(&signature_path(&self.binary), &signature)? {
            remove_optional(&signature)?;
        }
        remove_optional(&self.record)
    }

    /// Deletes the kept version, if any (uninstall).
    pub fn remove(&self) -> io::Result<()> {
        remove_optional(&self.binary)?;
        remove_optional(&signature_path(&self.binary))?;
        remove_optional(&self.record)
    }
}

/// Moves a checked upload (and its signature, if it came with one) to `dest`, replacing what is
/// there by one rename; a signature left at `dest` from an earlier version is removed when the
/// upload has none, so a binary never sits next to another binary's signature.
pub fn put_in_place(staged: &Path, dest: &Path) -> io::Result<()> {
    let signature = signature_path(dest);
    if !rename_optional(&signature_path(staged), &signature)? {
        remove_optional(&signature)?;
    }
    std::fs::rename(staged, dest)?;
    sync_dir(dest)
}

/// Deletes an installed binary and its signature (uninstall).
pub fn remove_binary(binary: &Path) -> io::Result<()> {
    remove_optional(binary)?;
    remove_optional(&signature_path(binary))?;
    sync_dir(binary)
}

/// Creates `dir` (`.staging/`, `.previous/`) with mode 0755 whatever the daemon's umask (its
/// unit has `UMask=0077`): under systemd a binary in it is run by a dynamic user, for
/// `--metadata` of an upload or of the kept version before a rollback, and must be reachable.
/// An upload stays 0600 until it is complete and about to be checked.
pub fn create_shared_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}

/// Makes the renames in `path`'s directory durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Hard-links `from` to `to`, replacing `to`; copies where the link is refused (another owner
/// under `fs.protected_hardlinks`). A symlink is linked as itself.
fn link_or_copy(from: &Path, to: &Path) -> io::Result<()> {
    remove_optional(to)?;
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

/// [`link_or_copy`] when `from` exists; otherwise removes `to`.
fn link_or_copy_optional(from: &Path, to: &Path) -> io::Result<()> {
    if from.symlink_metadata().is_ok() {
        link_or_copy(from, to)
    } else {
        remove_optional(to)
    }
}

/// Renames `from` to `to` when `from` exists; says whether it did.
fn rename_optional(from: &Path, to: &Path) -> io::Result<bool> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes `path` if it exists.
fn remove_optional(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    fn read(path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    #[test]
    fn keep_swap_and_restore_move_binaries_with_their_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let id = PluginId::new("p").unwrap();
        let current = dir.path().join("p.binary");
        write(&current, "v1");
        write(&signature_path(&current), "sig1");
        let previous = Previous::of(dir.path(), &id);
        assert_eq!(previous.version(), None);

        // An upgrade: v1 is kept, v2 (unsigned) goes in place and v1's signature goes away.
        previous.keep(&current, "1.0.0").unwrap();
        let staged = dir.path().join("staged");
        write(&staged, "v2");
        put_in_place(&staged, &current).unwrap();
        assert_eq!(read(&current).as_deref(), Some("v2"));
        assert_eq!(read(&signature_path(&current)), None);
        assert_eq!(previous.version().as_deref(), Some("1.0.0"));
        assert_eq!(
            read(&signature_path(&previous.binary)).as_deref(),
            Some("sig1")
        );
        // Reachable by the dynamic user that runs a rollback's `--metadata`, whatever the umask.
        let mode = std::fs::metadata(dir.path().join(".previous"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o755
        );

        // A rollback swaps them, signatures included.
        previous.swap_with(&current, "2.0.0").unwrap();
        assert_eq!(read(&current).as_deref(), Some("v1"));
        assert_eq!(read(&signature_path(&current)).as_deref(), Some("sig1"));
        assert_eq!(read(&previous.binary).as_deref(), Some("v2"));
        assert_eq!(read(&signature_path(&previous.binary)), None);
        assert_eq!(previous.version().as_deref(), Some("2.0.0"));

        // A restore puts the kept one back and keeps nothing.
        previous.restore(&current).unwrap();
        assert_eq!(read(&current).as_deref(), Some("v2"));
        assert_eq!(read(&signature_path(&current)), None);
        assert!(!previous.exists());
        assert_eq!(previous.version(), None);
    }
}
