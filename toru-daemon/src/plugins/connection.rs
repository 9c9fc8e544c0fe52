//! The daemon's side of one plugin connection: requests multiplexed by `request_id`, and the
//! plugin's `kv.request`s served from the store.
//!
//! A reader task routes every incoming frame: replies go to the waiter registered for their id,
//! KV requests are answered in their own tasks. When the connection dies, every waiter fails at
//! once with [`ConnectionError::Closed`] and [`Connection::closed`] resolves, which is how the
//! supervisor learns that a plugin went away even before its process is reaped.
//!
//! A plugin cannot make the daemon buffer or wait without limit ([`ConnectionLimits`]): at most
//! [`MAX_KV_IN_FLIGHT`] of its KV requests are served or waiting to be written at once (the
//! reader stops reading from it until one is written, so a flood of `kv.request`s becomes
//! backpressure on its socket, and a plugin that does not read its answers holds back its own
//! requests instead of piling up replies); a request's timeout covers the wait for room in the
//! queue as well as the wait for the reply; and a write that makes no progress for
//! [`DEFAULT_WRITE_STALL`] closes the connection, so the supervisor restarts a plugin that
//! stopped reading its socket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::net::UnixStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use toru_plugin_api::{
    Body, ErrorCode, ErrorPayload, FrameCodec, HttpRequest, HttpResponse, Init, KvOp, KvResult,
    Message, PluginId, Ready,
};

use crate::error_chain::ErrorChain;
use crate::metrics::{KvOpKind, PluginMetrics};
use crate::store::{Error as StoreError, Store};

/// Longest KV key accepted from a plugin, in bytes.
pub const MAX_KV_KEY: usize = 512;
/// Largest KV value accepted from a plugin, in bytes.
pub const MAX_KV_VALUE: usize = 1024 * 1024;

/// KV requests of one connection served at once, counting answers not yet written to its
/// socket. Past this the daemon stops reading from the plugin until one is written: this bounds
/// what one plugin can ask of the store at a time (so others, logins and the API wait for at
/// most this many of its operations) and what a plugin that does not read can make the daemon
/// hold (this many answers, each at most one frame).
pub const MAX_KV_IN_FLIGHT: usize = 16;

/// How long a write to a plugin may make no progress before the connection is closed: a plugin
/// must keep reading its socket, and one that does not is restarted like one that crashed.
pub const DEFAULT_WRITE_STALL: Duration = Duration::from_secs(10);

/// The bounds of one connection; [`Default`] gives the documented ones.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Protocol frame limit, both directions.
    pub max_frame: usize,
    /// See [`DEFAULT_WRITE_STALL`].
    pub write_stall: Duration,
    /// See [`MAX_KV_IN_FLIGHT`].
    pub kv_in_flight: usize,
}

impl Default for ConnectionLimits {
    /// 8 MiB frames, 10 s write stall, 16 KV requests in flight.
    fn default() -> Self {
        ConnectionLimits {
            max_frame: toru_plugin_api::DEFAULT_MAX_FRAME,
            write_stall: DEFAULT_WRITE_STALL,
            kv_in_flight: MAX_KV_IN_FLIGHT,
        }
    }
}

/// Why a request to a plugin failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectionError {
    /// The plugin did not answer in time.
    #[error("plugin {plugin_id} did not answer within {after:?}")]
    Timeout {
        /// The plugin.
        plugin_id: PluginId,
        /// How long we waited.
        after: Duration,
    },
    /// The connection is gone (the plugin exited, crashed, or broke the protocol).
    #[error("connection to plugin {plugin_id} is closed")]
    Closed {
        /// The plugin.
        plugin_id: PluginId,
    },
    /// The plugin answered with an `error` message.
    #[error("plugin {plugin_id} reported {code}: {message}")]
    Remote {
        /// The plugin.
        plugin_id: PluginId,
        /// The protocol error code.
        code: ErrorCode,
        /// The plugin's message.
        message: String,
    },
    /// The plugin answered with the wrong message type.
    #[error("plugin {plugin_id} answered {got} to {sent}")]
    WrongReply {
        /// The plugin.
        plugin_id: PluginId,
        /// What we sent.
        sent: &'static str,
        /// What came back.
        got: &'static str,
    },
    /// Connecting to the plugin's socket failed until the deadline.
    #[error("cannot connect to plugin {plugin_id} at {}", .path.display())]
    Connect {
        /// The plugin.
        plugin_id: PluginId,
        /// The socket.
        path: PathBuf,
        /// The last attempt's error (shared, so that the error stays `Clone`).
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// A live, multiplexed connection to one plugin. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    plugin_id: PluginId,
    outbound: mpsc::Sender<Outbound>,
    pending: Mutex<HashMap<String, oneshot::Sender<Body>>>,
    next_id: AtomicU64,
    /// Cancelled when the connection is over, for whatever reason.
    closed: CancellationToken,
    /// One permit per KV request being served or answered; see [`MAX_KV_IN_FLIGHT`].
    kv_permits: Arc<Semaphore>,
    /// The plugin's counters, where its KV operations are counted.
    metrics: Arc<PluginMetrics>,
}

/// A message queued for the writer, with the KV permit it holds until it is on its way.
struct Outbound {
    message: Message,
    /// Released when the writer has handed the message to the socket.
    _permit: Option<OwnedSemaphorePermit>,
}

impl std::borrow::Borrow<Message> for Outbound {
    fn borrow(&self) -> &Message {
        &self.message
    }
}

impl From<Message> for Outbound {
    fn from(message: Message) -> Self {
        Outbound {
            message,
            _permit: None,
        }
    }
}

/// Invalid frames tolerated on one connection before it is closed: each is answered with an
/// `error`, and a plugin that answers errors with more garbage must not keep both sides busy.
const MAX_BAD_FRAMES: u32 = 100;

/// How many outbound messages may queue before senders wait (within their timeout).
const OUTBOUND_QUEUE: usize = 1024;

impl Connection {
    /// Connects to the plugin's socket, retrying until `within` has passed (the plugin may still
    /// be starting), and starts serving the connection.
    pub async fn connect(
        plugin_id: &PluginId,
        socket: &Path,
        within: Duration,
        store: Store,
        limits: ConnectionLimits,
        metrics: Arc<PluginMetrics>,
    ) -> Result<Connection, ConnectionError> {
        let deadline = Instant::now() + within;
        let mut delay = Duration::from_millis(2);
        let stream = loop {
            match UnixStream::connect(socket).await {
                Ok(stream) => break stream,
                Err(e) if Instant::now() + delay >= deadline => {
                    return Err(ConnectionError::Connect {
                        plugin_id: plugin_id.clone(),
                        path: socket.to_owned(),
                        source: Arc::new(e),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
            }
        };
        Ok(Self::serve_metered(
            plugin_id, stream, store, limits, metrics,
        ))
    }

    /// Serves an established stream with the default limits and this frame limit.
    pub fn serve(plugin_id: &PluginId, stream: UnixStream, store: Store, max_frame: usize) -> Self {
        let limits = ConnectionLimits {
            max_frame,
            ..ConnectionLimits::default()
        };
        Self::serve_with(plugin_id, stream, store, limits)
    }

    /// Serves an established stream within `limits`, counting into counters of its own.
    pub fn serve_with(
        plugin_id: &PluginId,
        stream: UnixStream,
        store: Store,
        limits: ConnectionLimits,
    ) -> Self {
        Self::serve_metered(plugin_id, stream, store, limits, Arc::default())
    }

    /// Serves an established stream within `limits`, counting its KV operations in `metrics`.
    pub fn serve_metered(
        plugin_id: &PluginId,
        stream: UnixStream,
        store: Store,
        limits: ConnectionLimits,
        metrics: Arc<PluginMetrics>,
    ) -> Self {
        let (read_half, write_half) = stream.into_split();
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let inner = Arc::new(Inner {
            plugin_id: plugin_id.clone(),
            outbound: tx,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: CancellationToken::new(),
            kv_permits: Arc::new(Semaphore::new(limits.kv_in_flight.max(1))),
            metrics,
        });
        let codec = FrameCodec::with_max_frame(limits.max_frame);
        tokio::spawn(toru_plugin_api::writer::write_messages_with_stall(
            FramedWrite::new(write_half, codec.clone()),
            rx,
            inner.closed.clone(),
            Some(limits.write_stall),
        ));
        tokio::spawn(read_frames(
            FramedRead::new(read_half, codec),
            inner.clone(),
            store,
            limits.max_frame,
        ));
        Connection { inner }
    }

    /// The plugin this connection talks to.
    pub fn plugin_id(&self) -> &PluginId {
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

    /// Sends a request and waits up to `timeout` for the reply with the same id; the timeout
    /// covers the wait for room in the queue too, so a plugin that does not read cannot make a
    /// caller wait longer. An `error` reply becomes [`ConnectionError::Remote`].
    pub async fn request(&self, body: Body, timeout: Duration) -> Result<Body, ConnectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let id = format!("d-{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.inner.pending().insert(id.clone(), tx);
        // Registered before sending, so even an instant reply finds its waiter.
        let sent = if self.is_closed() {
            Some(false)
        } else {
            let message = Message::new(id.clone(), body);
            tokio::time::timeout_at(deadline, self.inner.send(message.into()))
                .await
                .ok()
        };
        let timed_out = || ConnectionError::Timeout {
            plugin_id: self.inner.plugin_id.clone(),
            after: timeout,
        };
        match sent {
            Some(true) => {}
            Some(false) => {
                self.inner.pending().remove(&id);
                return Err(self.closed_error());
            }
            None => {
                self.inner.pending().remove(&id);
                return Err(timed_out());
            }
        }
        let reply = match tokio::time::timeout_at(deadline, rx).await {
            Ok(reply) => reply.map_err(|_| self.closed_error()),
            Err(_) => {
                self.inner.pending().remove(&id);
                Err(timed_out())
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

    /// Asks the plugin to shut down. No reply is expected; the plugin exits. Never waits: when
    /// the queue is full (the plugin does not read) or the connection is closed, the message
    /// cannot reach the plugin anyway, and this returns false so the caller stops it at once.
    pub fn shutdown(&self) -> bool {
        let id = format!("d-{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        !self.is_closed()
            && self
                .inner
                .outbound
                .try_send(Message::new(id, Body::Shutdown).into())
                .is_ok()
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
    /// Queues a message, waiting for room; false when the connection closed first. Every
    /// sender goes through here, so none waits on a dead connection.
    async fn send(&self, message: Outbound) -> bool {
        tokio::select! {
            sent = self.outbound.send(message) => sent.is_ok(),
            _ = self.closed.cancelled() => false,
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Body>>> {
        crate::sync::lock(&self.pending)
    }
}

async fn read_frames(
    mut frames: FramedRead<tokio::net::unix::OwnedReadHalf, FrameCodec>,
    inner: Arc<Inner>,
    store: Store,
    max_frame: usize,
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
                tracing::warn!(plugin = plugin_id.as_str(), error = %fatal, "closing plugin connection");
                break;
            }
            Some(Ok(Err(bad))) => {
                tracing::warn!(plugin = plugin_id.as_str(), error = %bad, "plugin sent a bad frame");
                bad_frames += 1;
                if bad_frames > MAX_BAD_FRAMES {
                    tracing::warn!(
                        plugin = plugin_id.as_str(),
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
                inner.send(reply.into()).await;
                continue;
            }
            Some(Ok(Ok(message))) => message,
        };
        match message.body {
            Body::KvRequest(op) => {
                // Backpressure: with `MAX_KV_IN_FLIGHT` requests unanswered, stop reading.
                let permit = tokio::select! {
                    permit = inner.kv_permits.clone().acquire_owned() => {
                        permit.expect("the KV semaphore is never closed")
                    }
                    _ = inner.closed.cancelled() => break,
                };
                let inner = inner.clone();
                let store = store.clone();
                tokio::spawn(async move {
                    let kind = KvOpKind::of(&op);
                    let served = serve_kv(&store, inner.plugin_id.as_str(), op, max_frame).await;
                    inner.metrics.record_kv(kind, served.is_err());
                    let reply = match served {
                        Ok(result) => Message::new(message.request_id, Body::KvResponse(result)),
                        Err(refusal) => Message::error(
                            message.request_id,
                            ErrorCode::KvFailed,
                            refusal.to_string(),
                        ),
                    };
                    // The permit travels with the reply and is released once it is written.
                    inner
                        .send(Outbound {
                            message: reply,
                            _permit: Some(permit),
                        })
                        .await;
                });
            }
            body @ (Body::Ready(_) | Body::HttpResponse(_) | Body::Pong | Body::Error(_)) => {
                match inner.pending().remove(&message.request_id) {
                    Some(waiter) => {
                        let _ = waiter.send(body);
                    }
                    None => tracing::debug!(
                        plugin = plugin_id.as_str(),
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
                inner.send(reply.into()).await;
            }
        }
    }
    inner.closed.cancel();
    // Dropping the waiters fails every outstanding request with `Closed` at once.
    inner.pending().clear();
}

/// Why a plugin's `kv.request` was refused. Its text is the message of the `kv_failed` error
/// the plugin gets: what was wrong with the request, or what the store said (without its cause,
/// which only the daemon's log gets).
#[derive(Debug, thiserror::Error)]
enum KvRefusal {
    /// A key outside 1–[`MAX_KV_KEY`] bytes.
    #[error("key must be 1–{MAX_KV_KEY} bytes, got {0}")]
    KeyLength(usize),
    /// A value over [`MAX_KV_VALUE`] bytes.
    #[error("value must be at most {MAX_KV_VALUE} bytes, got {0}")]
    ValueTooLarge(usize),
    /// A `list` whose keys alone would not fit in one frame.
    #[error(
        "the keys starting with {prefix:?} are over the {max_frame}-byte frame limit; list a \
         longer prefix"
    )]
    ListTooLarge {
        /// The prefix asked for.
        prefix: String,
        /// The frame limit.
        max_frame: usize,
    },
    /// The store failed or refused (over quota).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a KV key's length.
fn check_kv_key(key: &str) -> Result<(), KvRefusal> {
    if key.is_empty() || key.len() > MAX_KV_KEY {
        Err(KvRefusal::KeyLength(key.len()))
    } else {
        Ok(())
    }
}

/// Runs one KV operation for `plugin_id`, enforcing the protocol's size limits; a `list`
/// whose keys alone would not fit in a `max_frame` answer is refused before it is built. A
/// store failure is logged here with its whole cause.
async fn serve_kv(
    store: &Store,
    plugin_id: &str,
    op: KvOp,
    max_frame: usize,
) -> Result<KvResult, KvRefusal> {
    let result = match op {
        KvOp::Get { key } => {
            check_kv_key(&key)?;
            store
                .kv_get(plugin_id, &key)
                .await
                .map(|value| KvResult::Get { value })
        }
        KvOp::Set { key, value } => {
            check_kv_key(&key)?;
            if value.len() > MAX_KV_VALUE {
                return Err(KvRefusal::ValueTooLarge(value.len()));
            }
            store
                .kv_set(plugin_id, &key, &value)
                .await
                .map(|()| KvResult::Set)
        }
        KvOp::Delete { key } => {
            check_kv_key(&key)?;
            store
                .kv_delete(plugin_id, &key)
                .await
                .map(|existed| KvResult::Delete { existed })
        }
        KvOp::List { prefix } => match store.kv_list_within(plugin_id, &prefix, max_frame).await {
            Ok(Some(keys)) => Ok(KvResult::List { keys }),
            Ok(None) => return Err(KvRefusal::ListTooLarge { prefix, max_frame }),
            Err(e) => Err(e),
        },
    };
    result.map_err(|e| {
        match e {
            // The plugin's own doing, answered with a message naming the quota; not an error
            // of the daemon's, and a plugin that keeps trying must not flood the log.
            StoreError::KvQuotaExceeded { .. } => {
                tracing::debug!(plugin = plugin_id, error = %e, "kv write over quota refused");
            }
            _ => tracing::error!(
                plugin = plugin_id,
                error = %ErrorChain(&e),
                "kv operation failed"
            ),
        }
        KvRefusal::Store(e)
    })
}
