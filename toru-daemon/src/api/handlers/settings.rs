//! A plugin's settings: shown with their schema (secrets only as "set"), and changed by an
//! administrator, which re-initialises the plugin if it runs (`docs/plugin-guide.md`,
//! "Settings").

use toru_api::{PluginSettings, SettingsChange};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::extract::{Json, Path};
use crate::store::Actor;

/// `GET /api/plugins/:id/config`: every declared setting with its schema and value; a secret's
/// value is never sent, only whether it is set.
pub async fn get(state: ApiState, Path(id): Path<String>) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let settings = state.plugins.settings(&id).await?;
    Ok(warp::reply::json(&PluginSettings::from(settings)).into_response())
}

/// `PUT /api/plugins/:id/config`: sets the named settings (`null` unsets one) and keeps the
/// others; 400 `invalid_settings` naming the setting, and nothing stored, when the plugin's
/// schema refuses the result. Logs and records the names of the changed settings only.
pub async fn set(
    state: ApiState,
    Path(id): Path<String>,
    actor: Actor,
    Json(SettingsChange(change)): Json<SettingsChange>,
) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let settings = state.plugins.set_settings(&id, change, &actor).await?;
    Ok(warp::reply::json(&PluginSettings::from(settings)).into_response())
}
