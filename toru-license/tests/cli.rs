//! `toru-license` end to end, as a vendor runs it: keygen → issue → verify, the refusals and
//! their exit codes (0 success, 1 key rejected, 2 any other error).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const INSTANCE: &str = "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10";
const OTHER_INSTANCE: &str = "5f0c2a4e-8b1d-4c6f-9e2a-7d3b1c0e9f48";

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toru-license"))
        .args(args)
        .output()
        .expect("toru-license runs")
}

fn tool_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toru-license"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn keygen(dir: &Path, alg: &str) -> (String, Output) {
    let key = dir.join(format!("{alg}.key"));
    let key = key.to_str().unwrap().to_owned();
    let out = tool(&["keygen", "--alg", alg, "--out", &key]);
    assert_exit(&out, 0);
    (key, out)
}

fn issue(key_file: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "issue",
        "--key",
        key_file,
        "--plugin",
        "acme-backup",
        "--instance",
        INSTANCE,
    ];
    args.extend_from_slice(extra);
    let out = tool(&args);
    assert_exit(&out, 0);
    let key = stdout(&out).trim_end().to_owned();
    assert!(key.starts_with("TORU1."), "{key}");
    key
}

fn verify(key: &str, key_file: &str, instance: &str) -> Output {
    tool(&[
        "verify",
        key,
        "--key",
        key_file,
        "--plugin",
        "acme-backup",
        "--instance",
        instance,
    ])
}

fn inspect(key: &str) -> Value {
    let out = tool(&["inspect", key]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("NOT verified"), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn ed25519_keygen_issue_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, out) = keygen(dir.path(), "ed25519");
    let public_file = format!("{key_file}.pub");
    assert_eq!(mode(Path::new(&key_file)), 0o600);
    assert_eq!(
        mode(Path::new(&public_file)) & 0o022,
        0,
        "nobody else may change it"
    );
    // The printed public key is the one in the .pub file, and not the private key.
    let public = stdout(&out).trim().to_owned();
    assert_eq!(public.len(), 43, "{public}");
    let pub_json: Value = serde_json::from_str(&fs::read_to_string(&public_file).unwrap()).unwrap();
    assert_eq!(pub_json["public_key"], public.as_str());
    assert_eq!(pub_json["type"], "toru-license-ed25519-public-key");
    assert!(stderr(&out).contains(&format!("VerifyingKey::ed25519_base64url(\"{public}\")")));

    let key = issue(
        &key_file,
        &[
            "--licensee",
            "Ada Ltd",
            "--feature",
            "pro",
            "--feature",
            "s3",
            "--expires",
            "2099-12-31",
        ],
    );
    // With the public key (what a plugin holds) and with the private key file.
    for with in [&public_file, &key_file] {
        let out = verify(&key, with, INSTANCE);
        assert_exit(&out, 0);
        assert!(
            stdout(&out).starts_with("valid: EdDSA key for plugin \"acme-backup\""),
            "{}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("expires 2100-01-01T00:00:00Z, features: pro, s3"));
    }
    let payload = inspect(&key);
    assert_eq!(payload["alg"], "EdDSA");
    assert_eq!(payload["licensee"], "Ada Ltd");
    assert_eq!(payload["instance"], INSTANCE);
    assert_eq!(payload["features"], serde_json::json!(["pro", "s3"]));
    // "valid through 2099-12-31, UTC": exp is the next midnight.
    assert_eq!(payload["exp"], 4_102_444_800u64);

    // The wrong instance: exit 1, saying which instance the key is for and which this is.
    let out = verify(&key, &public_file, OTHER_INSTANCE);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "key rejected (wrong_instance): the licence key was issued for instance {INSTANCE}, \
             this is instance {OTHER_INSTANCE}; ask the vendor for a key for this instance"
        )),
        "{}",
        stderr(&out)
    );
    // A key from another vendor: exit 1, bad signature.
    let other_dir = tempfile::tempdir().unwrap();
    let (other_key_file, _) = keygen(other_dir.path(), "ed25519");
    let out = verify(&key, &format!("{other_key_file}.pub"), INSTANCE);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("(bad_signature)"), "{}", stderr(&out));
    // A public key cannot issue.
    let out = tool(&[
        "issue",
        "--key",
        &public_file,
        "--plugin",
        "p",
        "--instance",
        INSTANCE,
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("public key, which cannot issue"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hmac_keygen_issue_verify_and_key_file_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, out) = keygen(dir.path(), "hmac");
    assert_eq!(mode(Path::new(&key_file)), 0o600);
    assert!(!Path::new(&format!("{key_file}.pub")).exists());
    assert_eq!(stdout(&out), "", "the secret is never printed");
    assert!(
        stderr(&out).contains("anyone who extracts it"),
        "{}",
        stderr(&out)
    );

    // An upper-case instance id is written the way the daemon sends it.
    let upper = INSTANCE.to_uppercase();
    let key = {
        let out = tool(&[
            "issue",
            "--key",
            &key_file,
            "--plugin",
            "acme-backup",
            "--instance",
            &upper,
        ]);
        assert_exit(&out, 0);
        stdout(&out).trim_end().to_owned()
    };
    let payload = inspect(&key);
    assert_eq!(payload["instance"], INSTANCE);
    assert_eq!(payload["alg"], "HS256");
    assert!(payload.get("exp").is_none() && payload.get("features").is_none());
    assert_exit(&verify(&key, &key_file, INSTANCE), 0);
    assert_exit(&verify(&key, &key_file, &upper), 0);

    // An HS256 key checked with an Ed25519 public key: refused, not confused.
    let (ed_file, _) = keygen(dir.path(), "ed25519");
    let out = verify(&key, &format!("{ed_file}.pub"), INSTANCE);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("(algorithm_mismatch)"),
        "{}",
        stderr(&out)
    );

    // A secret readable by others is refused, for every command that reads it.
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
    let message = format!(
        "refusing to use {key_file}: it holds a signing secret but its mode is 0644; it must be \
         readable by its owner only: chmod 600 {key_file}"
    );
    let out = verify(&key, &key_file, INSTANCE);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains(&message), "{}", stderr(&out));
    let out = tool(&[
        "issue",
        "--key",
        &key_file,
        "--plugin",
        "p",
        "--instance",
        INSTANCE,
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains(&message), "{}", stderr(&out));
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o640)).unwrap();
    assert_exit(&verify(&key, &key_file, INSTANCE), 2);
    // Owner-only read is fine too.
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o400)).unwrap();
    assert_exit(&verify(&key, &key_file, INSTANCE), 0);

    // keygen never overwrites a key.
    let out = tool(&["keygen", "--alg", "hmac", "--out", &key_file]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("exists already"), "{}", stderr(&out));
    assert_eq!(mode(Path::new(&key_file)), 0o400, "left alone");
}

#[test]
fn expiry_dates_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, _) = keygen(dir.path(), "ed25519");
    let key = issue(&key_file, &["--expires", "2099-06-30T12:00:00+02:00"]);
    assert_eq!(inspect(&key)["exp"], 4_086_496_800u64);
    let key = issue(&key_file, &["--expires", "2099-06-30T10:00:00Z"]);
    assert_eq!(inspect(&key)["exp"], 4_086_496_800u64);
    for bad in ["2020-01-01", "2099-02-30", "tomorrow", "2099-06-30 10:00"] {
        let out = tool(&[
            "issue",
            "--key",
            &key_file,
            "--plugin",
            "p",
            "--instance",
            INSTANCE,
            "--expires",
            bad,
        ]);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("--expires"),
            "{bad}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn bad_arguments_and_undecodable_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, _) = keygen(dir.path(), "ed25519");
    for args in [
        &[
            "issue",
            "--key",
            &key_file,
            "--plugin",
            "Not An Id",
            "--instance",
            INSTANCE,
        ][..],
        &[
            "issue",
            "--key",
            &key_file,
            "--plugin",
            "p",
            "--instance",
            "not-a-uuid",
        ],
        &[
            "issue",
            "--key",
            &key_file,
            "--plugin",
            "p",
            "--instance",
            INSTANCE,
            "--feature",
            "",
        ],
        &[
            "issue",
            "--key",
            "/nonexistent/key",
            "--plugin",
            "p",
            "--instance",
            INSTANCE,
        ],
        &["keygen", "--alg", "rsa", "--out", "x"],
        &["frobnicate"],
    ] {
        let out = tool(args);
        assert_exit(&out, 2);
    }
    // Not a key file at all.
    let junk = dir.path().join("junk");
    fs::write(&junk, "{}").unwrap();
    let out = verify("TORU1.e30.AAAA", junk.to_str().unwrap(), INSTANCE);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not a toru-license key file"),
        "{}",
        stderr(&out)
    );
    // Keys that do not decode: exit 1 with their kind.
    let out = tool(&["inspect", "hello"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("(bad_prefix)"), "{}", stderr(&out));
    let out = verify("TORU1.e30.AAAA", &format!("{key_file}.pub"), INSTANCE);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("(bad_payload)"), "{}", stderr(&out));
    // `-` reads the key from stdin, trailing newline and all.
    let key = issue(&key_file, &[]);
    let out = tool_with_stdin(&["inspect", "-"], &format!("{key}\n"));
    assert_exit(&out, 0);
    let out = tool_with_stdin(
        &[
            "verify",
            "-",
            "--key",
            &key_file,
            "--plugin",
            "acme-backup",
            "--instance",
            INSTANCE,
        ],
        &format!("{key}\n"),
    );
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("never expires"), "{}", stdout(&out));
}
