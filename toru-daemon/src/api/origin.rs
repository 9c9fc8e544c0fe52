//! Where a request comes from: the cross-site rule for state-changing requests and the Host
//! allow-list of TCP listeners (against DNS rebinding). Pure functions of the request's
//! headers, so every route applies them the same way (`pipeline.rs`, `server.rs`).

use std::net::SocketAddr;

use http::{HeaderMap, Method};

use toru_api::ErrorCode;

use super::error::ApiError;

/// The cross-site rule: refuses a state-changing request that a browser marked as cross-site.
/// The session cookie is `SameSite=Strict` already; this is the second lock. Reads (`GET`,
/// `HEAD`, `OPTIONS`) pass. A `Sec-Fetch-Site` must be `same-origin` or `none`; an `Origin`
/// must be this server's own: `http://` and the `Host` header, or `https://` and the `Host`
/// when the request came through the daemon's TLS listener (`over_tls`) or a TLS proxy in front
/// says so with `X-Forwarded-Proto: https`; scheme, host and port all count. A header value that
/// is not visible ASCII counts as absent.
pub fn check_same_origin(
    method: &Method,
    headers: &HeaderMap,
    over_tls: bool,
) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    // Four lookups, no copies: this runs on every forwarded request.
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (site, origin) = (header("sec-fetch-site"), header("origin"));
    let (host, proto) = (header("host"), header("x-forwarded-proto"));
    if let Some(site) = site
        && !matches!(site, "same-origin" | "none")
    {
        return Err(ApiError::forbidden(format!(
            "cross-site request refused ({site})"
        )));
    }
    if let Some(origin) = origin {
        let scheme = if over_tls || proto.is_some_and(|p| p.eq_ignore_ascii_case("https")) {
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
                ErrorCode::UnknownHost,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check_post(headers: &HeaderMap) -> Result<(), ApiError> {
        check_same_origin(&Method::POST, headers, false)
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
    fn on_the_tls_listener_the_origin_is_https() {
        let tls_post = |h: &HeaderMap| check_same_origin(&Method::POST, h, true);
        let host = ("host", "toru.example:7443");
        assert!(tls_post(&headers(&[host, ("origin", "https://toru.example:7443")])).is_ok());
        for bad in [
            "http://toru.example:7443",
            "https://toru.example:7444",
            "https://evil.example:7443",
        ] {
            let h = headers(&[host, ("origin", bad)]);
            assert!(tls_post(&h).is_err(), "{bad}");
        }
        // A client's X-Forwarded-Proto cannot make the TLS listener's origin http.
        let h = headers(&[
            host,
            ("origin", "http://toru.example:7443"),
            ("x-forwarded-proto", "http"),
        ]);
        assert!(tls_post(&h).is_err());
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
                (421, ErrorCode::UnknownHost),
                "{bad}"
            );
        }
        assert!(hosts.check(None).is_ok());
    }
}
