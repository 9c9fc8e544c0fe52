//! The HTTP client of one webhook: hyper's client over rustls (ring, as the TLS listener),
//! trusting the system's CAs (`/etc/ssl/certs` through rustls-native-certs, so a CA an
//! administrator installed with `update-ca-certificates` counts) or the webhook's `ca_file`.
//! One connection at a time (the delivery task sends one request at a time), kept for the next
//! delivery while it is fresh; redirects are not followed; the response's body is not read.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;

use super::retry::Answer;

/// How long an idle connection to a receiver is kept for the next delivery.
const IDLE_CONNECTION: Duration = Duration::from_secs(30);

/// Why a webhook's client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The `ca_file` holds no certificate rustls accepts.
    #[error("ca_file: {0}")]
    CaFile(String),
    /// The system's CA store could not be read, or holds nothing usable.
    #[error("the system's trusted certificates: {0}")]
    SystemStore(String),
    /// rustls refused the configuration.
    #[error("TLS client: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Sends one webhook's requests.
#[derive(Clone)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Transport {
    /// A client trusting the certificates of `ca_pem` (PEM text), or else, for an `https`
    /// webhook, the system's CAs (a plain `http` one needs none).
    pub fn new(ca_pem: Option<&[u8]>, https: bool) -> Result<Transport, TransportError> {
        let roots = match ca_pem {
            Some(pem) => roots_from_pem(pem)?,
            None if https => system_roots()?,
            None => rustls::RootCertStore::empty(),
        };
        // ring, as the TLS listener (see `tls::ServerCertificate::acceptor` for why).
        #[expect(deprecated, reason = "ring's provider, as the TLS listener's")]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_CONNECTION)
            .pool_max_idle_per_host(1)
            .build(connector);
        Ok(Transport { client })
    }

    /// POSTs `body` with `headers` to `url`, waiting at most `timeout` for the response's
    /// status.
    pub async fn post(
        &self,
        url: &http::Uri,
        headers: &HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Answer {
        let mut request = Request::builder().method(Method::POST).uri(url.clone());
        if let Some(map) = request.headers_mut() {
            map.extend(headers.clone());
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(e) => return Answer::NoAnswer(format!("cannot build the request: {e}")),
        };
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Answer::NoAnswer(format!("no answer within {timeout:?}")),
            Ok(Err(e)) => Answer::NoAnswer(crate::error_chain::ErrorChain(&e).to_string()),
            // The body is dropped unread: only the status matters, and a receiver cannot make
            // the daemon read a large one.
            Ok(Ok(response)) => Answer::Status(response.status()),
        }
    }
}

fn roots_from_pem(pem: &[u8]) -> Result<rustls::RootCertStore, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|e| TransportError::CaFile(e.to_string()))?;
        roots
            .add(certificate)
            .map_err(|e| TransportError::CaFile(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TransportError::CaFile("no certificate in the file".into()));
    }
    Ok(roots)
}

fn system_roots() -> Result<rustls::RootCertStore, TransportError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    // Certificates the system store has but rustls cannot parse are skipped, as browsers do.
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(TransportError::SystemStore(why));
    }
    Ok(roots)
}
