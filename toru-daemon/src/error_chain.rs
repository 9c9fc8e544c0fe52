//! [`ErrorChain`]: an error and every cause under it on one line, for logs and status messages.
//!
//! The daemon's error types say what *they* were doing and leave the cause to
//! [`std::error::Error::source`] (`store::Error`, `BackendError`), so `to_string()` alone drops
//! the cause — e.g. the SQLite error under a failed store call. Anything that shows an error to
//! an administrator prints it through this instead.

use std::error::Error;
use std::fmt;

/// Displays an error as `outer: cause: cause of the cause`.
///
/// A cause whose text the level above already ends with is skipped: some libraries (zbus, io)
/// both print their inner error and return it as the source, and the line should say it once.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut above = self.0.to_string();
        f.write_str(&above)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            if !text.is_empty() && !above.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            above = text;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the store")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("store operation kv_set failed")]
    struct Middle(#[source] std::io::Error);

    /// An error that prints its cause and also returns it as its source, like zbus's.
    #[derive(Debug, thiserror::Error)]
    #[error("D-Bus: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn every_cause_is_printed_in_order() {
        let e = Outer(Middle(std::io::Error::other("disk I/O error")));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "cannot open the store: store operation kv_set failed: disk I/O error"
        );
    }

    #[test]
    fn a_cause_the_level_above_already_printed_is_not_repeated() {
        let e = Repeats(std::io::Error::other("no such unit"));
        assert_eq!(ErrorChain(&e).to_string(), "D-Bus: no such unit");
    }

    #[test]
    fn an_error_without_a_source_prints_alone() {
        let e = std::io::Error::other("alone");
        assert_eq!(ErrorChain(&e).to_string(), "alone");
    }
}
