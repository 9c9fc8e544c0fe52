//! Plugins as the API shows them: metadata, runtime status, licence and requested permissions.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

use crate::events::Event;

/// Where a plugin is in its lifecycle (ARCHITECTURE.md, "Supervision").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Not enabled; nothing runs.
    Disabled,
    /// Being started or connected to.
    Starting,
    /// Running, connected and initialised: its routes are served.
    Running,
    /// Crashed; waiting before the next start.
    Backoff,
    /// Being stopped.
    Stopping,
    /// Gave up after too many consecutive failures; disabled until an admin enables it again.
    Failed,
}

/// What the daemon knows about a plugin right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginStatus {
    /// Whether an admin wants it running.
    pub enabled: bool,
    /// Its lifecycle state.
    pub state: PluginState,
    /// Whether it answers pings; only meaningful while running.
    pub healthy: bool,
    /// Its main PID while it runs.
    pub pid: Option<u32>,
    /// The systemd unit, under the systemd backend.
    pub unit: Option<String>,
    /// Restarts after failures since it was last enabled.
    pub restarts: u32,
    /// Failures in a row; reset after a stable run.
    pub consecutive_failures: u32,
    /// The most recent failure, for the admin.
    pub last_error: Option<String>,
}

/// Where a plugin's licence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// The plugin verified the key and it has not expired since.
    Valid,
    /// The plugin rejected the key, or it has expired since.
    Invalid,
    /// No key is installed.
    Missing,
    /// A key is installed but the plugin has not reported a check of it yet (not running yet,
    /// or it does not report licence checks).
    Unchecked,
}

/// A plugin's licence key and the plugin's verdict on it (`docs/licensing.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct LicenseStatus {
    /// The plugin's metadata says it is useless without a licence: the daemon refuses its
    /// routes (402/403) until it has a valid one.
    pub required: bool,
    /// A key is installed.
    pub installed: bool,
    /// The verdict.
    pub state: LicenseState,
    /// The failure kind of `docs/licensing.md` when not valid, e.g. `wrong_instance`,
    /// `expired` or `missing`. The plugin reports it, so the set is open.
    pub error: Option<String>,
    /// What the admin can do about it, or what a valid licence covers.
    pub message: Option<String>,
    /// Who the licence is for, when valid.
    pub licensee: Option<String>,
    /// Unix seconds at which a valid licence stops being valid; `null` if never.
    pub expires_at: Option<u64>,
    /// What a valid licence unlocks.
    pub features: Vec<String>,
}

/// Whether a plugin's binary is signed by a key the administrator trusts (`docs/signing.md`).
/// What the daemon checked at the last scan (or start), under its `signatures` policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// The policy is `off`: nothing was checked.
    NotChecked,
    /// A valid signature by the trusted key `key` (the name of its file in the trusted-keys
    /// directory).
    Signed {
        /// The trusted key's name.
        key: String,
    },
    /// There is no signature file next to the binary.
    Unsigned,
    /// There is a signature but it does not count: damaged, made by a key that is not trusted,
    /// over another file, or the binary changed since it was verified.
    Invalid {
        /// Why, for the administrator.
        reason: String,
    },
}

/// What a plugin asks for beyond the default sandbox (`docs/protocol.md`, "Permissions").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Permissions {
    /// IP to any address, not only localhost.
    pub network: bool,
    /// Absolute paths it may write.
    pub writable_paths: Vec<String>,
    /// Device nodes under `/dev` it may use.
    pub devices: Vec<String>,
    /// It may write and run machine code at run time (JIT): memory that is written, then
    /// executed, as V8, the JVM, .NET, LuaJIT and PyPy need. Absent from daemons that predate
    /// it, hence the default.
    #[serde(default)]
    pub jit: bool,
}

/// A plugin, as `GET /api/plugins` lists it: its metadata, executable, status and licence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct Plugin {
    /// Its stable id (`^[a-z0-9][a-z0-9-]{0,62}$`), used in every URL about it.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// Who wrote it.
    pub author: String,
    /// An emoji or a short icon name.
    pub icon: String,
    /// Where its view lives in the dashboard, e.g. `/hello-rust`.
    pub route: String,
    /// The protocol version it speaks.
    pub protocol_version: u32,
    /// One sentence for its card.
    pub description: String,
    /// Whether it refuses to work without a valid licence (its metadata; also in `license`).
    pub license_required: bool,
    /// What it asked for beyond the default sandbox.
    pub permissions: Permissions,
    /// Path of its executable on the server.
    pub binary: String,
    /// What the daemon knows about it now.
    pub status: PluginStatus,
    /// Its licence key and its verdict on it.
    pub license: LicenseStatus,
    /// The version kept from before its last upgrade, which `POST /api/plugins/{id}/rollback`
    /// puts back; `null` when there is none.
    #[serde(default)]
    pub previous_version: Option<String>,
    /// Whether its binary is signed by a trusted key. Absent from daemons that predate it.
    #[serde(default = "SignatureStatus::not_checked")]
    pub signature: SignatureStatus,
    /// What it costs while it runs (memory, CPU, tasks, uptime); absent while it does not run,
    /// and from daemons that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub usage: Option<crate::ResourceUsage>,
}

impl SignatureStatus {
    /// [`SignatureStatus::NotChecked`], the default for plugin listings without the field.
    pub fn not_checked() -> Self {
        SignatureStatus::NotChecked
    }
}

/// A plugin's key-value use against its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct KvUsage {
    /// Bytes its keys and values take.
    pub bytes: u64,
    /// Bytes it may take.
    pub quota: u64,
}

/// `GET /api/plugins/{id}`: the plugin plus where it runs, its data use and recent events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginDetails {
    /// The plugin as listed.
    #[serde(flatten)]
    pub plugin: Plugin,
    /// The systemd unit it runs as; `null` under the embedded backend, which runs no units.
    pub unit_name: Option<String>,
    /// Its key-value use against its quota.
    pub kv: KvUsage,
    /// Its most recent events, newest first.
    pub events: Vec<Event>,
}

/// A `*.binary` file that discovery skipped, and why (`GET /api/discovery-failures`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct DiscoveryFailure {
    /// The file.
    pub binary: String,
    /// Why it is not a plugin.
    pub reason: String,
}

/// The body of `PUT /api/plugins/{id}/license`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseForm {
    /// The key exactly as the vendor issued it (`TORU1.…`); surrounding whitespace is ignored.
    pub key: String,
}

/// The request header that carries an uploaded plugin's detached signature: the content of the
/// vendor's `X.binary.sig` file, one line of ASCII.
pub const SIGNATURE_HEADER: &str = "Toru-Signature";

/// What `POST /api/plugins` did with an upload that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstallOutcome {
    /// A plugin with a new id: installed, disabled until an administrator enables it.
    Installed,
    /// A new version of an installed plugin: its data, settings and licence were kept, and a
    /// running plugin passed its health window on the new version.
    Upgraded,
}

/// The answer of `POST /api/plugins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct InstallResult {
    /// Installed or upgraded.
    pub outcome: InstallOutcome,
    /// The plugin as it is now.
    pub plugin: Plugin,
}

/// The query of `DELETE /api/plugins/{id}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
pub struct UninstallQuery {
    /// Also delete the plugin's KV data, settings and licence key; without it they stay, so
    /// installing the plugin again gets them back.
    #[serde(default)]
    pub purge: bool,
}

/// The answer of `DELETE /api/plugins/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Uninstalled {
    /// The plugin that was removed.
    pub id: String,
    /// Whether its data was deleted too (`?purge=true`).
    pub purged: bool,
}
