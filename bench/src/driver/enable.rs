//! Enabling plugins, timed (scenarios 3 and 4). Everything goes over the daemon's local socket
//! as root, the way `toructl` drives it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;
use toructl::{Client, Endpoint};

use super::http::{Conn, Target};
use super::report::Figure;

/// `toru-bench enable-ready`.
#[derive(clap::Args)]
pub struct ReadyArgs {
    /// The daemon's local socket.
    #[arg(long)]
    socket: PathBuf,
    /// The plugin to enable.
    #[arg(long, default_value = "bench")]
    plugin: String,
    /// The plugin route that must answer 200.
    #[arg(long, default_value = "/hello")]
    path: String,
    /// Measured runs after the warm-up.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Which backend, for the label (`embedded` or `systemd`).
    #[arg(long)]
    backend: String,
    /// The target in ms.
    #[arg(long)]
    target_ms: f64,
}

/// Disable, then time enable → the first 200 from the plugin's route. Polls every 1 ms.
pub async fn ready(args: ReadyArgs) -> anyhow::Result<Vec<Figure>> {
    let client = Client::new(Endpoint::Unix(args.socket.clone()), None);
    let target = Target::Unix(args.socket.clone());
    let route = format!("/api/plugins/{}/route{}", args.plugin, args.path);
    let mut times = Vec::new();
    for run in 0..=args.runs {
        client
            .call(
                Method::POST,
                &format!("/api/plugins/{}/disable", args.plugin),
                None,
            )
            .await?;
        let mut conn = Conn::open(&target, None).await?;
        let started = Instant::now();
        client
            .call(
                Method::POST,
                &format!("/api/plugins/{}/enable", args.plugin),
                None,
            )
            .await?;
        loop {
            let (status, _) = conn.get(&route).await?;
            if status == 200 {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not answer within 30 s (last status {status})",
                args.plugin
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if run > 0 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let scenario = "3 enable→ready";
    let metric = format!("enable → ready, {}", args.backend);
    Ok(vec![
        Figure::new(scenario, &metric, "ms", times).target(&format!("<= {}", args.target_ms)),
    ])
}

/// `toru-bench scale`.
#[derive(clap::Args)]
pub struct ScaleArgs {
    /// The daemon's local socket.
    #[arg(long)]
    socket: PathBuf,
    /// The daemon's pid, for its RSS.
    #[arg(long)]
    pid: u32,
    /// How many plugins to enable at once (the first N by id).
    #[arg(long)]
    count: usize,
    /// Seconds to wait after all are healthy before reading the RSS.
    #[arg(long, default_value_t = 2.0)]
    settle_secs: f64,
    /// Measured runs (each disables all, then enables all again).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The RSS target in MB, if any.
    #[arg(long)]
    rss_target_mb: Option<f64>,
}

/// The daemon's resident set size, MB.
pub fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))?;
    Ok(kb / 1024.0)
}

/// Open file descriptors of a process.
pub fn fd_count(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Enables `count` plugins concurrently and waits until every one is running and healthy.
pub async fn scale(args: ScaleArgs) -> anyhow::Result<Vec<Figure>> {
    let client = Client::new(Endpoint::Unix(args.socket.clone()), None);
    let list: Vec<Value> = client.get("/api/plugins").await?;
    let mut ids: Vec<String> = list
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    anyhow::ensure!(
        ids.len() >= args.count,
        "only {} plugins discovered, {} wanted",
        ids.len(),
        args.count
    );
    ids.truncate(args.count);
    let (mut times, mut rss) = (Vec::new(), Vec::new());
    for run in 0..=args.runs {
        all(&client, &ids, "disable").await?;
        let started = Instant::now();
        all(&client, &ids, "enable").await?;
        loop {
            let list: Vec<Value> = client.get("/api/plugins").await?;
            let ready = list
                .iter()
                .filter(|p| {
                    p["status"]["state"] == "running" && p["status"]["healthy"] == Value::Bool(true)
                })
                .filter(|p| {
                    p["id"]
                        .as_str()
                        .is_some_and(|id| ids.iter().any(|i| i == id))
                })
                .count();
            if ready == ids.len() {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(120),
                "only {ready} of {} plugins healthy after 120 s",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = started.elapsed().as_secs_f64() * 1000.0;
        tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;
        if run > 0 {
            times.push(took);
            rss.push(rss_mb(args.pid)?);
        }
    }
    let s = "4 scale";
    let mut rss = Figure::new(
        s,
        &format!("daemon RSS, {} plugins running", args.count),
        "MB",
        rss,
    );
    if let Some(t) = args.rss_target_mb {
        rss = rss.target(&format!("<= {t}"));
    }
    Ok(vec![
        Figure::new(
            s,
            &format!("enable {} at once → all healthy", args.count),
            "ms",
            times,
        ),
        rss,
    ])
}

/// `POST /api/plugins/<id>/<verb>` for every id at once.
async fn all(client: &Client, ids: &[String], verb: &str) -> anyhow::Result<()> {
    let calls = ids.iter().map(|id| {
        let path = format!("/api/plugins/{id}/{verb}");
        async move { client.call(Method::POST, &path, None).await }
    });
    for result in futures::future::join_all(calls).await {
        result?;
    }
    Ok(())
}
