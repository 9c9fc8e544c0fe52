//! A TLS certificate's SHA-256 fingerprint, written the way browsers and
//! `openssl x509 -noout -fingerprint -sha256` show it, so an administrator can compare them by
//! eye. The daemon shows its own; `toructl` pins it for a daemon whose certificate no authority
//! signed (the self-signed one the first start makes).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate's DER encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CertFingerprint([u8; 32]);

impl CertFingerprint {
    /// The fingerprint of the DER-encoded certificate `der`.
    pub fn of(der: &[u8]) -> Self {
        CertFingerprint(Sha256::digest(der).into())
    }
}

/// Colon-separated upper-case hex: `AB:01:…` (95 characters).
impl fmt::Display for CertFingerprint {
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

/// Why a text is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 fingerprint (64 hex digits, colons allowed): {0:?}")]
pub struct BadFingerprint(String);

/// Reads what [`Display`](fmt::Display) writes, in either case, with or without the colons
/// (`sha256sum` prints none).
impl FromStr for CertFingerprint {
    type Err = BadFingerprint;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadFingerprint(text.to_owned());
        let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(CertFingerprint(bytes))
    }
}

impl From<CertFingerprint> for String {
    fn from(fingerprint: CertFingerprint) -> String {
        fingerprint.to_string()
    }
}

impl TryFrom<String> for CertFingerprint {
    type Error = BadFingerprint;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:\
                       B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD";

    #[test]
    fn is_written_as_openssl_writes_it() {
        // `printf abc | sha256sum`: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        let text = CertFingerprint::of(b"abc").to_string();
        assert_eq!(text, ABC);
        assert_eq!(text.len(), 95);
    }

    #[test]
    fn reads_openssl_and_sha256sum_spellings() {
        let abc = CertFingerprint::of(b"abc");
        assert_eq!(ABC.parse(), Ok(abc));
        assert_eq!(ABC.to_lowercase().parse(), Ok(abc));
        assert_eq!(ABC.replace(':', "").parse(), Ok(abc));
        for bad in ["", "BA:78", &format!("{ABC}:00"), &ABC.replace('B', "G")] {
            assert!(bad.parse::<CertFingerprint>().is_err(), "{bad:?}");
        }
        let round: CertFingerprint = serde_json::from_value(serde_json::json!(ABC)).unwrap();
        assert_eq!(serde_json::to_value(round).unwrap(), serde_json::json!(ABC));
    }
}
