//! A plugin's key-value data, for admins and tools (`toructl kv`). Works whether or not the
//! plugin runs; always scoped to that one plugin.

use bytes::Bytes;
use toru_api::{KvEntry, KvKeys, KvListQuery, KvValue};
use warp::Reply;

use super::{ApiResult, require_plugin};
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::extract::{Path, Query, percent_decoded};
use crate::plugins::connection::{MAX_KV_KEY, MAX_KV_VALUE};
use crate::store::{Actor, EventKind, NewEvent};

/// Keys arrive percent-encoded in the path.
fn decode_key(raw: &str) -> Result<String, ApiError> {
    let key = percent_decoded(raw, "key")?;
    if key.is_empty() || key.len() > MAX_KV_KEY {
        return Err(ApiError::bad_request(format!(
            "keys are 1–{MAX_KV_KEY} bytes"
        )));
    }
    Ok(key)
}

/// `GET /api/plugins/:id/kv?prefix=`.
pub async fn list(
    state: ApiState,
    Path(id): Path<String>,
    Query(query): Query<KvListQuery>,
) -> ApiResult {
    require_plugin(&state, &id).await?;
    let keys = state.store.kv_list(&id, &query.prefix).await?;
    Ok(warp::reply::json(&KvKeys { keys }).into_response())
}

/// `GET /api/plugins/:id/kv/:key`.
pub async fn get(state: ApiState, Path((id, raw_key)): Path<(String, String)>) -> ApiResult {
    require_plugin(&state, &id).await?;
    let key = decode_key(&raw_key)?;
    match state.store.kv_get(&id, &key).await? {
        Some(value) => Ok(warp::reply::json(&KvEntry { key, value }).into_response()),
        None => Err(ApiError::not_found(format!(
            "plugin {id} has no key {key:?}"
        ))),
    }
}

/// `PUT /api/plugins/:id/kv/:key` with `{"value": "…"}`.
pub async fn set(
    state: ApiState,
    Path((id, raw_key)): Path<(String, String)>,
    actor: Actor,
    body: Bytes,
) -> ApiResult {
    require_plugin(&state, &id).await?;
    let key = decode_key(&raw_key)?;
    let KvValue { value } = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"value\": \"…\"}}: {e}")))?;
    if value.len() > MAX_KV_VALUE {
        return Err(ApiError::bad_request(format!(
            "values are at most {MAX_KV_VALUE} bytes"
        )));
    }
    // Past the plugin's quota this is 507 `kv_quota_exceeded` (`api/error.rs`).
    state.store.kv_set(&id, &key, &value).await?;
    audit(&state, &id, EventKind::KvSet, &key, &actor).await;
    Ok(warp::reply::json(&KvEntry { key, value }).into_response())
}

/// `DELETE /api/plugins/:id/kv/:key`: 204, or 404 when absent.
pub async fn delete(
    state: ApiState,
    Path((id, raw_key)): Path<(String, String)>,
    actor: Actor,
) -> ApiResult {
    require_plugin(&state, &id).await?;
    let key = decode_key(&raw_key)?;
    if state.store.kv_delete(&id, &key).await? {
        audit(&state, &id, EventKind::KvDeleted, &key, &actor).await;
        Ok(warp::reply::with_status(warp::reply(), http::StatusCode::NO_CONTENT).into_response())
    } else {
        Err(ApiError::not_found(format!(
            "plugin {id} has no key {key:?}"
        )))
    }
}

/// Records a KV write made through the API in the audit trail, with the key (never the value,
/// which may be a secret).
async fn audit(state: &ApiState, id: &str, kind: EventKind, key: &str, actor: &Actor) {
    let details = format!("key {key:?}");
    let event = NewEvent::plugin(id, kind, &details).by(actor);
    state.store.record_event_or_log(event).await;
}
