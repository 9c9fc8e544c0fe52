//! A stand-in for the daemon's side of one connection, for testing plugins without a daemon.
//!
//! [`TestDaemon`] connects to a plugin's socket and speaks the protocol frame by frame, so tests
//! can send exactly what they want (including broken frames) and see exactly what comes back.
//! [`TestDaemon::call`] answers the plugin's `kv.request`s from an in-memory map while it waits.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

use crate::codec::{CodecError, FrameCodec};
use crate::protocol::{Body, DecodeError, HttpRequest, Init, KvOp, KvResult, Message, Ready};

/// How long [`TestDaemon::recv`] waits for a frame before failing the test.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors seen by the test daemon.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The plugin never started listening.
    #[error("could not connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The last connect error.
        source: io::Error,
    },
    /// The connection failed or broke framing.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The plugin sent a frame that is not a valid message.
    #[error("plugin sent an invalid frame: {0}")]
    Invalid(#[from] DecodeError),
    /// Nothing arrived in time.
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    /// The plugin closed the connection.
    #[error("connection closed by the plugin")]
    Closed,
    /// The plugin answered with something else than expected.
    #[error("unexpected reply: {0:?}")]
    Unexpected(Box<Message>),
}

/// The daemon's side of one plugin connection.
pub struct TestDaemon {
    framed: Framed<UnixStream, FrameCodec>,
    next_id: u64,
    /// The plugin's KV store as this fake daemon keeps it.
    pub kv: BTreeMap<String, String>,
}

impl TestDaemon {
    /// Connects to `path`, retrying until the plugin listens or `within` passes.
    pub async fn connect(path: &Path, within: Duration) -> Result<Self, TestError> {
        let deadline = Instant::now() + within;
        loop {
            match UnixStream::connect(path).await {
                Ok(stream) => {
                    return Ok(Self {
                        framed: Framed::new(stream, FrameCodec::new()),
                        next_id: 1,
                        kv: BTreeMap::new(),
                    });
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(TestError::Connect {
                        path: path.display().to_string(),
                        source: e,
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// A fresh request id, `d-<n>`.
    pub fn next_id(&mut self) -> String {
        let id = format!("d-{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &Message) -> Result<(), TestError> {
        Ok(self.framed.send(message).await?)
    }

    /// Sends raw bytes, e.g. a deliberately broken frame.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), TestError> {
        let stream = self.framed.get_mut();
        stream.write_all(bytes).await.map_err(CodecError::Io)?;
        Ok(())
    }

    /// The next frame from the plugin, failing after 10 s.
    pub async fn recv(&mut self) -> Result<Message, TestError> {
        match tokio::time::timeout(RECV_TIMEOUT, self.framed.next()).await {
            Err(_) => Err(TestError::Timeout(RECV_TIMEOUT)),
            Ok(None) => Err(TestError::Closed),
            Ok(Some(Err(e))) => Err(e.into()),
            Ok(Some(Ok(Err(e)))) => Err(e.into()),
            Ok(Some(Ok(Ok(message)))) => Ok(message),
        }
    }

    /// The next frame that is not a `kv.request`, answering those from [`Self::kv`] meanwhile.
    pub async fn recv_serving_kv(&mut self) -> Result<Message, TestError> {
        loop {
            let message = self.recv().await?;
            let Body::KvRequest(op) = &message.body else {
                return Ok(message);
            };
            let result = self.apply_kv(op);
            self.send(&Message::new(message.request_id, Body::KvResponse(result)))
                .await?;
        }
    }

    /// Applies one KV operation to the in-memory store, as the daemon would.
    pub fn apply_kv(&mut self, op: &KvOp) -> KvResult {
        match op {
            KvOp::Get { key } => KvResult::Get {
                value: self.kv.get(key).cloned(),
            },
            KvOp::Set { key, value } => {
                self.kv.insert(key.clone(), value.clone());
                KvResult::Set
            }
            KvOp::Delete { key } => KvResult::Delete {
                existed: self.kv.remove(key).is_some(),
            },
            KvOp::List { prefix } => KvResult::List {
                keys: self
                    .kv
                    .keys()
                    .filter(|k| k.starts_with(prefix.as_str()))
                    .cloned()
                    .collect(),
            },
        }
    }

    /// Sends `lifecycle.init` and expects `lifecycle.ready`, which it returns.
    pub async fn init(&mut self, plugin_id: &str, instance_id: &str) -> Result<Ready, TestError> {
        self.init_with(Init {
            protocol_version: crate::PROTOCOL_VERSION,
            plugin_id: plugin_id.into(),
            instance_id: instance_id.into(),
            config: BTreeMap::new(),
            license: None,
        })
        .await
    }

    /// Sends this `lifecycle.init` (e.g. with a `config` or a `license` key) and expects
    /// `lifecycle.ready`, which it returns (with the plugin's licence verdict); an `error` reply
    /// is [`TestError::Unexpected`].
    pub async fn init_with(&mut self, init: Init) -> Result<Ready, TestError> {
        let id = self.next_id();
        self.send(&Message::new(id.clone(), Body::Init(init)))
            .await?;
        let reply = self.recv_serving_kv().await?;
        match reply.body {
            Body::Ready(ready) if reply.request_id == id => Ok(ready),
            _ => Err(TestError::Unexpected(Box::new(reply))),
        }
    }

    /// Sends one `http.request` and returns the matching reply, serving KV meanwhile.
    pub async fn call(&mut self, request: HttpRequest) -> Result<Message, TestError> {
        let id = self.next_id();
        self.send(&Message::new(id.clone(), Body::HttpRequest(request)))
            .await?;
        let reply = self.recv_serving_kv().await?;
        if reply.request_id == id {
            Ok(reply)
        } else {
            Err(TestError::Unexpected(Box::new(reply)))
        }
    }
}

/// A `GET` request for `path`, the most common thing a test sends.
pub fn get(path: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        ..HttpRequest::default()
    }
}

/// A `POST` request for `path` with a JSON body.
pub fn post_json(path: &str, body: &serde_json::Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
        ..HttpRequest::default()
    }
}
