//! The tunables of plugin supervision and their defaults, written once: `config.rs` falls back
//! to these constants and `Settings::new` starts from them, so the documented numbers cannot
//! drift apart.

use std::path::PathBuf;
use std::time::Duration;

use super::backend::Limits;
use super::discovery::DiscoveryLimits;
use super::trust::Trust;

/// Consecutive failures after which a plugin is given up on (and disabled).
pub const DEFAULT_MAX_FAILURES: u32 = 10;
/// How long a started plugin has to listen, and then to answer `lifecycle.init`.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a forwarded HTTP request may take, queueing included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a running plugin is pinged.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(10);
/// How long one ping may take.
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Missed pings in a row after which a plugin is stopped as hung.
pub const DEFAULT_MAX_MISSED_PINGS: u32 = 3;
/// A run this long resets the failure count.
pub const DEFAULT_STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long a plugin has to exit after `lifecycle.shutdown`, and again after SIGTERM.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);
/// How long an upgraded plugin must stay `running` and answer every ping before the upgrade
/// counts as a success: three pings at the default interval.
pub const DEFAULT_UPGRADE_HEALTH_WINDOW: Duration = Duration::from_secs(30);

/// Tunables of plugin supervision; [`Settings::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where `*.binary` files are found and `.metadata/config.json` is kept.
    pub plugins_dir: PathBuf,
    /// Consecutive failures after which a plugin is disabled.
    pub max_failures: u32,
    /// Restart delays.
    pub backoff: Backoff,
    /// A run this long resets the failure count.
    pub stable_after: Duration,
    /// How long a started plugin has to listen and answer `lifecycle.init`.
    pub start_timeout: Duration,
    /// How long a forwarded HTTP request may take.
    pub request_timeout: Duration,
    /// Health-check period.
    pub ping_interval: Duration,
    /// How long a ping may take.
    pub ping_timeout: Duration,
    /// Missed pings in a row after which the plugin is restarted as hung.
    pub max_missed_pings: u32,
    /// How long a plugin has to exit after being asked to.
    pub stop_grace: Duration,
    /// Protocol frame limit.
    pub max_frame: usize,
    /// The default resource limits of plugin processes (`plugin_memory_max`, …); a plugin's
    /// own overrides (`toructl plugin limits`) apply over them.
    pub limits: Limits,
    /// How often the sampler reads every running plugin's resource figures.
    pub usage_interval: Duration,
    /// Limits for `--metadata`.
    pub discovery: DiscoveryLimits,
    /// The signature policy, the trusted keys and where verified copies are kept
    /// (`<plugins dir>/.verified` unless set; the daemon uses `<data dir>/verified`).
    pub trust: Trust,
    /// How long an upgraded plugin that was running must stay healthy, else it is rolled back.
    pub upgrade_health_window: Duration,
}

impl Settings {
    /// The defaults above: 10 failures, 1–16 s backoff, stable after 30 s, 10 s start, 30 s
    /// requests, ping every 10 s (5 s timeout, 3 missed = hung), 5 s stop grace, 8 MiB frames, a
    /// 30 s health window after an upgrade.
    pub fn new(plugins_dir: PathBuf) -> Self {
        Settings {
            trust: Trust::new(plugins_dir.join(".verified")),
            plugins_dir,
            max_failures: DEFAULT_MAX_FAILURES,
            backoff: Backoff::default(),
            stable_after: DEFAULT_STABLE_AFTER,
            start_timeout: DEFAULT_START_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            max_missed_pings: DEFAULT_MAX_MISSED_PINGS,
            stop_grace: DEFAULT_STOP_GRACE,
            max_frame: toru_plugin_api::DEFAULT_MAX_FRAME,
            limits: Limits::default(),
            usage_interval: crate::plugins::usage::DEFAULT_USAGE_INTERVAL,
            discovery: DiscoveryLimits::default(),
            upgrade_health_window: DEFAULT_UPGRADE_HEALTH_WINDOW,
        }
    }

    /// What the lifecycle needs to decide between a restart and giving up.
    pub fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy {
            max_failures: self.max_failures,
            backoff: self.backoff,
        }
    }
}

/// The restart delay schedule: after the n-th consecutive failure the next start waits
/// `min(initial × 2ⁿ⁻¹, max)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s doubling to 16 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(16),
        }
    }
}

impl Backoff {
    /// The delay before restarting after the `failures`-th consecutive failure (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// When a failed plugin is restarted and when it is given up on; the part of [`Settings`] the
/// pure `Lifecycle` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The failure in a row that gives up (at least 1).
    pub max_failures: u32,
    /// Delays between restarts.
    pub backoff: Backoff,
}

impl Default for RestartPolicy {
    /// Give up at the 10th failure in a row; 1 s doubling to 16 s in between.
    fn default() -> Self {
        RestartPolicy {
            max_failures: DEFAULT_MAX_FAILURES,
            backoff: Backoff::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_1_2_4_8_16_then_capped() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 16, 16, 16]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(16), "no overflow");
    }
}
