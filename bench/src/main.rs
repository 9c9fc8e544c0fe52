//! toru-bench: the drivers `bench/run.sh` calls for what `wrk` cannot measure, and the report.
//!
//! Each scenario subcommand does its own warm-up and runs and prints its figures as JSON lines
//! (`driver::report::Figure`); `report` turns them into the table and `results.json`.

mod driver;

use clap::{Parser, Subcommand};

/// The drivers of `bench/run.sh`.
#[derive(Parser)]
#[command(name = "toru-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Protocol floor: ping/pong over one plugin connection (sequential and 64 in flight).
    Floor(driver::floor::Args),
    /// Enable → first successful forwarded request, over the daemon's local socket.
    EnableReady(driver::enable::ReadyArgs),
    /// Enable many plugins at once and wait until all are running and healthy.
    Scale(driver::enable::ScaleArgs),
    /// Sequential latency of one API path (the plugin list), on one keep-alive connection.
    Latency(driver::latency::Args),
    /// KV get latency and set throughput, measured inside the bench plugin.
    Kv(driver::kv::Args),
    /// Load while the plugin is killed periodically and the list endpoint is polled.
    Faults(driver::faults::Args),
    /// Slow-header clients against normal requests.
    Slowloris(driver::slowloris::Args),
    /// Parallel logins or idle sockets against authenticated requests; the daemon's RSS.
    AttackHttp(driver::attack_http::Args),
    /// Hostile plugins (one that stops reading, one that floods KV) against the API and RSS.
    AttackPlugin(driver::attack_plugin::Args),
    /// Logs in and prints the session token (for wrk's cookie header).
    Login(driver::login::Args),
    /// Prints the figures table and writes the JSON results from a figures file.
    Report(driver::report::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(async {
        match cli.command {
            Command::Floor(args) => driver::floor::run(args).await,
            Command::EnableReady(args) => driver::enable::ready(args).await,
            Command::Scale(args) => driver::enable::scale(args).await,
            Command::Latency(args) => driver::latency::run(args).await,
            Command::Kv(args) => driver::kv::run(args).await,
            Command::Faults(args) => driver::faults::run(args).await,
            Command::Slowloris(args) => driver::slowloris::run(args).await,
            Command::AttackHttp(args) => driver::attack_http::run(args).await,
            Command::AttackPlugin(args) => driver::attack_plugin::run(args).await,
            Command::Login(args) => {
                println!("{}", driver::login::run(args).await?);
                Ok(Vec::new())
            }
            Command::Report(args) => {
                print!("{}", driver::report::run(args)?);
                Ok(Vec::new())
            }
        }
    })?;
    // One JSON line per figure, appended by run.sh to its figures file.
    for figure in figures {
        println!("{}", serde_json::to_string(&figure)?);
    }
    Ok(())
}
