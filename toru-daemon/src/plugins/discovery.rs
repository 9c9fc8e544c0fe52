//! Finding plugins: every `*.binary` in the plugins directory, asked for its `--metadata`.
//!
//! Asking runs untrusted code, so it is bounded: a time limit, an output cap, stdin closed, the
//! process stopped when either limit hits. The backend runs it (`SupervisorBackend::run_metadata`:
//! a sandboxed transient unit under systemd, a child otherwise); the bounds and the validation are
//! here, the same for both. Anything wrong with one binary — not executable, crashing, hanging,
//! printing garbage, invalid or duplicate id — becomes a [`DiscoveryFailure`] for that binary and
//! never stops the scan.
//!
//! [`inspect`] is the whole check of one binary: its signature under the daemon's policy
//! ([`trust`](super::trust)) first, so that `enforce` never runs an unsigned binary even for
//! `--metadata`, then its metadata, asked of the very file that will run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use toru_plugin_api::{PluginId, PluginMetadata};

use super::backend::{Limits, MetadataRun, SupervisorBackend};
use super::plugin_config::SettingsValidator;
use super::trust::{self, Trust, Verified};
use crate::error_chain::ErrorChain;

/// Limits for running `--metadata`.
#[derive(Debug, Clone, Copy)]
pub struct DiscoveryLimits {
    /// How long a binary may take to print its metadata.
    pub timeout: Duration,
    /// The most output accepted, in bytes.
    pub max_output: usize,
    /// How many binaries are asked at once.
    pub concurrency: usize,
}

impl Default for DiscoveryLimits {
    /// 5 s, 64 KiB, 8 at once.
    fn default() -> Self {
        DiscoveryLimits {
            timeout: Duration::from_secs(5),
            max_output: 64 * 1024,
            concurrency: 8,
        }
    }
}

/// A plugin that answered `--metadata` with valid metadata.
#[derive(Debug, Clone)]
pub struct DiscoveredPlugin {
    /// Its id, checked: from here on the daemon carries it as a [`PluginId`].
    pub id: PluginId,
    /// Its validated metadata.
    pub meta: PluginMetadata,
    /// Absolute path of its executable.
    pub binary: PathBuf,
    /// Its signature verdict, digest, and what runs.
    pub verified: Verified,
}

/// A binary that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFailure {
    /// The offending file.
    pub binary: PathBuf,
    /// What went wrong, for the admin.
    pub reason: String,
    /// The signature policy refused it (recorded as `signature_refused` too).
    pub signature_refused: bool,
}

/// The result of one scan.
#[derive(Debug, Default)]
pub struct Scan {
    /// Loadable plugins, sorted by id.
    pub plugins: Vec<DiscoveredPlugin>,
    /// Binaries that were skipped.
    pub failures: Vec<DiscoveryFailure>,
}

/// Scans `dir` (created if missing) for `*.binary` files and [`inspect`]s each: its signature
/// under `trust`, then its metadata, run by `backend` under the plugins' resource limits
/// `process`.
pub async fn scan(
    dir: &Path,
    limits: DiscoveryLimits,
    process: Limits,
    backend: &dyn SupervisorBackend,
    trust: &Trust,
) -> std::io::Result<Scan> {
    tokio::fs::create_dir_all(dir).await?;
    let dir = std::path::absolute(dir)?;
    let mut binaries = Vec::new();
    let mut entries = tokio::fs::read_dir(&dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "binary") {
            binaries.push(path);
        }
    }
    // Sorted, so which of two binaries claiming one id wins does not depend on directory order.
    binaries.sort();

    let answers: Vec<_> = futures::stream::iter(binaries)
        .map(|binary| async move {
            let result = inspect(&binary, limits, process, backend, trust).await;
            (binary, result)
        })
        .buffered(limits.concurrency.max(1))
        .collect()
        .await;

    let mut scan = Scan::default();
    for (binary, result) in answers {
        match result {
            Ok(Inspected { id, meta, verified }) => {
                if let Some(first) = scan.plugins.iter().find(|p| p.id == id) {
                    scan.failures.push(DiscoveryFailure {
                        reason: format!(
                            "duplicate plugin id {:?}: already provided by {}",
                            id.as_str(),
                            first.binary.display()
                        ),
                        binary,
                        signature_refused: false,
                    });
                } else {
                    scan.plugins.push(DiscoveredPlugin {
                        id,
                        meta,
                        binary,
                        verified,
                    });
                }
            }
            Err(refusal) => scan.failures.push(DiscoveryFailure {
                binary,
                reason: refusal.reason,
                signature_refused: refusal.signature,
            }),
        }
    }
    scan.plugins.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(scan)
}

/// What [`inspect`] found out about one loadable binary.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// Its id, checked.
    pub id: PluginId,
    /// Its validated metadata.
    pub meta: PluginMetadata,
    /// Its signature verdict, digest, and what runs.
    pub verified: Verified,
}

/// Why [`inspect`] refused a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// For the admin.
    pub reason: String,
    /// The signature policy refused it (before anything ran).
    pub signature: bool,
}

/// The whole check of one binary, as a scan (and an install) makes it: the signature under
/// `trust` first, then `--metadata`, run from what will run (the verified copy under `enforce`).
pub async fn inspect(
    binary: &Path,
    limits: DiscoveryLimits,
    process: Limits,
    backend: &dyn SupervisorBackend,
    trust: &Trust,
) -> Result<Inspected, Refusal> {
    let verified = trust::check(binary, trust)
        .await
        .map_err(|reason| Refusal {
            reason,
            signature: true,
        })?;
    let (id, meta) = read_metadata(&verified.run_from, limits, process, backend)
        .await
        .map_err(|reason| Refusal {
            reason,
            signature: false,
        })?;
    Ok(Inspected { id, meta, verified })
}

/// Asks `backend` to run `binary --metadata` within `limits` (and the plugins' resource limits
/// `process`) and validates what it printed.
pub async fn read_metadata(
    binary: &Path,
    limits: DiscoveryLimits,
    process: Limits,
    backend: &dyn SupervisorBackend,
) -> Result<(PluginId, PluginMetadata), String> {
    let file = tokio::fs::metadata(binary)
        .await
        .map_err(|e| format!("cannot stat: {e}"))?;
    if !file.is_file() {
        return Err("not a regular file".into());
    }
    let run = MetadataRun {
        binary,
        timeout: limits.timeout,
        max_output: limits.max_output,
        limits: process,
    };
    let output = backend
        .run_metadata(&run)
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
    parse_metadata(&output)
}

/// Parses and validates what `--metadata` printed. Its own function so that `fuzz/` can feed it
/// arbitrary output; the error is the message a `DiscoveryFailure` shows. The id comes back as
/// the [`PluginId`] the validation produced.
pub fn parse_metadata(output: &[u8]) -> Result<(PluginId, PluginMetadata), String> {
    let meta: PluginMetadata = serde_json::from_slice(output).map_err(|e| {
        let shown = String::from_utf8_lossy(&output[..output.len().min(80)]).into_owned();
        format!("--metadata printed invalid metadata ({e}): {shown:?}")
    })?;
    let id = meta
        .validate()
        .map_err(|e| format!("invalid metadata: {e}"))?;
    if let Some(schema) = &meta.settings {
        SettingsValidator::new(schema).map_err(|e| format!("invalid metadata: {e}"))?;
    }
    Ok((id, meta))
}
