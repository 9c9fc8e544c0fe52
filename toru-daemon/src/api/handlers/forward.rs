//! Forwarding requests for `/api/plugins/:id/route/<path>` to the plugin, and its answer back.
//!
//! This is the hot path (every plugin call), so it is served straight from hyper's request
//! rather than through warp's filter chain: [`route_target`] recognises the path and [`serve`]
//! runs the same pipeline functions a warp route runs (`api/pipeline.rs`: cross-site rule,
//! caller, bounded body) under this route's [`POLICY`], on the request's own parts, without
//! copying them. In the forwarding benchmark warp's filter chain and its boxed futures cost
//! more than the whole hop to the plugin.
//!
//! Both directions are sanitised: hop-by-hop headers never cross, the dashboard's session
//! cookie is not shown to plugins, a plugin cannot set cookies on the dashboard's origin, and a
//! plugin's invalid status or headers (a lying or malicious plugin: CR/LF injection, bad
//! names) become a 502 or are dropped instead of reaching the client. Every answer a plugin
//! gives carries `Content-Security-Policy: sandbox` besides any policy of its own
//! ([`csp::PLUGIN_RESPONSE_POLICY`]), so a page it serves never runs script as the dashboard.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;

use crate::api::{ApiState, csp};
use toru_api::ErrorCode;

use crate::api::error::{ApiError, license_refusal};
use crate::api::pipeline::{self, Auth, Body, Peer, Policy};
use crate::auth::Caller;
use crate::plugins::ForwardError;
use toru_plugin_api::{HttpRequest, HttpResponse};

/// What the pipeline checks of a forwarded request: a caller (a viewer may GET and HEAD, any
/// other method needs an administrator), and a body of at most [`MAX_FORWARD_BODY`]; the
/// route table's row for the forwarded route says the same.
pub const POLICY: Policy = Policy {
    auth: Auth::ViewerReadsAdminWrites,
    body: Body::Bytes(MAX_FORWARD_BODY),
};

// Every method of the forwarded route has a caller, which `forward` passes to the plugin.
const _: () = assert!(!matches!(POLICY.auth, Auth::Anyone));

/// Largest request body forwarded. Base64 makes it a third larger on the wire, which must stay
/// under the 8 MiB frame limit.
pub const MAX_FORWARD_BODY: usize = 4 * 1024 * 1024;

/// Most response headers a plugin may send; more is a 502. hyper's `HeaderMap` panics past
/// 32,768 entries, and no real response needs more than a few dozen.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// Most bytes of response header names and values a plugin may send, all headers together;
/// more is a 502. The same order as the header limits of common HTTP servers and clients.
pub const MAX_RESPONSE_HEADER_BYTES: usize = 64 * 1024;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus ones that
/// must not cross between the dashboard and a plugin.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// The plugin id and the path the plugin sees (`/` plus the rest) when `path` is a forwarded
/// route, `/api/plugins/<id>/route[/<rest>]`. The id is percent-decoded, as a path parameter
/// is everywhere else in the API; the rest is passed on as sent.
pub fn route_target(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/api/plugins/")?;
    let (id, rest) = rest.split_once('/')?;
    let tail = match rest.strip_prefix("route")? {
        "" => "",
        tail => tail.strip_prefix('/')?,
    };
    let id = percent_decode_str(id).decode_utf8().ok()?;
    (!id.is_empty()).then(|| (id.into_owned(), format!("/{tail}")))
}

/// The request as the plugin sees it; `path` already starts with `/`.
pub fn to_plugin_request(
    method: &Method,
    path: String,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
    caller: &Caller,
) -> HttpRequest {
    let headers = headers
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str()) && *name != http::header::COOKIE)
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    HttpRequest {
        method: method.as_str().to_owned(),
        path,
        query: query.unwrap_or_default().to_owned(),
        headers,
        body: body.into(),
        user: Some(caller.name().to_owned()),
    }
}

/// Refuses a forwarded path a plugin could mistake for another one: empty, `.` or `..`
/// segments (also percent-encoded), an encoded `/` or `\\`, or a first segment that decodes to
/// `_toru` in any letter case — the daemon's own channel to the plugin. What passes reaches the
/// plugin exactly as sent (still percent-encoded), so it is the one spelling of its route.
pub fn check_forward_path(path: &str) -> Result<(), ApiError> {
    let bad = |why: &str| {
        Err(ApiError::new(
            ErrorCode::BadPath,
            format!("refused path {path:?}: {why}"),
        ))
    };
    let Some(rest) = path.strip_prefix('/') else {
        return bad("it does not start with /");
    };
    if rest.is_empty() {
        return Ok(());
    }
    // A trailing `/` is an ordinary path (`/items/`); empty segments elsewhere are not.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    for (index, segment) in rest.split('/').enumerate() {
        if segment.is_empty() {
            return bad("it has an empty segment");
        }
        // Decoded on the fly, without allocating: this runs for every forwarded request.
        if percent_decode_str(segment).any(|b| b == b'/' || b == b'\\') {
            return bad("it has an encoded / or \\");
        }
        if decodes_to(segment, b".") || decodes_to(segment, b"..") {
            return bad("it has a . or .. segment");
        }
        if index == 0 && decodes_to(segment, b"_toru") {
            return Err(ApiError::not_found("no such route"));
        }
    }
    Ok(())
}

/// Whether `segment`, percent-decoded, is `word` in any ASCII letter case.
fn decodes_to(segment: &str, word: &[u8]) -> bool {
    let mut decoded = percent_decode_str(segment);
    word.iter()
        .all(|w| decoded.next().is_some_and(|b| b.eq_ignore_ascii_case(w)))
        && decoded.next().is_none()
}

/// The client's response, or why the plugin's answer was unusable.
pub fn from_plugin_response(
    plugin_id: &str,
    response: HttpResponse,
) -> Result<warp::reply::Response, ApiError> {
    let header_bytes: usize = response
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    if response.headers.len() > MAX_RESPONSE_HEADERS || header_bytes > MAX_RESPONSE_HEADER_BYTES {
        tracing::warn!(
            plugin = plugin_id,
            headers = response.headers.len(),
            bytes = header_bytes,
            "plugin sent too many response headers"
        );
        return Err(ApiError::new(
            ErrorCode::PluginError,
            format!(
                "plugin {plugin_id} answered with {} headers of {header_bytes} bytes; at most \
                 {MAX_RESPONSE_HEADERS} headers of {MAX_RESPONSE_HEADER_BYTES} bytes are allowed",
                response.headers.len()
            ),
        ));
    }
    let status = StatusCode::from_u16(response.status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .ok_or_else(|| {
            tracing::warn!(
                plugin = plugin_id,
                status = response.status,
                "plugin sent an invalid status"
            );
            ApiError::new(
                ErrorCode::PluginError,
                format!(
                    "plugin {plugin_id} answered with invalid status {}",
                    response.status
                ),
            )
        })?;
    let mut out = warp::reply::Response::new(response.body.into());
    *out.status_mut() = status;
    for (name, value) in response.headers {
        let lower = name.to_ascii_lowercase();
        if is_hop_by_hop(&lower) || lower == "set-cookie" {
            continue;
        }
        match (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                out.headers_mut().append(name, value);
            }
            _ => tracing::warn!(
                plugin = plugin_id,
                header = name,
                "dropped an invalid header from a plugin"
            ),
        }
    }
    csp::sandbox_plugin_response(out.headers_mut());
    Ok(out)
}

/// A forwarded request admitted without a caller: impossible while [`POLICY`] asks for one
/// for every method, which the assertion under it checks when compiling.
#[derive(Debug, thiserror::Error)]
#[error("the forwarded route admitted a request without a caller")]
struct NoCaller;

/// `ANY /api/plugins/{id}/route/{path}`, from [`route_target`]'s `id` and `path`; `peer` is
/// who is on the other end of the connection.
pub async fn serve(
    state: &ApiState,
    request: http::Request<Incoming>,
    peer: Peer,
    id: String,
    path: String,
) -> warp::reply::Response {
    pipeline::respond(forward(state, request, peer, id, path).await)
}

async fn forward(
    state: &ApiState,
    request: http::Request<Incoming>,
    peer: Peer,
    id: String,
    path: String,
) -> Result<warp::reply::Response, ApiError> {
    let (parts, body) = request.into_parts();
    let caller = pipeline::admit(
        POLICY.auth,
        &parts.method,
        &parts.headers,
        Some(peer),
        state,
    )
    .await?
    .ok_or_else(|| ApiError::internal(&NoCaller))?;
    // `/_toru/…` is the daemon's own channel to the plugin, not a route a client may call;
    // other spellings of it, and paths with `.`/`..` or empty segments, are refused too.
    check_forward_path(&path)?;
    let body = pipeline::read_body(POLICY.body, &parts.headers, body.into_data_stream()).await?;
    let request = to_plugin_request(
        &parts.method,
        path,
        parts.uri.query(),
        &parts.headers,
        body,
        &caller,
    );
    let (result, meter) = state.plugins.forward_metered(&id, request).await;
    let answer = match result {
        // The same body a plugin's own licence refusal has, with the failure kind.
        Err(ForwardError::Unlicensed(refusal)) => {
            from_plugin_response(&id, license_refusal(&refusal))
        }
        Err(other) => Err(other.into()),
        Ok(response) => from_plugin_response(&id, response),
    };
    if let Some(meter) = meter {
        meter.finish(match &answer {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.status.as_u16(),
        });
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: b"body".to_vec(),
        }
    }

    #[test]
    fn a_lying_plugins_response_is_refused_or_cleaned() {
        // Statuses outside 200–599 (informational, or not HTTP at all) are a 502.
        for status in [0, 99, 101, 600, 999] {
            let err = from_plugin_response("p", response(status, &[])).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_GATEWAY, "{status}");
        }
        let out = from_plugin_response(
            "p",
            response(
                201,
                &[
                    ("X-Fine", "yes"),
                    ("x-injected", "a\r\nset-cookie: evil=1"), // CR/LF injection: dropped
                    ("bad name", "x"),                         // not a header name: dropped
                    ("Set-Cookie", "toru_session=stolen"),     // cookies on our origin: dropped
                    ("transfer-encoding", "chunked"),          // hop-by-hop: dropped
                    ("x-fine", "again"),
                ],
            ),
        )
        .unwrap();
        assert_eq!(out.status(), StatusCode::CREATED);
        let names: Vec<&str> = out.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-fine", "content-security-policy"]);
        assert_eq!(out.headers().get_all("x-fine").iter().count(), 2);
    }

    #[test]
    fn too_many_or_too_large_response_headers_are_a_502_not_a_panic() {
        // Over 32,768 headers made `HeaderMap` panic ("size overflows MAX_SIZE").
        let many: Vec<(String, String)> = (0..40_000)
            .map(|i| (format!("x-h{i}"), "v".to_owned()))
            .collect();
        let huge = vec![("x-big".to_owned(), "v".repeat(MAX_RESPONSE_HEADER_BYTES))];
        let at_limit: Vec<(String, String)> = (0..MAX_RESPONSE_HEADERS)
            .map(|i| (format!("x-h{i}"), "v".to_owned()))
            .collect();
        for (case, headers) in [("40,000 headers", many), ("one 64 KiB header", huge)] {
            let response = HttpResponse {
                status: 200,
                headers,
                body: Vec::new(),
            };
            let err = from_plugin_response("p", response).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_GATEWAY, "{case}");
            assert_eq!(err.code, toru_api::ErrorCode::PluginError, "{case}");
            assert!(err.message.contains("headers"), "{case}: {}", err.message);
        }
        let response = HttpResponse {
            status: 200,
            headers: at_limit,
            body: Vec::new(),
        };
        let out = from_plugin_response("p", response).unwrap();
        // The plugin's headers, and the daemon's policy.
        assert_eq!(out.headers().len(), MAX_RESPONSE_HEADERS + 1);
    }

    #[test]
    fn ambiguous_paths_and_spellings_of_the_reserved_prefix_are_refused() {
        // (path, expected status; None = forwarded)
        let cases: &[(&str, Option<u16>)] = &[
            ("/", None),
            ("/a/b", None),
            ("/a/b/", None),
            ("/a%20b", None),
            ("/x/_toru/y", None), // only the first segment is reserved
            ("/_torux", None),
            ("/.well-known/x", None),
            ("/_toru", Some(404)),
            ("/_toru/bundle.js", Some(404)),
            ("/_TORU/bundle.js", Some(404)),
            ("/%5Ftoru/bundle.js", Some(404)),
            ("/%5f%54oru/", Some(404)),
            ("//_toru/bundle.js", Some(400)),
            ("/x/../_toru/bundle.js", Some(400)),
            ("/x/%2e%2e/_toru/bundle.js", Some(400)),
            ("/x/%2E/y", Some(400)),
            ("/./_toru", Some(400)),
            ("/a//b", Some(400)),
            ("/a%2fb", Some(400)),
            ("/a%5Cb", Some(400)),
            ("/..", Some(400)),
        ];
        for (path, expected) in cases {
            let got = check_forward_path(path).err().map(|e| e.status.as_u16());
            assert_eq!(got, *expected, "{path}");
        }
        assert_eq!(
            check_forward_path("/a//b").unwrap_err().code,
            toru_api::ErrorCode::BadPath
        );
    }

    #[test]
    fn forwarded_route_paths_are_recognised() {
        let target = |path| route_target(path);
        let some = |id: &str, path: &str| Some((id.to_owned(), path.to_owned()));
        assert_eq!(target("/api/plugins/p/route/a/b"), some("p", "/a/b"));
        assert_eq!(target("/api/plugins/p/route/"), some("p", "/"));
        assert_eq!(target("/api/plugins/p/route"), some("p", "/"));
        // The rest stays percent-encoded for the plugin; the id is decoded like any parameter.
        assert_eq!(target("/api/plugins/p/route/a%20b"), some("p", "/a%20b"));
        assert_eq!(target("/api/plugins/h%65llo/route/x"), some("hello", "/x"));
        // Not forwarded: other plugin routes, look-alike segments, no id, an id that is not
        // UTF-8 once decoded.
        for other in [
            "/api/plugins/p/kv/route",
            "/api/plugins/p/routes/x",
            "/api/plugins/p/router",
            "/api/plugins/p",
            "/api/plugins//route/x",
            "/api/plugins/%ff/route/x",
            "/api/pluginsx/p/route/x",
            "/route/x",
        ] {
            assert_eq!(target(other), None, "{other}");
        }
    }

    #[test]
    fn requests_lose_cookies_and_hop_by_hop_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "toru_session=abc".parse().unwrap());
        headers.insert("connection", "keep-alive".parse().unwrap());
        headers.insert("x-kept", "1".parse().unwrap());
        let caller = Caller::User {
            id: 1,
            username: "ada".into(),
            role: toru_api::Role::Viewer,
        };
        let req = to_plugin_request(
            &Method::GET,
            "/a/b".into(),
            Some("q=1"),
            &headers,
            Bytes::new(),
            &caller,
        );
        assert_eq!(req.path, "/a/b");
        assert_eq!(req.query, "q=1");
        assert_eq!(req.headers, vec![("x-kept".to_string(), "1".to_string())]);
        assert_eq!(req.user.as_deref(), Some("ada"));
    }
}
