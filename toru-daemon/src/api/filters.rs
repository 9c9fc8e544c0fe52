//! Reusable request filters: shared state, who is calling, cross-site protection, bounded
//! bodies.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::Method;
use warp::{Buf, Filter, Rejection};

use super::ApiState;
use super::error::ApiError;
use crate::auth::Caller;
use crate::auth::peer::{self, PeerCred};
use crate::auth::session::{COOKIE_NAME, hash_token};

/// The TCP peer's address, attached by the server to each request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Hands the shared state to a handler.
pub fn with_state(
    state: ApiState,
) -> impl Filter<Extract = (ApiState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The authenticated caller: a Unix-socket peer with the right credentials, or a valid session
/// cookie. Anything else is 401 (403 for a local peer that may not use the socket).
pub fn caller(state: ApiState) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::ext::optional::<PeerCred>()
        .and(warp::cookie::optional::<String>(COOKIE_NAME))
        .and(with_state(state))
        .and_then(
            |peer: Option<PeerCred>, token: Option<String>, state: ApiState| async move {
                authenticate(&state, peer, token)
                    .await
                    .map_err(warp::reject::custom)
            },
        )
}

/// The caller if there is one, for routes that work either way (`/api/auth/me`).
pub async fn authenticate(
    state: &ApiState,
    peer: Option<PeerCred>,
    token: Option<String>,
) -> Result<Caller, ApiError> {
    if let Some(peer) = peer {
        return peer::authorize(peer).map_err(ApiError::forbidden);
    }
    let token = token.ok_or_else(|| ApiError::unauthorized("log in first"))?;
    let user = state
        .store
        .session_user(hash_token(&token), now_millis())
        .await?
        .ok_or_else(|| ApiError::unauthorized("session expired or invalid; log in again"))?;
    Ok(Caller::User {
        id: user.id,
        username: user.username,
    })
}

/// Refuses state-changing requests that a browser marked as cross-site. The session cookie is
/// `SameSite=Strict` already; this is the second lock (`Origin` and `Sec-Fetch-Site`).
pub fn same_origin() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    // Only the three headers it needs, not a clone of the whole map: this runs on every
    // forwarded request.
    // A value that is not visible ASCII counts as absent, as before.
    let header = |name: &'static str| {
        warp::header::optional::<String>(name)
            .or(warp::any().map(|| None))
            .unify()
    };
    warp::method()
        .and(header("sec-fetch-site"))
        .and(header("origin"))
        .and(header("host"))
        .and_then(
            |method: Method,
             site: Option<String>,
             origin: Option<String>,
             host: Option<String>| async move {
                check_same_origin(&method, site.as_deref(), origin.as_deref(), host.as_deref())
                    .map_err(warp::reject::custom)
            },
        )
        .untuple_one()
}

/// The check behind [`same_origin`], on the method and the three header values (absent if not
/// visible ASCII), also for the forwarded route, which is served outside warp. Reads (`GET`,
/// `HEAD`, `OPTIONS`) pass.
pub fn check_same_origin(
    method: &Method,
    site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(site) = site
        && !matches!(site, "same-origin" | "none")
    {
        return Err(ApiError::forbidden(format!(
            "cross-site request refused ({site})"
        )));
    }
    if let Some(origin) = origin {
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        let host = host.unwrap_or("");
        if origin == "null" || origin_host != host {
            return Err(ApiError::forbidden(format!(
                "cross-site request refused (origin {origin} is not {host})"
            )));
        }
    }
    Ok(())
}

/// The request body, refusing more than `limit` bytes with 413 whether or not the client sent a
/// `Content-Length` (chunked bodies are counted as they arrive).
pub fn body_limited(limit: usize) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |length, body| async move {
            collect_limited(length, body, limit)
                .await
                .map_err(warp::reject::custom)
        })
}

/// Collects a body of at most `limit` bytes: refused with 413 from the declared `length`
/// alone when it says so, otherwise as soon as the chunks that arrived pass the limit. Shared
/// by warp's routes and the forwarded route, which reads hyper's body directly.
pub async fn collect_limited<S, B, E>(
    length: Option<u64>,
    body: S,
    limit: usize,
) -> Result<Bytes, ApiError>
where
    S: futures::Stream<Item = Result<B, E>>,
    B: Buf,
    E: std::fmt::Display,
{
    if length.is_some_and(|l| l > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading the body failed: {e}")))?;
        if buf.len() + chunk.remaining() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

/// Whether the client reached us over TLS (a proxy in front says so), so cookies get `Secure`.
pub fn behind_tls() -> impl Filter<Extract = (bool,), Error = Rejection> + Clone {
    warp::header::optional::<String>("x-forwarded-proto")
        .map(|proto: Option<String>| proto.is_some_and(|p| p.eq_ignore_ascii_case("https")))
}

/// Milliseconds since the Unix epoch, the store's time unit.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn check_post(headers: &HeaderMap) -> Result<(), ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        check_same_origin(
            &Method::POST,
            header("sec-fetch-site"),
            header("origin"),
            header("host"),
        )
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cross_site_requests_are_refused() {
        // Allowed: no browser hints (curl, toructl), same-origin fetches, direct navigation.
        for ok in [
            headers(&[]),
            headers(&[
                ("host", "localhost:7070"),
                ("origin", "http://localhost:7070"),
            ]),
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[("sec-fetch-site", "none")]),
        ] {
            assert!(check_post(&ok).is_ok(), "{ok:?}");
        }
        // Refused: another origin, an opaque origin, a browser saying cross-site or same-site.
        for bad in [
            headers(&[
                ("host", "localhost:7070"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[("host", "localhost:7070"), ("origin", "null")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
        ] {
            assert!(check_post(&bad).is_err(), "{bad:?}");
        }
    }
}
