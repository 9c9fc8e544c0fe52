//! The API server's own figures: requests answered by status class, and open connections per
//! listener. Updated by `api/server.rs` with relaxed atomic adds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::plugin::ByStatusClass;

/// Which of the daemon's listeners a connection came in on, the `listener` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// The plain HTTP listener (loopback).
    Http,
    /// The TLS listener.
    Https,
    /// The local Unix socket.
    Unix,
}

impl ListenerKind {
    /// Every listener kind, in label order.
    pub const ALL: [ListenerKind; 3] =
        [ListenerKind::Http, ListenerKind::Https, ListenerKind::Unix];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            ListenerKind::Http => "http",
            ListenerKind::Https => "https",
            ListenerKind::Unix => "unix",
        }
    }
}

/// Counters of the API server, shared by every listener.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// Every request answered, forwarded ones included, by the class of its status.
    pub requests: ByStatusClass,
    /// Connections open now, by [`ListenerKind`].
    connections: [AtomicU64; 3],
}

impl HttpMetrics {
    /// Counts a connection as open until the returned guard is dropped.
    pub fn connection_opened(self: &Arc<Self>, listener: ListenerKind) -> OpenConnection {
        self.connections[listener as usize].fetch_add(1, Relaxed);
        OpenConnection {
            metrics: self.clone(),
            listener,
        }
    }

    /// Connections open now on `listener`.
    pub fn open_connections(&self, listener: ListenerKind) -> u64 {
        self.connections[listener as usize].load(Relaxed)
    }
}

/// One open connection, counted until dropped.
#[derive(Debug)]
pub struct OpenConnection {
    metrics: Arc<HttpMetrics>,
    listener: ListenerKind,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.metrics.connections[self.listener as usize].fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_counts_while_its_guard_lives() {
        let m = Arc::new(HttpMetrics::default());
        let a = m.connection_opened(ListenerKind::Unix);
        let _b = m.connection_opened(ListenerKind::Unix);
        assert_eq!(m.open_connections(ListenerKind::Unix), 2);
        assert_eq!(m.open_connections(ListenerKind::Http), 0);
        drop(a);
        assert_eq!(m.open_connections(ListenerKind::Unix), 1);
    }
}
