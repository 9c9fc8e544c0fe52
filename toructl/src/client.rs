//! A small HTTP/1.1 client for the daemon's API, over its local Unix socket or TCP.
//!
//! One connection per request keeps it simple and is plenty for a command-line tool; the
//! follow endpoint streams its body as server-sent events.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpStream, UnixStream};
use toru_api::{CertFingerprint, ErrorBody, ErrorCode};

use crate::tls::{self, Trust};

/// Where the daemon is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The local socket; the peer's credentials authorise.
    Unix(PathBuf),
    /// `host:port` over plain HTTP; a session token authorises.
    Tcp(String),
    /// `host:port` over HTTPS (the daemon's `tls_listen`), accepting the certificates `Trust`
    /// accepts; a session token authorises.
    Https(String, Trust),
}

impl Endpoint {
    /// Parses `http://host:port[/]` or `https://host:port[/]` (an https one trusts the system's
    /// authorities until [`Endpoint::pinned`] says otherwise).
    pub fn from_url(url: &str) -> Result<Endpoint, String> {
        let (rest, https) = if let Some(rest) = url.strip_prefix("https://") {
            (rest, true)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (rest, false)
        } else {
            return Err(format!(
                "{url}: expected http://HOST:PORT or https://HOST:PORT"
            ));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("{url}: expected http(s)://HOST:PORT"));
        }
        let authority = authority.to_owned();
        Ok(if https {
            Endpoint::Https(authority, Trust::System)
        } else {
            Endpoint::Tcp(authority)
        })
    }

    /// The same endpoint accepting only the certificate with this fingerprint; an endpoint
    /// without TLS has no certificate to pin and is returned as it is.
    pub fn pinned(self, fingerprint: Option<CertFingerprint>) -> Endpoint {
        match (self, fingerprint) {
            (Endpoint::Https(authority, _), Some(pin)) => {
                Endpoint::Https(authority, Trust::Pinned(pin))
            }
            (endpoint, _) => endpoint,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp(authority) => write!(f, "http://{authority}"),
            Endpoint::Https(authority, _) => write!(f, "https://{authority}"),
        }
    }
}

/// What went wrong talking to the daemon. The CLI maps these to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon could not be reached at all.
    #[error("cannot reach the daemon at {endpoint}: {reason}")]
    Unreachable {
        /// Where we tried.
        endpoint: String,
        /// Why it failed.
        reason: String,
        /// The connect error's kind, when connecting failed: `PermissionDenied` on the socket
        /// means the caller may not use it, not that the daemon is down.
        kind: Option<std::io::ErrorKind>,
    },
    /// The daemon answered with an error.
    #[error("{message} ({status}, {})", code.map_or("unknown", ErrorCode::as_str))]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The error code from the body; `None` when the body was not the API's error body
        /// (a proxy's error page, or a code newer than this client).
        code: Option<ErrorCode>,
        /// The error message from the body.
        message: String,
        /// Seconds to wait before trying again, from a `Retry-After` header (429, 503).
        retry_after: Option<u64>,
    },
    /// The daemon's TLS certificate is not one this client trusts: no authority in the system's
    /// store signed it, or it is not the pinned one.
    #[error("the certificate of {endpoint} is not trusted: {reason}")]
    UntrustedCertificate {
        /// Where we tried.
        endpoint: String,
        /// What the TLS library said.
        reason: String,
    },
    /// The answer could not be understood.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The error for a connection to `endpoint` that failed with `error`: a certificate the
    /// client does not trust, or a daemon it could not reach.
    pub fn from_io(endpoint: &Endpoint, error: std::io::Error) -> ClientError {
        if let Some(reason) = tls::certificate_problem(&error) {
            ClientError::UntrustedCertificate {
                endpoint: endpoint.to_string(),
                reason,
            }
        } else {
            ClientError::Unreachable {
                endpoint: endpoint.to_string(),
                reason: error.to_string(),
                kind: Some(error.kind()),
            }
        }
    }
}

/// A raw response.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Response {
    /// The JSON answer of a 2xx response; any other status becomes [`ClientError::Api`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        if !self.status.is_success() {
            return Err(api_error(&self.status, &self.headers, &self.body));
        }
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

/// Talks to one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    session: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for `endpoint`, sending `session` as the session cookie when given.
    pub fn new(endpoint: Endpoint, session: Option<String>) -> Self {
        Client {
            endpoint,
            session,
            timeout: Duration::from_secs(60),
        }
    }

    /// The same client, waiting up to `timeout` for each answer instead of 60 s (an upgrade
    /// waits out the plugin's health window before it answers).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn describe(&self) -> String {
        self.endpoint.to_string()
    }

    /// Where this client sends its requests.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let unreachable =
            |reason: String, kind: Option<std::io::ErrorKind>| ClientError::Unreachable {
                endpoint: self.describe(),
                reason,
                kind,
            };
        let not_connected = |e| ClientError::from_io(&self.endpoint, e);
        let (io, host): (TokioIo<Box<dyn Io>>, String) = match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path).await.map_err(not_connected)?;
                (TokioIo::new(Box::new(stream)), "localhost".into())
            }
            Endpoint::Tcp(authority) => {
                let stream = TcpStream::connect(authority).await.map_err(not_connected)?;
                (TokioIo::new(Box::new(stream)), authority.clone())
            }
            Endpoint::Https(authority, trust) => {
                let stream = tls::connect(authority, *trust)
                    .await
                    .map_err(|e| ClientError::from_io(&self.endpoint, e))?;
                (TokioIo::new(Box::new(stream)), authority.clone())
            }
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| unreachable(e.to_string(), None))?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, host)
            .header(http::header::ACCEPT, "application/json");
        if let Some(token) = &self.session {
            request = request.header(http::header::COOKIE, format!("toru_session={token}"));
        }
        let typed = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !typed {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string(), None))
    }

    /// Sends a request and reads the whole answer, whatever its status.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        self.request(method, path, &[], body).await
    }

    /// Like [`Client::raw`], with extra headers sent after the defaults.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        let exchange = async {
            let response = self.send(method, path, headers, body).await?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(e.to_string()))?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Unreachable {
                endpoint: self.describe(),
                reason: format!("no answer within {:?}", self.timeout),
                kind: None,
            })?
    }

    /// Sends a request; a non-2xx answer becomes [`ClientError::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, ClientError> {
        let body = body.map(|b| b.to_string().into_bytes());
        successful(self.raw(method, path, body).await?)
    }

    /// `GET` and parse JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&response.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// A request with a JSON body, parsing a JSON answer (`null` for an empty one).
    pub async fn send_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = self.call(method, path, Some(&body)).await?;
        let bytes: &[u8] = if response.body.is_empty() {
            b"null"
        } else {
            &response.body
        };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// A request with a body of `content_type` sent as is, parsing a JSON answer.
    pub async fn send_bytes<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let headers = [(http::header::CONTENT_TYPE.as_str(), content_type)];
        let response = successful(self.request(method, path, &headers, Some(body)).await?)?;
        serde_json::from_slice(&response.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Streams a server-sent-events endpoint, calling `on_event` with each event's data until
    /// the stream ends or `on_event` returns false.
    pub async fn follow(
        &self,
        path: &str,
        mut on_event: impl FnMut(&str) -> bool,
    ) -> Result<(), ClientError> {
        let response = self.send(Method::GET, path, &[], None).await?;
        if !response.status().is_success() {
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(api_error(&status, &headers, &body));
        }
        let mut body = response.into_body();
        let mut pending = String::new();
        while let Some(frame) = body.frame().await {
            // The connection broke mid-stream: the daemon went away (stopped or restarted).
            let frame = frame.map_err(|e| ClientError::Unreachable {
                endpoint: self.describe(),
                reason: format!("the stream broke: {e}"),
                kind: None,
            })?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.push_str(&String::from_utf8_lossy(data));
            while let Some(end) = pending.find("\n\n") {
                let event: String = pending.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() && !on_event(&data.join("\n")) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The response if its status is 2xx, else its [`ClientError::Api`].
fn successful(response: Response) -> Result<Response, ClientError> {
    if response.status.is_success() {
        Ok(response)
    } else {
        Err(api_error(
            &response.status,
            &response.headers,
            &response.body,
        ))
    }
}

/// The error a non-2xx answer stands for: the API's error body when it is one, else the body as
/// text.
fn api_error(status: &StatusCode, headers: &http::HeaderMap, body: &[u8]) -> ClientError {
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (Some(e.error.code), e.error.message),
        Err(_) => (None, String::from_utf8_lossy(body).into_owned()),
    };
    ClientError::Api {
        status: *status,
        code,
        message,
        retry_after,
    }
}

/// What hyper needs of either kind of stream.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            Endpoint::from_url("http://127.0.0.1:7070"),
            Ok(Endpoint::Tcp("127.0.0.1:7070".into()))
        );
        assert_eq!(
            Endpoint::from_url("http://host:1/"),
            Ok(Endpoint::Tcp("host:1".into()))
        );
        assert_eq!(
            Endpoint::from_url("https://host:1"),
            Ok(Endpoint::Https("host:1".into(), Trust::System))
        );
        assert!(Endpoint::from_url("http://host:1/path").is_err());
        assert!(Endpoint::from_url("host:1").is_err());
    }
}
