//! Reading a plugin's log from the journal by running `journalctl -o json`, as Cockpit does:
//! no libsystemd linking, and the journal's own access rules apply.
//!
//! Mapping: `MESSAGE` → message (byte arrays decoded lossily, `null` for fields over 4096 bytes
//! becomes a note), `PRIORITY` → level, `__REALTIME_TIMESTAMP` → timestamp; `_PID`, `_SYSTEMD_UNIT`
//! and `SYSLOG_IDENTIFIER` go to `fields`. `-u` also matches systemd's own messages about the
//! unit (started, failed…), which is what an admin expects to see next to the plugin's lines.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec};

use super::entry::{Level, LogEntry};
use super::query::{LogPage, LogQuery};

/// How long one `journalctl` query may run.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest journal JSON line read (journalctl caps fields at 4096 bytes without `--all`).
const MAX_LINE: usize = 256 * 1024;

/// The journald priority that `min_level` corresponds to, for `journalctl -p`.
fn priority_arg(min_level: Option<Level>) -> &'static str {
    match min_level {
        Some(Level::Error) => "3",
        Some(Level::Warn) => "4",
        Some(Level::Info) => "6",
        Some(Level::Debug) | None => "7",
    }
}

fn base_command(unit: &str, min_level: Option<Level>) -> Command {
    let mut cmd = Command::new("journalctl");
    cmd.args(["--quiet", "--no-pager", "--output=json", "--unit", unit])
        .args(["--priority", priority_arg(min_level)])
        .env("SYSTEMD_COLORS", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Why the journal could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the journal: {0}")]
pub struct JournalError(pub String);

/// One page of a unit's journal, newest first.
pub async fn read_page(
    plugin_id: &str,
    unit: &str,
    query: &LogQuery,
) -> Result<LogPage, JournalError> {
    let wanted = query.skip() + query.page_size + 1;
    let mut cmd = base_command(unit, query.min_level);
    cmd.args(["--reverse", "--lines", &wanted.to_string()]);
    let output = tokio::time::timeout(QUERY_TIMEOUT, cmd.output())
        .await
        .map_err(|_| JournalError(format!("journalctl took longer than {QUERY_TIMEOUT:?}")))?
        .map_err(|e| JournalError(format!("cannot run journalctl: {e}")))?;
    // journalctl exits 1 with no output when nothing matches; only stderr text is an error.
    if !output.status.success() && !output.stderr.is_empty() && output.stdout.is_empty() {
        return Err(JournalError(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let entries = text
        .lines()
        .filter_map(|line| parse_line(plugin_id, line))
        .filter(|e| query.accepts(e));
    Ok(LogPage::from_newest_first(query, entries))
}

/// Follows a unit's journal from now on (`journalctl -f -n 0`) until the receiver is dropped.
pub fn follow(plugin_id: String, unit: String, query: LogQuery) -> mpsc::Receiver<LogEntry> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut cmd = base_command(&unit, query.min_level);
        cmd.args(["--follow", "--lines", "0"])
            .stdout(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::warn!(plugin = plugin_id, error = %e, "cannot run journalctl --follow");
                return;
            }
        };
        let stdout = child.stdout.take().expect("piped");
        let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
        loop {
            tokio::select! {
                line = lines.next() => match line {
                    Some(Ok(line)) => {
                        if let Some(entry) = parse_line(&plugin_id, &line).filter(|e| query.accepts(e))
                            && tx.send(entry).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Err(_)) => continue,
                    None => break,
                },
                _ = tx.closed() => break,
            }
        }
        let _ = child.kill().await;
    });
    rx
}

/// Turns one `journalctl -o json` line into an entry.
pub fn parse_line(plugin_id: &str, line: &str) -> Option<LogEntry> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let obj = value.as_object()?;
    let message = match obj.get("MESSAGE") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(bytes)) => {
            let bytes: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64().map(|b| b as u8))
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Some(serde_json::Value::Null) => "[message longer than 4096 bytes omitted]".to_owned(),
        _ => String::new(),
    };
    let priority = obj
        .get("PRIORITY")
        .and_then(|p| p.as_str())
        .and_then(|p| p.parse::<u8>().ok())
        .unwrap_or(6);
    let micros: u64 = obj
        .get("__REALTIME_TIMESTAMP")
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let at = UNIX_EPOCH + Duration::from_micros(micros);
    let mut fields = serde_json::Map::new();
    for (key, name) in [
        ("_PID", "pid"),
        ("_SYSTEMD_UNIT", "unit"),
        ("SYSLOG_IDENTIFIER", "identifier"),
    ] {
        if let Some(v) = obj.get(key).and_then(|v| v.as_str()) {
            let v = v
                .parse::<u64>()
                .map_or_else(|_| v.into(), serde_json::Value::from);
            fields.insert(name.into(), v);
        }
    }
    Some(LogEntry {
        timestamp: humantime::format_rfc3339_millis(at.max(SystemTime::UNIX_EPOCH)).to_string(),
        level: Level::from_priority(priority),
        plugin: plugin_id.to_owned(),
        message,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_journal_json_lines() {
        let line = r#"{"__REALTIME_TIMESTAMP":"1764072000123456","PRIORITY":"4","MESSAGE":"careful","_PID":"42","_SYSTEMD_UNIT":"toru-plugin-p.service","SYSLOG_IDENTIFIER":"p"}"#;
        let e = parse_line("p", line).unwrap();
        assert_eq!(e.level, Level::Warn);
        assert_eq!(e.message, "careful");
        assert_eq!(e.timestamp, "2025-11-25T12:00:00.123Z");
        assert_eq!(e.fields["pid"], 42);
        assert_eq!(e.fields["unit"], "toru-plugin-p.service");
        // Non-UTF-8 messages come as byte arrays; oversized ones as null.
        let bytes = r#"{"MESSAGE":[104,105,255],"PRIORITY":"3"}"#;
        assert_eq!(parse_line("p", bytes).unwrap().message, "hi\u{FFFD}");
        assert_eq!(parse_line("p", bytes).unwrap().level, Level::Error);
        let null = r#"{"MESSAGE":null}"#;
        assert!(parse_line("p", null).unwrap().message.contains("omitted"));
        assert!(parse_line("p", "not json").is_none());
    }
}
