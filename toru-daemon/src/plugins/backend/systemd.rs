//! The systemd backend: every plugin runs as a transient unit `toru-plugin-<id>.service`.
//!
//! systemd does the cgroup, the sandbox and the journal; this module only talks to
//! `org.freedesktop.systemd1` on the system bus (it is the only module that imports zbus). The
//! parts:
//!
//! - hand-written [`zbus::proxy`] traits for the few calls and properties used;
//! - [`unit_properties`], the one place that decides what a plugin unit looks like;
//! - [`SystemdBackend`], the [`SupervisorBackend`] over those;
//! - a watcher task per running unit that turns the unit's `PropertiesChanged` signals into the
//!   one [`ExitInfo`] the supervisor waits for.
//!
//! Nothing here polls: job completion comes from `JobRemoved`, unit state from
//! `org.freedesktop.DBus.Properties.PropertiesChanged` on the unit's object path. Unit names and
//! properties are only ever made from a validated plugin id and [`unit_properties`], so a
//! malformed id or metadata can never make this module start anything but a sandboxed plugin.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::oneshot;
use zbus::proxy::CacheProperties;
use zbus::{Connection, DBusError, OwnedObjectPath, Variant};

use super::{
    BackendError, BackendKind, ExitInfo, LaunchSpec, RunningPlugin, SupervisorBackend, unit_name,
};

/// The bus name of the systemd manager.
const SYSTEMD_SERVICE: &str = "org.freedesktop.systemd1";
/// The interface carrying `ActiveState`, in `PropertiesChanged` signals.
const UNIT_INTERFACE: &str = "org.freedesktop.systemd1.Unit";
/// The interface carrying `ExecMainCode`/`ExecMainStatus`, in `PropertiesChanged` signals.
const SERVICE_INTERFACE: &str = "org.freedesktop.systemd1.Service";
/// systemd's error for a unit that is not loaded (never started, or already collected).
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

/// Unit names are `toru-plugin-<id>.service`; these split a name back into the id.
const UNIT_PREFIX: &str = "toru-plugin-";
const UNIT_SUFFIX: &str = ".service";

/// How long a start job may take before `start` gives up. A `Type=exec` start job finishes
/// once `execve` succeeded, so this only bounds a wedged systemd.
const START_JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// `TimeoutStopUSec` of every plugin unit: the backstop when something other than
/// [`SystemdBackend::stop`] stops the unit (`systemctl stop`, shutdown). `stop` enforces its own
/// `grace`, capped at this.
const UNIT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits for the stop job after sending SIGKILL itself.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Upper bound of every D-Bus call (the reference implementation's default), so a wedged
/// systemd or bus makes calls fail instead of hang.
const CALL_TIMEOUT: Duration = Duration::from_secs(25);
/// Upper bound of [`SystemdBackend::probe`], so `--supervisor auto` decides quickly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Linux constants systemd takes as numbers (`<errno.h>`, `<sys/socket.h>`, `<signal.h>`).
const EPERM: i32 = 1;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const SIGKILL: i32 = 9;

/// `si_code` values of `ExecMainCode` (from `<signal.h>`): how the main process ended.
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;
const CLD_DUMPED: i32 = 3;

// ----------------------------------------------------------------------------------------------
// D-Bus proxies: only what this module uses, with the exact signatures of systemd 252.

/// `org.freedesktop.systemd1.Manager`, the calls and the signal the backend uses.
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    /// Asks systemd to send unit and job signals to this connection.
    fn subscribe(&self) -> zbus::Result<()>;

    /// `ssa(sv)a(sa(sv))` → the job's object path.
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Variant<'_>)],
        aux: &[(&str, &[(&str, Variant<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;

    /// Queues a stop job → its object path.
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    /// Sends a signal to the unit's processes (`whom`: `main`, `control` or `all`).
    fn kill_unit(&self, name: &str, whom: &str, signal: i32) -> zbus::Result<()>;

    /// Clears the failed state so a new unit of the same name can be started.
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;

    /// The object path of a loaded unit; `NoSuchUnit` when it is not loaded (never loads it).
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    /// Loaded units whose names match `patterns`, in any of `states` (all when empty).
    fn list_units_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<Vec<UnitListEntry>>;

    /// A job finished: `id`, `job` path, `unit` name, `result` (`done`, `failed`, …).
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;

    /// systemd's version string; read by [`SystemdBackend::probe`] as a cheap liveness check.
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

/// One row of `ListUnitsByPatterns`: `(ssssssouso)` = name, description, load state, active
/// state, sub state, followed unit, unit path, job id, job type, job path.
type UnitListEntry = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

/// `org.freedesktop.systemd1.Unit`, the state the backend reads. (`SubState` is not needed:
/// `ActiveState` alone says whether a unit runs.)
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
trait Unit {
    /// `active`, `activating`, `deactivating`, `reloading`, `inactive` or `failed`.
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
}

/// `org.freedesktop.systemd1.Service`, the process facts the backend reads.
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
trait Service {
    /// The main process, 0 when there is none.
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> zbus::Result<u32>;

    /// How the main process ended: a `CLD_*` code, 0 while it runs.
    #[zbus(property)]
    fn exec_main_code(&self) -> zbus::Result<i32>;

    /// The exit status or signal number, depending on `ExecMainCode`.
    #[zbus(property)]
    fn exec_main_status(&self) -> zbus::Result<i32>;

    /// Why the service last stopped: `success`, `exit-code`, `signal`, `timeout`, `resources`, …
    #[zbus(property)]
    fn result(&self) -> zbus::Result<String>;
}

// ----------------------------------------------------------------------------------------------
// Configuration and the unit definition.

/// The slice every plugin unit is placed in.
pub const PLUGIN_SLICE: &str = "toru-plugins.slice";

/// Where the daemon keeps one socket directory per plugin, unless configured otherwise.
pub const DEFAULT_SOCKET_DIR: &str = "/run/toru/plugin-sockets";

/// What the systemd backend needs beyond each [`LaunchSpec`]. Small on purpose: per-plugin
/// limits travel in the spec and the sandbox is fixed in [`unit_properties`].
#[derive(Debug, Clone)]
pub struct SystemdConfig {
    /// Extra `KEY=VALUE` environment entries for every plugin (e.g. `RUST_LOG`), after the
    /// variables the protocol defines.
    pub extra_env: Vec<String>,
    /// The daemon's directory of plugin socket directories (see [`socket_path`]): mode 0700,
    /// owned by the daemon, so only the daemon and, through its bind mount, each plugin reach
    /// a plugin's socket.
    pub socket_dir: PathBuf,
}

impl Default for SystemdConfig {
    fn default() -> Self {
        Self {
            extra_env: Vec::new(),
            socket_dir: PathBuf::from(DEFAULT_SOCKET_DIR),
        }
    }
}

impl SystemdConfig {
    /// Where the daemon connects to the plugin `plugin_id`: `<socket_dir>/<id>/plugin.sock`.
    pub fn socket_path(&self, plugin_id: &str) -> PathBuf {
        socket_path(&self.socket_dir, plugin_id)
    }
}

/// Where the daemon connects to a plugin: `<socket_dir>/<id>/plugin.sock`.
///
/// Why not the unit's own `RuntimeDirectory=`: systemd creates that 0700 for the dynamic user,
/// and the daemon runs as root *without* `CAP_DAC_OVERRIDE`, so it could not enter it. Instead
/// the daemon owns `<socket_dir>/<id>` (created by [`prepare_socket_dir`]: setgid, group root,
/// mode 2733) and systemd bind-mounts it over the unit's `RuntimeDirectory=`, where the plugin
/// sees it as `/run/toru-plugin-<id>` ([`unit_socket_path`]). The plugin's socket inherits
/// group root from the setgid directory and mode 0770 from `UMask=0007`, so the daemon (gid 0)
/// may connect; other plugins can reach neither the directory (`socket_dir` is 0700 and not
/// mounted into their units) nor the socket (not their user, not their group).
pub fn socket_path(socket_dir: &std::path::Path, plugin_id: &str) -> PathBuf {
    socket_dir.join(plugin_id).join(SOCKET_NAME)
}

/// The socket's file name, the same in the daemon's view and the plugin's.
const SOCKET_NAME: &str = "plugin.sock";

/// Where the plugin itself creates its socket, in its own mount namespace:
/// `/run/toru-plugin-<id>/plugin.sock` (the bind mount of the daemon's directory).
pub fn unit_socket_path(plugin_id: &str) -> PathBuf {
    PathBuf::from(format!(
        "/run/{}/{SOCKET_NAME}",
        runtime_directory(plugin_id)
    ))
}

/// Makes `<socket_dir>/<id>` empty and ready for a fresh plugin process: `socket_dir` 0700,
/// the plugin's directory setgid with group root and mode 2733 (the plugin, which is "other",
/// may create its socket but not list the directory). A socket left by an earlier process of
/// the same plugin (a different dynamic uid) is removed: the directory is the daemon's.
pub fn prepare_socket_dir(socket_dir: &std::path::Path, plugin_id: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(socket_dir)?;
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o700))?;
    let dir = socket_dir.join(plugin_id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o2733))
}

/// The `RuntimeDirectory=` name (relative to `/run`) of a plugin's unit.
fn runtime_directory(plugin_id: &str) -> String {
    format!("{UNIT_PREFIX}{plugin_id}")
}

/// The absolute path of a plugin unit's `RuntimeDirectory=`.
fn runtime_dir_path(plugin_id: &str) -> String {
    format!("/run/{}", runtime_directory(plugin_id))
}

/// The D-Bus object path systemd gives a unit: every byte outside `[A-Za-z0-9]` becomes `_xx`
/// (lower-case hex), as in `toru-plugin-a.service` →
/// `/org/freedesktop/systemd1/unit/toru_2dplugin_2da_2eservice`.
///
/// Needed to subscribe to a unit's signals *before* the unit exists.
fn unit_object_path(unit: &str) -> String {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    for (i, b) in unit.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            path.push(char::from(b));
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

/// The properties of a plugin's transient unit, with their exact D-Bus names and types.
///
/// This is the one place that decides how a plugin runs under systemd; `start` sends exactly
/// this list. Integer types matter (`t` = `u64`, `u` = `u32`, `i` = `i32`): a wrong one makes
/// systemd reject the whole call without naming the property.
///
/// Every directive below was checked to keep both the Rust example plugin and a CPython 3.11
/// stdlib plugin working (see `tests/systemd_backend.rs`).
pub fn unit_properties(
    spec: &LaunchSpec,
    config: &SystemdConfig,
) -> Result<Vec<(&'static str, Variant<'static>)>, BackendError> {
    let id = spec.plugin_id.as_str();
    let start_err = |reason: String| BackendError::Start {
        plugin_id: id.to_owned(),
        reason,
    };
    let binary = spec
        .binary
        .to_str()
        .filter(|_| spec.binary.is_absolute())
        .ok_or_else(|| {
            start_err(format!(
                "the plugin binary path {} must be absolute and UTF-8",
                spec.binary.display()
            ))
        })?
        .to_owned();
    // The socket must be in the plugin's own directory, the only one bind-mounted into its
    // unit. The spec carries the daemon's view of it; here it must agree.
    let host_dir = config.socket_dir.join(id);
    if spec.socket != config.socket_path(id) || !host_dir.is_absolute() {
        return Err(start_err(format!(
            "socket path {} is not {}, the only place the unit can create it",
            spec.socket.display(),
            config.socket_path(id).display()
        )));
    }
    let host_dir = host_dir.to_string_lossy().into_owned();
    let socket = unit_socket_path(id).to_string_lossy().into_owned();
    let extra_env = &config.extra_env;
    let perms = &spec.permissions;
    perms
        .validate()
        .map_err(|e| start_err(format!("refusing its permissions: {e}")))?;

    let mut env = vec![
        format!("TORU_PLUGIN_ID={id}"),
        format!("TORU_PLUGIN_SOCKET={socket}"),
    ];
    env.extend(extra_env.iter().cloned());

    let mut props: Vec<(&'static str, Variant<'static>)> = vec![
        // What runs. `Type=exec` makes the start job fail when the binary cannot be executed
        // (`simple` would report success). Restart=no: the supervisor does the backoff itself,
        // systemd 252 has no RestartSteps=.
        ("Description", format!("Toru plugin {id}").into()),
        ("Type", "exec".into()),
        (
            "ExecStart",
            vec![(
                binary.clone(),
                vec![binary, "--socket".to_owned(), socket],
                false,
            )]
            .into(),
        ),
        ("Environment", env.into()),
        ("Restart", "no".into()),
        // Every plugin in one slice: `systemctl stop toru-plugins.slice` stops them all (the
        // package's prerm does on removal), and the administrator can limit them together.
        ("Slice", PLUGIN_SLICE.into()),
        // Stopping: SIGTERM to the whole cgroup (default KillMode=control-group), SIGKILL after
        // this backstop; `stop` applies the supervisor's own grace before it.
        ("TimeoutStopUSec", micros(UNIT_STOP_TIMEOUT).into()),
        // The socket's directory (see `socket_path`): /run/toru-plugin-<id> is created by
        // systemd for the dynamic user and removed when the unit stops; inside the unit the
        // daemon's `<socket_dir>/<id>` is bind-mounted over it, so the socket the plugin makes
        // there is one the daemon, without CAP_DAC_OVERRIDE, can connect to. `(ssbt)`:
        // source, destination, ignore a missing source (no), mount flags (none).
        ("RuntimeDirectory", vec![runtime_directory(id)].into()),
        ("RuntimeDirectoryMode", 0o700u32.into()),
        (
            "BindPaths",
            vec![(host_dir, runtime_dir_path(id), false, 0u64)].into(),
        ),
        // Logging: stdout/stderr go to the journal (the default for units); `journalctl -u`
        // matches by unit, TORU_PLUGIN=<id> lets other tools match the plugin's own lines
        // (`journalctl TORU_PLUGIN=<id>`) without systemd's messages about the unit, and the
        // identifier shows the plugin's id instead of `python3` or the binary's name.
        (
            "LogExtraFields",
            vec![format!("TORU_PLUGIN={id}").into_bytes()].into(),
        ),
        ("SyslogIdentifier", id.to_owned().into()),
        // Identity and privileges: a fresh unprivileged user per plugin that owns nothing,
        // no capabilities, no way to gain any.
        ("DynamicUser", true.into()),
        ("PrivateUsers", true.into()),
        ("NoNewPrivileges", true.into()),
        ("CapabilityBoundingSet", 0u64.into()),
        ("AmbientCapabilities", 0u64.into()),
        ("RestrictSUIDSGID", true.into()),
        // 0007, not 0077: the socket must be group-writable for the daemon (group root via
        // the setgid directory). The plugin's other files are its dynamic group's, which no
        // one else has.
        ("UMask", 0o007u32.into()),
        // Filesystem: the whole OS read-only, no home directories, a private /tmp, no devices
        // beyond the pseudo ones, only the plugin's own processes visible in /proc.
        ("ProtectSystem", "strict".into()),
        ("ProtectHome", "yes".into()),
        ("PrivateTmp", true.into()),
        ("PrivateDevices", perms.devices.is_empty().into()),
        ("DevicePolicy", "closed".into()),
        ("ProtectProc", "invisible".into()),
        ("ProcSubset", "pid".into()),
        // Kernel and system state the plugin must not touch.
        ("ProtectKernelTunables", true.into()),
        ("ProtectKernelModules", true.into()),
        ("ProtectKernelLogs", true.into()),
        ("ProtectControlGroups", true.into()),
        ("ProtectClock", true.into()),
        ("ProtectHostname", true.into()),
        ("RestrictNamespaces", 0u64.into()), // `t` = allowed namespace flags: none
        ("LockPersonality", true.into()),
        ("RestrictRealtime", true.into()),
        // W^X memory. Fine for Rust and for CPython 3.11 (no JIT); a plugin that uses ctypes
        // callbacks or a JIT would need it relaxed.
        ("MemoryDenyWriteExecute", true.into()),
        // System calls: the usual service set, minus privileged and resource-control calls;
        // anything else fails with EPERM instead of killing the plugin with SIGSYS. The two
        // SystemCallFilter entries combine like two lines in a unit file.
        ("SystemCallArchitectures", vec!["native".to_owned()].into()),
        (
            "SystemCallFilter",
            (true, vec!["@system-service".to_owned()]).into(),
        ),
        (
            "SystemCallFilter",
            (
                false,
                vec!["@privileged".to_owned(), "@resources".to_owned()],
            )
                .into(),
        ),
        ("SystemCallErrorNumber", EPERM.into()),
        // Network: Unix sockets (the daemon's connection) and IP, but IP only to localhost. A
        // plugin that needs more should say so in its metadata and get only that relaxed.
        (
            "RestrictAddressFamilies",
            (
                true,
                vec![
                    "AF_UNIX".to_owned(),
                    "AF_INET".to_owned(),
                    "AF_INET6".to_owned(),
                ],
            )
                .into(),
        ),
    ];
    // Permissions the plugin declared in its metadata (validated by discovery, checked again
    // by `Permissions::validate` below), and nothing else.
    if !perms.network {
        props.push(("IPAddressDeny", ip_prefixes(&[ANY_V4, ANY_V6]).into()));
        props.push((
            "IPAddressAllow",
            ip_prefixes(&[LOCALHOST_V4, LOCALHOST_V6]).into(),
        ));
    }
    if !perms.writable_paths.is_empty() {
        props.push(("ReadWritePaths", perms.writable_paths.clone().into()));
    }
    if !perms.devices.is_empty() {
        let allow: Vec<(String, String)> = perms
            .devices
            .iter()
            .map(|d| (d.clone(), "rw".to_owned()))
            .collect();
        props.push(("DeviceAllow", allow.into()));
    }

    // Resource limits from the daemon's configuration, only when set.
    if let Some(bytes) = spec.limits.memory_max {
        props.push(("MemoryMax", bytes.into()));
    }
    if let Some(tasks) = spec.limits.tasks_max {
        props.push(("TasksMax", tasks.into()));
    }
    Ok(props)
}

/// An IP prefix as systemd's `IPAddressAllow`/`IPAddressDeny` take it: `(iayu)` = address
/// family, address bytes, prefix length.
type IpPrefix = (i32, &'static [u8], u32);

const ANY_V4: IpPrefix = (AF_INET, &[0; 4], 0);
const ANY_V6: IpPrefix = (AF_INET6, &[0; 16], 0);
const LOCALHOST_V4: IpPrefix = (AF_INET, &[127, 0, 0, 0], 8);
const LOCALHOST_V6: IpPrefix = (
    AF_INET6,
    &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    128,
);

/// `a(iayu)` from a list of prefixes.
fn ip_prefixes(prefixes: &[IpPrefix]) -> Vec<(i32, Vec<u8>, u32)> {
    prefixes
        .iter()
        .map(|&(family, addr, len)| (family, addr.to_vec(), len))
        .collect()
}

/// A duration as systemd's `…USec` properties take it (`t`).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

// ----------------------------------------------------------------------------------------------
// Errors.

/// The D-Bus error name of a failed call, when the peer sent one.
fn dbus_error_name(e: &zbus::Error) -> Option<String> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        zbus::Error::FDO(fdo) => Some(fdo.name().to_string()),
        _ => None,
    }
}

/// Whether a call failed because the unit is not loaded.
fn is_no_such_unit(e: &zbus::Error) -> bool {
    dbus_error_name(e).as_deref() == Some(NO_SUCH_UNIT)
}

/// `"<call>: <D-Bus error name>: <message>"`, for the `reason` of a [`BackendError`].
fn describe(call: &str, e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, detail, _) => {
            format!(
                "{call}: {name}: {}",
                detail.as_deref().unwrap_or("no details")
            )
        }
        zbus::Error::FDO(fdo) => format!(
            "{call}: {}: {}",
            fdo.name(),
            fdo.description().unwrap_or("no details")
        ),
        other => format!("{call}: {other}"),
    }
}

/// A [`BackendError::Start`] for `plugin_id`.
fn start_error(plugin_id: &str, reason: String) -> BackendError {
    BackendError::Start {
        plugin_id: plugin_id.to_owned(),
        reason,
    }
}

/// A [`BackendError::Stop`] for `plugin_id`.
fn stop_error(plugin_id: &str, reason: String) -> BackendError {
    BackendError::Stop {
        plugin_id: plugin_id.to_owned(),
        reason,
    }
}

/// A [`BackendError::Inspect`] naming the plugin and the call that failed.
fn inspect_error(plugin_id: &str, call: &str, e: &zbus::Error) -> BackendError {
    BackendError::Inspect(format!("plugin {plugin_id}: {}", describe(call, e)))
}

// ----------------------------------------------------------------------------------------------
// The backend.

/// Runs plugins as transient systemd units over the system bus.
///
/// One D-Bus connection, subscribed to systemd's signals, serves every call and every watcher.
/// Units outlive the backend (and the daemon): a new backend finds them with
/// [`SupervisorBackend::list_running`] and [`SupervisorBackend::adopt`].
pub struct SystemdBackend {
    conn: Connection,
    manager: ManagerProxy<'static>,
    config: SystemdConfig,
}

impl std::fmt::Debug for SystemdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemdBackend")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A `BackendError::Unavailable` for the systemd backend.
fn unavailable(reason: String) -> BackendError {
    BackendError::Unavailable {
        backend: BackendKind::Systemd,
        reason,
    }
}

/// A proxy for the Service interface of the unit at `path`, uncached like [`manager_proxy`].
async fn service_proxy(conn: &Connection, path: &str) -> zbus::Result<ServiceProxy<'static>> {
    ServiceProxy::builder(conn)
        .path(path.to_owned())
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

/// A connection to the system bus whose calls time out after [`CALL_TIMEOUT`].
async fn system_bus() -> zbus::Result<Connection> {
    zbus::connection::Builder::system()
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await
}

/// A Manager proxy without a property cache: the backend reads fresh values when it needs them
/// and follows changes through signals, so a cache would only cost a `GetAll` per proxy.
async fn manager_proxy(conn: &Connection) -> zbus::Result<ManagerProxy<'static>> {
    ManagerProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

impl SystemdBackend {
    /// Connects to the system bus and subscribes to systemd's signals (systemd sends most of
    /// them only to subscribed clients).
    pub async fn connect(config: SystemdConfig) -> Result<Self, BackendError> {
        let conn = system_bus()
            .await
            .map_err(|e| unavailable(format!("cannot connect to the system bus: {e}")))?;
        let manager = manager_proxy(&conn)
            .await
            .map_err(|e| unavailable(format!("cannot reach {SYSTEMD_SERVICE}: {e}")))?;
        manager
            .subscribe()
            .await
            .map_err(|e| unavailable(describe("Subscribe", &e)))?;
        Ok(Self {
            conn,
            manager,
            config,
        })
    }

    /// Whether the system bus and systemd answer, within about two seconds. Used by
    /// `--supervisor auto` to choose this backend; never fails, never hangs.
    pub async fn probe() -> bool {
        let check = async {
            let conn = system_bus().await?;
            manager_proxy(&conn).await?.version().await
        };
        matches!(tokio::time::timeout(PROBE_TIMEOUT, check).await, Ok(Ok(_)))
    }

    /// The `ActiveState` of the unit at `path`, read now.
    async fn active_state(&self, path: &str) -> zbus::Result<String> {
        UnitProxy::builder(&self.conn)
            .path(path.to_owned())
            .cache_properties(CacheProperties::No)
            .build()
            .await?
            .active_state()
            .await
    }

    /// The Service interface of the unit at `path`, on this backend's connection.
    async fn service_proxy(&self, path: &str) -> zbus::Result<ServiceProxy<'static>> {
        service_proxy(&self.conn, path).await
    }

    /// The stream of `PropertiesChanged` signals of the unit at `path`. Creating it installs
    /// the match rule, so every change after this call is seen.
    async fn unit_changes(&self, path: &str) -> zbus::Result<zbus::fdo::PropertiesChangedStream> {
        let props = zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(SYSTEMD_SERVICE)
            .path(path.to_owned())
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        props.receive_properties_changed().await
    }

    /// `ResetFailedUnit`, treating "not loaded" as done.
    async fn reset_failed(&self, unit: &str) -> zbus::Result<()> {
        match self.manager.reset_failed_unit(unit).await {
            Err(e) if !is_no_such_unit(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// The main PID of the unit at `path`, `None` when it has none (yet or any more).
    async fn main_pid(&self, path: &str) -> zbus::Result<Option<u32>> {
        let pid = self.service_proxy(path).await?.main_pid().await?;
        Ok((pid != 0).then_some(pid))
    }

    /// What the unit says about a failed start, for the error message: its `Result` and the
    /// main process's exit status. Statuses 200–243 are systemd's own, e.g. 203 = the binary
    /// could not be executed, 226 = the sandbox's namespaces could not be set up.
    async fn failure_details(&self, path: &str) -> String {
        let read = async {
            let service = self.service_proxy(path).await?;
            Ok::<_, zbus::Error>((
                service.result().await?,
                service.exec_main_code().await?,
                service.exec_main_status().await?,
            ))
        };
        match read.await {
            Ok((result, CLD_EXITED, status)) => {
                format!("unit result {result:?}, main process exit status {status}")
            }
            Ok((result, CLD_KILLED | CLD_DUMPED, signal)) => {
                format!("unit result {result:?}, main process killed by signal {signal}")
            }
            Ok((result, _, _)) => format!("unit result {result:?}"),
            Err(e) => format!("unit result unknown: {e}"),
        }
    }

    /// Starts the watcher for a unit that runs, returning the receiver of its exit.
    fn spawn_watcher(
        &self,
        plugin_id: &str,
        changes: zbus::fdo::PropertiesChangedStream,
        path: String,
        armed: bool,
    ) -> oneshot::Receiver<ExitInfo> {
        let (tx, rx) = oneshot::channel();
        let watcher = Watcher {
            plugin_id: plugin_id.to_owned(),
            conn: self.conn.clone(),
            path,
            armed,
            exec_main: ExecMain::default(),
        };
        tokio::spawn(watcher.run(changes, tx));
        rx
    }
}

/// The outcome of one job, from its `JobRemoved` signal.
async fn wait_for_job(
    jobs: &mut JobRemovedStream,
    job: &OwnedObjectPath,
) -> Result<String, String> {
    while let Some(signal) = jobs.next().await {
        match signal.args() {
            Ok(args) if args.job() == job => return Ok(args.result().clone()),
            Ok(_) => {}
            Err(e) => tracing::debug!("ignoring an undecodable JobRemoved signal: {e}"),
        }
    }
    Err("the D-Bus connection closed while waiting for the job".to_owned())
}

/// Whether a unit in this `ActiveState` still has (or is about to have) a process. Includes
/// `deactivating`: such a unit still exists, so it must be adopted (and its end reported) rather
/// than started again, which would fail with `UnitExists`.
fn is_running(active_state: &str) -> bool {
    matches!(
        active_state,
        "active" | "activating" | "reloading" | "deactivating"
    )
}

/// Whether a unit in this `ActiveState` has ended.
fn has_ended(active_state: &str) -> bool {
    matches!(active_state, "inactive" | "failed")
}

#[async_trait]
impl SupervisorBackend for SystemdBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Systemd
    }

    fn socket_path(&self, plugin_id: &str) -> PathBuf {
        self.config.socket_path(plugin_id)
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<RunningPlugin, BackendError> {
        let id = spec.plugin_id.as_str();
        // The supervisor validated the id already; the unit name is built from it, so check
        // again here where it matters.
        toru_plugin_api::validate_plugin_id(id)
            .map_err(|e| start_error(id, format!("invalid plugin id: {e}")))?;
        let unit = unit_name(id);
        let path = unit_object_path(&unit);
        let props = unit_properties(spec, &self.config)?;
        prepare_socket_dir(&self.config.socket_dir, id).map_err(|e| {
            start_error(
                id,
                format!(
                    "cannot prepare its socket directory in {}: {e}",
                    self.config.socket_dir.display()
                ),
            )
        })?;

        // A failed unit of the same name stays loaded and would make the start fail with
        // UnitExists.
        self.reset_failed(&unit)
            .await
            .map_err(|e| start_error(id, describe("ResetFailedUnit", &e)))?;

        // Both streams before the start call, so neither the job's end nor a fast exit of the
        // plugin can slip through.
        let mut jobs = self
            .manager
            .receive_job_removed_with_args(&[(2, unit.as_str())])
            .await
            .map_err(|e| start_error(id, format!("cannot follow jobs: {e}")))?;
        let changes = self
            .unit_changes(&path)
            .await
            .map_err(|e| start_error(id, format!("cannot follow the unit: {e}")))?;

        let job = self
            .manager
            .start_transient_unit(&unit, "fail", &props, &[])
            .await
            .map_err(|e| start_error(id, describe("StartTransientUnit", &e)))?;
        let result = tokio::time::timeout(START_JOB_TIMEOUT, wait_for_job(&mut jobs, &job))
            .await
            .map_err(|_| {
                start_error(
                    id,
                    format!(
                        "the start job of {unit} did not finish within {}s",
                        START_JOB_TIMEOUT.as_secs()
                    ),
                )
            })?
            .map_err(|e| start_error(id, e))?;
        if result != "done" {
            // The unit stays loaded in the failed state for `systemctl status`; the next start
            // resets it.
            let why = self.failure_details(&path).await;
            return Err(start_error(
                id,
                format!(
                    "the start job of {unit} ended with {result:?} ({why}); see `journalctl -u \
                     {unit}`"
                ),
            ));
        }

        let pid = self
            .main_pid(&path)
            .await
            .map_err(|e| start_error(id, describe("Get MainPID", &e)))?;
        let exited = self.spawn_watcher(id, changes, path, false);
        tracing::info!(plugin = id, unit, ?pid, "started plugin unit");
        Ok(RunningPlugin {
            pid,
            unit: Some(unit),
            exited,
        })
    }

    async fn adopt(&self, plugin_id: &str) -> Result<Option<RunningPlugin>, BackendError> {
        if toru_plugin_api::validate_plugin_id(plugin_id).is_err() {
            return Ok(None);
        }
        let unit = unit_name(plugin_id);
        // GetUnit does not load a unit (reading properties by path would), so "not loaded"
        // stays not loaded.
        let path = match self.manager.get_unit(&unit).await {
            Ok(path) => path.to_string(),
            Err(e) if is_no_such_unit(&e) => return Ok(None),
            Err(e) => return Err(inspect_error(plugin_id, "GetUnit", &e)),
        };
        // Follow changes before reading the state, so an exit right after the read is seen.
        let changes = self
            .unit_changes(&path)
            .await
            .map_err(|e| inspect_error(plugin_id, "AddMatch PropertiesChanged", &e))?;
        let state = self
            .active_state(&path)
            .await
            .map_err(|e| inspect_error(plugin_id, "Get ActiveState", &e))?;
        if !is_running(&state) {
            if state == "failed" {
                // A crashed leftover: clear it so the supervisor can start a fresh unit.
                self.reset_failed(&unit)
                    .await
                    .map_err(|e| inspect_error(plugin_id, "ResetFailedUnit", &e))?;
            }
            return Ok(None);
        }
        let pid = self
            .main_pid(&path)
            .await
            .map_err(|e| inspect_error(plugin_id, "Get MainPID", &e))?;
        let exited = self.spawn_watcher(plugin_id, changes, path, true);
        tracing::info!(plugin = plugin_id, unit, ?pid, state, "adopted plugin unit");
        Ok(Some(RunningPlugin {
            pid,
            unit: Some(unit),
            exited,
        }))
    }

    async fn stop(&self, plugin_id: &str, grace: Duration) -> Result<(), BackendError> {
        if toru_plugin_api::validate_plugin_id(plugin_id).is_err() {
            // No unit can have this name: nothing runs.
            return Ok(());
        }
        let unit = unit_name(plugin_id);
        let mut jobs = self
            .manager
            .receive_job_removed_with_args(&[(2, unit.as_str())])
            .await
            .map_err(|e| stop_error(plugin_id, format!("cannot follow jobs: {e}")))?;
        let job = match self.manager.stop_unit(&unit, "replace").await {
            Ok(job) => job,
            Err(e) if is_no_such_unit(&e) => return Ok(()),
            Err(e) => return Err(stop_error(plugin_id, describe("StopUnit", &e))),
        };
        // SIGTERM went out with the job; SIGKILL after `grace` unless the job is done by then.
        let grace = grace.min(UNIT_STOP_TIMEOUT);
        let result = match tokio::time::timeout(grace, wait_for_job(&mut jobs, &job)).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    plugin = plugin_id,
                    ?grace,
                    "plugin did not stop in time, killing it"
                );
                match self.manager.kill_unit(&unit, "all", SIGKILL).await {
                    Ok(()) => {}
                    // Gone in the meantime: the job finishes on its own.
                    Err(e) if is_no_such_unit(&e) => {}
                    Err(e) => return Err(stop_error(plugin_id, describe("KillUnit", &e))),
                }
                tokio::time::timeout(KILL_WAIT, wait_for_job(&mut jobs, &job))
                    .await
                    .map_err(|_| {
                        stop_error(
                            plugin_id,
                            format!("{unit} still runs {}s after SIGKILL", KILL_WAIT.as_secs()),
                        )
                    })?
            }
        }
        .map_err(|e| stop_error(plugin_id, e))?;
        if result != "done" {
            return Err(stop_error(
                plugin_id,
                format!("the stop job of {unit} ended with {result:?}"),
            ));
        }
        // A plugin that exited non-zero on SIGTERM leaves a failed unit behind; clear it so the
        // name is free for the next start.
        self.reset_failed(&unit)
            .await
            .map_err(|e| stop_error(plugin_id, describe("ResetFailedUnit", &e)))?;
        Ok(())
    }

    async fn list_running(&self) -> Result<Vec<String>, BackendError> {
        let pattern = format!("{UNIT_PREFIX}*");
        let units = self
            .manager
            .list_units_by_patterns(&[], &[pattern.as_str()])
            .await
            .map_err(|e| BackendError::Inspect(describe("ListUnitsByPatterns", &e)))?;
        let mut ids: Vec<String> = units
            .into_iter()
            .filter(|entry| is_running(&entry.3))
            .filter_map(|entry| plugin_id_of_unit(&entry.0))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

/// The plugin id of a unit name, when it is one of ours (`toru-plugin-<valid id>.service`).
/// Units named like ours but with an id the daemon would never make are ignored, not touched.
fn plugin_id_of_unit(unit: &str) -> Option<String> {
    let id = unit.strip_prefix(UNIT_PREFIX)?.strip_suffix(UNIT_SUFFIX)?;
    toru_plugin_api::validate_plugin_id(id).ok()?;
    Some(id.to_owned())
}

// ----------------------------------------------------------------------------------------------
// The watcher.

/// The last `ExecMainCode`/`ExecMainStatus` seen in the unit's signals.
#[derive(Debug, Default, Clone, Copy)]
struct ExecMain {
    code: Option<i32>,
    status: Option<i32>,
}

impl ExecMain {
    /// The exit, when the code says the main process ended.
    fn exit_info(self) -> Option<ExitInfo> {
        match (self.code?, self.status?) {
            (CLD_EXITED, status) => Some(ExitInfo::Exited(status)),
            (CLD_KILLED | CLD_DUMPED, signal) => Some(ExitInfo::Killed(signal)),
            _ => None,
        }
    }
}

/// Follows one unit until it ends, then reports how its main process ended.
struct Watcher {
    plugin_id: String,
    conn: Connection,
    path: String,
    /// Whether an end state counts. A started unit's stream can first carry the `inactive` of
    /// the unit being created or of a failed predecessor just reset; only after the unit was
    /// seen running does `inactive`/`failed` mean this run ended. Adopted units start armed.
    armed: bool,
    exec_main: ExecMain,
}

impl Watcher {
    /// Reads `changes` until the unit ends (then sends its exit) or `tx`'s receiver is dropped
    /// (then just returns). Either way the task, its stream and match rule end with it.
    async fn run(
        mut self,
        mut changes: zbus::fdo::PropertiesChangedStream,
        mut tx: oneshot::Sender<ExitInfo>,
    ) {
        let exit = loop {
            let signal = tokio::select! {
                // The supervisor dropped the receiver: nobody waits for this unit any more.
                () = tx.closed() => return,
                signal = changes.next() => signal,
            };
            let Some(signal) = signal else {
                break ExitInfo::Unknown("lost the D-Bus connection to systemd".to_owned());
            };
            let Ok(args) = signal.args() else { continue };
            let changed = args.changed_properties();
            match args.interface_name().as_str() {
                // systemd sends the Service interface's changes before the Unit's for the same
                // transition, so the exit status is known when ActiveState arrives.
                SERVICE_INTERFACE => {
                    if let Some(Variant::I32(code)) = changed.get("ExecMainCode") {
                        self.exec_main.code = Some(*code);
                    }
                    if let Some(Variant::I32(status)) = changed.get("ExecMainStatus") {
                        self.exec_main.status = Some(*status);
                    }
                }
                UNIT_INTERFACE => {
                    let Some(Variant::Str(state)) = changed.get("ActiveState") else {
                        continue;
                    };
                    if is_running(state.as_str()) {
                        if !self.armed {
                            // Anything seen before belongs to an earlier run.
                            self.exec_main = ExecMain::default();
                            self.armed = true;
                        }
                    } else if self.armed && has_ended(state.as_str()) {
                        break self.exit_info().await;
                    }
                }
                _ => {}
            }
        };
        tracing::debug!(plugin = self.plugin_id, %exit, "plugin unit ended");
        // The receiver may be gone by now; then nobody needs the answer.
        let _ = tx.send(exit);
    }

    /// How the main process ended: from the signals, else read from the unit while it is still
    /// loaded (a failed unit stays loaded; a cleanly ended one may already be collected).
    async fn exit_info(&self) -> ExitInfo {
        if let Some(exit) = self.exec_main.exit_info() {
            return exit;
        }
        let read = async {
            let service = service_proxy(&self.conn, &self.path).await?;
            Ok::<_, zbus::Error>(ExecMain {
                code: Some(service.exec_main_code().await?),
                status: Some(service.exec_main_status().await?),
            })
        };
        match read.await {
            Ok(exec_main) => exec_main.exit_info().unwrap_or_else(|| {
                ExitInfo::Unknown("the unit ended without an exit status".to_owned())
            }),
            Err(e) => ExitInfo::Unknown(format!("cannot read the exit status: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::backend::Limits;

    fn spec(id: &str) -> LaunchSpec {
        LaunchSpec {
            plugin_id: id.to_owned(),
            binary: PathBuf::from("/usr/lib/toru/plugins/hello.binary"),
            socket: SystemdConfig::default().socket_path(id),
            permissions: Default::default(),
            limits: Limits {
                memory_max: Some(64 << 20),
                tasks_max: Some(32),
            },
        }
    }

    #[test]
    fn object_path_escapes_like_systemd() {
        assert_eq!(
            unit_object_path("toru-plugin-a.service"),
            "/org/freedesktop/systemd1/unit/toru_2dplugin_2da_2eservice"
        );
        assert_eq!(
            unit_object_path("toru-plugin-0x.service"),
            "/org/freedesktop/systemd1/unit/toru_2dplugin_2d0x_2eservice"
        );
    }

    #[test]
    fn unit_names_map_back_to_valid_ids_only() {
        assert_eq!(
            plugin_id_of_unit("toru-plugin-hello.service").as_deref(),
            Some("hello")
        );
        assert_eq!(plugin_id_of_unit("toru-plugin-Bad_Id.service"), None);
        assert_eq!(plugin_id_of_unit("toru-plugin-hello.socket"), None);
        assert_eq!(plugin_id_of_unit("other.service"), None);
    }

    #[test]
    fn properties_have_the_types_systemd_expects() {
        let config = SystemdConfig {
            extra_env: vec!["RUST_LOG=debug".to_owned()],
            ..SystemdConfig::default()
        };
        let props = unit_properties(&spec("hello"), &config).unwrap();
        let sig = |name: &str| -> Vec<String> {
            props
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.value_signature().to_string())
                .collect()
        };
        for (name, expected) in [
            ("ExecStart", "a(sasb)"),
            ("Environment", "as"),
            ("RuntimeDirectory", "as"),
            ("RuntimeDirectoryMode", "u"),
            ("BindPaths", "a(ssbt)"),
            ("LogExtraFields", "aay"),
            ("TimeoutStopUSec", "t"),
            ("CapabilityBoundingSet", "t"),
            ("RestrictNamespaces", "t"),
            ("UMask", "u"),
            ("RestrictAddressFamilies", "(bas)"),
            ("SystemCallArchitectures", "as"),
            ("SystemCallErrorNumber", "i"),
            ("IPAddressDeny", "a(iayu)"),
            ("IPAddressAllow", "a(iayu)"),
            ("MemoryMax", "t"),
            ("TasksMax", "t"),
            ("DynamicUser", "b"),
        ] {
            assert_eq!(sig(name), vec![expected.to_owned()], "{name}");
        }
        assert_eq!(sig("SystemCallFilter"), vec!["(bas)", "(bas)"]);
    }

    #[test]
    fn properties_reject_a_socket_outside_the_runtime_directory() {
        let mut bad = spec("hello");
        bad.socket = PathBuf::from("/tmp/evil.sock");
        assert!(unit_properties(&bad, &SystemdConfig::default()).is_err());
        let mut relative = spec("hello");
        relative.binary = PathBuf::from("hello.binary");
        assert!(unit_properties(&relative, &SystemdConfig::default()).is_err());
    }

    /// The names of the properties a spec produces, and the value of one.
    fn names(spec: &LaunchSpec) -> Vec<&'static str> {
        unit_properties(spec, &SystemdConfig::default())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn the_default_sandbox_grants_no_permission() {
        let n = names(&spec("hello"));
        assert!(n.contains(&"IPAddressDeny") && n.contains(&"IPAddressAllow"));
        assert!(!n.contains(&"ReadWritePaths") && !n.contains(&"DeviceAllow"));
        let props = unit_properties(&spec("hello"), &SystemdConfig::default()).unwrap();
        let private_devices = props.iter().find(|(n, _)| *n == "PrivateDevices").unwrap();
        assert_eq!(private_devices.1, Variant::from(true));
    }

    #[test]
    fn each_declared_permission_relaxes_exactly_its_directive() {
        // Case: network only — the IP allow/deny lists go, everything else stays.
        let mut net = spec("hello");
        net.permissions.network = true;
        let n = names(&net);
        assert!(!n.contains(&"IPAddressDeny") && !n.contains(&"IPAddressAllow"));
        assert!(!n.contains(&"ReadWritePaths") && !n.contains(&"DeviceAllow"));
        // Case: a writable path — ReadWritePaths with exactly that path, IP still localhost.
        let mut write = spec("hello");
        write.permissions.writable_paths = vec!["/srv/hello".into()];
        let props = unit_properties(&write, &SystemdConfig::default()).unwrap();
        let rw = props.iter().find(|(n, _)| *n == "ReadWritePaths").unwrap();
        assert_eq!(rw.1, Variant::from(vec!["/srv/hello".to_owned()]));
        assert!(props.iter().any(|(n, _)| *n == "IPAddressDeny"));
        // Case: a device — DeviceAllow rw for it, PrivateDevices off, DevicePolicy still closed.
        let mut dev = spec("hello");
        dev.permissions.devices = vec!["/dev/ttyUSB0".into()];
        let props = unit_properties(&dev, &SystemdConfig::default()).unwrap();
        let get = |name: &str| props.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(
            get("DeviceAllow"),
            Variant::from(vec![("/dev/ttyUSB0".to_owned(), "rw".to_owned())])
        );
        assert_eq!(get("PrivateDevices"), Variant::from(false));
        assert_eq!(get("DevicePolicy"), Variant::from("closed"));
        // Case: an invalid path that skipped discovery is still refused here.
        let mut bad = spec("hello");
        bad.permissions.writable_paths = vec!["/srv/../etc".into()];
        assert!(unit_properties(&bad, &SystemdConfig::default()).is_err());
    }

    #[test]
    fn exit_codes_map_to_exit_info() {
        let e = |code, status| {
            ExecMain {
                code: Some(code),
                status: Some(status),
            }
            .exit_info()
        };
        assert_eq!(e(CLD_EXITED, 3), Some(ExitInfo::Exited(3)));
        assert_eq!(e(CLD_KILLED, 9), Some(ExitInfo::Killed(9)));
        assert_eq!(e(CLD_DUMPED, 11), Some(ExitInfo::Killed(11)));
        assert_eq!(e(0, 0), None);
    }
}
