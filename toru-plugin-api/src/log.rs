//! Level-prefixed logging to standard error, the way the journal expects it.
//!
//! A line starting with `<N>` (a syslog priority: 3 error, 4 warning, 6 info, 7 debug) is stored
//! by journald at that priority, so `journalctl -p warning -u toru-plugin-<id>` works; the
//! daemon's embedded backend reads the same prefix. These macros write exactly that.

/// Logs at error priority (`<3>`).
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { ::std::eprintln!("<3>{}", ::std::format_args!($($arg)*)) };
}

/// Logs at warning priority (`<4>`).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { ::std::eprintln!("<4>{}", ::std::format_args!($($arg)*)) };
}

/// Logs at info priority (`<6>`).
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { ::std::eprintln!("<6>{}", ::std::format_args!($($arg)*)) };
}

/// Logs at debug priority (`<7>`).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { ::std::eprintln!("<7>{}", ::std::format_args!($($arg)*)) };
}
