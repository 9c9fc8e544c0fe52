//! Forwarding requests for `/api/plugins/:id/route/<path>` to the plugin, and its answer back.
//!
//! Both directions are sanitised: hop-by-hop headers never cross, the dashboard's session
//! cookie is not shown to plugins, a plugin cannot set cookies on the dashboard's origin, and a
//! plugin's invalid status or headers (a lying or malicious plugin: CR/LF injection, bad
//! names) become a 502 or are dropped instead of reaching the client.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use warp::Reply;

use super::ApiResult;
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::auth::Caller;
use crate::plugins::ForwardError;
use toru_plugin_api::{HttpRequest, HttpResponse, license_error_body};

/// Largest request body forwarded. Base64 makes it a third larger on the wire, which must stay
/// under the 8 MiB frame limit.
pub const MAX_FORWARD_BODY: usize = 4 * 1024 * 1024;

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

/// The request as the plugin sees it.
pub fn to_plugin_request(
    method: &Method,
    tail: &str,
    query: Option<String>,
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
        path: format!("/{tail}"),
        query: query.unwrap_or_default(),
        headers,
        body: body.to_vec(),
        user: Some(caller.name().to_owned()),
    }
}

/// The client's response, or why the plugin's answer was unusable.
pub fn from_plugin_response(
    plugin_id: &str,
    response: HttpResponse,
) -> Result<warp::reply::Response, ApiError> {
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
                StatusCode::BAD_GATEWAY,
                "plugin_error",
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
    Ok(out)
}

/// `ANY /api/plugins/:id/route/<tail>`.
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    state: ApiState,
    id: String,
    tail: warp::path::Tail,
    method: Method,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    caller: Caller,
) -> ApiResult {
    // `/_toru/…` is the daemon's own channel to the plugin, not a route a client may call.
    if tail.as_str().starts_with("_toru/") || tail.as_str() == "_toru" {
        return Err(ApiError::not_found("no such route"));
    }
    let request = to_plugin_request(&method, tail.as_str(), query, &headers, body, &caller);
    let response = match state.plugins.forward(&id, request).await {
        // The same body a plugin's own licence refusal has, with the failure kind.
        Err(ForwardError::Unlicensed {
            status,
            kind,
            message,
        }) => HttpResponse::json(status, &license_error_body(&kind, &message)),
        other => other?,
    };
    Ok(from_plugin_response(&id, response)?.into_response())
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
        assert_eq!(names, ["x-fine"]);
        assert_eq!(out.headers().get_all("x-fine").iter().count(), 2);
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
        };
        let req = to_plugin_request(
            &Method::GET,
            "a/b",
            Some("q=1".into()),
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
