//! `toructl backup`, `toructl restore` and `toructl plugin backup|restore`: the files go to and
//! come from the daemon unchanged; this module only reads, writes and reports them.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use toru_api::{EventKind, EventsQuery, RestoreStaged};
use toructl::Client;

use crate::{Failure, Outcome, print_json, usage, when};

/// How long `toructl restore` waits for the daemon to come back on the restored backup.
const WAIT_FOR_RESTORE: Duration = Duration::from_secs(60);

/// `toructl backup [-o FILE]`.
pub async fn whole(client: &Client, output: Option<PathBuf>) -> Outcome {
    let target = Target::new(output, "a tar archive")?;
    let archive = client.backup().await?;
    target.write(&archive)?;
    eprintln!(
        "backup written{} ({} bytes)",
        target.describe(),
        archive.len()
    );
    Ok(())
}

/// `toructl restore FILE`: sends the archive, then waits until the daemon runs on it.
pub async fn restore(client: &Client, file: &Path, wait: bool, json: bool) -> Outcome {
    let archive = read_input(file)?;
    let staged = client.restore(archive).await?;
    if json {
        print_json(&staged);
    } else {
        print_staged(&staged);
    }
    if !wait {
        return Ok(());
    }
    let asked = Instant::now();
    // Every event in the backup is older than the backup; the restore's own is newer.
    let since = staged.manifest.created_at;
    while asked.elapsed() < WAIT_FOR_RESTORE {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Until the daemon is back, requests fail or wait in the socket's queue.
        let query = EventsQuery {
            limit: Some(1),
            kind: Some(EventKind::BackupRestored),
            ..EventsQuery::default()
        };
        if let Ok(events) = client.events(&query).await
            && events.iter().any(|e| e.at_unix_ms > since)
        {
            if !json {
                println!("the daemon runs on the restored backup");
            }
            return Ok(());
        }
    }
    Err(Failure {
        code: 1,
        message: format!(
            "the daemon did not come back within {} s; it loads the backup when it starts \
             (under systemd it is restarted at once: systemctl status toru-daemon)",
            WAIT_FOR_RESTORE.as_secs()
        ),
    })
}

fn print_staged(staged: &RestoreStaged) {
    let m = &staged.manifest;
    println!(
        "backup of installation {} taken {} (Toru {}) staged; the daemon restarts to load it",
        m.instance_id,
        when(m.created_at),
        m.toru_version
    );
    if staged.enabled.is_empty() {
        println!("it enables no plugins");
    } else {
        println!("it enables: {}", staged.enabled.join(", "));
    }
}

/// `toructl plugin backup ID [-o FILE]`.
pub async fn plugin(client: &Client, id: &str, output: Option<PathBuf>) -> Outcome {
    let target = Target::new(output, "a JSON document holding licence keys")?;
    let backup = client.plugin_backup(id).await?;
    let mut document = serde_json::to_vec_pretty(&backup).expect("a backup serialises");
    document.push(b'\n');
    target.write(&document)?;
    eprintln!(
        "{id}: {} KV entries{} written{}",
        backup.kv.len(),
        if backup.license_key.is_some() {
            " and its licence key"
        } else {
            ""
        },
        target.describe()
    );
    Ok(())
}

/// `toructl plugin restore ID FILE`.
pub async fn plugin_restore(client: &Client, id: &str, file: &Path, json: bool) -> Outcome {
    let restored = client.plugin_restore(id, read_input(file)?).await?;
    if json {
        print_json(&restored);
        return Ok(());
    }
    println!(
        "{id}: {} KV entries and {} restored{}",
        restored.kv_entries,
        if restored.license_key {
            "a licence key"
        } else {
            "no licence key"
        },
        if restored.reinitialised {
            "; it restarted to read them"
        } else {
            ""
        }
    );
    Ok(())
}

/// Where a backup goes: a file (mode 0600, written whole under a temporary name and renamed)
/// or standard output, never a terminal.
struct Target(Option<PathBuf>);

impl Target {
    fn new(output: Option<PathBuf>, what: &str) -> Result<Self, Failure> {
        let output = output.filter(|p| p.as_os_str() != "-");
        if output.is_none() && std::io::stdout().is_terminal() {
            return Err(usage(format!(
                "not writing {what} to a terminal: redirect it (> FILE) or use -o FILE"
            )));
        }
        Ok(Target(output))
    }

    fn write(&self, bytes: &[u8]) -> Outcome {
        let Some(path) = &self.0 else {
            let mut stdout = std::io::stdout().lock();
            return stdout
                .write_all(bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| usage(format!("cannot write the backup: {e}")));
        };
        let failed = |e: std::io::Error| usage(format!("cannot write {}: {e}", path.display()));
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut file = tempfile::Builder::new()
            .prefix(".toru-backup-")
            .tempfile_in(dir)
            .map_err(failed)?;
        file.write_all(bytes).map_err(failed)?;
        file.as_file().sync_all().map_err(failed)?;
        file.persist(path).map_err(|e| failed(e.error))?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.0
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default()
    }
}

/// A file's bytes, or standard input's for `-`.
fn read_input(file: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
    } else {
        bytes = std::fs::read(file)
            .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    }
    Ok(bytes)
}
