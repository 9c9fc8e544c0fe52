//! `toru-license sign` end to end, as a vendor runs it: keygen, sign, and the daemon's check of
//! the `.sig` it wrote (with `toru_plugin_api::signature`, the code the daemon uses).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use toru_plugin_api::signature::{
    PluginSignature, Sha256Digest, SignatureError, parse_public_key_file,
};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toru-license"))
        .args(args)
        .output()
        .expect("toru-license runs")
}

fn keygen(dir: &Path, name: &str, alg: &str) -> String {
    let key = dir.join(name);
    let out = tool(&["keygen", "--alg", alg, "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    key.to_str().unwrap().to_owned()
}

#[test]
fn sign_writes_a_signature_line_that_verifies_with_the_public_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "acme.key", "ed25519");
    let binary = dir.path().join("acme.binary");
    fs::write(&binary, b"#!/bin/sh\necho plugin\n").unwrap();

    let out = tool(&["sign", "--key", &key, binary.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let sig = fs::read(dir.path().join("acme.binary.sig")).unwrap();
    assert_eq!(sig.iter().filter(|b| **b == b'\n').count(), 1, "one line");
    assert!(sig.len() < 1024 && sig.is_ascii());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(sig.clone()).unwrap(),
        "the line is printed too"
    );

    let public = parse_public_key_file(&fs::read_to_string(format!("{key}.pub")).unwrap()).unwrap();
    let signature = PluginSignature::parse(&sig).unwrap();
    let trusted = |k: &toru_plugin_api::license::Ed25519PublicKey| (*k == public).then_some("acme");
    let digest = Sha256Digest::of(&fs::read(&binary).unwrap());
    assert_eq!(signature.verify(&digest, trusted), Ok("acme"));
    let other = Sha256Digest::of(b"another file");
    assert_eq!(
        signature.verify(&other, trusted),
        Err(SignatureError::Mismatch)
    );

    // Signing again (a rebuilt binary) replaces the old signature.
    fs::write(&binary, b"#!/bin/sh\necho rebuilt\n").unwrap();
    assert!(
        tool(&["sign", "--key", &key, binary.to_str().unwrap()])
            .status
            .success()
    );
    let resigned =
        PluginSignature::parse(&fs::read(dir.path().join("acme.binary.sig")).unwrap()).unwrap();
    let digest = Sha256Digest::of(&fs::read(&binary).unwrap());
    assert_eq!(resigned.verify(&digest, trusted), Ok("acme"));
}

#[test]
fn sign_refuses_keys_that_cannot_sign_plugins_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let ed = keygen(dir.path(), "acme.key", "ed25519");
    let hmac = keygen(dir.path(), "hmac.key", "hmac");
    let binary = dir.path().join("x.binary");
    fs::write(&binary, b"x").unwrap();
    let binary = binary.to_str().unwrap();
    for (key, file, expect) in [
        (format!("{ed}.pub"), binary, "public key"),
        (hmac, binary, "Ed25519"),
        (ed.clone(), "/nonexistent/x.binary", "/nonexistent/x.binary"),
    ] {
        let out = tool(&["sign", "--key", &key, file]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(expect), "{err}");
    }
    assert!(!dir.path().join("x.binary.sig").exists());
}
