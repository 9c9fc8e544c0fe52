//! One file per group of routes; each handler is a short async function from parsed inputs to
//! a reply or an [`ApiError`](super::error::ApiError).

pub mod auth;
pub mod events;
pub mod forward;
pub mod kv;
pub mod logs;
pub mod plugins;
pub mod status;
pub mod users;

/// What every handler returns.
pub type ApiResult = Result<warp::reply::Response, super::error::ApiError>;
