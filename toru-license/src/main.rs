//! `toru-license`: the plugin vendor's tool for Toru licence keys and plugin signatures.
//!
//! Exit codes: 0 success; 1 the licence key was rejected (`verify`) or cannot be decoded
//! (`inspect`); 2 anything else (usage, key files, I/O).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};
use toru_license::{KeyFile, SigningKey, issue, read_key_file, sign_plugin, write_new_key_files};
use toru_plugin_api::license::{self, Algorithm, FORMAT_VERSION, License, LicenseError};
use toru_plugin_api::signature::Sha256Digest;

/// Make signing keys and issue, inspect and verify Toru licence keys (docs/licensing.md).
///
/// Secrets are only ever read from key files, which must be readable by their owner only
/// (mode 0600). Exit codes: 0 success, 1 the licence key was rejected or cannot be decoded,
/// 2 any other error.
#[derive(Parser)]
#[command(name = "toru-license", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new signing key: FILE gets the secret (mode 0600); for ed25519, FILE.pub gets the
    /// public key, which is also printed, to embed in the plugin.
    Keygen {
        /// The signature algorithm; ed25519 is recommended (the plugin ships only a public key).
        #[arg(long, value_enum)]
        alg: AlgArg,
        /// Where to write the secret; never overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Issue a licence key for one plugin on one Toru instance; prints the key.
    Issue {
        /// The signing key file (from keygen).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The plugin's id, as in its metadata.
        #[arg(long, value_name = "ID")]
        plugin: String,
        /// The Toru instance id (`toructl status` shows it).
        #[arg(long, value_name = "UUID")]
        instance: String,
        /// When it expires: YYYY-MM-DD (valid through that day, UTC) or an RFC 3339 time.
        /// Without it, the key never expires.
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// Who the licence is for.
        #[arg(long, value_name = "NAME", default_value = "")]
        licensee: String,
        /// A feature the licence unlocks; repeat for more.
        #[arg(long = "feature", value_name = "F")]
        features: Vec<String>,
    },
    /// Decode a licence key WITHOUT verifying it and print its payload as JSON. `-` reads the key
    /// from stdin.
    Inspect {
        /// The licence key.
        #[arg(value_name = "KEY")]
        license_key: String,
    },
    /// Sign a plugin binary for administrators who trust your public key (docs/signing.md):
    /// writes FILE.sig, one line to ship next to FILE.
    Sign {
        /// The Ed25519 signing key file (from keygen --alg ed25519).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The plugin binary to sign.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Verify a licence key as the plugin would, now. `-` reads the key from stdin.
    Verify {
        /// The licence key.
        #[arg(value_name = "KEY")]
        license_key: String,
        /// The key file to verify with: the signing key, or an ed25519 public key (FILE.pub).
        #[arg(long = "key", value_name = "FILE")]
        key_file: PathBuf,
        /// The plugin id to expect.
        #[arg(long, value_name = "ID")]
        plugin: String,
        /// The Toru instance id to expect.
        #[arg(long, value_name = "UUID")]
        instance: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum AlgArg {
    /// Ed25519 (EdDSA) signatures: the plugin holds only the public key.
    Ed25519,
    /// HMAC-SHA256 (HS256): the plugin holds the secret, and anyone who extracts it can mint keys.
    Hmac,
}

/// How a command failed: which exit code, and what to say.
enum Failure {
    /// The licence key was rejected: exit 1.
    Rejected(LicenseError),
    /// Anything else: exit 2.
    Error(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected(e)) => {
            eprintln!("toru-license: key rejected ({}): {e}", e.kind());
            ExitCode::from(1)
        }
        Err(Failure::Error(message)) => {
            eprintln!("toru-license: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen { alg, out } => keygen(alg, &out),
        Command::Issue {
            key,
            plugin,
            instance,
            expires,
            licensee,
            features,
        } => {
            let KeyFile::Signing(signer) = read_key_file(&key)? else {
                return Err(Failure::Error(format!(
                    "{} is a public key, which cannot issue; use the private key file",
                    key.display()
                )));
            };
            let now = unix_now();
            let expires_at = match expires {
                None => None,
                Some(text) => {
                    let exp = parse_expiry(&text)?;
                    if exp <= now {
                        return Err(Failure::Error(format!(
                            "--expires {text} is in the past ({})",
                            utc(exp)
                        )));
                    }
                    Some(exp)
                }
            };
            let licence = License {
                version: FORMAT_VERSION,
                algorithm: signer.algorithm(),
                plugin,
                instance: normalize_instance(&instance)?,
                licensee,
                issued_at: now,
                expires_at,
                features,
            };
            println!("{}", issue(&licence, &signer)?);
            Ok(())
        }
        Command::Sign { key, file } => sign(&key, &file),
        Command::Inspect { license_key } => {
            let licence = license::decode_unverified(&key_argument(license_key)?)
                .map_err(Failure::Rejected)?;
            println!("{}", serde_json::to_string_pretty(&licence)?);
            eprintln!(
                "NOT verified (anyone can write a key that decodes): {}",
                describe(&licence)
            );
            Ok(())
        }
        Command::Verify {
            license_key,
            key_file,
            plugin,
            instance,
        } => {
            let verifier = read_key_file(&key_file)?.verifying_key();
            let key = key_argument(license_key)?;
            let instance = normalize_instance(&instance)?;
            let licence = license::verify(&key, &verifier, &plugin, &instance, SystemTime::now())
                .map_err(Failure::Rejected)?;
            println!("valid: {}", describe(&licence));
            Ok(())
        }
    }
}

fn keygen(alg: AlgArg, out: &std::path::Path) -> Result<(), Failure> {
    let algorithm = match alg {
        AlgArg::Ed25519 => Algorithm::EdDsa,
        AlgArg::Hmac => Algorithm::Hs256,
    };
    let key = SigningKey::generate(algorithm)
        .map_err(|e| Failure::Error(format!("no randomness from the operating system: {e}")))?;
    let public_path = write_new_key_files(out, &key)?;
    match (key.public_key_base64url(), public_path) {
        (Some(public), Some(public_path)) => {
            println!("{public}");
            eprintln!(
                "wrote the private key to {} (mode 0600: keep it secret, keep a backup) and the \
                 public key to {}. Embed the public key printed above in the plugin, e.g. \
                 VerifyingKey::ed25519_base64url(\"{public}\").",
                out.display(),
                public_path.display()
            );
        }
        _ => eprintln!(
            "wrote the HMAC secret to {} (mode 0600). The plugin must embed this same secret \
             (its \"secret\" field, VerifyingKey::hmac_base64url): anyone who extracts it from \
             the plugin can issue keys. Prefer --alg ed25519.",
            out.display()
        ),
    }
    Ok(())
}

/// Signs `file` with the key in `key_file` and writes `file.sig` (replacing an older one: a
/// rebuilt binary needs a new signature).
fn sign(key_file: &std::path::Path, file: &std::path::Path) -> Result<(), Failure> {
    let KeyFile::Signing(signer) = read_key_file(key_file)? else {
        return Err(Failure::Error(format!(
            "{} is a public key, which cannot sign; use the private key file",
            key_file.display()
        )));
    };
    let bytes =
        std::fs::read(file).map_err(|e| Failure::Error(format!("{}: {e}", file.display())))?;
    let digest = Sha256Digest::of(&bytes);
    let line = sign_plugin(&digest, &signer)?.to_line();
    let mut sig_path = file.as_os_str().to_owned();
    sig_path.push(".sig");
    let sig_path = PathBuf::from(sig_path);
    std::fs::write(&sig_path, format!("{line}\n"))
        .map_err(|e| Failure::Error(format!("{}: {e}", sig_path.display())))?;
    println!("{line}");
    eprintln!(
        "signed {} (sha256 {digest}) with public key {}; wrote {}. Ship it next to the binary; \
         administrators trust the public key file (FILE.pub from keygen) in \
         /etc/toru/trusted-keys/NAME.pub.",
        file.display(),
        signer.public_key_base64url().unwrap_or_default(),
        sig_path.display()
    );
    Ok(())
}

/// The licence key from the command line, or from stdin for `-`.
fn key_argument(arg: String) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut text = String::new();
    std::io::stdin()
        .take(license::MAX_KEY_LEN as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::Error(format!("reading the key from stdin: {e}")))?;
    Ok(text)
}

/// The instance id as the daemon sends it: a lower-case hyphenated UUID.
fn normalize_instance(text: &str) -> Result<String, Failure> {
    uuid::Uuid::parse_str(text.trim())
        .map(|u| u.to_string())
        .map_err(|e| Failure::Error(format!("--instance {text:?} is not a UUID: {e}")))
}

/// `--expires`: a date means the end of that day, UTC; an RFC 3339 time means that second.
fn parse_expiry(text: &str) -> Result<u64, Failure> {
    let bad = |e: &dyn std::fmt::Display| {
        Failure::Error(format!(
            "--expires {text:?} is neither YYYY-MM-DD nor an RFC 3339 time: {e}"
        ))
    };
    let timestamp = if text.len() == 10 {
        let date: jiff::civil::Date = text.parse().map_err(|e| bad(&e))?;
        let next_day = date.tomorrow().map_err(|e| bad(&e))?;
        jiff::tz::TimeZone::UTC
            .to_timestamp(next_day.into())
            .map_err(|e| bad(&e))?
    } else {
        text.parse::<jiff::Timestamp>().map_err(|e| bad(&e))?
    };
    u64::try_from(timestamp.as_second()).map_err(|_| bad(&"before 1970"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| format!("{secs} (Unix seconds)"), |t| t.to_string())
}

/// One line about a licence, for people.
fn describe(l: &License) -> String {
    let mut out = format!(
        "{} key for plugin {:?} on instance {}, licensee {:?}, issued {}, ",
        l.algorithm,
        l.plugin,
        l.instance,
        l.licensee,
        utc(l.issued_at)
    );
    match l.expires_at {
        Some(exp) => out.push_str(&format!("expires {}", utc(exp))),
        None => out.push_str("never expires"),
    }
    if !l.features.is_empty() {
        out.push_str(&format!(", features: {}", l.features.join(", ")));
    }
    out
}
