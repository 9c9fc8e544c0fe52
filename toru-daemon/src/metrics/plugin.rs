//! One plugin's counters: forwarded requests by status class, their latency, their bodies'
//! bytes, and its KV operations. They live on the plugin's slot as an `Arc`, reached with the
//! slot the forward path and the connection already hold, so recording is a few relaxed
//! atomic adds: no lock, no map lookup, no allocation on the hot path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use toru_plugin_api::KvOp;

/// The class of an HTTP status, the `code` label: classes rather than exact statuses, so a
/// plugin answering odd statuses cannot grow the number of series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 100–199.
    Informational,
    /// 200–299.
    Success,
    /// 300–399.
    Redirection,
    /// 400–499.
    ClientError,
    /// 500–599, and anything outside 100–599 (which the daemon answers as 502).
    ServerError,
}

impl StatusClass {
    /// Every class, in label order.
    pub const ALL: [StatusClass; 5] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirection,
        StatusClass::ClientError,
        StatusClass::ServerError,
    ];

    /// The class of `status`.
    pub fn of(status: u16) -> Self {
        match status {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }

    /// The label value: `2xx` and so on.
    pub fn label(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirection => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts by [`StatusClass`].
#[derive(Debug, Default)]
pub struct ByStatusClass([AtomicU64; 5]);

impl ByStatusClass {
    /// Counts one answer with `status`.
    pub fn record(&self, status: u16) {
        self.0[StatusClass::of(status).index()].fetch_add(1, Relaxed);
    }

    /// The count of `class`.
    pub fn get(&self, class: StatusClass) -> u64 {
        self.0[class.index()].load(Relaxed)
    }
}

/// A KV operation, the `op` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOpKind {
    /// `get`.
    Get,
    /// `set`.
    Set,
    /// `delete`.
    Delete,
    /// `list`.
    List,
}

impl KvOpKind {
    /// Every operation, in label order.
    pub const ALL: [KvOpKind; 4] = [
        KvOpKind::Get,
        KvOpKind::Set,
        KvOpKind::Delete,
        KvOpKind::List,
    ];

    /// The kind of `op`.
    pub fn of(op: &KvOp) -> Self {
        match op {
            KvOp::Get { .. } => KvOpKind::Get,
            KvOp::Set { .. } => KvOpKind::Set,
            KvOp::Delete { .. } => KvOpKind::Delete,
            KvOp::List { .. } => KvOpKind::List,
        }
    }

    /// The label value, the protocol's name of the operation.
    pub fn label(self) -> &'static str {
        match self {
            KvOpKind::Get => "get",
            KvOpKind::Set => "set",
            KvOpKind::Delete => "delete",
            KvOpKind::List => "list",
        }
    }
}

/// Upper bounds of the latency buckets, in nanoseconds: 100 µs to 30 s (the forwarding
/// timeout), about three per decade.
pub const LATENCY_BOUNDS_NANOS: [u64; 17] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// A latency histogram of atomics: one count per bucket (not cumulative, so an observation is
/// one add) and the sum in nanoseconds.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// One per bound of [`LATENCY_BOUNDS_NANOS`], plus the last for longer observations.
    counts: [AtomicU64; LATENCY_BOUNDS_NANOS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// Counts one observation.
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_NANOS
            .iter()
            .position(|bound| nanos <= *bound)
            .unwrap_or(LATENCY_BOUNDS_NANOS.len());
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// The counts per bucket (the last: above every bound) and the sum in seconds.
    pub fn read(&self) -> (Vec<u64>, f64) {
        let counts = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        (counts, sum)
    }
}

/// The bounds of [`LATENCY_BOUNDS_NANOS`] in seconds, for the exposition.
pub fn latency_bounds_seconds() -> Vec<f64> {
    LATENCY_BOUNDS_NANOS
        .iter()
        .map(|nanos| *nanos as f64 / 1e9)
        .collect()
}

/// One plugin's counters, shared by its slot, its connection and the forward path.
#[derive(Debug, Default)]
pub struct PluginMetrics {
    /// Forwarded requests by the class of the status the client got.
    pub requests: ByStatusClass,
    /// How long forwarded requests took, from the plugin's lookup to the answer.
    pub latency: LatencyHistogram,
    /// Request body bytes of the requests for the plugin (counted once it is found, so a
    /// request refused because it is not running counts too, as in `requests`).
    pub request_bytes: AtomicU64,
    /// Response body bytes the plugin answered.
    pub response_bytes: AtomicU64,
    /// KV operations the plugin asked for, by [`KvOpKind`].
    kv_operations: [AtomicU64; 4],
    /// KV operations refused or failed.
    pub kv_errors: AtomicU64,
}

impl PluginMetrics {
    /// Starts measuring one forwarded request whose body has `request_bytes` bytes.
    pub fn begin_forward(self: &Arc<Self>, request_bytes: usize) -> ForwardMeter {
        self.request_bytes.fetch_add(request_bytes as u64, Relaxed);
        ForwardMeter {
            metrics: self.clone(),
            started: Instant::now(),
        }
    }

    /// Counts one KV operation, and whether it failed.
    pub fn record_kv(&self, op: KvOpKind, failed: bool) {
        self.kv_operations[op as usize].fetch_add(1, Relaxed);
        if failed {
            self.kv_errors.fetch_add(1, Relaxed);
        }
    }

    /// The KV operations of kind `op` so far.
    pub fn kv_operations(&self, op: KvOpKind) -> u64 {
        self.kv_operations[op as usize].load(Relaxed)
    }
}

/// One forwarded request being measured: [`ForwardMeter::finish`] records its status class and
/// latency once the client's answer is known. Dropped unfinished, it records only the request
/// bytes already counted.
#[derive(Debug)]
pub struct ForwardMeter {
    metrics: Arc<PluginMetrics>,
    started: Instant,
}

impl ForwardMeter {
    /// Counts the bytes of the plugin's response body.
    pub fn response_bytes(&self, bytes: usize) {
        self.metrics.response_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Records the answer's status class and the time since [`PluginMetrics::begin_forward`].
    pub fn finish(self, status: u16) {
        self.metrics.latency.observe(self.started.elapsed());
        self.metrics.requests.record(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_into_their_class_and_anything_else_is_a_server_error() {
        assert_eq!(StatusClass::of(200), StatusClass::Success);
        assert_eq!(StatusClass::of(404), StatusClass::ClientError);
        assert_eq!(StatusClass::of(599), StatusClass::ServerError);
        assert_eq!(StatusClass::of(0), StatusClass::ServerError);
        assert_eq!(StatusClass::of(999), StatusClass::ServerError);
        let labels: Vec<_> = StatusClass::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(labels, ["1xx", "2xx", "3xx", "4xx", "5xx"]);
    }

    #[test]
    fn an_observation_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(100)); // on the first bound: first bucket
        h.observe(Duration::from_micros(101)); // just past it: second
        h.observe(Duration::from_secs(31)); // past every bound: the last
        let (counts, sum) = h.read();
        assert_eq!(counts.len(), LATENCY_BOUNDS_NANOS.len() + 1);
        assert_eq!((counts[0], counts[1], counts[17]), (1, 1, 1));
        assert_eq!(counts.iter().sum::<u64>(), 3);
        assert!((sum - 31.000201).abs() < 1e-9, "{sum}");
        assert_eq!(latency_bounds_seconds()[0], 0.0001);
        assert_eq!(latency_bounds_seconds()[16], 30.0);
    }

    #[test]
    fn a_forward_counts_bytes_class_and_latency() {
        let m = Arc::new(PluginMetrics::default());
        let meter = m.begin_forward(10);
        meter.response_bytes(7);
        meter.finish(503);
        assert_eq!(m.request_bytes.load(Relaxed), 10);
        assert_eq!(m.response_bytes.load(Relaxed), 7);
        assert_eq!(m.requests.get(StatusClass::ServerError), 1);
        assert_eq!(m.latency.read().0.iter().sum::<u64>(), 1);
        m.record_kv(KvOpKind::Set, true);
        m.record_kv(KvOpKind::Get, false);
        assert_eq!(m.kv_operations(KvOpKind::Set), 1);
        assert_eq!(m.kv_errors.load(Relaxed), 1);
    }
}
