//! Which TCP sockets the API serves, and how: plain HTTP on loopback addresses only, and HTTPS
//! on `tls_listen` when it is configured. Under socket activation systemd passes every TCP
//! socket of `toru-daemon.socket` alike; the one whose address is `tls_listen`'s is the TLS
//! listener, the others are plain. Without socket activation the daemon binds both itself.
//!
//! Plain HTTP on any other address is refused at start ([`NotLoopback`]): a password and a
//! session cookie would cross the network in clear text.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::origin::AllowedHosts;
use super::server::{self, Listener};
use crate::config::Config;
use crate::tls::{self, ServerCertificate};

/// A plain HTTP listener on an address that is not a loopback address.
#[derive(Debug, thiserror::Error)]
#[error(
    "plain HTTP is served on loopback addresses only, and {0} is not one: to reach the \
     dashboard from other machines, set tls_listen (HTTPS with the daemon's own certificate) and \
     keep listen on 127.0.0.1, or put a TLS reverse proxy in front of 127.0.0.1 (see \
     \"Reaching the dashboard from another machine\" in docs/operations.md)"
)]
pub struct NotLoopback(pub SocketAddr);

/// The API's TCP listeners, bound and checked, with the certificate the TLS ones serve.
pub struct TcpListeners {
    /// Plain HTTP, loopback only; at least one.
    pub plain: Vec<TcpListener>,
    /// HTTPS, when `tls_listen` is configured.
    pub tls: Option<TlsListeners>,
}

/// The TLS listener's sockets (systemd may pass more than one for the address, e.g. IPv4 and
/// IPv6) and what they serve.
pub struct TlsListeners {
    /// The sockets, at least one.
    pub sockets: Vec<TcpListener>,
    /// The handshake with the certificate.
    pub acceptor: TlsAcceptor,
    /// What `GET /api/status` reports.
    pub status: toru_api::TlsListener,
}

impl TcpListeners {
    /// Sorts the TCP sockets systemd passed (`inherited`) into plain and TLS ones, binds what
    /// is configured but was not passed, checks that the plain ones are on loopback addresses,
    /// and loads (or generates) the TLS certificate.
    pub fn open(config: &Config, inherited: Vec<std::net::TcpListener>) -> anyhow::Result<Self> {
        let mut plain = Vec::new();
        let mut tls_sockets = Vec::new();
        for std_listener in inherited {
            std_listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(std_listener)?;
            let addr = listener.local_addr()?;
            if config
                .tls_listen
                .is_some_and(|tls| is_tls_socket(tls, addr))
            {
                tls_sockets.push(listener);
            } else {
                plain.push(listener);
            }
        }
        if plain.is_empty() {
            check_loopback(config.listen)?;
            plain.push(
                server::bind_tcp(config.listen)
                    .with_context(|| format!("cannot listen on {}", config.listen))?,
            );
        }
        for listener in &plain {
            check_loopback(listener.local_addr()?)?;
        }
        let tls = match config.tls_listen {
            Some(addr) => Some(TlsListeners::open(config, addr, tls_sockets)?),
            None => None,
        };
        Ok(TcpListeners { plain, tls })
    }

    /// Each listener with the host names it answers to, for [`server::serve`].
    pub fn into_listeners(self, config: &Config) -> Vec<Listener> {
        let extra = || config.allowed_hosts.iter().map(String::as_str);
        let mut listeners: Vec<Listener> = self
            .plain
            .into_iter()
            .map(|tcp| {
                let hosts = AllowedHosts::new(
                    tcp.local_addr().ok().into_iter().chain([config.listen]),
                    extra(),
                );
                Listener::Tcp(tcp, hosts)
            })
            .collect();
        if let Some(tls) = self.tls {
            // The self-signed certificate names this host, so a browser pointed at the name
            // must be answered too.
            let host_name = tls::host_name();
            for tcp in tls.sockets {
                let hosts = AllowedHosts::new(
                    tcp.local_addr().ok().into_iter().chain(config.tls_listen),
                    extra().chain(host_name.as_deref()),
                );
                listeners.push(Listener::Tls(tcp, hosts, tls.acceptor.clone()));
            }
        }
        listeners
    }
}

impl TlsListeners {
    /// The passed `sockets` for `addr`, or one bound to it, and the certificate of
    /// `config.tls_dir`, logged with its fingerprint.
    fn open(
        config: &Config,
        addr: SocketAddr,
        mut sockets: Vec<TcpListener>,
    ) -> anyhow::Result<Self> {
        if sockets.is_empty() {
            sockets.push(server::bind_tcp(addr).with_context(|| {
                format!(
                    "cannot listen on tls_listen {addr} (under toru-daemon.socket, add \
                     ListenStream={addr} to the socket unit: the daemon's sandbox cannot bind)"
                )
            })?);
        }
        let dir = &config.tls_dir;
        let certificate = ServerCertificate::load_or_generate(dir, tls::host_name().as_deref())
            .with_context(|| format!("cannot set up the TLS certificate in {}", dir.display()))?;
        let fingerprint = certificate.fingerprint.to_string();
        let origin = certificate.origin;
        let acceptor = certificate.acceptor(dir)?;
        let listen = sockets[0].local_addr()?;
        tracing::info!(
            %listen,
            sha256_fingerprint = %fingerprint,
            ?origin,
            dir = %dir.display(),
            "TLS listening"
        );
        Ok(TlsListeners {
            sockets,
            acceptor,
            status: toru_api::TlsListener {
                listen: listen.to_string(),
                sha256_fingerprint: fingerprint,
            },
        })
    }
}

/// Whether a socket systemd passed, bound to `socket`, is the TLS listener configured as
/// `tls`: the same address, or the same port when `tls` names no address (`0.0.0.0`, `[::]`)
/// and so matches however the socket unit spells it (`ListenStream=7443` binds `[::]:7443`).
fn is_tls_socket(tls: SocketAddr, socket: SocketAddr) -> bool {
    tls == socket || (tls.ip().is_unspecified() && tls.port() == socket.port())
}

/// Refuses a plain HTTP address that is not a loopback address.
fn check_loopback(addr: SocketAddr) -> Result<(), NotLoopback> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(NotLoopback(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_serve_plain_http() {
        for ok in ["127.0.0.1:7070", "127.0.0.2:1", "[::1]:7070"] {
            assert!(check_loopback(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["0.0.0.0:7070", "192.0.2.1:7070", "[::]:7070"] {
            let err = check_loopback(bad.parse().unwrap()).unwrap_err();
            assert!(err.to_string().contains("tls_listen"), "{err}");
        }
    }

    #[test]
    fn a_passed_socket_is_the_tls_listener_by_address_or_by_port_for_any_address() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(is_tls_socket(addr("0.0.0.0:7443"), addr("[::]:7443")));
        assert!(is_tls_socket(
            addr("192.0.2.1:7443"),
            addr("192.0.2.1:7443")
        ));
        assert!(!is_tls_socket(
            addr("192.0.2.1:7443"),
            addr("192.0.2.2:7443")
        ));
        assert!(!is_tls_socket(addr("0.0.0.0:7443"), addr("127.0.0.1:7070")));
    }
}
