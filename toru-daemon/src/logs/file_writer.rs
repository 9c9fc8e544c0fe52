//! Size-rotated JSON-lines log files, one per plugin, for the embedded backend (under systemd
//! the journal keeps plugin output instead).
//!
//! `<dir>/<id>.log` is the live file; when a write would take it past the size limit it becomes
//! `<id>.log.1`, the older ones shift up, and the oldest beyond `keep` is deleted. Disk use per
//! plugin is therefore bounded by `max_bytes × (keep + 1)`.
//!
//! Plugin output may hold secrets, so the files are `0640`, and group `toru` where that group
//! exists (the administrators' group, see `units/`), never world-readable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use toru_plugin_api::PluginId;

use super::entry::LogEntry;

/// Rotation settings.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Size at which the live file is rotated.
    pub max_bytes: u64,
    /// How many rotated files to keep.
    pub keep: u32,
}

impl Default for Rotation {
    /// 10 MiB per file, 5 rotated files.
    fn default() -> Self {
        Rotation {
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// The mode of every plugin log file: the owner writes, group `toru` reads, others nothing.
pub const LOG_FILE_MODE: u32 = 0o640;

/// The group that may read plugin log files, when it exists.
pub const LOG_GROUP: &str = "toru";

/// The path of a plugin's live log file.
pub fn log_path(dir: &Path, plugin_id: &PluginId) -> PathBuf {
    dir.join(format!("{plugin_id}.log"))
}

/// The path of a plugin's `n`th rotated file (`n ≥ 1`; 1 is the newest).
pub fn rotated_path(dir: &Path, plugin_id: &PluginId, n: u32) -> PathBuf {
    dir.join(format!("{plugin_id}.log.{n}"))
}

/// Appends entries to one plugin's log file, rotating by size. Blocking: call it off the async
/// runtime.
pub struct RotatingWriter {
    dir: PathBuf,
    plugin_id: PluginId,
    rotation: Rotation,
    file: Option<File>,
    size: u64,
}

impl RotatingWriter {
    /// A writer for `plugin_id` in `dir` (created if missing). The file opens on first write.
    pub fn new(dir: &Path, plugin_id: &PluginId, rotation: Rotation) -> Self {
        RotatingWriter {
            dir: dir.to_owned(),
            plugin_id: plugin_id.clone(),
            rotation,
            file: None,
            size: 0,
        }
    }

    /// Appends one entry as a JSON line.
    pub fn write(&mut self, entry: &LogEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.file.is_none() {
            self.open()?;
        }
        if self.size > 0 && self.size + line.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn open(&mut self) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(LOG_FILE_MODE)
            .open(log_path(&self.dir, &self.plugin_id))?;
        let meta = file.metadata()?;
        restrict(&file, &meta);
        self.size = meta.len();
        self.file = Some(file);
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let keep = self.rotation.keep;
        if keep == 0 {
            fs::remove_file(log_path(&self.dir, &self.plugin_id))?;
        } else {
            // Shift .N-1 → .N down to .1 → .2; the oldest is overwritten by the rename.
            for n in (1..keep).rev() {
                let from = rotated_path(&self.dir, &self.plugin_id, n);
                if from.exists() {
                    fs::rename(&from, rotated_path(&self.dir, &self.plugin_id, n + 1))?;
                }
            }
            fs::rename(
                log_path(&self.dir, &self.plugin_id),
                rotated_path(&self.dir, &self.plugin_id, 1),
            )?;
        }
        self.open()
    }
}

/// Gives a log file [`LOG_FILE_MODE`] and group [`LOG_GROUP`]. Best effort: a file written by an
/// older version (0644) is tightened here, and a daemon that is not root may not be allowed to
/// hand its file to the group, which then stays its own.
fn restrict(file: &File, meta: &fs::Metadata) {
    if meta.mode() & 0o7777 != LOG_FILE_MODE {
        let _ = file.set_permissions(fs::Permissions::from_mode(LOG_FILE_MODE));
    }
    if let Ok(Some(group)) = nix::unistd::Group::from_name(LOG_GROUP)
        && group.gid.as_raw() != meta.gid()
    {
        let _ = std::os::unix::fs::fchown(file, None, Some(group.gid.as_raw()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::entry::Level;

    /// The plugin these tests write for.
    fn p() -> PluginId {
        PluginId::new("p").unwrap()
    }

    fn entry(i: usize) -> LogEntry {
        LogEntry {
            timestamp: "2026-11-25T12:00:00.000Z".into(),
            level: Level::Info,
            plugin: "p".into(),
            message: format!("line {i:04} {}", "x".repeat(40)),
            fields: Default::default(),
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 2,
        };
        let mut w = RotatingWriter::new(dir.path(), &p(), rotation);
        for i in 0..100 {
            w.write(&entry(i)).unwrap();
        }
        let live = fs::read_to_string(log_path(dir.path(), &p())).unwrap();
        let r1 = fs::read_to_string(rotated_path(dir.path(), &p(), 1)).unwrap();
        assert!(rotated_path(dir.path(), &p(), 2).exists());
        assert!(
            !rotated_path(dir.path(), &p(), 3).exists(),
            "only `keep` rotated files"
        );
        for file in [&live, &r1] {
            assert!(file.len() <= 1000);
            for line in file.lines() {
                serde_json::from_str::<LogEntry>(line).expect("every line is a JSON entry");
            }
        }
        assert!(
            live.contains("line 0099"),
            "the newest line is in the live file"
        );
        // Reopening continues the same file rather than truncating it.
        drop(w);
        let mut w = RotatingWriter::new(dir.path(), &p(), rotation);
        w.write(&entry(100)).unwrap();
        let live_after = fs::read_to_string(log_path(dir.path(), &p())).unwrap();
        assert!(live_after.contains("line 0099") || r1.contains("line 0099"));
        assert!(live_after.contains("line 0100"));
    }

    #[test]
    fn log_files_are_not_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 200,
            keep: 1,
        };
        // A live file left world-readable by an older version is tightened on reopening.
        std::fs::write(log_path(dir.path(), &p()), "").unwrap();
        std::fs::set_permissions(
            log_path(dir.path(), &p()),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let mut w = RotatingWriter::new(dir.path(), &p(), rotation);
        for i in 0..10 {
            w.write(&entry(i)).unwrap();
        }
        let toru = nix::unistd::Group::from_name(LOG_GROUP).unwrap();
        for path in [
            log_path(dir.path(), &p()),
            rotated_path(dir.path(), &p(), 1),
        ] {
            let meta = fs::metadata(&path).unwrap();
            assert_eq!(meta.mode() & 0o7777, 0o640, "{}", path.display());
            if let Some(toru) = &toru {
                assert_eq!(meta.gid(), toru.gid.as_raw(), "{}", path.display());
            }
        }
    }
}
