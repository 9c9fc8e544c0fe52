//! What the logs API asks for, and the page it gets back — the same for every log source.

use super::entry::{Level, LogEntry};

/// Largest page the API serves.
pub const MAX_PAGE_SIZE: usize = 1000;

/// One page of a plugin's log, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogQuery {
    /// 0-based page number.
    pub page: usize,
    /// Entries per page, 1..=[`MAX_PAGE_SIZE`].
    pub page_size: usize,
    /// Only entries at this level or more severe.
    pub min_level: Option<Level>,
}

impl LogQuery {
    /// Whether `entry` passes the level filter.
    pub fn accepts(&self, entry: &LogEntry) -> bool {
        // Level orders Error < Warn < Info < Debug: "at least warn" means <= Warn.
        self.min_level.is_none_or(|min| entry.level <= min)
    }

    /// How many matching entries come before this page.
    pub fn skip(&self) -> usize {
        self.page.saturating_mul(self.page_size)
    }
}

/// A page of entries.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// The entries, newest first.
    pub entries: Vec<LogEntry>,
    /// The page number served.
    pub page: usize,
    /// The page size served.
    pub page_size: usize,
    /// Whether an older page exists.
    pub has_more: bool,
}

impl LogPage {
    /// Cuts a page out of matching entries that are already newest first and include at least
    /// one entry past the page when there is one.
    pub fn from_newest_first(query: &LogQuery, matching: impl Iterator<Item = LogEntry>) -> Self {
        let mut entries: Vec<LogEntry> = matching
            .skip(query.skip())
            .take(query.page_size + 1)
            .collect();
        let has_more = entries.len() > query.page_size;
        entries.truncate(query.page_size);
        LogPage {
            entries,
            page: query.page,
            page_size: query.page_size,
            has_more,
        }
    }
}
