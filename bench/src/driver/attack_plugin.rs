//! Hostile plugins (scenario 8, issue 16 items 6 and 7): while `attack-deaf` (asks for a 1 MiB
//! value 3000 times and stops reading) and `attack-flood` (pipelines `kv set`s without end) run,
//! an authenticated client asks the API for `--path` (the daemon's status) and for another
//! plugin's KV (`--kv-path`, which goes through the same store), one request after another on
//! keep-alive connections, and the daemon's RSS is sampled. Then both are disabled, and how long
//! that took is reported. Prints figures; the targets (RSS under 64 MB, API p99 under 50 ms)
//! are shown, never asserted.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::Method;
use toructl::{Client, Endpoint};

use super::enable::rss_mb;
use super::http::{Conn, Target};
use super::report::Figure;
use super::stats::summarize;

/// `toru-bench attack-plugin`.
#[derive(clap::Args)]
pub struct Args {
    /// The daemon's TCP address, `127.0.0.1:PORT`.
    #[arg(long)]
    url: String,
    /// Session token for the API requests.
    #[arg(long)]
    token: String,
    /// The daemon's local API socket, to enable and disable the attackers as root.
    #[arg(long)]
    socket: PathBuf,
    /// The daemon's pid, for its RSS.
    #[arg(long)]
    pid: u32,
    /// The attacking plugins' ids.
    #[arg(long, default_values_t = ["attack-deaf".to_owned(), "attack-flood".to_owned()])]
    attackers: Vec<String>,
    /// An API path that does not touch the attackers.
    #[arg(long, default_value = "/api/status")]
    path: String,
    /// Another plugin's KV, through the same store the flood uses.
    #[arg(long, default_value = "/api/plugins/bench/kv/attack-probe")]
    kv_path: String,
    /// How long the attack lasts, seconds.
    #[arg(long, default_value_t = 15.0)]
    secs: f64,
}

/// Sequential GETs of `path` until `until`: the latencies of the 200s and the count of others.
async fn probe(
    target: Target,
    token: String,
    path: String,
    until: Instant,
) -> (Vec<Duration>, u64) {
    let (mut times, mut failed) = (Vec::new(), 0u64);
    let mut conn = None;
    while Instant::now() < until {
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), async {
            if conn.is_none() {
                conn = Some(Conn::open(&target, Some(&token)).await?);
            }
            conn.as_mut().expect("just opened").get(&path).await
        })
        .await;
        match result {
            Ok(Ok((200, _))) => times.push(started.elapsed()),
            _ => {
                failed += 1;
                conn = None;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (times, failed)
}

/// Runs the scenario.
pub async fn run(args: Args) -> anyhow::Result<Vec<Figure>> {
    let admin = Client::new(Endpoint::Unix(args.socket.clone()), None);
    let rss_before = rss_mb(args.pid)?;
    for id in &args.attackers {
        admin
            .call(Method::POST, &format!("/api/plugins/{id}/enable"), None)
            .await?;
    }
    let until = Instant::now() + Duration::from_secs_f64(args.secs);
    let target = Target::Tcp(args.url.clone());
    let api = tokio::spawn(probe(
        target.clone(),
        args.token.clone(),
        args.path.clone(),
        until,
    ));
    let kv = tokio::spawn(probe(
        target,
        args.token.clone(),
        args.kv_path.clone(),
        until,
    ));
    let mut rss_max = rss_before;
    while Instant::now() < until {
        rss_max = rss_max.max(rss_mb(args.pid)?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut api_times, api_failed) = api.await?;
    let (mut kv_times, kv_failed) = kv.await?;
    // One after another, each within the documented stop bound (5 s after
    // `lifecycle.shutdown`, 5 s after SIGTERM) whatever the plugin does.
    let mut disable_secs = Vec::new();
    for id in &args.attackers {
        let started = Instant::now();
        admin
            .call(Method::POST, &format!("/api/plugins/{id}/disable"), None)
            .await?;
        disable_secs.push((id, started.elapsed().as_secs_f64()));
    }
    let rss_after = rss_mb(args.pid)?;

    let (api_s, kv_s) = (summarize(&mut api_times), summarize(&mut kv_times));
    let s = "8 hostile plugins";
    let mut figures = vec![
        Figure::new(s, "daemon RSS before", "MB", vec![rss_before]),
        Figure::new(s, "daemon RSS max during the attack", "MB", vec![rss_max]).target("<= 64"),
        Figure::new(s, "daemon RSS after disabling", "MB", vec![rss_after]),
        Figure::new(
            s,
            &format!("GET {} p50 during the attack", args.path),
            "ms",
            vec![api_s.p50_us / 1000.0],
        ),
        Figure::new(
            s,
            &format!("GET {} p99 during the attack", args.path),
            "ms",
            vec![api_s.p99_us / 1000.0],
        )
        .target("<= 50"),
        Figure::new(
            s,
            "other plugin's KV get p99 during the attack",
            "ms",
            vec![kv_s.p99_us / 1000.0],
        )
        .target("<= 50"),
        Figure::new(
            s,
            "API requests failed during the attack",
            "n",
            vec![(api_failed + kv_failed) as f64],
        )
        .target("<= 0"),
    ];
    for (id, secs) in disable_secs {
        figures.push(Figure::new(s, &format!("disable {id}"), "s", vec![secs]).target("<= 10"));
    }
    Ok(figures)
}
