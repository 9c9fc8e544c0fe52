//! The daemon as a library function: [`run`] is what `main` calls and what integration tests
//! start on a temp directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::activation::Inherited;
use crate::api::handlers::events::{EventStreams, MAX_EVENT_STREAMS};
use crate::api::listeners::TcpListeners;
use crate::api::server::{self, Listener, bind_unix};
use crate::api::upload::Uploads;
use crate::api::{self, ApiState};
use crate::auth::rate_limit::LoginLimiter;
use crate::backup::{Backups, restore};
use crate::config::{Config, SupervisorChoice, running_as_root};
use crate::logs::file_writer::Rotation;
use crate::metrics::{DaemonMetrics, MetricsToken};
use crate::plugins::backend::SupervisorBackend;
use crate::plugins::backend::embedded::plugin_log_dir;
use crate::plugins::backend::embedded::{EmbeddedBackend, EmbeddedConfig};
use crate::plugins::backend::systemd::{SystemdBackend, SystemdConfig};
use crate::plugins::settings::RestartPolicy;
use crate::plugins::trust::{Trust, TrustedKeys};
use crate::plugins::{PluginManager, Settings};
use crate::store::{EventKind, NewEvent, Store, spawn_event_cleanup};
use crate::webhooks::{self, Origin};

/// A started daemon: what tests and `main` hold on to.
pub struct Daemon {
    /// The plugin manager.
    pub plugins: PluginManager,
    /// The store.
    pub store: Store,
    /// The TCP address the API listens on (useful with port 0).
    pub http_addr: SocketAddr,
    /// The TLS listener's address, when `tls_listen` is configured.
    pub tls_addr: Option<SocketAddr>,
    /// The local API socket.
    pub socket_path: PathBuf,
    /// Backups and restores; says whether a restore asked the daemon to stop.
    pub backups: Arc<Backups>,
    /// Whether the daemon bound the local socket itself (and so removes it when it stops); an
    /// inherited socket belongs to systemd and must outlive the daemon.
    owns_socket: bool,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Daemon {
    /// Opens the store, picks the backend, starts discovering plugins and restoring the enabled
    /// ones, and listens. Returns once the API listens; discovery (bounded by the `--metadata`
    /// limits) and plugin starts go on in the background, and the API's plugin routes wait for
    /// the first scan ([`PluginManager::scanned`]).
    pub async fn start(config: &Config, shutdown: CancellationToken) -> anyhow::Result<Daemon> {
        Self::start_with_listeners(config, Inherited::default(), shutdown).await
    }

    /// [`Daemon::start`] with listeners systemd handed over (socket activation); a kind it did
    /// not pass (TCP, TLS or the local socket) is bound by the daemon as usual. Plain HTTP on
    /// an address that is not a loopback address is refused
    /// ([`NotLoopback`](crate::api::listeners::NotLoopback)), before anything else starts.
    pub async fn start_with_listeners(
        config: &Config,
        inherited: Inherited,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Daemon> {
        for dir in [&config.data_dir, &config.runtime_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let metrics = Arc::new(DaemonMetrics::new());
        let metrics_token = match &config.metrics_token_file {
            Some(path) => Some(Arc::new(MetricsToken::load(path)?)),
            None => None,
        };
        let activated = !inherited.is_empty();
        let tcp = TcpListeners::open(config, inherited.tcp)?;
        let restored = restore::load_staged(
            &config.data_dir,
            &config.database_path(),
            &config.plugins_dir,
        )?;
        let store = Store::open(&config.database_path())
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    config.database_path().display()
                )
            })?;
        store.set_kv_quota(config.kv_quota_bytes);
        let tasks = TaskTracker::new();
        // Before anything records an event, so webhooks get a restore and the first plugin starts
        // too.
        let origin = Origin::of(&store)
            .await
            .context("cannot read the installation id")?;
        webhooks::start(
            config.webhooks.clone(),
            store.clone(),
            origin,
            config.webhook_retry,
            &tasks,
            shutdown.clone(),
        )
        .await
        .context("cannot start the webhooks")?;
        if let Some(restored) = &restored {
            let details = restored.details();
            tracing::warn!("{details}");
            let event = NewEvent::daemon(EventKind::BackupRestored, &details);
            let event = match &restored.actor {
                Some(actor) => event.by(actor),
                None => event,
            };
            store.record_event_or_log(event).await;
        }
        tasks.spawn(spawn_event_cleanup(
            store.clone(),
            config.event_retention,
            shutdown.clone(),
        ));
        let mut settings = Settings::new(config.plugins_dir.clone());
        settings.max_failures = config.max_failures;
        settings.request_timeout = config.request_timeout;
        settings.start_timeout = config.start_timeout;
        settings.limits.memory_max = config.plugin_memory_max;
        settings.limits.cpu_quota_percent = config.plugin_cpu_quota;
        settings.limits.tasks_max = config.plugin_tasks_max;
        settings.trust = Trust {
            policy: config.signatures,
            keys: Arc::new(
                TrustedKeys::load(&config.trusted_keys_dir)
                    .context("cannot read the trusted keys")?,
            ),
            verified_dir: config.data_dir.join("verified"),
        };
        tracing::info!(
            policy = ?config.signatures,
            keys = ?settings.trust.keys.names(),
            "plugin signatures"
        );
        settings.upgrade_health_window = config.upgrade_health_window;
        (settings.ping_interval, settings.ping_timeout) = config.ping;
        let backend = choose_backend(config, settings.restart_policy()).await?;
        tracing::info!(backend = ?backend.kind(), "supervisor backend chosen");
        // The scan runs behind the API: a `--metadata` that hangs must not delay the listeners.
        let plugins =
            PluginManager::start_scanning(settings, store.clone(), backend, shutdown.child_token())
                .await
                .context("cannot start plugin supervision")?;

        let backups = Arc::new(Backups::new(
            &config.data_dir,
            &config.plugins_dir,
            config.config_file.as_deref(),
            shutdown.clone(),
        ));
        let state = ApiState {
            backups: backups.clone(),
            plugins: plugins.clone(),
            store: store.clone(),
            limiter: Arc::new(LoginLimiter::new()),
            plugin_log_dir: plugin_log_dir(&config.log_dir).into(),
            web_root: config.web_root.as_deref().map(Into::into),
            tls: tcp.tls.as_ref().map(|tls| Arc::new(tls.status.clone())),
            uploads: Arc::new(Uploads::new(plugins.staging_dir(), config.max_upload_bytes)),
            event_streams: Arc::new(EventStreams::new(MAX_EVENT_STREAMS, shutdown.clone())),
            metrics,
            metrics_token,
        };
        match &state.web_root {
            Some(root) => tracing::info!(web_root = %root.display(), "serving the dashboard"),
            None => tracing::warn!("no dashboard build found; serving the API only"),
        }
        let routes = api::routes(state.clone());
        let http_addr = tcp.plain[0].local_addr()?;
        let tls_addr = match &tcp.tls {
            Some(tls) => Some(tls.sockets[0].local_addr()?),
            None => None,
        };
        let socket_path = config.socket_path();
        let owns_socket = inherited.unix.is_none();
        let unix = match inherited.unix {
            Some(std_listener) => {
                std_listener.set_nonblocking(true)?;
                tokio::net::UnixListener::from_std(std_listener)?
            }
            None => bind_unix(&socket_path)
                .with_context(|| format!("cannot listen on {}", socket_path.display()))?,
        };
        tracing::info!(%http_addr, socket = %socket_path.display(), activated, "API listening");
        let timeouts = server::Timeouts {
            idle: config.http_idle_timeout.unwrap_or(server::IDLE_TIMEOUT),
            body: config
                .http_body_timeout
                .unwrap_or(api::pipeline::BODY_TIMEOUT),
        };
        for listener in tcp.into_listeners(config) {
            tasks.spawn(server::serve(
                listener,
                state.clone(),
                routes.clone(),
                timeouts,
                shutdown.clone(),
            ));
        }
        tasks.spawn(server::serve(
            Listener::Unix(unix),
            state,
            routes,
            timeouts,
            shutdown.clone(),
        ));
        tasks.close();
        Ok(Daemon {
            plugins,
            store,
            http_addr,
            tls_addr,
            socket_path,
            backups,
            owns_socket,
            shutdown,
            tasks,
        })
    }

    /// Stops supervision (systemd units keep running for the next daemon to adopt) and the
    /// background tasks.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
        self.plugins.shutdown().await;
        if self.owns_socket {
            let _ = std::fs::remove_file(&self.socket_path);
        }
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `shutdown` was cancelled: a signal.
    Stopped,
    /// A restore was staged; the daemon must start again to load it
    /// ([`RESTART_EXIT_STATUS`](crate::backup::RESTART_EXIT_STATUS)).
    RestartToRestore,
}

/// Runs the daemon until `shutdown` is cancelled, telling systemd when it is ready. `inherited`
/// holds the listeners of socket activation ([`Inherited::from_env`], empty otherwise).
pub async fn run(
    config: Config,
    inherited: Inherited,
    shutdown: CancellationToken,
) -> anyhow::Result<Exit> {
    let daemon = Daemon::start_with_listeners(&config, inherited, shutdown.clone()).await?;
    // Ready once the API listens; plugins are still being discovered (logged when done).
    tracing::info!(
        instance_id = daemon.plugins.instance_id(),
        "toru-daemon ready"
    );
    // Not under systemd (no NOTIFY_SOCKET) this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    shutdown.cancelled().await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let restart = daemon.backups.restart_requested();
    daemon.stop().await;
    Ok(if restart {
        Exit::RestartToRestore
    } else {
        Exit::Stopped
    })
}

/// The backend `config` asks for; under systemd, `restart_policy` is handed to systemd where it
/// can apply it (≥ 254).
async fn choose_backend(
    config: &Config,
    restart_policy: RestartPolicy,
) -> anyhow::Result<Arc<dyn SupervisorBackend>> {
    let embedded = || -> Arc<dyn SupervisorBackend> {
        Arc::new(EmbeddedBackend::new(EmbeddedConfig {
            runtime_dir: config.runtime_dir.clone(),
            log_dir: config.log_dir.clone(),
            rotation: Rotation::default(),
            log_relay: config.log_relay.clone(),
        }))
    };
    let systemd = || async {
        let backend = SystemdBackend::connect(SystemdConfig {
            socket_dir: config.runtime_dir.join("plugin-sockets"),
            restart_policy: Some(restart_policy),
            ..SystemdConfig::default()
        })
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
