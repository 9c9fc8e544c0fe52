//! A plugin's resource figures over time: the readings the sampler takes (every
//! [`DEFAULT_USAGE_INTERVAL`]) kept in a ring of at most [`HISTORY_LEN`], an hour's worth, and
//! the CPU percent that two readings of the same run give. Pure: the caller passes the clock.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::backend::RawUsage;

/// How often the sampler reads every running plugin's figures.
pub const DEFAULT_USAGE_INTERVAL: Duration = Duration::from_secs(10);

/// Readings kept per plugin: an hour at [`DEFAULT_USAGE_INTERVAL`]. The ring is the bound of
/// what the sampler keeps in memory (about 20 KiB per plugin).
pub const HISTORY_LEN: usize = 360;

/// One reading of a plugin's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// When it was taken, on the wall clock (what a chart shows).
    pub at: SystemTime,
    /// When it was taken, on the monotonic clock (what the percent is computed from).
    taken: Instant,
    /// What the backend read.
    pub raw: RawUsage,
    /// CPU since the reading before in the same run, in percent of one CPU.
    pub cpu_percent: Option<f64>,
}

/// A running plugin's figures as the API shows them: the newest reading, its restarts and how
/// long this run has lasted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageNow {
    /// The newest reading.
    pub reading: Reading,
    /// Restarts after failures since it was last enabled.
    pub restarts: u32,
    /// How long the current run has lasted.
    pub uptime: Duration,
}

/// A plugin's readings and when its current run began.
#[derive(Debug, Default)]
pub struct UsageHistory {
    /// Oldest first, at most [`HISTORY_LEN`].
    readings: VecDeque<Reading>,
    /// When the daemon saw the running process start (or adopted it).
    run_started: Option<Instant>,
}

impl UsageHistory {
    /// A new run of the plugin began at `now`: uptime counts from here, and no CPU percent is
    /// computed across the start (the counter began again).
    pub fn launched(&mut self, now: Instant) {
        self.run_started = Some(now);
    }

    /// How long the current run has lasted at `now`.
    pub fn uptime(&self, now: Instant) -> Option<Duration> {
        self.run_started.map(|started| now.duration_since(started))
    }

    /// The newest reading of the current run and how long the run has lasted at `now`; `None`
    /// before the run's first reading.
    pub fn current(&self, now: Instant) -> Option<(Reading, Duration)> {
        let started = self.run_started?;
        let reading = *self.latest().filter(|r| r.taken >= started)?;
        Some((reading, now.duration_since(started)))
    }

    /// Records a reading and returns it with its CPU percent.
    pub fn record(&mut self, raw: RawUsage, now: Instant, at: SystemTime) -> Reading {
        let cpu_percent = self.latest().and_then(|before| {
            let same_run = self
                .run_started
                .is_none_or(|started| before.taken >= started);
            let used = raw.cpu_nanos?.checked_sub(before.raw.cpu_nanos?)?;
            let elapsed = now.duration_since(before.taken).as_nanos();
            (same_run && elapsed > 0).then(|| used as f64 * 100.0 / elapsed as f64)
        });
        let reading = Reading {
            at,
            taken: now,
            raw,
            cpu_percent,
        };
        if self.readings.len() == HISTORY_LEN {
            self.readings.pop_front();
        }
        self.readings.push_back(reading);
        reading
    }

    /// The newest reading.
    pub fn latest(&self) -> Option<&Reading> {
        self.readings.back()
    }

    /// Whether the newest reading is missing or older than `interval` at `now`, so a reader
    /// should take a fresh one.
    pub fn is_stale(&self, now: Instant, interval: Duration) -> bool {
        self.latest()
            .is_none_or(|r| now.duration_since(r.taken) >= interval)
    }

    /// Every reading kept, oldest first.
    pub fn readings(&self) -> impl Iterator<Item = &Reading> {
        self.readings.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(seconds: f64) -> RawUsage {
        RawUsage {
            memory_bytes: Some(1 << 20),
            cpu_nanos: Some((seconds * 1e9) as u64),
            tasks: Some(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cpu_percent_is_the_difference_of_two_readings_of_one_run() {
        let mut history = UsageHistory::default();
        history.launched(Instant::now());
        let first = history.record(cpu(1.0), Instant::now(), SystemTime::now());
        assert_eq!(first.cpu_percent, None);
        tokio::time::advance(Duration::from_secs(10)).await;
        // Five CPU-seconds in ten seconds: half of one CPU.
        let second = history.record(cpu(6.0), Instant::now(), SystemTime::now());
        assert_eq!(second.cpu_percent, Some(50.0));
        assert_eq!(
            history.uptime(Instant::now()),
            Some(Duration::from_secs(10))
        );
        // A restart: the counter starts again, and no percent spans the two runs.
        tokio::time::advance(Duration::from_secs(10)).await;
        history.launched(Instant::now());
        tokio::time::advance(Duration::from_secs(1)).await;
        let third = history.record(cpu(0.5), Instant::now(), SystemTime::now());
        assert_eq!(third.cpu_percent, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ring_keeps_an_hour_and_drops_the_oldest() {
        let mut history = UsageHistory::default();
        let start = SystemTime::UNIX_EPOCH;
        for i in 0..(HISTORY_LEN as u64 + 40) {
            let at = start + Duration::from_secs(i);
            history.record(cpu(i as f64), Instant::now(), at);
            tokio::time::advance(DEFAULT_USAGE_INTERVAL).await;
        }
        assert_eq!(history.readings().count(), HISTORY_LEN);
        assert_eq!(
            history.readings().next().unwrap().at,
            start + Duration::from_secs(40)
        );
        assert!(history.is_stale(Instant::now(), DEFAULT_USAGE_INTERVAL));
    }
}
