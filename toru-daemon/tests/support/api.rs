//! A whole daemon — store, embedded supervisor, HTTP API on loopback and on its Unix socket —
//! started in-process on a temp directory, with clients for both listeners.

use std::path::PathBuf;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toru_daemon::Daemon;
use toru_daemon::config::{Config, SupervisorChoice};
use toructl::{Client, Endpoint};

use super::harness::Dirs;

/// The password every test admin gets.
pub const PASSWORD: &str = "correct horse battery";

/// A running daemon and its clients.
pub struct ApiDaemon {
    pub daemon: Daemon,
    pub config: Config,
    shutdown: CancellationToken,
    /// No session: requests are anonymous.
    pub anonymous: Client,
    /// The local socket: authorised as root by peer credentials.
    pub local: Client,
}

/// The configuration tests run with: embedded backend, port 0, short request timeout.
pub fn test_config(dirs: &Dirs) -> Config {
    Config {
        config_file: None,
        data_dir: dirs.root.path().join("data"),
        plugins_dir: dirs.plugins(),
        runtime_dir: dirs.runtime(),
        log_dir: dirs.logs(),
        supervisor: SupervisorChoice::Embedded,
        max_failures: 3,
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_listen: None,
        tls_dir: dirs.root.path().join("tls"),
        web_root: None,
        signatures: toru_daemon::plugins::trust::SignaturePolicy::Warn,
        trusted_keys_dir: dirs.root.path().join("trusted-keys"),
        plugin_memory_max: None,
        plugin_cpu_quota: None,
        plugin_tasks_max: None,
        request_timeout: Duration::from_secs(1),
        start_timeout: Duration::from_secs(5),
        log_relay: env!("CARGO_BIN_EXE_toru-daemon").into(),
        allowed_hosts: Vec::new(),
        http_idle_timeout: None,
        http_body_timeout: None,
        kv_quota_bytes: toru_daemon::store::DEFAULT_KV_QUOTA,
        event_retention: toru_daemon::store::EVENT_RETENTION,
        max_upload_bytes: toru_daemon::api::upload::DEFAULT_MAX_UPLOAD_BYTES,
        upgrade_health_window: toru_daemon::plugins::settings::DEFAULT_UPGRADE_HEALTH_WINDOW,
        ping: (
            toru_daemon::plugins::settings::DEFAULT_PING_INTERVAL,
            toru_daemon::plugins::settings::DEFAULT_PING_TIMEOUT,
        ),
        webhooks: Vec::new(),
        webhook_retry: toru_daemon::webhooks::RetryPolicy::default(),
        metrics_token_file: None,
    }
}

impl ApiDaemon {
    pub async fn start(dirs: &Dirs) -> Self {
        Self::start_with(test_config(dirs)).await
    }

    pub async fn start_with(config: Config) -> Self {
        let shutdown = CancellationToken::new();
        let daemon = Daemon::start(&config, shutdown.clone()).await.unwrap();
        // Discovery runs behind the API; tests that look at plugins directly want it done.
        daemon.plugins.scanned().await;
        let anonymous = Client::new(Endpoint::Tcp(daemon.http_addr.to_string()), None);
        let local = Client::new(Endpoint::Unix(daemon.socket_path.clone()), None);
        ApiDaemon {
            daemon,
            config,
            shutdown,
            anonymous,
            local,
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.daemon.socket_path.clone()
    }

    /// Creates `admin` over the local socket, as `toructl user add` does.
    pub async fn create_admin(&self) {
        let body = json!({"username": "admin", "password": PASSWORD});
        let _: Value = self
            .local
            .send_json(Method::POST, "/api/users", &body)
            .await
            .unwrap();
    }

    /// Creates a user with [`PASSWORD`] and `role` (`admin`, `viewer`) over the local socket.
    pub async fn create_user(&self, username: &str, role: &str) {
        let body = json!({"username": username, "password": PASSWORD, "role": role});
        let _: Value = self
            .local
            .send_json(Method::POST, "/api/users", &body)
            .await
            .unwrap();
    }

    /// Logs in as `admin` over TCP and returns a client carrying the session.
    pub async fn login(&self) -> Client {
        self.login_as("admin", PASSWORD).await
    }

    /// Logs in as `username` over TCP and returns a client carrying the session.
    pub async fn login_as(&self, username: &str, password: &str) -> Client {
        let body = json!({"username": username, "password": password});
        let response = self
            .anonymous
            .call(Method::POST, "/api/auth/login", Some(&body))
            .await
            .unwrap();
        let token = session_token(&response.headers).expect("a session cookie");
        Client::new(
            Endpoint::Tcp(self.daemon.http_addr.to_string()),
            Some(token),
        )
    }

    /// Enables a plugin and waits until it runs.
    pub async fn enable(&self, client: &Client, id: &str) -> Value {
        enable(client, id).await
    }

    /// Waits until the plugin reports `state`.
    pub async fn wait_state(&self, client: &Client, id: &str, state: &str) -> Value {
        wait_state(client, id, state).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.daemon.stop().await;
    }
}

pub use toructl::api::session_token;

/// Enables a plugin through the API and waits until it runs.
pub async fn enable(client: &Client, id: &str) -> Value {
    let _: Value = client
        .send_json(
            Method::POST,
            &format!("/api/plugins/{id}/enable"),
            &json!({}),
        )
        .await
        .unwrap();
    wait_state(client, id, "running").await
}

/// Waits (up to 30 s) until the plugin reports `state`.
pub async fn wait_state(client: &Client, id: &str, state: &str) -> Value {
    wait_until(client, id, &format!("reached {state}"), |p| {
        p["status"]["state"] == state
    })
    .await
}

/// Waits until the supervisor has replaced the process `old_pid` with a running new one.
pub async fn wait_restarted(client: &Client, id: &str, old_pid: u64) -> Value {
    wait_until(client, id, "restarted", |p| {
        p["status"]["state"] == "running"
            && p["status"]["pid"]
                .as_u64()
                .is_some_and(|pid| pid != old_pid)
    })
    .await
}

async fn wait_until(client: &Client, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p: Value = client.get(&format!("/api/plugins/{id}")).await.unwrap();
        if done(&p) {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never {what}: {p:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `error.code` of an API error body (the panic shows a body that is not JSON).
pub fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    v["error"]["code"].as_str().expect("error.code").to_owned()
}
