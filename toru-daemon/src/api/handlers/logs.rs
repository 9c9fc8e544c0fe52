//! A plugin's log: pages newest first, and a live follow as server-sent events. Read from the
//! journal under the systemd backend and from the JSON-lines files under the embedded one.

use futures::StreamExt;
use toru_api::LogsQuery;
use warp::Reply;

use super::{ApiResult, require_plugin};
use crate::api::error::ApiError;
use crate::api::extract::{Path, Query};
use crate::api::{ApiState, sse};
use crate::logs::entry::Level;
use crate::logs::query::{LogQuery, MAX_PAGE_SIZE};
use crate::logs::{files, journal};
use crate::plugins::backend::{BackendKind, unit_name};

/// The daemon's log query from the client's, or 400 for a level or page size it refuses.
fn parse(query: &LogsQuery) -> Result<LogQuery, ApiError> {
    let min_level = match &query.level {
        None => None,
        Some(text) => Some(Level::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown level {text:?}: use error, warn, info or debug"
            ))
        })?),
    };
    let page_size = query.page_size.unwrap_or(100);
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ApiError::bad_request(format!(
            "page_size must be 1–{MAX_PAGE_SIZE}"
        )));
    }
    Ok(LogQuery {
        page: query.page.unwrap_or(0),
        page_size,
        min_level,
    })
}

/// `GET /api/plugins/:id/logs`.
pub async fn page(
    state: ApiState,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
) -> ApiResult {
    let id = require_plugin(&state, &id).await?;
    let query = parse(&query)?;
    let page = match state.plugins.backend_kind() {
        BackendKind::Systemd => journal::read_page(id.as_str(), &unit_name(&id), &query)
            .await
            .map_err(|e| ApiError::journal_unavailable(e.to_string()))?,
        BackendKind::Embedded => {
            let dir = state.plugin_log_dir.to_path_buf();
            tokio::task::spawn_blocking(move || files::read_page(&dir, &id, &query))
                .await
                .map_err(|e| ApiError::internal(&e))?
        }
    };
    Ok(warp::reply::json(&toru_api::LogPage::from(page)).into_response())
}

/// `GET /api/plugins/:id/logs/follow`: entries as they are written, as server-sent events
/// (`data: <entry JSON>`), with keep-alive comments.
pub async fn follow(
    state: ApiState,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
) -> ApiResult {
    let id = require_plugin(&state, &id).await?;
    let query = parse(&query)?;
    let rx = match state.plugins.backend_kind() {
        BackendKind::Systemd => journal::follow(id.to_string(), unit_name(&id), query),
        BackendKind::Embedded => files::follow(state.plugin_log_dir.to_path_buf(), id, query),
    };
    let events =
        sse::from_receiver(rx).map(|entry| sse::json_event(&toru_api::LogEntry::from(entry)));
    Ok(sse::reply(events))
}
