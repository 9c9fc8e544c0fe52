//! Slowloris (scenario 6): `slow` connections each send a request line and then one header byte
//! every `interval_ms`, never finishing their headers, while a normal client opens a fresh
//! connection every 20 ms for one request. Reports how the normal requests fared during the
//! attack and how soon the server cut the slow connections off (its header timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::{Conn, Target};
use super::report::Figure;
use super::stats::summarize;

/// `toru-bench slowloris`.
#[derive(clap::Args)]
pub struct Args {
    /// The daemon's TCP address, `127.0.0.1:PORT`.
    #[arg(long)]
    url: String,
    /// Session token for the normal requests.
    #[arg(long)]
    token: String,
    /// The path normal requests ask for.
    #[arg(long, default_value = "/api/plugins/bench/route/hello")]
    path: String,
    /// How many slow connections.
    #[arg(long, default_value_t = 1000)]
    slow: usize,
    /// How long the attack lasts, seconds.
    #[arg(long, default_value_t = 15.0)]
    secs: f64,
    /// Milliseconds between the slow clients' header bytes.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
}

/// Runs the scenario.
pub async fn run(args: Args) -> anyhow::Result<Vec<Figure>> {
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(args.secs);
    let cut = Arc::new(AtomicU64::new(0));
    let cut_after_ms = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut slow = Vec::new();
    for _ in 0..args.slow {
        let (url, cut, cut_after_ms) = (args.url.clone(), cut.clone(), cut_after_ms.clone());
        let interval = Duration::from_millis(args.interval_ms);
        slow.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(&url).await else {
                return;
            };
            let opened = Instant::now();
            if stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut buf = [0u8; 1024];
            while Instant::now() < until {
                tokio::select! {
                    // The server closing (or answering 408) is what we are waiting for.
                    _ = stream.read(&mut buf) => {
                        cut.fetch_add(1, Ordering::Relaxed);
                        cut_after_ms.lock().expect("lock").push(opened.elapsed());
                        return;
                    }
                    _ = tokio::time::sleep(interval) => {
                        if stream.write_all(b"X").await.is_err() {
                            cut.fetch_add(1, Ordering::Relaxed);
                            cut_after_ms.lock().expect("lock").push(opened.elapsed());
                            return;
                        }
                    }
                }
            }
        }));
    }
    // Let the attack get going, then measure normal requests until it ends.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let target = Target::Tcp(args.url.clone());
    let (mut times, mut failed) = (Vec::new(), 0u64);
    while Instant::now() < until {
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(30), async {
            let mut conn = Conn::open(&target, Some(&args.token)).await?;
            conn.get(&args.path).await
        })
        .await;
        match result {
            Ok(Ok((200, _))) => times.push(started.elapsed()),
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in slow {
        let _ = task.await;
    }
    let normal = summarize(&mut times);
    let mut cut_times = cut_after_ms.lock().expect("lock").clone();
    let cut_summary = summarize(&mut cut_times);
    let s = "6 slowloris";
    let label = format!("{} slow conns", args.slow);
    Ok(vec![
        Figure::new(
            s,
            &format!("normal requests ok, {label}"),
            "n",
            vec![normal.n as f64],
        ),
        Figure::new(
            s,
            &format!("normal requests failed, {label}"),
            "n",
            vec![failed as f64],
        )
        .target("<= 0"),
        Figure::new(
            s,
            &format!("normal p50 (new conn), {label}"),
            "ms",
            vec![normal.p50_us / 1000.0],
        ),
        Figure::new(
            s,
            &format!("normal p99 (new conn), {label}"),
            "ms",
            vec![normal.p99_us / 1000.0],
        ),
        Figure::new(
            s,
            "slow conns cut by the server",
            "n",
            vec![cut.load(Ordering::Relaxed) as f64],
        ),
        Figure::new(
            s,
            "slow conn cut after (p50)",
            "s",
            vec![cut_summary.p50_us / 1e6],
        ),
    ])
}
