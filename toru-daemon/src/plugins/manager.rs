//! The plugin manager: the set of discovered plugins, their supervisors, and the operations the
//! API offers on them (list, enable, disable, forward a request).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use toru_plugin_api::{ErrorCode, HttpRequest, HttpResponse, PluginMetadata};

use super::backend::{BackendKind, Limits, SupervisorBackend};
use super::connection::{Connection, ConnectionError};
use super::discovery::{self, DiscoveryFailure, DiscoveryLimits};
use super::enabled::EnabledState;
use super::license::{LicenseSlot, LicenseStatus};
use super::status::{PluginState, PluginStatus};
use super::supervisor::{Backoff, supervise};
use crate::store::{EventKind, Store};
use crate::sync::lock;

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

/// Tunables of plugin supervision; [`Settings::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where `*.binary` files are found and `.metadata/config.json` is kept.
    pub plugins_dir: PathBuf,
    /// Consecutive failures after which a plugin is disabled.
    pub max_failures: u32,
    /// Restart delays.
    pub backoff: Backoff,
    /// A run this long resets the failure count.
    pub stable_after: Duration,
    /// How long a started plugin has to listen and answer `lifecycle.init`.
    pub start_timeout: Duration,
    /// How long a forwarded HTTP request may take.
    pub request_timeout: Duration,
    /// Health-check period.
    pub ping_interval: Duration,
    /// How long a ping may take.
    pub ping_timeout: Duration,
    /// Missed pings in a row after which the plugin is restarted as hung.
    pub max_missed_pings: u32,
    /// How long a plugin has to exit after being asked to.
    pub stop_grace: Duration,
    /// Protocol frame limit.
    pub max_frame: usize,
    /// Resource limits for plugin processes.
    pub limits: Limits,
    /// Limits for `--metadata`.
    pub discovery: DiscoveryLimits,
}

impl Settings {
    /// Defaults: 10 failures, 1–16 s backoff, stable after 30 s, 10 s start, 30 s requests,
    /// ping every 10 s (5 s timeout, 3 missed = hung), 5 s stop grace, 8 MiB frames.
    pub fn new(plugins_dir: PathBuf) -> Self {
        Settings {
            plugins_dir,
            max_failures: 10,
            backoff: Backoff::default(),
            stable_after: Duration::from_secs(30),
            start_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(5),
            max_missed_pings: 3,
            stop_grace: Duration::from_secs(5),
            max_frame: toru_plugin_api::DEFAULT_MAX_FRAME,
            limits: Limits::default(),
            discovery: DiscoveryLimits::default(),
        }
    }
}

/// Errors of plugin management, with the plugin they concern.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No discovered plugin has this id.
    #[error("no plugin with id {0:?}")]
    UnknownPlugin(String),
    /// The enabled state could not be saved; nothing was changed.
    #[error("cannot save the enabled state of {plugin_id}: {reason}")]
    Persist {
        /// The plugin.
        plugin_id: String,
        /// Why.
        reason: String,
    },
    /// The enabled-state file exists but is unreadable.
    #[error("{0}")]
    EnabledState(String),
    /// Scanning the plugins directory failed.
    #[error("cannot scan the plugins directory {dir}: {source}")]
    Scan {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The backend failed outside any one plugin.
    #[error(transparent)]
    Backend(#[from] super::backend::BackendError),
}

/// Why a request could not be forwarded to a plugin.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Unknown or not enabled: its routes do not exist.
    #[error("no enabled plugin with id {0:?}")]
    NotFound(String),
    /// Enabled but not running right now (starting, restarting, failed).
    #[error("plugin {plugin_id} is not available ({state:?})")]
    Unavailable {
        /// The plugin.
        plugin_id: String,
        /// Its state.
        state: PluginState,
    },
    /// The plugin did not answer in time.
    #[error("plugin {0} did not answer in time")]
    Timeout(String),
    /// The plugin is busy or its connection died mid-request.
    #[error("{0}")]
    Gone(String),
    /// The plugin answered with a protocol error.
    #[error("{0}")]
    Plugin(String),
    /// A `license_required` plugin has no valid licence; the daemon answers for it.
    #[error("{message}")]
    Unlicensed {
        /// 402 when no key is installed, else 403.
        status: u16,
        /// The licence failure kind, e.g. `wrong_instance`.
        kind: String,
        /// What the admin can do about it.
        message: String,
    },
}

/// A plugin as the API shows it: metadata plus runtime status.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// What the plugin says about itself.
    pub meta: PluginMetadata,
    /// Its executable.
    pub binary: PathBuf,
    /// What the daemon knows about it now.
    pub status: PluginStatus,
    /// Its licence key and the plugin's verdict on it.
    pub license: LicenseStatus,
}

/// State shared by the manager and every supervisor.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) backend: Arc<dyn SupervisorBackend>,
    pub(crate) instance_id: String,
    plugins: RwLock<BTreeMap<String, Arc<Slot>>>,
    failures: RwLock<Vec<DiscoveryFailure>>,
    enabled: Arc<Mutex<EnabledState>>,
    /// Serialises scans and holds when the last one started, so that concurrent rescans share
    /// one and `enable` rescans at most once per [`RESCAN_INTERVAL`].
    last_scan: tokio::sync::Mutex<Option<ScanMark>>,
    /// `true` once the first scan and the restore of the enabled plugins are done.
    scanned: watch::Sender<bool>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// One discovered plugin.
pub(crate) struct Slot {
    pub(crate) meta: PluginMetadata,
    pub(crate) binary: PathBuf,
    status: watch::Sender<PluginStatus>,
    /// The live, initialised connection while the plugin runs.
    connection: Mutex<Option<Connection>>,
    /// The installed licence key and the plugin's last verdict on it.
    license: Mutex<LicenseSlot>,
    /// The running supervisor, if enabled. A tokio mutex: enable and disable hold it across
    /// awaits, which serialises them per plugin.
    supervisor: tokio::sync::Mutex<Option<SupervisorHandle>>,
}

struct SupervisorHandle {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SupervisorHandle {
    /// Stops the supervisor, if there is one, and waits until it has finished.
    async fn stop(handle: Option<SupervisorHandle>) {
        if let Some(handle) = handle {
            handle.stop.cancel();
            let _ = handle.task.await;
        }
    }
}

impl Slot {
    pub(crate) fn update(&self, change: impl FnOnce(&mut PluginStatus)) {
        self.status.send_modify(change);
    }

    pub(crate) fn set_connection(&self, conn: Option<Connection>) {
        *lock(&self.connection) = conn;
    }

    fn connection(&self) -> Option<Connection> {
        lock(&self.connection).clone()
    }

    /// The key to send in `lifecycle.init`.
    pub(crate) fn license_key(&self) -> Option<String> {
        lock(&self.license).key.clone()
    }

    /// Records the plugin's verdict from `lifecycle.ready`.
    pub(crate) fn set_license_report(&self, report: Option<toru_plugin_api::LicenseReport>) {
        lock(&self.license).report = report;
    }

    fn license_status(&self) -> LicenseStatus {
        lock(&self.license).status(self.meta.license_required, std::time::SystemTime::now())
    }

    fn info(&self) -> PluginInfo {
        PluginInfo {
            meta: self.meta.clone(),
            binary: self.binary.clone(),
            status: self.status.borrow().clone(),
            license: self.license_status(),
        }
    }
}

impl Shared {
    /// Records an event in the store and never fails the caller: losing an event row must not
    /// stop supervision.
    pub(crate) async fn event(&self, plugin_id: &str, kind: EventKind, details: &str) {
        if let Err(e) = self.store.record_event(plugin_id, kind, details).await {
            tracing::error!(plugin = plugin_id, error = %e, "cannot record plugin event");
        }
    }

    /// Saves the enabled flag durably, off the async runtime.
    pub(crate) async fn persist_enabled(
        &self,
        plugin_id: &str,
        enabled: bool,
    ) -> Result<(), Error> {
        let state = self.enabled.clone();
        let id = plugin_id.to_owned();
        let result = tokio::task::spawn_blocking(move || lock(&state).set(&id, enabled)).await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Persist {
                plugin_id: plugin_id.to_owned(),
                reason: e.to_string(),
            }),
            Err(e) => Err(Error::Persist {
                plugin_id: plugin_id.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Whether plugins keep running when the daemon stops: true for systemd units, which the
    /// next daemon adopts; child processes of the embedded backend are stopped with it.
    pub(crate) fn leaves_plugins_running(&self) -> bool {
        self.shutdown.is_cancelled() && self.backend.kind() == BackendKind::Systemd
    }

    fn slot(&self, plugin_id: &str) -> Option<Arc<Slot>> {
        self.plugins
            .read()
            .expect("plugins lock")
            .get(plugin_id)
            .cloned()
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
        let enabled = tokio::task::spawn_blocking(move || EnabledState::load(&dir))
            .await
            .map_err(|e| Error::EnabledState(e.to_string()))?
            .map_err(Error::EnabledState)?;
        let shared = Arc::new(Shared {
            settings,
            store,
            backend,
            instance_id,
            plugins: RwLock::default(),
            failures: RwLock::default(),
            enabled: Arc::new(Mutex::new(enabled)),
            last_scan: tokio::sync::Mutex::default(),
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
        Ok(manager)
    }

    /// The first scan and the restore, with errors logged: nobody waits for them to report.
    async fn first_scan(&self) {
        if let Err(e) = self.scan(None).await {
            tracing::error!(error = %e, "cannot scan the plugins directory");
        }
        if let Err(e) = self.restore().await {
            tracing::error!(error = %e, "cannot restore the enabled plugins");
        }
        tracing::info!(plugins = self.list().len(), "plugins discovered");
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
    pub async fn rescan(&self) -> Result<(), Error> {
        self.scan(None).await
    }

    /// Scans unless a scan that began after this call has finished meanwhile, or, with
    /// `fresh_within`, unless the last scan began less than that long ago and the directory has
    /// not changed since.
    async fn scan(&self, fresh_within: Option<Duration>) -> Result<(), Error> {
        let asked = Instant::now();
        let mut last = self.shared.last_scan.lock().await;
        let dir_modified = tokio::fs::metadata(&self.shared.settings.plugins_dir)
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
        let dir = &shared.settings.plugins_dir;
        let scan = discovery::scan(dir, shared.settings.discovery)
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
                .event(&name, EventKind::DiscoveryFailed, &failure.reason)
                .await;
        }
        let enabled_ids = lock(&shared.enabled).enabled_ids();
        for found in scan.plugins {
            let id = found.meta.id.clone();
            if shared.slot(&id).is_some() {
                continue;
            }
            tracing::info!(plugin = id, binary = %found.binary.display(), version = found.meta.version, "discovered plugin");
            let details = format!(
                "{} {} at {}",
                found.meta.name,
                found.meta.version,
                found.binary.display()
            );
            shared.event(&id, EventKind::Discovered, &details).await;
            let mut status = PluginStatus::disabled();
            status.enabled = enabled_ids.contains(&id);
            let license = LicenseSlot {
                key: shared.store.license_key(&id).await?,
                report: None,
            };
            let slot = Arc::new(Slot {
                meta: found.meta,
                binary: found.binary,
                status: watch::Sender::new(status),
                connection: Mutex::new(None),
                license: Mutex::new(license),
                supervisor: tokio::sync::Mutex::new(None),
            });
            shared
                .plugins
                .write()
                .expect("plugins lock")
                .insert(id, slot);
        }
        *shared.failures.write().expect("failures lock") = scan.failures;
        Ok(())
    }

    /// Brings the running processes in line with the enabled state: stops leftovers of plugins
    /// no longer enabled (or no longer installed), adopts running enabled ones, starts the rest.
    async fn restore(&self) -> Result<(), Error> {
        let shared = &self.shared;
        for id in shared.backend.list_running().await? {
            let wanted = shared.slot(&id).is_some() && lock(&shared.enabled).is_enabled(&id);
            if !wanted {
                tracing::info!(plugin = id, "stopping a plugin that is no longer enabled");
                shared.backend.stop(&id, shared.settings.stop_grace).await?;
                shared
                    .event(
                        &id,
                        EventKind::Stopped,
                        "stopped at daemon start: not enabled",
                    )
                    .await;
            }
        }
        let enabled_ids = lock(&shared.enabled).enabled_ids();
        for id in enabled_ids {
            let Some(slot) = shared.slot(&id) else {
                tracing::warn!(plugin = id, "enabled plugin is not installed");
                continue;
            };
            let adopted = match shared.backend.adopt(&id).await {
                Ok(adopted) => adopted,
                Err(e) => {
                    tracing::warn!(plugin = id, error = %e, "cannot adopt plugin; starting it");
                    None
                }
            };
            self.spawn_supervisor(&slot, adopted).await;
        }
        Ok(())
    }

    async fn spawn_supervisor(
        &self,
        slot: &Arc<Slot>,
        adopted: Option<super::backend::RunningPlugin>,
    ) {
        let mut supervisor = slot.supervisor.lock().await;
        if supervisor.is_some() {
            return;
        }
        let stop = self.shared.shutdown.child_token();
        let task = self.shared.tasks.spawn(supervise(
            self.shared.clone(),
            slot.clone(),
            stop.clone(),
            adopted,
        ));
        *supervisor = Some(SupervisorHandle { stop, task });
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

    /// Binaries that were skipped at the last scan, and why.
    pub fn discovery_failures(&self) -> Vec<DiscoveryFailure> {
        self.shared.failures.read().expect("failures lock").clone()
    }

    /// Watches one plugin's status, e.g. to wait until it runs.
    pub fn subscribe(&self, plugin_id: &str) -> Option<watch::Receiver<PluginStatus>> {
        self.shared
            .slot(plugin_id)
            .map(|slot| slot.status.subscribe())
    }

    /// The installation's id.
    pub fn instance_id(&self) -> &str {
        &self.shared.instance_id
    }

    /// Which backend runs the plugins.
    pub fn backend_kind(&self) -> BackendKind {
        self.shared.backend.kind()
    }

    /// The store, for KV access on a plugin's behalf.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Enables a plugin: records it durably, then starts supervising it. Returns at once; the
    /// status moves through `starting` to `running`. Enabling an enabled plugin is a no-op.
    pub async fn enable(&self, plugin_id: &str) -> Result<PluginInfo, Error> {
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
        {
            let mut supervisor = slot.supervisor.lock().await;
            // A supervisor that gave up has ended; its handle is stale.
            if supervisor.as_ref().is_some_and(|s| s.task.is_finished()) {
                *supervisor = None;
            }
            if supervisor.is_some() {
                return Ok(slot.info());
            }
            shared.persist_enabled(plugin_id, true).await?;
            // `starting` at once, so a client polling after this call never sees `disabled`.
            slot.update(|s| {
                *s = PluginStatus {
                    enabled: true,
                    state: PluginState::Starting,
                    ..PluginStatus::disabled()
                };
            });
            shared.event(plugin_id, EventKind::Enabled, "enabled").await;
            tracing::info!(plugin = plugin_id, "plugin enabled");
        }
        self.spawn_supervisor(&slot, None).await;
        Ok(slot.info())
    }

    /// Disables a plugin: records it durably, asks it to shut down, stops it, and returns once it
    /// is gone. Disabling a disabled plugin is a no-op.
    pub async fn disable(&self, plugin_id: &str) -> Result<PluginInfo, Error> {
        let shared = &self.shared;
        let slot = shared
            .slot(plugin_id)
            .ok_or_else(|| Error::UnknownPlugin(plugin_id.to_owned()))?;
        let mut supervisor = slot.supervisor.lock().await;
        let was_enabled = slot.status.borrow().enabled || supervisor.is_some();
        shared.persist_enabled(plugin_id, false).await?;
        SupervisorHandle::stop(supervisor.take()).await;
        slot.update(|s| {
            s.enabled = false;
            if s.state != PluginState::Failed {
                s.state = PluginState::Disabled;
            }
            s.healthy = false;
            s.pid = None;
        });
        if was_enabled {
            shared
                .event(plugin_id, EventKind::Disabled, "disabled")
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
    ) -> Result<PluginInfo, Error> {
        let shared = &self.shared;
        let slot = shared
            .slot(plugin_id)
            .ok_or_else(|| Error::UnknownPlugin(plugin_id.to_owned()))?;
        let mut supervisor = slot.supervisor.lock().await;
        let (kind, details) = match &key {
            Some(key) => {
                shared.store.set_license_key(plugin_id, key).await?;
                (EventKind::LicenseSet, "licence key installed")
            }
            None => {
                shared.store.clear_license_key(plugin_id).await?;
                (EventKind::LicenseCleared, "licence key removed")
            }
        };
        *lock(&slot.license) = LicenseSlot { key, report: None };
        shared.event(plugin_id, kind, details).await;
        tracing::info!(plugin = plugin_id, "{details}");
        let running = supervisor.as_ref().is_some_and(|s| !s.task.is_finished());
        if running {
            SupervisorHandle::stop(supervisor.take()).await;
            slot.update(|s| {
                s.state = PluginState::Starting;
                s.enabled = true;
            });
            drop(supervisor);
            self.spawn_supervisor(&slot, None).await;
        }
        Ok(slot.info())
    }

    /// Forwards an HTTP request to a running plugin and returns its response.
    pub async fn forward(
        &self,
        plugin_id: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, ForwardError> {
        let slot = match self.shared.slot(plugin_id) {
            Some(slot) => slot,
            // Perhaps not scanned yet: the daemon has just started.
            None => {
                self.scanned().await;
                self.shared
                    .slot(plugin_id)
                    .ok_or_else(|| ForwardError::NotFound(plugin_id.to_owned()))?
            }
        };
        let (enabled, state) = {
            let status = slot.status.borrow();
            (status.enabled, status.state)
        };
        if !enabled {
            return Err(ForwardError::NotFound(plugin_id.to_owned()));
        }
        if let Some((status, kind, message)) = slot.license_status().refusal() {
            return Err(ForwardError::Unlicensed {
                status,
                kind,
                message,
            });
        }
        let conn = slot
            .connection()
            .filter(|c| !c.is_closed())
            .ok_or_else(|| ForwardError::Unavailable {
                plugin_id: plugin_id.to_owned(),
                state,
            })?;
        conn.http(request, self.shared.settings.request_timeout)
            .await
            .map_err(|e| match e {
                ConnectionError::Timeout { plugin_id, .. } => ForwardError::Timeout(plugin_id),
                ConnectionError::Remote {
                    code: ErrorCode::Unavailable,
                    ..
                }
                | ConnectionError::Closed { .. }
                | ConnectionError::Connect { .. } => ForwardError::Gone(e.to_string()),
                other => ForwardError::Plugin(other.to_string()),
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
