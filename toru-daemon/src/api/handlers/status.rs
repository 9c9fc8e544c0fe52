//! `GET /api/status`: what `toructl status` prints.

use toru_api::{PluginCounts, Status};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::auth::Caller;
use crate::plugins::PluginState;

/// `GET /api/health`: the liveness probe, open to anyone.
pub async fn health() -> ApiResult {
    let health = toru_api::Health {
        status: toru_api::HealthStatus::Ok,
    };
    Ok(warp::reply::json(&health).into_response())
}

/// `GET /api/status`. Waits for the first scan after start-up, so the counts are never partial.
pub async fn status(state: ApiState, caller: Caller) -> ApiResult {
    state.plugins.scanned().await;
    let plugins = state.plugins.list();
    let count =
        |f: &dyn Fn(&crate::plugins::PluginInfo) -> bool| plugins.iter().filter(|p| f(p)).count();
    let counts = PluginCounts {
        total: plugins.len(),
        enabled: count(&|p| p.status.enabled),
        running: count(&|p| p.status.state == PluginState::Running),
        failed: count(&|p| p.status.state == PluginState::Failed),
    };
    Ok(warp::reply::json(&Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        instance_id: state.plugins.instance_id().to_owned(),
        backend: state.plugins.backend_kind().into(),
        user: caller.name().to_owned(),
        plugins: counts,
        tls: state.tls.as_deref().cloned(),
    })
    .into_response())
}
