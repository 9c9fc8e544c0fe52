//! One discovered plugin as the manager and its supervisor share it: metadata, the lifecycle
//! and the status published from it, the live connection, the licence, and the handle of the
//! supervisor task. Depends on neither `manager` nor `supervisor`, which both use it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use toru_api::LimitValues;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use toru_plugin_api::{LicenseReport, PluginId, PluginMetadata};

use super::backend::{Limits, RawUsage};
use super::connection::Connection;
use super::discovery::DiscoveredPlugin;
use super::license::{LicenseSlot, LicenseStatus};
use super::lifecycle::{Event, IllegalTransition, Lifecycle, StopIntent, Transition};
use super::settings::RestartPolicy;
use super::status::{PluginInfo, PluginStatus};
use super::trust::Verified;
use super::usage::{Reading, UsageHistory, UsageNow};
use crate::metrics::PluginMetrics;
use crate::sync::lock;

/// One discovered plugin.
pub(crate) struct Slot {
    /// The plugin's id, checked at discovery; names its unit, socket and pid file.
    pub(crate) id: PluginId,
    /// Its validated metadata; replaced when the plugin is upgraded or rolled back.
    meta: Mutex<PluginMetadata>,
    /// Its executable; an upgrade replaces the file at this path, so the path never changes.
    pub(crate) binary: PathBuf,
    /// The version kept in `.previous/` for a rollback (`install.rs`), if any.
    previous_version: Mutex<Option<String>>,
    /// The one source of the plugin's state; changed only through [`Slot::apply`].
    lifecycle: Mutex<Lifecycle>,
    /// The lifecycle's status, published once per transition for `subscribe`rs.
    status: watch::Sender<PluginStatus>,
    /// The live, initialised connection while the plugin runs.
    connection: Mutex<Option<Connection>>,
    /// The installed licence key and the plugin's last verdict on it.
    license: Mutex<LicenseSlot>,
    /// The digest and signature verdict of the binary, and what runs (the verified copy under
    /// `enforce`); set at discovery, a rescan, and each start.
    verified: Mutex<Verified>,
    /// The settings the administrator set (no defaults filled in), as stored.
    settings: Mutex<serde_json::Map<String, serde_json::Value>>,
    /// The resource limits the administrator set for this plugin, over the configured defaults.
    limit_overrides: Mutex<LimitValues>,
    /// The sampler's readings of its resource use and when its current run began.
    usage: Mutex<UsageHistory>,
    /// The running supervisor, if enabled. A tokio mutex: enable and disable hold it across
    /// awaits, which serialises them per plugin.
    pub(crate) supervisor: tokio::sync::Mutex<Option<SupervisorHandle>>,
    /// Its counters for `GET /metrics`, which the forward path and its connections update.
    pub(crate) metrics: Arc<PluginMetrics>,
}

/// What the daemon keeps for a plugin beyond its binary: in the store (its licence key and
/// settings) and in the plugins directory (the version kept for a rollback).
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// The installed licence key.
    pub(crate) license_key: Option<String>,
    /// The version `rollback` would put back.
    pub(crate) previous_version: Option<String>,
    /// The settings the administrator set.
    pub(crate) settings: serde_json::Map<String, serde_json::Value>,
    /// The resource limits the administrator set.
    pub(crate) limits: LimitValues,
}

impl Slot {
    /// A plugin just discovered, with what the daemon keeps for it: disabled until the manager
    /// enables or restores it.
    pub(crate) fn new(found: DiscoveredPlugin, policy: RestartPolicy, kept: Kept) -> Self {
        let DiscoveredPlugin {
            id,
            meta,
            binary,
            verified,
        } = found;
        let Kept {
            license_key,
            previous_version,
            settings,
            limits,
        } = kept;
        let lifecycle = Lifecycle::new(policy);
        Slot {
            id,
            meta: Mutex::new(meta),
            binary,
            previous_version: Mutex::new(previous_version),
            status: watch::Sender::new(lifecycle.status()),
            lifecycle: Mutex::new(lifecycle),
            connection: Mutex::new(None),
            license: Mutex::new(LicenseSlot {
                key: license_key,
                report: None,
            }),
            verified: Mutex::new(verified),
            settings: Mutex::new(settings),
            limit_overrides: Mutex::new(limits),
            usage: Mutex::default(),
            supervisor: tokio::sync::Mutex::new(None),
            metrics: Arc::default(),
        }
    }

    /// What the last signature check found.
    pub(crate) fn verified(&self) -> Verified {
        lock(&self.verified).clone()
    }

    /// Records a new signature check (a rescan, or a start under `warn`).
    pub(crate) fn set_verified(&self, verified: Verified) {
        *lock(&self.verified) = verified;
    }

    /// Applies `event` to the lifecycle and publishes the new status, under one lock so that
    /// statuses are published in the order of the transitions.
    pub(crate) fn apply(&self, event: Event) -> Result<Transition, IllegalTransition> {
        let mut lifecycle = lock(&self.lifecycle);
        let transition = lifecycle.apply(event)?;
        let status = lifecycle.status();
        self.status.send_replace(status);
        Ok(transition)
    }

    /// What `event` would make of the lifecycle, without applying it or publishing anything:
    /// lets the supervisor make a give-up durable before any client sees `failed`.
    pub(crate) fn preview(&self, event: Event) -> Result<Lifecycle, IllegalTransition> {
        let mut next = lock(&self.lifecycle).clone();
        next.apply(event)?;
        Ok(next)
    }

    /// [`Slot::apply`] for senders that only send events the diagram has: a refusal is a bug,
    /// logged (and a panic in debug builds, so tests find it).
    pub(crate) fn send(&self, event: Event) -> Option<Transition> {
        match self.apply(event) {
            Ok(transition) => Some(transition),
            Err(refused) => {
                tracing::error!(plugin = self.id.as_str(), error = %refused, "bug: lifecycle event refused");
                if cfg!(debug_assertions) {
                    panic!("plugin {}: {refused}", self.id);
                }
                None
            }
        }
    }

    /// The status now.
    pub(crate) fn status(&self) -> PluginStatus {
        self.status.borrow().clone()
    }

    /// Watches the status.
    pub(crate) fn subscribe(&self) -> watch::Receiver<PluginStatus> {
        self.status.subscribe()
    }

    pub(crate) fn set_connection(&self, conn: Option<Connection>) {
        *lock(&self.connection) = conn;
    }

    pub(crate) fn connection(&self) -> Option<Connection> {
        lock(&self.connection).clone()
    }

    /// The key to send in `lifecycle.init`.
    pub(crate) fn license_key(&self) -> Option<String> {
        lock(&self.license).key.clone()
    }

    /// Installs or removes the key; the plugin's verdict on the old one no longer applies.
    pub(crate) fn set_license_key(&self, key: Option<String>) {
        *lock(&self.license) = LicenseSlot { key, report: None };
    }

    /// The settings as stored, without defaults.
    pub(crate) fn settings(&self) -> serde_json::Map<String, serde_json::Value> {
        lock(&self.settings).clone()
    }

    /// Replaces the stored settings; the plugin gets them at its next `lifecycle.init`.
    pub(crate) fn set_settings(&self, values: serde_json::Map<String, serde_json::Value>) {
        *lock(&self.settings) = values;
    }

    /// The limits set for this plugin (not the defaults).
    pub(crate) fn limit_overrides(&self) -> LimitValues {
        *lock(&self.limit_overrides)
    }

    /// What the plugin runs under: its overrides over `defaults`.
    pub(crate) fn effective_limits(&self, defaults: Limits) -> Limits {
        LimitValues::from(defaults)
            .overridden_by(self.limit_overrides())
            .into()
    }

    /// Replaces the limits set for this plugin; its next start runs under them.
    pub(crate) fn set_limit_overrides(&self, limits: LimitValues) {
        *lock(&self.limit_overrides) = limits;
    }

    /// A new process of the plugin runs from now (started or adopted).
    pub(crate) fn launched(&self) {
        lock(&self.usage).launched(Instant::now());
    }

    /// Records a reading of the plugin's resource use.
    pub(crate) fn record_usage(&self, raw: RawUsage) -> Reading {
        lock(&self.usage).record(raw, Instant::now(), SystemTime::now())
    }

    /// Whether the newest reading is missing or older than `interval`.
    pub(crate) fn usage_is_stale(&self, interval: Duration) -> bool {
        lock(&self.usage).is_stale(Instant::now(), interval)
    }

    /// Every reading kept, oldest first.
    pub(crate) fn usage_history(&self) -> Vec<Reading> {
        lock(&self.usage).readings().copied().collect()
    }

    /// How long the current process has run; `None` while none runs.
    pub(crate) fn uptime(&self) -> Option<Duration> {
        if !has_process(&self.status()) {
            return None;
        }
        lock(&self.usage).uptime(Instant::now())
    }

    /// The figures now, while a process runs and has been read since it started.
    pub(crate) fn usage_now(&self) -> Option<UsageNow> {
        let status = self.status();
        if !has_process(&status) {
            return None;
        }
        let (reading, uptime) = lock(&self.usage).current(Instant::now())?;
        Some(UsageNow {
            reading,
            restarts: status.restarts,
            uptime,
        })
    }

    /// What `lifecycle.init` carries as `config`: the settings with the declared defaults
    /// filled in; empty for a plugin that declares no settings.
    pub(crate) fn init_config(&self) -> BTreeMap<String, serde_json::Value> {
        match &self.meta().settings {
            Some(schema) => schema
                .with_defaults(&lock(&self.settings))
                .into_iter()
                .collect(),
            None => BTreeMap::new(),
        }
    }

    /// A required setting without a value or a default, which keeps the plugin from starting.
    pub(crate) fn missing_required_setting(&self) -> Option<String> {
        let meta = self.meta();
        let schema = meta.settings.as_ref()?;
        let config = schema.with_defaults(&lock(&self.settings));
        schema.missing_required(&config).map(str::to_owned)
    }

    /// Records the plugin's verdict from `lifecycle.ready`.
    pub(crate) fn set_license_report(&self, report: Option<LicenseReport>) {
        lock(&self.license).report = report;
    }

    pub(crate) fn license_status(&self) -> LicenseStatus {
        let required = lock(&self.meta).license_required;
        lock(&self.license).status(required, SystemTime::now())
    }

    /// The metadata of the binary installed now.
    pub(crate) fn meta(&self) -> PluginMetadata {
        lock(&self.meta).clone()
    }

    /// After an upgrade or a rollback: the metadata of the binary now at [`Slot::binary`], and
    /// the version kept for the next rollback.
    pub(crate) fn set_versions(&self, meta: PluginMetadata, previous_version: Option<String>) {
        *lock(&self.meta) = meta;
        *lock(&self.previous_version) = previous_version;
    }

    pub(crate) fn info(&self) -> PluginInfo {
        PluginInfo {
            id: self.id.clone(),
            meta: self.meta(),
            binary: self.binary.clone(),
            previous_version: lock(&self.previous_version).clone(),
            status: self.status(),
            license: self.license_status(),
            signature: self.verified().status,
            usage: self.usage_now(),
        }
    }
}

/// How the manager tells a supervisor to stop, and why. Cancelled without an intent, by the
/// daemon's shutdown token it descends from, it means the daemon is stopping.
#[derive(Debug, Clone)]
pub(crate) struct StopSignal {
    token: CancellationToken,
    intent: Arc<OnceLock<StopIntent>>,
}

impl StopSignal {
    /// A signal that the daemon's `shutdown` also raises.
    pub(crate) fn new(shutdown: &CancellationToken) -> Self {
        StopSignal {
            token: shutdown.child_token(),
            intent: Arc::default(),
        }
    }

    /// Asks the supervisor to stop for `intent`; the first request wins.
    pub(crate) fn request(&self, intent: StopIntent) {
        let _ = self.intent.set(intent);
        self.token.cancel();
    }

    /// Resolves once a stop was requested or the daemon is stopping.
    pub(crate) async fn raised(&self) {
        self.token.cancelled().await;
    }

    /// Why the stop was requested; `None` for the daemon's shutdown.
    pub(crate) fn intent(&self) -> Option<StopIntent> {
        self.intent.get().copied()
    }
}

/// The supervisor task of one plugin.
pub(crate) struct SupervisorHandle {
    stop: StopSignal,
    task: tokio::task::JoinHandle<()>,
}

impl SupervisorHandle {
    pub(crate) fn new(stop: StopSignal, task: tokio::task::JoinHandle<()>) -> Self {
        SupervisorHandle { stop, task }
    }

    /// True once the supervisor has ended on its own (it gave up).
    pub(crate) fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the supervisor to stop the plugin for `intent` and waits until it has finished.
    pub(crate) async fn stop(self, intent: StopIntent) {
        self.stop.request(intent);
        let _ = self.task.await;
    }
}

/// Whether a process of the plugin runs now: the status names its pid (embedded) or its unit
/// (systemd), which the daemon sets while one runs.
fn has_process(status: &PluginStatus) -> bool {
    status.pid.is_some() || status.unit.is_some()
}
