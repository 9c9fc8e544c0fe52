//! `toructl`: drives the Toru daemon's HTTP API from a shell.
//!
//! Exit codes: 0 ok, 1 the daemon refused or failed the request, 2 usage error, 3 the daemon
//! could not be reached.

mod cli;

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use http::Method;
use serde_json::{Value, json};
use toructl::{Client, ClientError, Endpoint};

use cli::{Cli, Command, KvCommand, LicenseCommand, PluginCommand, UserCommand};

/// An error with the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match e {
            ClientError::Unreachable { .. } => 3,
            _ => 1,
        };
        let hint = match &e {
            ClientError::Unreachable { .. } => {
                "\nhint: is toru-daemon running? (systemctl status toru-daemon) Use --socket or --url to point elsewhere."
            }
            ClientError::Api { status, .. } if status.as_u16() == 401 => {
                "\nhint: with --url, log in first: toructl --url URL login NAME, then export TORU_SESSION"
            }
            ClientError::Api { status, .. } if status.as_u16() == 403 => {
                "\nhint: the local socket is for root and members of group toru (sudo, or: adduser $USER toru)"
            }
            _ => "",
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

fn client(cli: &Cli) -> Result<Client, Failure> {
    let endpoint = match &cli.url {
        Some(url) => Endpoint::from_url(url).map_err(usage)?,
        None => Endpoint::Unix(cli.socket.clone().unwrap_or_else(default_socket)),
    };
    Ok(Client::new(endpoint, cli.session.clone()))
}

async fn run(cli: Cli) -> Outcome {
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "toructl",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let client = client(&cli)?;
    let json = cli.json;
    match cli.command {
        Command::Status => status(&client, json).await,
        Command::Plugin(cmd) => plugin(&client, cmd, json).await,
        Command::Events { plugin, limit } => events(&client, plugin, limit, json).await,
        Command::User(cmd) => user(&client, cmd, json).await,
        Command::Kv(cmd) => kv(&client, cmd, json).await,
        Command::Login { username } => login(&client, &cli.url, &username).await,
        Command::Completions { .. } => unreachable!("handled above"),
    }
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_header(headers.to_vec());
    t
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Path segments are ids and keys from the user; percent-encode everything but unreserved.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn status(client: &Client, json: bool) -> Outcome {
    let s: Value = client.get("/api/status").await?;
    if json {
        print_json(&s);
        return Ok(());
    }
    println!("toru-daemon {}", text(&s["version"]));
    println!("instance    {}", text(&s["instance_id"]));
    println!("supervisor  {}", text(&s["backend"]));
    println!("you         {}", text(&s["user"]));
    let p = &s["plugins"];
    println!(
        "plugins     {} installed, {} enabled, {} running, {} failed",
        p["total"], p["enabled"], p["running"], p["failed"]
    );
    Ok(())
}

fn health(status: &Value) -> &'static str {
    match (status["state"].as_str(), status["healthy"].as_bool()) {
        (Some("running"), Some(true)) => "healthy",
        (Some("running"), _) => "unhealthy",
        _ => "-",
    }
}

/// What a plugin asked for beyond the default sandbox, in one line, so the administrator sees
/// it before enabling the plugin.
fn permissions(p: &Value) -> String {
    let list = |key: &str| -> Vec<String> {
        p[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut parts = Vec::new();
    if p["network"].as_bool() == Some(true) {
        parts.push("network beyond localhost".to_owned());
    }
    for path in list("writable_paths") {
        parts.push(format!("writes {path}"));
    }
    for device in list("devices") {
        parts.push(format!("device {device}"));
    }
    if parts.is_empty() {
        "none (the default sandbox)".to_owned()
    } else {
        parts.join("; ")
    }
}

async fn plugin(client: &Client, cmd: PluginCommand, json: bool) -> Outcome {
    match cmd {
        PluginCommand::List => {
            let plugins: Value = client.get("/api/plugins").await?;
            if json {
                print_json(&plugins);
                return Ok(());
            }
            let mut t = table(&[
                "ID", "NAME", "VERSION", "ENABLED", "STATE", "HEALTH", "RESTARTS",
            ]);
            for p in plugins.as_array().into_iter().flatten() {
                let s = &p["status"];
                t.add_row(vec![
                    text(&p["id"]),
                    text(&p["name"]),
                    text(&p["version"]),
                    if s["enabled"].as_bool() == Some(true) {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    text(&s["state"]),
                    health(s).into(),
                    text(&s["restarts"]),
                ]);
            }
            println!("{t}");
        }
        PluginCommand::Show { id } => {
            let p: Value = client
                .get(&format!("/api/plugins/{}", segment(&id)))
                .await?;
            if json {
                print_json(&p);
                return Ok(());
            }
            let s = &p["status"];
            for (label, value) in [
                ("id", &p["id"]),
                ("name", &p["name"]),
                ("version", &p["version"]),
                ("author", &p["author"]),
                ("description", &p["description"]),
                ("route", &p["route"]),
                ("binary", &p["binary"]),
                ("unit", &p["unit_name"]),
                ("enabled", &s["enabled"]),
                ("state", &s["state"]),
                ("pid", &s["pid"]),
                ("restarts", &s["restarts"]),
                ("last error", &s["last_error"]),
            ] {
                println!("{label:<12}{}", text(value));
            }
            println!("{:<12}{}", "health", health(s));
            let l = &p["license"];
            if l["required"] == true || l["installed"] == true {
                let required = if l["required"] == true {
                    " [required]"
                } else {
                    ""
                };
                println!("{:<12}{}{required}", "licence", license_line(l));
            }
            println!("{:<12}{}", "permissions", permissions(&p["permissions"]));
            if let (Some(bytes), Some(quota)) =
                (p["kv"]["bytes"].as_u64(), p["kv"]["quota"].as_u64())
            {
                println!("{:<12}{}", "kv data", kv_usage_line(bytes, quota));
            }
            let events = p["events"].as_array().cloned().unwrap_or_default();
            if !events.is_empty() {
                println!("\nrecent events:");
                let mut t = table(&["WHEN (unix ms)", "EVENT", "DETAILS"]);
                for e in &events {
                    t.add_row(vec![
                        text(&e["at_unix_ms"]),
                        text(&e["kind"]),
                        text(&e["details"]),
                    ]);
                }
                println!("{t}");
            }
        }
        PluginCommand::Enable { id, no_wait } => {
            let path = format!("/api/plugins/{}", segment(&id));
            let mut p: Value = client
                .send_json(Method::POST, &format!("{path}/enable"), &json!({}))
                .await?;
            if !no_wait {
                p = wait_until_settled(client, &path, p).await?;
            }
            if json {
                print_json(&p);
            } else {
                let s = &p["status"];
                println!(
                    "{id}: {}{}",
                    text(&s["state"]),
                    s["pid"]
                        .as_u64()
                        .map(|pid| format!(" (pid {pid})"))
                        .unwrap_or_default()
                );
            }
            if p["status"]["state"] != "running" && !no_wait {
                return Err(Failure {
                    code: 1,
                    message: format!("{id} did not start: {}", text(&p["status"]["last_error"])),
                });
            }
        }
        PluginCommand::Disable { id } => {
            let p: Value = client
                .send_json(
                    Method::POST,
                    &format!("/api/plugins/{}/disable", segment(&id)),
                    &json!({}),
                )
                .await?;
            if json {
                print_json(&p);
            } else {
                println!("{id}: {}", text(&p["status"]["state"]));
            }
        }
        PluginCommand::Rescan => {
            let plugins: Value = client
                .send_json(Method::POST, "/api/rescan", &json!({}))
                .await?;
            if json {
                print_json(&plugins);
            } else {
                println!(
                    "{} plugins installed",
                    plugins.as_array().map_or(0, Vec::len)
                );
            }
        }
        PluginCommand::Logs {
            id,
            follow,
            level,
            lines,
        } => logs(client, &id, follow, level, lines, json).await?,
        PluginCommand::License(cmd) => license(client, cmd, json).await?,
    }
    Ok(())
}

async fn license(client: &Client, cmd: LicenseCommand, json: bool) -> Outcome {
    let (id, method, body) = match cmd {
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
            (id, Method::PUT, json!({ "key": key.trim() }))
        }
        LicenseCommand::Clear { id } => (id, Method::DELETE, json!({})),
    };
    let path = format!("/api/plugins/{}", segment(&id));
    let mut p: Value = client
        .send_json(method, &format!("{path}/license"), &body)
        .await?;
    // A running plugin restarts to check its new key: wait for its verdict.
    p = wait_until_settled(client, &path, p).await?;
    if json {
        print_json(&p);
    } else {
        println!("{id}: licence {}", license_line(&p["license"]));
    }
    if p["license"]["state"] == "invalid" {
        return Err(Failure {
            code: 1,
            message: format!("{id}: the plugin rejected the key"),
        });
    }
    Ok(())
}

/// One line about a plugin's licence: its state, then who it is for and until when, or why
/// it is not valid.
fn license_line(l: &Value) -> String {
    let state = text(&l["state"]);
    match state.as_str() {
        "valid" => {
            let until = l["expires_at"].as_u64().map_or_else(
                || "never expires".to_owned(),
                |secs| {
                    let at = std::time::UNIX_EPOCH + Duration::from_secs(secs);
                    format!("expires {}", humantime::format_rfc3339_seconds(at))
                },
            );
            let features = l["features"]
                .as_array()
                .filter(|f| !f.is_empty())
                .map(|f| {
                    let names: Vec<String> = f.iter().map(text).collect();
                    format!(", features: {}", names.join(" "))
                })
                .unwrap_or_default();
            format!("valid: {}, {until}{features}", text(&l["licensee"]))
        }
        "unchecked" => "installed, not checked yet (the plugin checks it when it starts)".into(),
        _ => format!("{state} ({}): {}", text(&l["error"]), text(&l["message"])),
    }
}

/// Polls until the plugin leaves `starting` (or 30 s pass): `enable` returns before the
/// plugin runs.
async fn wait_until_settled(client: &Client, path: &str, mut p: Value) -> Result<Value, Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while matches!(p["status"]["state"].as_str(), Some("starting")) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        p = client.get(path).await?;
    }
    Ok(p)
}

fn print_entry(entry: &Value, json: bool) {
    if json {
        println!("{entry}");
    } else {
        println!(
            "{} {:<5} {}",
            text(&entry["timestamp"]),
            text(&entry["level"]).to_uppercase(),
            text(&entry["message"])
        );
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
    let level_q = level
        .map(|l| format!("&level={}", segment(&l)))
        .unwrap_or_default();
    let base = format!("/api/plugins/{}/logs", segment(id));
    let page: Value = client
        .get(&format!(
            "{base}?page=0&page_size={}{level_q}",
            lines.clamp(1, 1000)
        ))
        .await?;
    let entries = page["entries"].as_array().cloned().unwrap_or_default();
    for entry in entries.iter().rev() {
        print_entry(entry, json);
    }
    if follow {
        client
            .follow(&format!("{base}/follow?x=1{level_q}"), |data| {
                if let Ok(entry) = serde_json::from_str::<Value>(data) {
                    print_entry(&entry, json);
                    let _ = std::io::stdout().flush();
                }
                true
            })
            .await?;
    }
    Ok(())
}

async fn events(client: &Client, plugin: Option<String>, limit: usize, json: bool) -> Outcome {
    let filter = plugin
        .map(|p| format!("&plugin={}", segment(&p)))
        .unwrap_or_default();
    let events: Value = client
        .get(&format!("/api/events?limit={limit}{filter}"))
        .await?;
    if json {
        print_json(&events);
        return Ok(());
    }
    let mut t = table(&["WHEN (unix ms)", "PLUGIN", "EVENT", "DETAILS"]);
    for e in events.as_array().into_iter().flatten() {
        t.add_row(vec![
            text(&e["at_unix_ms"]),
            text(&e["plugin_id"]),
            text(&e["kind"]),
            text(&e["details"]),
        ]);
    }
    println!("{t}");
    Ok(())
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
        UserCommand::Add { username } => {
            let password = read_new_password()?;
            let u: Value = client
                .send_json(
                    Method::POST,
                    "/api/users",
                    &json!({"username": username, "password": password}),
                )
                .await?;
            if json {
                print_json(&u);
            } else {
                println!("user {username} created");
            }
        }
        UserCommand::Passwd { username } => {
            let password = read_new_password()?;
            let _: Value = client
                .send_json(
                    Method::PUT,
                    &format!("/api/users/{}/password", segment(&username)),
                    &json!({"password": password}),
                )
                .await?;
            if !json {
                println!("password of {username} changed; their sessions ended");
            }
        }
        UserCommand::List => {
            let users: Value = client.get("/api/users").await?;
            if json {
                print_json(&users);
                return Ok(());
            }
            let mut t = table(&["USER", "CREATED (unix ms)"]);
            for u in users.as_array().into_iter().flatten() {
                t.add_row(vec![text(&u["username"]), text(&u["created_at_unix_ms"])]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

async fn kv(client: &Client, cmd: KvCommand, json: bool) -> Outcome {
    match cmd {
        KvCommand::Get { id, key } => {
            let e: Value = client
                .get(&format!(
                    "/api/plugins/{}/kv/{}",
                    segment(&id),
                    segment(&key)
                ))
                .await?;
            if json {
                print_json(&e)
            } else {
                println!("{}", text(&e["value"]))
            }
        }
        KvCommand::Set { id, key, value } => {
            let e: Value = client
                .send_json(
                    Method::PUT,
                    &format!("/api/plugins/{}/kv/{}", segment(&id), segment(&key)),
                    &json!({"value": value}),
                )
                .await?;
            if json {
                print_json(&e);
            }
        }
        KvCommand::Delete { id, key } => {
            client
                .call(
                    Method::DELETE,
                    &format!("/api/plugins/{}/kv/{}", segment(&id), segment(&key)),
                    None,
                )
                .await?;
        }
        KvCommand::List { id, prefix } => {
            let k: Value = client
                .get(&format!(
                    "/api/plugins/{}/kv?prefix={}",
                    segment(&id),
                    segment(&prefix)
                ))
                .await?;
            if json {
                print_json(&k);
            } else {
                for key in k["keys"].as_array().into_iter().flatten() {
                    println!("{}", text(key));
                }
            }
        }
    }
    Ok(())
}

async fn login(client: &Client, url: &Option<String>, username: &str) -> Outcome {
    if url.is_none() {
        return Err(usage(
            "login is for --url; on the host the local socket needs no login",
        ));
    }
    let password = read_password("Password: ")?;
    let response = client
        .call(
            Method::POST,
            "/api/auth/login",
            Some(&json!({"username": username, "password": password})),
        )
        .await?;
    let token = response
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("toru_session="))
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| Failure {
            code: 1,
            message: "the daemon set no session cookie".into(),
        })?;
    println!("export TORU_SESSION={token}");
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
