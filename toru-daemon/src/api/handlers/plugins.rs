//! Listing, inspecting, enabling and disabling plugins, and serving their frontend bundles.

use sha2::{Digest, Sha256};
use toru_api::{DiscoveryFailure, Plugin, PluginDetails};
use warp::Reply;

use super::ApiResult;
use crate::api::error::ApiError;
use crate::api::extract::{IfNoneMatch, Path};
use crate::api::wire;
use crate::api::{ApiState, csp};
use crate::plugins::backend::{BackendKind, unit_name};
use crate::store::Actor;

/// How many recent events `GET /api/plugins/:id` includes.
const DETAIL_EVENTS: usize = 20;

/// `GET /api/plugins`. Waits for the first scan after start-up, so a list is never partial.
pub async fn list(state: ApiState) -> ApiResult {
    state.plugins.scanned().await;
    Ok(warp::reply::json(&wire::plugins(state.plugins.list())).into_response())
}

/// `GET /api/discovery-failures`: the `*.binary` files that are not plugins, so the dashboard and
/// `toructl` can show why an installed file does not appear.
pub async fn discovery_failures(state: ApiState) -> ApiResult {
    state.plugins.scanned().await;
    let skipped: Vec<DiscoveryFailure> = state
        .plugins
        .discovery_failures()
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(warp::reply::json(&skipped).into_response())
}

/// `POST /api/rescan`: looks for newly installed plugins; answers with the plugin list.
pub async fn rescan(state: ApiState, actor: Actor) -> ApiResult {
    state.plugins.rescan(&actor).await?;
    Ok(warp::reply::json(&wire::plugins(state.plugins.list())).into_response())
}

/// `GET /api/plugins/:id`.
pub async fn get(state: ApiState, Path(id): Path<String>) -> ApiResult {
    state.plugins.scanned().await;
    let info = state
        .plugins
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no plugin with id {id:?}")))?;
    let events = state.store.recent_events(&id, DETAIL_EVENTS).await?;
    let kv = state.store.kv_usage(&id).await?;
    Ok(warp::reply::json(&PluginDetails {
        unit_name: (state.plugins.backend_kind() == BackendKind::Systemd)
            .then(|| unit_name(&info.id)),
        plugin: info.into(),
        kv: kv.into(),
        events,
    })
    .into_response())
}

/// `POST /api/plugins/:id/enable`.
pub async fn enable(state: ApiState, Path(id): Path<String>, actor: Actor) -> ApiResult {
    tracing::info!(plugin = id, by = %actor, "enable requested");
    let info = state.plugins.enable(&id, &actor).await?;
    Ok(warp::reply::json(&Plugin::from(info)).into_response())
}

/// `POST /api/plugins/:id/restart`.
pub async fn restart(state: ApiState, Path(id): Path<String>, actor: Actor) -> ApiResult {
    tracing::info!(plugin = id, by = %actor, "restart requested");
    let info = state.plugins.restart(&id, &actor).await?;
    Ok(warp::reply::json(&Plugin::from(info)).into_response())
}

/// `POST /api/plugins/:id/disable`.
pub async fn disable(state: ApiState, Path(id): Path<String>, actor: Actor) -> ApiResult {
    tracing::info!(plugin = id, by = %actor, "disable requested");
    let info = state.plugins.disable(&id, &actor).await?;
    Ok(warp::reply::json(&Plugin::from(info)).into_response())
}

/// `GET /api/plugins/:id/bundle.js`: the plugin's view, asked of the running plugin on its
/// reserved path `/_toru/bundle.js`, with an ETag so browsers revalidate instead of refetching.
pub async fn bundle(
    state: ApiState,
    Path(id): Path<String>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> ApiResult {
    let request = toru_plugin_api::HttpRequest {
        method: "GET".into(),
        path: "/_toru/bundle.js".into(),
        ..Default::default()
    };
    let response = state.plugins.forward(&id, request).await?;
    if response.status == 404 {
        return Err(ApiError::not_found(format!(
            "plugin {id} has no frontend bundle"
        )));
    }
    if response.status != 200 {
        return Err(ApiError::plugin_error(format!(
            "plugin {id} answered {} for its bundle",
            response.status
        )));
    }
    let digest = Sha256::digest(&response.body);
    let etag = format!("\"{}\"", hex(&digest[..16]));
    let cached = if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let builder = http::Response::builder()
        .header(http::header::ETAG, &etag)
        .header(http::header::CACHE_CONTROL, "no-cache")
        // Only ever run as the JavaScript it is declared as.
        .header(http::header::X_CONTENT_TYPE_OPTIONS, csp::NOSNIFF);
    let response = if cached {
        builder
            .status(http::StatusCode::NOT_MODIFIED)
            .body(Vec::new())
    } else {
        builder
            .header(http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")
            .body(response.body)
    };
    response
        .map(Reply::into_response)
        .map_err(|e| ApiError::internal(&e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
