//! The built-in TLS listener's certificate, the way Cockpit does it: a certificate and key the
//! administrator dropped into a directory (`/etc/toru/tls/` as root), or else a self-signed one
//! generated at first start, written there and reused on later starts. Its SHA-256
//! [`Fingerprint`] is what `GET /api/status` and `toructl status` show, so the browser's first
//! warning about a self-signed certificate can be checked.
//!
//! This module knows files, PEM and rustls; `api/server.rs` runs the handshake with the
//! [`TlsAcceptor`] made here.

mod self_signed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// `toru-api`'s, so `toructl` reads and pins the very text `toructl status` and the log print.
pub use toru_api::CertFingerprint as Fingerprint;

/// The certificate file in the TLS directory: PEM, the server's certificate first, then any
/// intermediates (certbot's `fullchain.pem`).
pub const CERT_FILE: &str = "toru.crt";
/// The private key file in the TLS directory: PEM, PKCS#8, PKCS#1 (RSA) or SEC1 (EC)
/// (certbot's `privkey.pem`).
pub const KEY_FILE: &str = "toru.key";

/// Why the TLS listener's certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// One of the two files is there without the other: generating a new pair would overwrite
    /// what the administrator put there, so the daemon refuses instead.
    #[error(
        "{present} exists but {missing} does not: put both there, or neither to have one generated"
    )]
    Incomplete {
        /// The file that exists.
        present: PathBuf,
        /// The one that does not.
        missing: PathBuf,
    },
    /// A file is not the PEM it should be.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The self-signed certificate could not be made.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("the certificate and key in {dir} cannot be used: {source}")]
    Rustls {
        /// The TLS directory.
        dir: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// Where the certificate served came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from the TLS directory (the administrator's, or one generated on an earlier start).
    Loaded,
    /// Generated on this start and written to the TLS directory.
    Generated,
}

/// The certificate chain and key the TLS listener serves.
pub struct ServerCertificate {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The SHA-256 of the server's own certificate (the chain's first).
    pub fingerprint: Fingerprint,
    /// Where it came from.
    pub origin: Origin,
}

impl ServerCertificate {
    /// The pair in `dir` ([`CERT_FILE`], [`KEY_FILE`]); when neither file exists, a self-signed
    /// certificate for `host_name` (if any) and the loopback names, written there first (the
    /// directory `0700`, the key `0600`). One file without the other is an error.
    pub fn load_or_generate(dir: &Path, host_name: Option<&str>) -> Result<Self, TlsError> {
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let origin = match (cert.exists(), key.exists()) {
            (true, true) => Origin::Loaded,
            (false, false) => {
                self_signed::write(dir, &cert, &key, host_name)?;
                Origin::Generated
            }
            (true, false) => return Err(incomplete(cert, key)),
            (false, true) => return Err(incomplete(key, cert)),
        };
        let chain = read_chain(&cert)?;
        let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| pem_error(&key, e))?;
        Ok(ServerCertificate {
            fingerprint: Fingerprint::of(&chain[0]),
            chain,
            key,
            origin,
        })
    }

    /// The acceptor that serves this certificate: TLS 1.2 and 1.3 with rustls's safe defaults
    /// (ring), no client certificates, and HTTP/1.1 as the only ALPN protocol, the only one the
    /// API speaks.
    pub fn acceptor(self, dir: &Path) -> Result<TlsAcceptor, TlsError> {
        // rustls 0.23.48 deprecates ring's provider because it has no post-quantum key
        // exchange (aws-lc-rs has). ring builds with no C toolchain beyond cc and no cmake,
        // and classical ECDHE is what every browser still accepts; revisit when ring gains
        // ML-KEM or aws-lc-rs is in the build anyway.
        #[expect(deprecated, reason = "ring's provider: see above")]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let rustls_error = |source| TlsError::Rustls {
            dir: dir.to_owned(),
            source,
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(rustls_error)?
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)
            .map_err(rustls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn incomplete(present: PathBuf, missing: PathBuf) -> TlsError {
    TlsError::Incomplete { present, missing }
}

fn pem_error(path: &Path, error: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// Every certificate in the PEM file `path`, at least one.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if chain.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE block"));
    }
    Ok(chain)
}

/// This machine's host name, for the self-signed certificate's names; `None` when it cannot be
/// read or is not ASCII.
pub fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()?
        .into_string()
        .ok()
        .filter(|name| !name.is_empty() && name.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_is_reused_and_one_file_alone_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = ServerCertificate::load_or_generate(&tls, Some("toru-test")).unwrap();
        assert_eq!(first.origin, Origin::Generated);
        let second = ServerCertificate::load_or_generate(&tls, Some("other-name")).unwrap();
        assert_eq!(second.origin, Origin::Loaded);
        assert_eq!(first.fingerprint, second.fingerprint);
        second
            .acceptor(&tls)
            .expect("rustls takes the generated pair");

        std::fs::remove_file(tls.join(CERT_FILE)).unwrap();
        let err = ServerCertificate::load_or_generate(&tls, None)
            .err()
            .expect("a key without its certificate is refused");
        assert!(matches!(err, TlsError::Incomplete { .. }), "{err}");
        assert!(tls.join(KEY_FILE).exists(), "the key is left alone");
    }

    #[test]
    fn a_file_that_is_not_pem_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CERT_FILE), "not a certificate").unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not a key").unwrap();
        let err = ServerCertificate::load_or_generate(dir.path(), None)
            .err()
            .expect("garbage is refused");
        assert!(err.to_string().contains(CERT_FILE), "{err}");
    }
}
