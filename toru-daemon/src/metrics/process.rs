//! The daemon process's own figures under the `process_` names every Prometheus client
//! library uses, read at scrape time from `/proc/self` and `getrusage`: nothing is kept
//! between scrapes. A figure that cannot be read is left out rather than reported as 0.

use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage};

/// What one scrape read about this process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
}

/// Reads the figures now.
pub fn read() -> ProcessFigures {
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let kib = |field: &str| status.as_deref().and_then(|s| status_kib(s, field));
    ProcessFigures {
        cpu_seconds: getrusage(UsageWho::RUSAGE_SELF).ok().map(|usage| {
            let seconds = |t: nix::sys::time::TimeVal| {
                t.tv_sec() as f64 + f64::from(i32::try_from(t.tv_usec()).unwrap_or(0)) / 1e6
            };
            seconds(usage.user_time()) + seconds(usage.system_time())
        }),
        resident_bytes: kib("VmRSS:").map(|k| k * 1024),
        virtual_bytes: kib("VmSize:").map(|k| k * 1024),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count() as u64),
        max_fds: getrlimit(Resource::RLIMIT_NOFILE)
            .ok()
            .map(|(soft, _)| soft),
    }
}

/// The value of a `/proc/<pid>/status` line such as `VmRSS:     1234 kB`, in KiB.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\ttoru\nVmSize:\t  20480 kB\nVmRSS:\t    512 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(512));
        assert_eq!(status_kib(status, "VmSize:"), Some(20480));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_has_figures() {
        let figures = read();
        assert!(figures.resident_bytes.is_some_and(|b| b > 0));
        assert!(figures.open_fds.is_some_and(|n| n >= 3));
        assert!(figures.cpu_seconds.is_some());
        assert!(
            figures
                .max_fds
                .is_some_and(|n| n >= figures.open_fds.unwrap())
        );
    }
}
