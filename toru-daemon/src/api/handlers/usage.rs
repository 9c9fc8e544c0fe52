//! What a plugin costs and what it may cost: its resource figures of the last hour, and its
//! resource limits (docs/operations.md, "Resource use and limits").

use toru_api::{LimitsChange, PluginUsage};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::extract::{Json, Path};
use crate::store::Actor;

/// `GET /api/plugins/:id/usage`: the figures now (`null` while it does not run) and the
/// readings of the last hour, for a chart.
pub async fn usage(state: ApiState, Path(id): Path<String>) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let report = state.plugins.usage(&id).await?;
    Ok(warp::reply::json(&PluginUsage::from(report)).into_response())
}

/// `GET /api/plugins/:id/limits`: the configured defaults, the plugin's overrides and the
/// effective limits.
pub async fn limits(state: ApiState, Path(id): Path<String>) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let limits = state.plugins.limits(&id).await?;
    Ok(warp::reply::json(&limits).into_response())
}

/// `PUT /api/plugins/:id/limits`: changes the named limits (`null` back to the default), all
/// or nothing (400 `invalid_limits` naming the limit), and restarts the plugin if it runs so
/// that it runs under them.
pub async fn set_limits(
    state: ApiState,
    Path(id): Path<String>,
    actor: Actor,
    Json(change): Json<LimitsChange>,
) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let limits = state.plugins.set_limits(&id, &change, &actor).await?;
    Ok(warp::reply::json(&limits).into_response())
}
