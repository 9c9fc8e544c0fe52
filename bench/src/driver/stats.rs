//! Latency percentiles.

use std::time::Duration;

/// p50, p99 and count of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
}

/// Summarises `samples` (sorted in place).
pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let at = |p: f64| {
        if samples.is_empty() {
            0.0
        } else {
            let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
            samples[i].as_secs_f64() * 1e6
        }
    };
    Summary {
        n: samples.len(),
        p50_us: at(0.50),
        p99_us: at(0.99),
    }
}
