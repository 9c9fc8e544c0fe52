//! What plugins cost, for people: the usage columns of `plugin list`, the lines of `plugin show`,
//! `toructl top`, and `plugin limits`' `NAME=VALUE` words.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use toru_api::limits::format_bytes;
use toru_api::{LimitInput, LimitName, LimitValues, LimitsChange, Plugin, ResourceUsage};

use crate::cli::TopSort;
use crate::output::{Cell, Rows};

/// How often `toructl top` refreshes.
pub const TOP_REFRESH: Duration = Duration::from_secs(2);

/// The headers of the usage columns, in the order of [`usage_cells`].
pub const USAGE_HEADERS: [&str; 4] = ["MEM", "CPU%", "TASKS", "UPTIME"];

/// MEM, CPU%, TASKS and UPTIME of a plugin; `-` for each while it does not run or a figure is
/// unknown.
pub fn usage_cells(usage: Option<&ResourceUsage>) -> Vec<Cell> {
    let dash = || "-".to_owned();
    let Some(u) = usage else {
        return vec![dash().into(), dash().into(), dash().into(), dash().into()];
    };
    vec![
        u.memory_bytes.map_or_else(dash, format_bytes).into(),
        u.cpu_percent
            .map_or_else(dash, |p| format!("{p:.1}"))
            .into(),
        u.tasks.map_or_else(dash, |t| t.to_string()).into(),
        human_duration(u.uptime_secs).into(),
    ]
}

/// The `plugin show` lines of a running plugin's figures.
pub fn usage_lines(usage: &ResourceUsage) -> Vec<(&'static str, String)> {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    vec![
        ("memory", or_dash(usage.memory_bytes.map(format_bytes))),
        (
            "cpu",
            match (usage.cpu_percent, usage.cpu_seconds) {
                (p, Some(s)) => format!(
                    "{} ({s:.1} s in total)",
                    p.map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%"))
                ),
                (Some(p), None) => format!("{p:.1}%"),
                (None, None) => "-".to_owned(),
            },
        ),
        ("tasks", or_dash(usage.tasks.map(|t| t.to_string()))),
        ("uptime", human_duration(usage.uptime_secs)),
    ]
}

/// `42s`, `5m12s`, `3h04m`, `2d05h`: two units at most, as `ps` and `top` keep it short.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// The change `plugin limits ID memory=256M cpu=50% tasks=64` asks for; `NAME=default` resets
/// one. The daemon checks the values (one parser, `toru_api::limits`); this only reads the words.
pub fn parse_limit_pairs(pairs: &[String]) -> Result<LimitsChange, String> {
    let mut change = LimitsChange::default();
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            format!("{pair:?} is not NAME=VALUE (memory=256M, cpu=50%, tasks=64)")
        })?;
        let name = match name.trim() {
            "memory" => LimitName::Memory,
            "cpu" => LimitName::Cpu,
            "tasks" => LimitName::Tasks,
            other => return Err(format!("no limit {other:?} (memory, cpu or tasks)")),
        };
        let value = value.trim();
        let input = (value != "default").then(|| LimitInput::Text(value.to_owned()));
        change.set(name, input);
    }
    Ok(change)
}

/// One line of limits for people: `memory 256 MiB, cpu 50%, tasks -`.
pub fn limits_line(values: &LimitValues) -> String {
    let dash = || "-".to_owned();
    format!(
        "memory {}, cpu {}, tasks {}",
        values.memory_max_bytes.map_or_else(dash, format_bytes),
        values
            .cpu_quota_percent
            .map_or_else(dash, |p| format!("{p}%")),
        values.tasks_max.map_or_else(dash, |t| t.to_string())
    )
}

/// The `toructl top` table of `plugins`, ordered by `sort`: running plugins first, largest
/// first; the others after them by id.
pub fn top_rows(mut plugins: Vec<Plugin>, sort: TopSort) -> Rows {
    let key = |p: &Plugin| -> f64 {
        match (sort, &p.usage) {
            (_, None) => -1.0,
            (TopSort::Mem, Some(u)) => u.memory_bytes.map_or(0.0, |b| b as f64),
            (TopSort::Cpu, Some(u)) => u.cpu_percent.unwrap_or(0.0),
        }
    };
    plugins.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.id.cmp(&b.id)));
    let mut headers = vec!["ID", "STATE"];
    headers.extend(USAGE_HEADERS);
    headers.push("RESTARTS");
    let mut rows = Rows::new(&headers);
    for p in &plugins {
        let mut row = vec![p.id.as_str().into(), Cell::state(p.status.state)];
        row.extend(usage_cells(p.usage.as_ref()));
        row.push(p.status.restarts.to_string().into());
        rows.add(row);
    }
    rows
}

/// Clears a terminal and puts the cursor home, as top(1) does before each frame.
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

/// Prints one frame of `toructl top`: on a terminal the screen is cleared first; on a pipe a
/// frame is a plain snapshot (tab-separated rows) followed by an empty line.
pub fn print_top_frame(rows: &Rows, at: &str) {
    let mut out = std::io::stdout().lock();
    if std::io::stdout().is_terminal() {
        let _ = write!(out, "{CLEAR_SCREEN}toructl top - {at} (Ctrl-C to quit)\n\n");
        drop(out);
        rows.print();
    } else {
        let _ = out.write_all(rows.render(false, false).as_bytes());
        let _ = writeln!(out);
    }
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_top() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(312), "5m12s");
        assert_eq!(human_duration(3 * 3600 + 4 * 60 + 5), "3h04m");
        assert_eq!(human_duration(2 * 86_400 + 5 * 3600), "2d05h");
    }

    #[test]
    fn limit_words_become_a_change_and_default_resets() {
        let change = parse_limit_pairs(&[
            "memory=256M".into(),
            "cpu=50%".into(),
            "tasks=default".into(),
        ])
        .unwrap();
        assert_eq!(change.memory, Some(Some(LimitInput::Text("256M".into()))));
        assert_eq!(change.cpu, Some(Some(LimitInput::Text("50%".into()))));
        assert_eq!(change.tasks, Some(None));
        assert!(parse_limit_pairs(&["disk=1G".into()]).is_err());
        assert!(parse_limit_pairs(&["memory".into()]).is_err());
    }

    #[test]
    fn a_plugin_that_does_not_run_shows_dashes() {
        let cells = usage_cells(None);
        assert!(cells.iter().all(|c| c.text() == "-"));
        let running = ResourceUsage {
            memory_bytes: Some(64 << 20),
            cpu_percent: Some(12.34),
            cpu_seconds: Some(1.5),
            tasks: Some(3),
            restarts: 0,
            uptime_secs: 75,
        };
        let texts: Vec<String> = usage_cells(Some(&running))
            .into_iter()
            .map(|c| c.text().to_owned())
            .collect();
        assert_eq!(texts, ["64 MiB", "12.3", "3", "1m15s"]);
    }
}
