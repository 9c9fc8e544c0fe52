//! Serves a [`ToruPlugin`] on its Unix socket: argument handling, the accept loop, and one
//! multiplexed connection per daemon.
//!
//! An `http.request` whose handler answers without waiting is answered by the reader itself;
//! one that waits, and every `lifecycle.init`, goes on in its own task, so a slow handler never
//! holds up another request, a `ping`, or the `kv.response` a handler is waiting for. (A
//! handler that computes for long without awaiting holds up its thread either way; such work
//! belongs in `spawn_blocking`.) One writer task owns the socket's write half.

use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codec::{DEFAULT_MAX_FRAME, FrameCodec};
use crate::plugin::{ConnectionLink, Kv, PluginContext, ToruPlugin};
use crate::protocol::{Body, ErrorCode, HttpResponse, Message, PROTOCOL_VERSION, Ready};

/// The environment variable the daemon passes the socket path in.
pub const SOCKET_ENV: &str = "TORU_PLUGIN_SOCKET";

/// How the runner serves; [`ServeOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen.
    pub socket: PathBuf,
    /// The largest frame accepted or sent.
    pub max_frame: usize,
    /// Requests handled at once per connection; more are answered `unavailable` at once rather
    /// than queued, so memory stays bounded and the reader never stalls.
    pub max_in_flight: usize,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub drain_timeout: Duration,
}

impl ServeOptions {
    /// Defaults: 8 MiB frames, 1024 requests in flight, 5 s drain.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            max_frame: DEFAULT_MAX_FRAME,
            max_in_flight: 1024,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Errors that stop the runner.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The socket path is taken by something that is not a socket; never deleted.
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// Binding or preparing the socket failed.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Metadata,
    Help,
    Serve(PathBuf),
}

const USAGE: &str = "usage: PLUGIN --metadata | PLUGIN [--socket PATH]\n\
    \n  --metadata      print the plugin's metadata as JSON and exit\
    \n  --socket PATH   listen on PATH (default: $TORU_PLUGIN_SOCKET)\n";

fn parse_args(
    args: impl IntoIterator<Item = String>,
    env_socket: Option<String>,
) -> Result<Command, String> {
    let mut socket = env_socket.map(PathBuf::from);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--metadata" => return Ok(Command::Metadata),
            "-h" | "--help" => return Ok(Command::Help),
            "--socket" => {
                let path = args.next().ok_or("--socket needs a PATH")?;
                socket = Some(PathBuf::from(path));
            }
            other => match other.strip_prefix("--socket=") {
                Some(path) => socket = Some(PathBuf::from(path)),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    socket
        .map(Command::Serve)
        .ok_or_else(|| format!("no socket given: pass --socket PATH or set {SOCKET_ENV}"))
}

/// The whole `main` of a plugin: handles `--metadata` and `--socket`, then serves until the
/// daemon sends `lifecycle.shutdown` or the process gets SIGTERM or SIGINT.
///
/// ```no_run
/// # use toru_plugin_api::*;
/// # struct MyPlugin;
/// # impl ToruPlugin for MyPlugin {
/// #     fn metadata(&self) -> PluginMetadata { unimplemented!() }
/// #     async fn handle_http(&self, _: HttpRequest) -> Result<HttpResponse, PluginError> { unimplemented!() }
/// # }
/// fn main() -> std::process::ExitCode {
///     toru_plugin_api::run(MyPlugin)
/// }
/// ```
pub fn run<P: ToruPlugin>(plugin: P) -> ExitCode {
    let command = parse_args(std::env::args().skip(1), std::env::var(SOCKET_ENV).ok());
    let socket = match command {
        Ok(Command::Metadata) => {
            return match serde_json::to_string(&plugin.metadata()) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("<3>cannot serialise metadata: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Serve(socket)) => socket,
        Err(e) => {
            eprintln!("<3>{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("<3>cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match serve(plugin, ServeOptions::new(socket), termination_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("<3>{e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on SIGTERM or SIGINT: how systemd and a terminal ask a plugin to stop.
async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the default action (exit) still applies.
        _ => std::future::pending().await,
    }
}

/// Serves `plugin` on `opts.socket` until `lifecycle.shutdown` arrives or `stop` resolves. Then
/// waits for in-flight requests (up to `opts.drain_timeout`), calls
/// [`ToruPlugin::shutdown`] and removes the socket file.
pub async fn serve<P: ToruPlugin>(
    plugin: P,
    opts: ServeOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), RunnerError> {
    let listener = bind_fresh(&opts.socket)?;
    let shared = Arc::new(Shared {
        plugin,
        kv: Kv::default(),
        shutdown: CancellationToken::new(),
        closed: CancellationToken::new(),
        requests: TaskTracker::new(),
        opts,
    });
    let connections = TaskTracker::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(shared.clone(), stream));
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning, keep serving.
                    eprintln!("<4>accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shared.shutdown.cancelled() => break,
            _ = &mut stop => {
                shared.shutdown.cancel();
                break;
            }
        }
    }
    drop(listener);
    shared.requests.close();
    if tokio::time::timeout(shared.opts.drain_timeout, shared.requests.wait())
        .await
        .is_err()
    {
        eprintln!("<4>shutdown: in-flight requests did not finish in time");
    }
    shared.plugin.shutdown().await;
    shared.closed.cancel();
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(1), connections.wait()).await;
    let _ = std::fs::remove_file(&shared.opts.socket);
    Ok(())
}

/// Binds the socket, replacing a stale socket file left by a previous run but never any other
/// kind of file.
fn bind_fresh(path: &Path) -> Result<UnixListener, RunnerError> {
    let listen_err = |source| RunnerError::Listen {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(listen_err)?
        }
        Ok(_) => return Err(RunnerError::NotASocket(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(listen_err(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(listen_err)?;
    }
    UnixListener::bind(path).map_err(listen_err)
}

/// State every connection of one runner shares.
struct Shared<P> {
    plugin: P,
    /// The one KV handle given to every `init`; it follows the current connection.
    kv: Kv,
    /// Cancelled by `lifecycle.shutdown` or the stop signal: no new work is taken, but
    /// connections keep reading so in-flight handlers still get their KV answers while draining.
    shutdown: CancellationToken,
    /// Cancelled once draining is over; ends every connection.
    closed: CancellationToken,
    /// Every spawned request, so shutdown can wait for them.
    requests: TaskTracker,
    opts: ServeOptions,
}

/// Size of a connection's outbound queue; senders wait when it is full (backpressure).
const OUTBOUND_QUEUE: usize = 256;

/// Verifies the key of an init with the plugin's verifier; `None` when it has none.
#[cfg(feature = "license")]
fn check_license<P: ToruPlugin>(
    plugin: &P,
    init: &crate::protocol::Init,
) -> Option<Result<crate::license::License, crate::license::LicenseError>> {
    let verifier = plugin.license_verifier()?;
    let key = match init.license.as_deref() {
        Some(key) => key,
        None => return Some(Err(crate::license::LicenseError::Missing)),
    };
    Some(crate::license::verify(
        key,
        &verifier,
        &plugin.metadata().id,
        &init.instance_id,
        std::time::SystemTime::now(),
    ))
}

/// The protocol's form of a licence verdict.
#[cfg(feature = "license")]
fn report_license(
    verdict: &Result<crate::license::License, crate::license::LicenseError>,
) -> crate::protocol::LicenseReport {
    use crate::protocol::LicenseReport;
    match verdict {
        Ok(license) => LicenseReport::Valid {
            licensee: license.licensee.clone(),
            expires_at: license.expires_at,
            features: license.features.clone(),
        },
        Err(e) => LicenseReport::Invalid {
            error: e.kind().as_str().to_owned(),
            message: e.to_string(),
        },
    }
}

async fn serve_connection<P: ToruPlugin>(shared: Arc<Shared<P>>, stream: UnixStream) {
    let (read_half, write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, FrameCodec::with_max_frame(shared.opts.max_frame));
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let writer = tokio::spawn(crate::writer::write_messages(
        FramedWrite::new(
            write_half,
            FrameCodec::with_max_frame(shared.opts.max_frame),
        ),
        rx,
        // A child token: this connection's writer ending must not close the others.
        shared.closed.child_token(),
    ));
    let conn = Arc::new(ConnectionLink::new(tx.clone()));
    shared.kv.link().attach(conn.clone());
    let in_flight = Arc::new(Semaphore::new(shared.opts.max_in_flight));

    loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            _ = shared.closed.cancelled() => break,
        };
        let message = match frame {
            None => break,
            Some(Ok(Ok(message))) => message,
            Some(Ok(Err(bad))) => {
                eprintln!("<4>ignoring bad frame from the daemon: {bad}");
                let id = bad.request_id.clone().unwrap_or_default();
                let _ = tx
                    .send(Message::error(id, bad.code(), bad.to_string()))
                    .await;
                continue;
            }
            Some(Err(fatal)) => {
                eprintln!("<3>closing the daemon connection: {fatal}");
                break;
            }
        };
        let Message {
            request_id, body, ..
        } = message;
        if shared.shutdown.is_cancelled() && matches!(body, Body::Init(_) | Body::HttpRequest(_)) {
            let busy = Message::error(
                request_id,
                ErrorCode::Unavailable,
                "the plugin is shutting down",
            );
            let _ = tx.send(busy).await;
            continue;
        }
        match body {
            Body::Ping => {
                let _ = tx.send(Message::new(request_id, Body::Pong)).await;
            }
            Body::Init(init) => {
                let shared = shared.clone();
                let tx = tx.clone();
                shared.requests.clone().spawn(async move {
                    let reply = if init.protocol_version != PROTOCOL_VERSION {
                        Message::error(
                            request_id,
                            ErrorCode::UnsupportedVersion,
                            format!(
                                "daemon speaks protocol {}, plugin speaks {PROTOCOL_VERSION}",
                                init.protocol_version
                            ),
                        )
                    } else {
                        #[cfg(feature = "license")]
                        let verdict = check_license(&shared.plugin, &init);
                        #[cfg(feature = "license")]
                        let report = verdict.as_ref().map(report_license);
                        #[cfg(not(feature = "license"))]
                        let report = None;
                        let ctx = PluginContext {
                            instance_id: init.instance_id,
                            plugin_id: init.plugin_id,
                            config: with_declared_defaults(&shared.plugin.metadata(), init.config),
                            license_key: init.license,
                            kv: shared.kv.clone(),
                            #[cfg(feature = "license")]
                            license: verdict,
                        };
                        match shared.plugin.init(ctx).await {
                            Ok(()) => Message::new(
                                request_id,
                                Body::Ready(Ready {
                                    protocol_version: PROTOCOL_VERSION,
                                    license: report,
                                }),
                            ),
                            Err(e) => {
                                Message::error(request_id, ErrorCode::Internal, e.to_string())
                            }
                        }
                    };
                    let _ = tx.send(reply).await;
                });
            }
            Body::HttpRequest(req) => {
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    let busy = Message::error(
                        request_id,
                        ErrorCode::Unavailable,
                        "too many requests in flight",
                    );
                    let _ = tx.send(busy).await;
                    continue;
                };
                let (shared_for_answer, tx) = (shared.clone(), tx.clone());
                let mut reply = Box::pin(async move {
                    let response = answer_http(&shared_for_answer, req).await;
                    let _ = tx
                        .send(Message::new(request_id, Body::HttpResponse(response)))
                        .await;
                    drop(permit);
                });
                // Most handlers answer without waiting: those are answered here, saving a task
                // and a hop between threads. One that waits (KV, I/O, timers, a full outbound
                // queue) goes on in its own task; polling it there re-registers its wake-ups.
                if futures::poll!(reply.as_mut()).is_pending() {
                    shared.requests.spawn(reply);
                }
            }
            Body::KvResponse(result) => {
                if !conn.resolve(&request_id, Ok(result)) {
                    eprintln!("<4>kv.response for unknown request {request_id:?} ignored");
                }
            }
            Body::Error(error) => {
                if !conn.resolve(&request_id, Err(error.clone())) {
                    eprintln!(
                        "<4>daemon reported an error for {request_id:?}: {:?}: {}",
                        error.code, error.message
                    );
                }
            }
            Body::Shutdown => shared.shutdown.cancel(),
            other @ (Body::Ready(_) | Body::HttpResponse(_) | Body::KvRequest(_) | Body::Pong) => {
                let reply = Message::error(
                    request_id,
                    ErrorCode::UnknownType,
                    format!("a plugin does not accept {}", other.type_name()),
                );
                let _ = tx.send(reply).await;
            }
        }
    }
    shared.kv.link().detach(&conn);
    conn.fail_all();
    drop(conn);
    drop(tx);
    // The writer ends once every sender is gone, i.e. once in-flight handlers have answered;
    // it is not awaited here so a slow handler cannot keep the reader's task alive.
    drop(writer);
}

/// The plugin's answer to one `http.request`: its handler's, or the runner's for reserved paths.
async fn answer_http<P: ToruPlugin>(
    shared: &Shared<P>,
    req: crate::protocol::HttpRequest,
) -> HttpResponse {
    if req.path.starts_with(RESERVED_PREFIX) {
        return serve_reserved(&shared.plugin, &req);
    }
    match shared.plugin.handle_http(req).await {
        Ok(response) => response,
        Err(e) => e.to_response(),
    }
}

/// Paths under this prefix are the daemon's, not the plugin's routes (`docs/protocol.md` §4).
pub const RESERVED_PREFIX: &str = "/_toru/";

/// Answers the daemon's reserved requests; today only the frontend bundle.
fn serve_reserved<P: ToruPlugin>(plugin: &P, req: &crate::protocol::HttpRequest) -> HttpResponse {
    match (
        req.method.as_str(),
        req.path.as_str(),
        plugin.frontend_bundle(),
    ) {
        ("GET", "/_toru/bundle.js", Some(bundle)) => HttpResponse {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "text/javascript; charset=utf-8".into(),
            )],
            body: bundle.to_vec(),
        },
        _ => HttpResponse::not_found(),
    }
}

/// `config` with the default of every declared setting it lacks. The daemon sends them filled
/// in already; doing it here too means a plugin under a stand-in daemon (`TestDaemon`) or an
/// older daemon sees the same values.
fn with_declared_defaults(
    meta: &crate::PluginMetadata,
    mut config: std::collections::BTreeMap<String, serde_json::Value>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    for setting in meta.settings.iter().flat_map(|s| s.settings()) {
        if let Some(default) = &setting.default {
            config
                .entry(setting.name.clone())
                .or_insert_with(|| default.clone());
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_command_line() {
        // (argv, $TORU_PLUGIN_SOCKET, expected command or a usage error)
        type Case<'a> = (&'a [&'a str], Option<&'a str>, Result<Command, ()>);
        let cases: &[Case] = &[
            // --metadata wins whatever else is given.
            (&["--metadata"], None, Ok(Command::Metadata)),
            (
                &["--socket", "/a", "--metadata"],
                None,
                Ok(Command::Metadata),
            ),
            // The socket from the flag, the `=` form, or the environment.
            (&["--socket", "/a"], None, Ok(Command::Serve("/a".into()))),
            (&["--socket=/b"], None, Ok(Command::Serve("/b".into()))),
            (&[], Some("/env"), Ok(Command::Serve("/env".into()))),
            // The flag overrides the environment.
            (
                &["--socket", "/a"],
                Some("/env"),
                Ok(Command::Serve("/a".into())),
            ),
            (&["--help"], None, Ok(Command::Help)),
            // No socket at all, a flag without its value, an unknown flag.
            (&[], None, Err(())),
            (&["--socket"], None, Err(())),
            (&["--frobnicate"], None, Err(())),
        ];
        for (argv, env, expected) in cases {
            let got = parse_args(args(argv), env.map(String::from)).map_err(|_| ());
            assert_eq!(&got, expected, "argv {argv:?} env {env:?}");
        }
    }
}
