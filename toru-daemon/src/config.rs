//! The daemon's configuration: command-line flags over an optional TOML file over defaults.
//!
//! Defaults depend on who runs the daemon. As root they are the FHS paths a Debian package
//! uses (`/var/lib/toru`, `/run/toru`, `/var/log/toru`, `/etc/toru/toru.toml`). As anyone
//! else they live under the user's XDG directories, so a developer can run the daemon from a
//! checkout without privileges (and, with `auto`, with the embedded supervisor).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Deserialize;
use toru_api::LimitInput;

use crate::plugins::settings;
use crate::plugins::trust::SignaturePolicy;
use crate::webhooks::{RetryPolicy, Webhook, WebhookFile};

/// Which supervisor backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupervisorChoice {
    /// systemd when running as root and the system bus answers, else embedded.
    Auto,
    /// Transient systemd units; fails to start without systemd.
    Systemd,
    /// Child processes.
    Embedded,
}

/// Command-line flags. Every flag also has a key of the same name (with `_`) in the TOML file.
#[derive(Debug, Parser)]
#[command(name = "toru-daemon", version, about = "The Toru plugin host daemon")]
pub struct Args {
    /// TOML configuration file [default: /etc/toru/toru.toml as root, else
    /// ~/.config/toru/toru.toml; a missing default file is fine].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the database lives.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where `*.binary` plugins are found [default: DATA_DIR/plugins].
    #[arg(long, value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,
    /// Sockets and pid files.
    #[arg(long, value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// Plugin log files of the embedded supervisor.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Supervisor backend.
    #[arg(long, value_enum)]
    pub supervisor: Option<SupervisorChoice>,
    /// Consecutive failures after which a plugin is disabled [default: 10].
    #[arg(long, value_name = "N")]
    pub max_failures: Option<u32>,
    /// HTTP listen address, loopback only [default: 127.0.0.1:7070].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// HTTPS listen address for the dashboard from other machines, e.g. 0.0.0.0:7443 [default:
    /// none, no TLS listener].
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Option<SocketAddr>,
    /// The TLS listener's certificate (toru.crt) and key (toru.key); a self-signed pair is
    /// generated there when neither exists [default: /etc/toru/tls as root, else
    /// ~/.config/toru/tls].
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,
    /// The dashboard's built files [default: /usr/share/toru/web, else ./frontend/dist].
    #[arg(long, value_name = "DIR")]
    pub web_root: Option<PathBuf>,
    /// Plugin signatures: off, warn (check and show; unsigned plugins still load) or enforce
    /// (refuse unsigned and badly signed plugins) [default: warn].
    #[arg(long, value_enum)]
    pub signatures: Option<SignaturePolicy>,
    /// The trusted vendors' public keys, one NAME.pub each [default: /etc/toru/trusted-keys as
    /// root, else ~/.config/toru/trusted-keys].
    #[arg(long, value_name = "DIR")]
    pub trusted_keys_dir: Option<PathBuf>,
}

/// The TOML file; every key optional, unknown keys refused so typos are noticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    plugins_dir: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    log_dir: Option<PathBuf>,
    supervisor: Option<SupervisorChoice>,
    max_failures: Option<u32>,
    listen: Option<SocketAddr>,
    tls_listen: Option<SocketAddr>,
    tls_dir: Option<PathBuf>,
    web_root: Option<PathBuf>,
    signatures: Option<SignaturePolicy>,
    trusted_keys_dir: Option<PathBuf>,
    plugin_memory_max: Option<LimitInput>,
    plugin_cpu_quota: Option<LimitInput>,
    plugin_tasks_max: Option<LimitInput>,
    request_timeout_secs: Option<u64>,
    start_timeout_secs: Option<u64>,
    allowed_hosts: Option<Vec<String>>,
    http_idle_timeout_secs: Option<u64>,
    http_body_timeout_secs: Option<u64>,
    kv_quota_bytes: Option<u64>,
    event_retention_days: Option<u32>,
    max_upload_bytes: Option<u64>,
    upgrade_health_window_secs: Option<u64>,
    webhooks: Option<Vec<WebhookFile>>,
    metrics_token_file: Option<PathBuf>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database directory.
    pub data_dir: PathBuf,
    /// The configuration file that was read, if any (a backup carries a copy).
    pub config_file: Option<PathBuf>,
    /// Plugin executables.
    pub plugins_dir: PathBuf,
    /// Sockets and pid files.
    pub runtime_dir: PathBuf,
    /// Embedded-supervisor plugin logs.
    pub log_dir: PathBuf,
    /// Backend choice.
    pub supervisor: SupervisorChoice,
    /// Give-up threshold.
    pub max_failures: u32,
    /// HTTP listen address; only a loopback address is accepted (`Daemon::start` checks).
    pub listen: SocketAddr,
    /// HTTPS listen address, when the TLS listener is wanted.
    pub tls_listen: Option<SocketAddr>,
    /// The TLS listener's certificate and key (`tls::CERT_FILE`, `tls::KEY_FILE`).
    pub tls_dir: PathBuf,
    /// The dashboard's built files, when there are any.
    pub web_root: Option<PathBuf>,
    /// What is done about plugin signatures (`docs/signing.md`).
    pub signatures: SignaturePolicy,
    /// The trusted vendors' public keys (`NAME.pub`); a missing directory trusts no one.
    pub trusted_keys_dir: PathBuf,
    /// `MemoryMax=` for plugin units, bytes (`"256M"` in the file); a plugin's override wins.
    pub plugin_memory_max: Option<u64>,
    /// `CPUQuota=` for plugin units, percent of one CPU (`"50%"` in the file).
    pub plugin_cpu_quota: Option<u32>,
    /// `TasksMax=` for plugin units.
    pub plugin_tasks_max: Option<u64>,
    /// How long a forwarded request may take.
    pub request_timeout: Duration,
    /// How long a plugin has to start and answer init.
    pub start_timeout: Duration,
    /// The executable the embedded backend runs as each plugin's log relay (in its
    /// `--log-relay` mode): this daemon's own binary, [`SELF_EXE`] unless a test names it.
    pub log_relay: PathBuf,
    /// Host names the TCP API answers to besides `localhost`, `127.0.0.1`, `[::1]` and the
    /// listening addresses (a request naming another host is refused: DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// How long an HTTP connection may have no request in progress; `None`: the API's default.
    pub http_idle_timeout: Option<Duration>,
    /// How long a request body may take to arrive; `None`: the API's default.
    pub http_body_timeout: Option<Duration>,
    /// Bytes of KV data (keys and values) each plugin may keep
    /// [default: [`DEFAULT_KV_QUOTA`](crate::store::DEFAULT_KV_QUOTA), 64 MiB].
    pub kv_quota_bytes: u64,
    /// How long events, the audit trail among them, are kept
    /// [default: [`EVENT_RETENTION`](crate::store::EVENT_RETENTION), 7 days].
    pub event_retention: Duration,
    /// The largest plugin upload accepted (`POST /api/plugins`)
    /// [default: [`DEFAULT_MAX_UPLOAD_BYTES`](crate::api::upload::DEFAULT_MAX_UPLOAD_BYTES),
    /// 256 MiB].
    pub max_upload_bytes: u64,
    /// How long an upgraded plugin that was running must stay healthy before the upgrade counts
    /// [default: [`DEFAULT_UPGRADE_HEALTH_WINDOW`](settings::DEFAULT_UPGRADE_HEALTH_WINDOW), 30 s].
    pub upgrade_health_window: Duration,
    /// How often running plugins are pinged, and how long a ping may take; not a file key (the
    /// defaults, 10 s and 5 s, are what plugins are written against), but tests of the health
    /// window shorten them.
    pub ping: (Duration, Duration),
    /// Where events are POSTed (`[[webhooks]]`), checked and with their secrets read.
    pub webhooks: Vec<Webhook>,
    /// How webhook deliveries are retried; not a file key (the default is documented), but
    /// tests shorten it.
    pub webhook_retry: RetryPolicy,
    /// A file holding the bearer token Prometheus may read `GET /metrics` with; `None`: only
    /// sessions and the local socket may read it.
    pub metrics_token_file: Option<PathBuf>,
}

/// This process's own executable. Spawning it runs the very binary this daemon was started
/// from, even after a package upgrade replaced the file, so a relay always speaks its daemon's
/// flags.
pub const SELF_EXE: &str = "/proc/self/exe";

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration file {path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// Whether this process runs as root. `/proc/self` is owned by the process's effective uid,
/// which avoids an `unsafe` libc call for the same answer.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Default directories for the current user.
struct Defaults {
    config: PathBuf,
    data_dir: PathBuf,
    runtime_dir: PathBuf,
    log_dir: Option<PathBuf>,
    tls_dir: PathBuf,
    trusted_keys_dir: PathBuf,
}

fn defaults(root: bool) -> Defaults {
    if root {
        return Defaults {
            config: "/etc/toru/toru.toml".into(),
            data_dir: "/var/lib/toru".into(),
            runtime_dir: "/run/toru".into(),
            log_dir: Some("/var/log/toru".into()),
            tls_dir: "/etc/toru/tls".into(),
            trusted_keys_dir: "/etc/toru/trusted-keys".into(),
        };
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let xdg = |var: &str, fallback: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(fallback))
    };
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map_or_else(
            || std::env::temp_dir().join(format!("toru-{}", current_uid())),
            |p| p.join("toru"),
        );
    let config_dir = xdg("XDG_CONFIG_HOME", ".config").join("toru");
    Defaults {
        config: config_dir.join("toru.toml"),
        tls_dir: config_dir.join("tls"),
        trusted_keys_dir: config_dir.join("trusted-keys"),
        data_dir: xdg("XDG_STATE_HOME", ".local/state").join("toru"),
        runtime_dir: runtime,
        log_dir: None,
    }
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

impl Config {
    /// Resolves flags, the file they name (or the default file, if present) and defaults.
    pub fn load(args: &Args) -> Result<Config, ConfigError> {
        Self::load_with(args, running_as_root())
    }

    fn load_with(args: &Args, root: bool) -> Result<Config, ConfigError> {
        let d = defaults(root);
        let config_file = match &args.config {
            Some(path) => Some(path.clone()),
            None => d.config.exists().then_some(d.config),
        };
        let file = match &config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or(d.data_dir);
        let plugins_dir = args
            .plugins_dir
            .clone()
            .or(file.plugins_dir)
            .unwrap_or_else(|| data_dir.join("plugins"));
        let webhooks = Webhook::resolve_all(file.webhooks.as_deref().unwrap_or_default()).map_err(
            |reason| ConfigError {
                path: config_file.clone().unwrap_or_default(),
                reason,
            },
        )?;
        let log_dir = args
            .log_dir
            .clone()
            .or(file.log_dir)
            .or(d.log_dir)
            .unwrap_or_else(|| data_dir.join("logs"));
        let plugin_memory_max = limit(&config_file, &file.plugin_memory_max, LimitInput::memory)?;
        let plugin_cpu_quota = limit(&config_file, &file.plugin_cpu_quota, LimitInput::cpu)?;
        let plugin_tasks_max = limit(&config_file, &file.plugin_tasks_max, LimitInput::tasks)?;
        Ok(Config {
            config_file,
            plugins_dir,
            log_dir,
            runtime_dir: args
                .runtime_dir
                .clone()
                .or(file.runtime_dir)
                .unwrap_or(d.runtime_dir),
            supervisor: args
                .supervisor
                .or(file.supervisor)
                .unwrap_or(SupervisorChoice::Auto),
            max_failures: args
                .max_failures
                .or(file.max_failures)
                .unwrap_or(settings::DEFAULT_MAX_FAILURES)
                .max(1),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7070))),
            tls_listen: args.tls_listen.or(file.tls_listen),
            tls_dir: args.tls_dir.clone().or(file.tls_dir).unwrap_or(d.tls_dir),
            web_root: args
                .web_root
                .clone()
                .or(file.web_root)
                .or_else(default_web_root),
            signatures: args.signatures.or(file.signatures).unwrap_or_default(),
            trusted_keys_dir: args
                .trusted_keys_dir
                .clone()
                .or(file.trusted_keys_dir)
                .unwrap_or(d.trusted_keys_dir),
            plugin_memory_max,
            plugin_cpu_quota,
            plugin_tasks_max,
            request_timeout: file
                .request_timeout_secs
                .map_or(settings::DEFAULT_REQUEST_TIMEOUT, Duration::from_secs),
            start_timeout: file
                .start_timeout_secs
                .map_or(settings::DEFAULT_START_TIMEOUT, Duration::from_secs),
            log_relay: SELF_EXE.into(),
            allowed_hosts: file.allowed_hosts.unwrap_or_default(),
            http_idle_timeout: file.http_idle_timeout_secs.map(Duration::from_secs),
            http_body_timeout: file.http_body_timeout_secs.map(Duration::from_secs),
            kv_quota_bytes: file
                .kv_quota_bytes
                .unwrap_or(crate::store::DEFAULT_KV_QUOTA),
            event_retention: file
                .event_retention_days
                .map_or(crate::store::EVENT_RETENTION, |days| {
                    Duration::from_secs(u64::from(days) * 24 * 60 * 60)
                }),
            max_upload_bytes: file
                .max_upload_bytes
                .unwrap_or(crate::api::upload::DEFAULT_MAX_UPLOAD_BYTES),
            upgrade_health_window: file
                .upgrade_health_window_secs
                .map_or(settings::DEFAULT_UPGRADE_HEALTH_WINDOW, Duration::from_secs),
            ping: (
                settings::DEFAULT_PING_INTERVAL,
                settings::DEFAULT_PING_TIMEOUT,
            ),
            webhooks,
            webhook_retry: RetryPolicy::default(),
            metrics_token_file: file.metrics_token_file,
            data_dir,
        })
    }

    /// The local API socket.
    pub fn socket_path(&self) -> PathBuf {
        self.runtime_dir.join("toru.sock")
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("toru.db")
    }
}

/// The packaged dashboard, else a development build in the current directory.
fn default_web_root() -> Option<PathBuf> {
    ["/usr/share/toru/web", "frontend/dist"]
        .into_iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("index.html").is_file())
        .and_then(|dir| std::path::absolute(dir).ok())
}

/// A default plugin limit from the file, parsed as `toructl plugin limits` parses one; a bad
/// one is an error naming the file and the limit.
fn limit<T>(
    file: &Option<PathBuf>,
    input: &Option<LimitInput>,
    parse: impl Fn(&LimitInput) -> Result<T, toru_api::InvalidLimit>,
) -> Result<Option<T>, ConfigError> {
    input
        .as_ref()
        .map(parse)
        .transpose()
        .map_err(|e| ConfigError {
            path: file.clone().unwrap_or_default(),
            reason: format!("plugin limit {e}"),
        })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let err = |reason: String| ConfigError {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    toml::from_str(&text).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::parse_from(std::iter::once("toru-daemon").chain(list.iter().copied()))
    }

    #[test]
    fn root_defaults_are_the_fhs_paths() {
        // Pass an explicit empty file so a real /etc/toru/toru.toml on the machine can't interfere.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("toru.toml");
        std::fs::write(&file, "").unwrap();
        let c = Config::load_with(&args(&["-c", file.to_str().unwrap()]), true).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/toru"));
        assert_eq!(c.plugins_dir, PathBuf::from("/var/lib/toru/plugins"));
        assert_eq!(c.runtime_dir, PathBuf::from("/run/toru"));
        assert_eq!(c.log_dir, PathBuf::from("/var/log/toru"));
        assert_eq!(c.supervisor, SupervisorChoice::Auto);
        assert_eq!(c.max_failures, 10);
        assert_eq!(c.tls_dir, PathBuf::from("/etc/toru/tls"));
        assert_eq!(c.tls_listen, None, "no TLS listener unless configured");
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("toru.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/toru\"\nsupervisor = \"embedded\"\nmax_failures = 3\nplugin_memory_max = 1000000\n",
        )
        .unwrap();
        let c = Config::load_with(
            &args(&["-c", file.to_str().unwrap(), "--max-failures", "5"]),
            true,
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/toru"));
        assert_eq!(c.plugins_dir, PathBuf::from("/srv/toru/plugins"));
        assert_eq!(c.supervisor, SupervisorChoice::Embedded);
        assert_eq!(c.max_failures, 5, "the flag wins");
        assert_eq!(c.plugin_memory_max, Some(1_000_000));
        assert_eq!(c.plugin_cpu_quota, None);
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("toru.toml");
        for (text, expect) in [
            ("data_dirr = \"/x\"", "unknown field"),    // a typo in a key
            ("max_failures = \"ten\"", "invalid type"), // a wrong type
            ("[[[", ""),                                // not TOML
        ] {
            std::fs::write(&file, text).unwrap();
            let err = Config::load_with(&args(&["-c", file.to_str().unwrap()]), true).unwrap_err();
            assert!(err.to_string().contains(expect), "{text}: {err}");
        }
        let missing = Config::load_with(&args(&["-c", "/nonexistent/toru.toml"]), true);
        assert!(missing.is_err(), "an explicitly named file must exist");
    }

    #[test]
    fn limits_take_human_sizes_and_a_bad_one_names_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("toru.toml");
        std::fs::write(
            &file,
            "plugin_memory_max = \"256M\"\nplugin_cpu_quota = \"50%\"\nplugin_tasks_max = 64\n",
        )
        .unwrap();
        let c = Config::load_with(&args(&["-c", file.to_str().unwrap()]), true).unwrap();
        assert_eq!(c.plugin_memory_max, Some(256 << 20));
        assert_eq!(c.plugin_cpu_quota, Some(50));
        assert_eq!(c.plugin_tasks_max, Some(64));
        std::fs::write(&file, "plugin_memory_max = \"-1\"\n").unwrap();
        let e = Config::load_with(&args(&["-c", file.to_str().unwrap()]), true).unwrap_err();
        assert!(e.reason.contains("memory"), "{e}");
    }

    #[test]
    fn the_packaged_config_file_documents_every_key_with_a_valid_value() {
        // packaging/toru.toml has every key commented out as `#key = value` (and the example
        // `#[[webhooks]]` table last); uncommented, the
        // file must parse, and set every key. The destructuring below stops compiling when a
        // key is added to FileConfig, until it is documented there too.
        let text = include_str!("../../packaging/toru.toml");
        let keys: String = text
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase() || c == '['))
            .map(|l| format!("{l}\n"))
            .collect();
        let file: FileConfig = toml::from_str(&keys).expect("packaging/toru.toml's keys parse");
        let FileConfig {
            data_dir,
            plugins_dir,
            runtime_dir,
            log_dir,
            supervisor,
            max_failures,
            listen,
            tls_listen,
            tls_dir,
            web_root,
            plugin_memory_max,
            plugin_cpu_quota,
            plugin_tasks_max,
            request_timeout_secs,
            start_timeout_secs,
            allowed_hosts,
            http_idle_timeout_secs,
            http_body_timeout_secs,
            kv_quota_bytes,
            event_retention_days,
            signatures,
            trusted_keys_dir,
            max_upload_bytes,
            upgrade_health_window_secs,
            webhooks,
            metrics_token_file,
        } = file;
        assert!(data_dir.is_some() && plugins_dir.is_some() && runtime_dir.is_some());
        assert!(log_dir.is_some() && supervisor.is_some() && max_failures.is_some());
        assert!(listen.is_some() && web_root.is_some() && plugin_memory_max.is_some());
        assert!(plugin_tasks_max.is_some() && request_timeout_secs.is_some());
        assert!(plugin_cpu_quota.is_some());
        assert!(start_timeout_secs.is_some() && allowed_hosts.is_some());
        assert!(http_idle_timeout_secs.is_some() && http_body_timeout_secs.is_some());
        assert!(start_timeout_secs.is_some() && kv_quota_bytes.is_some());
        assert!(event_retention_days.is_some());
        assert!(signatures.is_some() && trusted_keys_dir.is_some());
        assert!(max_upload_bytes.is_some() && upgrade_health_window_secs.is_some());
        assert!(tls_listen.is_some() && tls_dir.is_some());
        assert!(
            webhooks.is_some_and(|w| w.len() == 1),
            "one example [[webhooks]] table"
        );
        assert!(metrics_token_file.is_some());
        // And the documented defaults are the real ones, as root.
        let defaults = Config::load_with(&args(&["-c", "/dev/null"]), true).unwrap();
        assert_eq!(data_dir, Some(defaults.data_dir));
        assert_eq!(plugins_dir, Some(defaults.plugins_dir));
        assert_eq!(runtime_dir, Some(defaults.runtime_dir));
        assert_eq!(log_dir, Some(defaults.log_dir));
        assert_eq!(supervisor, Some(defaults.supervisor));
        assert_eq!(max_failures, Some(defaults.max_failures));
        assert_eq!(listen, Some(defaults.listen));
        assert_eq!(tls_dir, Some(defaults.tls_dir));
        assert_eq!(signatures, Some(defaults.signatures));
        assert_eq!(trusted_keys_dir, Some(defaults.trusted_keys_dir));
        assert_eq!(kv_quota_bytes, Some(defaults.kv_quota_bytes));
        assert_eq!(max_upload_bytes, Some(defaults.max_upload_bytes));
        assert_eq!(
            upgrade_health_window_secs,
            Some(defaults.upgrade_health_window.as_secs())
        );
        assert_eq!(
            request_timeout_secs,
            Some(defaults.request_timeout.as_secs())
        );
        assert_eq!(start_timeout_secs, Some(defaults.start_timeout.as_secs()));
        assert_eq!(
            event_retention_days.map(|days| u64::from(days) * 24 * 60 * 60),
            Some(defaults.event_retention.as_secs())
        );
        // And the supervision defaults are the ones `Settings` starts from.
        let supervision = crate::plugins::Settings::new(PathBuf::new());
        assert_eq!(defaults.max_failures, supervision.max_failures);
        assert_eq!(defaults.request_timeout, supervision.request_timeout);
        assert_eq!(defaults.start_timeout, supervision.start_timeout);
        assert_eq!(
            defaults.upgrade_health_window,
            supervision.upgrade_health_window
        );
        assert_eq!(
            defaults.ping,
            (supervision.ping_interval, supervision.ping_timeout)
        );
    }
}
