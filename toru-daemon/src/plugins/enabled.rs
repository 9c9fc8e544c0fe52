//! Which plugins the admin enabled, kept in `<plugins dir>/.metadata/config.json` so it survives
//! daemon restarts. Written atomically (temporary file, fsync, rename, fsync of the directory):
//! after a crash the file is either the old or the new version, never a torn one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::sync::lock;

/// The file's contents. Versioned, since it is an on-disk format admins may back up.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct File {
    version: u32,
    plugins: BTreeMap<String, Entry>,
}

/// What is kept per plugin.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    enabled: bool,
}

/// Why the enabled-state file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// It exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It is not the JSON this module writes.
    #[error("{} is not valid", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// The persistent set of enabled plugin ids.
#[derive(Debug)]
pub struct EnabledState {
    path: PathBuf,
    file: File,
}

impl EnabledState {
    /// Where the file lives for a plugins directory.
    pub fn path_for(plugins_dir: &Path) -> PathBuf {
        plugins_dir.join(".metadata").join("config.json")
    }

    /// Loads the state; a missing file means nothing is enabled. A file that cannot be parsed is
    /// an error rather than silently "nothing enabled", so a typo does not disable everything.
    pub fn load(plugins_dir: &Path) -> Result<Self, LoadError> {
        let path = Self::path_for(plugins_dir);
        let file = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(file) => file,
                Err(source) => return Err(LoadError::Invalid { path, source }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File {
                version: 1,
                ..File::default()
            },
            Err(source) => return Err(LoadError::Read { path, source }),
        };
        Ok(EnabledState { path, file })
    }

    /// The file as a backup carries it: what [`EnabledState::load`] read (an empty set for a
    /// missing file), in the format this module writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.file).expect("a map of booleans always serialises")
    }

    /// Replaces the file with `bytes` from a backup, atomically, after checking they are the
    /// format this module writes. For a restore, while no manager holds the state.
    pub fn install(plugins_dir: &Path, bytes: &[u8]) -> Result<(), LoadError> {
        let path = Self::path_for(plugins_dir);
        let file: File = serde_json::from_slice(bytes).map_err(|source| LoadError::Invalid {
            path: path.clone(),
            source,
        })?;
        write_atomically(
            &path,
            &serde_json::to_vec_pretty(&file).expect("serialisable"),
        )
        .map_err(|source| LoadError::Write { path, source })
    }

    /// The enabled ids of `bytes` in this module's format, for checking a backup's copy.
    pub fn enabled_in(bytes: &[u8]) -> Result<Vec<String>, serde_json::Error> {
        let file: File = serde_json::from_slice(bytes)?;
        Ok(EnabledState {
            path: PathBuf::new(),
            file,
        }
        .enabled_ids())
    }

    /// Whether `plugin_id` is enabled.
    pub fn is_enabled(&self, plugin_id: &str) -> bool {
        self.file.plugins.get(plugin_id).is_some_and(|e| e.enabled)
    }

    /// Every enabled id.
    pub fn enabled_ids(&self) -> Vec<String> {
        self.file
            .plugins
            .iter()
            .filter(|(_, e)| e.enabled)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Records the new state durably. The in-memory state changes only if the write succeeded.
    pub fn set(&mut self, plugin_id: &str, enabled: bool) -> std::io::Result<()> {
        let mut next = self.file.clone();
        next.version = 1;
        next.plugins.insert(plugin_id.to_owned(), Entry { enabled });
        write_atomically(&self.path, &serde_json::to_vec_pretty(&next)?)?;
        self.file = next;
        Ok(())
    }
}

/// The enabled set shared by the manager and every supervisor (a supervisor that gives up
/// records the plugin as disabled). Cheap to clone.
#[derive(Debug, Clone)]
pub struct EnabledConfig(Arc<Mutex<EnabledState>>);

impl EnabledConfig {
    /// Shares a loaded state.
    pub fn new(state: EnabledState) -> Self {
        EnabledConfig(Arc::new(Mutex::new(state)))
    }

    /// Whether `plugin_id` is enabled.
    pub fn is_enabled(&self, plugin_id: &str) -> bool {
        lock(&self.0).is_enabled(plugin_id)
    }

    /// Every enabled id.
    pub fn enabled_ids(&self) -> Vec<String> {
        lock(&self.0).enabled_ids()
    }

    /// Saves the enabled flag durably, off the async runtime.
    pub async fn persist(&self, plugin_id: &str, enabled: bool) -> std::io::Result<()> {
        let state = self.0.clone();
        let id = plugin_id.to_owned();
        tokio::task::spawn_blocking(move || lock(&state).set(&id, enabled))
            .await
            .unwrap_or_else(|interrupted| Err(std::io::Error::other(interrupted)))
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .expect("the state file has a parent directory");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reload_and_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = EnabledState::load(dir.path()).unwrap();
        assert!(state.enabled_ids().is_empty());
        state.set("a", true).unwrap();
        state.set("b", true).unwrap();
        state.set("b", false).unwrap();
        let reloaded = EnabledState::load(dir.path()).unwrap();
        assert_eq!(reloaded.enabled_ids(), vec!["a".to_string()]);
        assert!(reloaded.is_enabled("a") && !reloaded.is_enabled("b"));

        std::fs::write(EnabledState::path_for(dir.path()), "{ torn").unwrap();
        assert!(EnabledState::load(dir.path()).is_err());
    }
}
