//! Shell completion that asks the daemon: plugin ids and user names are completed from the
//! running daemon, like `systemctl`'s unit names. The shell runs `COMPLETE=<shell> toructl --
//! <words>` at each <Tab> (clap_complete's dynamic engine, [`CompleteEnv`]); the scripts that
//! register this are what `toructl completions SHELL` prints and the Debian package installs.
//!
//! A completion never prints an error and never waits long: an unreachable daemon, a refused
//! socket or a slow answer complete nothing.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{CompleteEnv, Shells};
use toructl::Client;

use crate::cli::Cli;

/// How long one completion may wait for the daemon.
const ASK_WITHIN: Duration = Duration::from_secs(2);

/// The environment variable the registration scripts set; the name clap_complete documents.
const VAR: &str = "COMPLETE";

/// Answers a completion request and exits, when the shell made this run one (`COMPLETE` set);
/// otherwise returns and `main` goes on.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(Cli::command).var(VAR).complete();
}

/// Writes the script that registers dynamic completion of `toructl` in `shell`. It names
/// `toructl` itself, found on `PATH` at <Tab>, never the path this binary was run from, so a
/// script generated at packaging time works once installed.
pub fn write_registration(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| std::io::Error::other(format!("no dynamic completion for {name}")))?;
    completer.write_registration(VAR, "toructl", "toructl", "toructl", out)
}

/// The ids of the daemon's plugins, each with its name and state as help.
pub fn plugin_ids() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        ask(|client| async move { client.plugins().await })
            .into_iter()
            .map(|p| {
                let help = format!("{} ({})", p.name, p.status.state);
                CompletionCandidate::new(p.id).help(Some(help.into()))
            })
            .collect()
    })
}

/// The daemon's dashboard user names.
pub fn user_names() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        ask(|client| async move { client.users().await })
            .into_iter()
            .map(|u| CompletionCandidate::new(u.username))
            .collect()
    })
}

/// The stored contexts' names, each with its URL as help, and `local`.
pub fn context_names() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let stored = crate::remote::stored()
            .map(|(_, c)| c.contexts)
            .unwrap_or_default();
        std::iter::once(
            CompletionCandidate::new(crate::contexts::LOCAL).help(Some("the local socket".into())),
        )
        .chain(
            stored.into_iter().map(|(name, c)| {
                CompletionCandidate::new(String::from(name)).help(Some(c.url.into()))
            }),
        )
        .collect()
    })
}

/// Runs one request against the daemon the environment names (`TORU_URL`, `TORU_SESSION`,
/// `TORU_SOCKET`, `TORU_CONTEXT`, else the current context or the default socket), within [`ASK_WITHIN`]; nothing on any failure.
fn ask<T, F, Fut>(request: F) -> Vec<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<Vec<T>, toructl::ClientError>>,
{
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    // The client's connector is made within the runtime.
    let _entered = runtime.enter();
    let Ok(client) = crate::remote::Target::from_env().connect() else {
        return Vec::new();
    };
    runtime
        .block_on(tokio::time::timeout(ASK_WITHIN, request(client)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}
