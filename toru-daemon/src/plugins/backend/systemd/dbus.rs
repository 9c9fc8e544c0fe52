//! The D-Bus side of the backend: hand-written [`zbus::proxy`] traits for only the calls,
//! properties and signal the backend uses, with the exact signatures of systemd 252, and the
//! connection they share.

use std::time::Duration;

use zbus::proxy::CacheProperties;
use zbus::{Connection, OwnedObjectPath, Variant};

use super::error::FailureDetails;
use super::unit_state::{ActiveState, ExecMain, UnitPhase};

/// The bus name of the systemd manager.
pub const SYSTEMD_SERVICE: &str = "org.freedesktop.systemd1";
/// The interface carrying `ActiveState`, in `PropertiesChanged` signals.
pub const UNIT_INTERFACE: &str = "org.freedesktop.systemd1.Unit";
/// The interface carrying `ExecMainCode`/`ExecMainStatus`, in `PropertiesChanged` signals.
pub const SERVICE_INTERFACE: &str = "org.freedesktop.systemd1.Service";

/// Upper bound of every D-Bus call (the reference implementation's default), so a wedged
/// systemd or bus makes calls fail instead of hang.
const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// `org.freedesktop.systemd1.Manager`, the calls and the signal the backend uses.
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
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

/// One row of `ListUnitsByPatterns`, `(ssssssouso)`, decoded by field order.
#[expect(
    dead_code,
    reason = "every field must be declared to decode the row; the backend reads two"
)]
#[derive(Debug, Clone, serde::Deserialize, zbus::Type)]
pub struct UnitListEntry {
    /// The unit's name, e.g. `toru-plugin-hello.service`.
    pub name: String,
    /// Its `Description=`.
    pub description: String,
    /// `loaded`, `not-found`, …
    pub load_state: String,
    /// Its `ActiveState` (see [`ActiveState`]).
    pub active_state: String,
    /// Its `SubState`, finer than `ActiveState`.
    pub sub_state: String,
    /// The unit this one follows, usually empty.
    pub followed: String,
    /// Its object path.
    pub path: OwnedObjectPath,
    /// The id of its queued job, 0 when there is none.
    pub job_id: u32,
    /// The type of its queued job, empty when there is none.
    pub job_type: String,
    /// The object path of its queued job.
    pub job_path: OwnedObjectPath,
}

impl UnitListEntry {
    /// Its `ActiveState`, typed.
    pub fn active_state(&self) -> ActiveState {
        ActiveState::from(self.active_state.as_str())
    }
}

/// `org.freedesktop.systemd1.Unit`, the state the backend reads. `ActiveState` says whether a
/// unit runs; `SubState` is read only to tell a restart systemd has scheduled (`auto-restart`).
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
pub trait Unit {
    /// `active`, `activating`, `deactivating`, `reloading`, `inactive` or `failed`.
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;

    /// The unit type's own finer state, e.g. `running` or `auto-restart`.
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;
}

/// `org.freedesktop.systemd1.Service`, the process facts the backend reads.
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
pub trait Service {
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

    /// How often systemd restarted the unit by its `Restart=` setting since it was started by
    /// hand (or created).
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> zbus::Result<u32>;

    /// Memory the unit's cgroup uses, in bytes; `u64::MAX` when not accounted.
    #[zbus(property)]
    fn memory_current(&self) -> zbus::Result<u64>;

    /// CPU time the unit's cgroup used, in ns; `u64::MAX` when not accounted.
    #[zbus(property, name = "CPUUsageNSec")]
    fn cpu_usage_nsec(&self) -> zbus::Result<u64>;

    /// Tasks in the unit's cgroup; `u64::MAX` when not accounted.
    #[zbus(property)]
    fn tasks_current(&self) -> zbus::Result<u64>;

    /// The unit's `MemoryMax=` in bytes; `u64::MAX` for none.
    #[zbus(property)]
    fn memory_max(&self) -> zbus::Result<u64>;

    /// The delay of the restart systemd schedules next, in µs (systemd ≥ 254, with
    /// `RestartSteps=`).
    #[zbus(property, name = "RestartUSecNext")]
    fn restart_usec_next(&self) -> zbus::Result<u64>;
}

/// A connection to the system bus whose calls time out after [`CALL_TIMEOUT`].
pub async fn system_bus() -> zbus::Result<Connection> {
    zbus::connection::Builder::system()
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await
}

/// A Manager proxy without a property cache: the backend reads fresh values when it needs them
/// and follows changes through signals, so a cache would only cost a `GetAll` per proxy.
pub async fn manager_proxy(conn: &Connection) -> zbus::Result<ManagerProxy<'static>> {
    ManagerProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

/// A proxy for the Service interface of the unit at `path`, uncached like [`manager_proxy`].
pub async fn service_proxy(conn: &Connection, path: &str) -> zbus::Result<ServiceProxy<'static>> {
    ServiceProxy::builder(conn)
        .path(path.to_owned())
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

/// The `ActiveState` and `SubState` of the unit at `path`, read now.
pub async fn unit_phase(conn: &Connection, path: &str) -> zbus::Result<UnitPhase> {
    let unit = unit_proxy(conn, path).await?;
    Ok(UnitPhase::new(
        ActiveState::from(unit.active_state().await?.as_str()),
        &unit.sub_state().await?,
    ))
}

/// What the failed unit at `path` says about its failure (the service's `Result` and how its
/// main process ended), for error messages; `Unreadable` when it cannot be read (already
/// collected, or the bus failed).
pub async fn failure_details(conn: &Connection, path: &str) -> FailureDetails {
    let read = async {
        let service = service_proxy(conn, path).await?;
        let exec_main = ExecMain {
            code: Some(service.exec_main_code().await?),
            status: Some(service.exec_main_status().await?),
        };
        Ok::<_, zbus::Error>(FailureDetails::Read {
            result: service.result().await?,
            exit: exec_main.exit_info(),
        })
    };
    read.await.unwrap_or_else(FailureDetails::Unreadable)
}

/// The unit's phase carried by a `PropertiesChanged` signal of its Unit interface; `None` for
/// other signals (the Service interface's, or ones without `ActiveState`). systemd sends every
/// changed Unit property together, so `SubState` comes with `ActiveState`.
pub fn unit_phase_of(signal: &zbus::fdo::PropertiesChanged) -> Option<UnitPhase> {
    let args = signal.args().ok()?;
    if args.interface_name().as_str() != UNIT_INTERFACE {
        return None;
    }
    let changed = args.changed_properties();
    let Some(Variant::Str(active)) = changed.get("ActiveState") else {
        return None;
    };
    let sub = match changed.get("SubState") {
        Some(Variant::Str(sub)) => sub.as_str(),
        _ => "",
    };
    Some(UnitPhase::new(ActiveState::from(active.as_str()), sub))
}

/// A proxy for the Unit interface of the unit at `path`, uncached like [`manager_proxy`].
async fn unit_proxy(conn: &Connection, path: &str) -> zbus::Result<UnitProxy<'static>> {
    UnitProxy::builder(conn)
        .path(path.to_owned())
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

/// The stream of `PropertiesChanged` signals of the unit at `path`. Creating it installs the
/// match rule, so every change after this call is seen.
pub async fn unit_changes(
    conn: &Connection,
    path: &str,
) -> zbus::Result<zbus::fdo::PropertiesChangedStream> {
    let props = zbus::fdo::PropertiesProxy::builder(conn)
        .destination(SYSTEMD_SERVICE)
        .path(path.to_owned())
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    props.receive_properties_changed().await
}

/// The D-Bus object path systemd gives a unit: every byte outside `[A-Za-z0-9]` becomes `_xx`
/// (lower-case hex), as in `toru-plugin-a.service` →
/// `/org/freedesktop/systemd1/unit/toru_2dplugin_2da_2eservice`.
///
/// Needed to subscribe to a unit's signals *before* the unit exists.
pub fn unit_object_path(unit: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
