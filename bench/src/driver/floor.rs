//! The protocol floor: what one round trip over a plugin connection costs with nothing else in
//! the way. Starts the bench plugin, speaks to it with the SDK's own `TestDaemon`, and measures
//! sequential `ping`/`pong` and `http.request` round trips, then throughput with 64 pings in
//! flight on the one connection (multiplexed by `request_id`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use toru_plugin_api::testing::{TestDaemon, get};
use toru_plugin_api::{Body, Message};

use super::report::Figure;
use super::stats::summarize;

/// `toru-bench floor`.
#[derive(clap::Args)]
pub struct Args {
    /// The bench plugin's binary.
    #[arg(long)]
    plugin: PathBuf,
    /// Sequential round trips to time.
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    /// Requests kept in flight for the throughput figure.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// How long each throughput run lasts, seconds.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Measured runs after the warm-up.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Appended to every metric's name in parentheses, to tell a variant apart (`bench/run.sh`
    /// runs the floor a second time with both processes on one CPU).
    #[arg(long)]
    tag: Option<String>,
}

/// Runs the scenario: a warm-up, then `runs` times each figure.
pub async fn run(args: Args) -> anyhow::Result<Vec<Figure>> {
    let dir = std::env::temp_dir().join(format!("toru-bench-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join("plugin.sock");
    let _child = tokio::process::Command::new(&args.plugin)
        .arg("--socket")
        .arg(&socket)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", args.plugin.display()))?;
    let mut daemon = TestDaemon::connect(&socket, Duration::from_secs(10)).await?;
    daemon.init("bench", "floor").await?;
    for _ in 0..args.n / 10 {
        ping(&mut daemon).await?;
    }
    let (mut p50, mut p99, mut http50, mut tput) = (vec![], vec![], vec![], vec![]);
    for _ in 0..args.runs {
        let mut pings = Vec::with_capacity(args.n);
        for _ in 0..args.n {
            let started = Instant::now();
            ping(&mut daemon).await?;
            pings.push(started.elapsed());
        }
        let pings = summarize(&mut pings);
        p50.push(pings.p50_us);
        p99.push(pings.p99_us);
        let mut https = Vec::with_capacity(args.n);
        for _ in 0..args.n {
            let started = Instant::now();
            let reply = daemon.call(get("/hello")).await?;
            anyhow::ensure!(
                matches!(reply.body, Body::HttpResponse(ref r) if r.status == 200),
                "GET /hello failed: {reply:?}"
            );
            https.push(started.elapsed());
        }
        http50.push(summarize(&mut https).p50_us);
        tput.push(throughput(&mut daemon, args.in_flight, args.secs).await?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let s = "2 floor";
    let name = |metric: &str| match &args.tag {
        Some(tag) => format!("{metric} ({tag})"),
        None => metric.to_owned(),
    };
    Ok(vec![
        Figure::new(s, &name("floor ping p50"), "µs", p50),
        Figure::new(s, &name("floor ping p99"), "µs", p99),
        Figure::new(s, &name("floor http.request /hello p50"), "µs", http50),
        Figure::new(
            s,
            &name(&format!("floor pings/s, {} in flight", args.in_flight)),
            "1/s",
            tput,
        ),
    ])
}

/// Keeps `in_flight` pings outstanding for `secs`; each pong lets one more go. Pings per second.
async fn throughput(daemon: &mut TestDaemon, in_flight: usize, secs: f64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    for _ in 0..in_flight {
        send_ping(daemon).await?;
    }
    let mut done = 0u64;
    let mut outstanding = in_flight;
    while outstanding > 0 {
        let reply = daemon.recv().await?;
        anyhow::ensure!(reply.body == Body::Pong, "expected pong, got {reply:?}");
        done += 1;
        outstanding -= 1;
        if Instant::now() < until {
            send_ping(daemon).await?;
            outstanding += 1;
        }
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

async fn send_ping(daemon: &mut TestDaemon) -> anyhow::Result<()> {
    let id = daemon.next_id();
    daemon.send(&Message::new(id, Body::Ping)).await?;
    Ok(())
}

async fn ping(daemon: &mut TestDaemon) -> anyhow::Result<()> {
    send_ping(daemon).await?;
    let reply = daemon.recv().await?;
    anyhow::ensure!(reply.body == Body::Pong, "expected pong, got {reply:?}");
    Ok(())
}
