//! A plugin's log, as pages and as a live follow.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

/// A log level, coarser than syslog's eight priorities because that is what people filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "LogLevel")]
pub enum LogLevel {
    /// Priorities 0–3.
    Error,
    /// Priority 4.
    Warn,
    /// Priorities 5–6, and lines without a priority.
    Info,
    /// Priority 7.
    Debug,
}

/// One log line of a plugin; also each `data:` of `GET /api/plugins/{id}/logs/follow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct LogEntry {
    /// RFC 3339 UTC time with milliseconds, e.g. `2026-11-25T12:00:00.123Z`.
    pub timestamp: String,
    /// The entry's level.
    pub level: LogLevel,
    /// The plugin id.
    pub plugin: String,
    /// The text, without its priority prefix.
    pub message: String,
    /// Extra structured fields (`stream`, `pid`, …); absent when none.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[ts(optional, type = "Record<string, unknown>")]
    #[schema(value_type = Object, additional_properties)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// `GET /api/plugins/{id}/logs`: one page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct LogPage {
    /// The entries, newest first.
    pub entries: Vec<LogEntry>,
    /// The page number served (0 is the newest).
    pub page: usize,
    /// The page size served.
    pub page_size: usize,
    /// Whether an older page exists.
    pub has_more: bool,
}

/// The query of `GET /api/plugins/{id}/logs` and `…/logs/follow` (which ignores the paging).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Which page, 0 (the default) being the newest.
    pub page: Option<usize>,
    /// Entries per page: 1–1000, default 100.
    pub page_size: Option<usize>,
    /// The least severe level shown: `error`, `warn`, `info` or `debug` (`warn` shows warnings
    /// and errors). Also accepts `err`, `warning` and `notice`.
    pub level: Option<String>,
}
