//! Every API error as `{"error": {"code": …, "message": …}}` with the right status — the one
//! place where error kinds become HTTP statuses.
//!
//! A 500 tells the client nothing about the daemon's insides: a fixed message with a short
//! incident id. The log gets the error with every cause ([`ErrorChain`]) under the same id, so
//! an administrator handed the id finds the line.

use std::fmt;

use http::StatusCode;
use serde::Serialize;
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
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// What went wrong, for a human.
    pub message: String,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl warp::reject::Reject for ApiError {}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413, for a request body over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body over {limit} bytes"),
        )
    }

    /// 415, for a body that is not `application/json` where JSON is expected.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        )
    }

    /// 400, for a body that is not the JSON a route expects; `problem` says why (syntax, a
    /// wrong type, a missing or duplicate field, with line and column).
    pub fn invalid_json(problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("invalid JSON body: {problem}"),
        )
    }

    /// 408, for a request body that did not arrive within `limit`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs()
            ),
        )
    }

    /// 503 with `Retry-After`, for work refused because the daemon is saturated.
    pub fn busy(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message);
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// 400 `invalid_username`, for a login name longer than any user's.
    pub fn invalid_username(max_len: usize) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_username",
            format!("user names are at most {max_len} bytes"),
        )
    }

    /// 401 `invalid_credentials`, for a failed login. Says no more than that, on purpose.
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong user name or password",
        )
    }

    /// 429 with `Retry-After`, for a login over one of its rate limits.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many login attempts; try again later",
        );
        error.retry_after = Some(retry_after_secs.max(1));
        error
    }

    /// 502 `plugin_error`, for a plugin that answered the daemon's own request wrongly.
    pub fn plugin_error(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "plugin_error", message)
    }

    /// 502 `journal_unavailable`, for a journal that could not be read.
    pub fn journal_unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "journal_unavailable", message)
    }

    /// A 500: the client learns only that something failed and the incident id; the error and
    /// every cause under it go to the log with the same id.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let incident = Incident::new();
        tracing::error!(%incident, error = %ErrorChain(error), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
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

/// The status of a daemon's licence refusal: 402 Payment Required when no key is installed,
/// 403 Forbidden for a key that is not valid — the same a plugin's own refusal has.
fn license_refusal_status(refusal: &LicenseRefusal) -> StatusCode {
    match refusal {
        LicenseRefusal::Missing { .. } => StatusCode::PAYMENT_REQUIRED,
        LicenseRefusal::Invalid { .. } => StatusCode::FORBIDDEN,
    }
}

/// The answer to a forwarded request the daemon refuses for a `license_required` plugin: the
/// body a plugin's own refusal has (`license_error_body`, with the failure kind), and the
/// status [`license_refusal_status`] decides.
pub fn license_refusal(refusal: &LicenseRefusal) -> HttpResponse {
    HttpResponse::json(
        license_refusal_status(refusal).as_u16(),
        &license_error_body(refusal.kind().as_str(), &refusal.message()),
    )
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
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
            PluginsError::Store(e) => ApiError::from(e),
            other => ApiError::internal(&other),
        }
    }
}

impl From<ForwardError> for ApiError {
    fn from(e: ForwardError) -> Self {
        let (status, code) = match &e {
            ForwardError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ForwardError::Unavailable { .. } | ForwardError::Gone(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "plugin_unavailable")
            }
            ForwardError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout"),
            ForwardError::Plugin(_) => (StatusCode::BAD_GATEWAY, "plugin_error"),
            ForwardError::Unlicensed(refusal @ LicenseRefusal::Missing { .. }) => {
                (license_refusal_status(refusal), "license_missing")
            }
            ForwardError::Unlicensed(refusal @ LicenseRefusal::Invalid { .. }) => {
                (license_refusal_status(refusal), "license_invalid")
            }
        };
        ApiError::new(status, code, e.to_string())
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
            StoreError::UserExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "user_exists", e.to_string())
            }
            StoreError::KvQuotaExceeded { .. } => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "kv_quota_exceeded",
                e.to_string(),
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl From<KeyRejected> for ApiError {
    fn from(e: KeyRejected) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_license", e.to_string())
    }
}

/// Turns warp's own rejections (no route, wrong method, bad query…) into JSON errors. What is
/// wrong with a request that reached its route (an [`ApiError`] such as a bad body, or one of
/// warp's body rejections) wins over "method not allowed", which only says that some other
/// route with the same path wanted another method.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let error = if let Some(e) = rejection.find::<ApiError>() {
        e.clone()
    } else if rejection.is_not_found() {
        ApiError::not_found("no such route")
    } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        ApiError::invalid_json(e)
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        ApiError::unsupported_media_type()
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large",
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::bad_request("invalid query string")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        )
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{rejection:?}"),
        )
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
            (StatusCode::CONFLICT, "user_exists")
        );
        let quota = ApiError::from(crate::store::Error::KvQuotaExceeded {
            plugin_id: "p".into(),
            quota: 10,
            used: 8,
            would_be: 12,
        });
        assert_eq!(
            (quota.status, quota.code),
            (StatusCode::INSUFFICIENT_STORAGE, "kv_quota_exceeded")
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
            assert_eq!((mapped.status, mapped.code), (status, code));
        }
    }

    #[test]
    fn a_rejected_licence_key_is_a_400_saying_why() {
        let e = crate::plugins::license::check_key("p", "hello").unwrap_err();
        let error = ApiError::from(e);
        assert_eq!(
            (error.status, error.code),
            (StatusCode::BAD_REQUEST, "bad_license")
        );
        assert!(error.message.contains("TORU1."), "{}", error.message);
    }
}
