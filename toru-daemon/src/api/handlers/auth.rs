//! Login, logout, "who am I", and changing one's own password.

use std::net::SocketAddr;

use toru_api::{AuthMethod, LoginRequest, Me, PasswordChange};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::extract::{BehindTls, ClientAddr, Json, SessionToken};
use crate::api::pipeline::now_millis;
use crate::auth::session::{SESSION_TTL, clear_cookie, hash_token, new_token, set_cookie};
use crate::auth::{Caller, MAX_USERNAME_LEN, loggable_name, password};
use crate::store::{Actor, EventKind, NewEvent};

/// `POST /api/auth/login`: checks the password, starts a session, sets the cookie. A name
/// longer than any user's is refused (400) before the rate limits or the hasher see it. The
/// right password of a disabled account is 403 `account_disabled`, so its owner learns why;
/// a wrong one is `invalid_credentials` as for anyone, so the state of an account tells
/// nothing to someone who does not know its password.
pub async fn login(
    state: ApiState,
    client: Option<ClientAddr>,
    BehindTls(tls): BehindTls,
    Json(form): Json<LoginRequest>,
) -> ApiResult {
    let address = client.map(|ClientAddr(addr): ClientAddr| SocketAddr::ip(&addr));
    if form.username.len() > MAX_USERNAME_LEN {
        return Err(ApiError::invalid_username(MAX_USERNAME_LEN));
    }
    let username = loggable_name(&form.username);
    if let Err(wait) = state.limiter.check(&form.username, address) {
        tracing::warn!(username, ?address, "login rate limited");
        return Err(ApiError::rate_limited(wait.as_secs()));
    }
    let user = state.store.user_by_name(&form.username).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    if !password::verify(&form.password, stored).await? {
        tracing::warn!(username, ?address, "failed login");
        return Err(ApiError::invalid_credentials());
    }
    let user = user.expect("verify only succeeds for a stored hash");
    if user.disabled {
        tracing::warn!(username, ?address, "login to a disabled account");
        return Err(ApiError::account_disabled());
    }
    let (token, hash) = new_token();
    let expires = now_millis() + SESSION_TTL.as_millis() as i64;
    state.store.insert_session(hash, user.id, expires).await?;
    tracing::info!(username = user.username, ?address, "login");
    let body = warp::reply::json(&Me {
        username: user.username,
        method: AuthMethod::Password,
        role: user.role,
    });
    Ok(
        warp::reply::with_header(body, http::header::SET_COOKIE, set_cookie(&token, tls))
            .into_response(),
    )
}

/// `POST /api/auth/logout`: ends the session (if any) and clears the cookie.
pub async fn logout(
    state: ApiState,
    SessionToken(token): SessionToken,
    BehindTls(tls): BehindTls,
) -> ApiResult {
    if let Some(token) = token {
        state.store.delete_session(hash_token(&token)).await?;
    }
    let reply = warp::reply::with_status(warp::reply(), http::StatusCode::NO_CONTENT);
    Ok(
        warp::reply::with_header(reply, http::header::SET_COOKIE, clear_cookie(tls))
            .into_response(),
    )
}

/// `GET /api/auth/me`: who is calling, and their role.
pub async fn me(caller: Caller) -> ApiResult {
    let method = match caller {
        Caller::User { .. } => AuthMethod::Password,
        Caller::Local { .. } => AuthMethod::Local,
    };
    Ok(warp::reply::json(&Me {
        username: caller.name().to_owned(),
        method,
        role: caller.role(),
    })
    .into_response())
}

/// `PUT /api/auth/password`: a logged-in user changes their own password, whatever their
/// role, by giving the current one (401 `invalid_credentials` otherwise). Their other
/// sessions end; the one asking stays. A local-socket caller has no password here (400):
/// `toructl user passwd NAME` sets anyone's.
pub async fn change_password(
    state: ApiState,
    caller: Caller,
    actor: Actor,
    SessionToken(token): SessionToken,
    Json(form): Json<PasswordChange>,
) -> ApiResult {
    let (Caller::User { id, username, .. }, Some(token)) = (&caller, token) else {
        return Err(ApiError::bad_request(
            "only a logged-in user has a password to change; set one with PUT /api/users/{name}/password",
        ));
    };
    let stored = state.store.user_by_name(username).await?;
    let stored = stored.filter(|u| u.id == *id).map(|u| u.password_hash);
    if !password::verify(&form.current_password, stored).await? {
        return Err(ApiError::invalid_credentials());
    }
    let hash = password::hash(&form.password).await?;
    if !state
        .store
        .change_own_password(*id, &hash, hash_token(&token))
        .await?
    {
        return Err(ApiError::unauthorized("your account no longer exists"));
    }
    tracing::info!(username, "own password changed");
    let event = NewEvent::user(
        username,
        EventKind::PasswordChanged,
        "their own; their other sessions ended",
    );
    state.store.record_event_or_log(event.by(&actor)).await;
    Ok(warp::reply::with_status(warp::reply(), http::StatusCode::NO_CONTENT).into_response())
}
