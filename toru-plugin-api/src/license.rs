//! Offline verification of vendor licence keys (cargo feature `license`).
//!
//! A plugin vendor sells a plugin to one Toru installation and gives its administrator a licence
//! key. The plugin checks, without any network, that the key was issued by its vendor, for this
//! plugin, for this installation (the `instance_id` of `lifecycle.init`), and has not expired.
//! The daemon only carries the key; it never holds a vendor's signing secret.
//!
//! A key is one line of ASCII, `TORU1.<payload>.<signature>`, both parts unpadded base64url.
//! `docs/licensing.md` in the Toru repository is the normative description, and
//! `docs/licensing/test-vectors.json` holds keys with their expected verdicts, checked by this
//! crate's tests and by the Python SDK's.
//!
//! ```
//! use std::time::SystemTime;
//! use toru_plugin_api::license::{self, VerifyingKey};
//!
//! // The vendor's Ed25519 public key, as `toru-license keygen --alg ed25519` printed it; built
//! // once, at start.
//! let vendor = VerifyingKey::ed25519_base64url("IVL40Zt5HSRFMkLhXy6rbLfP-ntqXtMAl5YOBpiB2xI")?;
//!
//! // What the administrator installed (PluginContext::license_key), and where we run
//! // (PluginContext::instance_id).
//! let key = "TORU1.eyJ2IjoxLCJhbGciOiJFZERTQSIsInBsdWdpbiI6ImFjbWUtYmFja3VwIiwiaW5zdGFuY2UiOiIwYjhl\
//!            MGIzZS01ZDJhLTRjNDEtOWE1My0yZjFmMWU2ZjdhMTAiLCJsaWNlbnNlZSI6IiIsImlhdCI6MTc2NzIyNTYw\
//!            MH0.dmnjkUYueABoAAqgdtXX88a2wVTyo9d7TnDcUgvyp63dy0hXfhV0qTMtohZH3IpEDSU-5bx23U1aK0T26\
//!            hVfAw";
//! let instance = "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10";
//!
//! let licence = license::verify(key, &vendor, "acme-backup", instance, SystemTime::now())?;
//! assert_eq!(licence.expires_at, None); // this one never expires
//!
//! let elsewhere = "5f0c2a4e-8b1d-4c6f-9e2a-7d3b1c0e9f48";
//! let refused = license::verify(key, &vendor, "acme-backup", elsewhere, SystemTime::now());
//! assert_eq!(
//!     refused.unwrap_err().to_string(),
//!     "the licence key was issued for instance 0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10, this is \
//!      instance 5f0c2a4e-8b1d-4c6f-9e2a-7d3b1c0e9f48; ask the vendor for a key for this instance",
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit as _, Mac as _};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// What every key starts with: the format name and version, and the first separator.
pub const PREFIX: &str = "TORU1.";

/// The largest key, in bytes, a verifier looks at; a longer input is refused before any decoding.
pub const MAX_KEY_LEN: usize = 8 * 1024;

/// The payload format version (`v`) this module understands.
pub const FORMAT_VERSION: u64 = 1;

/// How far the plugin's clock may be ahead of the vendor's: a key is accepted until
/// `exp + CLOCK_SKEW`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The deepest nesting of arrays and objects a payload may have (the payload object itself is
/// depth 1). Version 1 needs 2; the bound keeps every verifier's JSON parser in agreement.
pub const MAX_PAYLOAD_DEPTH: usize = 32;

/// The bytes every whitespace-tolerant step trims around a key: space, tab, CR and LF.
const TRIMMED: [char; 4] = [' ', '\t', '\r', '\n'];

/// A signature algorithm. A verifier is configured for exactly one and refuses keys of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA256 with a secret shared by the vendor and every copy of the plugin. Anyone who
    /// extracts the secret from the plugin's binary can mint keys.
    #[serde(rename = "HS256")]
    Hs256,
    /// Ed25519: the vendor signs with a private key, the plugin ships only the public key.
    /// Recommended.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl Algorithm {
    /// The name used in the payload's `alg`: `HS256` or `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `name` in a payload's `alg` (case-sensitive), if it is one of ours.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Algorithm::Hs256),
            "EdDSA" => Some(Algorithm::EdDsa),
            _ => None,
        }
    }

    /// The length of this algorithm's signature in bytes: 32 for HS256, 64 for EdDSA.
    pub fn signature_len(self) -> usize {
        match self {
            Algorithm::Hs256 => 32,
            Algorithm::EdDsa => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A licence: the payload of a key. [`verify`] returns it once every check passed.
///
/// It serializes to the payload's canonical JSON (the field order and names of the wire format,
/// `exp` and `features` left out when absent), which is what issuers write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct License {
    /// Format version, `v`; always [`FORMAT_VERSION`].
    #[serde(rename = "v")]
    pub version: u64,
    /// The signature algorithm, `alg`.
    #[serde(rename = "alg")]
    pub algorithm: Algorithm,
    /// The plugin id the key is for, `plugin`.
    pub plugin: String,
    /// The Toru instance id (a lower-case UUID) the key is for, `instance`.
    pub instance: String,
    /// Who bought it, `licensee`; free text, possibly empty.
    pub licensee: String,
    /// When it was issued, `iat`, in Unix seconds. Informational: never compared with the clock.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// The first second at which it is no longer valid, `exp`, in Unix seconds; `None` for a
    /// key that never expires.
    #[serde(rename = "exp", skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// What the licence unlocks, `features`; the plugin decides what the names mean.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl License {
    /// Whether the licence unlocks `feature`.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// When the licence stops being valid (before the clock-skew allowance), if ever.
    ///
    /// `None` also for an `exp` past the end of `SystemTime` (about 2^63 s on Linux): no clock
    /// reaches it, so such a licence never expires either, and [`Self::check_expiry`] agrees.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires_at
            .and_then(|exp| UNIX_EPOCH.checked_add(Duration::from_secs(exp)))
    }

    /// Checks the expiry alone, as [`verify`] does: valid while `now < exp + CLOCK_SKEW`.
    ///
    /// [`verify`] checks it once; a long-running plugin calls this again (e.g. per request) to
    /// notice a licence that expires while it runs.
    pub fn check_expiry(&self, now: SystemTime) -> Result<(), LicenseError> {
        let Some(exp) = self.expires_at else {
            return Ok(());
        };
        let now = unix_seconds(now);
        if now >= exp.saturating_add(CLOCK_SKEW.as_secs()) {
            Err(LicenseError::Expired {
                expired_at: exp,
                now,
            })
        } else {
            Ok(())
        }
    }
}

/// What a verifier checks signatures with. Built once, at plugin start, from constants compiled
/// into the plugin.
#[derive(Clone)]
pub enum VerifyingKey {
    /// The HMAC-SHA256 secret, shared with the vendor's issuing tool (32 random bytes from
    /// `toru-license keygen --alg hmac`). Whoever extracts it from the plugin can mint keys.
    Hmac(Vec<u8>),
    /// The vendor's Ed25519 public key.
    Ed25519(Ed25519PublicKey),
}

impl VerifyingKey {
    /// An HMAC-SHA256 verifier with `secret`.
    pub fn hmac(secret: impl Into<Vec<u8>>) -> Self {
        VerifyingKey::Hmac(secret.into())
    }

    /// An HMAC-SHA256 verifier with a secret written as unpadded base64url (the `secret` of the
    /// file `toru-license keygen --alg hmac` writes).
    pub fn hmac_base64url(secret: &str) -> Result<Self, VerifyingKeyError> {
        let bytes = decode_b64url(secret.trim_matches(TRIMMED))
            .map_err(|e| VerifyingKeyError(format!("the HMAC secret is not base64url: {e}")))?;
        if bytes.is_empty() {
            return Err(VerifyingKeyError("the HMAC secret is empty".into()));
        }
        Ok(VerifyingKey::Hmac(bytes))
    }

    /// An Ed25519 verifier with the 32-byte public key `public_key`.
    pub fn ed25519(public_key: &[u8; 32]) -> Result<Self, VerifyingKeyError> {
        Ed25519PublicKey::from_bytes(public_key).map(VerifyingKey::Ed25519)
    }

    /// An Ed25519 verifier with a public key written as unpadded base64url, as
    /// `toru-license keygen --alg ed25519` prints it.
    pub fn ed25519_base64url(public_key: &str) -> Result<Self, VerifyingKeyError> {
        Ed25519PublicKey::from_base64url(public_key).map(VerifyingKey::Ed25519)
    }

    /// The one algorithm this verifier accepts.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            VerifyingKey::Hmac(_) => Algorithm::Hs256,
            VerifyingKey::Ed25519(_) => Algorithm::EdDsa,
        }
    }

    /// Checks `signature` over `signed` (the ASCII bytes `TORU1.<payload>`).
    fn check(&self, signed: &[u8], signature: &[u8]) -> Result<(), LicenseError> {
        let expected = self.algorithm().signature_len();
        if signature.len() != expected {
            return Err(LicenseError::BadSignature(format!(
                "the signature is {} bytes, {} needs {expected}",
                signature.len(),
                self.algorithm()
            )));
        }
        let valid = match self {
            VerifyingKey::Hmac(secret) => {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
                    .expect("HMAC accepts a key of any length");
                mac.update(signed);
                // Constant time: `verify_slice` compares with `subtle::ConstantTimeEq`.
                mac.verify_slice(signature).is_ok()
            }
            VerifyingKey::Ed25519(public) => {
                let signature = ed25519_dalek::Signature::from_slice(signature)
                    .expect("the length was checked above");
                public.0.verify_strict(signed, &signature).is_ok()
            }
        };
        if valid {
            Ok(())
        } else {
            Err(LicenseError::BadSignature(
                "it was not issued with this plugin's vendor key, or it was altered".into(),
            ))
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyingKey::Hmac(secret) => write!(f, "Hmac(<{} secret bytes>)", secret.len()),
            VerifyingKey::Ed25519(public) => f.debug_tuple("Ed25519").field(public).finish(),
        }
    }
}

/// A vendor's Ed25519 public key: a valid point that is not of small order.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey(ed25519_dalek::VerifyingKey);

impl Ed25519PublicKey {
    /// The key with these 32 bytes; refused when they are not a point, or a weak (small-order)
    /// one that would accept forged signatures.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, VerifyingKeyError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| {
            VerifyingKeyError("the Ed25519 public key is not a valid curve point".into())
        })?;
        if key.is_weak() {
            return Err(VerifyingKeyError(
                "the Ed25519 public key is a weak (small-order) point".into(),
            ));
        }
        Ok(Self(key))
    }

    /// The key written as unpadded base64url (43 characters).
    pub fn from_base64url(text: &str) -> Result<Self, VerifyingKeyError> {
        let bytes = decode_b64url(text.trim_matches(TRIMMED)).map_err(|e| {
            VerifyingKeyError(format!("the Ed25519 public key is not base64url: {e}"))
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            VerifyingKeyError(format!(
                "the Ed25519 public key is {} bytes, it must be 32",
                b.len()
            ))
        })?;
        Self::from_bytes(&bytes)
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key as unpadded base64url, the form `toru-license` prints.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ed25519PublicKey")
            .field(&self.to_base64url())
            .finish()
    }
}

/// A [`VerifyingKey`] could not be built: the plugin's embedded key material is wrong. A bug in
/// the plugin, not a problem with any licence key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid licence verifying key: {0}")]
pub struct VerifyingKeyError(String);

/// The kind of a [`LicenseError`], as a stable name: the `expect` of the test vectors and the
/// `kind` of the Python SDK's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LicenseErrorKind {
    /// `missing`: no key was given at all (only from [`crate::PluginContext::verify_license`]).
    Missing,
    /// `empty`: the key is empty or only whitespace.
    Empty,
    /// `too_large`: the key is longer than [`MAX_KEY_LEN`] bytes.
    TooLarge,
    /// `bad_prefix`: the key does not start with [`PREFIX`].
    BadPrefix,
    /// `malformed`: not two non-empty canonical base64url parts after the prefix.
    Malformed,
    /// `bad_payload`: the payload is not a valid JSON object of the version-1 shape.
    BadPayload,
    /// `unsupported_version`: `v` is not 1.
    UnsupportedVersion,
    /// `unknown_algorithm`: `alg` names no algorithm this format has.
    UnknownAlgorithm,
    /// `algorithm_mismatch`: `alg` is the other algorithm than the verifier's.
    AlgorithmMismatch,
    /// `bad_signature`: the signature does not verify (a forged or altered key).
    BadSignature,
    /// `wrong_plugin`: issued for another plugin.
    WrongPlugin,
    /// `wrong_instance`: issued for another Toru installation.
    WrongInstance,
    /// `expired`: past `exp` plus [`CLOCK_SKEW`].
    Expired,
}

impl LicenseErrorKind {
    /// Every kind, in verification order.
    pub const ALL: [LicenseErrorKind; 13] = [
        LicenseErrorKind::Missing,
        LicenseErrorKind::Empty,
        LicenseErrorKind::TooLarge,
        LicenseErrorKind::BadPrefix,
        LicenseErrorKind::Malformed,
        LicenseErrorKind::BadPayload,
        LicenseErrorKind::UnsupportedVersion,
        LicenseErrorKind::UnknownAlgorithm,
        LicenseErrorKind::AlgorithmMismatch,
        LicenseErrorKind::BadSignature,
        LicenseErrorKind::WrongPlugin,
        LicenseErrorKind::WrongInstance,
        LicenseErrorKind::Expired,
    ];

    /// The kind's stable snake_case name, e.g. `wrong_instance`.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseErrorKind::Missing => "missing",
            LicenseErrorKind::Empty => "empty",
            LicenseErrorKind::TooLarge => "too_large",
            LicenseErrorKind::BadPrefix => "bad_prefix",
            LicenseErrorKind::Malformed => "malformed",
            LicenseErrorKind::BadPayload => "bad_payload",
            LicenseErrorKind::UnsupportedVersion => "unsupported_version",
            LicenseErrorKind::UnknownAlgorithm => "unknown_algorithm",
            LicenseErrorKind::AlgorithmMismatch => "algorithm_mismatch",
            LicenseErrorKind::BadSignature => "bad_signature",
            LicenseErrorKind::WrongPlugin => "wrong_plugin",
            LicenseErrorKind::WrongInstance => "wrong_instance",
            LicenseErrorKind::Expired => "expired",
        }
    }
}

impl fmt::Display for LicenseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`LicenseErrorKind`]'s (e.g. a kind a newer plugin reports).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown licence failure kind {0:?}")]
pub struct UnknownLicenseErrorKind(pub String);

impl std::str::FromStr for LicenseErrorKind {
    type Err = UnknownLicenseErrorKind;

    /// The kind named `name` ([`LicenseErrorKind::as_str`]), so a reported kind is compared as
    /// a kind, not as a string.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        LicenseErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownLicenseErrorKind(name.to_owned()))
    }
}

/// Why a licence key was refused. The message says what is wrong and what to do about it; show
/// it to the administrator as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LicenseError {
    /// No key was given to the plugin.
    #[error(
        "no licence key is installed for this plugin; ask the plugin's vendor for one, \
         issued for this Toru instance"
    )]
    Missing,
    /// The key is empty or only whitespace.
    #[error("the licence key is empty; paste the whole key, it starts with \"TORU1.\"")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`].
    #[error(
        "the licence key is {len} bytes, more than the {MAX_KEY_LEN} a key may have; \
         paste only the key, exactly as issued"
    )]
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// The key does not start with `TORU1.`.
    #[error("this is not a Toru licence key: it must start with \"TORU1.\"")]
    BadPrefix,
    /// The key's structure or encoding is broken.
    #[error("the licence key is damaged ({0}); copy it again, exactly as issued")]
    Malformed(String),
    /// The payload is not a valid version-1 payload.
    #[error("the licence key's payload is invalid ({0}); ask the vendor for a new key")]
    BadPayload(String),
    /// The payload's format version is not 1.
    #[error(
        "the licence key has format version {found}, this plugin understands version \
         {FORMAT_VERSION}; update the plugin or ask the vendor for a version-{FORMAT_VERSION} key"
    )]
    UnsupportedVersion {
        /// The `v` found, as JSON.
        found: String,
    },
    /// The payload names an algorithm this format does not have.
    #[error(
        "the licence key uses the signature algorithm {found}, which is not one of HS256 \
         and EdDSA; ask the vendor for a new key"
    )]
    UnknownAlgorithm {
        /// The `alg` found, as JSON.
        found: String,
    },
    /// The key is signed with the other algorithm than the plugin verifies.
    #[error(
        "the licence key is signed with {key}, but this plugin accepts only {expected} keys; \
         ask the vendor for an {expected} key"
    )]
    AlgorithmMismatch {
        /// The key's algorithm.
        key: Algorithm,
        /// The verifier's algorithm.
        expected: Algorithm,
    },
    /// The signature does not verify.
    #[error("the licence key's signature is invalid: {0}")]
    BadSignature(String),
    /// The key is for another plugin.
    #[error("the licence key was issued for plugin {key:?}, this is plugin {expected:?}")]
    WrongPlugin {
        /// The key's plugin id.
        key: String,
        /// This plugin's id.
        expected: String,
    },
    /// The key is for another Toru installation.
    #[error(
        "the licence key was issued for instance {key}, this is instance {expected}; \
         ask the vendor for a key for this instance"
    )]
    WrongInstance {
        /// The key's instance id.
        key: String,
        /// This installation's instance id.
        expected: String,
    },
    /// The key has expired.
    #[error(
        "the licence key expired at {} (it is now {}, and {} s are allowed for clock skew); \
         ask the vendor to renew it",
        utc(*expired_at),
        utc(*now),
        CLOCK_SKEW.as_secs()
    )]
    Expired {
        /// The key's `exp`, Unix seconds.
        expired_at: u64,
        /// The time it was checked at, Unix seconds.
        now: u64,
    },
}

impl LicenseError {
    /// The error's kind.
    pub fn kind(&self) -> LicenseErrorKind {
        match self {
            LicenseError::Missing => LicenseErrorKind::Missing,
            LicenseError::Empty => LicenseErrorKind::Empty,
            LicenseError::TooLarge { .. } => LicenseErrorKind::TooLarge,
            LicenseError::BadPrefix => LicenseErrorKind::BadPrefix,
            LicenseError::Malformed(_) => LicenseErrorKind::Malformed,
            LicenseError::BadPayload(_) => LicenseErrorKind::BadPayload,
            LicenseError::UnsupportedVersion { .. } => LicenseErrorKind::UnsupportedVersion,
            LicenseError::UnknownAlgorithm { .. } => LicenseErrorKind::UnknownAlgorithm,
            LicenseError::AlgorithmMismatch { .. } => LicenseErrorKind::AlgorithmMismatch,
            LicenseError::BadSignature(_) => LicenseErrorKind::BadSignature,
            LicenseError::WrongPlugin { .. } => LicenseErrorKind::WrongPlugin,
            LicenseError::WrongInstance { .. } => LicenseErrorKind::WrongInstance,
            LicenseError::Expired { .. } => LicenseErrorKind::Expired,
        }
    }
}

/// Verifies a licence key, offline, in the order of `docs/licensing.md`: size, structure and
/// encoding, payload, version, algorithm, signature, plugin id, instance id, expiry. The first
/// failure is returned.
///
/// - `key`: the key as installed; surrounding spaces, tabs and line breaks are ignored.
/// - `verifier`: the vendor's key compiled into the plugin; its algorithm is the only one
///   accepted.
/// - `plugin_id`: this plugin's id, as in its metadata.
/// - `instance_id`: this Toru installation's id, [`crate::PluginContext::instance_id`].
/// - `now`: the current time; a key is valid until its `exp` plus [`CLOCK_SKEW`].
pub fn verify(
    key: &str,
    verifier: &VerifyingKey,
    plugin_id: &str,
    instance_id: &str,
    now: SystemTime,
) -> Result<License, LicenseError> {
    let decoded = decode(key)?;
    let license = decoded.license;
    if license.algorithm != verifier.algorithm() {
        return Err(LicenseError::AlgorithmMismatch {
            key: license.algorithm,
            expected: verifier.algorithm(),
        });
    }
    verifier.check(decoded.signed.as_bytes(), &decoded.signature)?;
    if license.plugin != plugin_id {
        return Err(LicenseError::WrongPlugin {
            key: license.plugin,
            expected: plugin_id.to_owned(),
        });
    }
    if license.instance != instance_id {
        return Err(LicenseError::WrongInstance {
            key: license.instance,
            expected: instance_id.to_owned(),
        });
    }
    license.check_expiry(now)?;
    Ok(license)
}

/// Decodes a key **without verifying it**: the checks of [`verify`] up to the algorithm name,
/// then nothing. Anyone can write a key that decodes; use this only to show what a key claims
/// (as `toru-license inspect` does), never to decide anything.
pub fn decode_unverified(key: &str) -> Result<License, LicenseError> {
    decode(key).map(|d| d.license)
}

/// A key taken apart: the signed text, the signature and the payload.
struct Decoded<'a> {
    signed: &'a str,
    signature: Vec<u8>,
    license: License,
}

/// Steps 1 to 8 of the verification (`docs/licensing.md`, section 5): all that needs no verifier.
fn decode(key: &str) -> Result<Decoded<'_>, LicenseError> {
    if key.len() > MAX_KEY_LEN {
        return Err(LicenseError::TooLarge { len: key.len() });
    }
    let key = key.trim_matches(TRIMMED);
    if key.is_empty() {
        return Err(LicenseError::Empty);
    }
    let Some(rest) = key.strip_prefix(PREFIX) else {
        return Err(LicenseError::BadPrefix);
    };
    let (payload_b64, signature_b64) = match rest.split('.').collect::<Vec<_>>()[..] {
        [p, s] if !p.is_empty() && !s.is_empty() => (p, s),
        _ => {
            return Err(LicenseError::Malformed(
                "expected TORU1.<payload>.<signature>".into(),
            ));
        }
    };
    let payload = decode_b64url(payload_b64)
        .map_err(|e| LicenseError::Malformed(format!("the payload is not base64url: {e}")))?;
    let signature = decode_b64url(signature_b64)
        .map_err(|e| LicenseError::Malformed(format!("the signature is not base64url: {e}")))?;
    let license = parse_payload(&payload)?;
    Ok(Decoded {
        signed: &key[..PREFIX.len() + payload_b64.len()],
        signature,
        license,
    })
}

/// Unpadded, canonical base64url: only `A–Z a–z 0–9 - _`, no `=`, unused bits zero.
fn decode_b64url(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// The payload as it must be on the wire, before the algorithm is interpreted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePayload {
    // `v` was checked before this shape is, and is only here to be allowed.
    #[allow(dead_code)]
    v: u64,
    alg: String,
    plugin: String,
    instance: String,
    licensee: String,
    iat: u64,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    features: Option<Vec<String>>,
}

/// Payload bytes to a licence: JSON (unique member names, bounded depth), version, shape,
/// algorithm name.
fn parse_payload(bytes: &[u8]) -> Result<License, LicenseError> {
    let bad = |reason: String| LicenseError::BadPayload(reason);
    let StrictValue(value) =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad("not a JSON object".into()));
    };
    if depth_of_object(&map) > MAX_PAYLOAD_DEPTH {
        return Err(bad(format!(
            "nested deeper than {MAX_PAYLOAD_DEPTH} levels"
        )));
    }
    match map.get("v") {
        None => return Err(bad("it has no \"v\"".into())),
        Some(Value::Number(n)) if n.as_u64() == Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(LicenseError::UnsupportedVersion {
                found: other.to_string(),
            });
        }
    }
    let wire: WirePayload =
        serde_json::from_value(Value::Object(map)).map_err(|e| bad(e.to_string()))?;
    let Some(algorithm) = Algorithm::from_name(&wire.alg) else {
        return Err(LicenseError::UnknownAlgorithm {
            found: Value::String(wire.alg).to_string(),
        });
    };
    Ok(License {
        version: FORMAT_VERSION,
        algorithm,
        plugin: wire.plugin,
        instance: wire.instance,
        licensee: wire.licensee,
        issued_at: wire.iat,
        expires_at: wire.exp,
        features: wire.features.unwrap_or_default(),
    })
}

/// The nesting depth of an object: 1 plus the deepest of its values (scalars count 0).
fn depth_of_object(map: &Map<String, Value>) -> usize {
    1 + map.values().map(depth).max().unwrap_or(0)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => depth_of_object(map),
        _ => 0,
    }
}

/// A JSON value parsed like [`Value`] except that an object naming a member twice is an error,
/// at any depth: two parsers must never disagree on which of two `instance`s counts.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        let mut seen = BTreeSet::new();
        while let Some(name) = access.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(de::Error::custom(format_args!(
                    "the member {name:?} appears twice"
                )));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

/// `now` as whole Unix seconds; a time before 1970 counts as 0.
fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix seconds as an RFC 3339 UTC time, e.g. `2026-01-01T00:00:00Z`, for messages.
pub(crate) fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); H. Hinnant's algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name_and_others_are_refused() {
        for kind in LicenseErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<LicenseErrorKind>(), Ok(kind));
        }
        assert_eq!(
            "unchecked".parse::<LicenseErrorKind>(),
            Err(UnknownLicenseErrorKind("unchecked".to_owned()))
        );
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(utc(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(utc(4_102_444_800), "2100-01-01T00:00:00Z");
        // Far out of range of any calendar library, and still no overflow.
        assert!(utc(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn strict_json_refuses_duplicates_at_any_depth() {
        let parse = |s: &str| serde_json::from_str::<StrictValue>(s).map(|v| v.0);
        assert!(parse(r#"{"a":1,"b":{"c":[{"d":1}]}}"#).is_ok());
        assert!(parse(r#"{"a":1,"a":1}"#).is_err());
        assert!(parse(r#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse(r#"{"a":[{"b":1,"b":2}]}"#).is_err());
    }

    #[test]
    fn depth_counts_the_payload_object_as_one() {
        let v: Value = serde_json::from_str(r#"{"a":1,"f":["x"],"o":{"p":[[]]}}"#).unwrap();
        let Value::Object(map) = v else { panic!() };
        assert_eq!(depth_of_object(&map), 4);
    }
}
