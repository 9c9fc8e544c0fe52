//! Serving the API: our own accept loop (warp's has no connection limit, header timeout or peer
//! credentials) feeding warp's filter through hyper, except for forwarded plugin routes, which
//! go straight to [`forward::serve`] (the hot path; see there why).
//!
//! Each connection gets its peer's identity attached to every request — the TCP address for
//! rate limiting, or the Unix peer's credentials for authorisation — and each request is logged
//! with its status and duration. Bounds: at most [`MAX_CONNECTIONS`] open connections, request
//! headers must arrive within [`HEADER_TIMEOUT`] (a slowloris client is cut off), and shutdown
//! waits at most [`SHUTDOWN_GRACE`] for requests in progress.

use std::convert::Infallible;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;
use warp::Filter;

use super::ApiState;
use super::filters::ClientAddr;
use super::handlers::forward;
use crate::auth::peer::{LOCAL_GROUP, PeerCred};

/// Open connections served at once, per listener; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a client has to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in progress.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the API listens.
pub enum Listener {
    /// A TCP socket (the dashboard, remote `toructl --url`).
    Tcp(TcpListener),
    /// The local Unix socket (`toructl` on the host).
    Unix(UnixListener),
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
pub async fn serve<F>(listener: Listener, state: ApiState, filter: F, shutdown: CancellationToken)
where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    // One handle for all connections: each forwarded request clones one `Arc`, not every field.
    let state = Arc::new(state);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (io, identity) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Usually EMFILE: wait instead of spinning; connections in flight continue.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = request_service(state.clone(), filter.clone(), identity);
        let connection = builder.serve_connection(io, service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let _ = connection.await;
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

/// Who is on the other end of a connection.
#[derive(Clone, Copy)]
enum Identity {
    Tcp(ClientAddr),
    Unix(Option<PeerCred>),
}

/// Either kind of stream, so one accept loop serves both listeners.
type Io = TokioIo<Box<dyn Stream>>;

/// What hyper needs of a stream.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn accept(listener: &Listener) -> std::io::Result<(Io, Identity)> {
    match listener {
        Listener::Tcp(l) => {
            let (stream, addr) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((
                TokioIo::new(Box::new(stream) as Box<dyn Stream>),
                Identity::Tcp(ClientAddr(addr)),
            ))
        }
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            let cred = stream.peer_cred().ok().map(|c| PeerCred {
                uid: c.uid(),
                gid: c.gid(),
            });
            Ok((
                TokioIo::new(Box::new(stream) as Box<dyn Stream>),
                Identity::Unix(cred),
            ))
        }
    }
}

/// Routes a request to the forwarding path or to warp's service (attaching the connection's
/// identity for warp's filters), and logs it.
fn request_service<F>(
    state: Arc<ApiState>,
    filter: F,
    identity: Identity,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = warp::reply::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<warp::reply::Response, Infallible>> + Send + 'static,
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
    let warp_service = warp::service(filter);
    hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let peer = match identity {
            Identity::Tcp(addr) => {
                req.extensions_mut().insert(addr);
                None
            }
            // A Unix peer without readable credentials gets none, and is refused by auth.
            Identity::Unix(cred) => {
                if let Some(cred) = cred {
                    req.extensions_mut().insert(cred);
                }
                cred
            }
        };
        let method = req.method().clone();
        // Cloning the URI shares its bytes; only a log line that is written reads the path.
        let uri = req.uri().clone();
        let started = Instant::now();
        let mut service = warp_service.clone();
        let state = state.clone();
        async move {
            let response = match forward::route_target(uri.path()) {
                Some((id, path)) => forward::serve(&state, req, peer, id, path).await,
                None => service.call(req).await?,
            };
            let status = response.status().as_u16();
            let micros = started.elapsed().as_micros() as u64;
            // Successful reads are the dashboard polling: debug, so they don't flood the journal.
            if status < 400 && matches!(method, http::Method::GET | http::Method::HEAD) {
                tracing::debug!(%method, path = uri.path(), status, micros, "request");
            } else {
                tracing::info!(%method, path = uri.path(), status, micros, "request");
            }
            Ok(response)
        }
    })
}
