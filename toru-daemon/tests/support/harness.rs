//! A real plugin manager over the embedded backend and a real SQLite file in a temp directory,
//! with timings shortened where a test would otherwise wait for minutes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use toru_daemon::logs::file_writer::Rotation;
use toru_daemon::plugins::backend::embedded::{EmbeddedBackend, EmbeddedConfig};
use toru_daemon::plugins::{PluginManager, PluginState, PluginStatus, Settings};
use toru_daemon::store::{Actor, Event, EventKind, Store};

/// The actor of the changes a test makes through the manager: root on the local socket.
pub fn admin() -> Actor {
    Actor::LocalSocket {
        uid: 0,
        name: "root".into(),
    }
}

/// Directories of one test daemon; they survive daemon restarts within a test.
pub struct Dirs {
    pub root: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Self {
        Dirs {
            root: tempfile::tempdir().unwrap(),
        }
    }
    pub fn plugins(&self) -> PathBuf {
        self.root.path().join("plugins")
    }
    pub fn runtime(&self) -> PathBuf {
        self.root.path().join("run")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.path().join("logs")
    }
    pub fn database(&self) -> PathBuf {
        self.root.path().join("data/toru.db")
    }
}

/// Test timings: real backoff schedule, but quick health checks and timeouts.
pub fn test_settings(plugins_dir: &Path) -> Settings {
    let mut s = Settings::new(plugins_dir.to_owned());
    s.max_failures = 3;
    s.start_timeout = Duration::from_secs(5);
    s.request_timeout = Duration::from_secs(2);
    s.ping_interval = Duration::from_millis(200);
    s.ping_timeout = Duration::from_millis(200);
    s.stop_grace = Duration::from_secs(2);
    s.discovery.timeout = Duration::from_secs(2);
    s
}

/// A running manager.
pub struct Harness {
    pub manager: PluginManager,
    pub store: Store,
    shutdown: CancellationToken,
}

impl Harness {
    pub async fn start(dirs: &Dirs) -> Self {
        Self::start_with(dirs, test_settings(&dirs.plugins())).await
    }

    pub async fn start_with(dirs: &Dirs, settings: Settings) -> Self {
        let store = Store::open(&dirs.database()).await.unwrap();
        let backend = Arc::new(EmbeddedBackend::new(EmbeddedConfig {
            runtime_dir: dirs.runtime(),
            log_dir: dirs.logs(),
            rotation: Rotation::default(),
            log_relay: env!("CARGO_BIN_EXE_toru-daemon").into(),
        }));
        let shutdown = CancellationToken::new();
        let manager = PluginManager::start(settings, store.clone(), backend, shutdown.clone())
            .await
            .unwrap();
        Harness {
            manager,
            store,
            shutdown,
        }
    }

    /// Waits until the plugin's status satisfies `done`, failing the test after `within`.
    pub async fn wait_for(
        &self,
        plugin_id: &str,
        within: Duration,
        what: &str,
        done: impl Fn(&PluginStatus) -> bool,
    ) -> PluginStatus {
        let mut rx = self.manager.subscribe(plugin_id).expect("known plugin");
        let result = tokio::time::timeout(within, async {
            rx.wait_for(|s| done(s)).await.map(|s| s.clone())
        })
        .await;
        match result {
            Ok(Ok(status)) => status,
            _ => panic!(
                "{plugin_id}: not {what} within {within:?}; status {:?}; events {:#?}",
                *rx.borrow(),
                self.events(plugin_id).await
            ),
        }
    }

    /// Waits until the plugin is running and initialised.
    pub async fn wait_running(&self, plugin_id: &str) -> PluginStatus {
        self.wait_for(plugin_id, Duration::from_secs(10), "running", |s| {
            s.state == PluginState::Running
        })
        .await
    }

    /// The plugin's events, oldest first.
    pub async fn events(&self, plugin_id: &str) -> Vec<Event> {
        let mut events = self.store.recent_events(plugin_id, 1000).await.unwrap();
        events.reverse();
        events
    }

    /// The kinds of the plugin's events, oldest first.
    pub async fn event_kinds(&self, plugin_id: &str) -> Vec<EventKind> {
        self.events(plugin_id)
            .await
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.manager.shutdown().await;
    }
}

/// Whether a process with this pid exists.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}
