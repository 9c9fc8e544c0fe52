//! Reading the embedded backend's JSON-lines log files: the live file and its rotated
//! predecessors, newest entry first, and following the live file as it grows.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use toru_plugin_api::PluginId;

use super::entry::LogEntry;
use super::file_writer::{log_path, rotated_path};
use super::query::{LogPage, LogQuery};

/// Rotated files looked at, at most (the writer keeps fewer by default).
const MAX_ROTATED: u32 = 32;

/// A plugin's files, newest first: the live file, then `.1`, `.2`, …
fn files_newest_first(dir: &Path, plugin_id: &PluginId) -> Vec<PathBuf> {
    let mut files = vec![log_path(dir, plugin_id)];
    files.extend(
        (1..=MAX_ROTATED)
            .map(|n| rotated_path(dir, plugin_id, n))
            .take_while(|p| p.exists()),
    );
    files
}

/// Entries of one file, newest first. Lines that are not entries (a torn last line after a
/// crash, say) are skipped.
fn entries_newest_first(path: &Path) -> Vec<LogEntry> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut entries: Vec<LogEntry> = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect();
    entries.reverse();
    entries
}

/// One page of a plugin's log from its files. Blocking: call it off the async runtime.
/// Files are read one at a time, newest first, and reading stops once the page is filled.
pub fn read_page(dir: &Path, plugin_id: &PluginId, query: &LogQuery) -> LogPage {
    let matching = files_newest_first(dir, plugin_id)
        .into_iter()
        .flat_map(|path| entries_newest_first(&path))
        .filter(|e| query.accepts(e));
    LogPage::from_newest_first(query, matching)
}

/// How often a followed file is checked for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// Sends every entry appended to the plugin's live log file from now on, until the receiver is
/// dropped. Survives rotation: when the file shrinks or is replaced, reading starts over at the
/// beginning of the new file.
pub fn follow(dir: PathBuf, plugin_id: PluginId, query: LogQuery) -> mpsc::Receiver<LogEntry> {
    let (tx, rx) = mpsc::channel(256);
    let path = log_path(&dir, &plugin_id);
    // Taken before returning, so nothing written after the call is missed.
    let mut position = std::fs::metadata(&path).map_or(0, |m| m.len());
    tokio::spawn(async move {
        let mut partial = String::new();
        loop {
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(FOLLOW_INTERVAL).await;
            let Ok(meta) = tokio::fs::metadata(&path).await else {
                continue;
            };
            if meta.len() < position {
                position = 0; // rotated: a new, shorter file
                partial.clear();
            }
            if meta.len() == position {
                continue;
            }
            let Ok(mut file) = tokio::fs::File::open(&path).await else {
                continue;
            };
            if file.seek(std::io::SeekFrom::Start(position)).await.is_err() {
                continue;
            }
            let mut reader = tokio::io::BufReader::new(file);
            loop {
                let mut line = std::mem::take(&mut partial);
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        position += n as u64;
                        if !line.ends_with('\n') {
                            partial = line; // the writer is mid-line; finish it next time
                            break;
                        }
                        if let Ok(entry) = serde_json::from_str::<LogEntry>(&line)
                            && query.accepts(&entry)
                            && tx.send(entry).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::entry::Level;
    use crate::logs::file_writer::{RotatingWriter, Rotation};

    /// The plugin these tests read and write for.
    fn p() -> PluginId {
        PluginId::new("p").unwrap()
    }

    fn entry(i: usize, level: Level) -> LogEntry {
        LogEntry {
            timestamp: format!("2026-11-25T12:00:{:02}.000Z", i % 60),
            level,
            plugin: "p".into(),
            message: format!("m{i}"),
            fields: Default::default(),
        }
    }

    #[test]
    fn pages_newest_first_across_rotated_files_with_a_level_filter() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingWriter::new(
            dir.path(),
            &p(),
            Rotation {
                max_bytes: 2000,
                keep: 10,
            },
        );
        for i in 0..100 {
            let level = if i % 10 == 0 {
                Level::Error
            } else {
                Level::Info
            };
            w.write(&entry(i, level)).unwrap();
        }
        assert!(
            rotated_path(dir.path(), &p(), 2).exists(),
            "the test spans several files"
        );
        let q = |page, page_size, min_level| LogQuery {
            page,
            page_size,
            min_level,
        };

        let first = read_page(dir.path(), &p(), &q(0, 10, None));
        let messages: Vec<_> = first.entries.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "m99", "m98", "m97", "m96", "m95", "m94", "m93", "m92", "m91", "m90"
            ]
        );
        assert!(first.has_more);

        let last = read_page(dir.path(), &p(), &q(9, 10, None));
        assert_eq!(last.entries.last().unwrap().message, "m0");
        assert!(!last.has_more);
        assert!(
            read_page(dir.path(), &p(), &q(10, 10, None))
                .entries
                .is_empty()
        );

        let errors = read_page(dir.path(), &p(), &q(0, 100, Some(Level::Error)));
        let messages: Vec<_> = errors.entries.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "m90", "m80", "m70", "m60", "m50", "m40", "m30", "m20", "m10", "m0"
            ]
        );
        // "warn" includes errors.
        assert_eq!(
            read_page(dir.path(), &p(), &q(0, 100, Some(Level::Warn)))
                .entries
                .len(),
            10
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingWriter::new(dir.path(), &p(), Rotation::default());
        w.write(&entry(1, Level::Info)).unwrap();
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(log_path(dir.path(), &p()))
            .unwrap();
        f.write_all(b"{\"timestamp\":\"2026").unwrap();
        let page = read_page(
            dir.path(),
            &p(),
            &LogQuery {
                page: 0,
                page_size: 10,
                min_level: None,
            },
        );
        assert_eq!(page.entries.len(), 1);
    }

    #[tokio::test]
    async fn follow_sends_new_entries_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RotatingWriter::new(dir.path(), &p(), Rotation::default());
        w.write(&entry(1, Level::Info)).unwrap();
        let query = LogQuery {
            page: 0,
            page_size: 1,
            min_level: Some(Level::Warn),
        };
        let mut rx = follow(dir.path().to_owned(), p(), query);
        w.write(&entry(2, Level::Info)).unwrap(); // filtered out
        w.write(&entry(3, Level::Warn)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.message, "m3");
    }
}
