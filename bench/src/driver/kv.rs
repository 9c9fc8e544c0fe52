//! KV from inside a plugin (scenario 5): asks the bench plugin, through the daemon, to time
//! `kv get` round trips and `kv set` throughput itself, so the figure is what a plugin sees.

use std::path::PathBuf;

use http::Method;
use serde_json::Value;
use toructl::{Client, Endpoint};

use super::report::Figure;

/// `toru-bench kv`.
#[derive(clap::Args)]
pub struct Args {
    /// The daemon's local socket.
    #[arg(long)]
    socket: PathBuf,
    /// The bench plugin's id.
    #[arg(long, default_value = "bench")]
    plugin: String,
    /// Operations per run.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Measured runs after the warm-up.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// Runs the scenario.
pub async fn run(args: Args) -> anyhow::Result<Vec<Figure>> {
    let client = Client::new(Endpoint::Unix(args.socket.clone()), None);
    let route = format!("/api/plugins/{}/route", args.plugin);
    let call = |method: Method, path: String| {
        let client = client.clone();
        async move {
            let response = client.call(method, &path, None).await?;
            Ok::<Value, anyhow::Error>(serde_json::from_slice(&response.body)?)
        }
    };
    let (mut get50, mut get99, mut set1, mut set16) = (vec![], vec![], vec![], vec![]);
    for run in 0..=args.runs {
        let get = call(Method::GET, format!("{route}/kv-get?n={}", args.n)).await?;
        let seq = call(Method::POST, format!("{route}/kv-set?n={}&c=1", args.n)).await?;
        let par = call(Method::POST, format!("{route}/kv-set?n={}&c=16", args.n)).await?;
        if run == 0 {
            continue; // warm-up
        }
        let num = |v: &Value, k: &str| {
            v[k].as_f64()
                .ok_or_else(|| anyhow::anyhow!("no {k} in {v}"))
        };
        get50.push(num(&get, "p50_us")?);
        get99.push(num(&get, "p99_us")?);
        set1.push(num(&seq, "per_sec")?);
        set16.push(num(&par, "per_sec")?);
    }
    let s = "5 kv";
    Ok(vec![
        Figure::new(s, "kv get p50 (in plugin)", "µs", get50).target("<= 100"),
        Figure::new(s, "kv get p99 (in plugin)", "µs", get99),
        Figure::new(s, "kv set/s, 1 at a time (durable)", "1/s", set1),
        Figure::new(s, "kv set/s, 16 concurrent (durable)", "1/s", set16),
    ])
}
