//! The one error body every failed API call answers with, and the codes it can carry.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// Every failed call's body: `{"error": {"code": "not_found", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code; scripts branch on this, never on the message.
    pub code: ErrorCode,
    /// What went wrong, for a human; its wording may change.
    pub message: String,
}

/// Every error code the daemon sends. Each code always comes with the same HTTP status
/// ([`ErrorCode::status`]); a status can carry several codes (400 is `bad_request`,
/// `invalid_json`, …), so clients that need to tell causes apart read the code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a malformed request (a bad query, path segment or field value).
    BadRequest,
    /// 400: a JSON body that does not parse or lacks a field.
    InvalidJson,
    /// 400: a login name longer than any user's.
    InvalidUsername,
    /// 400: a licence key that can never be valid for this plugin.
    BadLicense,
    /// 400: a forwarded path with more than one spelling (`.`, `..`, encoded `/`, …).
    BadPath,
    /// 400: a backup that is truncated, of the other kind, for another plugin, from a newer
    /// Toru, or whose database fails its integrity check; nothing was changed.
    InvalidBackup,
    /// 400: an uploaded plugin was refused: not an executable, its `--metadata` failed, hung or
    /// printed invalid metadata. Nothing was installed.
    InvalidPlugin,
    /// 400: plugin settings the plugin's schema refuses (the message names the setting), or a
    /// required setting without a value when enabling; nothing was changed.
    InvalidSettings,
    /// 401: no session, or an expired one.
    Unauthorized,
    /// 401: wrong user name or password.
    InvalidCredentials,
    /// 402: the plugin needs a licence and none is installed.
    LicenseMissing,
    /// 403: a local-socket peer that may not use the API, or a cross-site browser request.
    Forbidden,
    /// 403: the plugin needs a licence and the installed one is not valid.
    LicenseInvalid,
    /// 403: a viewer asked for a change; only administrators change anything.
    AdminRequired,
    /// 403: the right password for a disabled account.
    AccountDisabled,
    /// 404: no such route, plugin, key or user.
    NotFound,
    /// 405: the path exists for another method.
    MethodNotAllowed,
    /// 408: the request body did not arrive in time.
    RequestTimeout,
    /// 409: the user name is taken.
    UserExists,
    /// 409: the change would leave no enabled administrator (deleting, disabling or demoting
    /// the last one).
    LastAdmin,
    /// 409: another plugin install or upgrade is in progress; try again when it is done.
    InstallInProgress,
    /// 409: the plugin has no previous version to roll back to.
    NoPreviousVersion,
    /// 413: the request body is over the route's limit.
    PayloadTooLarge,
    /// 415: a JSON route got a body that is not `application/json`.
    UnsupportedMediaType,
    /// 422: the upgraded plugin did not stay healthy through its health window, so the
    /// previous version was put back and runs again; the message says why.
    UpgradeFailed,
    /// 421: the `Host` header names a host this daemon does not answer to.
    UnknownHost,
    /// 429: too many login attempts; `Retry-After` says when to try again.
    RateLimited,
    /// 500: the daemon failed; the details are in its log, not in the answer.
    Internal,
    /// 502: the plugin answered with something unusable.
    PluginError,
    /// 502: the journal could not be read.
    JournalUnavailable,
    /// 503: the daemon is saturated; `Retry-After` says when to try again.
    Busy,
    /// 503: the plugin is not running or its connection is gone.
    PluginUnavailable,
    /// 504: the plugin did not answer in time.
    PluginTimeout,
    /// 507: the plugin's key-value quota is used up.
    KvQuotaExceeded,
    /// 400: resource limits that cannot be applied (the message names the limit: `memory`,
    /// `cpu` or `tasks`); nothing was changed.
    InvalidLimits,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [ErrorCode; 35] = [
        ErrorCode::BadRequest,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidUsername,
        ErrorCode::BadLicense,
        ErrorCode::BadPath,
        ErrorCode::InvalidPlugin,
        ErrorCode::InvalidSettings,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::LicenseMissing,
        ErrorCode::Forbidden,
        ErrorCode::LicenseInvalid,
        ErrorCode::AdminRequired,
        ErrorCode::AccountDisabled,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::UserExists,
        ErrorCode::LastAdmin,
        ErrorCode::InstallInProgress,
        ErrorCode::NoPreviousVersion,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::UpgradeFailed,
        ErrorCode::UnknownHost,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::PluginError,
        ErrorCode::JournalUnavailable,
        ErrorCode::Busy,
        ErrorCode::PluginUnavailable,
        ErrorCode::PluginTimeout,
        ErrorCode::KvQuotaExceeded,
        ErrorCode::InvalidBackup,
        ErrorCode::InvalidLimits,
    ];

    /// The HTTP status this code is always sent with.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidUsername
            | ErrorCode::BadLicense
            | ErrorCode::BadPath
            | ErrorCode::InvalidBackup
            | ErrorCode::InvalidPlugin
            | ErrorCode::InvalidSettings
            | ErrorCode::InvalidLimits => 400,
            ErrorCode::Unauthorized | ErrorCode::InvalidCredentials => 401,
            ErrorCode::LicenseMissing => 402,
            ErrorCode::Forbidden
            | ErrorCode::LicenseInvalid
            | ErrorCode::AdminRequired
            | ErrorCode::AccountDisabled => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::UserExists
            | ErrorCode::LastAdmin
            | ErrorCode::InstallInProgress
            | ErrorCode::NoPreviousVersion => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::UpgradeFailed => 422,
            ErrorCode::UnknownHost => 421,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::PluginError | ErrorCode::JournalUnavailable => 502,
            ErrorCode::Busy | ErrorCode::PluginUnavailable => 503,
            ErrorCode::PluginTimeout => 504,
            ErrorCode::KvQuotaExceeded => 507,
        }
    }

    /// The code as it appears on the wire, e.g. `not_found`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidUsername => "invalid_username",
            ErrorCode::BadLicense => "bad_license",
            ErrorCode::BadPath => "bad_path",
            ErrorCode::InvalidBackup => "invalid_backup",
            ErrorCode::InvalidPlugin => "invalid_plugin",
            ErrorCode::InvalidSettings => "invalid_settings",
            ErrorCode::InvalidLimits => "invalid_limits",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::LicenseMissing => "license_missing",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::LicenseInvalid => "license_invalid",
            ErrorCode::AdminRequired => "admin_required",
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::UserExists => "user_exists",
            ErrorCode::LastAdmin => "last_admin",
            ErrorCode::InstallInProgress => "install_in_progress",
            ErrorCode::NoPreviousVersion => "no_previous_version",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::UpgradeFailed => "upgrade_failed",
            ErrorCode::UnknownHost => "unknown_host",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::PluginError => "plugin_error",
            ErrorCode::JournalUnavailable => "journal_unavailable",
            ErrorCode::Busy => "busy",
            ErrorCode::PluginUnavailable => "plugin_unavailable",
            ErrorCode::PluginTimeout => "plugin_timeout",
            ErrorCode::KvQuotaExceeded => "kv_quota_exceeded",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serialises_as_its_name_and_back() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::from(code.as_str()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
        }
    }

    #[test]
    fn every_code_has_an_error_status() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code}");
        }
    }
}
