//! The daemon as a library function: [`run`] is what `main` calls and what integration tests
//! start on a temp directory.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SupervisorChoice, running_as_root};
use crate::logs::file_writer::Rotation;
use crate::plugins::backend::SupervisorBackend;
use crate::plugins::backend::embedded::{EmbeddedBackend, EmbeddedConfig};
use crate::plugins::backend::systemd::{SystemdBackend, SystemdConfig};
use crate::plugins::{PluginManager, Settings};
use crate::store::{Store, spawn_event_cleanup};

/// A started daemon: what tests and `main` hold on to.
pub struct Daemon {
    /// The plugin manager.
    pub plugins: PluginManager,
    /// The store.
    pub store: Store,
    shutdown: CancellationToken,
    cleanup: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Opens the store, picks the backend, discovers plugins and restores the enabled ones.
    /// Returns once all of that is done; plugins finish starting in the background.
    pub async fn start(config: &Config, shutdown: CancellationToken) -> anyhow::Result<Daemon> {
        for dir in [&config.data_dir, &config.runtime_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let store = Store::open(&config.database_path())
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    config.database_path().display()
                )
            })?;
        let cleanup = spawn_event_cleanup(store.clone(), shutdown.clone());
        let backend = choose_backend(config).await?;
        tracing::info!(backend = ?backend.kind(), "supervisor backend chosen");

        let mut settings = Settings::new(config.plugins_dir.clone());
        settings.max_failures = config.max_failures;
        settings.request_timeout = config.request_timeout;
        settings.start_timeout = config.start_timeout;
        settings.limits.memory_max = config.plugin_memory_max;
        settings.limits.tasks_max = config.plugin_tasks_max;
        let plugins =
            PluginManager::start(settings, store.clone(), backend, shutdown.child_token())
                .await
                .context("cannot start plugin supervision")?;
        Ok(Daemon {
            plugins,
            store,
            shutdown,
            cleanup,
        })
    }

    /// Stops supervision (systemd units keep running for the next daemon to adopt) and the
    /// background tasks.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.plugins.shutdown().await;
        let _ = self.cleanup.await;
    }
}

/// Runs the daemon until `shutdown` is cancelled, telling systemd when it is ready.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let daemon = Daemon::start(&config, shutdown.clone()).await?;
    tracing::info!(
        instance_id = daemon.plugins.instance_id(),
        plugins = daemon.plugins.list().len(),
        "toru-daemon ready"
    );
    // Not under systemd (no NOTIFY_SOCKET) this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    shutdown.cancelled().await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    daemon.stop().await;
    Ok(())
}

async fn choose_backend(config: &Config) -> anyhow::Result<Arc<dyn SupervisorBackend>> {
    let embedded = || -> Arc<dyn SupervisorBackend> {
        Arc::new(EmbeddedBackend::new(EmbeddedConfig {
            runtime_dir: config.runtime_dir.clone(),
            log_dir: config.log_dir.clone(),
            rotation: Rotation::default(),
        }))
    };
    let systemd = || async {
        let backend = SystemdBackend::connect(SystemdConfig::default())
            .await
            .context("cannot use systemd")?;
        anyhow::Ok(Arc::new(backend) as Arc<dyn SupervisorBackend>)
    };
    match config.supervisor {
        SupervisorChoice::Embedded => Ok(embedded()),
        SupervisorChoice::Systemd => systemd().await,
        SupervisorChoice::Auto => {
            if !running_as_root() {
                tracing::info!("auto: not root, so the embedded supervisor");
                Ok(embedded())
            } else if SystemdBackend::probe().await {
                tracing::info!("auto: the system bus and systemd answer, so systemd");
                systemd().await
            } else {
                tracing::info!("auto: no systemd on the system bus, so the embedded supervisor");
                Ok(embedded())
            }
        }
    }
}
