//! One scrape: the daemon's figures, the process's, and every discovered plugin's, written as
//! families in the text format. A plugin's series come from the list of discovered plugins
//! taken for this scrape, so they are bounded by that list and disappear with the plugin.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use toru_api::{PluginState, PluginStatus};
use toru_plugin_api::PluginId;

use super::DaemonMetrics;
use super::http::ListenerKind;
use super::plugin::{KvOpKind, PluginMetrics, StatusClass, latency_bounds_seconds};
use super::process::{self, ProcessFigures};
use super::text::{HistogramValues, Kind, TextWriter, Value};

/// What a scrape shows of one discovered plugin.
#[derive(Debug, Clone)]
pub struct PluginSample {
    /// The plugin, the `plugin` label.
    pub id: PluginId,
    /// Its status now.
    pub status: PluginStatus,
    /// Its counters.
    pub metrics: Arc<PluginMetrics>,
    /// How long its current process has run; `None` while none runs.
    pub uptime: Option<Duration>,
    /// Its process's resource figures at the resource sampler's newest reading; `None` before
    /// the first reading of this run (or while it does not run). A figure the backend cannot
    /// read (memory on a host without the memory controller) is `None` inside it, and its
    /// series is left out rather than written as 0.
    pub resources: Option<ResourceFigures>,
}

/// A plugin's resource use, as the sampler read it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResourceFigures {
    /// Memory in bytes.
    pub memory_bytes: Option<u64>,
    /// CPU time used by this run, user and system, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Tasks (threads).
    pub tasks: Option<u64>,
}

/// Every state, in label order. [`state_index`] fails to compile when a state is added, so
/// this list cannot miss one.
const STATES: [PluginState; 6] = [
    PluginState::Disabled,
    PluginState::Starting,
    PluginState::Running,
    PluginState::Backoff,
    PluginState::Stopping,
    PluginState::Failed,
];

fn state_index(state: PluginState) -> usize {
    match state {
        PluginState::Disabled => 0,
        PluginState::Starting => 1,
        PluginState::Running => 2,
        PluginState::Backoff => 3,
        PluginState::Stopping => 4,
        PluginState::Failed => 5,
    }
}

/// The whole exposition for one scrape.
pub fn render(daemon: &DaemonMetrics, plugins: &[PluginSample]) -> String {
    let mut w = TextWriter::new();
    write_daemon_families(&mut w, daemon, plugins);
    write_process_families(&mut w, daemon, &process::read());
    write_plugin_families(&mut w, plugins);
    w.finish()
}

fn seconds_since_epoch(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn write_daemon_families(w: &mut TextWriter, daemon: &DaemonMetrics, plugins: &[PluginSample]) {
    w.family(
        "toru_build_info",
        Kind::Gauge,
        "Always 1; the daemon's version as a label.",
    );
    w.sample(
        "toru_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1u64,
    );
    w.family(
        "toru_start_time_seconds",
        Kind::Gauge,
        "When the daemon started, in seconds since the Unix epoch.",
    );
    w.sample(
        "toru_start_time_seconds",
        &[],
        seconds_since_epoch(daemon.started),
    );
    w.family(
        "toru_uptime_seconds",
        Kind::Gauge,
        "Seconds since the daemon started.",
    );
    let uptime = daemon.started.elapsed().map_or(0.0, |d| d.as_secs_f64());
    w.sample("toru_uptime_seconds", &[], uptime);
    w.family(
        "toru_plugins",
        Kind::Gauge,
        "Discovered plugins by lifecycle state.",
    );
    let mut by_state = [0u64; STATES.len()];
    for plugin in plugins {
        by_state[state_index(plugin.status.state)] += 1;
    }
    for state in STATES {
        let name = state.to_string();
        w.sample(
            "toru_plugins",
            &[("state", &name)],
            by_state[state_index(state)],
        );
    }
    w.family(
        "toru_http_requests_total",
        Kind::Counter,
        "HTTP requests the API answered, forwarded ones included, by status class.",
    );
    for class in StatusClass::ALL {
        let count = daemon.http.requests.get(class);
        w.sample(
            "toru_http_requests_total",
            &[("code", class.label())],
            count,
        );
    }
    w.family(
        "toru_http_connections",
        Kind::Gauge,
        "HTTP connections open now, by listener (each allows 1024).",
    );
    for listener in ListenerKind::ALL {
        let open = daemon.http.open_connections(listener);
        w.sample(
            "toru_http_connections",
            &[("listener", listener.label())],
            open,
        );
    }
}

fn write_process_families(w: &mut TextWriter, daemon: &DaemonMetrics, figures: &ProcessFigures) {
    let mut one = |name: &str, kind: Kind, help: &str, value: Option<super::text::Value>| {
        if let Some(value) = value {
            w.family(name, kind, help);
            w.sample(name, &[], value);
        }
    };
    one(
        "process_cpu_seconds_total",
        Kind::Counter,
        "User and system CPU time the daemon spent, in seconds.",
        figures.cpu_seconds.map(Into::into),
    );
    one(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "The daemon's resident memory, in bytes.",
        figures.resident_bytes.map(Into::into),
    );
    one(
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "The daemon's virtual memory, in bytes.",
        figures.virtual_bytes.map(Into::into),
    );
    one(
        "process_open_fds",
        Kind::Gauge,
        "File descriptors the daemon has open.",
        figures.open_fds.map(Into::into),
    );
    one(
        "process_max_fds",
        Kind::Gauge,
        "The daemon's limit on open file descriptors.",
        figures.max_fds.map(Into::into),
    );
    one(
        "process_start_time_seconds",
        Kind::Gauge,
        "When the daemon started, in seconds since the Unix epoch.",
        Some(seconds_since_epoch(daemon.started).into()),
    );
}

/// Every per-plugin family, each with one series (or one per label value) per discovered
/// plugin; the resource figures only for the plugins whose figure is known.
pub fn write_plugin_families(w: &mut TextWriter, plugins: &[PluginSample]) {
    per_plugin(
        w,
        plugins,
        "toru_plugin_up",
        Kind::Gauge,
        "1 while the plugin is running (connected and initialised), else 0.",
        |p| Some(f64::from(u8::from(p.status.state == PluginState::Running)).into()),
    );
    w.family(
        "toru_plugin_state",
        Kind::Gauge,
        "1 for the plugin's current lifecycle state, 0 for the others.",
    );
    for p in plugins {
        for state in STATES {
            let name = state.to_string();
            let value = u64::from(p.status.state == state);
            w.sample(
                "toru_plugin_state",
                &[("plugin", p.id.as_str()), ("state", &name)],
                value,
            );
        }
    }
    per_plugin(
        w,
        plugins,
        "toru_plugin_restarts_total",
        Kind::Counter,
        "Restarts after failures since the plugin was last enabled.",
        |p| Some(p.status.restarts.into()),
    );
    per_plugin(
        w,
        plugins,
        "toru_plugin_uptime_seconds",
        Kind::Gauge,
        "Seconds since the plugin's current process started; 0 while none runs.",
        |p| Some(p.uptime.map_or(0.0, |d| d.as_secs_f64()).into()),
    );
    let resources = |p: &PluginSample| p.resources.unwrap_or_default();
    per_plugin(
        w,
        plugins,
        "toru_plugin_memory_bytes",
        Kind::Gauge,
        "Memory of the plugin's process (its cgroup under systemd, its process group's resident set otherwise).",
        |p| resources(p).memory_bytes.map(|b| (b as f64).into()),
    );
    per_plugin(
        w,
        plugins,
        "toru_plugin_cpu_seconds_total",
        Kind::Counter,
        "CPU time, user and system, of the plugin's current process.",
        |p| resources(p).cpu_seconds.map(Value::from),
    );
    per_plugin(
        w,
        plugins,
        "toru_plugin_tasks",
        Kind::Gauge,
        "Tasks (threads) of the plugin's process.",
        |p| resources(p).tasks.map(|t| (t as f64).into()),
    );
    w.family(
        "toru_plugin_requests_total",
        Kind::Counter,
        "Requests forwarded to the plugin, by the status class the client got.",
    );
    for p in plugins {
        for class in StatusClass::ALL {
            let count = p.metrics.requests.get(class);
            w.sample(
                "toru_plugin_requests_total",
                &[("plugin", p.id.as_str()), ("code", class.label())],
                count,
            );
        }
    }
    w.family(
        "toru_plugin_request_duration_seconds",
        Kind::Histogram,
        "How long forwarded requests took, from finding the plugin to its answer.",
    );
    let bounds = latency_bounds_seconds();
    for p in plugins {
        let (counts, sum) = p.metrics.latency.read();
        let values = HistogramValues {
            bounds: &bounds,
            counts,
            sum,
        };
        w.histogram(
            "toru_plugin_request_duration_seconds",
            &[("plugin", p.id.as_str())],
            &values,
        );
    }
    per_plugin(
        w,
        plugins,
        "toru_plugin_request_bytes_total",
        Kind::Counter,
        "Request body bytes of the requests for the plugin, forwarded or refused.",
        |p| Some(p.metrics.request_bytes.load(Relaxed).into()),
    );
    per_plugin(
        w,
        plugins,
        "toru_plugin_response_bytes_total",
        Kind::Counter,
        "Response body bytes the plugin answered to forwarded requests.",
        |p| Some(p.metrics.response_bytes.load(Relaxed).into()),
    );
    w.family(
        "toru_plugin_kv_operations_total",
        Kind::Counter,
        "KV operations the plugin asked for, by operation.",
    );
    for p in plugins {
        for op in KvOpKind::ALL {
            let count = p.metrics.kv_operations(op);
            w.sample(
                "toru_plugin_kv_operations_total",
                &[("plugin", p.id.as_str()), ("op", op.label())],
                count,
            );
        }
    }
    per_plugin(
        w,
        plugins,
        "toru_plugin_kv_errors_total",
        Kind::Counter,
        "KV operations of the plugin that were refused or failed.",
        |p| Some(p.metrics.kv_errors.load(Relaxed).into()),
    );
}

/// A family with one series per plugin, labelled `plugin`, for each plugin `value` has a value
/// for (a resource figure not read yet has none, and no series).
fn per_plugin(
    w: &mut TextWriter,
    plugins: &[PluginSample],
    name: &str,
    kind: Kind,
    help: &str,
    value: impl Fn(&PluginSample) -> Option<Value>,
) {
    w.family(name, kind, help);
    for p in plugins {
        if let Some(value) = value(p) {
            w.sample(name, &[("plugin", p.id.as_str())], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn sample(id: &str, state: PluginState) -> PluginSample {
        PluginSample {
            id: id.parse().unwrap(),
            status: PluginStatus {
                enabled: true,
                state,
                healthy: true,
                pid: None,
                unit: None,
                restarts: 2,
                consecutive_failures: 0,
                last_error: None,
            },
            metrics: Arc::default(),
            uptime: Some(Duration::from_secs(90)),
            resources: Some(ResourceFigures {
                memory_bytes: Some(64 << 20),
                cpu_seconds: Some(1.5),
                tasks: None,
            }),
        }
    }

    /// The names of every family in `text`, from its `# TYPE` lines.
    fn families(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_family_is_typed_once_and_every_sample_belongs_to_the_family_above_it() {
        let plugins = [
            sample("a", PluginState::Running),
            sample("b", PluginState::Failed),
        ];
        plugins[0].metrics.begin_forward(3).finish(200);
        let text = render(&DaemonMetrics::new(), &plugins);
        let mut seen = BTreeSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_owned();
                assert!(seen.insert(name.clone()), "{name} typed twice");
                current = name;
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|base| *base == current)
                    .unwrap_or(name);
                assert_eq!(base, current, "{line}");
            }
        }
        assert!(text.contains("toru_plugins{state=\"running\"} 1\n"));
        assert!(text.contains("toru_plugin_up{plugin=\"a\"} 1\n"));
        assert!(text.contains("toru_plugin_up{plugin=\"b\"} 0\n"));
        assert!(text.contains("toru_plugin_state{plugin=\"b\",state=\"failed\"} 1\n"));
        assert!(text.contains("toru_plugin_requests_total{plugin=\"a\",code=\"2xx\"} 1\n"));
        assert!(text.contains("toru_plugin_request_bytes_total{plugin=\"a\"} 3\n"));
        assert!(
            text.contains(
                "toru_plugin_request_duration_seconds_bucket{plugin=\"a\",le=\"+Inf\"} 1\n"
            )
        );
        assert!(text.contains("toru_plugin_restarts_total{plugin=\"b\"} 2\n"));
    }

    #[test]
    fn a_plugin_that_is_gone_has_no_series() {
        let text = render(&DaemonMetrics::new(), &[sample("a", PluginState::Running)]);
        assert!(text.contains("plugin=\"a\""));
        let text = render(&DaemonMetrics::new(), &[]);
        assert!(!text.contains("plugin="));
        // The families stay, empty, so dashboards see them typed.
        assert!(families(&text).contains("toru_plugin_requests_total"));
    }

    #[test]
    fn every_metric_the_grafana_dashboard_queries_is_exported_or_to_be_added() {
        let exported = families(&render(&DaemonMetrics::new(), &[]));
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/grafana-dashboard.json"))
                .expect("docs/grafana-dashboard.json is JSON");
        let mut exprs = Vec::new();
        collect_exprs(&dashboard, &mut exprs);
        assert!(exprs.len() >= 8, "the dashboard has its panels' queries");
        let mut used = BTreeSet::new();
        for expr in &exprs {
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("toru_") || word.starts_with("process_") {
                    let family = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| word.strip_suffix(s))
                        .filter(|base| exported.contains(*base))
                        .unwrap_or(word);
                    used.insert(family.to_owned());
                }
            }
        }
        for name in &used {
            assert!(
                exported.contains(name),
                "the dashboard queries {name}, which the daemon does not export"
            );
        }
        for name in ["toru_plugin_memory_bytes", "toru_plugin_cpu_seconds_total"] {
            assert!(used.contains(name), "the dashboard has a panel for {name}");
        }
    }

    /// Every `expr` and `query` string in a Grafana dashboard (panel targets and template
    /// variables).
    fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        ("query", serde_json::Value::String(s)) => out.push(s.clone()),
                        ("query", serde_json::Value::Object(q)) => {
                            if let Some(serde_json::Value::String(s)) = q.get("query") {
                                out.push(s.clone());
                            }
                        }
                        _ => collect_exprs(value, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
            _ => {}
        }
    }
}
