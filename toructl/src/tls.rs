//! HTTPS to a daemon's TLS listener. A certificate is trusted when an authority in the system's
//! store (`/etc/ssl/certs`, what `update-ca-certificates` maintains) signed it for the host, or
//! when it is exactly the certificate the user pinned by its SHA-256 fingerprint: the
//! self-signed one a daemon makes at first start, checked once against `toructl status` on the
//! server, as SSH checks a host key.

use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};
use toru_api::CertFingerprint;

/// Which certificates a connection accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// One signed for the host by an authority in the system's store.
    System,
    /// Exactly this certificate, whoever signed it.
    Pinned(CertFingerprint),
}

/// The certificate presented was not the pinned one (the daemon's certificate changed, or
/// something stands between): the error SSH shows as "host identification has changed".
#[derive(Debug, thiserror::Error)]
#[error("the server's certificate is {seen}, not the pinned {pinned}")]
struct PinMismatch {
    seen: CertFingerprint,
    pinned: CertFingerprint,
}

/// Connects to `authority` (`host:port`) over TCP and completes a TLS handshake that `trust`
/// accepts. A certificate it does not accept fails the handshake, as an `io::Error` whose
/// inner error is [`rustls::Error::InvalidCertificate`] (see [`certificate_problem`]).
pub async fn connect(authority: &str, trust: Trust) -> std::io::Result<TlsStream<TcpStream>> {
    let server_name = server_name(authority)?;
    let config = client_config(trust)?;
    let tcp = TcpStream::connect(authority).await?;
    TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
}

/// The fingerprint of the certificate `authority` presents, learnt by a handshake that refuses
/// every certificate: nothing is sent to a server that has not been trusted yet.
pub async fn presented_fingerprint(authority: &str) -> std::io::Result<CertFingerprint> {
    let verifier = Arc::new(Pinned {
        pinned: None,
        seen: Mutex::new(None),
        provider: provider(),
    });
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let tcp = TcpStream::connect(authority).await?;
    // The handshake fails by design once the certificate is recorded.
    let _ = TlsConnector::from(Arc::new(config))
        .connect(server_name(authority)?, tcp)
        .await;
    verifier
        .seen()
        .ok_or_else(|| std::io::Error::other("the server presented no certificate"))
}

/// What was wrong with the certificate when a connect error is one `trust` did not accept,
/// in words (as opposed to a server that is down or speaks no TLS, which is `None`).
pub fn certificate_problem(error: &std::io::Error) -> Option<String> {
    let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    let rustls::Error::InvalidCertificate(problem) = inner else {
        return None;
    };
    Some(match problem {
        CertificateError::UnknownIssuer => "no authority this machine trusts signed it".to_owned(),
        // Our own PinMismatch, whose text rustls would show as a Debug dump.
        CertificateError::Other(OtherError(cause)) => cause.to_string(),
        problem => problem.to_string(),
    })
}

/// ring's provider, as the daemon's listener uses (see `toru-daemon/src/tls/mod.rs` for why
/// ring and not aws-lc-rs, which rustls 0.23.48 deprecates it in favour of).
fn provider() -> Arc<CryptoProvider> {
    #[expect(deprecated, reason = "ring's provider: see above")]
    Arc::new(ring::default_provider())
}

/// The host of `host:port` or `[v6]:port` as the name the certificate must be for.
fn server_name(authority: &str) -> std::io::Result<ServerName<'static>> {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host:?} is not a host name or address: {e}"),
        )
    })
}

fn client_config(trust: Trust) -> std::io::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?;
    let config = match trust {
        Trust::System => builder
            .with_root_certificates(system_roots())
            .with_no_client_auth(),
        Trust::Pinned(pinned) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pinned: Some(pinned),
                seen: Mutex::new(None),
                provider: provider(),
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The system's authorities; a certificate file that does not parse is skipped, as curl does.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// Accepts exactly the pinned certificate, and remembers the one presented (with no pin it
/// accepts none: [`presented_fingerprint`]). Name and dates are not checked: the pin names the
/// very certificate, as an SSH host key does (a self-signed certificate has no authority to
/// renew it). The handshake's signatures are still checked against it, so only the holder of
/// its key can complete the handshake.
#[derive(Debug)]
struct Pinned {
    pinned: Option<CertFingerprint>,
    seen: Mutex<Option<CertFingerprint>>,
    provider: Arc<CryptoProvider>,
}

impl Pinned {
    fn seen(&self) -> Option<CertFingerprint> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = CertFingerprint::of(end_entity);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
        match self.pinned {
            Some(pinned) if pinned == seen => Ok(ServerCertVerified::assertion()),
            Some(pinned) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch { seen, pinned })),
            ))),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_host_of_an_authority() {
        let name = |a: &str| server_name(a).map(|n| n.to_str().into_owned()).ok();
        assert_eq!(name("web-1.example:7443").as_deref(), Some("web-1.example"));
        assert_eq!(name("127.0.0.1:7443").as_deref(), Some("127.0.0.1"));
        assert_eq!(name("[::1]:7443").as_deref(), Some("::1"));
        assert_eq!(name("bad host:1"), None);
    }
}
