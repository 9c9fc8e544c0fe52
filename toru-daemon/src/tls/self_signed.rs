//! The certificate made at first start when the administrator provided none: self-signed,
//! for the host name and the loopback names, written to the TLS directory so that later starts
//! serve the same one (and the fingerprint a browser was told to trust stays valid).

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use rcgen::{CertificateParams, DnType, KeyPair};

use super::TlsError;

/// Names every generated certificate carries besides the host name.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Generates a certificate and key and writes them to `cert` and `key` in `dir` (created
/// `0700` if missing): the key `0600`, the certificate `0644`. Each file is written under a
/// temporary name and renamed, the key first, so a crash leaves no half-written PEM.
pub fn write(dir: &Path, cert: &Path, key: &Path, host_name: Option<&str>) -> Result<(), TlsError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    let names: Vec<String> = host_name
        .into_iter()
        .chain(LOOPBACK_NAMES)
        .map(str::to_owned)
        .collect();
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(
        DnType::CommonName,
        host_name.unwrap_or(LOOPBACK_NAMES[0]).to_owned(),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Toru self-signed");
    let signing_key = KeyPair::generate()?;
    let certificate = params.self_signed(&signing_key)?;

    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    write_new(key, signing_key.serialize_pem().as_bytes(), 0o600).map_err(io(key))?;
    write_new(cert, certificate.pem().as_bytes(), 0o644).map_err(io(cert))?;
    Ok(())
}

/// Writes `contents` to `path` with `mode`, through a temporary file renamed into place. The
/// mode is set explicitly as well: the packaged unit's `UMask=0077` would otherwise make the
/// certificate 0600.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode & 0o600)
        .open(&temporary)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_key_is_private_and_the_certificate_names_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let (cert, key) = (tls.join("c.pem"), tls.join("k.pem"));
        write(&tls, &cert, &key, Some("desk-host")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tls), 0o700);
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644, "readable by all whatever the umask");
        assert!(
            std::fs::read_to_string(&key)
                .unwrap()
                .contains("PRIVATE KEY")
        );
        let pem = std::fs::read_to_string(&cert).unwrap();
        let der = rustls_pki_der(&pem);
        // The names are in the DER as plain bytes (DNS names) or raw addresses (IPs).
        assert!(contains(&der, b"desk-host") && contains(&der, b"localhost"));
        assert!(contains(&der, &[127, 0, 0, 1]));
    }

    fn rustls_pki_der(pem: &str) -> Vec<u8> {
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }
}
