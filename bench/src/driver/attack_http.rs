//! Hostile HTTP clients (scenario 7, issue 16 items 2 and 3), one attack per run, while a
//! normal client asks for an authenticated `GET /api/status` on a fresh connection every 20 ms
//! and the daemon's resident set is sampled every 100 ms:
//!
//! - `logins`: `--conns` clients log in at once and again, each attempt from another
//!   127.0.x.y address and for another (unknown) user name, so no rate limit stops them and
//!   every attempt asks for a password check;
//! - `idle`: `--conns` sockets (more than the daemon's 1024 slots) that send nothing, an HTTP/2
//!   preface, or a login body one byte every 3 s, each reopened as soon as the daemon closes
//!   it.
//!
//! Prints the daemon's peak RSS and the normal requests' p99 during the attack; targets are
//! shown, never asserted. All traffic goes to 127.0.0.0/8; every loop ends at `--secs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::enable::rss_mb;
use super::http::{Conn, Target};
use super::report::Figure;
use super::stats::summarize;

/// Which attack.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Attack {
    /// Parallel logins from ever new addresses (password checks).
    Logins,
    /// Sockets that send nothing, an HTTP/2 preface, or a trickled body.
    Idle,
}

/// `toru-bench attack-http`.
#[derive(clap::Args)]
pub struct Args {
    /// The daemon's TCP address, `127.0.0.1:PORT`.
    #[arg(long)]
    url: SocketAddr,
    /// The daemon's pid, for its RSS.
    #[arg(long)]
    pid: u32,
    /// Session token for the normal requests.
    #[arg(long)]
    token: String,
    /// The attack.
    #[arg(long, value_enum)]
    attack: Attack,
    /// Attacking connections at once.
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// How long the attack lasts, seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
}

/// What the attackers saw.
#[derive(Default)]
struct Tally {
    /// Answers by class: 401, 429, 503, anything else.
    unauthorized: AtomicU64,
    limited: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
    /// Attacking connections the daemon closed.
    closed: AtomicU64,
}

/// Runs the scenario.
pub async fn run(args: Args) -> anyhow::Result<Vec<Figure>> {
    anyhow::ensure!(
        args.url.ip().is_loopback(),
        "the attack only goes to 127.0.0.0/8"
    );
    let rss_before = rss_mb(args.pid)?;
    let until = Instant::now() + Duration::from_secs_f64(args.secs);
    let tally = Arc::new(Tally::default());
    let next_address = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    for i in 0..args.conns {
        let (tally, next_address) = (tally.clone(), next_address.clone());
        let (url, attack) = (args.url, args.attack);
        attackers.push(tokio::spawn(async move {
            while Instant::now() < until {
                match attack {
                    Attack::Logins => login_once(url, &next_address, &tally, until).await,
                    Attack::Idle => idle_once(url, i, &tally, until).await,
                }
            }
        }));
    }
    // The resident set, sampled until the attack is over.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (pid, sampling) = (args.pid, sampling.clone());
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while sampling.load(Ordering::Relaxed) {
                if let Ok(mb) = rss_mb(pid) {
                    peak = peak.max(mb);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    // Normal requests during the attack, after it got going.
    tokio::time::sleep(Duration::from_millis(300).min(Duration::from_secs_f64(args.secs / 4.0)))
        .await;
    let target = Target::Tcp(args.url.to_string());
    let (mut times, mut failed) = (Vec::new(), 0u64);
    while Instant::now() < until {
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), async {
            let mut conn = Conn::open(&target, Some(&args.token)).await?;
            conn.get("/api/status").await
        })
        .await;
        match result {
            Ok(Ok((200, _))) => times.push(started.elapsed()),
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for attacker in attackers {
        let _ = attacker.await;
    }
    sampling.store(false, Ordering::Relaxed);
    let rss_peak = sampler.await?;
    let rss_after = rss_mb(args.pid)?;
    let normal = summarize(&mut times);
    let label = match args.attack {
        Attack::Logins => format!("{} parallel logins", args.conns),
        Attack::Idle => format!("{} idle sockets", args.conns),
    };
    let s = "7 hostile clients";
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    let mut figures = vec![
        Figure::new(
            s,
            &format!("daemon RSS before, {label}"),
            "MB",
            vec![rss_before],
        ),
        Figure::new(
            s,
            &format!("daemon RSS peak, {label}"),
            "MB",
            vec![rss_peak],
        )
        .target("<= 64"),
        Figure::new(
            s,
            &format!("daemon RSS after, {label}"),
            "MB",
            vec![rss_after],
        ),
        Figure::new(
            s,
            &format!("GET /api/status p50 (new conn), {label}"),
            "ms",
            vec![normal.p50_us / 1000.0],
        ),
        Figure::new(
            s,
            &format!("GET /api/status p99 (new conn), {label}"),
            "ms",
            vec![normal.p99_us / 1000.0],
        )
        .target("<= 50"),
        Figure::new(
            s,
            &format!("GET /api/status ok, {label}"),
            "n",
            vec![normal.n as f64],
        ),
        Figure::new(
            s,
            &format!("GET /api/status failed, {label}"),
            "n",
            vec![failed as f64],
        )
        .target("<= 0"),
    ];
    match args.attack {
        Attack::Logins => {
            for (what, count) in [
                ("401", &tally.unauthorized),
                ("429", &tally.limited),
                ("503 busy", &tally.busy),
                ("other or no answer", &tally.other),
            ] {
                figures.push(Figure::new(
                    s,
                    &format!("attack logins answered {what}"),
                    "n",
                    vec![n(count)],
                ));
            }
        }
        Attack::Idle => figures.push(Figure::new(
            s,
            "attack sockets closed by the daemon",
            "n",
            vec![n(&tally.closed)],
        )),
    }
    Ok(figures)
}

/// `127.0.<k / 250 % 250 + 1>.<k % 250 + 2>`: loopback addresses other than 127.0.0.1.
fn loopback(k: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (k / 250 % 250 + 1) as u8, (k % 250 + 2) as u8)
}

async fn connect_from(url: SocketAddr, source: Option<Ipv4Addr>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    }
    socket.connect(url).await
}

/// One login attempt from a new address for a new user name.
async fn login_once(url: SocketAddr, next: &AtomicU64, tally: &Tally, until: Instant) {
    let k = next.fetch_add(1, Ordering::Relaxed);
    let body = format!(r#"{{"username":"attack-{k}","password":"guess-{k}"}}"#);
    let request = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let left = until.saturating_duration_since(Instant::now()) + Duration::from_secs(10);
    let answer = tokio::time::timeout(left, async {
        let mut stream = connect_from(url, Some(loopback(k))).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        std::io::Result::Ok(head)
    })
    .await;
    let counter = match answer {
        Ok(Ok(head)) => match &head[9..12] {
            b"401" => &tally.unauthorized,
            b"429" => &tally.limited,
            b"503" => &tally.busy,
            _ => &tally.other,
        },
        _ => &tally.other,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One hostile socket, held until the daemon closes it or the attack ends.
async fn idle_once(url: SocketAddr, i: usize, tally: &Tally, until: Instant) {
    let Ok(mut stream) = connect_from(url, None).await else {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return;
    };
    let trickle = match i % 3 {
        0 => false,
        1 => {
            let _ = stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
            false
        }
        _ => {
            let _ = stream
                .write_all(
                    b"POST /api/auth/login HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
                )
                .await;
            true
        }
    };
    let mut buf = [0u8; 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let tick = if trickle {
            Duration::from_secs(3).min(left)
        } else {
            left
        };
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    tally.closed.fetch_add(1, Ordering::Relaxed);
                    // Reopen, but not in a tight loop.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return;
                }
                Ok(_) => {}
            },
            () = tokio::time::sleep(tick) => {
                if trickle && stream.write_all(b" ").await.is_err() {
                    tally.closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}
