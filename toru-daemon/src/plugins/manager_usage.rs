//! What plugins cost and what they may cost: the one sampler task that reads every running
//! plugin's figures from the backend, the usage the API shows, and each plugin's resource
//! limits (defaults from the configuration, overrides in the store).

use std::sync::Arc;

use toru_api::{LimitValues, LimitsChange, PluginLimits};

use super::{Error, PluginManager, Slot};
use crate::error_chain::ErrorChain;
use crate::plugins::usage::{Reading, UsageNow};
use crate::store::{Actor, EventKind, NewEvent};

/// A plugin's figures now and its readings of the last hour (`GET /api/plugins/{id}/usage`).
#[derive(Debug, Clone)]
pub struct UsageReport {
    /// The figures now, while it runs.
    pub current: Option<UsageNow>,
    /// The readings kept, oldest first.
    pub history: Vec<Reading>,
    /// Time between two readings.
    pub interval: std::time::Duration,
}

impl PluginManager {
    /// Starts the one task that reads every running plugin's resource figures each
    /// `usage_interval`, until the daemon shuts down. One task for all plugins, one backend
    /// read per running plugin per interval, whatever clients ask.
    pub(super) fn spawn_usage_sampler(&self) {
        let manager = self.clone();
        let shutdown = self.shared.shutdown.clone();
        let interval = self.shared.context.settings.usage_interval;
        self.shared.tasks.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                let slots: Vec<Arc<Slot>> = manager
                    .shared
                    .plugins
                    .read()
                    .expect("plugins lock")
                    .values()
                    .cloned()
                    .collect();
                for slot in slots {
                    tokio::select! {
                        () = manager.sample(&slot) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        });
    }

    /// Reads one plugin's figures from the backend and records them, when a process of it runs.
    async fn sample(&self, slot: &Slot) {
        let status = slot.status();
        if status.pid.is_none() && status.unit.is_none() {
            return;
        }
        match self
            .shared
            .context
            .backend
            .usage(&slot.id, status.pid)
            .await
        {
            Ok(Some(raw)) => {
                slot.record_usage(raw);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(plugin = slot.id.as_str(), error = %ErrorChain(&e), "cannot read resource figures");
            }
        }
    }

    /// A plugin's figures now (read afresh when the last reading is older than the sampler's
    /// interval) and its readings of the last hour.
    pub async fn usage(&self, plugin_id: &str) -> Result<UsageReport, Error> {
        let slot = self.discovered(plugin_id).await?;
        let interval = self.shared.context.settings.usage_interval;
        if slot.usage_is_stale(interval) {
            self.sample(&slot).await;
        }
        Ok(UsageReport {
            current: slot.usage_now(),
            history: slot.usage_history(),
            interval,
        })
    }

    /// A plugin's limits: the configured defaults, its overrides, and the two combined.
    pub async fn limits(&self, plugin_id: &str) -> Result<PluginLimits, Error> {
        let slot = self.discovered(plugin_id).await?;
        Ok(self.limits_of(&slot))
    }

    fn limits_of(&self, slot: &Slot) -> PluginLimits {
        let defaults = LimitValues::from(self.shared.context.settings.limits);
        let overrides = slot.limit_overrides();
        PluginLimits {
            defaults,
            overrides,
            effective: defaults.overridden_by(overrides),
        }
    }

    /// Changes a plugin's limit overrides (`null` in `change` removes one, so the default
    /// applies), stores them, records `limits_changed` and restarts the plugin if it runs, so
    /// its new process runs under them. Nothing changes when a value is invalid.
    ///
    /// A restart rather than systemd's `SetUnitProperties`: the embedded backend can only
    /// apply limits at exec, and one path for both backends keeps "what runs" equal to "what
    /// the API shows".
    pub async fn set_limits(
        &self,
        plugin_id: &str,
        change: &LimitsChange,
        by: &Actor,
    ) -> Result<PluginLimits, Error> {
        let slot = self.discovered(plugin_id).await?;
        let mut supervisor = slot.supervisor.lock().await;
        let before = slot.limit_overrides();
        let after = before
            .apply(change)
            .map_err(|source| Error::InvalidLimits {
                plugin_id: slot.id.clone(),
                source,
            })?;
        if after != before {
            self.shared
                .context
                .store
                .set_plugin_limits(plugin_id, after)
                .await?;
            slot.set_limit_overrides(after);
            let details = format!("limits: {}", self.limits_of(&slot).effective);
            self.shared
                .context
                .record(NewEvent::plugin(plugin_id, EventKind::LimitsChanged, &details).by(by))
                .await;
            tracing::info!(plugin = plugin_id, "{details}");
            self.restart_if_running(&slot, &mut supervisor).await;
        }
        drop(supervisor);
        Ok(self.limits_of(&slot))
    }
}
