//! The plugin event log (starts, crashes, restarts, give-ups…).

use toru_api::EventsQuery;
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::extract::Query;

/// Most events one request returns.
const MAX_EVENTS: usize = 1000;

/// `GET /api/events`: newest first, all plugins or one.
pub async fn list(state: ApiState, Query(query): Query<EventsQuery>) -> ApiResult {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_EVENTS);
    let events = match query.plugin {
        Some(plugin) => state.store.recent_events(&plugin, limit).await?,
        None => state.store.all_recent_events(limit).await?,
    };
    Ok(warp::reply::json(&events).into_response())
}
