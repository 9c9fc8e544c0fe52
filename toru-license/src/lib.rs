//! The vendor's side of Toru licence keys: signing keys, their files, and issuing keys.
//!
//! Plugins only verify (`toru_plugin_api::license`); this crate signs, and is never shipped to
//! Toru installations. `docs/licensing.md` describes the key format; the `toru-license` binary
//! is the command-line face of this library.
//!
//! Key files are small JSON objects told apart by `type`; every key inside is unpadded
//! base64url:
//!
//! | `type` | fields | mode |
//! | --- | --- | --- |
//! | `toru-license-hmac-secret` | `secret` (32 bytes) | 0600 |
//! | `toru-license-ed25519-private-key` | `private_key` (the 32-byte seed), `public_key` | 0600 |
//! | `toru-license-ed25519-public-key` | `public_key` | any |

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use hmac::{KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use toru_plugin_api::license::{
    self, Algorithm, Ed25519PublicKey, License, LicenseError, MAX_KEY_LEN, PREFIX, VerifyingKey,
};

/// The length of a generated HMAC secret, and the shortest one this tool signs with.
pub const HMAC_SECRET_LEN: usize = 32;

/// The largest key file read; real ones are about 200 bytes.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// What signs licence keys: the vendor's secret, never shipped to an installation.
pub enum SigningKey {
    /// The HMAC-SHA256 secret (also embedded in the plugin).
    Hmac(Vec<u8>),
    /// The Ed25519 private key; the plugin embeds only its public half.
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKey::Hmac(_) => f.write_str("SigningKey::Hmac(<secret>)"),
            SigningKey::Ed25519(_) => f.write_str("SigningKey::Ed25519(<secret>)"),
        }
    }
}

impl SigningKey {
    /// A new random key for `algorithm`, from the operating system's generator.
    pub fn generate(algorithm: Algorithm) -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(match algorithm {
            Algorithm::Hs256 => SigningKey::Hmac(bytes.to_vec()),
            Algorithm::EdDsa => SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&bytes)),
        })
    }

    /// The algorithm the keys it signs carry in `alg`.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Hmac(_) => Algorithm::Hs256,
            SigningKey::Ed25519(_) => Algorithm::EdDsa,
        }
    }

    /// The verifier a plugin builds to check keys signed with this.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Hmac(secret) => VerifyingKey::Hmac(secret.clone()),
            SigningKey::Ed25519(key) => VerifyingKey::ed25519(key.verifying_key().as_bytes())
                .expect("a generated public key is a valid, strong point"),
        }
    }

    /// The public key as unpadded base64url, for an Ed25519 key.
    pub fn public_key_base64url(&self) -> Option<String> {
        match self {
            SigningKey::Hmac(_) => None,
            SigningKey::Ed25519(key) => {
                Some(URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()))
            }
        }
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Hmac(secret) => {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
                    .expect("HMAC accepts a key of any length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            SigningKey::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

/// Signs a plugin binary whose SHA-256 is `digest` (`docs/signing.md`): only an Ed25519 key
/// can, since the daemon that checks it holds only public keys.
pub fn sign_plugin(
    digest: &toru_plugin_api::signature::Sha256Digest,
    key: &SigningKey,
) -> Result<toru_plugin_api::signature::PluginSignature, IssueError> {
    let SigningKey::Ed25519(signing) = key else {
        return Err(IssueError::Invalid(
            "plugins are signed with an Ed25519 key (toru-license keygen --alg ed25519), not \
             an HMAC secret"
                .into(),
        ));
    };
    let message = toru_plugin_api::signature::signed_message(digest);
    let public = Ed25519PublicKey::from_bytes(signing.verifying_key().as_bytes())
        .expect("a generated public key is a valid, strong point");
    Ok(toru_plugin_api::signature::PluginSignature {
        public_key: public,
        signature: signing.sign(&message).to_bytes(),
    })
}

/// Builds `TORU1.<base64url(payload)>.<base64url(signature)>` over any payload bytes. No checks:
/// [`issue`] is the normal way; this one also makes deliberately broken keys for tests.
pub fn sign_payload(payload: &[u8], key: &SigningKey) -> String {
    let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Why a key could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The licence names another algorithm than the key signs with.
    #[error("the licence says {license}, but the signing key is an {key} key")]
    AlgorithmMismatch {
        /// The licence's `alg`.
        license: Algorithm,
        /// The signing key's.
        key: Algorithm,
    },
    /// A field is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The key would not verify; a bug.
    #[error("the issued key does not verify: {0}")]
    SelfCheck(LicenseError),
}

/// Signs `licence` into a key, after checking that its fields make sense and that the key
/// verifies with `key`'s verifier, as a plugin would.
pub fn issue(licence: &License, key: &SigningKey) -> Result<String, IssueError> {
    if licence.algorithm != key.algorithm() {
        return Err(IssueError::AlgorithmMismatch {
            license: licence.algorithm,
            key: key.algorithm(),
        });
    }
    toru_plugin_api::validate_plugin_id(&licence.plugin)
        .map_err(|e| IssueError::Invalid(e.to_string()))?;
    let instance = uuid::Uuid::parse_str(&licence.instance)
        .map_err(|e| IssueError::Invalid(format!("instance {:?}: {e}", licence.instance)))?;
    if instance.to_string() != licence.instance {
        return Err(IssueError::Invalid(format!(
            "instance {:?} must be written as a lower-case hyphenated UUID, {instance}",
            licence.instance
        )));
    }
    if let Some(f) = licence.features.iter().find(|f| f.trim().is_empty()) {
        return Err(IssueError::Invalid(format!("feature {f:?} is empty")));
    }
    if matches!(key, SigningKey::Hmac(s) if s.len() < HMAC_SECRET_LEN) {
        return Err(IssueError::Invalid(format!(
            "the HMAC secret is shorter than {HMAC_SECRET_LEN} bytes"
        )));
    }
    let payload = serde_json::to_vec(licence).expect("a licence always serializes");
    let text = sign_payload(&payload, key);
    if text.len() > MAX_KEY_LEN {
        return Err(IssueError::Invalid(format!(
            "the key would be {} bytes, more than the {MAX_KEY_LEN} verifiers accept; \
             shorten the licensee or the features",
            text.len()
        )));
    }
    // Checked: an `iat` past the end of `SystemTime` made `+` panic (found by fuzz/).
    let at = SystemTime::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(licence.issued_at))
        .ok_or_else(|| {
            IssueError::Invalid(format!(
                "issued-at {} is too far in the future to be a time",
                licence.issued_at
            ))
        })?;
    let checked = license::verify(
        &text,
        &key.verifying_key(),
        &licence.plugin,
        &licence.instance,
        at,
    )
    .map_err(IssueError::SelfCheck)?;
    debug_assert_eq!(&checked, licence);
    Ok(text)
}

/// The content of a key file.
#[derive(Debug)]
pub enum KeyFile {
    /// A secret that signs (and verifies): an HMAC secret or an Ed25519 private key.
    Signing(SigningKey),
    /// An Ed25519 public key, which only verifies.
    Public(Ed25519PublicKey),
}

impl KeyFile {
    /// The verifier for keys this file's owner issued.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            KeyFile::Signing(key) => key.verifying_key(),
            KeyFile::Public(public) => VerifyingKey::Ed25519(public.clone()),
        }
    }
}

/// A key file's JSON.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type")]
enum KeyFileJson {
    #[serde(rename = "toru-license-hmac-secret")]
    HmacSecret { secret: String },
    #[serde(rename = "toru-license-ed25519-private-key")]
    Ed25519PrivateKey {
        private_key: String,
        public_key: String,
    },
    #[serde(rename = "toru-license-ed25519-public-key")]
    Ed25519PublicKey { public_key: String },
}

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// An I/O error on the file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file holds a secret but others than its owner may read or write it.
    #[error(
        "refusing to use {}: it holds a signing secret but its mode is {mode:04o}; \
         it must be readable by its owner only: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a key file, or a damaged one.
    #[error("{}: not a toru-license key file: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file to create exists already.
    #[error("{} exists already; refusing to overwrite a key (move it away first)", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a key file. A file holding a secret must be a regular file with no permission bits for
/// group or others (mode 0600 or 0400); the permissions are checked on the opened file.
pub fn read_key_file(path: &Path) -> Result<KeyFile, KeyFileError> {
    let io_err = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let invalid = |reason: String| KeyFileError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(io_err)?;
    let json: KeyFileJson =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not the expected JSON: {e}")))?;
    let secret = !matches!(json, KeyFileJson::Ed25519PublicKey { .. });
    let mode = meta.mode() & 0o7777;
    if secret && mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let b64 = |field: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|e| invalid(format!("{field} is not unpadded base64url: {e}")))
    };
    match json {
        KeyFileJson::HmacSecret { secret } => {
            let secret = b64("secret", &secret)?;
            if secret.len() < HMAC_SECRET_LEN {
                return Err(invalid(format!(
                    "the secret is {} bytes, at least {HMAC_SECRET_LEN} are needed",
                    secret.len()
                )));
            }
            Ok(KeyFile::Signing(SigningKey::Hmac(secret)))
        }
        KeyFileJson::Ed25519PrivateKey {
            private_key,
            public_key,
        } => {
            let seed: [u8; 32] = b64("private_key", &private_key)?
                .try_into()
                .map_err(|_| invalid("private_key must be 32 bytes".into()))?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            if URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()) != public_key.trim() {
                return Err(invalid(
                    "public_key does not belong to private_key (the file is damaged)".into(),
                ));
            }
            Ok(KeyFile::Signing(SigningKey::Ed25519(key)))
        }
        KeyFileJson::Ed25519PublicKey { public_key } => {
            Ed25519PublicKey::from_base64url(&public_key)
                .map(KeyFile::Public)
                .map_err(|e| invalid(e.to_string()))
        }
    }
}

/// Writes a new key to `path` with mode 0600 and, for Ed25519, its public key to
/// `<path>.pub` (mode 0644). Refuses to overwrite either; returns the public key file's path.
pub fn write_new_key_files(path: &Path, key: &SigningKey) -> Result<Option<PathBuf>, KeyFileError> {
    let (json, public) = match key {
        SigningKey::Hmac(secret) => (
            KeyFileJson::HmacSecret {
                secret: URL_SAFE_NO_PAD.encode(secret),
            },
            None,
        ),
        SigningKey::Ed25519(signing) => {
            let public_key = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
            (
                KeyFileJson::Ed25519PrivateKey {
                    private_key: URL_SAFE_NO_PAD.encode(signing.as_bytes()),
                    public_key: public_key.clone(),
                },
                Some(KeyFileJson::Ed25519PublicKey { public_key }),
            )
        }
    };
    let public_path = public.as_ref().map(|_| {
        let mut p = path.as_os_str().to_owned();
        p.push(".pub");
        PathBuf::from(p)
    });
    for p in std::iter::once(path).chain(public_path.as_deref()) {
        if p.symlink_metadata().is_ok() {
            return Err(KeyFileError::Exists { path: p.to_owned() });
        }
    }
    write_new(path, &json, 0o600)?;
    if let (Some(public), Some(public_path)) = (public, &public_path) {
        write_new(public_path, &public, 0o644)?;
    }
    Ok(public_path)
}

/// Creates `path` (never replacing anything) with `mode`, writes `json` and syncs it.
fn write_new(path: &Path, json: &KeyFileJson, mode: u32) -> Result<(), KeyFileError> {
    let io_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            KeyFileError::Exists {
                path: path.to_owned(),
            }
        } else {
            KeyFileError::Io {
                path: path.to_owned(),
                source,
            }
        }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err)?;
    let mut text = serde_json::to_string_pretty(json).expect("a key file always serializes");
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licence(alg: Algorithm) -> License {
        License {
            version: 1,
            algorithm: alg,
            plugin: "acme-backup".into(),
            instance: "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10".into(),
            licensee: "Ada".into(),
            issued_at: 1_767_225_600,
            expires_at: None,
            features: vec![],
        }
    }

    #[test]
    fn issue_refuses_what_no_plugin_could_accept() {
        let ed = SigningKey::generate(Algorithm::EdDsa).unwrap();
        let hs = SigningKey::generate(Algorithm::Hs256).unwrap();
        assert!(issue(&licence(Algorithm::EdDsa), &ed).is_ok());
        assert!(issue(&licence(Algorithm::Hs256), &hs).is_ok());
        assert!(matches!(
            issue(&licence(Algorithm::Hs256), &ed),
            Err(IssueError::AlgorithmMismatch { .. })
        ));
        let upper = License {
            instance: "0B8E0B3E-5D2A-4C41-9A53-2F1F1E6F7A10".into(),
            ..licence(Algorithm::EdDsa)
        };
        assert!(matches!(issue(&upper, &ed), Err(IssueError::Invalid(_))));
        let bad_id = License {
            plugin: "Acme".into(),
            ..licence(Algorithm::EdDsa)
        };
        assert!(matches!(issue(&bad_id, &ed), Err(IssueError::Invalid(_))));
        let short = SigningKey::Hmac(vec![1; 16]);
        assert!(matches!(
            issue(&licence(Algorithm::Hs256), &short),
            Err(IssueError::Invalid(_))
        ));
        let huge = License {
            licensee: "x".repeat(MAX_KEY_LEN),
            ..licence(Algorithm::EdDsa)
        };
        let err = issue(&huge, &ed).unwrap_err().to_string();
        assert!(err.contains("more than the 8192"), "{err}");
    }

    #[test]
    fn an_issue_time_past_the_end_of_system_time_is_refused_not_a_panic() {
        // Found by fuzz/fuzz_targets/license_key.rs: the self-check's time was `epoch + iat`.
        let hs = SigningKey::generate(Algorithm::Hs256).unwrap();
        for issued_at in [u64::MAX, 1 << 63] {
            let far = License {
                issued_at,
                ..licence(Algorithm::Hs256)
            };
            let err = issue(&far, &hs).unwrap_err();
            assert!(matches!(err, IssueError::Invalid(_)), "{err:?}");
            assert!(err.to_string().contains("too far in the future"), "{err}");
        }
        // A late but representable time is still issued.
        let late = License {
            issued_at: 1 << 40,
            ..licence(Algorithm::Hs256)
        };
        assert!(issue(&late, &hs).is_ok());
    }

    #[test]
    fn generated_keys_differ_and_sign_verifiably() {
        let a = SigningKey::generate(Algorithm::EdDsa).unwrap();
        let b = SigningKey::generate(Algorithm::EdDsa).unwrap();
        assert_ne!(a.public_key_base64url(), b.public_key_base64url());
        let l = licence(Algorithm::EdDsa);
        let key = issue(&l, &a).unwrap();
        let check = |with: &SigningKey| {
            license::verify(
                &key,
                &with.verifying_key(),
                &l.plugin,
                &l.instance,
                SystemTime::now(),
            )
        };
        assert_eq!(check(&a).unwrap(), l);
        let err = check(&b).unwrap_err();
        assert_eq!(err.kind(), license::LicenseErrorKind::BadSignature);
        assert!(format!("{a:?}").contains("<secret>"));
    }
}
