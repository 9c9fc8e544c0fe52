//! Dashboard users: list, add, reset a password, disable and enable, change a role, delete.
//! Every route here but the list is for administrators (the route table says so); the first
//! user is made with `toructl user add` over the local socket, whose callers are
//! administrators. A change that would leave no enabled administrator is 409 `last_admin`,
//! decided by the store in the change's own transaction.

use toru_api::{NewPassword, NewRole, NewUser, User};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::extract::{Json, Path, percent_decoded};
use crate::auth::MAX_USERNAME_LEN;
use crate::auth::password;
use crate::store::{Actor, EventKind, NewEvent, UserChange};

/// User names: 1–64 of `A-Z a-z 0-9 . _ - @`, starting with a letter or digit.
fn validate_username(name: &str) -> Result<(), ApiError> {
    let ok = (1..=MAX_USERNAME_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "user names are 1–64 characters of A-Z a-z 0-9 . _ - @, starting with a letter or digit",
        ))
    }
}

/// 404 for a user that does not exist.
fn no_user(username: &str) -> ApiError {
    ApiError::not_found(format!("no user {username}"))
}

/// `GET /api/users`.
pub async fn list(state: ApiState) -> ApiResult {
    let users: Vec<User> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(User::from)
        .collect();
    Ok(warp::reply::json(&users).into_response())
}

/// `POST /api/users`: 201, or 409 when the name is taken, in any case (`erin` when `Erin`
/// exists). Without a role the user is an administrator, as every user was before roles.
pub async fn create(state: ApiState, actor: Actor, Json(form): Json<NewUser>) -> ApiResult {
    validate_username(&form.username)?;
    let hash = password::hash(&form.password).await?;
    let role = form.role.unwrap_or_default();
    // A taken name is 409 `user_exists` (`api/error.rs`).
    let user = state.store.create_user(&form.username, &hash, role).await?;
    tracing::info!(username = user.username, %role, by = %actor, "user created");
    let details = format!("role {role}");
    audit(
        &state,
        &user.username,
        EventKind::UserCreated,
        &details,
        &actor,
    )
    .await;
    let body = warp::reply::json(&User::from(user));
    Ok(warp::reply::with_status(body, http::StatusCode::CREATED).into_response())
}

/// `PUT /api/users/{name}/password`: sets a new password and ends that user's sessions.
pub async fn set_password(
    state: ApiState,
    Path(raw_name): Path<String>,
    actor: Actor,
    Json(form): Json<NewPassword>,
) -> ApiResult {
    let username = percent_decoded(&raw_name, "user name")?;
    let hash = password::hash(&form.password).await?;
    if !state.store.set_password(&username, &hash).await? {
        return Err(no_user(&username));
    }
    tracing::info!(username, by = %actor, "password changed");
    audit(
        &state,
        &username,
        EventKind::PasswordChanged,
        "sessions ended",
        &actor,
    )
    .await;
    Ok(no_content())
}

/// `DELETE /api/users/{name}`: 204; the user's sessions end with them.
pub async fn delete(state: ApiState, Path(raw_name): Path<String>, actor: Actor) -> ApiResult {
    let username = percent_decoded(&raw_name, "user name")?;
    change(&state, &username, UserChange::Delete, &actor).await?;
    Ok(no_content())
}

/// `POST /api/users/{name}/disable`: the user can no longer log in, and their sessions end
/// at once. Answers the user as they are now.
pub async fn disable(state: ApiState, Path(raw_name): Path<String>, actor: Actor) -> ApiResult {
    let username = percent_decoded(&raw_name, "user name")?;
    let user = change(&state, &username, UserChange::SetDisabled(true), &actor).await?;
    Ok(warp::reply::json(&user).into_response())
}

/// `POST /api/users/{name}/enable`: the user may log in again.
pub async fn enable(state: ApiState, Path(raw_name): Path<String>, actor: Actor) -> ApiResult {
    let username = percent_decoded(&raw_name, "user name")?;
    let user = change(&state, &username, UserChange::SetDisabled(false), &actor).await?;
    Ok(warp::reply::json(&user).into_response())
}

/// `PUT /api/users/{name}/role`: the new role applies from the user's next request; their
/// sessions stay.
pub async fn set_role(
    state: ApiState,
    Path(raw_name): Path<String>,
    actor: Actor,
    Json(form): Json<NewRole>,
) -> ApiResult {
    let username = percent_decoded(&raw_name, "user name")?;
    let user = change(&state, &username, UserChange::SetRole(form.role), &actor).await?;
    Ok(warp::reply::json(&user).into_response())
}

/// Applies `what` to the user and records it in the audit trail: 404 when there is none, 409
/// `last_admin` when it would leave no enabled administrator.
async fn change(
    state: &ApiState,
    username: &str,
    what: UserChange,
    actor: &Actor,
) -> Result<User, ApiError> {
    let user = state
        .store
        .change_user(username, what)
        .await?
        .map(User::from)
        .ok_or_else(|| no_user(username))?;
    let (kind, details) = match what {
        UserChange::Delete => (EventKind::UserDeleted, "sessions ended".to_owned()),
        UserChange::SetDisabled(true) => (EventKind::UserDisabled, "sessions ended".to_owned()),
        UserChange::SetDisabled(false) => (EventKind::UserEnabled, String::new()),
        UserChange::SetRole(role) => (EventKind::UserRoleChanged, format!("role {role}")),
    };
    tracing::info!(username, by = %actor, "{kind}: {details}");
    audit(state, username, kind, &details, actor).await;
    Ok(user)
}

/// Records a change to a user in the audit trail.
async fn audit(state: &ApiState, username: &str, kind: EventKind, details: &str, actor: &Actor) {
    let event = NewEvent::user(username, kind, details).by(actor);
    state.store.record_event_or_log(event).await;
}

/// 204, for a change with nothing to answer.
fn no_content() -> warp::reply::Response {
    warp::reply::with_status(warp::reply(), http::StatusCode::NO_CONTENT).into_response()
}
