//! Socket activation: the API's listeners handed over by systemd (`toru-daemon.socket`).
//!
//! Under the packaged units systemd opens the local Unix socket and the TCP port in the host's
//! network namespace and passes them in; the daemon then runs with `PrivateNetwork=yes` and
//! could not bind a reachable TCP port itself. The sockets are ours when their
//! `FileDescriptorName=` is [`FD_NAME`]; which is which comes from the socket's address family.
//! Without `LISTEN_FDS` (development, tests) the daemon binds its own listeners.

use std::net::TcpListener;
use std::os::unix::net::UnixListener;

/// The `FileDescriptorName=` of the sockets in `toru-daemon.socket`.
pub const FD_NAME: &str = "toru-api";

/// Listeners inherited from systemd; empty when the daemon was not socket-activated.
#[derive(Debug, Default)]
pub struct Inherited {
    /// TCP listeners (the dashboard's port); every one is served.
    pub tcp: Vec<TcpListener>,
    /// The local API socket; systemd set its mode and group (`SocketMode=`, `SocketGroup=`).
    pub unix: Option<UnixListener>,
}

impl Inherited {
    /// Whether systemd handed over anything at all.
    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.unix.is_none()
    }

    /// Takes the listeners systemd passed (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`).
    ///
    /// Must run before any other thread exists (in `main`, before the async runtime): it
    /// removes the variables from the environment so that plugin processes do not inherit them.
    /// A descriptor named [`FD_NAME`] that is neither a TCP nor a Unix stream listener is an
    /// error, so a wrong socket unit is noticed at start, not at the first request.
    pub fn from_env() -> std::io::Result<Inherited> {
        // Read the names before listenfd clears LISTEN_PID/LISTEN_FDS; LISTEN_FDNAMES is
        // optional (a socket unit without FileDescriptorName= names them after itself).
        let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
            .map(|v| v.split(':').map(str::to_owned).collect())
            .unwrap_or_default();
        let mut fds = listenfd::ListenFd::from_env();
        Self::take(&mut fds, &names)
    }

    fn take(fds: &mut listenfd::ListenFd, names: &[String]) -> std::io::Result<Inherited> {
        let mut inherited = Inherited::default();
        for index in 0..fds.len() {
            // Unnamed descriptors (no LISTEN_FDNAMES) are accepted too, for a hand-written
            // socket unit; any other name belongs to someone else and is left alone.
            if names.get(index).is_some_and(|name| name != FD_NAME) {
                continue;
            }
            if let Ok(Some(unix)) = fds.take_unix_listener(index) {
                if inherited.unix.replace(unix).is_some() {
                    return Err(std::io::Error::other(
                        "socket activation passed more than one Unix socket named toru-api",
                    ));
                }
                continue;
            }
            match fds.take_tcp_listener(index) {
                Ok(Some(tcp)) => inherited.tcp.push(tcp),
                Ok(None) => {}
                Err(e) => {
                    return Err(std::io::Error::other(format!(
                        "socket activation: descriptor {} is neither a Unix nor a TCP stream \
                         listener: {e}",
                        index + 3
                    )));
                }
            }
        }
        Ok(inherited)
    }
}
