//! Licence keys: `toru_plugin_api::license` (`verify`, `decode_unverified`, what a plugin runs
//! on a key an administrator pasted) and `toru_license::issue` (the vendor's side).
//!
//! Input, one of:
//! - `Key`: any text as a key, verified with the test-vector HMAC secret and Ed25519 key;
//! - `Payload`: any payload bytes, *correctly signed* with the HMAC test secret (so the fuzzer
//!   gets past the signature and reaches every later check), verified against a plugin id,
//!   instance and time that are either the payload's own or arbitrary;
//! - `Issue`: any licence, issued with the HMAC test secret.
//!
//! The first byte says how to read the rest: `K` then a key (UTF-8), checked as plugin
//! `acme-backup` on the test vectors' instance at their time; `P` then payload bytes; anything
//! else is structured input (`arbitrary`) for any of the three. The hand-made seeds in
//! `corpus/license_key/` are `K` keys from `docs/licensing/test-vectors.json` and `P` payloads.
//!
//! Properties checked, beyond "never panics":
//! - `verify` fails at the first failing step of `docs/licensing.md`: whatever
//!   `decode_unverified` refuses, `verify` refuses with the same error, and a correctly signed
//!   key is refused only for its algorithm, plugin, instance or expiry, in that order;
//! - a key over `MAX_KEY_LEN` bytes is `too_large`, whatever it holds;
//! - an accepted licence is what the key says (`decode_unverified` agrees), and issuing it again
//!   gives a key that verifies to the same licence (round trip);
//! - `issue` never makes a key that its own verifier refuses (`IssueError::SelfCheck`), and
//!   what it issues verifies at the issue time.

#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use toru_license::{IssueError, SigningKey, issue, sign_payload};
use toru_plugin_api::license::{
    self, Algorithm, License, LicenseError, LicenseErrorKind, MAX_KEY_LEN, VerifyingKey,
};

/// The test vectors' HMAC secret (`docs/licensing/test-vectors.json`, `hmac`).
const HMAC_SECRET: &str = "dG9ydS1saWNlbnNlIHRlc3QgdmVjdG9yIHNlY3JldCE";
/// The test vectors' Ed25519 public key (`ed25519`).
const ED25519_PUBLIC: &str = "IVL40Zt5HSRFMkLhXy6rbLfP-ntqXtMAl5YOBpiB2xI";

static HMAC: LazyLock<VerifyingKey> =
    LazyLock::new(|| VerifyingKey::hmac_base64url(HMAC_SECRET).expect("test secret"));
static ED25519: LazyLock<VerifyingKey> =
    LazyLock::new(|| VerifyingKey::ed25519_base64url(ED25519_PUBLIC).expect("test key"));
static SIGNER: LazyLock<SigningKey> = LazyLock::new(|| {
    let VerifyingKey::Hmac(secret) = &*HMAC else {
        unreachable!()
    };
    SigningKey::Hmac(secret.clone())
});

#[derive(Debug, Arbitrary)]
enum Input {
    Key {
        key: String,
        plugin: String,
        instance: String,
        now: u64,
    },
    Payload {
        payload: Vec<u8>,
        plugin: Option<String>,
        instance: Option<String>,
        now: Option<u64>,
    },
    Issue {
        plugin: String,
        instance: String,
        licensee: String,
        issued_at: u64,
        expires_at: Option<u64>,
        features: Vec<String>,
    },
}

/// The test vectors' plugin, instance and time, for `K` inputs.
const VECTOR_PLUGIN: &str = "acme-backup";
const VECTOR_INSTANCE: &str = "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10";
const VECTOR_NOW: u64 = 1_782_864_000;

fuzz_target!(|data: &[u8]| {
    let input = match data {
        [b'K', key @ ..] => {
            let Ok(key) = std::str::from_utf8(key) else {
                return;
            };
            Input::Key {
                key: key.to_owned(),
                plugin: VECTOR_PLUGIN.to_owned(),
                instance: VECTOR_INSTANCE.to_owned(),
                now: VECTOR_NOW,
            }
        }
        [b'P', payload @ ..] => Input::Payload {
            payload: payload.to_vec(),
            plugin: None,
            instance: None,
            now: None,
        },
        _ => match Input::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    run(input);
});

/// Checks one input; see the module's doc.
fn run(input: Input) {
    match input {
        Input::Key {
            key,
            plugin,
            instance,
            now,
        } => {
            let now = time(now);
            let decoded = license::decode_unverified(&key);
            if key.len() > MAX_KEY_LEN {
                assert_eq!(kind(&decoded), Some(LicenseErrorKind::TooLarge));
            }
            if let Ok(licence) = &decoded {
                let _ = licence.expires();
                let _ = licence.check_expiry(now);
            }
            for verifier in [&*HMAC, &*ED25519] {
                let verified = license::verify(&key, verifier, &plugin, &instance, now);
                match (&decoded, &verified) {
                    (Err(d), Err(v)) => assert_eq!(d, v, "verify and decode disagree"),
                    (Err(d), Ok(_)) => panic!("decode refused ({d}) what verify accepted"),
                    (Ok(d), Ok(v)) => assert_eq!(d, v, "verify returned another licence"),
                    (Ok(_), Err(e)) => assert!(e.kind() >= LicenseErrorKind::AlgorithmMismatch),
                }
                if let Ok(licence) = verified {
                    check_reissue(&licence, now);
                }
            }
        }
        Input::Payload {
            payload,
            plugin,
            instance,
            now,
        } => {
            let key = sign_payload(&payload, &SIGNER);
            let decoded = license::decode_unverified(&key);
            let claimed = decoded.as_ref().ok();
            // Mostly the key's own plugin, instance and a time before its expiry, to get far.
            let plugin = plugin
                .or_else(|| claimed.map(|l| l.plugin.clone()))
                .unwrap_or_default();
            let instance = instance
                .or_else(|| claimed.map(|l| l.instance.clone()))
                .unwrap_or_default();
            let now = time(now.unwrap_or_else(|| claimed.map_or(0, |l| l.issued_at)));
            let verified = license::verify(&key, &HMAC, &plugin, &instance, now);
            let expected: Result<License, LicenseErrorKind> = match decoded {
                Err(e) => Err(e.kind()),
                Ok(l) if l.algorithm != Algorithm::Hs256 => {
                    Err(LicenseErrorKind::AlgorithmMismatch)
                }
                Ok(l) if l.plugin != plugin => Err(LicenseErrorKind::WrongPlugin),
                Ok(l) if l.instance != instance => Err(LicenseErrorKind::WrongInstance),
                Ok(l) => l.check_expiry(now).map(|()| l).map_err(|e| e.kind()),
            };
            if key.len() > MAX_KEY_LEN {
                assert_eq!(expected, Err(LicenseErrorKind::TooLarge));
            }
            assert_eq!(
                verified.clone().map_err(|e| e.kind()),
                expected,
                "a correctly signed key got the wrong verdict"
            );
            if let Ok(licence) = verified {
                check_reissue(&licence, now);
            }
        }
        Input::Issue {
            plugin,
            instance,
            licensee,
            issued_at,
            expires_at,
            features,
        } => {
            let licence = License {
                version: license::FORMAT_VERSION,
                algorithm: Algorithm::Hs256,
                plugin,
                instance,
                licensee,
                issued_at,
                expires_at,
                features,
            };
            match issue(&licence, &SIGNER) {
                Ok(key) => {
                    assert!(
                        key.len() <= MAX_KEY_LEN,
                        "issued a key of {} bytes",
                        key.len()
                    );
                    let at = time(licence.issued_at);
                    let verified =
                        license::verify(&key, &HMAC, &licence.plugin, &licence.instance, at);
                    assert_eq!(
                        verified.as_ref(),
                        Ok(&licence),
                        "an issued key does not verify"
                    );
                }
                Err(IssueError::SelfCheck(e)) => {
                    panic!("issue made a key its verifier refuses: {e}")
                }
                Err(_) => {}
            }
        }
    }
}

/// Unix seconds as a time, saturating where `SystemTime` ends.
fn time(secs: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or_else(|| UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2))
}

fn kind<T>(result: &Result<T, LicenseError>) -> Option<LicenseErrorKind> {
    result.as_ref().err().map(LicenseError::kind)
}

/// An accepted licence, issued again by the vendor's tool, verifies to the same licence.
fn check_reissue(licence: &License, now: SystemTime) {
    let _ = licence.expires();
    if licence.algorithm != Algorithm::Hs256 {
        return;
    }
    match issue(licence, &SIGNER) {
        Ok(key) => {
            let again = license::verify(&key, &HMAC, &licence.plugin, &licence.instance, now);
            assert_eq!(again.as_ref(), Ok(licence), "the re-issued key differs");
        }
        // The tool is stricter than the verifier (plugin id, UUID form, empty features).
        Err(IssueError::Invalid(_)) => {}
        Err(e) => panic!("re-issuing an accepted licence failed: {e}"),
    }
}
