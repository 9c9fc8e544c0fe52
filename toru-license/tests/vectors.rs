//! `docs/licensing/test-vectors.json` is generated here, deterministically (HMAC and Ed25519
//! signatures are both deterministic), and this test fails when the committed file differs from
//! what the generator makes. After changing a vector:
//!
//! ```sh
//! TORU_WRITE_VECTORS=1 cargo test -p toru-license --test vectors
//! ```
//!
//! The expectations below are written by hand, not computed by the verifier: the Rust SDK's
//! `tests/license.rs` and the Python SDK's `tests/test_license.py` check their verifiers
//! against them.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use toru_license::{SigningKey, issue, sign_payload};
use toru_plugin_api::license::{
    Algorithm, CLOCK_SKEW, FORMAT_VERSION, License, MAX_KEY_LEN, MAX_PAYLOAD_DEPTH,
};

const PLUGIN: &str = "acme-backup";
const INSTANCE: &str = "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10";
const OTHER_INSTANCE: &str = "5f0c2a4e-8b1d-4c6f-9e2a-7d3b1c0e9f48";
/// 2026-01-01T00:00:00Z
const IAT: u64 = 1_767_225_600;
/// 2026-07-01T00:00:00Z, when most vectors are verified.
const NOW: u64 = 1_782_864_000;
/// 2027-01-01T00:00:00Z
const NEXT_YEAR: u64 = 1_798_761_600;
/// 2026-06-01T00:00:00Z, the expiry of the clock-skew vectors.
const JUNE: u64 = 1_780_272_000;

const HMAC_SECRET: &[u8; 32] = b"toru-license test vector secret!";
const OTHER_HMAC_SECRET: &[u8; 32] = b"another vendor's secret, 32 b.!!";
const ED25519_SEED: [u8; 32] = [0x42; 32];
const OTHER_ED25519_SEED: [u8; 32] = [0x17; 32];

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/licensing/test-vectors.json")
}

#[derive(Serialize)]
struct File {
    description: &'static str,
    format: &'static str,
    max_key_bytes: usize,
    clock_skew_seconds: u64,
    max_payload_depth: usize,
    error_kinds: Vec<&'static str>,
    test_keys: Vec<TestKey>,
    vectors: Vec<Vector>,
}

/// The signing keys the vectors were made with, so other implementations can add vectors.
#[derive(Serialize)]
struct TestKey {
    name: &'static str,
    alg: Algorithm,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
}

#[derive(Serialize)]
struct Vector {
    name: String,
    description: String,
    key: String,
    verifier: Verifier,
    plugin: &'static str,
    instance: &'static str,
    now: u64,
    expect: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    license: Option<License>,
}

/// What the plugin verifies with: exactly what it would compile in.
#[derive(Serialize, Clone)]
#[serde(tag = "alg")]
enum Verifier {
    #[serde(rename = "HS256")]
    Hmac { secret: String },
    #[serde(rename = "EdDSA")]
    Ed25519 { public_key: String },
}

struct Keys {
    hmac: SigningKey,
    other_hmac: SigningKey,
    ed25519: SigningKey,
    other_ed25519: SigningKey,
}

impl Keys {
    fn new() -> Self {
        Keys {
            hmac: SigningKey::Hmac(HMAC_SECRET.to_vec()),
            other_hmac: SigningKey::Hmac(OTHER_HMAC_SECRET.to_vec()),
            ed25519: SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED)),
            other_ed25519: SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                &OTHER_ED25519_SEED,
            )),
        }
    }

    fn signer(&self, alg: Algorithm) -> &SigningKey {
        match alg {
            Algorithm::Hs256 => &self.hmac,
            Algorithm::EdDsa => &self.ed25519,
        }
    }

    fn other_signer(&self, alg: Algorithm) -> &SigningKey {
        match alg {
            Algorithm::Hs256 => &self.other_hmac,
            Algorithm::EdDsa => &self.other_ed25519,
        }
    }
}

fn verifier(key: &SigningKey) -> Verifier {
    match key {
        SigningKey::Hmac(secret) => Verifier::Hmac {
            secret: URL_SAFE_NO_PAD.encode(secret),
        },
        SigningKey::Ed25519(_) => Verifier::Ed25519 {
            public_key: key.public_key_base64url().unwrap(),
        },
    }
}

fn licence(alg: Algorithm) -> License {
    License {
        version: FORMAT_VERSION,
        algorithm: alg,
        plugin: PLUGIN.into(),
        instance: INSTANCE.into(),
        licensee: "Müller & Søn GmbH".into(),
        issued_at: IAT,
        expires_at: Some(NEXT_YEAR),
        features: vec!["pro".into(), "backup-s3".into()],
    }
}

/// The parts of a key.
fn split(key: &str) -> (&str, &str) {
    let rest = key.strip_prefix("TORU1.").unwrap();
    rest.split_once('.').unwrap()
}

/// A key with this payload and the signature of another key (the payload was altered).
fn with_payload(key: &str, payload: &[u8]) -> String {
    let (_, sig) = split(key);
    format!("TORU1.{}.{sig}", URL_SAFE_NO_PAD.encode(payload))
}

/// A key with these signature bytes.
fn with_signature(key: &str, signature: &[u8]) -> String {
    let (payload, _) = split(key);
    format!("TORU1.{payload}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn signature_of(key: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(split(key).1).unwrap()
}

struct Builder<'a> {
    keys: &'a Keys,
    vectors: Vec<Vector>,
}

impl Builder<'_> {
    /// A vector verified for PLUGIN and INSTANCE at NOW.
    fn add(
        &mut self,
        name: &str,
        description: &str,
        key: String,
        by: Verifier,
        expect: &'static str,
    ) {
        self.add_at(name, description, key, by, NOW, expect, None);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_at(
        &mut self,
        name: &str,
        description: &str,
        key: String,
        by: Verifier,
        now: u64,
        expect: &'static str,
        license: Option<License>,
    ) {
        assert_eq!(expect == "ok", license.is_some(), "{name}");
        assert!(
            self.vectors.iter().all(|v| v.name != name),
            "duplicate vector name {name}"
        );
        self.vectors.push(Vector {
            name: name.into(),
            description: description.into(),
            key,
            verifier: by,
            plugin: PLUGIN,
            instance: INSTANCE,
            now,
            expect,
            license,
        });
    }

    fn ok(&mut self, name: &str, description: &str, key: String, by: Verifier, l: License) {
        self.add_at(name, description, key, by, NOW, "ok", Some(l));
    }

    /// A payload signed with the HS256 test key, verified with it.
    fn raw(&mut self, name: &str, description: &str, payload: &[u8], expect: &'static str) {
        let key = sign_payload(payload, &self.keys.hmac);
        let by = verifier(&self.keys.hmac);
        self.add(name, description, key, by, expect);
    }
}

/// The payload of a valid HS256 licence as JSON text with `edit` applied to the member list.
fn payload_with(edit: impl FnOnce(&mut Vec<(String, String)>)) -> Vec<u8> {
    let mut members: Vec<(String, String)> = vec![
        ("v".into(), "1".into()),
        ("alg".into(), "\"HS256\"".into()),
        ("plugin".into(), format!("\"{PLUGIN}\"")),
        ("instance".into(), format!("\"{INSTANCE}\"")),
        ("licensee".into(), "\"Ada\"".into()),
        ("iat".into(), IAT.to_string()),
    ];
    edit(&mut members);
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}", body.join(",")).into_bytes()
}

fn set(members: &mut Vec<(String, String)>, name: &str, value: &str) {
    match members.iter_mut().find(|(k, _)| k == name) {
        Some(m) => m.1 = value.into(),
        None => members.push((name.into(), value.into())),
    }
}

fn generate() -> String {
    let keys = Keys::new();
    let mut b = Builder {
        keys: &keys,
        vectors: Vec::new(),
    };

    // Per algorithm: T24 (valid), T25 (forged or altered), T26 (wrong instance), T27 (expiry).
    for alg in [Algorithm::Hs256, Algorithm::EdDsa] {
        let p = alg.as_str().to_lowercase();
        let signer = keys.signer(alg);
        let by = verifier(signer);
        let full = licence(alg);
        let valid = issue(&full, signer).unwrap();
        let bare = License {
            expires_at: None,
            features: vec![],
            licensee: String::new(),
            ..licence(alg)
        };
        let bare_key = issue(&bare, signer).unwrap();
        let expired = License {
            expires_at: Some(NOW - 30 * 86_400),
            ..licence(alg)
        };
        let june = License {
            expires_at: Some(JUNE),
            ..licence(alg)
        };
        let june_key = issue(&june, signer).unwrap();
        let other_signed = issue(&full, keys.other_signer(alg)).unwrap();
        let mut tampered = serde_json::to_value(&full).unwrap();
        tampered["instance"] = OTHER_INSTANCE.into();
        let tampered = with_payload(&valid, &serde_json::to_vec(&tampered).unwrap());
        let mut flipped = signature_of(&valid);
        flipped[5] ^= 0x01;
        let short = &signature_of(&valid)[..alg.signature_len() - 1];
        let wrong_instance = issue(
            &License {
                instance: OTHER_INSTANCE.into(),
                ..licence(alg)
            },
            signer,
        )
        .unwrap();
        let wrong_plugin = issue(
            &License {
                plugin: "acme-restore".into(),
                ..licence(alg)
            },
            signer,
        )
        .unwrap();
        let other_alg = match alg {
            Algorithm::Hs256 => Algorithm::EdDsa,
            Algorithm::EdDsa => Algorithm::Hs256,
        };
        let other_by = verifier(keys.signer(other_alg));
        let skew = CLOCK_SKEW.as_secs();

        b.ok(
            &format!("{p}-valid"),
            "a licence with an expiry in the future and features",
            valid.clone(),
            by.clone(),
            full.clone(),
        );
        b.ok(
            &format!("{p}-valid-no-expiry"),
            "no exp, no features, empty licensee: never expires",
            bare_key,
            by.clone(),
            bare,
        );
        b.add(
            &format!("{p}-expired"),
            "exp 30 days before now",
            issue(&expired, signer).unwrap(),
            by.clone(),
            "expired",
        );
        b.add_at(
            &format!("{p}-expiry-not-reached"),
            "now is one second before exp",
            june_key.clone(),
            by.clone(),
            JUNE - 1,
            "ok",
            Some(june.clone()),
        );
        b.add_at(
            &format!("{p}-skew-just-inside"),
            "now is exp + 299 s: inside the 300 s allowance",
            june_key.clone(),
            by.clone(),
            JUNE + skew - 1,
            "ok",
            Some(june.clone()),
        );
        b.add_at(
            &format!("{p}-skew-just-outside"),
            "now is exp + 300 s: the allowance is over",
            june_key.clone(),
            by.clone(),
            JUNE + skew,
            "expired",
            None,
        );
        b.add(
            &format!("{p}-signed-by-another-vendor"),
            "a valid licence signed with another key",
            other_signed,
            by.clone(),
            "bad_signature",
        );
        b.add(
            &format!("{p}-tampered-payload"),
            "the instance in the payload was changed after signing",
            tampered,
            by.clone(),
            "bad_signature",
        );
        b.add(
            &format!("{p}-tampered-signature"),
            "one bit of the signature flipped",
            with_signature(&valid, &flipped),
            by.clone(),
            "bad_signature",
        );
        b.add(
            &format!("{p}-signature-too-short"),
            "the signature lacks its last byte",
            with_signature(&valid, short),
            by.clone(),
            "bad_signature",
        );
        b.add(
            &format!("{p}-wrong-instance"),
            "issued for another Toru instance",
            wrong_instance,
            by.clone(),
            "wrong_instance",
        );
        b.add(
            &format!("{p}-wrong-plugin"),
            "issued for another plugin of the same vendor",
            wrong_plugin,
            by.clone(),
            "wrong_plugin",
        );
        b.add(
            &format!(
                "{p}-given-to-{}-verifier",
                other_alg.as_str().to_lowercase()
            ),
            "a valid key, but the plugin verifies the other algorithm",
            valid,
            other_by,
            "algorithm_mismatch",
        );
    }

    // Algorithm confusion: HS256 "signed" with the vendor's Ed25519 *public* key as the secret.
    let public = keys.ed25519.public_key_base64url().unwrap();
    let public_bytes = URL_SAFE_NO_PAD.decode(&public).unwrap();
    let confused = sign_payload(
        &serde_json::to_vec(&licence(Algorithm::Hs256)).unwrap(),
        &SigningKey::Hmac(public_bytes),
    );
    b.add(
        "hs256-keyed-with-the-ed25519-public-key",
        "the classic algorithm-confusion forgery: an HS256 key whose secret is the public key",
        confused,
        verifier(&keys.ed25519),
        "algorithm_mismatch",
    );

    let hs = verifier(&keys.hmac);
    let ed = verifier(&keys.ed25519);
    let valid_hs = issue(&licence(Algorithm::Hs256), &keys.hmac).unwrap();
    let valid_ed = issue(&licence(Algorithm::EdDsa), &keys.ed25519).unwrap();

    // Comparisons are exact.
    let upper = sign_payload(
        &serde_json::to_vec(&License {
            instance: INSTANCE.to_uppercase(),
            ..licence(Algorithm::EdDsa)
        })
        .unwrap(),
        &keys.ed25519,
    );
    b.add(
        "eddsa-instance-in-upper-case",
        "instance ids are compared exactly: upper case differs",
        upper,
        ed.clone(),
        "wrong_instance",
    );

    // Whitespace, nulls and size.
    b.ok(
        "surrounding-whitespace",
        "spaces, tabs, CR and LF around the key are ignored",
        format!(" \t{valid_ed}\r\n"),
        ed.clone(),
        licence(Algorithm::EdDsa),
    );
    let nulls = sign_payload(
        &payload_with(|m| {
            set(m, "exp", "null");
            set(m, "features", "null");
        }),
        &keys.hmac,
    );
    b.ok(
        "exp-and-features-null",
        "null exp and features mean none",
        nulls,
        hs.clone(),
        License {
            licensee: "Ada".into(),
            expires_at: None,
            features: vec![],
            ..licence(Algorithm::Hs256)
        },
    );
    // A licensee long enough to make the key exactly MAX_KEY_LEN bytes.
    let sized = |len: usize| {
        let mut l = licence(Algorithm::EdDsa);
        let base = issue(&l, &keys.ed25519).unwrap().len();
        // 3 payload bytes are 4 base64 characters; grow the licensee until the key fits.
        let mut extra = (len - base) * 3 / 4;
        loop {
            l.licensee = format!("Müller & Søn GmbH{}", "x".repeat(extra));
            let key = sign_payload(&serde_json::to_vec(&l).unwrap(), &keys.ed25519);
            if key.len() >= len {
                return (key, l);
            }
            extra += 1;
        }
    };
    let (max_key, max_licence) = sized(MAX_KEY_LEN);
    assert_eq!(
        max_key.len(),
        MAX_KEY_LEN,
        "choose a licensee that lands exactly"
    );
    b.ok(
        "exactly-max-size",
        "a valid key of exactly 8192 bytes",
        max_key.clone(),
        ed.clone(),
        max_licence,
    );
    b.add(
        "max-size-plus-newline",
        "the same key with a line feed: 8193 bytes, refused before trimming",
        format!("{max_key}\n"),
        ed.clone(),
        "too_large",
    );
    b.add(
        "huge",
        "9000 bytes of key-like text",
        format!("TORU1.{}.{}", "A".repeat(8000), "B".repeat(994)),
        ed.clone(),
        "too_large",
    );

    // Structure.
    b.add(
        "empty",
        "the empty string",
        String::new(),
        ed.clone(),
        "empty",
    );
    b.add(
        "only-whitespace",
        "nothing but whitespace",
        " \r\n\t ".into(),
        ed.clone(),
        "empty",
    );
    b.add(
        "prefix-other-version",
        "a future format",
        valid_ed.replacen("TORU1.", "TORU2.", 1),
        ed.clone(),
        "bad_prefix",
    );
    b.add(
        "prefix-lower-case",
        "the prefix is case-sensitive",
        valid_ed.replacen("TORU1.", "toru1.", 1),
        ed.clone(),
        "bad_prefix",
    );
    b.add(
        "jwt",
        "a JSON Web Token is not a Toru key",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0b3J1In0.c2lnbmF0dXJl".into(),
        hs.clone(),
        "bad_prefix",
    );
    b.add(
        "prefix-only",
        "nothing after the prefix",
        "TORU1.".into(),
        ed.clone(),
        "malformed",
    );
    let (payload_ed, sig_ed) = split(&valid_ed);
    b.add(
        "no-signature-part",
        "the payload without a signature part",
        format!("TORU1.{payload_ed}"),
        ed.clone(),
        "malformed",
    );
    b.add(
        "empty-signature",
        "a separator but no signature",
        format!("TORU1.{payload_ed}."),
        ed.clone(),
        "malformed",
    );
    b.add(
        "empty-payload",
        "a separator but no payload",
        format!("TORU1..{sig_ed}"),
        ed.clone(),
        "malformed",
    );
    b.add(
        "three-parts",
        "an extra dot-separated part",
        format!("{valid_ed}.AAAA"),
        ed.clone(),
        "malformed",
    );
    b.add(
        "truncated",
        "the key cut off in the middle of the payload",
        valid_ed[..valid_ed.len() / 3].into(),
        ed.clone(),
        "malformed",
    );
    b.add(
        "standard-base64-alphabet",
        "'+' and '/' are not base64url",
        format!(
            "TORU1.{payload_ed}.{}",
            sig_ed.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1)
        ),
        ed.clone(),
        "malformed",
    );
    b.add(
        "padded-signature",
        "base64url here is unpadded: '=' is refused",
        format!("{valid_ed}=="),
        ed.clone(),
        "malformed",
    );
    let mut last = sig_ed.chars().last().unwrap() as u8;
    // 64 bytes are 86 characters; the last carries 4 bits and 2 unused ones, which must be 0.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.iter().position(|&c| c == last).unwrap();
    last = alphabet[index ^ 1];
    b.add(
        "non-canonical-base64",
        "the unused low bits of the last character are not zero",
        format!(
            "TORU1.{payload_ed}.{}{}",
            &sig_ed[..sig_ed.len() - 1],
            last as char
        ),
        ed.clone(),
        "malformed",
    );
    b.add(
        "impossible-base64-length",
        "a length of 4n+1 characters encodes no bytes",
        format!("{valid_ed}AAA"),
        ed.clone(),
        "malformed",
    );
    b.add(
        "non-ascii",
        "a non-ASCII character inside the payload part",
        format!("TORU1.é{}.{sig_ed}", &payload_ed[1..]),
        ed.clone(),
        "malformed",
    );
    b.add(
        "inner-space",
        "a space inside the key",
        format!("TORU1.{} {}.{sig_ed}", &payload_ed[..10], &payload_ed[10..]),
        ed.clone(),
        "malformed",
    );

    // Payload (each validly signed with the HS256 test key, to show the parse refuses them).
    b.raw(
        "payload-not-json",
        "the payload is not JSON",
        b"licence: yes",
        "bad_payload",
    );
    b.raw(
        "payload-array",
        "the payload is an array",
        b"[1]",
        "bad_payload",
    );
    b.raw(
        "payload-string",
        "the payload is a string",
        b"\"TORU\"",
        "bad_payload",
    );
    b.raw(
        "payload-invalid-utf8",
        "the payload is not UTF-8",
        &payload_with(|m| set(m, "licensee", "\"\u{0}\""))
            .iter()
            .map(|&c| if c == 0 { 0xff } else { c })
            .collect::<Vec<_>>(),
        "bad_payload",
    );
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(payload_with(|_| {}));
    b.raw(
        "payload-byte-order-mark",
        "a UTF-8 byte-order mark before the JSON",
        &bom,
        "bad_payload",
    );
    b.raw(
        "payload-trailing-data",
        "something after the JSON object",
        &[payload_with(|_| {}), b" x".to_vec()].concat(),
        "bad_payload",
    );
    b.raw(
        "payload-duplicate-member",
        "instance twice: no parser may pick one",
        &payload_with(|m| m.push(("instance".into(), format!("\"{OTHER_INSTANCE}\"")))),
        "bad_payload",
    );
    b.raw(
        "payload-duplicate-nested-member",
        "a member twice in a nested object, even of a v2 payload",
        &payload_with(|m| {
            set(m, "v", "2");
            m.push(("x".into(), "{\"a\":1,\"a\":2}".into()));
        }),
        "bad_payload",
    );
    b.raw(
        "payload-unknown-member",
        "a member version 1 does not have",
        &payload_with(|m| set(m, "seats", "5")),
        "bad_payload",
    );
    b.raw(
        "payload-missing-member",
        "no licensee",
        &payload_with(|m| m.retain(|(k, _)| k != "licensee")),
        "bad_payload",
    );
    b.raw(
        "payload-missing-version",
        "no v",
        &payload_with(|m| m.retain(|(k, _)| k != "v")),
        "bad_payload",
    );
    b.raw(
        "payload-alg-not-a-string",
        "alg is a number",
        &payload_with(|m| set(m, "alg", "256")),
        "bad_payload",
    );
    b.raw(
        "payload-plugin-null",
        "plugin is null",
        &payload_with(|m| set(m, "plugin", "null")),
        "bad_payload",
    );
    b.raw(
        "payload-iat-string",
        "iat is a string",
        &payload_with(|m| set(m, "iat", "\"1767225600\"")),
        "bad_payload",
    );
    b.raw(
        "payload-iat-float",
        "iat has a fraction part",
        &payload_with(|m| set(m, "iat", "1767225600.0")),
        "bad_payload",
    );
    b.raw(
        "payload-iat-negative",
        "iat is negative",
        &payload_with(|m| set(m, "iat", "-1")),
        "bad_payload",
    );
    b.raw(
        "payload-iat-negative-zero",
        "-0 is not an unsigned integer",
        &payload_with(|m| set(m, "iat", "-0")),
        "bad_payload",
    );
    b.raw(
        "payload-exp-too-large",
        "exp is 2^64, over an unsigned 64-bit integer",
        &payload_with(|m| set(m, "exp", "18446744073709551616")),
        "bad_payload",
    );
    b.raw(
        "payload-exp-bool",
        "exp is a boolean",
        &payload_with(|m| set(m, "exp", "true")),
        "bad_payload",
    );
    b.raw(
        "payload-features-not-strings",
        "a feature is a number",
        &payload_with(|m| set(m, "features", "[\"pro\",1]")),
        "bad_payload",
    );
    b.raw(
        "payload-features-object",
        "features is an object",
        &payload_with(|m| set(m, "features", "{\"pro\":true}")),
        "bad_payload",
    );
    b.raw(
        "payload-nan",
        "NaN is not JSON",
        &payload_with(|m| set(m, "exp", "NaN")),
        "bad_payload",
    );
    b.raw(
        "payload-number-out-of-range",
        "1e400 overflows a double",
        &payload_with(|m| set(m, "exp", "1e400")),
        "bad_payload",
    );
    b.raw(
        "payload-integer-out-of-range",
        "a 400-digit integer, even as v",
        &payload_with(|m| set(m, "v", &"9".repeat(400))),
        "bad_payload",
    );
    b.raw(
        "payload-lone-surrogate",
        "an escaped UTF-16 surrogate without its pair",
        &payload_with(|m| set(m, "licensee", "\"\\ud800\"")),
        "bad_payload",
    );
    b.raw(
        "payload-control-character",
        "a raw tab inside a string",
        &payload_with(|m| set(m, "licensee", "\"a\tb\"")),
        "bad_payload",
    );
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
    b.raw(
        "payload-too-deep",
        "nested 33 levels (the object is level 1), even in a v2 payload",
        &payload_with(|m| {
            set(m, "v", "2");
            m.push(("x".into(), deep(MAX_PAYLOAD_DEPTH + 1)));
        }),
        "bad_payload",
    );
    b.raw(
        "payload-deep-but-allowed-v2",
        "nested 32 levels: parsed, then refused for its version",
        &payload_with(|m| {
            set(m, "v", "2");
            m.push(("x".into(), deep(MAX_PAYLOAD_DEPTH)));
        }),
        "unsupported_version",
    );

    // Version and algorithm.
    b.raw(
        "version-2",
        "a future format version",
        &payload_with(|m| set(m, "v", "2")),
        "unsupported_version",
    );
    b.raw(
        "version-2-with-new-members",
        "a v2 payload with members v1 does not know: version first",
        &payload_with(|m| {
            set(m, "v", "2");
            set(m, "seats", "5");
        }),
        "unsupported_version",
    );
    b.raw(
        "version-0",
        "v 0",
        &payload_with(|m| set(m, "v", "0")),
        "unsupported_version",
    );
    b.raw(
        "version-string",
        "v is the string \"1\"",
        &payload_with(|m| set(m, "v", "\"1\"")),
        "unsupported_version",
    );
    b.raw(
        "version-float",
        "v is 1.0, not the integer 1",
        &payload_with(|m| set(m, "v", "1.0")),
        "unsupported_version",
    );
    b.raw(
        "version-true",
        "v is true",
        &payload_with(|m| set(m, "v", "true")),
        "unsupported_version",
    );
    b.raw(
        "version-null",
        "v is null",
        &payload_with(|m| set(m, "v", "null")),
        "unsupported_version",
    );
    b.raw(
        "alg-rs256",
        "an algorithm the format does not have",
        &payload_with(|m| set(m, "alg", "\"RS256\"")),
        "unknown_algorithm",
    );
    b.raw(
        "alg-none",
        "\"none\" is not an algorithm here",
        &payload_with(|m| set(m, "alg", "\"none\"")),
        "unknown_algorithm",
    );
    b.raw(
        "alg-lower-case",
        "algorithm names are case-sensitive",
        &payload_with(|m| set(m, "alg", "\"hs256\"")),
        "unknown_algorithm",
    );

    // The first failing step wins.
    let both = issue(
        &License {
            instance: OTHER_INSTANCE.into(),
            plugin: "acme-restore".into(),
            expires_at: Some(IAT + 1),
            ..licence(Algorithm::Hs256)
        },
        &keys.hmac,
    )
    .unwrap();
    b.add(
        "order-plugin-before-instance-and-expiry",
        "wrong plugin, wrong instance and expired",
        both,
        hs.clone(),
        "wrong_plugin",
    );
    b.add(
        "order-signature-before-bindings",
        "another vendor's key for another instance",
        issue(
            &License {
                instance: OTHER_INSTANCE.into(),
                ..licence(Algorithm::Hs256)
            },
            &keys.other_hmac,
        )
        .unwrap(),
        hs.clone(),
        "bad_signature",
    );
    b.add(
        "valid-hs256-key-for-the-ed25519-verifier",
        "kept apart from the EdDSA mismatch above",
        valid_hs,
        ed,
        "algorithm_mismatch",
    );

    let file = File {
        description: "Test vectors for Toru licence keys (docs/licensing.md). Each vector: verify \
            `key` with `verifier` (HS256: `secret` is the HMAC secret; EdDSA: `public_key` is the \
            Ed25519 public key; both unpadded base64url), expecting plugin id `plugin` and \
            instance id `instance`, at Unix time `now`. `expect` is \"ok\", and then `license` is \
            the payload the verifier returns in its canonical form (exp and features left out \
            when absent), or the error kind. Generated by toru-license/tests/vectors.rs; do not \
            edit by hand.",
        format: "TORU1",
        max_key_bytes: MAX_KEY_LEN,
        clock_skew_seconds: CLOCK_SKEW.as_secs(),
        max_payload_depth: MAX_PAYLOAD_DEPTH,
        error_kinds: vec![
            "empty",
            "too_large",
            "bad_prefix",
            "malformed",
            "bad_payload",
            "unsupported_version",
            "unknown_algorithm",
            "algorithm_mismatch",
            "bad_signature",
            "wrong_plugin",
            "wrong_instance",
            "expired",
        ],
        test_keys: vec![
            test_key("hmac", &keys.hmac),
            test_key("other-hmac", &keys.other_hmac),
            test_key("ed25519", &keys.ed25519),
            test_key("other-ed25519", &keys.other_ed25519),
        ],
        vectors: b.vectors,
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap();
    text.push('\n');
    text
}

fn test_key(name: &'static str, key: &SigningKey) -> TestKey {
    match key {
        SigningKey::Hmac(secret) => TestKey {
            name,
            alg: Algorithm::Hs256,
            secret: Some(URL_SAFE_NO_PAD.encode(secret)),
            private_key: None,
            public_key: None,
        },
        SigningKey::Ed25519(k) => TestKey {
            name,
            alg: Algorithm::EdDsa,
            secret: None,
            private_key: Some(URL_SAFE_NO_PAD.encode(k.as_bytes())),
            public_key: key.public_key_base64url(),
        },
    }
}

#[test]
fn the_committed_vectors_are_what_the_generator_makes() {
    let generated = generate();
    if std::env::var_os("TORU_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(path().parent().unwrap()).unwrap();
        std::fs::write(path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path()).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is not what toru-license/tests/vectors.rs generates; run \
         `TORU_WRITE_VECTORS=1 cargo test -p toru-license --test vectors` and review the diff",
        path().display()
    );
}

#[test]
fn every_vector_key_is_what_its_name_says() {
    // A cheap guard on the generator itself: the key-level vectors the verifier must refuse
    // before decoding really are over the limit, and the exact-size one is exactly at it.
    let text = generate();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    for v in file["vectors"].as_array().unwrap() {
        let key = v["key"].as_str().unwrap();
        match v["expect"].as_str().unwrap() {
            "too_large" => assert!(key.len() > MAX_KEY_LEN, "{}", v["name"]),
            _ => assert!(key.len() <= MAX_KEY_LEN, "{}", v["name"]),
        }
    }
}
