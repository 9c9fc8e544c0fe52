//! A hostile HTTP client: hand-written requests over TCP from a chosen loopback address, so
//! tests can send what `toructl` never would (bad bodies, odd headers, nothing at all) and
//! look like many clients.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long any raw exchange may take before the test fails.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body as sent (responses here are never chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "{}: not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        });
        v["error"]["code"].as_str().unwrap_or("").to_owned()
    }
}

/// `127.0.<n / 250>.<n % 250 + 2>`: a distinct loopback address per `n`, never 127.0.0.1.
pub fn loopback(n: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (n / 250) as u8, (n % 250 + 2) as u8)
}

/// Connects to `addr` from `source` (any port), or from the default address.
pub async fn connect_from(addr: SocketAddr, source: Option<Ipv4Addr>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(source) = source {
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
    }
    socket.connect(addr).await.unwrap()
}

/// Sends `request` as is and reads the answer up to the end of the connection (requests
/// should say `Connection: close`).
pub async fn exchange_from(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    request: &[u8],
) -> RawResponse {
    let mut stream = connect_from(addr, source).await;
    stream.write_all(request).await.unwrap();
    read_response(&mut stream).await
}

/// [`exchange_from`] from the default address.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    exchange_from(addr, None, request).await
}

/// Reads one response until the server closes the connection.
pub async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut bytes = Vec::new();
    tokio::time::timeout(ANSWER_WITHIN, stream.read_to_end(&mut bytes))
        .await
        .expect("an answer in time")
        .expect("reading the answer");
    parse(&bytes)
}

/// Parses a whole response.
pub fn parse(bytes: &[u8]) -> RawResponse {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    }
}

/// A complete request with `Connection: close`; `headers` are extra lines without CRLF.
pub fn request(method: &str, path: &str, host: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON `POST` to `path` with `Host: 127.0.0.1:<port>`, plus `headers`.
pub fn json_post(addr: SocketAddr, path: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut all = vec!["content-type: application/json"];
    all.extend_from_slice(headers);
    request("POST", path, &addr.to_string(), &all, body.as_bytes())
}

/// Waits until the server closes `stream` (a read returns end of file or an error), failing
/// the test after `within`. Returns whatever the server sent before closing.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut seen = Vec::new();
    let result = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "the server kept the connection open for {within:?} (sent {:?})",
        String::from_utf8_lossy(&seen)
    );
    seen
}
