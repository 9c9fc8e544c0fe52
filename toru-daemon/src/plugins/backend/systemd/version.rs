//! [`SystemdVersion`]: which systemd runs the plugins, read once at connect, because what the
//! backend asks of a unit depends on it (restarts with growing delays need systemd ≥ 254).

use std::fmt;

/// The first systemd with `RestartSteps=` and `RestartMaxDelaySec=`, so the first that can grow
/// the delay between restarts itself. Debian 12 has 252, Debian 13 has 257.
pub const RESTART_STEPS_SINCE: u32 = 254;

/// systemd's major version, from the manager's `Version` property (e.g. `257.9-1~deb13u1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SystemdVersion(pub u32);

impl SystemdVersion {
    /// The major version at the start of `version`, `None` when it does not start with digits
    /// (then the backend assumes the oldest behaviour).
    pub fn parse(version: &str) -> Option<Self> {
        let version = version.strip_prefix('v').unwrap_or(version);
        let digits = version.split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok().map(SystemdVersion)
    }

    /// Whether this systemd can restart a crashed plugin with a growing delay itself.
    pub fn restarts_with_backoff(self) -> bool {
        self.0 >= RESTART_STEPS_SINCE
    }
}

impl fmt::Display for SystemdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_major_version_of_debian_and_upstream_strings() {
        assert_eq!(
            SystemdVersion::parse("252.39-1~deb12u2"),
            Some(SystemdVersion(252))
        );
        assert_eq!(
            SystemdVersion::parse("257.9-1~deb13u1"),
            Some(SystemdVersion(257))
        );
        assert_eq!(SystemdVersion::parse("v256"), Some(SystemdVersion(256)));
        assert_eq!(SystemdVersion::parse("unknown"), None);
        assert!(!SystemdVersion(252).restarts_with_backoff());
        assert!(SystemdVersion(254).restarts_with_backoff());
    }
}
