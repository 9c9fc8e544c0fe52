//! Installing, upgrading, rolling back and uninstalling plugins. The upload's body arrives
//! staged by the pipeline (`api/upload.rs`); the manager checks, installs and watches it.

use toru_api::{InstallOutcome, InstallResult, Plugin, UninstallQuery, Uninstalled};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::extract::{Path, Query, SignatureHeader};
use crate::api::upload::StagedUpload;
use crate::plugins::manager::{Installed, Upload};
use crate::store::Actor;

/// `POST /api/plugins`: the body is a plugin executable, its detached signature optionally in
/// the `Toru-Signature` header. A new id is installed (disabled); an installed id is upgraded,
/// and a running plugin that does not stay healthy on the new version is rolled back (422
/// `upgrade_failed`). A file discovery would skip is refused with 400 `invalid_plugin` and
/// nothing changes.
pub async fn install(
    state: ApiState,
    actor: Actor,
    SignatureHeader(signature): SignatureHeader,
    staged: StagedUpload,
) -> ApiResult {
    let StagedUpload { file, permit } = staged;
    let upload = Upload {
        binary: file,
        signature,
    };
    let plugins = state.plugins.clone();
    let installed = to_completion(async move {
        let installed = plugins.install(upload, &actor).await;
        // The next upload may start only once this one is installed or refused.
        drop(permit);
        installed
    })
    .await?;
    let (outcome, info) = match installed? {
        Installed::New(info) => (InstallOutcome::Installed, info),
        Installed::Upgraded(info) => (InstallOutcome::Upgraded, info),
    };
    let body = InstallResult {
        outcome,
        plugin: info.into(),
    };
    Ok(warp::reply::json(&body).into_response())
}

/// `POST /api/plugins/:id/rollback`: swaps the plugin back to its previous version (409
/// `no_previous_version` when none is kept), restarting it if it runs.
pub async fn rollback(state: ApiState, Path(id): Path<String>, actor: Actor) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let (plugins, plugin_id) = (state.plugins.clone(), id.clone());
    let info = to_completion(async move { plugins.rollback(&plugin_id, &actor).await }).await??;
    Ok(warp::reply::json(&Plugin::from(info)).into_response())
}

/// `DELETE /api/plugins/:id[?purge=true]`: stops the plugin and removes its files; with
/// `purge`, its KV data and licence key too, else they stay for a reinstall.
pub async fn uninstall(
    state: ApiState,
    Path(id): Path<String>,
    actor: Actor,
    Query(query): Query<UninstallQuery>,
) -> ApiResult {
    super::require_plugin(&state, &id).await?;
    let (plugins, plugin_id) = (state.plugins.clone(), id.clone());
    to_completion(async move { plugins.uninstall(&plugin_id, query.purge, &actor).await })
        .await??;
    let body = Uninstalled {
        id,
        purged: query.purge,
    };
    Ok(warp::reply::json(&body).into_response())
}

/// Runs `work` in a task of its own and waits for it: a client that goes away (a `toructl`
/// interrupted during an upgrade's health window) drops the request, and must not cancel a
/// change to the plugins directory halfway, say between replacing a binary and rolling it back.
async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work)
        .await
        .map_err(|interrupted| ApiError::internal(&interrupted))
}
