//! Sequential latency of one API path on one keep-alive connection (the plugin list with 200
//! plugins, scenario 4).

use std::path::PathBuf;
use std::time::Instant;

use super::http::{Conn, Target};
use super::report::Figure;
use super::stats::summarize;

/// `toru-bench latency`.
#[derive(clap::Args)]
pub struct Args {
    /// The daemon's TCP address, `127.0.0.1:PORT`.
    #[arg(long)]
    url: Option<String>,
    /// Or its local socket.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Session token, when over TCP.
    #[arg(long)]
    token: Option<String>,
    /// The path to request.
    #[arg(long, default_value = "/api/plugins")]
    path: String,
    /// Requests per run.
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// Measured runs after the warm-up.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Scenario label for the figures.
    #[arg(long, default_value = "4 scale")]
    scenario: String,
    /// Metric prefix.
    #[arg(long, default_value = "list")]
    label: String,
    /// Target for the p50, e.g. `<= 10000`.
    #[arg(long)]
    target: Option<String>,
}

/// Runs the scenario.
pub async fn run(args: Args) -> anyhow::Result<Vec<Figure>> {
    let target = Target::new(args.url.clone(), args.socket.as_deref())?;
    let mut conn = Conn::open(&target, args.token.as_deref()).await?;
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for run in 0..=args.runs {
        let mut times = Vec::with_capacity(args.n);
        for _ in 0..args.n {
            let started = Instant::now();
            let (status, _) = conn.get(&args.path).await?;
            times.push(started.elapsed());
            anyhow::ensure!(status == 200, "GET {} answered {status}", args.path);
        }
        // Run 0 is the warm-up.
        if run > 0 {
            let s = summarize(&mut times);
            p50.push(s.p50_us / 1000.0);
            p99.push(s.p99_us / 1000.0);
        }
    }
    let mut p50 = Figure::new(&args.scenario, &format!("{} p50", args.label), "ms", p50);
    if let Some(t) = &args.target {
        p50 = p50.target(t);
    }
    Ok(vec![
        p50,
        Figure::new(&args.scenario, &format!("{} p99", args.label), "ms", p99),
    ])
}
