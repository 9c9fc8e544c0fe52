//! `GET /metrics`: the Prometheus text exposition (docs/operations.md, "Metrics").

use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::metrics::text::CONTENT_TYPE;

/// `GET /metrics`, for a viewer or a scraper with the metrics token. Waits for the first scan,
/// so a scrape right after start-up does not miss plugins about to be discovered.
pub async fn scrape(state: ApiState) -> ApiResult {
    state.plugins.scanned().await;
    let text = crate::metrics::render(&state.metrics, &state.plugins.metrics_samples());
    Ok(warp::reply::with_header(text, http::header::CONTENT_TYPE, CONTENT_TYPE).into_response())
}
