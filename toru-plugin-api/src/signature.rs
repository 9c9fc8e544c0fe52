//! Signed plugins: the detached signature a vendor ships next to a plugin binary
//! (`X.binary.sig` next to `X.binary`), and its check against the administrator's trusted keys.
//!
//! `docs/signing.md` is the normative description. In short, a signature file holds one ASCII
//! line, `TORUSIG1.<public key>.<signature>` (both unpadded base64url): the vendor's Ed25519
//! public key, so that the daemon can name the key or say that it is not trusted, and the
//! Ed25519 signature of [`signed_message`] — a domain-separation prefix followed by the
//! binary's SHA-256. The daemon hashes the binary once and checks the digest, so a signature is
//! never checked over bytes other than those it then runs.
//!
//! The vendor signs with `toru-license sign` (the same key files as licence keys); the daemon
//! verifies. Both use this module, so there is one definition of the format.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::Digest as _;

use crate::license::Ed25519PublicKey;

/// What every signature line starts with: the format's name and version, and a dot.
pub const PREFIX: &str = "TORUSIG1.";

/// The bytes signed before the digest, so that a plugin signature can never be mistaken for a
/// signature over anything else made with the same key (a licence key signs `TORU1.…`).
pub const DOMAIN: &[u8] = b"toru-plugin-signature-v1\n";

/// The longest signature file accepted, in bytes; a real one is 140. It must fit an HTTP
/// header (`Toru-Signature` on an upload).
pub const MAX_SIGNATURE_LEN: usize = 1024;

/// The `type` of a public key file, as `toru-license keygen --alg ed25519` writes `FILE.pub`.
pub const PUBLIC_KEY_FILE_TYPE: &str = "toru-license-ed25519-public-key";

/// A SHA-256 digest of a plugin binary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(sha2::Sha256::digest(bytes).into())
    }

    /// Lower-case hex, as `sha256sum` prints it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

/// An incremental SHA-256, for hashing a binary while it is copied.
#[derive(Default, Clone)]
pub struct Hasher(sha2::Sha256);

impl Hasher {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything added.
    pub fn finish(self) -> Sha256Digest {
        Sha256Digest(self.0.finalize().into())
    }
}

/// The exact bytes an Ed25519 plugin signature signs: [`DOMAIN`] then the 32-byte digest.
pub fn signed_message(digest: &Sha256Digest) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&digest.0);
    message
}

/// Why a signature line is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Over [`MAX_SIGNATURE_LEN`] bytes.
    #[error("the signature file is over {MAX_SIGNATURE_LEN} bytes")]
    TooLarge,
    /// Not `TORUSIG1.<key>.<signature>` with valid parts.
    #[error("the signature file is damaged: {0}")]
    Malformed(String),
    /// Signed with a key the administrator does not trust.
    #[error("signed with a key that is not trusted (public key {0})")]
    UntrustedKey(String),
    /// The signature does not verify over this binary's digest.
    #[error(
        "the signature does not match this binary (it was made for another file, or the file \
         changed since it was signed)"
    )]
    Mismatch,
}

/// A parsed signature line: who signed, and the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct PluginSignature {
    /// The signer's public key, as the line names it (not yet trusted).
    pub public_key: Ed25519PublicKey,
    /// The 64-byte Ed25519 signature.
    pub signature: [u8; 64],
}

impl fmt::Debug for PluginSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginSignature")
            .field("public_key", &self.public_key.to_base64url())
            .finish_non_exhaustive()
    }
}

impl PluginSignature {
    /// Parses a signature file's content: one line, optionally ending with a line break.
    pub fn parse(text: &[u8]) -> Result<Self, SignatureError> {
        if text.len() > MAX_SIGNATURE_LEN {
            return Err(SignatureError::TooLarge);
        }
        let malformed = |why: &str| SignatureError::Malformed(why.to_owned());
        let text = std::str::from_utf8(text).map_err(|_| malformed("not ASCII text"))?;
        let line = text
            .strip_suffix('\n')
            .map_or(text, |l| l.strip_suffix('\r').unwrap_or(l));
        if line.is_empty() {
            return Err(malformed("it is empty"));
        }
        let rest = line
            .strip_prefix(PREFIX)
            .ok_or_else(|| malformed("it does not start with TORUSIG1."))?;
        let (key, signature) = rest
            .split_once('.')
            .ok_or_else(|| malformed("it has no signature after the public key"))?;
        let key = URL_SAFE_NO_PAD
            .decode(key)
            .map_err(|e| malformed(&format!("the public key is not base64url: {e}")))?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| malformed("the public key is not 32 bytes"))?;
        let public_key =
            Ed25519PublicKey::from_bytes(&key).map_err(|e| malformed(&e.to_string()))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| malformed(&format!("the signature is not base64url: {e}")))?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| malformed("the signature is not 64 bytes"))?;
        Ok(PluginSignature {
            public_key,
            signature,
        })
    }

    /// The line to write to the signature file (without a line break).
    pub fn to_line(&self) -> String {
        format!(
            "{PREFIX}{}.{}",
            self.public_key.to_base64url(),
            URL_SAFE_NO_PAD.encode(self.signature)
        )
    }

    /// Checks the signature over `digest` with the trusted key the line names: `trusted` is
    /// asked for the key matching [`Self::public_key`] and returns its name. Returns that name.
    pub fn verify<'k>(
        &self,
        digest: &Sha256Digest,
        trusted: impl Fn(&Ed25519PublicKey) -> Option<&'k str>,
    ) -> Result<&'k str, SignatureError> {
        let name = trusted(&self.public_key)
            .ok_or_else(|| SignatureError::UntrustedKey(self.public_key.to_base64url()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.public_key.to_bytes())
            .map_err(|_| SignatureError::Mismatch)?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        // Strict, as for licence keys: no non-canonical or small-order forgeries.
        key.verify_strict(&signed_message(digest), &signature)
            .map_err(|_| SignatureError::Mismatch)?;
        Ok(name)
    }
}

/// Why a trusted-key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyFileError(String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyFile {
    #[serde(rename = "type")]
    kind: String,
    public_key: String,
}

/// Parses a public key file as `toru-license keygen --alg ed25519` writes `FILE.pub`:
/// `{"type": "toru-license-ed25519-public-key", "public_key": "<base64url>"}`.
pub fn parse_public_key_file(text: &str) -> Result<Ed25519PublicKey, KeyFileError> {
    let file: PublicKeyFile = serde_json::from_str(text).map_err(|e| {
        KeyFileError(format!(
            "not a public key file of toru-license keygen ({{\"type\": \
             \"{PUBLIC_KEY_FILE_TYPE}\", \"public_key\": …}}): {e}"
        ))
    })?;
    if file.kind != PUBLIC_KEY_FILE_TYPE {
        return Err(KeyFileError(format!(
            "its type is {:?}, not {PUBLIC_KEY_FILE_TYPE:?} (a private key or an HMAC secret \
             does not belong here)",
            file.kind
        )));
    }
    Ed25519PublicKey::from_base64url(&file.public_key).map_err(|e| KeyFileError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    fn key(seed: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
    }

    fn sign(binary: &[u8], with: &ed25519_dalek::SigningKey) -> PluginSignature {
        let message = signed_message(&Sha256Digest::of(binary));
        PluginSignature {
            public_key: Ed25519PublicKey::from_bytes(with.verifying_key().as_bytes()).unwrap(),
            signature: with.sign(&message).to_bytes(),
        }
    }

    fn trust<'a>(
        name: &'a str,
        with: &ed25519_dalek::SigningKey,
    ) -> impl Fn(&Ed25519PublicKey) -> Option<&'a str> {
        let public = with.verifying_key().to_bytes();
        move |k| (k.to_bytes() == public).then_some(name)
    }

    #[test]
    fn a_signature_verifies_over_its_binary_with_the_trusted_key_only() {
        let acme = key(1);
        let line = sign(b"binary", &acme).to_line();
        assert!(line.len() < 150 && line.is_ascii(), "{line}");
        let parsed = PluginSignature::parse(format!("{line}\n").as_bytes()).unwrap();
        assert_eq!(parsed.to_line(), line);
        let digest = Sha256Digest::of(b"binary");
        assert_eq!(parsed.verify(&digest, trust("acme", &acme)), Ok("acme"));
        // Over another file.
        let other = Sha256Digest::of(b"another binary");
        assert_eq!(
            parsed.verify(&other, trust("acme", &acme)),
            Err(SignatureError::Mismatch)
        );
        // Trusting another key only.
        assert!(matches!(
            parsed.verify(&digest, trust("evil", &key(2))),
            Err(SignatureError::UntrustedKey(_))
        ));
        // A trusted key named in the line, but the signature made by another key.
        let mut forged = sign(b"binary", &key(2));
        forged.public_key = parsed.public_key.clone();
        assert_eq!(
            forged.verify(&digest, trust("acme", &acme)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn damaged_lines_are_refused_with_a_reason() {
        let line = sign(b"binary", &key(1)).to_line();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "empty"),
            (line.as_bytes()[..line.len() - 10].to_vec(), "64 bytes"),
            (
                line.replace("TORUSIG1.", "TORUSIG2.").into_bytes(),
                "TORUSIG1",
            ),
            (
                line.split('.')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(".")
                    .into_bytes(),
                "no signature",
            ),
            (format!("{line}=").into_bytes(), "base64url"),
            (format!(" {line}").into_bytes(), "TORUSIG1"),
            (format!("{line}\n\n").into_bytes(), "base64url"),
            (vec![0xff; 10], "ASCII"),
        ];
        for (text, expect) in cases {
            let err = PluginSignature::parse(&text).unwrap_err().to_string();
            assert!(err.contains(expect), "{text:?}: {err}");
        }
        let long = vec![b'A'; MAX_SIGNATURE_LEN + 1];
        assert_eq!(PluginSignature::parse(&long), Err(SignatureError::TooLarge));
    }

    #[test]
    fn public_key_files_are_the_ones_keygen_writes() {
        let public = URL_SAFE_NO_PAD.encode(key(1).verifying_key().as_bytes());
        let file =
            format!("{{\"type\": \"{PUBLIC_KEY_FILE_TYPE}\", \"public_key\": \"{public}\"}}");
        assert_eq!(parse_public_key_file(&file).unwrap().to_base64url(), public);
        let private = file.replace("public-key", "private-key");
        assert!(
            parse_public_key_file(&private)
                .unwrap_err()
                .to_string()
                .contains("private key")
        );
        assert!(parse_public_key_file("cLPagOrte4LQD7vmjquXyw2eFbgLnfj2N2xzKBsrzJg").is_err());
        let short = file.replace(&public, "AAAA");
        assert!(
            parse_public_key_file(&short)
                .unwrap_err()
                .to_string()
                .contains("32")
        );
    }
}
