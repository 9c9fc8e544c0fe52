//! The one request pipeline: the rules every API request passes before its handler runs, as
//! plain functions on the method and headers, so that warp's routes (through
//! [`filters::route`](super::filters::route)) and the forwarded fast path
//! ([`handlers::forward`](super::handlers::forward)), which is served outside warp, apply the
//! same code in the same order:
//!
//! 1. the cross-site rule, derived from the method ([`check_same_origin`]);
//! 2. who is calling, where the route's [`Policy`] asks ([`identify_caller`]), and whether
//!    their role may call it ([`authorize`]);
//! 3. the body the policy allows, bounded in size and time ([`read_body`]).
//!
//! The Host allow-list comes before all of them, for every request, in `server.rs`. Whatever a
//! stage refuses is an [`ApiError`], answered by [`respond`] with the status `error.rs` gives it.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderMap, Method};
use toru_api::Role;
use warp::{Buf, Reply};

use super::ApiState;

use super::error::ApiError;
use super::origin::check_same_origin;
use crate::auth::Caller;
use crate::auth::peer::{self, PeerCred};
use crate::auth::session::{COOKIE_NAME, hash_token};
use crate::metrics::token::bearer_token;

/// Who is on the other end of a request's connection; `server.rs` learns it at accept.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// A TCP client of the plain (loopback) listener, by address (for the login rate limits).
    Tcp(SocketAddr),
    /// A TCP client of the TLS listener, by address: its origin is `https://`, its cookies
    /// `Secure`, its answers carry HSTS.
    Tls(SocketAddr),
    /// A local process on the Unix socket, with its credentials when the kernel gave them.
    Unix(Option<PeerCred>),
}

impl Peer {
    /// Whether the connection is the daemon's own TLS listener's.
    pub fn over_tls(&self) -> bool {
        matches!(self, Peer::Tls(_))
    }

    /// The client's address, for a TCP connection (plain or TLS).
    pub fn address(&self) -> Option<SocketAddr> {
        match self {
            Peer::Tcp(address) | Peer::Tls(address) => Some(*address),
            Peer::Unix(_) => None,
        }
    }
}

/// Who may call a route: anyone, or an authenticated caller (a session cookie or an
/// authorised Unix peer, else 401, or 403 for a refused Unix peer) with at least some role
/// (else 403 `admin_required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may call it (health, login, logout).
    Anyone,
    /// Any authenticated caller, viewers included: the reads.
    Viewer,
    /// Administrators only: every route that changes something.
    Admin,
    /// Viewers for GET and HEAD, administrators for every other method: the forwarded route,
    /// whose method is the only thing the daemon knows of what a plugin's route does.
    ViewerReadsAdminWrites,
    /// Any authenticated caller, or a scraper with the metrics bearer token
    /// (`metrics_token_file`): `GET /metrics`. A request with `Authorization: Bearer` is
    /// judged by its token alone (401 if it is not the token, or none is configured).
    ViewerOrScraper,
}

impl Auth {
    /// The role a request with `method` needs, or `None` when anyone may call.
    pub fn required_role(self, method: &Method) -> Option<Role> {
        match self {
            Auth::Anyone => None,
            Auth::Viewer | Auth::ViewerOrScraper => Some(Role::Viewer),
            Auth::Admin => Some(Role::Admin),
            Auth::ViewerReadsAdminWrites if method == Method::GET || method == Method::HEAD => {
                Some(Role::Viewer)
            }
            Auth::ViewerReadsAdminWrites => Some(Role::Admin),
        }
    }
}

/// What a route reads of the request body, and how much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Nothing: the body, if any, is left unread.
    None,
    /// `Content-Type: application/json` (else 415) of at most this many bytes (else 413).
    Json(usize),
    /// Any bytes, at most this many (else 413).
    Bytes(usize),
    /// An uploaded file, streamed to a staging file rather than memory by
    /// [`Uploads::receive`](super::upload::Uploads::receive): one upload at a time (else 409
    /// `install_in_progress`), at most the daemon's `max_upload_bytes` (else 413), the whole
    /// body within [`UPLOAD_BODY_TIMEOUT`](super::upload::UPLOAD_BODY_TIMEOUT) (else 408)
    /// instead of the listener's body time.
    Upload,
}

/// The rules of one route: the pipeline's stages that depend on the route. (The cross-site
/// rule depends on the method alone.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Who may call it.
    pub auth: Auth,
    /// What body it reads.
    pub body: Body,
}

/// Stages 1 and 2: the cross-site rule, then the caller and their role where `auth` asks
/// for one.
pub async fn admit(
    auth: Auth,
    method: &Method,
    headers: &HeaderMap,
    peer: Option<Peer>,
    state: &ApiState,
) -> Result<Option<Caller>, ApiError> {
    check_same_origin(method, headers, over_tls(peer))?;
    if auth == Auth::ViewerOrScraper
        && let Some(presented) = bearer_token(headers)
    {
        return match &state.metrics_token {
            Some(token) if token.matches(presented) => Ok(None),
            _ => Err(ApiError::unauthorized("invalid metrics token")),
        };
    }
    match auth.required_role(method) {
        None => Ok(None),
        Some(needed) => {
            let caller = identify_caller(headers, peer, state).await?;
            authorize(&caller, needed)?;
            Ok(Some(caller))
        }
    }
}

/// Whether `caller` may call a route that needs `needed`: 403 `admin_required` for a viewer
/// asking for a change.
pub fn authorize(caller: &Caller, needed: Role) -> Result<(), ApiError> {
    if caller.role().allows(needed) {
        Ok(())
    } else {
        Err(ApiError::admin_required())
    }
}

fn over_tls(peer: Option<Peer>) -> bool {
    peer.is_some_and(|p| p.over_tls())
}

/// The authenticated caller: a Unix-socket peer with the right credentials (403 if its
/// credentials are refused), or a valid session cookie (401 if there is none or it is not
/// valid). A Unix peer whose credentials could not be read is treated like a TCP client.
pub async fn identify_caller(
    headers: &HeaderMap,
    peer: Option<Peer>,
    state: &ApiState,
) -> Result<Caller, ApiError> {
    if let Some(Peer::Unix(Some(cred))) = peer {
        return peer::authorize(cred).map_err(ApiError::forbidden);
    }
    let token = session_cookie(headers).ok_or_else(|| ApiError::unauthorized("log in first"))?;
    let user = state
        .store
        .session_user(hash_token(token), now_millis())
        .await?
        .ok_or_else(|| ApiError::unauthorized("session expired or invalid; log in again"))?;
    Ok(Caller::User {
        id: user.id,
        username: user.username,
        role: user.role,
    })
}

/// The session token from the `Cookie` header(s), if any; values that are not visible ASCII
/// are skipped.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME).then_some(value)
        })
}

/// Stage 3: the body `body` allows, from `stream`: empty for [`Body::None`] (the stream is not
/// polled), 415 `unsupported_media_type` for a JSON body without a JSON `Content-Type`, and
/// otherwise whatever [`collect_limited`] refuses.
pub async fn read_body<S, B, E>(
    body: Body,
    headers: &HeaderMap,
    stream: S,
) -> Result<Bytes, ApiError>
where
    S: futures::Stream<Item = Result<B, E>>,
    B: Buf,
    E: std::fmt::Display,
{
    let limit = match body {
        // Not in memory: `filters::serve` hands the stream to `Uploads::receive`.
        Body::None | Body::Upload => return Ok(Bytes::new()),
        Body::Json(limit) => {
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if !content_type.is_some_and(is_json_media_type) {
                return Err(ApiError::unsupported_media_type());
            }
            limit
        }
        Body::Bytes(limit) => limit,
    };
    collect_limited(declared_length(headers), stream, limit).await
}

/// The body length the request declares in `Content-Length`, if it is a number.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// `application/json`, any case, with or without parameters such as `charset`.
fn is_json_media_type(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// How long a client has, by default, to send a whole request body once its headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

tokio::task_local! {
    /// The body time of the listener serving the current request, set by
    /// `server::request_service` around each request so that [`collect_limited`] sees it on
    /// warp's routes and the forwarded route alike; [`BODY_TIMEOUT`] where unset.
    pub static BODY_TIME: Duration;
}

/// Collects a body of at most `limit` bytes: refused with 413 from the declared `length`
/// alone when it says so, otherwise as soon as the chunks that arrived pass the limit, and
/// with 408 when the whole body has not arrived within [`BODY_TIME`].
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
    let within = BODY_TIME.try_with(|t| *t).unwrap_or(BODY_TIMEOUT);
    let mut buf = BytesMut::new();
    collect_into(length, body, limit as u64, within, &mut buf).await?;
    Ok(buf.freeze())
}

/// Where [`collect_into`] puts a body: memory for the API's own routes, a staging file for an
/// upload.
pub trait BodySink: Send {
    /// Appends `part`.
    fn put(&mut self, part: &[u8])
    -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

impl BodySink for BytesMut {
    async fn put(&mut self, part: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(part);
        Ok(())
    }
}

impl BodySink for tokio::fs::File {
    async fn put(&mut self, part: &[u8]) -> std::io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(self, part).await
    }
}

/// The one body collector: puts at most `limit` bytes of `body` into `sink`, refusing with 413
/// from the declared `length` alone when it says so, otherwise as soon as the chunks that
/// arrived pass the limit, and with 408 when the whole body has not arrived `within`.
pub async fn collect_into<S, B, E, K>(
    length: Option<u64>,
    body: S,
    limit: u64,
    within: Duration,
    sink: &mut K,
) -> Result<(), ApiError>
where
    S: futures::Stream<Item = Result<B, E>>,
    B: Buf,
    E: std::fmt::Display,
    K: BodySink,
{
    let too_large = || ApiError::payload_too_large(usize::try_from(limit).unwrap_or(usize::MAX));
    if length.is_some_and(|l| l > limit) {
        return Err(too_large());
    }
    let collect = async {
        let mut body = std::pin::pin!(body);
        let mut received: u64 = 0;
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk
                .map_err(|e| ApiError::bad_request(format!("reading the body failed: {e}")))?;
            received += chunk.remaining() as u64;
            if received > limit {
                return Err(too_large());
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                sink.put(part).await.map_err(|e| ApiError::internal(&e))?;
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(())
    };
    tokio::time::timeout(within, collect)
        .await
        .unwrap_or_else(|_| Err(ApiError::request_timeout(within)))
}

/// The last step of every route: a handler's response, or its error (or a stage's) as
/// `{"error": …}` with its status.
pub fn respond(result: Result<warp::reply::Response, ApiError>) -> warp::reply::Response {
    result.unwrap_or_else(Reply::into_response)
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
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn chunks(parts: &[&'static [u8]]) -> impl futures::Stream<Item = Result<Bytes, String>> {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let with = |values: &[&'static str]| {
            let h = headers(&values.iter().map(|v| ("cookie", *v)).collect::<Vec<_>>());
            session_cookie(&h).map(str::to_owned)
        };
        assert_eq!(with(&["toru_session=abc"]).as_deref(), Some("abc"));
        assert_eq!(
            with(&["a=1; toru_session=abc; b=2"]).as_deref(),
            Some("abc")
        );
        assert_eq!(with(&["a=1", "toru_session=abc"]).as_deref(), Some("abc"));
        // A cookie whose name merely ends or starts the same way is not ours.
        assert_eq!(with(&["xtoru_session=abc; toru_session_old=d"]), None);
        assert_eq!(with(&[]), None);
    }

    #[tokio::test]
    async fn bodies_are_refused_by_type_then_size() {
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        let text = headers(&[("content-type", "text/plain")]);
        let code = |r: Result<Bytes, ApiError>| r.map_err(|e| (e.status.as_u16(), e.code));
        assert_eq!(
            code(read_body(Body::Json(4), &json, chunks(&[b"{}"])).await),
            Ok(Bytes::from_static(b"{}"))
        );
        assert_eq!(
            code(read_body(Body::Json(4), &text, chunks(&[b"{}"])).await),
            Err((415, toru_api::ErrorCode::UnsupportedMediaType))
        );
        // Counted as it arrives, without a Content-Length.
        assert_eq!(
            code(read_body(Body::Bytes(4), &text, chunks(&[b"abc", b"de"])).await),
            Err((413, toru_api::ErrorCode::PayloadTooLarge))
        );
        // Refused from the declared length before a byte is read.
        let declared = headers(&[("content-length", "5")]);
        assert_eq!(
            code(read_body(Body::Bytes(4), &declared, chunks(&[])).await),
            Err((413, toru_api::ErrorCode::PayloadTooLarge))
        );
        // A route that reads no body does not look at it.
        assert_eq!(
            code(read_body(Body::None, &declared, chunks(&[b"abcdef"])).await),
            Ok(Bytes::new())
        );
    }

    #[test]
    fn each_auth_asks_for_the_role_its_name_says() {
        use Auth::*;
        for method in [Method::GET, Method::HEAD] {
            assert_eq!(
                ViewerReadsAdminWrites.required_role(&method),
                Some(Role::Viewer)
            );
        }
        for method in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert_eq!(
                ViewerReadsAdminWrites.required_role(&method),
                Some(Role::Admin)
            );
        }
        assert_eq!(Anyone.required_role(&Method::POST), None);
        assert_eq!(Viewer.required_role(&Method::GET), Some(Role::Viewer));
        assert_eq!(Admin.required_role(&Method::GET), Some(Role::Admin));
    }

    #[test]
    fn viewers_may_read_and_only_admins_may_change() {
        let user = |role| Caller::User {
            id: 1,
            username: "u".into(),
            role,
        };
        let local = Caller::Local {
            uid: 1000,
            name: "alice".into(),
        };
        assert!(authorize(&user(Role::Viewer), Role::Viewer).is_ok());
        let refused = authorize(&user(Role::Viewer), Role::Admin).unwrap_err();
        assert_eq!(refused.code, toru_api::ErrorCode::AdminRequired);
        assert!(authorize(&user(Role::Admin), Role::Admin).is_ok());
        assert!(
            authorize(&local, Role::Admin).is_ok(),
            "the local socket is an admin"
        );
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/jsonx"));
    }
}
