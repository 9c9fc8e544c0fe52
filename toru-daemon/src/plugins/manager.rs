//! The plugin manager: the set of discovered plugins, their supervisors, and the operations the
//! API offers on them (list, enable, disable, forward a request).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use toru_plugin_api::{ErrorCode, HttpRequest, HttpResponse, PluginId};

pub use super::error::{Error, ForwardError};

use super::backend::{BackendKind, RunningPlugin, SupervisorBackend};
use super::connection::ConnectionError;
use super::discovery::{self, DiscoveryFailure};
use super::enabled::{EnabledConfig, EnabledState};
use super::install::Previous;
use super::lifecycle::{Event, StopIntent};
use super::plugin_config::{self, InvalidSettings, PluginSettings};
use super::settings::Settings;
use super::slot::{Kept, Slot, StopSignal, SupervisorHandle};
use super::status::{PluginInfo, PluginState, PluginStatus};
use super::supervisor::{SupervisorContext, supervise};
use super::trust::{self, SignatureStatus};
use crate::error_chain::ErrorChain;
use crate::metrics::{ForwardMeter, PluginSample, ResourceFigures};
use crate::store::{Actor, EventKind, NewEvent, PluginData, Store};

#[path = "manager_install.rs"]
mod installing;
#[path = "manager_usage.rs"]
mod usage;

pub use installing::{Installed, Upload};
pub use usage::UsageReport;

/// How often `enable` of an id no scan has found may scan an unchanged plugins directory again.
/// Each scan runs every `--metadata` (up to 5 s each), so without this bound a client could keep
/// the daemon scanning by enabling made-up ids. A directory whose modification time changed since
/// the last scan began (a binary was installed) is scanned at once; `rescan` (`POST
/// /api/rescan`) is never limited, only shared.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(10);

/// When the last scan began, and the plugins directory's modification time just before.
#[derive(Debug, Clone, Copy)]
struct ScanMark {
    started: Instant,
    dir_modified: Option<std::time::SystemTime>,
}

/// State shared by the manager's clones.
struct Shared {
    /// What the supervisors need; the manager uses the same settings, store and backend.
    context: Arc<SupervisorContext>,
    plugins: RwLock<BTreeMap<PluginId, Arc<Slot>>>,
    failures: RwLock<Vec<DiscoveryFailure>>,
    /// Serialises scans and holds when the last one started, so that concurrent rescans share
    /// one and `enable` rescans at most once per [`RESCAN_INTERVAL`].
    last_scan: tokio::sync::Mutex<Option<ScanMark>>,
    /// Serialises installs, upgrades, rollbacks and uninstalls: each moves files of the plugins
    /// directory and may wait out a health window, and two at once could interleave renames.
    installing: tokio::sync::Mutex<()>,
    /// `true` once the first scan and the restore of the enabled plugins are done.
    scanned: watch::Sender<bool>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Shared {
    /// Saves the enabled flag durably.
    async fn persist_enabled(&self, plugin_id: &str, enabled: bool) -> Result<(), Error> {
        self.context
            .enabled
            .persist(plugin_id, enabled)
            .await
            .map_err(|source| Error::Persist {
                plugin_id: plugin_id.to_owned(),
                source,
            })
    }

    fn slot(&self, plugin_id: &str) -> Option<Arc<Slot>> {
        self.plugins
            .read()
            .expect("plugins lock")
            .get(plugin_id)
            .cloned()
    }
}

/// Logs the warning `warn` promises for a plugin that is not signed by a trusted key.
fn warn_if_not_signed(id: &PluginId, status: &SignatureStatus) {
    match status {
        SignatureStatus::Unsigned => {
            tracing::warn!(plugin = id.as_str(), "plugin is unsigned");
        }
        SignatureStatus::Invalid { reason } => {
            tracing::warn!(plugin = id.as_str(), reason, "plugin has a bad signature");
        }
        SignatureStatus::Signed { .. } | SignatureStatus::NotChecked => {}
    }
}

/// Discovers, supervises and serves plugins. Cheap to clone.
#[derive(Clone)]
pub struct PluginManager {
    shared: Arc<Shared>,
}

impl PluginManager {
    /// Scans the plugins directory, stops plugin processes that are no longer enabled, adopts
    /// or starts the enabled ones, and returns. Plugins finish starting in the background.
    pub async fn start(
        settings: Settings,
        store: Store,
        backend: Arc<dyn SupervisorBackend>,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        let manager = Self::start_scanning(settings, store, backend, shutdown).await?;
        manager.scanned().await;
        Ok(manager)
    }

    /// [`PluginManager::start`], but returns before the first scan: it and the restore of the
    /// enabled plugins go on in the background, so that one slow `--metadata` cannot hold back
    /// the API. [`PluginManager::scanned`] says when they are done.
    pub async fn start_scanning(
        settings: Settings,
        store: Store,
        backend: Arc<dyn SupervisorBackend>,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        let instance_id = store.instance_id().await?.to_string();
        let dir = settings.plugins_dir.clone();
        // The cheap part of a scan, so an unusable directory still fails the start.
        let scan_error = |source| Error::Scan {
            dir: dir.clone(),
            source,
        };
        tokio::fs::create_dir_all(&dir).await.map_err(scan_error)?;
        let _listable = tokio::fs::read_dir(&dir).await.map_err(scan_error)?;
        let enabled = tokio::task::spawn_blocking(move || EnabledState::load(&dir)).await??;
        let context = SupervisorContext {
            settings,
            backend,
            store,
            instance_id,
            enabled: EnabledConfig::new(enabled),
        };
        let shared = Arc::new(Shared {
            context: Arc::new(context),
            plugins: RwLock::default(),
            failures: RwLock::default(),
            last_scan: tokio::sync::Mutex::default(),
            installing: tokio::sync::Mutex::default(),
            scanned: watch::Sender::new(false),
            shutdown,
            tasks: TaskTracker::new(),
        });
        let manager = PluginManager { shared };
        let first = manager.clone();
        manager.shared.tasks.spawn(async move {
            let shutdown = first.shared.shutdown.clone();
            tokio::select! {
                () = first.first_scan() => {}
                // Dropping the scan kills the `--metadata` processes still running.
                () = shutdown.cancelled() => {}
            }
            first.shared.scanned.send_replace(true);
        });
        manager.spawn_usage_sampler();
        Ok(manager)
    }

    /// The first scan and the restore, with errors logged: nobody waits for them to report.
    async fn first_scan(&self) {
        if let Err(e) = self.scan(None).await {
            tracing::error!(error = %ErrorChain(&e), "cannot scan the plugins directory");
        }
        if let Err(e) = self.restore().await {
            tracing::error!(error = %ErrorChain(&e), "cannot restore the enabled plugins");
        }
        tracing::info!(plugins = self.list().len(), "plugins discovered");
    }

    /// The slot of a discovered plugin, once the first scan is done (so a plugin about to be
    /// discovered is not reported unknown); `UnknownPlugin` otherwise.
    async fn discovered(&self, plugin_id: &str) -> Result<Arc<Slot>, Error> {
        self.scanned().await;
        self.shared
            .slot(plugin_id)
            .ok_or_else(|| Error::UnknownPlugin(plugin_id.to_owned()))
    }

    /// Returns once the first scan and the restore of the enabled plugins are done. Until then
    /// the plugin list is incomplete; the API's plugin routes wait for this.
    pub async fn scanned(&self) {
        let mut scanned = self.shared.scanned.subscribe();
        let _ = scanned.wait_for(|done| *done).await;
    }

    /// Scans the plugins directory again: new plugins appear (disabled), the skipped-binaries
    /// list is refreshed. Known plugins keep running as they are. Concurrent calls share scans:
    /// a call returns without scanning when a scan that began after it was made has finished.
    pub async fn rescan(&self, by: &Actor) -> Result<(), Error> {
        self.scan(None).await?;
        self.shared
            .context
            .record(NewEvent::daemon(EventKind::Rescanned, "plugins directory scanned").by(by))
            .await;
        Ok(())
    }

    /// Scans unless a scan that began after this call has finished meanwhile, or, with
    /// `fresh_within`, unless the last scan began less than that long ago and the directory has
    /// not changed since.
    async fn scan(&self, fresh_within: Option<Duration>) -> Result<(), Error> {
        let asked = Instant::now();
        let mut last = self.shared.last_scan.lock().await;
        let dir_modified = tokio::fs::metadata(&self.shared.context.settings.plugins_dir)
            .await
            .and_then(|m| m.modified())
            .ok();
        if let Some(mark) = *last {
            let shared_scan = mark.started >= asked;
            let fresh = fresh_within.is_some_and(|within| {
                mark.started.elapsed() < within && mark.dir_modified == dir_modified
            });
            if shared_scan || fresh {
                return Ok(());
            }
        }
        let started = Instant::now();
        let result = self.discover().await;
        *last = Some(ScanMark {
            started,
            dir_modified,
        });
        result
    }

    /// Scans the plugins directory and records what was found. Plugins already known keep their
    /// supervisors; new ones are added disabled.
    async fn discover(&self) -> Result<(), Error> {
        let shared = &self.shared;
        let dir = &shared.context.settings.plugins_dir;
        let settings = &shared.context.settings;
        let backend = shared.context.backend.as_ref();
        let scan = discovery::scan(
            dir,
            settings.discovery,
            settings.limits,
            backend,
            &settings.trust,
        )
        .await
        .map_err(|source| Error::Scan {
            dir: dir.clone(),
            source,
        })?;
        for failure in &scan.failures {
            let name = failure.binary.file_stem().map_or_else(
                || failure.binary.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            tracing::warn!(binary = %failure.binary.display(), reason = failure.reason, "skipping plugin");
            shared
                .context
                .event(&name, EventKind::DiscoveryFailed, &failure.reason)
                .await;
            if failure.signature_refused {
                shared
                    .context
                    .event(&name, EventKind::SignatureRefused, &failure.reason)
                    .await;
            }
        }
        for found in scan.plugins {
            let id = found.id.clone();
            warn_if_not_signed(&id, &found.verified.status);
            if let Some(known) = shared.slot(id.as_str()) {
                // A rescan verifies a known plugin again (its next start runs what was verified).
                known.set_verified(found.verified);
                continue;
            }
            tracing::info!(plugin = id.as_str(), binary = %found.binary.display(), version = found.meta.version, "discovered plugin");
            let details = format!(
                "{} {} at {}",
                found.meta.name,
                found.meta.version,
                found.binary.display()
            );
            let context = &shared.context;
            context
                .event(id.as_str(), EventKind::Discovered, &details)
                .await;
            // Disabled until `restore` or `enable` starts it, even if `config.json` says it is
            // enabled: the status says what is true, and nothing runs yet.
            let slot = self.new_slot(found).await?;
            shared
                .plugins
                .write()
                .expect("plugins lock")
                .insert(id, slot);
        }
        *shared.failures.write().expect("failures lock") = scan.failures;
        self.prune_verified_copies().await;
        Ok(())
    }

    /// Deletes the verified copies (`enforce`) that no plugin runs from any more.
    async fn prune_verified_copies(&self) {
        let in_use: BTreeSet<_> = {
            let plugins = self.shared.plugins.read().expect("plugins lock");
            plugins
                .values()
                .filter_map(|slot| slot.verified().digest)
                .collect()
        };
        let dir = self.shared.context.settings.trust.verified_dir.clone();
        let pruned = tokio::task::spawn_blocking(move || trust::prune(&dir, &in_use)).await;
        match pruned {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(copies = n, "pruned verified copies no plugin uses"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune the verified copies"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the verified copies"),
        }
    }

    /// The slot of a plugin just found (by a scan or an install), disabled, with its licence
    /// key and the version kept for a rollback, if any.
    async fn new_slot(&self, found: discovery::DiscoveredPlugin) -> Result<Arc<Slot>, Error> {
        let context = &self.shared.context;
        let previous = Previous::of(&context.settings.plugins_dir, &found.id);
        let previous_version = tokio::task::spawn_blocking(move || previous.version()).await?;
        let kept = Kept {
            license_key: context.store.license_key(found.id.as_str()).await?,
            previous_version,
            settings: plugin_config::decode_stored(
                context
                    .store
                    .plugin_settings(found.id.as_str())
                    .await?
                    .as_deref(),
            )
            .map_err(crate::store::Error::Corrupt)?,
            limits: context.store.plugin_limits(found.id.as_str()).await?,
        };
        Ok(Arc::new(Slot::new(
            found,
            context.settings.restart_policy(),
            kept,
        )))
    }

    /// Brings the running processes in line with the enabled state: stops leftovers of plugins
    /// no longer enabled (or no longer installed), adopts running enabled ones, starts the rest.
    async fn restore(&self) -> Result<(), Error> {
        let shared = &self.shared;
        let context = &shared.context;
        for id in context.backend.list_running().await? {
            let wanted =
                shared.slot(id.as_str()).is_some() && context.enabled.is_enabled(id.as_str());
            if !wanted {
                tracing::info!(
                    plugin = id.as_str(),
                    "stopping a plugin that is no longer enabled"
                );
                context
                    .backend
                    .stop(&id, context.settings.stop_grace)
                    .await?;
                context
                    .event(
                        id.as_str(),
                        EventKind::Stopped,
                        "stopped at daemon start: not enabled",
                    )
                    .await;
            }
        }
        for id in context.enabled.enabled_ids() {
            let Some(slot) = shared.slot(&id) else {
                tracing::warn!(plugin = id, "enabled plugin is not installed");
                continue;
            };
            let adopted = match context.backend.adopt(&slot.id).await {
                Ok(adopted) => adopted,
                Err(e) => {
                    tracing::warn!(plugin = id, error = %ErrorChain(&e), "cannot adopt plugin; starting it");
                    None
                }
            };
            let mut supervisor = slot.supervisor.lock().await;
            if supervisor.is_none() {
                slot.send(Event::Enable);
                *supervisor = Some(self.spawn_supervisor(&slot, adopted));
            }
        }
        Ok(())
    }

    /// Starts the supervisor of a plugin whose lifecycle is `starting`. The caller holds the
    /// slot's supervisor lock and stores the handle.
    fn spawn_supervisor(
        &self,
        slot: &Arc<Slot>,
        adopted: Option<RunningPlugin>,
    ) -> SupervisorHandle {
        let stop = StopSignal::new(&self.shared.shutdown);
        let task = self.shared.tasks.spawn(supervise(
            self.shared.context.clone(),
            slot.clone(),
            stop.clone(),
            adopted,
        ));
        SupervisorHandle::new(stop, task)
    }

    /// Every discovered plugin, sorted by id.
    pub fn list(&self) -> Vec<PluginInfo> {
        let plugins = self.shared.plugins.read().expect("plugins lock");
        plugins.values().map(|slot| slot.info()).collect()
    }

    /// One plugin.
    pub fn get(&self, plugin_id: &str) -> Option<PluginInfo> {
        self.shared.slot(plugin_id).map(|slot| slot.info())
    }

    /// What `GET /metrics` shows of every discovered plugin: its status, its counters and its
    /// resource figures.
    pub fn metrics_samples(&self) -> Vec<PluginSample> {
        let plugins = self.shared.plugins.read().expect("plugins lock");
        plugins
            .values()
            .map(|slot| PluginSample {
                id: slot.id.clone(),
                status: slot.status(),
                metrics: slot.metrics.clone(),
                uptime: slot.uptime(),
                resources: slot.usage_now().map(|now| {
                    let raw = now.reading.raw;
                    ResourceFigures {
                        memory_bytes: raw.memory_bytes,
                        cpu_seconds: raw.cpu_nanos.map(|ns| ns as f64 / 1e9),
                        tasks: raw.tasks,
                    }
                }),
            })
            .collect()
    }

    /// Binaries that were skipped at the last scan, and why.
    pub fn discovery_failures(&self) -> Vec<DiscoveryFailure> {
        self.shared.failures.read().expect("failures lock").clone()
    }

    /// Watches one plugin's status, e.g. to wait until it runs.
    pub fn subscribe(&self, plugin_id: &str) -> Option<watch::Receiver<PluginStatus>> {
        self.shared.slot(plugin_id).map(|slot| slot.subscribe())
    }

    /// The installation's id.
    pub fn instance_id(&self) -> &str {
        &self.shared.context.instance_id
    }

    /// Which backend runs the plugins.
    pub fn backend_kind(&self) -> BackendKind {
        self.shared.context.backend.kind()
    }

    /// The store, for KV access on a plugin's behalf.
    pub fn store(&self) -> &Store {
        &self.shared.context.store
    }

    /// Enables a plugin: records it durably, then starts supervising it. Returns at once; the
    /// status moves through `starting` to `running`. Enabling an enabled plugin is a no-op.
    pub async fn enable(&self, plugin_id: &str, by: &Actor) -> Result<PluginInfo, Error> {
        let shared = &self.shared;
        self.scanned().await;
        // A plugin installed since the last scan: look again before saying it does not exist,
        // so `build.sh DIR && toructl plugin enable ID` works against a running daemon. At most
        // once per interval, so made-up ids cannot keep the daemon scanning.
        if shared.slot(plugin_id).is_none() {
            self.scan(Some(RESCAN_INTERVAL)).await?;
        }
        let slot = shared
            .slot(plugin_id)
            .ok_or_else(|| Error::UnknownPlugin(plugin_id.to_owned()))?;
        let mut supervisor = slot.supervisor.lock().await;
        // A supervisor that gave up has ended; its handle is stale.
        if supervisor
            .as_ref()
            .is_some_and(SupervisorHandle::is_finished)
        {
            *supervisor = None;
        }
        if supervisor.is_some() {
            return Ok(slot.info());
        }
        if let Some(name) = slot.missing_required_setting() {
            return Err(Error::InvalidSettings {
                plugin_id: slot.id.clone(),
                source: InvalidSettings {
                    message: "is required and has no value; set it before enabling the plugin"
                        .into(),
                    field: Some(name),
                },
            });
        }
        shared.persist_enabled(plugin_id, true).await?;
        // `starting` at once, so a client polling after this call never sees `disabled`.
        slot.send(Event::Enable);
        shared
            .context
            .record(NewEvent::plugin(plugin_id, EventKind::Enabled, "enabled").by(by))
            .await;
        tracing::info!(plugin = plugin_id, "plugin enabled");
        *supervisor = Some(self.spawn_supervisor(&slot, None));
        drop(supervisor);
        Ok(slot.info())
    }

    /// Disables a plugin: records it durably, asks it to shut down, stops it, and returns once it
    /// is gone. Disabling a disabled plugin is a no-op.
    pub async fn disable(&self, plugin_id: &str, by: &Actor) -> Result<PluginInfo, Error> {
        let shared = &self.shared;
        let slot = self.discovered(plugin_id).await?;
        let mut supervisor = slot.supervisor.lock().await;
        let was_enabled = slot.status().enabled || supervisor.is_some();
        shared.persist_enabled(plugin_id, false).await?;
        // The supervisor moves the lifecycle to `disabled`; one that gave up left it `failed`.
        if let Some(handle) = supervisor.take() {
            handle.stop(StopIntent::Disable).await;
        }
        drop(supervisor);
        if was_enabled {
            shared
                .context
                .record(NewEvent::plugin(plugin_id, EventKind::Disabled, "disabled").by(by))
                .await;
            tracing::info!(plugin = plugin_id, "plugin disabled");
        }
        Ok(slot.info())
    }

    /// Installs (`Some`) or removes (`None`) a plugin's licence key, durably, and restarts the
    /// plugin if it runs so that it checks the new key: a plugin reads its key only at
    /// `lifecycle.init`. The caller has checked the key with
    /// [`check_key`](super::license::check_key).
    pub async fn set_license(
        &self,
        plugin_id: &str,
        key: Option<String>,
        by: &Actor,
    ) -> Result<PluginInfo, Error> {
        let shared = &self.shared;
        let slot = self.discovered(plugin_id).await?;
        let mut supervisor = slot.supervisor.lock().await;
        let (kind, details) = match &key {
            Some(key) => {
                shared.context.store.set_license_key(plugin_id, key).await?;
                (EventKind::LicenseSet, "licence key installed")
            }
            None => {
                shared.context.store.clear_license_key(plugin_id).await?;
                (EventKind::LicenseCleared, "licence key removed")
            }
        };
        slot.set_license_key(key);
        shared
            .context
            .record(NewEvent::plugin(plugin_id, kind, details).by(by))
            .await;
        tracing::info!(plugin = plugin_id, "{details}");
        self.restart_if_running(&slot, &mut supervisor).await;
        drop(supervisor);
        Ok(slot.info())
    }

    /// Replaces a plugin's KV data, licence key and settings with a backup's (one transaction;
    /// settings the plugin's schema refuses change nothing), and
    /// re-initialises the plugin if it runs, as a new licence key does: a plugin reads its key
    /// and settings only at `lifecycle.init`, and may cache what it read from its store.
    /// Records `plugin_data_restored`; says whether the plugin was re-initialised.
    pub async fn restore_data(
        &self,
        plugin_id: &str,
        mut data: PluginData,
        settings: BTreeMap<String, serde_json::Value>,
        by: &Actor,
    ) -> Result<bool, Error> {
        let shared = &self.shared;
        let slot = self.discovered(plugin_id).await?;
        let mut supervisor = slot.supervisor.lock().await;
        // The backup's settings, checked against the schema the plugin declares now (it may
        // have been taken of another version), exactly as an administrator's change is.
        let settings = match (&slot.meta().settings, settings.is_empty()) {
            (_, true) => serde_json::Map::new(),
            (Some(schema), false) => {
                plugin_config::apply_change(schema, &serde_json::Map::new(), settings)
                    .map_err(|source| Error::InvalidSettings {
                        plugin_id: slot.id.clone(),
                        source,
                    })?
                    .values
            }
            (None, false) => {
                return Err(Error::InvalidSettings {
                    plugin_id: slot.id.clone(),
                    source: InvalidSettings {
                        field: settings.into_keys().next(),
                        message: "no such setting (the plugin declares no settings)".into(),
                    },
                });
            }
        };
        data.settings =
            (!settings.is_empty()).then(|| serde_json::Value::Object(settings.clone()).to_string());
        let license_key = data.license_key.clone();
        let details = format!(
            "{} KV entries, {} settings and {} restored from a backup",
            data.kv.len(),
            settings.len(),
            if license_key.is_some() {
                "a licence key"
            } else {
                "no licence key"
            }
        );
        shared
            .context
            .store
            .replace_plugin_data(plugin_id, data)
            .await?;
        slot.set_license_key(license_key);
        slot.set_settings(settings);
        shared
            .context
            .record(NewEvent::plugin(plugin_id, EventKind::PluginDataRestored, &details).by(by))
            .await;
        tracing::info!(plugin = plugin_id, "{details}");
        let reinitialised = self.restart_if_running(&slot, &mut supervisor).await;
        drop(supervisor);
        Ok(reinitialised)
    }

    /// The plugin's declared settings and the values set for it.
    pub async fn settings(&self, plugin_id: &str) -> Result<PluginSettings, Error> {
        let slot = self.discovered(plugin_id).await?;
        Ok(PluginSettings {
            schema: slot.meta().settings,
            values: slot.settings(),
        })
    }

    /// Applies an administrator's change to a plugin's settings (each key set to its value,
    /// `null` unsetting it), validated against the plugin's schema: all of it or, with an
    /// [`Error::InvalidSettings`] naming the setting, nothing. Stores the result, records
    /// `settings_changed` with the names of the changed settings (never their values), and
    /// restarts the plugin if it runs: a plugin reads its settings only at `lifecycle.init`.
    pub async fn set_settings(
        &self,
        plugin_id: &str,
        change: BTreeMap<String, serde_json::Value>,
        by: &Actor,
    ) -> Result<PluginSettings, Error> {
        let shared = &self.shared;
        let slot = self.discovered(plugin_id).await?;
        let mut supervisor = slot.supervisor.lock().await;
        let invalid = |source| Error::InvalidSettings {
            plugin_id: slot.id.clone(),
            source,
        };
        let applied = match &slot.meta().settings {
            Some(schema) => plugin_config::apply_change(schema, &slot.settings(), change),
            None => match change.into_keys().next() {
                Some(name) => Err(InvalidSettings {
                    field: Some(name),
                    message: "no such setting (the plugin declares no settings)".into(),
                }),
                None => Ok(plugin_config::Applied {
                    values: Default::default(),
                    changed: Vec::new(),
                }),
            },
        }
        .map_err(invalid)?;
        if !applied.changed.is_empty() {
            let json = serde_json::Value::Object(applied.values.clone()).to_string();
            shared
                .context
                .store
                .set_plugin_settings(plugin_id, json)
                .await?;
            slot.set_settings(applied.values);
            let details = format!("settings changed: {}", applied.changed.join(", "));
            shared
                .context
                .record(NewEvent::plugin(plugin_id, EventKind::SettingsChanged, &details).by(by))
                .await;
            tracing::info!(plugin = plugin_id, "{details}");
            self.restart_if_running(&slot, &mut supervisor).await;
        }
        drop(supervisor);
        Ok(PluginSettings {
            schema: slot.meta().settings,
            values: slot.settings(),
        })
    }

    /// Stops the plugin and starts it again, as `systemctl restart` does: a plugin that does
    /// not run (disabled, or given up on) is enabled and started, like [`Self::enable`].
    /// Answers once the new start has begun; records `restarted`.
    pub async fn restart(&self, plugin_id: &str, by: &Actor) -> Result<PluginInfo, Error> {
        let shared = &self.shared;
        let slot = self.discovered(plugin_id).await?;
        let mut supervisor = slot.supervisor.lock().await;
        let info = if self.restart_if_running(&slot, &mut supervisor).await {
            drop(supervisor);
            slot.info()
        } else {
            drop(supervisor);
            self.enable(plugin_id, by).await?
        };
        shared
            .context
            .record(NewEvent::plugin(plugin_id, EventKind::Restarted, "restarted").by(by))
            .await;
        tracing::info!(plugin = plugin_id, "plugin restarted");
        Ok(info)
    }

    /// When the plugin's supervisor runs: stops the plugin, leaving the lifecycle `starting`,
    /// and starts a new supervisor (unless it gave up meanwhile). Says whether it ran.
    async fn restart_if_running(
        &self,
        slot: &Arc<Slot>,
        supervisor: &mut Option<SupervisorHandle>,
    ) -> bool {
        let running = supervisor.as_ref().is_some_and(|s| !s.is_finished());
        if running && let Some(handle) = supervisor.take() {
            handle.stop(StopIntent::Restart).await;
            if slot.status().state == PluginState::Starting {
                *supervisor = Some(self.spawn_supervisor(slot, None));
            }
        }
        running
    }

    /// Forwards an HTTP request to a running plugin and returns its response.
    pub async fn forward(
        &self,
        plugin_id: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, ForwardError> {
        let slot = self.forward_slot(plugin_id).await?;
        self.forward_to(&slot, request).await
    }

    /// [`forward`](Self::forward) for a client's request, measured for `GET /metrics`: the
    /// request and response bytes are counted, and the meter returned (`None` for a plugin
    /// that was never discovered) records the status the client gets and the latency when the
    /// caller finishes it. The counters come with the slot this looks up anyway.
    pub async fn forward_metered(
        &self,
        plugin_id: &str,
        request: HttpRequest,
    ) -> (Result<HttpResponse, ForwardError>, Option<ForwardMeter>) {
        let slot = match self.forward_slot(plugin_id).await {
            Ok(slot) => slot,
            Err(e) => return (Err(e), None),
        };
        let meter = slot.metrics.begin_forward(request.body.len());
        let result = self.forward_to(&slot, request).await;
        if let Ok(response) = &result {
            meter.response_bytes(response.body.len());
        }
        (result, Some(meter))
    }

    /// The slot of a plugin to forward to; 404 unless discovered.
    async fn forward_slot(&self, plugin_id: &str) -> Result<Arc<Slot>, ForwardError> {
        match self.shared.slot(plugin_id) {
            Some(slot) => Ok(slot),
            // Perhaps not scanned yet: the daemon has just started.
            None => {
                self.scanned().await;
                self.shared
                    .slot(plugin_id)
                    .ok_or_else(|| ForwardError::NotFound(plugin_id.to_owned()))
            }
        }
    }

    /// Forwards to the plugin of `slot`, if it is enabled, licensed and connected.
    async fn forward_to(
        &self,
        slot: &Slot,
        request: HttpRequest,
    ) -> Result<HttpResponse, ForwardError> {
        let plugin_id = slot.id.as_str();
        let PluginStatus { enabled, state, .. } = slot.status();
        if !enabled {
            return Err(ForwardError::NotFound(plugin_id.to_owned()));
        }
        if let Some(refusal) = slot.license_status().refusal() {
            return Err(ForwardError::Unlicensed(refusal));
        }
        let conn = slot
            .connection()
            .filter(|c| !c.is_closed())
            .ok_or_else(|| ForwardError::Unavailable {
                plugin_id: slot.id.clone(),
                state,
            })?;
        conn.http(request, self.shared.context.settings.request_timeout)
            .await
            .map_err(|e| match e {
                ConnectionError::Timeout { plugin_id, .. } => ForwardError::Timeout(plugin_id),
                ConnectionError::Remote {
                    code: ErrorCode::Unavailable,
                    ..
                }
                | ConnectionError::Closed { .. }
                | ConnectionError::Connect { .. } => ForwardError::Gone(e),
                other => ForwardError::Plugin(other),
            })
    }

    /// Stops every supervisor and waits for them. Under systemd, plugin units keep running for
    /// the next daemon to adopt; embedded children are stopped.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }
}
