//! Installing and removing a plugin's licence key. The daemon stores the key and hands it to
//! the plugin, which verifies it and reports back (`docs/licensing.md`).

use toru_api::{LicenseForm, Plugin};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::extract::{Json, Path};
use crate::plugins::license::check_key;
use crate::store::Actor;

/// `PUT /api/plugins/:id/license`: installs or replaces the key and restarts the plugin if it
/// runs, so it checks the new key. Answers with the plugin, whose `license` shows the verdict
/// once the plugin has reported it. A key that can never be valid for this plugin (not a Toru
/// key, damaged, for another plugin) is refused with 400 and nothing changes.
pub async fn set(
    state: ApiState,
    Path(id): Path<String>,
    actor: Actor,
    Json(form): Json<LicenseForm>,
) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let key = check_key(&id, &form.key).map_err(ApiError::from)?;
    tracing::info!(plugin = id, by = %actor, "licence key set");
    let info = state.plugins.set_license(&id, Some(key), &actor).await?;
    Ok(warp::reply::json(&Plugin::from(info)).into_response())
}

/// `DELETE /api/plugins/:id/license`: removes the key (restarting the plugin if it runs).
pub async fn clear(state: ApiState, Path(id): Path<String>, actor: Actor) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    tracing::info!(plugin = id, by = %actor, "licence key removed");
    let info = state.plugins.set_license(&id, None, &actor).await?;
    Ok(warp::reply::json(&Plugin::from(info)).into_response())
}
