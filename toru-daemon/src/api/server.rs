//! Serving the API: our own accept loop (warp's has no connection limit, idle timeout or peer
//! credentials) feeding warp's filter through hyper, except for forwarded plugin routes, which
//! go straight to [`forward::serve`] (the hot path; see there why).
//!
//! Each connection gets its peer's identity attached to every request — the TCP address for
//! rate limiting, or the Unix peer's credentials for authorisation — and each request is logged
//! with its status and duration. On TCP, a request naming a host this daemon does not answer to
//! is refused here, before warp or the forwarded path see it ([`AllowedHosts`]). Bounds: at most
//! [`MAX_CONNECTIONS`] open connections; a connection with no request in progress is closed
//! [`Timeouts::idle`] after it was accepted or its last response ended (a client that sends
//! nothing, garbage, an HTTP/2 preface or headers that never end is idle), and when every slot
//! is taken the connection idle the longest is closed to make room; request headers must
//! arrive within [`HEADER_TIMEOUT`]; a request body within [`Timeouts::body`] (408, in
//! `pipeline::collect_limited`); and shutdown waits at most [`SHUTDOWN_GRACE`] for requests in
//! progress.
//!
//! The TLS listener ([`Listener::Tls`]) is the same loop with the same bounds: its handshake
//! runs in the connection's own task, holding the connection's slot, within
//! [`HANDSHAKE_TIMEOUT`] (and the idle timeout, so it can be evicted like any idle connection);
//! its requests carry [`Peer::Tls`], and every answer gets [`HSTS`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;
use warp::Filter;

use super::ApiState;
use super::handlers::forward;
use super::origin::AllowedHosts;
use super::pipeline::{BODY_TIME, BODY_TIMEOUT, Peer};
use crate::auth::peer::{LOCAL_GROUP, PeerCred};
use crate::metrics::ListenerKind;

/// Open connections served at once, per listener; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a client has to send a request's headers once it has begun them.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, by default, a connection may stay open with no request in progress: from accept
/// until its first request's headers are in, and from the end of each response to the next.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in progress.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a client of the TLS listener has to complete its handshake once accepted.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The `Strict-Transport-Security` of every answer on the TLS listener: browsers keep to HTTPS
/// for this host for a year. No `includeSubDomains`: the daemon speaks for one host only.
pub const HSTS: &str = "max-age=31536000";

/// The time bounds of one listener's connections (tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long a connection may have no request in progress ([`IDLE_TIMEOUT`]).
    pub idle: Duration,
    /// How long a request body may take to arrive, else 408 (`pipeline::BODY_TIMEOUT`).
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: IDLE_TIMEOUT,
            body: BODY_TIMEOUT,
        }
    }
}

/// Where the API listens.
pub enum Listener {
    /// A TCP socket (the dashboard, remote `toructl --url`), and the host names it answers to.
    Tcp(TcpListener, AllowedHosts),
    /// A TCP socket served over TLS with the acceptor's certificate (the dashboard from other
    /// machines), and the host names it answers to.
    Tls(TcpListener, AllowedHosts, TlsAcceptor),
    /// The local Unix socket (`toructl` on the host).
    Unix(UnixListener),
}

/// Connections the kernel queues for a TCP listener the daemon binds itself, as many as
/// systemd's socket units allow (`Backlog=` defaults to `SOMAXCONN`, 4096): with tokio's 1024, a
/// burst of attacking connects filled the queue and a real client's SYN was dropped, costing it
/// the 1 s retransmit.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds the TCP listener when no socket unit handed one over, with [`LISTEN_BACKLOG`].
pub fn bind_tcp(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Binds the local socket: removes a stale socket file (never another kind of file), then
/// makes it `0660` and, where group `toru` exists, owned by it so its members can connect.
pub fn bind_unix(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name(LOCAL_GROUP) {
        // Only root may hand a file to another group; a developer's daemon keeps its own.
        let _ = nix::unistd::chown(path, None, Some(group.gid));
    }
    Ok(listener)
}

/// Serves `filter` (and forwarded routes with `state`) on `listener` until `shutdown` is
/// cancelled, then drains.
pub async fn serve<F>(
    listener: Listener,
    state: ApiState,
    filter: F,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    // One handle for all connections: each forwarded request clones one `Arc`, not every field.
    let state = Arc::new(state);
    let (listener, hosts, kind) = match listener {
        Listener::Tcp(l, hosts) => (Accepting::Tcp(l), Some(Arc::new(hosts)), ListenerKind::Http),
        Listener::Tls(l, hosts, tls) => (
            Accepting::Tls(l, tls),
            Some(Arc::new(hosts)),
            ListenerKind::Https,
        ),
        Listener::Unix(l) => (Accepting::Unix(l), None, ListenerKind::Unix),
    };
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let open = Arc::new(OpenConnections::default());
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .writev(false);
    let builder = Arc::new(builder);
    loop {
        let permit = match limit.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Every slot is taken: make room by closing the connection idle the longest, so
                // a flood of idle sockets cannot keep real requests waiting.
                open.evict_oldest_idle();
                tokio::select! {
                    permit = limit.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Usually EMFILE: wait instead of spinning; connections in flight continue.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let activity = Arc::new(Activity::new());
        let service = request_service(
            state.clone(),
            filter.clone(),
            peer,
            hosts.clone(),
            activity.clone(),
            timeouts.body,
        );
        // Watched from accept on, so shutdown also waits for (and ends) a handshake.
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let id = open.insert(activity.clone());
        let open = open.clone();
        let shutdown = shutdown.clone();
        let counted = state.metrics.http.connection_opened(kind);
        tokio::spawn(async move {
            if let Some(io) = stream.into_http(&activity, timeouts.idle, &shutdown).await {
                let connection = builder.serve_connection(io, service);
                let connection = watcher.watch(connection.into_owned());
                tokio::select! {
                    _ = connection => {}
                    () = activity.idle_for(timeouts.idle) => {}
                }
            }
            open.remove(id);
            drop(counted);
            drop(permit);
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some HTTP connections did not finish in time");
    }
}

/// Whether a connection has requests in progress, and since when it has had none.
struct Activity {
    state: Mutex<ActivityState>,
    /// Told to close the connection if it is still idle (the accept loop needs its slot).
    evict: Notify,
}

struct ActivityState {
    /// Requests whose response has not been sent completely.
    in_progress: u32,
    /// When the connection was accepted or its last response ended.
    idle_since: Instant,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                in_progress: 0,
                idle_since: Instant::now(),
            }),
            evict: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        crate::sync::lock(&self.state)
    }

    /// Since when the connection has been idle, `None` while a request is in progress.
    fn idle_since(&self) -> Option<Instant> {
        let state = self.lock();
        (state.in_progress == 0).then_some(state.idle_since)
    }

    /// A request has begun; it is in progress until the guard is dropped, which the response
    /// body does when it has been sent (a log stream stays in progress while it is open).
    fn begin(self: &Arc<Self>) -> InProgress {
        self.lock().in_progress += 1;
        InProgress(self.clone())
    }

    /// Resolves once the connection has been idle for `limit`, or has been told to make room
    /// while idle.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let since = self.idle_since();
            let check_at = since.unwrap_or_else(Instant::now) + limit;
            tokio::select! {
                () = tokio::time::sleep_until(check_at.into()) => {
                    if self.idle_since().is_some_and(|since| since.elapsed() >= limit) {
                        return;
                    }
                }
                () = self.evict.notified() => {
                    if self.idle_since().is_some() {
                        return;
                    }
                }
            }
        }
    }
}

/// One request in progress on a connection (see [`Activity::begin`]).
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_progress -= 1;
        if state.in_progress == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// The open connections of one listener, so the accept loop can find the one idle the longest.
#[derive(Default)]
struct OpenConnections {
    by_id: Mutex<(u64, HashMap<u64, Arc<Activity>>)>,
}

impl OpenConnections {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, Arc<Activity>>)> {
        crate::sync::lock(&self.by_id)
    }

    fn insert(&self, activity: Arc<Activity>) -> u64 {
        let mut guard = self.lock();
        let (next, map) = &mut *guard;
        *next += 1;
        map.insert(*next, activity);
        *next
    }

    fn remove(&self, id: u64) {
        self.lock().1.remove(&id);
    }

    /// Asks the connection idle the longest, if any, to close.
    fn evict_oldest_idle(&self) {
        let guard = self.lock();
        let oldest = guard
            .1
            .values()
            .filter_map(|a| Some((a.idle_since()?, a)))
            .min_by_key(|(since, _)| *since);
        if let Some((_, activity)) = oldest {
            activity.evict.notify_one();
        }
    }
}

/// A response body that keeps its request counted as in progress until it has been sent.
struct Tracked<B> {
    body: B,
    _in_progress: InProgress,
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Names the body type of warp's responses, which warp does not export.
trait ResponseBody {
    type Body;
}

impl<B> ResponseBody for http::Response<B> {
    type Body = B;
}

/// What the API answers with.
type TrackedResponse = http::Response<Tracked<<warp::reply::Response as ResponseBody>::Body>>;

/// A listener of any kind, once [`serve`] has taken the host names out.
enum Accepting {
    Tcp(TcpListener),
    Tls(TcpListener, TlsAcceptor),
    Unix(UnixListener),
}

/// An accepted connection, before it speaks HTTP.
enum Accepted {
    /// Ready for HTTP (plain TCP, the Unix socket).
    Plain(Io),
    /// A TLS listener's connection, its handshake still to do.
    Tls(TcpStream, TlsAcceptor),
}

impl Accepted {
    /// The stream to speak HTTP on: a TLS connection once its handshake is done. `None` when
    /// the handshake failed or took longer than [`HANDSHAKE_TIMEOUT`], or when the connection
    /// was idle too long or evicted meanwhile, or shutdown came.
    async fn into_http(
        self,
        activity: &Activity,
        idle: Duration,
        shutdown: &CancellationToken,
    ) -> Option<Io> {
        let (stream, acceptor) = match self {
            Accepted::Plain(io) => return Some(io),
            Accepted::Tls(stream, acceptor) => (stream, acceptor),
        };
        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
        tokio::select! {
            done = handshake => match done {
                Ok(Ok(tls)) => Some(TokioIo::new(Box::new(tls) as Box<dyn Stream>)),
                // A scanner or a browser that refused the certificate: nothing to act on.
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    None
                }
            },
            () = activity.idle_for(idle) => None,
            () = shutdown.cancelled() => None,
        }
    }
}

/// Any kind of stream (TCP, TLS over TCP, Unix), so one accept loop serves every listener.
type Io = TokioIo<Box<dyn Stream>>;

/// What hyper needs of a stream.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn accept(listener: &Accepting) -> std::io::Result<(Accepted, Peer)> {
    match listener {
        Accepting::Tcp(l) => {
            let (stream, addr) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((
                Accepted::Plain(TokioIo::new(Box::new(stream) as Box<dyn Stream>)),
                Peer::Tcp(addr),
            ))
        }
        Accepting::Tls(l, acceptor) => {
            let (stream, addr) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Accepted::Tls(stream, acceptor.clone()), Peer::Tls(addr)))
        }
        Accepting::Unix(l) => {
            let (stream, _) = l.accept().await?;
            let cred = stream.peer_cred().ok().map(|c| PeerCred {
                uid: c.uid(),
                gid: c.gid(),
            });
            Ok((
                Accepted::Plain(TokioIo::new(Box::new(stream) as Box<dyn Stream>)),
                Peer::Unix(cred),
            ))
        }
    }
}

/// Routes a request to the forwarding path or to warp's service (attaching the connection's
/// [`Peer`] for the pipeline), and logs it. Both paths pass through here, so this is where a
/// TCP request for an unknown host is refused, where the request counts as in progress on its
/// connection, where the listener's body time is set for `pipeline::collect_limited`, and where
/// the TLS listener's answers get [`HSTS`].
fn request_service<F>(
    state: Arc<ApiState>,
    filter: F,
    peer: Peer,
    hosts: Option<Arc<AllowedHosts>>,
    activity: Arc<Activity>,
    body_time: Duration,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = TrackedResponse,
    Error = Infallible,
    Future = impl Future<Output = Result<TrackedResponse, Infallible>> + Send + 'static,
> + Clone
+ Send
+ 'static
where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    use warp::Reply as _;
    let warp_service = warp::service(filter);
    hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let in_progress = activity.begin();
        let host_refused = hosts
            .as_ref()
            .and_then(|hosts| hosts.check(req.headers().get(http::header::HOST)).err());
        let method = req.method().clone();
        // Cloning the URI shares its bytes; only a log line that is written reads the path.
        let uri = req.uri().clone();
        let started = Instant::now();
        let mut service = warp_service.clone();
        let state = state.clone();
        BODY_TIME.scope(body_time, async move {
            let mut response = match (host_refused, forward::route_target(uri.path())) {
                (Some(refused), _) => refused.into_response(),
                (None, Some((id, path))) => forward::serve(&state, req, peer, id, path).await,
                (None, None) => {
                    // Only warp's routes read the peer from the extensions; the forwarded path
                    // is handed it directly and spares the extension map's allocation.
                    req.extensions_mut().insert(peer);
                    service.call(req).await?
                }
            };
            if peer.over_tls() {
                response.headers_mut().insert(
                    http::header::STRICT_TRANSPORT_SECURITY,
                    http::HeaderValue::from_static(HSTS),
                );
            }
            let status = response.status().as_u16();
            state.metrics.http.requests.record(status);
            let micros = started.elapsed().as_micros() as u64;
            // Successful reads are the dashboard polling: debug, so they don't flood the journal.
            if status < 400 && matches!(method, http::Method::GET | http::Method::HEAD) {
                tracing::debug!(%method, path = uri.path(), status, micros, "request");
            } else {
                tracing::info!(%method, path = uri.path(), status, micros, "request");
            }
            Ok(response.map(|body| Tracked {
                body,
                _in_progress: in_progress,
            }))
        })
    })
}
