//! The one log entry format: what the logs API returns, what `toructl --json` prints, and what
//! the embedded backend writes, one JSON object per line.

use serde::{Deserialize, Serialize};

/// A log level, coarser than syslog's eight priorities because that is what people filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Priorities 0–3 (emerg, alert, crit, err).
    Error,
    /// Priority 4.
    Warn,
    /// Priorities 5–6 (notice, info); also lines without a prefix.
    Info,
    /// Priority 7.
    Debug,
}

impl Level {
    /// The level of a syslog priority.
    pub fn from_priority(priority: u8) -> Level {
        match priority {
            0..=3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// Parses `error`, `warn`/`warning`, `info`, `debug`.
    pub fn parse(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "error" | "err" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" | "notice" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }
}

/// One log line of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// RFC 3339 UTC time with milliseconds, e.g. `2026-11-25T12:00:00.123Z`.
    pub timestamp: String,
    /// The entry's level.
    pub level: Level,
    /// The plugin id.
    pub plugin: String,
    /// The text, without its priority prefix.
    pub message: String,
    /// Extra structured fields (e.g. `stream`, `pid`); empty when none.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The syslog priority of a plugin's output line that has no `<N>` prefix: warning (4), under
/// both backends (systemd units get it as `SyslogLevel=`). Both SDKs' loggers prefix every
/// line, so an unprefixed line is output the plugin did not log on purpose: a panic, a Python
/// traceback, an uncaught exception, a stray print. Those are what an administrator looks for
/// with `toructl plugin logs ID --level warn` when a plugin crash-loops; journald's own default
/// (info) would hide them there. Warning, not error, so a stray print raises no alarm.
pub const UNPREFIXED_PRIORITY: u8 = 4;

/// Splits a `<N>` syslog priority prefix off a line, as journald does for service output.
/// Lines without a valid prefix are at [`UNPREFIXED_PRIORITY`].
pub fn split_priority(line: &str) -> (Level, &str) {
    let bytes = line.as_bytes();
    if bytes.len() >= 3 && bytes[0] == b'<' && bytes[2] == b'>' && bytes[1].is_ascii_digit() {
        (Level::from_priority(bytes[1] - b'0'), &line[3..])
    } else {
        (Level::from_priority(UNPREFIXED_PRIORITY), line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_prefixes() {
        let cases = [
            ("<3>boom", Level::Error, "boom"),
            ("<4>careful", Level::Warn, "careful"),
            ("<6>fine", Level::Info, "fine"),
            ("<7>noise", Level::Debug, "noise"),
            ("<0>emerg", Level::Error, "emerg"),
            // not a prefix: no digit, two digits, unterminated, empty; a warning, like any
            // line the plugin's logger did not write (a panic, a traceback)
            ("<x>text", Level::Warn, "<x>text"),
            ("<12>text", Level::Warn, "<12>text"),
            ("<3", Level::Warn, "<3"),
            ("", Level::Warn, ""),
            ("plain", Level::Warn, "plain"),
            (
                "thread 'main' panicked at src/main.rs:3:5:",
                Level::Warn,
                "thread 'main' panicked at src/main.rs:3:5:",
            ),
        ];
        for (line, level, message) in cases {
            assert_eq!(split_priority(line), (level, message), "{line:?}");
        }
    }
}
