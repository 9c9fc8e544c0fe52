//! A keep-alive HTTP/1.1 client connection over TCP or a Unix socket, for the drivers' own
//! request loops (toructl's client opens a connection per request, which would be measured too).

use std::path::Path;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

/// Where the daemon's API is.
#[derive(Debug, Clone)]
pub enum Target {
    /// `127.0.0.1:PORT`.
    Tcp(String),
    /// The local API socket.
    Unix(std::path::PathBuf),
}

impl Target {
    /// `--url host:port` wins over `--socket PATH`.
    pub fn new(url: Option<String>, socket: Option<&Path>) -> anyhow::Result<Target> {
        match (url, socket) {
            (Some(url), _) => Ok(Target::Tcp(url)),
            (None, Some(path)) => Ok(Target::Unix(path.to_owned())),
            (None, None) => anyhow::bail!("give --url or --socket"),
        }
    }
}

/// One open connection; requests on it go one after another.
pub struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    cookie: Option<String>,
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

impl Conn {
    /// Opens a connection; `token` is sent as the session cookie.
    pub async fn open(target: &Target, token: Option<&str>) -> anyhow::Result<Conn> {
        let sender = match target {
            Target::Tcp(addr) => {
                let stream = TcpStream::connect(addr)
                    .await
                    .with_context(|| format!("connect {addr}"))?;
                stream.set_nodelay(true)?;
                handshake(stream).await?
            }
            Target::Unix(path) => {
                handshake(
                    UnixStream::connect(path)
                        .await
                        .with_context(|| format!("connect {}", path.display()))?,
                )
                .await?
            }
        };
        Ok(Conn {
            sender,
            cookie: token.map(|t| format!("toru_session={t}")),
        })
    }

    /// One request; the status and the whole body.
    pub async fn request(
        &mut self,
        method: http::Method,
        path: &str,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "127.0.0.1");
        if let Some(cookie) = &self.cookie {
            builder = builder.header(http::header::COOKIE, cookie);
        }
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(builder.body(Empty::new())?)
            .await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        self.request(http::Method::GET, path).await
    }
}
