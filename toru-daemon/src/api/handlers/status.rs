//! `GET /api/status`: what `toructl status` prints.

use serde::Serialize;
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::auth::Caller;
use crate::plugins::PluginState;
use crate::plugins::backend::BackendKind;

#[derive(Serialize)]
struct Status<'a> {
    version: &'static str,
    instance_id: &'a str,
    backend: BackendKind,
    user: &'a str,
    plugins: Counts,
}

#[derive(Serialize)]
struct Counts {
    total: usize,
    enabled: usize,
    running: usize,
    failed: usize,
}

/// `GET /api/health`: the liveness probe, open to anyone.
pub async fn health() -> ApiResult {
    Ok(warp::reply::json(&serde_json::json!({"status": "ok"})).into_response())
}

/// `GET /api/status`. Waits for the first scan after start-up, so the counts are never partial.
pub async fn status(state: ApiState, caller: Caller) -> ApiResult {
    state.plugins.scanned().await;
    let plugins = state.plugins.list();
    let count =
        |f: &dyn Fn(&crate::plugins::PluginInfo) -> bool| plugins.iter().filter(|p| f(p)).count();
    let counts = Counts {
        total: plugins.len(),
        enabled: count(&|p| p.status.enabled),
        running: count(&|p| p.status.state == PluginState::Running),
        failed: count(&|p| p.status.state == PluginState::Failed),
    };
    Ok(warp::reply::json(&Status {
        version: env!("CARGO_PKG_VERSION"),
        instance_id: state.plugins.instance_id(),
        backend: state.plugins.backend_kind(),
        user: caller.name(),
        plugins: counts,
    })
    .into_response())
}
