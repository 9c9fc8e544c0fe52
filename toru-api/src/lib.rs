//! The admin API's contract: every request and response body the daemon's HTTP API speaks,
//! every error code it sends and every event kind it records, defined once.
//!
//! `toru-daemon` serialises these types (converting its own internal types in one module,
//! `api/wire.rs`), `toructl` deserialises them, the dashboard's TypeScript types are generated
//! from them ([`typescript`], checked in as `frontend/src/lib/api-types.ts`) and so is the
//! OpenAPI document the daemon serves at `GET /api/openapi.json` (every type derives utoipa's
//! `ToSchema`). A change here is a change of the wire format: every serializable type is a
//! compatibility promise to scripts and to older dashboards.
//!
//! | module | what |
//! | --- | --- |
//! | [`error`] | `{"error": {"code", "message"}}` and [`ErrorCode`] with each code's HTTP status |
//! | [`plugins`] | plugins with their status, licence, permissions and details; discovery failures |
//! | [`events`] | the plugin event log and [`EventKind`] |
//! | [`logs`] | log entries and pages |
//! | [`kv`] | a plugin's key-value data |
//! | [`settings`] | a plugin's settings with their schema, and changes to them |
//! | [`auth`] | login, "who am I", users |
//! | [`status`] | the daemon's status and health |
//! | [`backup`] | a whole backup's manifest and a plugin's backup |
//! | [`webhooks`] | the body the daemon POSTs to a webhook, and its headers |
//! | [`usage`] | a plugin's resource use, now and over the last hour |
//! | [`limits`] | a plugin's resource limits and the parser of their values |

pub mod auth;
pub mod backup;
pub mod error;
pub mod events;
pub mod fingerprint;
pub mod kv;
pub mod limits;
pub mod logs;
mod names;
pub mod plugins;
pub mod settings;
pub mod status;
mod typescript;
pub mod usage;
pub mod webhooks;

pub use auth::{
    AuthMethod, LoginRequest, Me, NewPassword, NewRole, NewUser, PasswordChange, Role, User,
};
pub use backup::{
    BACKUP_FORMAT_VERSION, BackupFormat, BackupManifest, PluginBackup, PluginRestored,
    RestoreStaged,
};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use events::{Actor, Event, EventKind, EventsQuery, FollowEventsQuery, UnknownEventKind};
pub use fingerprint::{BadFingerprint, CertFingerprint};
pub use kv::{KvEntry, KvKeys, KvListQuery, KvValue};
pub use limits::{InvalidLimit, LimitInput, LimitName, LimitValues, LimitsChange, PluginLimits};
pub use logs::{LogEntry, LogLevel, LogPage, LogsQuery};
pub use plugins::{
    DiscoveryFailure, InstallOutcome, InstallResult, KvUsage, LicenseForm, LicenseState,
    LicenseStatus, Permissions, Plugin, PluginDetails, PluginState, PluginStatus, SIGNATURE_HEADER,
    SignatureStatus, UninstallQuery, Uninstalled,
};
pub use settings::{PluginSettings, SettingField, SettingType, SettingValue, SettingsChange};
pub use status::{Backend, Health, HealthStatus, PluginCounts, Status, TlsListener};
pub use typescript::typescript;
pub use usage::{PluginUsage, ResourceUsage, UsageSample};
pub use webhooks::{WEBHOOK_PAYLOAD_VERSION, WebhookPayload};
