//! `toructl`: drives the Toru daemon's HTTP API from a shell.
//!
//! Exit codes: 0 ok, 1 the daemon refused or failed the request, 2 usage error, 3 the daemon
//! could not be reached (or its TLS certificate is not trusted).

mod backup;
mod cli;
mod complete;
mod contexts;
mod fleet;
mod manpages;
mod output;
mod remote;
mod usage;

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use toru_api::{
    DiscoveryFailure, ErrorCode, Event, EventsQuery, FollowEventsQuery, InstallOutcome,
    LicenseState, LicenseStatus, LogEntry, LogsQuery, NewPassword, NewUser, Permissions, Plugin,
    PluginState, PluginStatus, Role, SettingField, SettingType, SettingValue, SettingsChange,
    SignatureStatus,
};
use toructl::{Client, ClientError};

use cli::{
    Cli, Command, ConfigArgs, ConfigCommand, KvCommand, LicenseCommand, PluginCommand, TopSort,
    UserCommand,
};
use output::{Cell, Rows, Tone};

/// An error with the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match e {
            // Nothing was said to a daemon whose certificate is not trusted.
            ClientError::Unreachable { .. } | ClientError::UntrustedCertificate { .. } => 3,
            _ => 1,
        };
        let hint = match &e {
            ClientError::Unreachable {
                kind: Some(std::io::ErrorKind::PermissionDenied),
                ..
            } => "\nhint: the daemon runs, but its socket is for root and group toru: run with sudo, or add yourself to the group (sudo adduser $USER toru) and log in again".into(),
            ClientError::Unreachable { .. } => {
                "\nhint: is toru-daemon running? (systemctl status toru-daemon) Use --socket or --url to point elsewhere.".into()
            }
            ClientError::Api {
                code: Some(ErrorCode::InvalidCredentials),
                ..
            } => "\nhint: check the user name and password (toructl user list shows the users, over the local socket)".into(),
            ClientError::Api {
                code: Some(ErrorCode::AdminRequired),
                ..
            } => "\nhint: your user is a viewer; an administrator can change that (toructl user set-role NAME admin)".into(),
            ClientError::Api {
                code: Some(ErrorCode::AccountDisabled),
                ..
            } => "\nhint: an administrator can enable it again (toructl user enable NAME, on the host)".into(),
            ClientError::Api {
                code: Some(ErrorCode::LastAdmin),
                ..
            } => "\nhint: make another user an administrator first (toructl user set-role NAME admin)".into(),
            ClientError::Api { status, .. } if status.as_u16() == 401 => {
                "\nhint: log in first (toructl login --context NAME URL USER), or again when the session expired (toructl login --context NAME)".into()
            }
            ClientError::UntrustedCertificate { .. } => {
                "\nhint: compare the certificate with `toructl status` on the server; if it changed on purpose, log in again with --fingerprint".into()
            }
            ClientError::Api { status, .. } if status.as_u16() == 403 => {
                "\nhint: the local socket is for root and members of group toru (sudo, or: adduser $USER toru)".into()
            }
            ClientError::Api {
                retry_after: Some(secs),
                ..
            } => format!("\nhint: try again in {secs} s"),
            _ => String::new(),
        };
        Failure {
            code,
            message: format!("{e}{hint}"),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    complete::answer_if_asked();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("toructl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("toructl: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Root uses the system daemon's socket. Anyone else uses their own daemon's socket under
/// `$XDG_RUNTIME_DIR` when it exists (a developer's daemon), else the system daemon's, which
/// members of group `toru` may use (the packaged install).
fn default_socket() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let system = PathBuf::from("/run/toru/toru.sock");
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !root => {
            let own = PathBuf::from(dir).join("toru/toru.sock");
            if own.exists() || !system.exists() {
                own
            } else {
                system
            }
        }
        _ => system,
    }
}

/// `toructl manpages DIR`.
fn manpages(dir: &std::path::Path) -> Outcome {
    let written = manpages::write_all(dir)
        .map_err(|e| usage(format!("cannot write man pages to {}: {e}", dir.display())))?;
    println!("{} man pages in {}", written.len(), dir.display());
    Ok(())
}

async fn run(cli: Cli) -> Outcome {
    match &cli.command {
        Command::Completions { shell } => {
            return complete::write_registration(*shell, &mut std::io::stdout())
                .map_err(|e| usage(e.to_string()));
        }
        Command::Manpages { dir } => return manpages(dir),
        Command::Context(cmd) => return remote::context(cmd.clone(), cli.json).await,
        Command::Login { args, fingerprint } => {
            return remote::login(&cli, args, *fingerprint).await;
        }
        _ => {}
    }
    if cli.all_contexts {
        return fleet::run(cli.command, cli.json).await;
    }
    let client = remote::Target::of(&cli).connect()?;
    dispatch(&client, cli.command, cli.json).await
}

/// Runs one command against one daemon.
async fn dispatch(client: &Client, command: Command, json: bool) -> Outcome {
    match command {
        Command::Status => status(client, json).await,
        Command::Plugin(cmd) => plugin(client, cmd, json).await,
        Command::Top { iterations, sort } => top(client, iterations, sort, json).await,
        Command::Events {
            plugin,
            kind,
            actor,
            limit,
            follow,
        } => {
            let query = EventsQuery {
                limit: Some(limit),
                plugin,
                kind,
                actor,
            };
            if follow {
                follow_events(client, query, json).await
            } else {
                events(client, &query, json).await
            }
        }
        Command::Backup { output } => backup::whole(client, output).await,
        Command::Restore { file, no_wait } => backup::restore(client, &file, !no_wait, json).await,
        Command::User(cmd) => user(client, cmd, json).await,
        Command::Kv(cmd) => kv(client, cmd, json).await,
        Command::Login { .. }
        | Command::Context(_)
        | Command::Completions { .. }
        | Command::Manpages { .. } => unreachable!("handled by run"),
    }
}

/// `toructl top`: the plugins' figures every [`usage::TOP_REFRESH`], `iterations` times or
/// until interrupted.
async fn top(client: &Client, iterations: Option<u32>, sort: TopSort, json: bool) -> Outcome {
    let mut done = 0u32;
    loop {
        let plugins = client.plugins().await?;
        if json {
            let usage: Vec<_> = plugins
                .iter()
                .map(|p| serde_json::json!({"id": p.id, "state": p.status.state, "usage": p.usage}))
                .collect();
            println!("{}", serde_json::to_string(&usage).unwrap_or_default());
        } else {
            let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
            usage::print_top_frame(&usage::top_rows(plugins, sort), &at);
        }
        done += 1;
        if iterations.is_some_and(|n| done >= n) {
            return Ok(());
        }
        tokio::time::sleep(usage::TOP_REFRESH).await;
    }
}

fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// A value that may be absent, as `-` when it is.
fn or_dash(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

async fn status(client: &Client, json: bool) -> Outcome {
    let s = client.status().await?;
    if json {
        print_json(&s);
        return Ok(());
    }
    println!("toru-daemon {}", s.version);
    println!("instance    {}", s.instance_id);
    println!("supervisor  {}", s.backend);
    println!("you         {}", s.user);
    let p = &s.plugins;
    println!(
        "plugins     {} installed, {} enabled, {} running, {} failed",
        p.total, p.enabled, p.running, p.failed
    );
    // What a browser's first warning about the certificate is checked against.
    if let Some(tls) = &s.tls {
        println!("tls         https on {}", tls.listen);
        println!("sha256      {}", tls.sha256_fingerprint);
    }
    Ok(())
}

fn health(status: &PluginStatus) -> &'static str {
    match (status.state, status.healthy) {
        (PluginState::Running, true) => "healthy",
        (PluginState::Running, false) => "unhealthy",
        _ => "-",
    }
}

/// What a plugin asked for beyond the default sandbox, in one line, so the administrator sees
/// it before enabling the plugin.
fn permissions(p: &Permissions) -> String {
    let mut parts = Vec::new();
    if p.network {
        parts.push("network beyond localhost".to_owned());
    }
    for path in &p.writable_paths {
        parts.push(format!("writes {path}"));
    }
    for device in &p.devices {
        parts.push(format!("device {device}"));
    }
    if p.jit {
        parts.push("may write and run machine code at run time (JIT)".to_owned());
    }
    if parts.is_empty() {
        "none (the default sandbox)".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The columns of `plugin list`, one [`plugin_row`] a plugin (the fleet view puts CONTEXT
/// first).
/// The usage columns come last, so scripts reading the first seven keep working.
const PLUGIN_COLUMNS: [&str; 11] = [
    "ID",
    "NAME",
    "VERSION",
    "ENABLED",
    "STATE",
    "HEALTH",
    "RESTARTS",
    usage::USAGE_HEADERS[0],
    usage::USAGE_HEADERS[1],
    usage::USAGE_HEADERS[2],
    usage::USAGE_HEADERS[3],
];

/// One plugin as a `plugin list` row.
fn plugin_row(p: &Plugin) -> Vec<Cell> {
    let s = &p.status;
    let mut row = vec![
        p.id.as_str().into(),
        p.name.as_str().into(),
        p.version.as_str().into(),
        yes_no(s.enabled).into(),
        Cell::state(s.state),
        health(s).into(),
        s.restarts.to_string().into(),
    ];
    row.extend(usage::usage_cells(p.usage.as_ref()));
    row
}

async fn plugin(client: &Client, cmd: PluginCommand, json: bool) -> Outcome {
    match cmd {
        PluginCommand::List => {
            let plugins = client.plugins().await?;
            if json {
                print_json(&plugins);
                return Ok(());
            }
            let mut t = Rows::new(&PLUGIN_COLUMNS);
            for p in &plugins {
                t.add(plugin_row(p));
            }
            t.print();
            // On stderr, so `plugin list | awk …` still reads only plugins.
            print_skipped(&client.discovery_failures().await?, &mut std::io::stderr());
        }
        PluginCommand::Show { id } => {
            let details = client.plugin(&id).await?;
            if json {
                print_json(&details);
                return Ok(());
            }
            let p = &details.plugin;
            let s = &p.status;
            for (label, value) in [
                ("id", p.id.clone()),
                ("name", p.name.clone()),
                ("version", p.version.clone()),
                ("previous", or_dash(p.previous_version.as_ref())),
                ("author", p.author.clone()),
                ("description", p.description.clone()),
                ("route", p.route.clone()),
                ("binary", p.binary.clone()),
                ("unit", or_dash(details.unit_name.as_ref())),
                ("enabled", s.enabled.to_string()),
                ("state", s.state.to_string()),
                ("pid", or_dash(s.pid)),
                ("restarts", s.restarts.to_string()),
                ("last error", or_dash(s.last_error.as_ref())),
            ] {
                println!("{label:<12}{value}");
            }
            println!("{:<12}{}", "health", health(s));
            if let Some(u) = &p.usage {
                for (label, value) in usage::usage_lines(u) {
                    println!("{label:<12}{value}");
                }
            }
            if let Ok(limits) = client.limits(&id).await {
                println!("{:<12}{}", "limits", usage::limits_line(&limits.effective));
            }
            let l = &p.license;
            if l.required || l.installed {
                let required = if l.required { " [required]" } else { "" };
                println!("{:<12}{}{required}", "licence", license_line(l));
            }
            println!("{:<12}{}", "signature", signature_line(&p.signature));
            println!("{:<12}{}", "permissions", permissions(&p.permissions));
            println!(
                "{:<12}{}",
                "kv data",
                kv_usage_line(details.kv.bytes, details.kv.quota)
            );
            if !details.events.is_empty() {
                println!("\nrecent events:");
                let mut t = Rows::new(&["WHEN (UTC)", "EVENT", "DETAILS"]);
                for e in &details.events {
                    t.add(vec![
                        when(e.at_unix_ms).into(),
                        e.kind.to_string().into(),
                        e.details.as_str().into(),
                    ]);
                }
                t.print();
            }
            println!();
            print_last_log_lines(client, &id).await;
        }
        PluginCommand::Limits { id, pairs } => {
            let limits = if pairs.is_empty() {
                client.limits(&id).await?
            } else {
                let change = usage::parse_limit_pairs(&pairs).map_err(usage)?;
                client.set_limits(&id, &change).await?
            };
            if json {
                print_json(&limits);
            } else {
                for (label, values) in [
                    ("effective", &limits.effective),
                    ("override", &limits.overrides),
                    ("default", &limits.defaults),
                ] {
                    println!("{label:<12}{}", usage::limits_line(values));
                }
            }
        }
        PluginCommand::Enable { id, no_wait } => {
            let plugin = client.enable(&id).await?;
            report_start(client, &id, plugin, no_wait, json).await?;
        }
        PluginCommand::Restart { id, no_wait } => {
            let plugin = client.restart(&id).await?;
            report_start(client, &id, plugin, no_wait, json).await?;
        }
        PluginCommand::Disable { id } => {
            let p = client.disable(&id).await?;
            if json {
                print_json(&p);
            } else {
                println!("{id}: {}", p.status.state);
            }
        }
        PluginCommand::Install {
            file,
            signature,
            enable,
        } => install(client, &file, signature, enable, json).await?,
        PluginCommand::Rollback { id } => {
            let p = client.rollback(&id).await?;
            if json {
                print_json(&p);
            } else {
                println!(
                    "{id}: rolled back to {} (previous: {})",
                    p.version,
                    or_dash(p.previous_version.as_ref())
                );
            }
        }
        PluginCommand::Uninstall { id, purge } => {
            let removed = client.uninstall(&id, purge).await?;
            if json {
                print_json(&removed);
            } else if removed.purged {
                println!("{id}: uninstalled; its data, settings and licence key were deleted");
            } else {
                println!(
                    "{id}: uninstalled; its data, settings and licence key are kept (installing it again gets them back; --purge deletes them)"
                );
            }
        }
        PluginCommand::Rescan => {
            let plugins = client.rescan().await?;
            if json {
                print_json(&plugins);
            } else {
                println!("{} plugins installed", plugins.len());
                print_skipped(&client.discovery_failures().await?, &mut std::io::stdout());
            }
        }
        PluginCommand::Logs {
            id,
            follow,
            level,
            lines,
        } => logs(client, &id, follow, level, lines, json).await?,
        PluginCommand::License(cmd) => license(client, cmd, json).await?,
        PluginCommand::Backup { id, output } => backup::plugin(client, &id, output).await?,
        PluginCommand::Restore { id, file } => {
            backup::plugin_restore(client, &id, &file, json).await?;
        }
        PluginCommand::Config(args) => config(client, args, json).await?,
    }
    Ok(())
}

/// A plugin after a call that may have waited for it: the call's own answer, or its details
/// as last read while waiting.
enum Shown {
    /// The answer of the call itself.
    Plugin(toru_api::Plugin),
    /// The details read by [`wait_until_settled`].
    Details(toru_api::PluginDetails),
}

impl Shown {
    fn plugin(&self) -> &toru_api::Plugin {
        match self {
            Shown::Plugin(p) => p,
            Shown::Details(d) => &d.plugin,
        }
    }

    fn print_json(&self) {
        match self {
            Shown::Plugin(p) => print_json(p),
            Shown::Details(d) => print_json(d),
        }
    }
}

async fn license(client: &Client, cmd: LicenseCommand, json: bool) -> Outcome {
    let (id, answer) = match cmd {
        LicenseCommand::Set { id, key, file } => {
            let key = match (key, file) {
                (_, Some(file)) => std::fs::read_to_string(&file)
                    .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?,
                (Some(key), None) if key != "-" => key,
                _ => {
                    let mut key = String::new();
                    std::io::stdin()
                        .read_to_string(&mut key)
                        .map_err(|e| usage(e.to_string()))?;
                    key
                }
            };
            let answer = client.set_license(&id, key.trim()).await?;
            (id, answer)
        }
        LicenseCommand::Clear { id } => {
            let answer = client.clear_license(&id).await?;
            (id, answer)
        }
    };
    // A running plugin restarts to check its new key: wait for its verdict.
    let shown = wait_until_settled(client, &id, Shown::Plugin(answer)).await?;
    let license = &shown.plugin().license;
    if json {
        shown.print_json();
    } else {
        println!("{id}: licence {}", license_line(license));
    }
    if license.state == LicenseState::Invalid {
        return Err(Failure {
            code: 1,
            message: format!("{id}: the plugin rejected the key"),
        });
    }
    Ok(())
}

/// One line about a plugin's signature (docs/signing.md): "signed by acme", "unsigned", …
fn signature_line(s: &SignatureStatus) -> String {
    match s {
        SignatureStatus::Signed { key } => format!("signed by {key}"),
        SignatureStatus::Unsigned => "unsigned".into(),
        SignatureStatus::Invalid { reason } => format!("bad signature: {reason}"),
        SignatureStatus::NotChecked => "not checked (signatures = \"off\")".into(),
    }
}

/// `toructl plugin config …`: shows the settings, or changes them and shows the result. A
/// change restarts a running plugin; like `license`, this waits until it has settled.
async fn config(client: &Client, args: ConfigArgs, json: bool) -> Outcome {
    let command = match (args.command, args.id) {
        (Some(command), _) => command,
        (None, Some(id)) => ConfigCommand::Show { id },
        (None, None) => return Err(usage("a plugin id is required")),
    };
    let (id, settings, changed) = match command {
        ConfigCommand::Show { id } => {
            let settings = client.settings(&id).await?;
            (id, settings, false)
        }
        ConfigCommand::Set { id, pairs } => {
            let current = client.settings(&id).await?;
            let mut change = std::collections::BTreeMap::new();
            for pair in &pairs {
                let (key, text) = pair
                    .split_once('=')
                    .ok_or_else(|| usage(format!("{pair:?}: expected KEY=VALUE")))?;
                let field = current
                    .settings
                    .iter()
                    .find(|f| f.name == key)
                    .ok_or_else(|| usage(format!("{id} has no setting {key:?}")))?;
                change.insert(key.to_owned(), setting_value(field, text)?);
            }
            let settings = client.set_settings(&id, &SettingsChange(change)).await?;
            (id, settings, true)
        }
        ConfigCommand::Unset { id, keys } => {
            let change = keys
                .into_iter()
                .map(|k| (k, serde_json::Value::Null))
                .collect();
            let settings = client.set_settings(&id, &SettingsChange(change)).await?;
            (id, settings, true)
        }
    };
    if changed {
        let plugin = client.plugin(&id).await?;
        wait_until_settled(client, &id, Shown::Details(plugin)).await?;
    }
    if json {
        print_json(&settings);
        return Ok(());
    }
    let mut rows = Rows::new(&["KEY", "VALUE", "DEFAULT", "DESCRIPTION"]);
    for field in &settings.settings {
        let value = match &field.value {
            SettingValue::Set { value } => Cell::from(plain_json(value)),
            SettingValue::SecretSet => Cell::toned("set", Tone::Good),
            SettingValue::Unset if field.secret => Cell::toned("not set", Tone::Busy),
            SettingValue::Unset => Cell::toned("-", Tone::Plain),
        };
        let default = field
            .default
            .as_ref()
            .map_or_else(|| "-".into(), plain_json);
        let mut description = field.description.clone().unwrap_or_default();
        if field.required {
            description = format!("(required) {description}");
        }
        rows.add(vec![
            field.name.as_str().into(),
            value,
            default.into(),
            description.into(),
        ]);
    }
    rows.print();
    Ok(())
}

/// A JSON value as a person types it: strings without quotes.
fn plain_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` read as the setting's type: `8080` is a number for an integer setting and the string
/// "8080" for a string one.
fn setting_value(field: &SettingField, text: &str) -> Result<serde_json::Value, Failure> {
    let name = &field.name;
    match field.kind {
        SettingType::String | SettingType::Enum => Ok(text.into()),
        SettingType::Boolean => match text {
            "true" | "yes" | "on" => Ok(true.into()),
            "false" | "no" | "off" => Ok(false.into()),
            _ => Err(usage(format!(
                "{name}: expected true or false, not {text:?}"
            ))),
        },
        SettingType::Integer => text
            .parse::<i64>()
            .map(Into::into)
            .map_err(|_| usage(format!("{name}: expected an integer, not {text:?}"))),
        SettingType::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number)
            .ok_or_else(|| usage(format!("{name}: expected a number, not {text:?}"))),
    }
}

/// One line about a plugin's licence: its state, then who it is for and until when, or why
/// it is not valid.
fn license_line(l: &LicenseStatus) -> String {
    match l.state {
        LicenseState::Valid => {
            let until = l.expires_at.map_or_else(
                || "never expires".to_owned(),
                |secs| {
                    let at = std::time::UNIX_EPOCH + Duration::from_secs(secs);
                    format!("expires {}", humantime::format_rfc3339_seconds(at))
                },
            );
            let features = if l.features.is_empty() {
                String::new()
            } else {
                format!(", features: {}", l.features.join(" "))
            };
            format!("valid: {}, {until}{features}", or_dash(l.licensee.as_ref()))
        }
        LicenseState::Unchecked => {
            "installed, not checked yet (the plugin checks it when it starts)".into()
        }
        state => format!(
            "{state} ({}): {}",
            or_dash(l.error.as_ref()),
            or_dash(l.message.as_ref())
        ),
    }
}

/// After `enable` or `restart`: waits (unless `no_wait`) until the plugin leaves `starting`,
/// prints its state, and fails when it did not come to run.
async fn report_start(
    client: &Client,
    id: &str,
    plugin: Plugin,
    no_wait: bool,
    json: bool,
) -> Result<(), Failure> {
    let mut shown = Shown::Plugin(plugin);
    if !no_wait {
        shown = wait_until_settled(client, id, shown).await?;
    }
    let status = &shown.plugin().status;
    if json {
        shown.print_json();
    } else {
        println!(
            "{id}: {}{}",
            status.state,
            status
                .pid
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default()
        );
    }
    if status.state != PluginState::Running && !no_wait {
        // Like `systemctl status`: the plugin's own last words, and where to read more.
        if !json {
            print_last_log_lines(client, id).await;
        }
        let message = if status.state == PluginState::Starting {
            format!(
                "{id} is still starting after {} s; stopped waiting (it goes on: toructl plugin show {id})",
                WAIT_FOR_START.as_secs()
            )
        } else {
            format!(
                "{id} did not start: {}",
                or_dash(status.last_error.as_ref())
            )
        };
        return Err(Failure { code: 1, message });
    }
    Ok(())
}

/// A time the API gives in Unix milliseconds, as people read it: ISO 8601 in UTC, to the
/// second (`2026-12-06T16:26:34Z`). `--json` keeps the milliseconds.
fn when(unix_ms: i64) -> String {
    let Ok(ms) = u64::try_from(unix_ms) else {
        return unix_ms.to_string();
    };
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// How many log lines a failed start shows.
const LAST_LOG_LINES: usize = 10;

/// Prints the plugin's last [`LAST_LOG_LINES`] log lines and the command that shows more; a
/// failure to read them is said in one line, not as the command's error.
async fn print_last_log_lines(client: &Client, id: &str) {
    let query = LogsQuery {
        page: Some(0),
        page_size: Some(LAST_LOG_LINES),
        level: None,
    };
    match client.logs(id, &query).await {
        Ok(page) if !page.entries.is_empty() => {
            println!("Last log lines of {id}:");
            for entry in page.entries.iter().rev() {
                print_entry(entry, false);
            }
            println!("More: toructl plugin logs {id} -n 100");
        }
        Ok(_) => println!("{id} wrote nothing to its log. See: toructl plugin logs {id}"),
        Err(e) => println!("(cannot read the log of {id}: {e})"),
    }
}

/// Lists the binaries the last scan skipped, with the reason, when there are any.
fn print_skipped(skipped: &[DiscoveryFailure], out: &mut dyn Write) {
    if skipped.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{} file(s) in the plugins directory skipped:",
        skipped.len()
    );
    for s in skipped {
        let _ = writeln!(out, "  {}: {}", s.binary, s.reason);
    }
}

/// How long `plugin install` waits for the daemon's answer: the upload, `--metadata`, and for
/// an upgrade the plugin's restart and health window.
const WAIT_FOR_INSTALL: Duration = Duration::from_secs(15 * 60);

/// `toructl plugin install FILE`: uploads it with its signature (`--signature`, else
/// `FILE.sig` when it exists) and says what the daemon did; `--enable` then starts a new plugin.
async fn install(
    client: &Client,
    file: &std::path::Path,
    signature: Option<PathBuf>,
    enable: bool,
    json: bool,
) -> Outcome {
    let unreadable = |path: &std::path::Path, e: std::io::Error| Failure {
        code: 1,
        message: format!("cannot read {}: {e}", path.display()),
    };
    let binary = std::fs::read(file).map_err(|e| unreadable(file, e))?;
    let signature = match signature {
        Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?),
        None => {
            let beside = PathBuf::from(format!("{}.sig", file.display()));
            beside
                .exists()
                .then(|| std::fs::read_to_string(&beside).map_err(|e| unreadable(&beside, e)))
                .transpose()?
        }
    };
    let spinner = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    spinner.set_message(format!("installing {}", file.display()));
    spinner.enable_steady_tick(Duration::from_millis(100));
    let uploading = client.clone().with_timeout(WAIT_FOR_INSTALL);
    let result = uploading.install(binary, signature.as_deref()).await;
    spinner.finish_and_clear();
    let result = result?;
    let p = &result.plugin;
    if json {
        print_json(&result);
    } else {
        match result.outcome {
            InstallOutcome::Installed => println!("installed {} {}", p.id, p.version),
            InstallOutcome::Upgraded => println!(
                "upgraded {} {} (previous: {})",
                p.id,
                p.version,
                or_dash(p.previous_version.as_ref())
            ),
        }
    }
    if enable && result.outcome == InstallOutcome::Installed {
        let plugin = client.enable(&p.id).await?;
        report_start(client, &p.id, plugin, false, json).await?;
    }
    Ok(())
}

/// Polls until the plugin leaves `starting` (or 30 s pass): `enable` and licence changes
/// answer before the plugin runs.
/// On a terminal, a spinner on stderr says what it waits for (`hello-rust: starting, 2.1 s`).
async fn wait_until_settled(client: &Client, id: &str, mut p: Shown) -> Result<Shown, Failure> {
    let started = Instant::now();
    let deadline = started + WAIT_FOR_START;
    let spinner = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    spinner.enable_steady_tick(Duration::from_millis(100));
    while p.plugin().status.state == PluginState::Starting && Instant::now() < deadline {
        spinner.set_message(format!(
            "waiting for {id}: {}, {:.1} s",
            p.plugin().status.state,
            started.elapsed().as_secs_f64()
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        p = Shown::Details(client.plugin(id).await?);
    }
    spinner.finish_and_clear();
    Ok(p)
}

/// How long `enable` and `restart` wait for the plugin to leave `starting`.
const WAIT_FOR_START: Duration = Duration::from_secs(30);

fn print_entry(entry: &LogEntry, json: bool) {
    if json {
        println!("{}", serde_json::to_string(entry).unwrap_or_default());
    } else {
        println!(
            "{} {:<5} {}",
            entry.timestamp,
            entry.level.to_string().to_uppercase(),
            entry.message
        );
    }
}

/// How long `logs --follow` tries to reach the daemon again after its stream ended.
const FOLLOW_RECONNECT: Duration = Duration::from_secs(30);

/// The newest entries printed, so a resumed follow prints none twice: the newest timestamp and
/// the messages printed at it (the API's timestamps are RFC 3339 with milliseconds, in UTC, so
/// they order as strings).
#[derive(Default)]
struct Printed {
    newest: String,
    at_newest: std::collections::HashSet<String>,
}

impl Printed {
    /// Whether `entry` was not printed yet.
    fn is_new(&self, entry: &LogEntry) -> bool {
        entry.timestamp > self.newest
            || (entry.timestamp == self.newest && !self.at_newest.contains(&entry.message))
    }

    fn record(&mut self, entry: &LogEntry) {
        if entry.timestamp > self.newest {
            self.newest = entry.timestamp.clone();
            self.at_newest.clear();
        }
        self.at_newest.insert(entry.message.clone());
    }
}

/// Follows a plugin's log across daemon restarts, like `journalctl -f`: when the stream ends
/// (the daemon stopped or restarted), reconnects for up to [`FOLLOW_RECONNECT`], prints what
/// was written meanwhile (the newest page) and follows again, printing nothing twice. Exits as
/// unreachable (3) when the daemon does not come back.
async fn follow_resuming(
    client: &Client,
    id: &str,
    level: Option<String>,
    json: bool,
    mut printed: Printed,
) -> Outcome {
    let follow_query = LogsQuery {
        level: level.clone(),
        ..LogsQuery::default()
    };
    let page_query = LogsQuery {
        page: Some(0),
        page_size: Some(1000),
        level,
    };
    let print_new = |entry: &LogEntry, printed: &mut Printed| {
        if printed.is_new(entry) {
            print_entry(entry, json);
            let _ = std::io::stdout().flush();
            printed.record(entry);
        }
    };
    loop {
        let followed = client
            .follow_logs(id, &follow_query, |entry| {
                print_new(&entry, &mut printed);
                true
            })
            .await;
        match followed {
            Ok(()) | Err(ClientError::Unreachable { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let deadline = Instant::now() + FOLLOW_RECONNECT;
        let page = loop {
            match client.logs(id, &page_query).await {
                Ok(page) => break page,
                Err(ClientError::Unreachable { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        for entry in page.entries.iter().rev() {
            print_new(entry, &mut printed);
        }
    }
}

async fn logs(
    client: &Client,
    id: &str,
    follow: bool,
    level: Option<String>,
    lines: usize,
    json: bool,
) -> Outcome {
    let query = LogsQuery {
        page: Some(0),
        page_size: Some(lines.clamp(1, 1000)),
        level: level.clone(),
    };
    let page = client.logs(id, &query).await?;
    for entry in page.entries.iter().rev() {
        print_entry(entry, json);
    }
    if follow {
        let mut seen = Printed::default();
        for entry in &page.entries {
            seen.record(entry);
        }
        follow_resuming(client, id, level, json, seen).await?;
    }
    Ok(())
}

async fn events(client: &Client, query: &EventsQuery, json: bool) -> Outcome {
    let events = client.events(query).await?;
    if json {
        print_json(&events);
        return Ok(());
    }
    let mut t = Rows::new(&["WHEN (UTC)", "ABOUT", "EVENT", "BY", "DETAILS"]);
    for e in &events {
        t.add(event_row(e).map(Into::into).to_vec());
    }
    t.print();
    Ok(())
}

/// An event's columns: when, what it is about, its kind, who caused it, its details.
fn event_row(e: &Event) -> [String; 5] {
    let about = match (&e.plugin_id, &e.user) {
        (Some(plugin), _) => plugin.clone(),
        (None, Some(user)) => format!("user {user}"),
        (None, None) => "-".to_owned(),
    };
    let by = e.actor.as_ref().map_or("-".to_owned(), ToString::to_string);
    [
        when(e.at_unix_ms),
        about,
        e.kind.to_string(),
        by,
        e.details.clone(),
    ]
}

/// One followed event on its own line (a table cannot be laid out before its last row):
/// the columns of `toructl events` separated by two spaces, or one JSON object a line.
fn print_followed_event(e: &Event, json: bool) {
    if json {
        println!("{}", serde_json::to_string(e).unwrap_or_default());
    } else {
        println!("{}", event_row(e).join("  "));
    }
    let _ = std::io::stdout().flush();
}

/// `toructl events --follow`: the last `query.limit` events oldest first, then each new one,
/// like `journalctl -f`. When the stream ends (the daemon stopped or restarted) it reconnects
/// for up to [`FOLLOW_RECONNECT`] and resumes after the last event printed, so none is
/// printed twice or missed; exits as unreachable (3) when the daemon does not come back.
async fn follow_events(client: &Client, query: EventsQuery, json: bool) -> Outcome {
    let recent = client.events(&query).await?;
    let mut last_id = recent.first().map(|e| e.id);
    for e in recent.iter().rev() {
        print_followed_event(e, json);
    }
    // With no event yet, follow from the start of the log: every event is new.
    let mut follow = FollowEventsQuery {
        plugin: query.plugin,
        kind: query.kind,
        actor: query.actor,
        after: Some(last_id.unwrap_or(0)),
    };
    loop {
        let followed = client
            .follow_events(&follow, |e| {
                print_followed_event(&e, json);
                last_id = Some(e.id);
                true
            })
            .await;
        match followed {
            Ok(()) | Err(ClientError::Unreachable { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        follow.after = Some(last_id.unwrap_or(0));
        let deadline = Instant::now() + FOLLOW_RECONNECT;
        loop {
            match client.status().await {
                Ok(_) => break,
                Err(ClientError::Unreachable { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Reads a password: at a terminal without echo, else one line from standard input (for
/// scripts: `echo "$PW" | toructl user add admin`).
fn read_password(prompt: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).map_err(|e| usage(e.to_string()));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| usage(e.to_string()))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Reads a new password, asking twice at a terminal so a typo is not set.
fn read_new_password() -> Result<String, Failure> {
    let password = read_password("New password: ")?;
    if std::io::stdin().is_terminal() && read_password("Repeat it: ")? != password {
        return Err(usage("the passwords differ"));
    }
    Ok(password)
}

async fn user(client: &Client, cmd: UserCommand, json: bool) -> Outcome {
    match cmd {
        UserCommand::Add { username, role } => {
            let password = read_new_password()?;
            let u = client
                .create_user(&NewUser {
                    username: username.clone(),
                    password,
                    role: Some(role),
                })
                .await?;
            if json {
                print_json(&u);
            } else if u.role == Role::Admin {
                println!("user {username} created");
            } else {
                println!("user {username} created ({})", u.role);
            }
        }
        UserCommand::Passwd { username } => {
            let password = read_new_password()?;
            client
                .set_password(&username, &NewPassword { password })
                .await?;
            if !json {
                println!("password of {username} changed; their sessions ended");
            }
        }
        UserCommand::Delete { username } => {
            client.delete_user(&username).await?;
            if !json {
                println!("user {username} deleted; their sessions ended");
            }
        }
        UserCommand::Disable { username } => {
            let u = client.set_user_disabled(&username, true).await?;
            if json {
                print_json(&u);
            } else {
                println!("user {username} disabled; their sessions ended");
            }
        }
        UserCommand::Enable { username } => {
            let u = client.set_user_disabled(&username, false).await?;
            if json {
                print_json(&u);
            } else {
                println!("user {username} enabled");
            }
        }
        UserCommand::SetRole { username, role } => {
            let u = client.set_role(&username, role).await?;
            if json {
                print_json(&u);
            } else {
                println!("user {username} is now {}", u.role);
            }
        }
        UserCommand::List => {
            let users = client.users().await?;
            if json {
                print_json(&users);
                return Ok(());
            }
            let mut t = Rows::new(&["USER", "ROLE", "STATE", "CREATED (UTC)"]);
            for u in &users {
                let state = if u.disabled {
                    Cell::toned("disabled", Tone::Bad)
                } else {
                    Cell::toned("enabled", Tone::Good)
                };
                t.add(vec![
                    u.username.as_str().into(),
                    u.role.to_string().into(),
                    state,
                    when(u.created_at_unix_ms).into(),
                ]);
            }
            t.print();
        }
    }
    Ok(())
}

async fn kv(client: &Client, cmd: KvCommand, json: bool) -> Outcome {
    match cmd {
        KvCommand::Get { id, key } => {
            let e = client.kv_get(&id, &key).await?;
            if json {
                print_json(&e)
            } else {
                println!("{}", e.value)
            }
        }
        KvCommand::Set { id, key, value } => {
            let e = client.kv_set(&id, &key, &value).await?;
            if json {
                print_json(&e);
            }
        }
        KvCommand::Delete { id, key } => client.kv_delete(&id, &key).await?,
        KvCommand::List { id, prefix } => {
            let k = client.kv_list(&id, &prefix).await?;
            if json {
                print_json(&k);
            } else {
                for key in &k.keys {
                    println!("{key}");
                }
            }
        }
    }
    Ok(())
}

/// A plugin's KV use against its quota, e.g. `1.5 MiB of 64.0 MiB (2%)`.
fn kv_usage_line(bytes: u64, quota: u64) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let percent = (bytes.saturating_mul(100))
        .checked_div(quota)
        .unwrap_or(100);
    format!(
        "{:.1} MiB of {:.1} MiB ({percent}%)",
        mib(bytes),
        mib(quota)
    )
}
