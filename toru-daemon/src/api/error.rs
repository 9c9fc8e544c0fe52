//! Every API error as `{"error": {"code": …, "message": …}}` with the right status — the one
//! place where error kinds become HTTP statuses.

use http::StatusCode;
use toru_api::{ErrorBody, ErrorCode, ErrorDetail};
use warp::Reply;
use warp::reply::Response;

use crate::auth::password::PasswordError;
use crate::plugins::ForwardError;
use crate::plugins::manager::Error as PluginsError;

/// An error answered to an API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code.
    pub code: ErrorCode,
    /// What went wrong, for a human.
    pub message: String,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert_eq!(
            status.as_u16(),
            code.status(),
            "{code} is sent with one status"
        );
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// 413, for a request body over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("request body over {limit} bytes"),
        )
    }

    /// 415, for a body that is not `application/json` where JSON is expected.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type: application/json",
        )
    }

    /// 400, for a body that is not the JSON a route expects; `problem` says why (syntax, a
    /// wrong type, a missing or duplicate field, with line and column).
    pub fn invalid_json(problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("invalid JSON body: {problem}"),
        )
    }

    /// 408, for a request body that did not arrive within `limit`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs()
            ),
        )
    }

    /// 503 with `Retry-After`, for work refused because the daemon is saturated.
    pub fn busy(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, message);
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// 500, logged: the client only learns that something failed.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            error.to_string(),
        )
    }
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
            other => ApiError::internal(other),
        }
    }
}

impl From<ForwardError> for ApiError {
    fn from(e: ForwardError) -> Self {
        let (status, code) = match &e {
            ForwardError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ForwardError::Unavailable { .. } | ForwardError::Gone(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::PluginUnavailable,
            ),
            ForwardError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, ErrorCode::PluginTimeout),
            ForwardError::Plugin(_) => (StatusCode::BAD_GATEWAY, ErrorCode::PluginError),
            ForwardError::Unlicensed { status: 402, .. } => {
                (StatusCode::PAYMENT_REQUIRED, ErrorCode::LicenseMissing)
            }
            ForwardError::Unlicensed { .. } => (StatusCode::FORBIDDEN, ErrorCode::LicenseInvalid),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::TooShort => ApiError::bad_request(e.to_string()),
            PasswordError::Busy => ApiError::busy(e.to_string(), 1),
            PasswordError::Hash(_) => ApiError::internal(e),
        }
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        use crate::store::Error as StoreError;
        match e {
            // The client's doing, not the daemon broken: statuses with codes tools can test.
            StoreError::UserExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::UserExists, e.to_string())
            }
            StoreError::KvQuotaExceeded { .. } => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                ErrorCode::KvQuotaExceeded,
                e.to_string(),
            ),
            other => ApiError::internal(format!("{other:#}")),
        }
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
            ErrorCode::PayloadTooLarge,
            "request body too large",
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::bad_request("invalid query string")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "method not allowed",
        )
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("{rejection:?}"),
        )
    };
    Ok(error.into_response())
}
