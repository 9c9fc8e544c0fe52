//! bench-plugin: the plugin `bench/run.sh` measures. Built on `toru-plugin-api` like any Rust
//! plugin, so what it costs is what a real plugin costs.
//!
//! Its id is its file name without `.binary` (`bench-007.binary` is `bench-007`), so one binary,
//! hard-linked 200 times, makes 200 plugins. Routes:
//! - `GET /hello`: a fixed 41-byte JSON body, the unit of forwarding work;
//! - `GET /kv-get?n=N`: N sequential `kv get` round trips timed from inside the plugin;
//! - `POST /kv-set?n=N&c=C`: N `kv set`s over C concurrent tasks, timed from inside the plugin.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;
use toru_plugin_api::{
    HttpRequest, HttpResponse, PROTOCOL_VERSION, PluginContext, PluginError, PluginMetadata,
    ToruPlugin,
};

/// The `/hello` body: 41 bytes of JSON, the same as the baseline server's.
const HELLO: &[u8] = br#"{"message":"hello from the bench plugin"}"#;

/// The plugin: its id and, after init, its context (for the KV handle).
struct Bench {
    id: String,
    ctx: OnceLock<PluginContext>,
}

/// The id from argv[0]'s file name, so links to one binary are distinct plugins.
fn id_from_argv0() -> String {
    let argv0 = std::env::args().next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = name.strip_suffix(".binary").unwrap_or(&name).to_owned();
    if toru_plugin_api::validate_plugin_id(&id).is_ok() {
        id
    } else {
        "bench".into()
    }
}

/// `name=value` from a query string, parsed as a number.
fn query_num(query: &str, name: &str, default: usize) -> Result<usize, PluginError> {
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            return value
                .parse()
                .map_err(|_| PluginError::BadRequest(format!("{name} must be a number")));
        }
    }
    Ok(default)
}

/// Percentile of sorted durations, in microseconds.
fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

impl Bench {
    fn ctx(&self) -> Result<&PluginContext, PluginError> {
        self.ctx.get().ok_or(PluginError::Disconnected)
    }

    /// N sequential gets of one existing key; latency percentiles.
    async fn kv_get(&self, n: usize) -> Result<HttpResponse, PluginError> {
        let kv = &self.ctx()?.kv;
        kv.set(
            "bench-key",
            "a value of a realistic size, 48 bytes long......",
        )
        .await?;
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let value = kv.get("bench-key").await?;
            times.push(started.elapsed());
            if value.is_none() {
                return Err(PluginError::Internal("the key vanished".into()));
            }
        }
        times.sort();
        Ok(HttpResponse::json(
            200,
            &json!({
                "n": n,
                "p50_us": percentile_us(&times, 0.50),
                "p99_us": percentile_us(&times, 0.99),
            }),
        ))
    }

    /// N sets spread over C tasks; each set is acknowledged only after its commit.
    async fn kv_set(&self, n: usize, c: usize) -> Result<HttpResponse, PluginError> {
        let kv = self.ctx()?.kv.clone();
        let c = c.clamp(1, 256);
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(c);
        for t in 0..c {
            let kv = kv.clone();
            let count = n / c + usize::from(t < n % c);
            tasks.push(tokio::spawn(async move {
                for i in 0..count {
                    kv.set(&format!("set-{t}-{i}"), "v").await?;
                }
                Ok::<_, PluginError>(())
            }));
        }
        for task in tasks {
            task.await
                .map_err(|e| PluginError::Internal(e.to_string()))??;
        }
        let secs = started.elapsed().as_secs_f64();
        Ok(HttpResponse::json(
            200,
            &json!({"n": n, "c": c, "secs": secs, "per_sec": n as f64 / secs}),
        ))
    }
}

impl ToruPlugin for Bench {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata {
            id: self.id.clone(),
            name: format!("Bench {}", self.id),
            version: env!("CARGO_PKG_VERSION").into(),
            author: "The Toru developers".into(),
            icon: "⏱".into(),
            route: format!("/{}", self.id),
            protocol_version: PROTOCOL_VERSION,
            description: "Answers fixed bodies for bench/run.sh".into(),
            license_required: false,
            permissions: Default::default(),
            settings: None,
        }
    }

    async fn init(&self, ctx: PluginContext) -> Result<(), PluginError> {
        let _ = self.ctx.set(ctx);
        Ok(())
    }

    async fn handle_http(&self, req: HttpRequest) -> Result<HttpResponse, PluginError> {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/hello") => Ok(HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: HELLO.to_vec(),
            }),
            ("GET", "/kv-get") => self.kv_get(query_num(&req.query, "n", 1000)?).await,
            ("POST", "/kv-set") => {
                let n = query_num(&req.query, "n", 1000)?;
                let c = query_num(&req.query, "c", 1)?;
                self.kv_set(n, c).await
            }
            _ => Ok(HttpResponse::not_found()),
        }
    }
}

fn main() -> std::process::ExitCode {
    let plugin = Bench {
        id: id_from_argv0(),
        ctx: OnceLock::new(),
    };
    toru_plugin_api::run(plugin)
}
