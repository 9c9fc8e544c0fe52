//! The event log: what happened to plugins (starts, crashes, restarts, give-ups…) and who
//! changed what (the audit trail).

use toru_api::EventsQuery;
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::extract::Query;
use crate::store::EventFilter;

/// Most events one request returns.
const MAX_EVENTS: usize = 1000;

/// `GET /api/events`: newest first, filtered by plugin, kind and actor.
pub async fn list(state: ApiState, Query(query): Query<EventsQuery>) -> ApiResult {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_EVENTS);
    let filter = EventFilter {
        plugin_id: query.plugin,
        kind: query.kind,
        actor: query.actor,
    };
    let events = state.store.events(&filter, limit).await?;
    Ok(warp::reply::json(&events).into_response())
}
