//! Load under faults (scenario 6): `conns` keep-alive connections hammer the plugin's route
//! while the plugin is `kill -9`ed every `kill_every` seconds (when it is running) and the
//! dashboard's list endpoint is polled. Checks, and reports as figures: the daemon is alive,
//! failed requests are only 502/503/504 and only in the gaps (from a kill until the first
//! success after it), the list never fails, and the daemon's fds and RSS after the run are
//! within 10 % of before.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use toructl::{Client, Endpoint};

use super::enable::{fd_count, rss_mb};
use super::http::{Conn, Target};
use super::report::Figure;

/// `toru-bench faults`.
#[derive(clap::Args)]
pub struct Args {
    /// The daemon's TCP address, `127.0.0.1:PORT`.
    #[arg(long)]
    url: String,
    /// Session token.
    #[arg(long)]
    token: String,
    /// The daemon's local socket (to find the plugin's pid).
    #[arg(long)]
    socket: PathBuf,
    /// The daemon's pid.
    #[arg(long)]
    pid: u32,
    /// The plugin to load and kill.
    #[arg(long, default_value = "bench")]
    plugin: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    conns: usize,
    /// Length of the run, seconds.
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Seconds between kills.
    #[arg(long, default_value_t = 5.0)]
    kill_every: f64,
    /// Seconds of load before the "before" fds and RSS are read.
    #[arg(long, default_value_t = 5.0)]
    warmup_secs: f64,
}

/// What the load tasks share.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    /// Failures: seconds since start, status (0 = connection error).
    failures: Mutex<Vec<(f64, u16)>>,
    /// Set at each kill; the first success of a request sent after it ends the gap.
    awaiting_recovery: AtomicBool,
    /// When the last kill happened, µs since start.
    last_kill_us: AtomicU64,
    recoveries: Mutex<Vec<f64>>,
}

/// Runs the scenario.
pub async fn run(args: Args) -> anyhow::Result<Vec<Figure>> {
    let target = Target::Tcp(args.url.clone());
    let admin = Client::new(Endpoint::Unix(args.socket.clone()), None);
    // Warm-up load, so the "before" figures are a warmed daemon's.
    let route = format!("/api/plugins/{}/route/hello", args.plugin);
    let spec = LoadSpec {
        conns: args.conns,
        token: args.token.clone(),
        route,
        target: target.clone(),
    };
    load(&spec, Duration::from_secs_f64(args.warmup_secs), None).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (fds_before, rss_before) = (fd_count(args.pid)?, rss_mb(args.pid)?);

    let start = Instant::now();
    let tally = Arc::new(Tally::default());
    let duration = Duration::from_secs_f64(args.secs);
    let load_task = {
        let tally = tally.clone();
        tokio::spawn(async move { load(&spec, duration, Some((tally, start))).await })
    };
    let poller = {
        let (target, token) = (target.clone(), args.token.clone());
        tokio::spawn(async move {
            let (mut polls, mut failed) = (0u64, 0u64);
            let mut conn = Conn::open(&target, Some(&token)).await?;
            while start.elapsed() < duration {
                match conn.get("/api/plugins").await {
                    Ok((200, _)) => {}
                    Ok(_) => failed += 1,
                    Err(_) => {
                        failed += 1;
                        conn = Conn::open(&target, Some(&token)).await?;
                    }
                }
                polls += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok((polls, failed))
        })
    };
    let mut kills = 0u32;
    let mut kill_times = Vec::new();
    let mut next = Duration::from_secs_f64(args.kill_every);
    while next < duration {
        tokio::time::sleep_until((start + next).into()).await;
        next += Duration::from_secs_f64(args.kill_every);
        let info: Value = admin.get(&format!("/api/plugins/{}", args.plugin)).await?;
        let Some(pid) = info["status"]["pid"].as_u64() else {
            continue; // not running (in backoff): nothing to kill this time
        };
        if info["status"]["state"] != "running" {
            continue;
        }
        tally
            .last_kill_us
            .store(start.elapsed().as_micros() as u64, Ordering::SeqCst);
        tally.awaiting_recovery.store(true, Ordering::SeqCst);
        kill_times.push(start.elapsed().as_secs_f64());
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
        kills += 1;
    }
    load_task.await??;
    let (polls, poll_failures) = poller.await??;
    let elapsed = start.elapsed().as_secs_f64();
    let alive = std::path::Path::new(&format!("/proc/{}", args.pid)).exists();
    anyhow::ensure!(alive, "the daemon died during the run");
    // The "after" figures are read with the plugin back (it may still be in a 16 s backoff)
    // and connections settled, so that before and after describe the same situation.
    let back = Instant::now();
    loop {
        let info: Value = admin.get(&format!("/api/plugins/{}", args.plugin)).await?;
        if info["status"]["state"] == "running" || back.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (fds_after, rss_after) = (fd_count(args.pid)?, rss_mb(args.pid)?);

    let failures = tally.failures.lock().expect("lock").clone();
    let recoveries = tally.recoveries.lock().expect("lock").clone();
    // A failure is in a gap if it happened after a kill and before (or just after, for
    // requests already in flight) the first success that followed it.
    let in_gap = |t: f64| {
        kill_times.iter().any(|k| {
            let end = recoveries
                .iter()
                .find(|r| **r >= *k)
                .copied()
                .unwrap_or(f64::INFINITY);
            t >= *k && t <= end + 0.05
        })
    };
    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    let (mut outside, mut bad_status) = (0u64, 0u64);
    for (t, status) in &failures {
        *by_status.entry(*status).or_default() += 1;
        if !matches!(status, 502..=504) {
            bad_status += 1;
        }
        if !in_gap(*t) {
            outside += 1;
        }
    }
    eprintln!(
        "faults: {kills} kills at {kill_times:?}; recoveries {recoveries:?}; failures by status {by_status:?}"
    );
    let pct = |after: f64, before: f64| (after - before) / before * 100.0;
    let s = "6 faults";
    let ok = tally.ok.load(Ordering::Relaxed) as f64;
    Ok(vec![
        Figure::new(
            s,
            "load under kills: successful req/s",
            "1/s",
            vec![ok / elapsed],
        ),
        Figure::new(s, "plugin kills", "n", vec![kills as f64]),
        Figure::new(
            s,
            "failed requests (all 502/503/504 in gaps)",
            "n",
            vec![failures.len() as f64],
        ),
        Figure::new(s, "failures not 502/503/504", "n", vec![bad_status as f64]).target("<= 0"),
        Figure::new(s, "failures outside the gaps", "n", vec![outside as f64]).target("<= 0"),
        Figure::new(s, "list polls failed", "n", vec![poll_failures as f64]).target("<= 0"),
        Figure::new(s, "list polls", "n", vec![polls as f64]),
        Figure::new(
            s,
            "daemon fds after vs before",
            "%",
            vec![pct(fds_after as f64, fds_before as f64)],
        )
        .target("<= 10"),
        Figure::new(
            s,
            "daemon RSS after vs before",
            "%",
            vec![pct(rss_after, rss_before)],
        )
        .target("<= 10"),
    ])
}

/// What a load run sends, and where.
struct LoadSpec {
    conns: usize,
    token: String,
    route: String,
    target: Target,
}

/// `conns` connections requesting the route in a loop for `duration`, tallying when asked.
async fn load(
    spec: &LoadSpec,
    duration: Duration,
    tally: Option<(Arc<Tally>, Instant)>,
) -> anyhow::Result<()> {
    let until = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..spec.conns {
        let (target, token, route, tally) = (
            spec.target.clone(),
            spec.token.clone(),
            spec.route.clone(),
            tally.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target, Some(&token)).await?;
            while Instant::now() < until {
                let sent_us = tally
                    .as_ref()
                    .map_or(0, |(_, start)| start.elapsed().as_micros() as u64);
                let result = conn.get(&route).await;
                let status = match &result {
                    Ok((status, _)) => *status,
                    Err(_) => 0,
                };
                if let Some((tally, start)) = &tally {
                    if status == 200 {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        // A request sent before the kill says nothing about recovery.
                        if sent_us >= tally.last_kill_us.load(Ordering::SeqCst)
                            && tally.awaiting_recovery.swap(false, Ordering::SeqCst)
                        {
                            let t = start.elapsed().as_secs_f64();
                            tally.recoveries.lock().expect("lock").push(t);
                        }
                    } else {
                        let t = start.elapsed().as_secs_f64();
                        tally.failures.lock().expect("lock").push((t, status));
                    }
                }
                if result.is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    conn = Conn::open(&target, Some(&token)).await?;
                } else if status != 200 {
                    // The plugin is down: don't spin on 503s.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
