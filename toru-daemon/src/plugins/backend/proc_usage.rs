//! The embedded backend's resource figures: the sum over every process of a plugin's process
//! group, read from `/proc/<pid>/stat` (proc(5)).
//!
//! Hand-written rather than the `procfs` crate: the daemon needs four fields of one file, and
//! `nix` (already a dependency) gives the page size and clock tick without `unsafe`. A process
//! that ends between the directory listing and the read is skipped: the figures are a sample.

use std::path::Path;

use nix::unistd::{SysconfVar, sysconf};

use super::RawUsage;

/// The fields of one `/proc/<pid>/stat` the figures need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    /// Process group (field 5).
    pgrp: u32,
    /// User plus system time in clock ticks (fields 14 and 15).
    cpu_ticks: u64,
    /// Threads (field 20).
    threads: u64,
    /// Resident set in pages (field 24).
    rss_pages: u64,
}

/// Parses a `stat` line. The command name (field 2) is in parentheses and may itself contain
/// spaces and parentheses, so the fields after it are found from the last `)`.
fn parse_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); field n is index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcStat {
        pgrp: u32::try_from(field(5)?).ok()?,
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        threads: field(20)?,
        rss_pages: field(24)?,
    })
}

/// The usage of process group `pgid` (its leader's pid, as every embedded plugin leads its own
/// group), or `None` when no process of it is left.
pub fn group_usage(pgid: u32) -> std::io::Result<Option<RawUsage>> {
    group_usage_in(Path::new("/proc"), pgid)
}

fn group_usage_in(proc_root: &Path, pgid: u32) -> std::io::Result<Option<RawUsage>> {
    let page_size = sysconf(SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    let ticks_per_sec = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as u64;
    let mut found = false;
    let (mut rss_pages, mut cpu_ticks, mut threads) = (0u64, 0u64, 0u64);
    for entry in std::fs::read_dir(proc_root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(line) = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) else {
            continue; // ended since the listing
        };
        let Some(stat) = parse_stat(&line) else {
            continue;
        };
        if stat.pgrp == pgid {
            found = true;
            rss_pages = rss_pages.saturating_add(stat.rss_pages);
            cpu_ticks = cpu_ticks.saturating_add(stat.cpu_ticks);
            threads = threads.saturating_add(stat.threads);
        }
    }
    Ok(found.then(|| RawUsage {
        memory_bytes: Some(rss_pages.saturating_mul(page_size)),
        cpu_nanos: Some(cpu_ticks.saturating_mul(1_000_000_000 / ticks_per_sec.max(1))),
        tasks: Some(threads),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_and_parentheses_in_the_name_parses() {
        let line = "4242 (my (odd) plugin) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 3 0 12345 100000000 2048 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                pgrp: 4242,
                cpu_ticks: 300,
                threads: 3,
                rss_pages: 2048,
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn the_daemons_own_group_is_found_and_a_missing_one_is_none() {
        let me = std::process::id();
        let own_group = std::fs::read_to_string(format!("/proc/{me}/stat"))
            .ok()
            .and_then(|l| parse_stat(&l))
            .unwrap()
            .pgrp;
        let usage = group_usage(own_group).unwrap().unwrap();
        assert!(usage.memory_bytes.unwrap() > 0);
        assert!(usage.tasks.unwrap() >= 1);
        // pid_max is at most 2^22, so no group has this id.
        assert_eq!(group_usage(u32::MAX - 1).unwrap(), None);
    }
}
