//! Dashboard users. Every user is an administrator; the first one is made with
//! `toructl user add` over the local socket.

use toru_api::{NewPassword, NewUser, User};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::extract::{Json, Path};
use crate::auth::MAX_USERNAME_LEN;
use crate::auth::password;
use crate::store::{Actor, EventKind, NewEvent};

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

/// `GET /api/users`.
pub async fn list(state: ApiState) -> ApiResult {
    let users: Vec<User> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| User {
            username: u.username,
            created_at_unix_ms: u.created_at_unix_ms,
        })
        .collect();
    Ok(warp::reply::json(&users).into_response())
}

/// `POST /api/users`: 201, or 409 when the name is taken, in any case (`erin` when `Erin`
/// exists).
pub async fn create(state: ApiState, actor: Actor, Json(form): Json<NewUser>) -> ApiResult {
    validate_username(&form.username)?;
    let hash = password::hash(&form.password).await?;
    match state.store.create_user(&form.username, &hash).await {
        Ok(user) => {
            tracing::info!(username = user.username, by = %actor, "user created");
            let event = NewEvent::user(&user.username, EventKind::UserCreated, "").by(&actor);
            state.store.record_event_or_log(event).await;
            let body = warp::reply::json(&User {
                username: user.username,
                created_at_unix_ms: user.created_at_unix_ms,
            });
            Ok(warp::reply::with_status(body, http::StatusCode::CREATED).into_response())
        }
        // A taken name is 409 `user_exists` (`api/error.rs`).
        Err(e) => Err(e.into()),
    }
}

/// `PUT /api/users/:name/password`: sets a new password and ends that user's sessions.
pub async fn set_password(
    state: ApiState,
    Path(username): Path<String>,
    actor: Actor,
    Json(form): Json<NewPassword>,
) -> ApiResult {
    let hash = password::hash(&form.password).await?;
    if !state.store.set_password(&username, &hash).await? {
        return Err(ApiError::not_found(format!("no user {username}")));
    }
    tracing::info!(username, by = %actor, "password changed");
    let event = NewEvent::user(&username, EventKind::PasswordChanged, "sessions ended").by(&actor);
    state.store.record_event_or_log(event).await;
    Ok(warp::reply::with_status(warp::reply(), http::StatusCode::NO_CONTENT).into_response())
}
