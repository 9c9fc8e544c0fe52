//! One file per group of routes; each handler is a short async function from parsed inputs to
//! a reply or an [`ApiError`](super::error::ApiError).

pub mod auth;
pub mod backup;
pub mod events;
pub mod forward;
pub mod install;
pub mod kv;
pub mod license;
pub mod logs;
pub mod metrics;
pub mod plugins;
pub mod settings;
pub mod status;
pub mod usage;
pub mod users;

/// What every handler returns.
pub type ApiResult = Result<warp::reply::Response, super::error::ApiError>;

/// 404 unless a plugin with this id was discovered; for routes that work whether or not it runs.
/// Returns the discovered plugin's [`PluginId`](toru_plugin_api::PluginId), so a request path
/// becomes an id only by matching a plugin the daemon knows. Waits for the daemon's first scan,
/// so a request right after start-up does not get a 404 for a plugin about to be discovered.
pub async fn require_plugin(
    state: &super::ApiState,
    id: &str,
) -> Result<toru_plugin_api::PluginId, super::error::ApiError> {
    state.plugins.scanned().await;
    state
        .plugins
        .get(id)
        .map(|info| info.id)
        .ok_or_else(|| super::error::ApiError::not_found(format!("no plugin with id {id:?}")))
}
