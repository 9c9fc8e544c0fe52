//! Every API error as `{"error": {"code": …, "message": …}}` with the right status — the one
//! place where error kinds become HTTP statuses.
//!
//! A 500 tells the client nothing about the daemon's insides: a fixed message with a short
//! incident id. The log gets the error with every cause ([`ErrorChain`]) under the same id, so
//! an administrator handed the id finds the line.

use std::fmt;

use http::StatusCode;
use toru_api::{ErrorBody, ErrorCode, ErrorDetail};
use toru_plugin_api::{HttpResponse, license_error_body};
use warp::Reply;
use warp::reply::Response;

use crate::auth::password::PasswordError;
use crate::error_chain::ErrorChain;
use crate::plugins::ForwardError;
use crate::plugins::license::{KeyRejected, LicenseRefusal};
use crate::plugins::manager::Error as PluginsError;

/// An error answered to an API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code; it decides the status.
    pub code: ErrorCode,
    /// What went wrong, for a human.
    pub message: String,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and a message; the status is the one the contract gives the code
    /// ([`ErrorCode::status`]), so no handler chooses one.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(code.status())
                .expect("ErrorCode::status is a valid status"),
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 400 `invalid_backup`: a backup that cannot be restored; nothing was changed.
    pub fn invalid_backup(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidBackup, message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 409 `install_in_progress`: another upload is being installed.
    pub fn install_in_progress() -> Self {
        Self::new(
            ErrorCode::InstallInProgress,
            "another plugin install or upgrade is in progress; try again when it is done",
        )
    }

    /// 413, for a request body over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("request body over {limit} bytes"),
        )
    }

    /// 415, for a body that is not `application/json` where JSON is expected.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type: application/json",
        )
    }

    /// 400, for a body that is not the JSON a route expects; `problem` says why (syntax, a
    /// wrong type, a missing or duplicate field, with line and column).
    pub fn invalid_json(problem: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidJson,
            format!("invalid JSON body: {problem}"),
        )
    }

    /// 408, for a request body that did not arrive within `limit`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs()
            ),
        )
    }

    /// 503 with `Retry-After`, for work refused because the daemon is saturated.
    pub fn busy(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(ErrorCode::Busy, message);
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// 400 `invalid_username`, for a login name longer than any user's.
    pub fn invalid_username(max_len: usize) -> Self {
        Self::new(
            ErrorCode::InvalidUsername,
            format!("user names are at most {max_len} bytes"),
        )
    }

    /// 401 `invalid_credentials`, for a failed login. Says no more than that, on purpose.
    pub fn invalid_credentials() -> Self {
        Self::new(ErrorCode::InvalidCredentials, "wrong user name or password")
    }

    /// 403 `admin_required`, for a viewer asking for a change.
    pub fn admin_required() -> Self {
        Self::new(
            ErrorCode::AdminRequired,
            "viewers can look but not change anything; ask an administrator",
        )
    }

    /// 403 `account_disabled`, for the right password of a disabled account (a wrong one is
    /// `invalid_credentials`, so this tells nothing to someone who does not know it).
    pub fn account_disabled() -> Self {
        Self::new(
            ErrorCode::AccountDisabled,
            "this account is disabled; ask an administrator",
        )
    }

    /// 429 with `Retry-After`, for a login over one of its rate limits.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            ErrorCode::RateLimited,
            "too many login attempts; try again later",
        );
        error.retry_after = Some(retry_after_secs.max(1));
        error
    }

    /// 502 `plugin_error`, for a plugin that answered the daemon's own request wrongly.
    pub fn plugin_error(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PluginError, message)
    }

    /// 502 `journal_unavailable`, for a journal that could not be read.
    pub fn journal_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::JournalUnavailable, message)
    }

    /// A 500: the client learns only that something failed and the incident id; the error and
    /// every cause under it go to the log with the same id.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let incident = Incident::new();
        tracing::error!(%incident, error = %ErrorChain(error), "internal error");
        Self::new(
            ErrorCode::Internal,
            format!("internal error; the daemon's log has the details under incident {incident}"),
        )
    }
}

/// A short random id tying a 500 answered to a client to its line in the daemon's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incident([u8; 4]);

impl Incident {
    /// A fresh id: 32 random bits, enough to tell apart the incidents of one log.
    fn new() -> Self {
        let mut bytes = [0; 4];
        // Without randomness every incident shares the id 00000000; the log's time tells them
        // apart, and a 500 must still be answered.
        let _ = getrandom::fill(&mut bytes);
        Incident(bytes)
    }
}

impl fmt::Display for Incident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The code of a daemon's licence refusal: `license_missing` (402 Payment Required) when no key
/// is installed, `license_invalid` (403 Forbidden) for a key that is not valid — the statuses a
/// plugin's own refusal has.
fn license_refusal_code(refusal: &LicenseRefusal) -> ErrorCode {
    match refusal {
        LicenseRefusal::Missing { .. } => ErrorCode::LicenseMissing,
        LicenseRefusal::Invalid { .. } => ErrorCode::LicenseInvalid,
    }
}

/// The answer to a forwarded request the daemon refuses for a `license_required` plugin: the
/// body a plugin's own refusal has (`license_error_body`, with the failure kind), and the
/// status [`license_refusal_code`] gives.
pub fn license_refusal(refusal: &LicenseRefusal) -> HttpResponse {
    HttpResponse::json(
        license_refusal_code(refusal).status(),
        &license_error_body(refusal.kind().as_str(), &refusal.message()),
    )
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response =
            warp::reply::with_status(warp::reply::json(&body), self.status).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<PluginsError> for ApiError {
    fn from(e: PluginsError) -> Self {
        match e {
            PluginsError::UnknownPlugin(_) => ApiError::not_found(e.to_string()),
            PluginsError::InvalidPlugin { .. } => {
                ApiError::new(ErrorCode::InvalidPlugin, e.to_string())
            }
            PluginsError::UpgradeFailed { .. } => {
                ApiError::new(ErrorCode::UpgradeFailed, e.to_string())
            }
            PluginsError::NoPreviousVersion(_) => {
                ApiError::new(ErrorCode::NoPreviousVersion, e.to_string())
            }
            PluginsError::InvalidSettings { source, .. } => {
                ApiError::new(ErrorCode::InvalidSettings, source.to_string())
            }
            PluginsError::InvalidLimits { source, .. } => {
                ApiError::new(ErrorCode::InvalidLimits, source.to_string())
            }
            PluginsError::Store(e) => ApiError::from(e),
            other => ApiError::internal(&other),
        }
    }
}

impl From<ForwardError> for ApiError {
    fn from(e: ForwardError) -> Self {
        let code = match &e {
            ForwardError::NotFound(_) => ErrorCode::NotFound,
            ForwardError::Unavailable { .. } | ForwardError::Gone(_) => {
                ErrorCode::PluginUnavailable
            }
            ForwardError::Timeout(_) => ErrorCode::PluginTimeout,
            ForwardError::Plugin(_) => ErrorCode::PluginError,
            ForwardError::Unlicensed(refusal) => license_refusal_code(refusal),
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::TooShort => ApiError::bad_request(e.to_string()),
            PasswordError::Busy => ApiError::busy(e.to_string(), 1),
            PasswordError::Hash(_) => ApiError::internal(&e),
        }
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        use crate::store::Error as StoreError;
        match e {
            // The client's doing, not the daemon broken: statuses with codes tools can test.
            StoreError::UserExists { .. } => ApiError::new(ErrorCode::UserExists, e.to_string()),
            StoreError::LastAdmin { ref username } => ApiError::new(
                ErrorCode::LastAdmin,
                format!(
                    "{username} is the last enabled administrator; make another user an \
                     administrator first"
                ),
            ),
            StoreError::KvQuotaExceeded { .. } => {
                ApiError::new(ErrorCode::KvQuotaExceeded, e.to_string())
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<KeyRejected> for ApiError {
    fn from(e: KeyRejected) -> Self {
        ApiError::new(ErrorCode::BadLicense, e.to_string())
    }
}

/// Turns warp's own rejections into JSON errors: no row matched the path (404) or the method
/// (405). A request that matched a row never gets here: the pipeline and the handler answer it.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::not_found("no such route")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed")
    } else {
        // Bodies, queries and headers are read by the pipeline and `extract`, which answer
        // with an `ApiError`; what warp alone refuses is logged, not shown.
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::bad_request("the request could not be handled")
    };
    Ok(error.into_response())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt as _;

    use super::*;

    /// A log sink for one test: everything `tracing` writes while `run` runs.
    fn logged<T>(run: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                crate::sync::lock(&self.0).extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let value = tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(crate::sync::lock(&sink.0).clone()).unwrap();
        (value, text)
    }

    /// A store failure with an OS error under it, as a failing disk gives.
    fn store_failure() -> crate::store::Error {
        crate::store::Error::Io {
            op: "create the database file",
            path: "/var/lib/toru/toru.db".into(),
            source: std::io::Error::other("secret detail: disk I/O error"),
        }
    }

    async fn body_of(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_500_tells_the_client_only_an_incident_id_and_logs_every_cause_under_it() {
        let (error, log) = logged(|| ApiError::from(store_failure()));
        let (status, body) = body_of(error).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("secret") && !message.contains("toru.db"),
            "{message}"
        );
        let incident = message.rsplit(' ').next().unwrap();
        assert_eq!(incident.len(), 8, "{message}");
        assert!(incident.bytes().all(|b| b.is_ascii_hexdigit()), "{message}");
        // The log line has the same id and the whole chain, down to the OS error.
        let line = log.lines().find(|l| l.contains(incident)).expect(&log);
        assert!(
            line.contains("cannot create the database file /var/lib/toru/toru.db: secret detail: disk I/O error"),
            "{line}"
        );
    }

    #[test]
    fn incidents_differ() {
        assert_ne!(Incident::new(), Incident::new());
    }

    #[test]
    fn store_errors_the_client_caused_keep_their_status_and_message() {
        let exists = ApiError::from(crate::store::Error::UserExists {
            username: "ann".into(),
        });
        assert_eq!(
            (exists.status, exists.code),
            (StatusCode::CONFLICT, ErrorCode::UserExists)
        );
        let quota = ApiError::from(crate::store::Error::KvQuotaExceeded {
            plugin_id: "p".into(),
            quota: 10,
            used: 8,
            would_be: 12,
        });
        assert_eq!(
            (quota.status, quota.code),
            (StatusCode::INSUFFICIENT_STORAGE, ErrorCode::KvQuotaExceeded)
        );
        assert!(quota.message.contains("quota of 10 bytes"));
    }

    #[test]
    fn a_plugins_error_from_the_store_is_mapped_as_the_store_error() {
        let nested = PluginsError::Store(crate::store::Error::UserExists {
            username: "ann".into(),
        });
        assert_eq!(ApiError::from(nested).status, StatusCode::CONFLICT);
        let (unknown, _) = logged(|| ApiError::from(PluginsError::UnknownPlugin("x".into())));
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn licence_refusals_are_402_without_a_key_and_403_otherwise() {
        let missing = LicenseRefusal::Missing {
            message: "no key".into(),
        };
        let invalid = LicenseRefusal::Invalid {
            kind: crate::plugins::license::FailureKind::Unchecked,
            message: "not checked yet".into(),
        };
        for (refusal, status, code, kind) in [
            (
                missing,
                StatusCode::PAYMENT_REQUIRED,
                "license_missing",
                "missing",
            ),
            (
                invalid,
                StatusCode::FORBIDDEN,
                "license_invalid",
                "unchecked",
            ),
        ] {
            let direct = license_refusal(&refusal);
            assert_eq!(direct.status, status.as_u16());
            let body: serde_json::Value = serde_json::from_slice(&direct.body).unwrap();
            assert_eq!(
                (
                    body["error"]["code"].as_str(),
                    body["error"]["kind"].as_str()
                ),
                (Some(code), Some(kind))
            );
            let mapped = ApiError::from(ForwardError::Unlicensed(refusal));
            assert_eq!(
                (mapped.status, mapped.code.to_string()),
                (status, code.to_owned())
            );
        }
    }

    #[test]
    fn a_rejected_licence_key_is_a_400_saying_why() {
        let e = crate::plugins::license::check_key("p", "hello").unwrap_err();
        let error = ApiError::from(e);
        assert_eq!(
            (error.status, error.code),
            (StatusCode::BAD_REQUEST, ErrorCode::BadLicense)
        );
        assert!(error.message.contains("TORU1."), "{}", error.message);
    }
}
