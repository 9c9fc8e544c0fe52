//! A certificate's SHA-256 fingerprint, written the way browsers and
//! `openssl x509 -noout -fingerprint -sha256` show it, so an administrator can compare the two
//! by eye.

use std::fmt;

use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate's DER encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of the DER-encoded certificate `der`.
    pub fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

/// Colon-separated upper-case hex: `AB:01:…` (95 characters).
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_written_as_openssl_writes_it() {
        // `printf abc | sha256sum`: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        let text = Fingerprint::of(b"abc").to_string();
        assert_eq!(
            text,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:\
             B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(text.len(), 95);
    }
}
