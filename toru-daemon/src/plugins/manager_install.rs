//! The manager's install, upgrade, rollback and uninstall (`POST /api/plugins`,
//! `POST /api/plugins/{id}/rollback`, `DELETE /api/plugins/{id}`). A child module of `manager`
//! so it shares the manager's private state; the file moves themselves are `install.rs`'s.
//!
//! One at a time (`Shared::installing`). An upload is checked by `discovery::inspect`, the
//! same function a scan runs for every binary, so an upload passes exactly the checks a copied
//! file does. A new id is installed disabled, like a copied file. An id that exists is an
//! upgrade: the installed binary is kept in `.previous/`, the new one replaces it at the same
//! path, and a plugin that was running is restarted on it and watched for the health window;
//! if it does not stay `running` and healthy, the previous binary is put back and started again.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempPath;
use toru_plugin_api::PluginMetadata;

use super::super::discovery::{self, DiscoveredPlugin, Inspected};
use super::super::install::{self, Previous, signature_path};
use super::super::trust::Verified;
use super::{Error, PluginManager, Slot, SupervisorHandle};
use crate::plugins::lifecycle::{Event, StopIntent};
use crate::plugins::status::{PluginInfo, PluginState, PluginStatus};
use crate::store::{Actor, EventKind, NewEvent};

/// A plugin binary received by the API, waiting in the staging directory; deleted when dropped
/// unless it was installed.
#[derive(Debug)]
pub struct Upload {
    /// The staged executable, in [`PluginManager::staging_dir`].
    pub binary: TempPath,
    /// Its detached signature (the content of the vendor's `X.binary.sig`), if it came with one.
    pub signature: Option<String>,
}

/// What [`PluginManager::install`] did.
#[derive(Debug, Clone)]
pub enum Installed {
    /// A new plugin, disabled until enabled.
    New(PluginInfo),
    /// A new version of an installed plugin (which passed its health window if it was
    /// running).
    Upgraded(PluginInfo),
}

/// The scan lock, held from an `inspect` until its verdict is on a slot.
type ScanLock<'a> = tokio::sync::MutexGuard<'a, Option<super::ScanMark>>;

/// Removes the staged signature when the install ends without moving it.
struct StagedSignature(PathBuf);

impl Drop for StagedSignature {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl PluginManager {
    /// Where the API stages uploads: on the plugins directory's filesystem, so that installing
    /// one is a rename.
    pub fn staging_dir(&self) -> PathBuf {
        install::staging_dir(&self.shared.context.settings.plugins_dir)
    }

    /// Installs an uploaded binary: a new plugin, or an upgrade of the installed plugin with
    /// its id. Refuses it with [`Error::InvalidPlugin`] (nothing changed, the upload deleted)
    /// when discovery would skip it; answers [`Error::UpgradeFailed`] when an upgraded plugin
    /// failed its health window and its previous version was put back.
    pub async fn install(&self, upload: Upload, by: &Actor) -> Result<Installed, Error> {
        let _one_at_a_time = self.shared.installing.lock().await;
        self.scanned().await;
        let staged: &Path = &upload.binary;
        let signature = StagedSignature(signature_path(staged));
        let files = |source| Error::Files {
            plugin_id: "(upload)".into(),
            action: "stage",
            source,
        };
        tokio::fs::set_permissions(staged, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(files)?;
        if let Some(text) = &upload.signature {
            tokio::fs::write(&signature.0, text).await.map_err(files)?;
        }
        // Held until the verdict is on a slot: a scan meanwhile would prune the verified copy
        // `inspect` makes under `enforce`, since no slot uses it yet.
        let scan = self.shared.last_scan.lock().await;
        let settings = &self.shared.context.settings;
        let found = discovery::inspect(
            staged,
            settings.discovery,
            settings.limits,
            self.shared.context.backend.as_ref(),
            &settings.trust,
        )
        .await
        .map_err(|refusal| Error::InvalidPlugin {
            reason: refusal.reason,
        })?;
        let result = match self.shared.slot(found.id.as_str()) {
            None => self.install_new(found, upload.binary, by, scan).await,
            Some(slot) => self.upgrade(slot, found, upload.binary, by, scan).await,
        };
        drop(signature);
        result
    }

    /// Installs a plugin with a new id as `<plugins dir>/<id>.binary`, disabled.
    async fn install_new(
        &self,
        found: Inspected,
        staged: TempPath,
        by: &Actor,
        _scan: ScanLock<'_>,
    ) -> Result<Installed, Error> {
        let id = found.id.clone();
        let dest = self
            .shared
            .context
            .settings
            .plugins_dir
            .join(format!("{id}.binary"));
        let dest = std::path::absolute(&dest).unwrap_or(dest);
        if let Some(owner) = self.list().into_iter().find(|p| p.binary == dest) {
            return Err(Error::InvalidPlugin {
                reason: format!(
                    "{} is the binary of plugin {}; upload that plugin's new version instead",
                    dest.display(),
                    owner.id
                ),
            });
        }
        let staged_path = staged.to_path_buf();
        // Under the scan lock (`_scan`): a scan must not add the same plugin a second time.
        let moved = dest.clone();
        files(id.as_str(), "install", move || {
            let staged = staged.keep().map_err(|e| e.error)?;
            install::put_in_place(&staged, &moved)
        })
        .await?;
        let version = found.meta.version.clone();
        let name = found.meta.name.clone();
        let found = DiscoveredPlugin {
            verified: moved_to(found.verified, &staged_path, &dest),
            id: found.id,
            meta: found.meta,
            binary: dest.clone(),
        };
        let slot = self.new_slot(found).await?;
        self.shared
            .plugins
            .write()
            .expect("plugins lock")
            .insert(id.clone(), slot.clone());
        self.shared
            .failures
            .write()
            .expect("failures lock")
            .retain(|failure| failure.binary != dest);
        let details = format!("{name} {version} installed at {}", dest.display());
        self.shared
            .context
            .record(NewEvent::plugin(id.as_str(), EventKind::Installed, &details).by(by))
            .await;
        tracing::info!(plugin = id.as_str(), version, "plugin installed");
        Ok(Installed::New(slot.info()))
    }

    /// Replaces an installed plugin's binary with `staged`, keeping the installed one as the
    /// previous version, and, if the plugin runs, restarts it and watches the health window.
    async fn upgrade(
        &self,
        slot: Arc<Slot>,
        found: Inspected,
        staged: TempPath,
        by: &Actor,
        scan: ScanLock<'_>,
    ) -> Result<Installed, Error> {
        let Inspected { meta, verified, .. } = found;
        let id = slot.id.clone();
        let old = slot.meta();
        let old_verified = slot.verified();
        let staged_path = staged.to_path_buf();
        let (from, to) = (old.version.clone(), meta.version.clone());
        let mut supervisor = slot.supervisor.lock().await;
        let previous = Previous::of(&self.shared.context.settings.plugins_dir, &id);
        let current = slot.binary.clone();
        let (kept, version) = (previous.clone(), from.clone());
        files(id.as_str(), "upgrade", move || {
            kept.keep(&current, &version)?;
            let staged = staged.keep().map_err(|e| e.error)?;
            install::put_in_place(&staged, &current)
        })
        .await?;
        slot.set_versions(meta, Some(from.clone()));
        // What the next start checks and runs is the new binary (under `enforce`, its copy).
        slot.set_verified(moved_to(verified, &staged_path, &slot.binary));
        drop(scan);
        let was_running = self.restart_if_running(&slot, &mut supervisor).await;
        drop(supervisor);
        if was_running && let Err(reason) = self.health_window(&slot).await {
            self.put_back(&slot, &previous, old, old_verified).await?;
            let details = format!("{from} → {to} failed, {from} put back: {reason}");
            self.shared
                .context
                .record(NewEvent::plugin(id.as_str(), EventKind::UpgradeFailed, &details).by(by))
                .await;
            tracing::warn!(plugin = id.as_str(), %reason, "upgrade failed; rolled back");
            return Err(Error::UpgradeFailed {
                plugin_id: id,
                version: to,
                reason,
            });
        }
        let details = format!("{from} → {to}");
        self.shared
            .context
            .record(NewEvent::plugin(id.as_str(), EventKind::Upgraded, &details).by(by))
            .await;
        tracing::info!(plugin = id.as_str(), from, to, "plugin upgraded");
        Ok(Installed::Upgraded(slot.info()))
    }

    /// After a failed upgrade: the kept binary back in place, `meta` its metadata, and the
    /// plugin started on it again (even if it gave up on the new one meanwhile).
    async fn put_back(
        &self,
        slot: &Arc<Slot>,
        previous: &Previous,
        meta: PluginMetadata,
        verified: Verified,
    ) -> Result<(), Error> {
        let mut supervisor = slot.supervisor.lock().await;
        let (kept, current) = (previous.clone(), slot.binary.clone());
        files(
            slot.id.as_str(),
            "put back the previous version of",
            move || kept.restore(&current),
        )
        .await?;
        slot.set_versions(meta, None);
        slot.set_verified(verified);
        self.start_again(slot, &mut supervisor).await
    }

    /// Restarts a plugin that an upgrade found running, whatever its supervisor did since: a
    /// supervisor in backoff is restarted, one that gave up (and recorded the plugin disabled)
    /// is replaced, and the plugin recorded enabled again.
    async fn start_again(
        &self,
        slot: &Arc<Slot>,
        supervisor: &mut Option<SupervisorHandle>,
    ) -> Result<(), Error> {
        if self.restart_if_running(slot, supervisor).await {
            return Ok(());
        }
        if let Some(ended) = supervisor.take() {
            ended.stop(StopIntent::Disable).await;
        }
        self.shared.persist_enabled(slot.id.as_str(), true).await?;
        slot.send(Event::Enable);
        *supervisor = Some(self.spawn_supervisor(slot, None));
        Ok(())
    }

    /// Watches a plugin just restarted on a new binary: it must reach `running` (within the
    /// supervisor's own start bounds) and then stay `running` and answer every ping for the
    /// health window. The reason it did not, otherwise.
    async fn health_window(&self, slot: &Slot) -> Result<(), String> {
        let settings = &self.shared.context.settings;
        let window = settings.upgrade_health_window;
        let mut status = slot.subscribe();
        // The supervisor bounds the start (connect and init, each `start_timeout`); this is
        // only a backstop should it never report.
        let start_bound = settings.start_timeout * 2 + settings.stop_grace * 2;
        let started = tokio::time::timeout(start_bound, async {
            let reached = status.wait_for(|s| s.state == PluginState::Running || failed(s));
            reached.await.map(|s| s.clone())
        })
        .await;
        let started = match started {
            Err(_) => Err(format!("not running within {start_bound:?}")),
            Ok(Err(_)) => Err("its supervisor ended".to_owned()),
            Ok(Ok(s)) if failed(&s) => Err(failure_reason(&s, "did not start")),
            Ok(Ok(_)) => Ok(()),
        };
        started?;
        let unwell = |s: &PluginStatus| s.state != PluginState::Running || !s.healthy;
        let watched = tokio::time::timeout(window, async {
            status.wait_for(unwell).await.map(|s| s.clone())
        })
        .await;
        match watched {
            Err(_) => Ok(()),
            Ok(Err(_)) => Err("its supervisor ended".into()),
            Ok(Ok(s)) if s.state == PluginState::Running => Err(format!(
                "missed a ping within the {} health window",
                seconds(window)
            )),
            Ok(Ok(s)) => Err(failure_reason(&s, "stopped running")),
        }
    }

    /// Swaps a plugin's binary with its previous version (the current one becomes the previous
    /// one), restarting it if it runs; [`Error::NoPreviousVersion`] when none is kept. The kept
    /// binary is checked as an upload is first, so a rollback never installs what discovery
    /// would skip.
    pub async fn rollback(&self, plugin_id: &str, by: &Actor) -> Result<PluginInfo, Error> {
        let _one_at_a_time = self.shared.installing.lock().await;
        let slot = self.discovered(plugin_id).await?;
        let id = slot.id.clone();
        let previous = Previous::of(&self.shared.context.settings.plugins_dir, &id);
        let kept = previous.clone();
        if !tokio::task::spawn_blocking(move || kept.exists()).await? {
            return Err(Error::NoPreviousVersion(id));
        }
        let scan = self.shared.last_scan.lock().await;
        let settings = &self.shared.context.settings;
        let found = discovery::inspect(
            &previous.binary,
            settings.discovery,
            settings.limits,
            self.shared.context.backend.as_ref(),
            &settings.trust,
        )
        .await
        .map_err(|refusal| Error::InvalidPlugin {
            reason: format!("the previous version: {}", refusal.reason),
        })?;
        if found.id != id {
            return Err(Error::InvalidPlugin {
                reason: format!("the previous version is plugin {}, not {id}", found.id),
            });
        }
        let mut supervisor = slot.supervisor.lock().await;
        let from = slot.meta().version;
        let to = found.meta.version.clone();
        let (kept, current, version) = (previous.clone(), slot.binary.clone(), from.clone());
        files(id.as_str(), "roll back", move || {
            kept.swap_with(&current, &version)
        })
        .await?;
        slot.set_versions(found.meta, Some(from.clone()));
        slot.set_verified(moved_to(found.verified, &previous.binary, &slot.binary));
        drop(scan);
        self.restart_if_running(&slot, &mut supervisor).await;
        drop(supervisor);
        let details = format!("{from} → {to}");
        self.shared
            .context
            .record(NewEvent::plugin(id.as_str(), EventKind::RolledBack, &details).by(by))
            .await;
        tracing::info!(plugin = id.as_str(), from, to, "plugin rolled back");
        Ok(slot.info())
    }

    /// Stops a plugin, records it disabled, deletes its binary, signature and previous version,
    /// and forgets it. With `purge` its KV data and licence key are deleted too (one
    /// transaction); without, they stay for a later install of the same id.
    pub async fn uninstall(&self, plugin_id: &str, purge: bool, by: &Actor) -> Result<(), Error> {
        let _one_at_a_time = self.shared.installing.lock().await;
        let slot = self.discovered(plugin_id).await?;
        let id = slot.id.clone();
        let mut supervisor = slot.supervisor.lock().await;
        self.shared.persist_enabled(id.as_str(), false).await?;
        if let Some(handle) = supervisor.take() {
            handle.stop(StopIntent::Disable).await;
        }
        let previous = Previous::of(&self.shared.context.settings.plugins_dir, &id);
        let binary = slot.binary.clone();
        files(id.as_str(), "remove", move || {
            install::remove_binary(&binary)?;
            previous.remove()
        })
        .await?;
        self.shared
            .plugins
            .write()
            .expect("plugins lock")
            .remove(id.as_str());
        drop(supervisor);
        let details = if purge {
            let purged = self.shared.context.store.purge_plugin(id.as_str()).await?;
            format!(
                "uninstalled; data purged ({} KV entries{})",
                purged.kv_entries,
                if purged.license { ", licence key" } else { "" }
            )
        } else {
            "uninstalled; its data is kept".to_owned()
        };
        self.shared
            .context
            .record(NewEvent::plugin(id.as_str(), EventKind::Uninstalled, &details).by(by))
            .await;
        tracing::info!(plugin = id.as_str(), purge, "plugin uninstalled");
        Ok(())
    }
}

/// A state an upgraded plugin must not reach in its health window.
fn failed(status: &PluginStatus) -> bool {
    matches!(
        status.state,
        PluginState::Backoff | PluginState::Failed | PluginState::Disabled
    )
}

/// Why a plugin failed, from its status.
fn failure_reason(status: &PluginStatus, what: &str) -> String {
    match &status.last_error {
        Some(error) => format!("{what}: {error}"),
        None => format!("{what} ({})", status.state),
    }
}

/// `30 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// A verdict on the file `from` whose bytes are now at `dest` (a staged upload installed, a
/// kept version swapped in): under `enforce` the verified copy still runs, its digest the
/// same; otherwise the binary runs from `dest`, and its next start checks it there again.
fn moved_to(mut verified: Verified, from: &Path, dest: &Path) -> Verified {
    if verified.run_from == from {
        verified.run_from = dest.to_owned();
        verified.stamp = None;
    }
    verified
}

/// Runs `work` on the blocking pool: moving, keeping or removing `plugin_id`'s files for
/// `action`, whose failure is an [`Error::Files`] saying which.
async fn files<T: Send + 'static>(
    plugin_id: &str,
    action: &'static str,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await?
        .map_err(|source| Error::Files {
            plugin_id: plugin_id.to_owned(),
            action,
            source,
        })
}
