//! Which daemon a command talks to, and the commands that manage remote daemons: `login` and
//! `context list|use|remove`. The local socket needs no login; a remote daemon is reached with
//! `--url` and a session token, or through a stored context (`contexts.rs`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use toru_api::{CertFingerprint, LoginRequest};
use toructl::{Client, ClientError, Endpoint, Trust, tls};

use crate::cli::{Cli, ContextCommand};
use crate::contexts::{Context, ContextName, Contexts, ContextsError, LOCAL};
use crate::output::Rows;
use crate::{Failure, Outcome, default_socket, print_json, read_password, usage};

/// The daemon the flags and the environment name: `--socket`, else `--url` with `--session`,
/// else `--context` (or `TORU_CONTEXT`), else the current context, else the local socket.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `--socket` / `TORU_SOCKET`.
    pub socket: Option<PathBuf>,
    /// `--url` / `TORU_URL`.
    pub url: Option<String>,
    /// `--session` / `TORU_SESSION`.
    pub session: Option<String>,
    /// `--context` / `TORU_CONTEXT`.
    pub context: Option<ContextName>,
}

impl Target {
    /// What `cli`'s global options name.
    pub fn of(cli: &Cli) -> Target {
        Target {
            socket: cli.socket.clone(),
            url: cli.url.clone(),
            session: cli.session.clone(),
            context: cli.context.clone(),
        }
    }

    /// What the environment names (for shell completion, which has no parsed flags).
    pub fn from_env() -> Target {
        Target {
            socket: std::env::var_os("TORU_SOCKET").map(Into::into),
            url: std::env::var("TORU_URL").ok(),
            session: std::env::var("TORU_SESSION").ok(),
            context: std::env::var("TORU_CONTEXT")
                .ok()
                .and_then(|n| n.parse().ok()),
        }
    }

    /// A client for the daemon this target names.
    pub fn connect(self) -> Result<Client, Failure> {
        if let Some(url) = &self.url {
            let endpoint = Endpoint::from_url(url).map_err(usage)?;
            return Ok(Client::new(endpoint, self.session));
        }
        if self.socket.is_none() {
            let chosen = match self.context {
                Some(name) => Some((name, stored()?.1)),
                // Without --context, a missing config directory just means no contexts.
                None => match stored() {
                    Ok((_, contexts)) => contexts.current.clone().map(|n| (n, contexts)),
                    Err(_) if Contexts::default_path().is_err() => None,
                    Err(e) => return Err(e),
                },
            };
            if let Some((name, contexts)) = chosen.filter(|(name, _)| !name.is_local()) {
                return context_client(&contexts, &name);
            }
        }
        let socket = self.socket.unwrap_or_else(default_socket);
        Ok(Client::new(Endpoint::Unix(socket), self.session))
    }
}

impl From<ContextsError> for Failure {
    fn from(e: ContextsError) -> Self {
        usage(e.to_string())
    }
}

/// The contexts file's path and what it holds.
pub fn stored() -> Result<(PathBuf, Contexts), Failure> {
    let path = Contexts::default_path()?;
    let contexts = Contexts::load(&path)?;
    Ok((path, contexts))
}

/// A client for the stored context `name`.
pub fn context_client(contexts: &Contexts, name: &ContextName) -> Result<Client, Failure> {
    let context = contexts.contexts.get(name).ok_or_else(|| {
        usage(format!(
            "no context {name} (toructl context list shows them; toructl login --context {name} URL USER adds it)"
        ))
    })?;
    let endpoint = Endpoint::from_url(&context.url)
        .map_err(usage)?
        .pinned(context.fingerprint);
    Ok(Client::new(endpoint, Some(context.session.clone())))
}

/// `toructl login`: with `--context NAME`, `[URL] [USER]` (missing ones from the stored
/// context) and the session kept in it; with `--url`, `USER` and the token printed.
pub async fn login(cli: &Cli, args: &[String], fingerprint: Option<CertFingerprint>) -> Outcome {
    let Some(name) = &cli.context else {
        let (Some(url), [user]) = (&cli.url, args) else {
            return Err(usage(
                "usage: toructl login --context NAME URL USER (or toructl --url URL login USER); on the host the local socket needs no login",
            ));
        };
        let endpoint = Endpoint::from_url(url).map_err(usage)?.pinned(fingerprint);
        let token = log_in(&endpoint, user).await?;
        println!("export TORU_SESSION={token}");
        return Ok(());
    };
    if name.is_local() {
        return Err(usage(format!(
            "{LOCAL} is the local socket, which needs no login; choose another context name"
        )));
    }
    let (path, mut contexts) = stored()?;
    let known = contexts.contexts.get(name);
    let (url, user) = match (args, known) {
        ([url, user], _) => (url.clone(), user.clone()),
        ([user], Some(known)) => (known.url.clone(), user.clone()),
        ([], Some(known)) => (known.url.clone(), known.user.clone()),
        _ => {
            return Err(usage(format!(
                "no context {name} yet: toructl login --context {name} URL USER"
            )));
        }
    };
    // A pin is kept across logins to the same URL, as SSH keeps a known host.
    let kept_pin = known
        .filter(|k| k.url == url)
        .and_then(|known| known.fingerprint);
    let endpoint = Endpoint::from_url(&url)
        .map_err(usage)?
        .pinned(fingerprint.or(kept_pin));
    let endpoint = trust_on_first_use(endpoint).await?;
    let session = log_in(&endpoint, &user).await?;
    let fingerprint = match endpoint {
        Endpoint::Https(_, Trust::Pinned(pin)) => Some(pin),
        _ => None,
    };
    let context = Context {
        url: url.clone(),
        user: user.clone(),
        session,
        fingerprint,
    };
    contexts.contexts.insert(name.clone(), context);
    contexts.save(&path)?;
    let how = if contexts.current.as_ref() == Some(name) {
        "the current context".to_owned()
    } else {
        format!("use it with --context {name}, or by default after: toructl context use {name}")
    };
    eprintln!("logged in to {url} as {user}; saved as context {name} ({how})");
    Ok(())
}

/// Asks for `user`'s password and logs in at `endpoint`; the session token.
async fn log_in(endpoint: &Endpoint, user: &str) -> Result<String, Failure> {
    let password = read_password("Password: ")?;
    let client = Client::new(endpoint.clone(), None);
    let form = LoginRequest {
        username: user.to_owned(),
        password,
    };
    let (_, token) = client.login(&form).await?;
    token.ok_or_else(|| Failure {
        code: 1,
        message: "the daemon set no session cookie".into(),
    })
}

/// An https endpoint whose certificate no authority in the system's store vouches for is
/// pinned after the user compared its fingerprint, at a terminal, with `toructl status` on the
/// server; elsewhere they must pass `--fingerprint`. Any other endpoint is returned unchanged.
async fn trust_on_first_use(endpoint: Endpoint) -> Result<Endpoint, Failure> {
    let Endpoint::Https(authority, Trust::System) = &endpoint else {
        return Ok(endpoint);
    };
    match tls::connect(authority, Trust::System).await {
        Ok(_) => return Ok(endpoint),
        Err(e) if tls::certificate_problem(&e).is_none() => {
            return Err(ClientError::from_io(&endpoint, e).into());
        }
        Err(_) => {}
    }
    let seen = tls::presented_fingerprint(authority)
        .await
        .map_err(|e| ClientError::from_io(&endpoint, e))?;
    let explain = format!(
        "the certificate of https://{authority} is not signed by an authority this machine trusts.\nIts SHA-256 fingerprint is\n  {seen}\nCompare it with the one `toructl status` shows on that server."
    );
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "{explain}\nIf they match, run again with --fingerprint {seen}"
        )));
    }
    eprint!("{explain}\nTrust it and remember it for this context? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| usage(e.to_string()))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(endpoint.pinned(Some(seen)))
    } else {
        Err(usage("not trusted; nothing saved"))
    }
}

/// `toructl context list|use|remove`.
pub async fn context(cmd: ContextCommand, json: bool) -> Outcome {
    let (path, mut contexts) = stored()?;
    match cmd {
        ContextCommand::List => list(&contexts, json),
        ContextCommand::Use { name } => {
            if !name.is_local() && !contexts.contexts.contains_key(&name) {
                return Err(usage(format!(
                    "no context {name} (toructl context list shows them)"
                )));
            }
            contexts.current = (!name.is_local()).then(|| name.clone());
            contexts.save(&path)?;
            eprintln!("commands now talk to context {name}");
            Ok(())
        }
        ContextCommand::Remove { name } => {
            let client = context_client(&contexts, &name)?;
            contexts.contexts.remove(&name);
            if contexts.current.as_ref() == Some(&name) {
                contexts.current = None;
            }
            contexts.save(&path)?;
            // The token is forgotten either way; ending the session also makes it useless
            // to anyone who copied the file.
            let ended = tokio::time::timeout(LOGOUT_WITHIN, client.logout()).await;
            let how = match ended {
                Ok(Ok(())) => "its session ended",
                _ => "its daemon could not end the session, which expires by itself",
            };
            eprintln!("context {name} removed; {how}");
            Ok(())
        }
    }
}

/// How long `context remove` waits for the daemon to end the session.
const LOGOUT_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// What `context list --json` shows of a context: never its token.
#[derive(serde::Serialize)]
struct Listed<'a> {
    name: &'a str,
    url: String,
    user: Option<&'a str>,
    fingerprint: Option<CertFingerprint>,
    current: bool,
}

fn list(contexts: &Contexts, json: bool) -> Outcome {
    let local = Listed {
        name: LOCAL,
        url: default_socket().display().to_string(),
        user: None,
        fingerprint: None,
        current: contexts.current.is_none(),
    };
    let stored = contexts.contexts.iter().map(|(name, c)| Listed {
        name: name.as_ref(),
        url: c.url.clone(),
        user: Some(&c.user),
        fingerprint: c.fingerprint,
        current: contexts.current.as_ref() == Some(name),
    });
    let listed: Vec<Listed> = std::iter::once(local).chain(stored).collect();
    if json {
        print_json(&listed);
        return Ok(());
    }
    let mut rows = Rows::new(&["CURRENT", "NAME", "URL", "USER", "CERTIFICATE"]);
    for l in &listed {
        let certificate = match (&l.fingerprint, l.url.starts_with("https://")) {
            (Some(_), _) => "pinned",
            (None, true) => "system authorities",
            (None, false) => "-",
        };
        rows.add(vec![
            if l.current { "*" } else { "" }.into(),
            l.name.into(),
            l.url.as_str().into(),
            l.user.unwrap_or("-").into(),
            certificate.into(),
        ]);
    }
    rows.print();
    Ok(())
}
