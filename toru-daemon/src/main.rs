//! `toru-daemon`: parses flags, sets up logging, and runs the daemon until SIGTERM or SIGINT.
//! Run as `toru-daemon --log-relay …` it is instead the embedded backend's log relay for one
//! plugin (`toru_daemon::logs::relay`), a mode only the daemon itself starts.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use toru_daemon::api::activation::Inherited;
use toru_daemon::backup::RESTART_EXIT_STATUS;
use toru_daemon::config::{Args, Config};
use toru_daemon::daemon::Exit;
use toru_daemon::logs::relay::{self, RelayArgs};
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|first| first == relay::RELAY_FLAG) {
        let args = RelayArgs::parse_from(std::iter::once(relay::RELAY_FLAG.into()).chain(argv));
        // Its standard output is a plugin's pipe and its stderr is /dev/null: nothing to log to.
        return match relay::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let args = Args::parse();
    init_logging();
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    // Before any thread exists: this edits the environment (see `Inherited::from_env`).
    let inherited = match Inherited::from_env() {
        Ok(inherited) => inherited,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        match toru_daemon::run(config, inherited, shutdown).await {
            Ok(Exit::Stopped) => ExitCode::SUCCESS,
            Ok(Exit::RestartToRestore) => {
                tracing::warn!("stopping to load the restored backup at the next start");
                ExitCode::from(RESTART_EXIT_STATUS)
            }
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Logs to the journal when systemd connected our output to it, else to stderr, with colours only
/// when stderr is a terminal (escape codes in a file or a pipe are noise). `RUST_LOG` filters
/// (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journald = std::env::var_os("JOURNAL_STREAM")
        .is_some()
        .then(|| tracing_journald::layer().ok())
        .flatten();
    match journald {
        Some(layer) => tracing_subscriber::registry()
            .with(filter)
            .with(layer)
            .init(),
        None => tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .init(),
    }
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
}
