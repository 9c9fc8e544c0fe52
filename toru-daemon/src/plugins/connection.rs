//! The daemon's side of one plugin connection: requests multiplexed by `request_id`, and the
//! plugin's `kv.request`s served from the store.
//!
//! A reader task routes every incoming frame: replies go to the waiter registered for their id,
//! KV requests are answered in their own tasks. When the connection dies, every waiter fails at
//! once with [`ConnectionError::Closed`] and [`Connection::closed`] resolves, which is how the
//! supervisor learns that a plugin went away even before its process is reaped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use toru_plugin_api::{
    Body, ErrorCode, ErrorPayload, FrameCodec, HttpRequest, HttpResponse, Init, KvOp, KvResult,
    Message, Ready,
};

use crate::store::Store;

/// Longest KV key accepted from a plugin, in bytes.
pub const MAX_KV_KEY: usize = 512;
/// Largest KV value accepted from a plugin, in bytes.
pub const MAX_KV_VALUE: usize = 1024 * 1024;

/// Why a request to a plugin failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectionError {
    /// The plugin did not answer in time.
    #[error("plugin {plugin_id} did not answer within {after:?}")]
    Timeout {
        /// The plugin.
        plugin_id: String,
        /// How long we waited.
        after: Duration,
    },
    /// The connection is gone (the plugin exited, crashed, or broke the protocol).
    #[error("connection to plugin {plugin_id} is closed")]
    Closed {
        /// The plugin.
        plugin_id: String,
    },
    /// The plugin answered with an `error` message.
    #[error("plugin {plugin_id} reported {code:?}: {message}")]
    Remote {
        /// The plugin.
        plugin_id: String,
        /// The protocol error code.
        code: ErrorCode,
        /// The plugin's message.
        message: String,
    },
    /// The plugin answered with the wrong message type.
    #[error("plugin {plugin_id} answered {got} to {sent}")]
    WrongReply {
        /// The plugin.
        plugin_id: String,
        /// What we sent.
        sent: &'static str,
        /// What came back.
        got: &'static str,
    },
    /// Connecting to the plugin's socket failed until the deadline.
    #[error("cannot connect to plugin {plugin_id} at {path}: {reason}")]
    Connect {
        /// The plugin.
        plugin_id: String,
        /// The socket.
        path: String,
        /// The last error.
        reason: String,
    },
}

/// A live, multiplexed connection to one plugin. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    plugin_id: String,
    outbound: mpsc::Sender<Message>,
    pending: Mutex<HashMap<String, oneshot::Sender<Body>>>,
    next_id: AtomicU64,
    /// Cancelled when the connection is over, for whatever reason.
    closed: CancellationToken,
}

/// Invalid frames tolerated on one connection before it is closed: each is answered with an
/// `error`, and a plugin that answers errors with more garbage must not keep both sides busy.
const MAX_BAD_FRAMES: u32 = 100;

/// How many outbound messages may queue before senders wait.
const OUTBOUND_QUEUE: usize = 1024;

impl Connection {
    /// Connects to the plugin's socket, retrying until `within` has passed (the plugin may still
    /// be starting), and starts serving the connection.
    pub async fn connect(
        plugin_id: &str,
        socket: &Path,
        within: Duration,
        store: Store,
        max_frame: usize,
    ) -> Result<Connection, ConnectionError> {
        let deadline = Instant::now() + within;
        let mut delay = Duration::from_millis(2);
        let stream = loop {
            match UnixStream::connect(socket).await {
                Ok(stream) => break stream,
                Err(e) if Instant::now() + delay >= deadline => {
                    return Err(ConnectionError::Connect {
                        plugin_id: plugin_id.to_owned(),
                        path: socket.display().to_string(),
                        reason: e.to_string(),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
            }
        };
        Ok(Self::serve(plugin_id, stream, store, max_frame))
    }

    /// Serves an established stream.
    pub fn serve(plugin_id: &str, stream: UnixStream, store: Store, max_frame: usize) -> Self {
        let (read_half, write_half) = stream.into_split();
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let inner = Arc::new(Inner {
            plugin_id: plugin_id.to_owned(),
            outbound: tx,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: CancellationToken::new(),
        });
        let codec = FrameCodec::with_max_frame(max_frame);
        tokio::spawn(toru_plugin_api::writer::write_messages(
            FramedWrite::new(write_half, codec.clone()),
            rx,
            inner.closed.clone(),
        ));
        tokio::spawn(read_frames(
            FramedRead::new(read_half, codec),
            inner.clone(),
            store,
        ));
        Connection { inner }
    }

    /// The plugin this connection talks to.
    pub fn plugin_id(&self) -> &str {
        &self.inner.plugin_id
    }

    /// Resolves when the connection is over.
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await;
    }

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Sends a request and waits up to `timeout` for the reply with the same id. An `error`
    /// reply becomes [`ConnectionError::Remote`].
    pub async fn request(&self, body: Body, timeout: Duration) -> Result<Body, ConnectionError> {
        let id = format!("d-{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.inner.pending().insert(id.clone(), tx);
        // Registered before sending, so even an instant reply finds its waiter.
        if self.is_closed()
            || self
                .inner
                .outbound
                .send(Message::new(id.clone(), body))
                .await
                .is_err()
        {
            self.inner.pending().remove(&id);
            return Err(self.closed_error());
        }
        let reply = tokio::select! {
            reply = rx => reply.map_err(|_| self.closed_error()),
            _ = tokio::time::sleep(timeout) => {
                self.inner.pending().remove(&id);
                Err(ConnectionError::Timeout { plugin_id: self.inner.plugin_id.clone(), after: timeout })
            }
        }?;
        match reply {
            Body::Error(ErrorPayload { code, message }) => Err(ConnectionError::Remote {
                plugin_id: self.inner.plugin_id.clone(),
                code,
                message,
            }),
            body => Ok(body),
        }
    }

    /// Sends `lifecycle.init` and waits for `lifecycle.ready`.
    pub async fn init(&self, init: Init, timeout: Duration) -> Result<Ready, ConnectionError> {
        match self.request(Body::Init(init), timeout).await? {
            Body::Ready(ready) => Ok(ready),
            other => Err(self.wrong_reply("lifecycle.init", &other)),
        }
    }

    /// Forwards one HTTP request and returns the plugin's response.
    pub async fn http(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, ConnectionError> {
        match self.request(Body::HttpRequest(request), timeout).await? {
            Body::HttpResponse(response) => Ok(response),
            other => Err(self.wrong_reply("http.request", &other)),
        }
    }

    /// Pings the plugin; returns the round-trip time.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, ConnectionError> {
        let started = Instant::now();
        match self.request(Body::Ping, timeout).await? {
            Body::Pong => Ok(started.elapsed()),
            other => Err(self.wrong_reply("ping", &other)),
        }
    }

    /// Asks the plugin to shut down. No reply is expected; the plugin exits.
    pub async fn shutdown(&self) {
        let id = format!("d-{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let _ = self
            .inner
            .outbound
            .send(Message::new(id, Body::Shutdown))
            .await;
    }

    /// Ends the connection from our side.
    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    fn closed_error(&self) -> ConnectionError {
        ConnectionError::Closed {
            plugin_id: self.inner.plugin_id.clone(),
        }
    }

    fn wrong_reply(&self, sent: &'static str, got: &Body) -> ConnectionError {
        ConnectionError::WrongReply {
            plugin_id: self.inner.plugin_id.clone(),
            sent,
            got: got.type_name(),
        }
    }
}

impl Inner {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Body>>> {
        // Each critical section is one insert or remove: the map survives a panicking holder.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn read_frames(
    mut frames: FramedRead<tokio::net::unix::OwnedReadHalf, FrameCodec>,
    inner: Arc<Inner>,
    store: Store,
) {
    let plugin_id = inner.plugin_id.clone();
    let mut bad_frames = 0u32;
    loop {
        let frame = tokio::select! {
            f = frames.next() => f,
            _ = inner.closed.cancelled() => break,
        };
        let message = match frame {
            None => break,
            Some(Err(fatal)) => {
                tracing::warn!(plugin = plugin_id, error = %fatal, "closing plugin connection");
                break;
            }
            Some(Ok(Err(bad))) => {
                tracing::warn!(plugin = plugin_id, error = %bad, "plugin sent a bad frame");
                bad_frames += 1;
                if bad_frames > MAX_BAD_FRAMES {
                    tracing::warn!(
                        plugin = plugin_id,
                        "too many bad frames; closing the connection"
                    );
                    break;
                }
                // If the broken frame was a reply, release its waiter now instead of at timeout.
                let waiter = bad
                    .request_id
                    .as_ref()
                    .and_then(|id| inner.pending().remove(id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Body::Error(ErrorPayload {
                        code: bad.code(),
                        message: bad.to_string(),
                    }));
                    continue;
                }
                let reply = Message::error(
                    bad.request_id.clone().unwrap_or_default(),
                    bad.code(),
                    bad.to_string(),
                );
                let _ = inner.outbound.send(reply).await;
                continue;
            }
            Some(Ok(Ok(message))) => message,
        };
        match message.body {
            Body::KvRequest(op) => {
                let outbound = inner.outbound.clone();
                let store = store.clone();
                let plugin_id = plugin_id.clone();
                tokio::spawn(async move {
                    let reply = match serve_kv(&store, &plugin_id, op).await {
                        Ok(result) => Message::new(message.request_id, Body::KvResponse(result)),
                        Err(reason) => {
                            Message::error(message.request_id, ErrorCode::KvFailed, reason)
                        }
                    };
                    let _ = outbound.send(reply).await;
                });
            }
            body @ (Body::Ready(_) | Body::HttpResponse(_) | Body::Pong | Body::Error(_)) => {
                match inner.pending().remove(&message.request_id) {
                    Some(waiter) => {
                        let _ = waiter.send(body);
                    }
                    None => tracing::debug!(
                        plugin = plugin_id,
                        request_id = message.request_id,
                        "reply to no pending request ignored"
                    ),
                }
            }
            other => {
                let reply = Message::error(
                    message.request_id,
                    ErrorCode::UnknownType,
                    format!("the daemon does not accept {}", other.type_name()),
                );
                let _ = inner.outbound.send(reply).await;
            }
        }
    }
    inner.closed.cancel();
    // Dropping the waiters fails every outstanding request with `Closed` at once.
    inner.pending().clear();
}

/// Runs one KV operation for `plugin_id`, enforcing the protocol's size limits.
async fn serve_kv(store: &Store, plugin_id: &str, op: KvOp) -> Result<KvResult, String> {
    let check_key = |key: &str| {
        if key.is_empty() || key.len() > MAX_KV_KEY {
            Err(format!(
                "key must be 1–{MAX_KV_KEY} bytes, got {}",
                key.len()
            ))
        } else {
            Ok(())
        }
    };
    let result = match op {
        KvOp::Get { key } => {
            check_key(&key)?;
            store
                .kv_get(plugin_id, &key)
                .await
                .map(|value| KvResult::Get { value })
        }
        KvOp::Set { key, value } => {
            check_key(&key)?;
            if value.len() > MAX_KV_VALUE {
                return Err(format!(
                    "value must be at most {MAX_KV_VALUE} bytes, got {}",
                    value.len()
                ));
            }
            store
                .kv_set(plugin_id, &key, &value)
                .await
                .map(|()| KvResult::Set)
        }
        KvOp::Delete { key } => {
            check_key(&key)?;
            store
                .kv_delete(plugin_id, &key)
                .await
                .map(|existed| KvResult::Delete { existed })
        }
        KvOp::List { prefix } => store
            .kv_list(plugin_id, &prefix)
            .await
            .map(|keys| KvResult::List { keys }),
    };
    result.map_err(|e| {
        tracing::error!(plugin = plugin_id, error = %e, "kv operation failed");
        e.to_string()
    })
}
