//! The systemd backend. Placeholder so the crate builds; the real backend lands in the next
//! commit.

use std::path::PathBuf;
use std::time::Duration;

use super::{BackendError, BackendKind, LaunchSpec, RunningPlugin, SupervisorBackend};

/// Settings of the systemd backend.
#[derive(Debug, Clone, Default)]
pub struct SystemdConfig {
    /// Extra environment for plugin units.
    pub extra_env: Vec<String>,
}

/// Runs plugins as transient systemd units.
pub struct SystemdBackend;

fn unavailable() -> BackendError {
    BackendError::Unavailable {
        backend: BackendKind::Systemd,
        reason: "not implemented yet".into(),
    }
}

impl SystemdBackend {
    /// Connects to the system bus.
    pub async fn connect(_config: SystemdConfig) -> Result<Self, BackendError> {
        Err(unavailable())
    }

    /// Whether systemd answers on the system bus.
    pub async fn probe() -> bool {
        false
    }
}

#[async_trait::async_trait]
impl SupervisorBackend for SystemdBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Systemd
    }
    fn socket_path(&self, plugin_id: &str) -> PathBuf {
        PathBuf::from(format!("/run/toru-plugin-{plugin_id}/plugin.sock"))
    }
    async fn start(&self, _spec: &LaunchSpec) -> Result<RunningPlugin, BackendError> {
        Err(unavailable())
    }
    async fn adopt(&self, _plugin_id: &str) -> Result<Option<RunningPlugin>, BackendError> {
        Err(unavailable())
    }
    async fn stop(&self, _plugin_id: &str, _grace: Duration) -> Result<(), BackendError> {
        Err(unavailable())
    }
    async fn list_running(&self) -> Result<Vec<String>, BackendError> {
        Err(unavailable())
    }
}
