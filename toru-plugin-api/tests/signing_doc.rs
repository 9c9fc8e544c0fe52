//! The test vectors of `docs/signing.md`, read from the document itself: each `signing-vector`
//! block's file must have its stated SHA-256 and its signature line the stated verdict, so the
//! normative page and `toru_plugin_api::signature` cannot drift apart.

use std::collections::BTreeMap;

use toru_plugin_api::license::Ed25519PublicKey;
use toru_plugin_api::signature::{PluginSignature, Sha256Digest};

const DOC: &str = include_str!("../../docs/signing.md");

/// Every `signing-vector` block, as its `name: value` lines.
fn vectors() -> Vec<BTreeMap<&'static str, &'static str>> {
    let mut out = Vec::new();
    let mut current: Option<BTreeMap<_, _>> = None;
    for line in DOC.lines() {
        if let Some(info) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None if info.trim() == "signing-vector" => current = Some(BTreeMap::new()),
                None => {}
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            let (key, value) = line.split_once(": ").expect("a `key: value` line");
            block.insert(key, value);
        }
    }
    out
}

/// The verdict as the document writes it.
fn verdict(v: &BTreeMap<&str, &str>) -> String {
    let file: String = serde_json::from_str(v["file"]).expect("file is a JSON string");
    let digest = Sha256Digest::of(file.as_bytes());
    assert_eq!(digest.to_hex(), v["sha256"], "{}: sha256", v["name"]);
    if v["signature"] == "none" {
        return "unsigned".into();
    }
    let trusted = match v["trusted"] {
        "none" => None,
        key => Some(Ed25519PublicKey::from_base64url(key).unwrap()),
    };
    let result = PluginSignature::parse(v["signature"].as_bytes())
        .and_then(|s| s.verify(&digest, |k| (Some(k) == trusted.as_ref()).then_some("acme")));
    match result {
        Ok(name) => format!("signed by {name}"),
        Err(e) => format!("invalid: {e}"),
    }
}

#[test]
fn every_vector_in_the_document_holds() {
    let vectors = vectors();
    assert!(vectors.len() >= 5, "found {} vectors", vectors.len());
    let mut verdicts = Vec::new();
    for v in &vectors {
        let got = verdict(v);
        assert!(
            got.starts_with(v["expect"]),
            "{}: expected {:?}, got {got:?}",
            v["name"],
            v["expect"]
        );
        verdicts.push(got);
    }
    // Every outcome is covered: signed, unsigned, and each kind of invalid.
    for expected in [
        "signed by",
        "unsigned",
        "invalid: the signature does not match",
        "invalid: signed with a key that is not trusted",
        "invalid: the signature file is damaged",
    ] {
        assert!(
            verdicts.iter().any(|v| v.starts_with(expected)),
            "no vector for {expected:?}"
        );
    }
}

#[test]
fn the_signed_vector_is_what_the_demo_key_signs() {
    // Ed25519 is deterministic: signing the vector's file with the documented key gives the
    // documented line, so a vector cannot be a signature made with another key.
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let key_file: serde_json::Value =
        serde_json::from_str(include_str!("../../examples/demo-vendor/ed25519.key")).unwrap();
    let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key_file["private_key"].as_str().unwrap())
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().unwrap());
    let signed = vectors()
        .into_iter()
        .find(|v| v["name"] == "signed")
        .unwrap();
    let file: String = serde_json::from_str(signed["file"]).unwrap();
    let message = toru_plugin_api::signature::signed_message(&Sha256Digest::of(file.as_bytes()));
    let line = PluginSignature {
        public_key: Ed25519PublicKey::from_bytes(key.verifying_key().as_bytes()).unwrap(),
        signature: key.sign(&message).to_bytes(),
    }
    .to_line();
    assert_eq!(line, signed["signature"]);
}
