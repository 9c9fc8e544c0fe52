//! Backups: the whole daemon's (a tar archive, restored by restarting on it) and one plugin's
//! data (a JSON document, restored in place). See `backup/` and docs/operations.md.

use bytes::Bytes;
use toru_api::{BACKUP_FORMAT_VERSION, BackupFormat, PluginBackup, PluginRestored};
use warp::Reply;

use super::{ApiResult, require_plugin};
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::extract::Path;
use crate::backup::{ArchiveError, head};
use crate::plugins::plugin_config;
use crate::store::{self, Actor, PluginData};

/// `GET /api/backup`: the daemon's backup, a tar archive (`backup/archive.rs`).
pub async fn whole(state: ApiState, actor: Actor) -> ApiResult {
    let instance_id = state.plugins.instance_id();
    let archive = state
        .backups
        .create(&state.store, instance_id)
        .await
        .map_err(|e| archive_error(&e))?;
    tracing::info!(by = %actor, bytes = archive.len(), "backup taken");
    let name = format!("toru-backup-{instance_id}.tar");
    Ok(http::Response::builder()
        .header(http::header::CONTENT_TYPE, "application/x-tar")
        .header(
            http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(archive.into())
        .expect("static headers are valid"))
}

/// `POST /api/restore` with a backup archive: checks it in full and stages it, answers 202, and
/// stops the daemon, which loads it as it starts again. A bad archive is 400
/// `invalid_backup` and changes nothing.
pub async fn restore(state: ApiState, actor: Actor, body: Bytes) -> ApiResult {
    let staged = state
        .backups
        .stage(body, &actor)
        .await
        .map_err(|e| archive_error(&e))?;
    tracing::warn!(by = %actor, "restore staged");
    Ok(
        warp::reply::with_status(warp::reply::json(&staged), http::StatusCode::ACCEPTED)
            .into_response(),
    )
}

/// `GET /api/plugins/:id/backup`: the plugin's KV data, licence key and settings as one
/// document.
pub async fn plugin(state: ApiState, Path(id): Path<String>, actor: Actor) -> ApiResult {
    let id = require_plugin(&state, &id).await?;
    let PluginData {
        kv,
        license_key,
        settings,
    } = state.store.plugin_data(id.as_str()).await?;
    let settings = plugin_config::decode_stored(settings.as_deref())
        .map_err(|e| ApiError::internal(&store::Error::Corrupt(e)))?
        .into_iter()
        .collect();
    let plugin_version = state
        .plugins
        .get(id.as_str())
        .map(|info| info.meta.version)
        .unwrap_or_default();
    tracing::info!(plugin = %id, by = %actor, "plugin backup taken");
    let backup = PluginBackup {
        format: BackupFormat::Plugin,
        format_version: BACKUP_FORMAT_VERSION,
        plugin: id.to_string(),
        plugin_version,
        created_at: store::now_unix_ms(),
        kv,
        license_key,
        settings,
    };
    Ok(warp::reply::with_header(
        warp::reply::json(&backup),
        http::header::CACHE_CONTROL,
        "no-store",
    )
    .into_response())
}

/// `POST /api/plugins/:id/restore` with a plugin backup: replaces the plugin's KV data,
/// licence key and settings with the backup's and re-initialises it if it runs. A backup of
/// another plugin, of another kind or version, over the plugin's KV quota, or with settings
/// the plugin's schema refuses changes nothing.
pub async fn plugin_restore(
    state: ApiState,
    Path(id): Path<String>,
    actor: Actor,
    body: Bytes,
) -> ApiResult {
    let id = require_plugin(&state, &id).await?;
    let backup = parse_plugin_backup(&body)?;
    if backup.plugin != id.as_str() {
        return Err(ApiError::invalid_backup(format!(
            "this is a backup of plugin {:?}, not of {id:?}",
            backup.plugin
        )));
    }
    let data = PluginData {
        kv: backup.kv,
        license_key: backup.license_key,
        settings: None,
    };
    let (kv_entries, license_key) = (data.kv.len(), data.license_key.is_some());
    let reinitialised = state
        .plugins
        .restore_data(id.as_str(), data, backup.settings, &actor)
        .await?;
    Ok(warp::reply::json(&PluginRestored {
        plugin: id.to_string(),
        kv_entries,
        license_key,
        reinitialised,
    })
    .into_response())
}

/// The plugin backup in `body`, its kind and version checked first ([`head::check`]).
fn parse_plugin_backup(body: &[u8]) -> Result<PluginBackup, ApiError> {
    head::check(body, BackupFormat::Plugin).map_err(|e| ApiError::invalid_backup(e.to_string()))?;
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_backup(format!("the plugin backup is not valid: {e}")))
}

/// 400 `invalid_backup` for a bad archive, 500 for the daemon's own failure.
fn archive_error(error: &ArchiveError) -> ApiError {
    if error.is_bad_input() {
        ApiError::invalid_backup(error.to_string())
    } else {
        ApiError::internal(error)
    }
}
