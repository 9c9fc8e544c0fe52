//! Reusable request filters: shared state, who is calling, cross-site protection, the Host
//! allow-list, bounded bodies (in size and in time) and JSON bodies.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    // Only the four headers it needs, not a clone of the whole map: this runs on every
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
        .and(header("x-forwarded-proto"))
        .and_then(
            |method: Method,
             site: Option<String>,
             origin: Option<String>,
             host: Option<String>,
             proto: Option<String>| async move {
                check_same_origin(
                    &method,
                    site.as_deref(),
                    origin.as_deref(),
                    host.as_deref(),
                    proto.as_deref(),
                )
                .map_err(warp::reject::custom)
            },
        )
        .untuple_one()
}

/// The check behind [`same_origin`], on the method and the header values (absent if not
/// visible ASCII), also for the forwarded route, which is served outside warp. Reads (`GET`,
/// `HEAD`, `OPTIONS`) pass. An `Origin` must be this server's own: `http://` and the `Host`
/// header, or `https://` and the `Host` when a TLS proxy in front says so with
/// `X-Forwarded-Proto: https` (`proto`); scheme, host and port all count.
pub fn check_same_origin(
    method: &Method,
    site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
    proto: Option<&str>,
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
        let scheme = if proto.is_some_and(|p| p.eq_ignore_ascii_case("https")) {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let host = host.unwrap_or("");
        if !same_origin_as(origin, scheme, host) {
            return Err(ApiError::forbidden(format!(
                "cross-site request refused (origin {origin} is not {}{host})",
                scheme.prefix()
            )));
        }
    }
    Ok(())
}

/// The two schemes a browser can reach the API with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn prefix(self) -> &'static str {
        match self {
            Scheme::Http => "http://",
            Scheme::Https => "https://",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Whether `origin` (`scheme://host[:port]`, as browsers send it) is `scheme` with the host
/// and port of the `Host` header `host`, a missing port meaning the scheme's default.
fn same_origin_as(origin: &str, scheme: Scheme, host: &str) -> bool {
    let Some(authority) = origin
        .get(..scheme.prefix().len())
        .filter(|p| p.eq_ignore_ascii_case(scheme.prefix()))
        .map(|_| &origin[scheme.prefix().len()..])
    else {
        return false;
    };
    match (split_authority(authority), split_authority(host)) {
        (Some((origin_name, origin_port)), Some((host_name, host_port))) => {
            let port = |p: Option<u16>| p.unwrap_or(scheme.default_port());
            origin_name.eq_ignore_ascii_case(host_name) && port(origin_port) == port(host_port)
        }
        _ => false,
    }
}

/// `name[:port]` or `[v6][:port]` split into the name (brackets kept) and the port; `None`
/// when it is empty or the port is not a number.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = match authority.rfind(':') {
        // A colon inside `[…]` belongs to an IPv6 address.
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    (!name.is_empty()).then_some((name, port))
}

/// The host names a TCP listener answers to, so that a page on another name cannot reach the
/// API by pointing that name at 127.0.0.1 (DNS rebinding). Only the name counts, not the port:
/// a tunnel (`ssh -L 8080:127.0.0.1:7070`) makes the browser send `Host: localhost:8080`, and
/// rebinding is defeated by the name alone.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    /// Lower-case names, IPv6 addresses in brackets.
    names: Vec<String>,
}

impl AllowedHosts {
    /// `localhost`, `127.0.0.1`, `[::1]`, the addresses the listener is bound to, and the
    /// configured `extra` names (host names or IP addresses, any case, IPv6 with or without
    /// brackets).
    pub fn new<'a>(
        listening: impl IntoIterator<Item = SocketAddr>,
        extra: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        for addr in listening {
            names.push(normalize_host_name(&addr.ip().to_string()));
        }
        for name in extra {
            names.push(normalize_host_name(name));
        }
        names.sort();
        names.dedup();
        AllowedHosts { names }
    }

    /// Refuses a request whose `Host` header names another host with 421 `unknown_host`. A
    /// request without a `Host` is no browser's and passes.
    pub fn check(&self, host: Option<&http::HeaderValue>) -> Result<(), ApiError> {
        let Some(host) = host else {
            return Ok(());
        };
        let name = host
            .to_str()
            .ok()
            .and_then(split_authority)
            .map(|(name, _)| normalize_host_name(name));
        match name {
            Some(name) if self.names.contains(&name) => Ok(()),
            _ => Err(ApiError::new(
                http::StatusCode::MISDIRECTED_REQUEST,
                toru_api::ErrorCode::UnknownHost,
                format!(
                    "this server does not answer to Host {}; add the name to allowed_hosts",
                    String::from_utf8_lossy(host.as_bytes())
                        .chars()
                        .take(MAX_LOGGED_HOST)
                        .collect::<String>()
                ),
            )),
        }
    }
}

/// The most of a refused `Host` header repeated in the error message.
const MAX_LOGGED_HOST: usize = 100;

/// Lower case, without a trailing dot, IPv6 addresses in brackets.
fn normalize_host_name(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.contains(':') && !name.starts_with('[') {
        format!("[{name}]")
    } else {
        name
    }
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

/// How long a client has, by default, to send a whole request body once its headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

tokio::task_local! {
    /// The body time of the listener serving the current request, set by
    /// `server::request_service` around each request so that [`collect_limited`] sees it on
    /// warp's routes and the forwarded route alike; [`BODY_TIMEOUT`] where unset.
    pub static BODY_TIME: Duration;
}

/// A JSON body of at most `limit` bytes: `Content-Type: application/json` (else 415
/// `unsupported_media_type`), within the size (413 `payload_too_large`) and the body time
/// (408), and well-formed JSON of the right shape — no wrong types, missing or duplicate fields
/// (else 400 `invalid_json`, the message saying what and where). Every refusal is an
/// [`ApiError`], so `recover` answers it rather than "method not allowed".
pub fn json_body<T: serde::de::DeserializeOwned + Send>(
    limit: usize,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    let content_type = warp::header::optional::<String>("content-type")
        .or(warp::any().map(|| None))
        .unify();
    content_type
        .and_then(|content_type: Option<String>| async move {
            if content_type.as_deref().is_some_and(is_json_media_type) {
                Ok(())
            } else {
                Err(warp::reject::custom(ApiError::unsupported_media_type()))
            }
        })
        .untuple_one()
        .and(body_limited(limit))
        .and_then(|body: Bytes| async move {
            serde_json::from_slice(&body)
                .map_err(|e| warp::reject::custom(ApiError::invalid_json(e)))
        })
}

/// `application/json`, any case, with or without parameters such as `charset`.
fn is_json_media_type(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Collects a body of at most `limit` bytes: refused with 413 from the declared `length`
/// alone when it says so, otherwise as soon as the chunks that arrived pass the limit, and
/// with 408 when the whole body has not arrived within [`BODY_TIME`]. Shared by warp's routes
/// and the forwarded route, which reads hyper's body directly.
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
    let within = BODY_TIME.try_with(|t| *t).unwrap_or(BODY_TIMEOUT);
    let collect = async {
        let mut body = std::pin::pin!(body);
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk
                .map_err(|e| ApiError::bad_request(format!("reading the body failed: {e}")))?;
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
    };
    tokio::time::timeout(within, collect)
        .await
        .unwrap_or_else(|_| Err(ApiError::request_timeout(within)))
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
            header("x-forwarded-proto"),
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
            // Another scheme, port or host with the same prefix.
            headers(&[
                ("host", "localhost:7070"),
                ("origin", "https://localhost:7070"),
            ]),
            headers(&[
                ("host", "localhost:7070"),
                ("origin", "ftp://localhost:7070"),
            ]),
            headers(&[
                ("host", "localhost:7070"),
                ("origin", "http://localhost:7071"),
            ]),
            headers(&[("host", "localhost"), ("origin", "http://localhost.evil")]),
            headers(&[
                ("host", "localhost:7070"),
                ("origin", "https://localhost:7070"),
                ("x-forwarded-proto", "http"),
            ]),
        ] {
            assert!(check_post(&bad).is_err(), "{bad:?}");
        }
        // Default ports may be written or left out; a TLS proxy makes the origin https.
        for ok in [
            headers(&[("host", "example.org:80"), ("origin", "http://example.org")]),
            headers(&[("host", "[::1]:7070"), ("origin", "http://[::1]:7070")]),
            headers(&[
                ("host", "toru.example"),
                ("origin", "https://toru.example"),
                ("x-forwarded-proto", "https"),
            ]),
        ] {
            assert!(check_post(&ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn only_known_host_names_pass() {
        let hosts = AllowedHosts::new(
            ["192.0.2.7:7070".parse().unwrap()],
            ["Toru.Example.", "fe80::1"],
        );
        let check = |h: &str| hosts.check(Some(&http::HeaderValue::from_str(h).unwrap()));
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:7070",
            "[::1]:7070",
            "192.0.2.7:1",
            "toru.example",
            "toru.example.:443",
            "[fe80::1]",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "127.0.0.2",
            "",
            ":7070",
            "localhost:x",
        ] {
            let e = check(bad).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (421, toru_api::ErrorCode::UnknownHost),
                "{bad}"
            );
        }
        assert!(hosts.check(None).is_ok());
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/jsonx"));
    }
}
