//! Licence keys (feature `license`): the shared test vectors of `docs/licensing/test-vectors.json`
//! (T24–T27 for both algorithms, and one vector or more per error kind), a table of bad input,
//! property tests that no input panics, and the key's way from `lifecycle.init` to the plugin.

use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use hmac::{KeyInit as _, Mac as _};
use proptest::prelude::*;
use serde_json::{Value, json};
use toru_plugin_api::license::{
    self, Algorithm, CLOCK_SKEW, FORMAT_VERSION, License, LicenseError, LicenseErrorKind,
    MAX_KEY_LEN, VerifyingKey,
};
use toru_plugin_api::testing::{TestDaemon, TestError};
use toru_plugin_api::{
    Body, HttpRequest, HttpResponse, Init, LicenseReport, PROTOCOL_VERSION, PluginContext,
    PluginError, PluginMetadata, Ready, ServeOptions, ToruPlugin, serve,
};

const VECTORS: &str = include_str!("../../docs/licensing/test-vectors.json");

const PLUGIN: &str = "acme-backup";
const INSTANCE: &str = "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10";
const OTHER_INSTANCE: &str = "5f0c2a4e-8b1d-4c6f-9e2a-7d3b1c0e9f48";
const SECRET: &[u8] = b"a test secret of thirty-two bytes";
const SEED: [u8; 32] = [7; 32];
/// 2026-01-01T00:00:00Z
const IAT: u64 = 1_767_225_600;
/// About as late as a `SystemTime` goes (its seconds are an `i64`).
const LATEST: u64 = 1 << 62;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("the vector file is JSON")
}

fn verifier_of(v: &Value) -> VerifyingKey {
    match v["alg"].as_str() {
        Some("HS256") => VerifyingKey::hmac_base64url(v["secret"].as_str().unwrap()).unwrap(),
        Some("EdDSA") => {
            VerifyingKey::ed25519_base64url(v["public_key"].as_str().unwrap()).unwrap()
        }
        other => panic!("unknown verifier {other:?}"),
    }
}

#[test]
fn every_shared_vector_gives_its_expected_result() {
    let file = vectors();
    let list = file["vectors"].as_array().unwrap();
    assert!(list.len() >= 60, "only {} vectors", list.len());
    for v in list {
        let name = v["name"].as_str().unwrap();
        let result = license::verify(
            v["key"].as_str().unwrap(),
            &verifier_of(&v["verifier"]),
            v["plugin"].as_str().unwrap(),
            v["instance"].as_str().unwrap(),
            at(v["now"].as_u64().unwrap()),
        );
        match (v["expect"].as_str().unwrap(), result) {
            ("ok", Ok(licence)) => assert_eq!(
                serde_json::to_value(&licence).unwrap(),
                v["license"],
                "{name}: the licence differs"
            ),
            ("ok", Err(e)) => panic!("{name}: expected ok, got {:?}: {e}", e.kind()),
            (kind, Ok(_)) => panic!("{name}: expected {kind}, the key was accepted"),
            (kind, Err(e)) => assert_eq!(e.kind().as_str(), kind, "{name}: {e}"),
        }
    }
}

#[test]
fn the_vectors_cover_every_error_kind_and_both_algorithms() {
    let file = vectors();
    let list = file["vectors"].as_array().unwrap();
    let expects: Vec<&str> = list.iter().map(|v| v["expect"].as_str().unwrap()).collect();
    // `missing` is no key at all, which a vector (a key string) cannot be.
    for kind in LicenseErrorKind::ALL
        .iter()
        .filter(|k| **k != LicenseErrorKind::Missing)
    {
        assert!(
            expects.contains(&kind.as_str()),
            "no vector expects {kind}; add one to toru-license/tests/vectors.rs"
        );
    }
    let listed: Vec<&str> = file["error_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = LicenseErrorKind::ALL[1..]
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(listed, ours, "the vector file lists other error kinds");
    // T24–T27 for each algorithm.
    for alg in ["hs256", "eddsa"] {
        for (suffix, expect) in [
            ("valid", "ok"),
            ("valid-no-expiry", "ok"),
            ("tampered-payload", "bad_signature"),
            ("signed-by-another-vendor", "bad_signature"),
            ("wrong-instance", "wrong_instance"),
            ("expired", "expired"),
            ("skew-just-inside", "ok"),
            ("skew-just-outside", "expired"),
        ] {
            let name = format!("{alg}-{suffix}");
            let v = list
                .iter()
                .find(|v| v["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no vector {name}"));
            assert_eq!(v["expect"], expect, "{name}");
        }
    }
    assert_eq!(file["max_key_bytes"], MAX_KEY_LEN);
    assert_eq!(file["clock_skew_seconds"], CLOCK_SKEW.as_secs());
}

// --- Keys made here, to probe each step on its own. ---------------------------------------------

fn licence(alg: Algorithm) -> License {
    License {
        version: FORMAT_VERSION,
        algorithm: alg,
        plugin: PLUGIN.into(),
        instance: INSTANCE.into(),
        licensee: "Ada".into(),
        issued_at: IAT,
        expires_at: Some(IAT + 86_400),
        features: vec!["pro".into()],
    }
}

fn sign(payload: &[u8], alg: Algorithm) -> String {
    let signed = format!("TORU1.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = match alg {
        Algorithm::Hs256 => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
            mac.update(signed.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::EdDsa => ed25519_dalek::SigningKey::from_bytes(&SEED)
            .sign(signed.as_bytes())
            .to_bytes()
            .to_vec(),
    };
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn key_for(l: &License) -> String {
    sign(&serde_json::to_vec(l).unwrap(), l.algorithm)
}

fn hmac() -> VerifyingKey {
    VerifyingKey::hmac(SECRET)
}

fn ed25519() -> VerifyingKey {
    // Deriving the public key is slow in debug builds; the property tests need it thousands of
    // times.
    static KEY: LazyLock<VerifyingKey> = LazyLock::new(|| {
        let public = ed25519_dalek::SigningKey::from_bytes(&SEED).verifying_key();
        VerifyingKey::ed25519(public.as_bytes()).unwrap()
    });
    KEY.clone()
}

fn check(key: &str, verifier: &VerifyingKey, now: u64) -> Result<License, LicenseError> {
    license::verify(key, verifier, PLUGIN, INSTANCE, at(now))
}

fn kind(key: &str, verifier: &VerifyingKey, now: u64) -> LicenseErrorKind {
    match check(key, verifier, now) {
        Ok(l) => panic!("{key:?} was accepted: {l:?}"),
        Err(e) => e.kind(),
    }
}

#[test]
fn bad_input_is_refused_with_its_own_kind() {
    use LicenseErrorKind as K;
    let valid = key_for(&licence(Algorithm::Hs256));
    let (payload, signature) = valid["TORU1.".len()..].split_once('.').unwrap();
    let exp = IAT + 86_400;
    let skew = CLOCK_SKEW.as_secs();
    let with = |edit: fn(&mut Value)| {
        let mut v = serde_json::to_value(licence(Algorithm::Hs256)).unwrap();
        edit(&mut v);
        sign(&serde_json::to_vec(&v).unwrap(), Algorithm::Hs256)
    };
    let table: Vec<(&str, String, K)> = vec![
        ("empty", String::new(), K::Empty),
        ("blank", "\n".into(), K::Empty),
        (
            "truncated",
            valid[..valid.len() - 3].into(),
            K::BadSignature,
        ),
        (
            "truncated into the payload",
            valid[..30].into(),
            K::Malformed,
        ),
        (
            "wrong prefix",
            valid.replacen("TORU1", "TORU9", 1),
            K::BadPrefix,
        ),
        ("no prefix", format!("{payload}.{signature}"), K::BadPrefix),
        (
            "bad base64",
            format!("TORU1.{payload}.{signature}!"),
            K::Malformed,
        ),
        ("huge", "T".repeat(1 << 20), K::TooLarge),
        (
            "one byte over",
            format!("{valid}{}", " ".repeat(MAX_KEY_LEN + 1 - valid.len())),
            K::TooLarge,
        ),
        (
            "unknown version",
            with(|v| v["v"] = json!(2)),
            K::UnsupportedVersion,
        ),
        (
            "unknown algorithm",
            with(|v| v["alg"] = json!("ES256")),
            K::UnknownAlgorithm,
        ),
        ("unknown member", with(|v| v["x"] = json!(1)), K::BadPayload),
        (
            "wrong plugin",
            with(|v| v["plugin"] = json!("acme-other")),
            K::WrongPlugin,
        ),
        (
            "wrong instance",
            with(|v| v["instance"] = json!(OTHER_INSTANCE)),
            K::WrongInstance,
        ),
    ];
    for (name, key, expected) in &table {
        assert_eq!(kind(key, &hmac(), IAT), *expected, "{name}");
    }
    // Mismatched algorithm, both ways.
    assert_eq!(kind(&valid, &ed25519(), IAT), K::AlgorithmMismatch);
    let valid_ed = key_for(&licence(Algorithm::EdDsa));
    assert_eq!(kind(&valid_ed, &hmac(), IAT), K::AlgorithmMismatch);
    // Clock skew: just inside and just outside, for both algorithms.
    for (key, verifier) in [(&valid, hmac()), (&valid_ed, ed25519())] {
        assert!(check(key, &verifier, exp - 1).is_ok());
        assert!(
            check(key, &verifier, exp).is_ok(),
            "exp itself is inside the allowance"
        );
        assert!(check(key, &verifier, exp + skew - 1).is_ok());
        assert_eq!(kind(key, &verifier, exp + skew), K::Expired);
        assert_eq!(kind(key, &verifier, LATEST), K::Expired);
    }
    // A key that never expires never does; a clock before 1970 counts as 1970.
    let forever = key_for(&License {
        expires_at: None,
        ..licence(Algorithm::EdDsa)
    });
    assert!(check(&forever, &ed25519(), LATEST).is_ok());
    let early = license::verify(
        &valid,
        &hmac(),
        PLUGIN,
        INSTANCE,
        UNIX_EPOCH - Duration::from_secs(5),
    );
    assert!(early.is_ok());
    // exp near u64::MAX does not overflow.
    let far = key_for(&License {
        expires_at: Some(u64::MAX),
        ..licence(Algorithm::Hs256)
    });
    assert!(check(&far, &hmac(), LATEST).is_ok());
}

#[test]
fn an_expiry_past_the_end_of_system_time_never_expires_and_does_not_panic() {
    // Found by fuzz/fuzz_targets/license_key.rs: `expires()` added `exp` seconds to the epoch
    // with `+`, which panics past what a `SystemTime` holds, on a key a vendor may well issue.
    for exp in [u64::MAX, u64::MAX - 10_000, 1 << 63] {
        let l = License {
            expires_at: Some(exp),
            ..licence(Algorithm::Hs256)
        };
        assert_eq!(l.expires(), None, "exp {exp}");
        assert!(l.check_expiry(at(LATEST)).is_ok(), "exp {exp}");
        let verified = check(&key_for(&l), &hmac(), LATEST).unwrap();
        assert_eq!(verified.expires(), None);
    }
    // The last representable second still is a time.
    let l = License {
        expires_at: Some(LATEST),
        ..licence(Algorithm::Hs256)
    };
    assert_eq!(l.expires(), Some(at(LATEST)));
}

#[test]
fn every_prefix_of_a_valid_key_is_refused_without_panicking() {
    for alg in [Algorithm::Hs256, Algorithm::EdDsa] {
        let key = key_for(&licence(alg));
        let verifier = if alg == Algorithm::Hs256 {
            hmac()
        } else {
            ed25519()
        };
        assert!(check(&key, &verifier, IAT).is_ok());
        for end in 0..key.len() {
            assert!(
                check(&key[..end], &verifier, IAT).is_err(),
                "{alg} prefix of {end} bytes"
            );
        }
    }
}

#[test]
fn messages_say_what_is_wrong_and_what_to_do() {
    let other = key_for(&License {
        instance: OTHER_INSTANCE.into(),
        ..licence(Algorithm::EdDsa)
    });
    let e = check(&other, &ed25519(), IAT).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the licence key was issued for instance {OTHER_INSTANCE}, this is instance \
             {INSTANCE}; ask the vendor for a key for this instance"
        )
    );
    let key = key_for(&licence(Algorithm::EdDsa));
    let e = check(&key, &ed25519(), IAT + 86_400 + 3600).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the licence key expired at 2026-01-02T00:00:00Z (it is now 2026-01-02T01:00:00Z, and \
         300 s are allowed for clock skew); ask the vendor to renew it"
    );
    let e = check(&key, &hmac(), IAT).unwrap_err();
    assert!(
        e.to_string()
            .contains("signed with EdDSA, but this plugin accepts only HS256"),
        "{e}"
    );
    let e = license::verify(&key, &ed25519(), "acme-other", INSTANCE, at(IAT)).unwrap_err();
    assert!(
        e.to_string()
            .contains("issued for plugin \"acme-backup\", this is plugin \"acme-other\"")
    );
}

#[test]
fn verifying_keys_are_checked_and_never_printed() {
    assert!(VerifyingKey::ed25519_base64url("not base64!").is_err());
    assert!(
        VerifyingKey::ed25519_base64url("AAAA").is_err(),
        "too short"
    );
    // The identity point has small order: every signature would pass a lax verifier.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = VerifyingKey::ed25519(&identity).unwrap_err();
    assert!(weak.to_string().contains("weak"), "{weak}");
    assert!(VerifyingKey::hmac_base64url("").is_err());
    let debug = format!("{:?}", VerifyingKey::hmac(SECRET));
    assert!(!debug.contains("thirty"), "{debug}");
    let public = ed25519();
    assert!(format!("{public:?}").starts_with("Ed25519(Ed25519PublicKey(\""));
}

#[test]
fn decode_unverified_reads_any_signature_but_checks_the_shape() {
    let mut key = key_for(&licence(Algorithm::EdDsa));
    key.truncate(key.len() - 8);
    key.push_str("AAAAAAAA");
    let l = license::decode_unverified(&key).unwrap();
    assert_eq!(l, licence(Algorithm::EdDsa));
    assert_eq!(
        license::decode_unverified("TORU1.e30.AAAA")
            .unwrap_err()
            .kind(),
        LicenseErrorKind::BadPayload
    );
}

#[test]
fn licence_helpers() {
    let l = licence(Algorithm::Hs256);
    assert!(l.has_feature("pro"));
    assert!(!l.has_feature("Pro"));
    assert_eq!(l.expires(), Some(at(IAT + 86_400)));
    assert!(l.check_expiry(at(IAT)).is_ok());
    assert_eq!(
        l.check_expiry(at(IAT + 86_400 + 300)).unwrap_err().kind(),
        LicenseErrorKind::Expired
    );
    assert_eq!(Algorithm::from_name("EdDSA"), Some(Algorithm::EdDsa));
    assert_eq!(Algorithm::from_name("eddsa"), None);
    let names: Vec<_> = LicenseErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
}

// --- Property tests: no input makes the verifier panic. -----------------------------------------

fn key_chars() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::char::range('A', 'Z'),
        proptest::char::range('a', 'z'),
        proptest::char::range('0', '9'),
        Just('-'),
        Just('_'),
        Just('.'),
        Just('='),
        Just(' '),
        any::<char>(),
    ]
}

/// One edit of a key: replace, insert or delete one character.
#[derive(Debug, Clone)]
enum Edit {
    Replace(prop::sample::Index, char),
    Insert(prop::sample::Index, char),
    Delete(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), key_chars()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<prop::sample::Index>(), key_chars()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<prop::sample::Index>().prop_map(Edit::Delete),
    ]
}

fn apply(key: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    for e in edits {
        match e {
            Edit::Replace(i, c) if !chars.is_empty() => {
                let i = i.index(chars.len());
                chars[i] = *c;
            }
            Edit::Insert(i, c) => {
                let i = i.index(chars.len() + 1);
                chars.insert(i, *c);
            }
            Edit::Delete(i) if !chars.is_empty() => {
                let i = i.index(chars.len());
                chars.remove(i);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}", tail in proptest::collection::vec(key_chars(), 0..400)) {
        let key: String = text.chars().chain(tail).collect();
        for verifier in [hmac(), ed25519()] {
            let _ = check(&key, &verifier, IAT);
            let _ = check(&format!("TORU1.{key}"), &verifier, IAT);
        }
        let _ = license::decode_unverified(&key);
    }

    #[test]
    fn arbitrary_signed_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..600)) {
        // The payload is parsed before, and whatever, the algorithm: HS256 alone is enough here
        // (and Ed25519 signing is slow in debug builds).
        let key = sign(&payload, Algorithm::Hs256);
        if let Ok(l) = check(&key, &hmac(), IAT) {
            // Whatever was accepted really was that payload.
            let value: Value = serde_json::from_slice(&payload).unwrap();
            prop_assert_eq!(value["plugin"].as_str(), Some(l.plugin.as_str()));
        }
    }

    #[test]
    fn arbitrary_json_payloads_never_panic(value in json_value()) {
        let key = sign(&serde_json::to_vec(&value).unwrap(), Algorithm::Hs256);
        let _ = check(&key, &hmac(), IAT);
    }

    #[test]
    fn an_edited_key_is_refused_or_unchanged(
        alg in prop_oneof![Just(Algorithm::Hs256), Just(Algorithm::EdDsa)],
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        static KEYS: LazyLock<[String; 2]> = LazyLock::new(|| {
            [key_for(&licence(Algorithm::Hs256)), key_for(&licence(Algorithm::EdDsa))]
        });
        let original = licence(alg);
        let key = &KEYS[usize::from(alg == Algorithm::EdDsa)];
        let verifier = if alg == Algorithm::Hs256 { hmac() } else { ed25519() };
        let edited = apply(key, &edits);
        if let Ok(l) = check(&edited, &verifier, IAT) {
            // Only whitespace around the key may change without changing the verdict.
            prop_assert_eq!(edited.trim_matches([' ', '\t', '\r', '\n']), key.as_str());
            prop_assert_eq!(l, original);
        }
    }
}

/// JSON values shaped like payloads: the right member names, often the wrong types.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        Just(json!(1)),
        "[a-zA-Z0-9 -]{0,12}".prop_map(Value::String),
        Just(json!("HS256")),
        Just(json!(PLUGIN)),
        Just(json!(INSTANCE)),
    ];
    let names = prop::sample::select(vec![
        "v", "alg", "plugin", "instance", "licensee", "iat", "exp", "features", "x",
    ]);
    leaf.prop_recursive(4, 48, 9, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(names.clone(), inner, 0..9).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

// --- From lifecycle.init to the plugin. ---------------------------------------------------------

/// A plugin that verifies its licence in `init`, refusing to start without a valid one.
struct Licensed {
    licence: Mutex<Option<License>>,
}

impl ToruPlugin for Licensed {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata {
            id: PLUGIN.into(),
            name: "Licensed".into(),
            version: "1".into(),
            author: String::new(),
            icon: String::new(),
            route: "/licensed".into(),
            protocol_version: PROTOCOL_VERSION,
            license_required: false,
            description: String::new(),
            permissions: Default::default(),
            settings: None,
        }
    }

    async fn init(&self, ctx: PluginContext) -> Result<(), PluginError> {
        let licence = ctx
            .verify_license(PLUGIN, &hmac())
            .map_err(|e| PluginError::Internal(e.to_string()))?;
        *self.licence.lock().unwrap() = Some(licence);
        Ok(())
    }

    async fn handle_http(&self, _req: HttpRequest) -> Result<HttpResponse, PluginError> {
        let licence = self.licence.lock().unwrap().clone();
        Ok(HttpResponse::json(200, &licence.map(|l| l.licensee)))
    }
}

/// A plugin served by the real runner on a socket in a temp dir, with the test as its daemon.
struct Served {
    d: TestDaemon,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), toru_plugin_api::RunnerError>>,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(plugin: impl ToruPlugin) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("p.sock");
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(plugin, ServeOptions::new(&socket), async {
            let _ = stop_rx.await;
        }));
        let d = TestDaemon::connect(&socket, Duration::from_secs(5))
            .await
            .unwrap();
        Served {
            d,
            stop,
            task,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// A `lifecycle.init` for [`PLUGIN`] on [`INSTANCE`] with this key.
fn init(license: Option<String>) -> Init {
    Init {
        protocol_version: PROTOCOL_VERSION,
        plugin_id: PLUGIN.into(),
        instance_id: INSTANCE.into(),
        config: Default::default(),
        license,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn the_key_in_lifecycle_init_reaches_the_plugin() {
    let mut served = Served::start(Licensed {
        licence: Mutex::new(None),
    })
    .await;
    let d = &mut served.d;
    let now = now_secs();
    let refusal = |result: Result<Ready, TestError>| match result {
        Err(TestError::Unexpected(m)) => match m.body {
            Body::Error(e) => e.message,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    // No key: refused, saying so.
    let message = refusal(d.init_with(init(None)).await);
    assert!(message.contains("no licence key is installed"), "{message}");
    // Another instance's key: refused, naming both instances.
    let theirs = key_for(&License {
        instance: OTHER_INSTANCE.into(),
        expires_at: Some(now + 3600),
        ..licence(Algorithm::Hs256)
    });
    let message = refusal(d.init_with(init(Some(theirs))).await);
    assert!(
        message.contains(&format!(
            "issued for instance {OTHER_INSTANCE}, this is instance {INSTANCE}"
        )),
        "{message}"
    );
    // Ours: accepted, and the plugin has it.
    let ours = key_for(&License {
        expires_at: Some(now + 3600),
        ..licence(Algorithm::Hs256)
    });
    d.init_with(init(Some(format!("{ours}\n")))).await.unwrap();
    let reply = d.call(toru_plugin_api::testing::get("/")).await.unwrap();
    let Body::HttpResponse(response) = reply.body else {
        panic!("{reply:?}");
    };
    assert_eq!(response.body, br#""Ada""#);
    served.stop().await;
}

/// A plugin that uses the runner's hook: it declares its verifier, starts whatever the key,
/// and answers `/pro` only with a valid licence.
struct Hooked {
    ctx: Mutex<Option<PluginContext>>,
}

impl ToruPlugin for Hooked {
    fn metadata(&self) -> PluginMetadata {
        Licensed {
            licence: Mutex::new(None),
        }
        .metadata()
    }

    fn license_verifier(&self) -> Option<VerifyingKey> {
        Some(hmac())
    }

    async fn init(&self, ctx: PluginContext) -> Result<(), PluginError> {
        *self.ctx.lock().unwrap() = Some(ctx);
        Ok(())
    }

    async fn handle_http(&self, _req: HttpRequest) -> Result<HttpResponse, PluginError> {
        let ctx = self.ctx.lock().unwrap().clone().expect("initialised");
        let licence = ctx.require_license()?;
        Ok(HttpResponse::json(200, &licence.licensee))
    }
}

#[tokio::test]
async fn the_runner_verifies_reports_and_gates_on_the_licence() {
    let mut served = Served::start(Hooked {
        ctx: Mutex::new(None),
    })
    .await;
    let d = &mut served.d;
    let now = now_secs();
    async fn pro(d: &mut TestDaemon) -> (u16, Value) {
        let reply = d.call(toru_plugin_api::testing::get("/pro")).await.unwrap();
        let Body::HttpResponse(r) = reply.body else {
            panic!("{reply:?}");
        };
        (r.status, serde_json::from_slice(&r.body).unwrap())
    }
    let invalid = |ready: Ready| match ready.license {
        Some(LicenseReport::Invalid { error, message }) => (error, message),
        other => panic!("expected an invalid verdict, got {other:?}"),
    };

    // No key: the plugin still starts, reports `missing`, and the route answers 402.
    let (kind, _) = invalid(d.init_with(init(None)).await.unwrap());
    assert_eq!(kind, "missing");
    let (status, body) = pro(d).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "license_missing");

    // Another instance's key: reported as wrong_instance naming both ids; the route answers 403.
    let theirs = key_for(&License {
        instance: OTHER_INSTANCE.into(),
        ..licence(Algorithm::Hs256)
    });
    let (kind, message) = invalid(d.init_with(init(Some(theirs))).await.unwrap());
    assert_eq!(kind, "wrong_instance");
    assert!(
        message.contains(OTHER_INSTANCE) && message.contains(INSTANCE),
        "{message}"
    );
    let (status, body) = pro(d).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["kind"], "wrong_instance");

    // An Ed25519 key for a plugin that verifies HMAC: algorithm_mismatch, not accepted.
    let other_alg = key_for(&licence(Algorithm::EdDsa));
    let (kind, _) = invalid(d.init_with(init(Some(other_alg))).await.unwrap());
    assert_eq!(kind, "algorithm_mismatch");

    // Ours: reported valid with its licensee, expiry and features; the route answers.
    let ours = key_for(&License {
        expires_at: Some(now + 3600),
        ..licence(Algorithm::Hs256)
    });
    let ready = d.init_with(init(Some(ours))).await.unwrap();
    let Some(LicenseReport::Valid {
        licensee,
        expires_at,
        features,
    }) = ready.license
    else {
        panic!("{ready:?}");
    };
    assert_eq!(
        (licensee.as_str(), expires_at, features),
        ("Ada", Some(now + 3600), vec!["pro".to_string()])
    );
    let (status, body) = pro(d).await;
    assert_eq!((status, body), (200, json!("Ada")));
    served.stop().await;
}

#[test]
fn init_carries_the_key_only_when_there_is_one() {
    let mut init = Init {
        protocol_version: 1,
        plugin_id: PLUGIN.into(),
        instance_id: INSTANCE.into(),
        config: Default::default(),
        license: None,
    };
    let line =
        String::from_utf8(toru_plugin_api::Message::new("d-1", Body::Init(init.clone())).to_line())
            .unwrap();
    assert!(!line.contains("license"), "{line}");
    init.license = Some("TORU1.x.y".into());
    let line =
        String::from_utf8(toru_plugin_api::Message::new("d-1", Body::Init(init.clone())).to_line())
            .unwrap();
    assert!(line.contains(r#""license":"TORU1.x.y""#), "{line}");
    let back = toru_plugin_api::Message::decode(line.trim_end()).unwrap();
    assert_eq!(back.body, Body::Init(init));
}
