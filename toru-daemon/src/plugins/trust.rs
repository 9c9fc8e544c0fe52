//! Signed plugins on the daemon's side (`docs/signing.md`): the administrator's trusted keys,
//! the `signatures` policy, the check of one binary against them, and the verified copies that
//! `enforce` runs.
//!
//! Under `enforce` the daemon reads a binary once, hashes exactly those bytes, checks the
//! signature over that digest and writes the same bytes to `<verified dir>/<sha256>.binary`
//! (root's, mode 0555). `--metadata` and every start run that copy, never the file in the plugins
//! directory, so nothing can be swapped in between the check and the exec; a start also refuses
//! when the plugins directory's file no longer has the verified digest, so an administrator
//! notices a replaced binary instead of silently running the old one. Under `warn` the binary
//! runs from where it is (a copy would protect nothing, since unsigned code runs anyway) and each
//! start checks it again to keep the status true; under `off` nothing is read.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toru_plugin_api::license::Ed25519PublicKey;
use toru_plugin_api::signature::{
    MAX_SIGNATURE_LEN, PluginSignature, Sha256Digest, parse_public_key_file,
};

pub use toru_api::SignatureStatus;

/// What the daemon does about plugin signatures (`signatures` in toru.toml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SignaturePolicy {
    /// Nothing is checked; the status says `not_checked`.
    Off,
    /// Checked and shown; an unsigned or badly signed plugin still loads, with a warning.
    #[default]
    Warn,
    /// An unsigned or badly signed plugin is refused at discovery and at every start, and
    /// plugins run from the daemon's verified copies.
    Enforce,
}

/// The suffix of a trusted key file; anything else in the directory is ignored.
const KEY_FILE_SUFFIX: &str = ".pub";

/// The largest trusted key file read; a real one is about 100 bytes.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// A trusted-keys directory that cannot be used: the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The directory exists but cannot be read.
    #[error("trusted keys directory {}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// One key file is unusable. Refused rather than skipped: an administrator who added a key
    /// expects plugins signed with it to load, and a skipped key would surface much later as
    /// "not trusted" on every such plugin instead of here, naming the file.
    #[error("trusted key file {}: {reason}", file.display())]
    KeyFile {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The administrator's trust roots: Ed25519 public keys, each named by its file's stem.
#[derive(Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<(String, Ed25519PublicKey)>,
}

impl TrustedKeys {
    /// Reads every `NAME.pub` in `dir`; a missing directory means no trusted keys.
    pub fn load(dir: &Path) -> Result<Self, TrustError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(TrustError::Dir {
                    dir: dir.to_owned(),
                    source,
                });
            }
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| TrustError::Dir {
                dir: dir.to_owned(),
                source,
            })?;
            let file = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(KEY_FILE_SUFFIX))
            else {
                continue;
            };
            let bad = |reason: String| TrustError::KeyFile {
                file: file.clone(),
                reason,
            };
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(bad(
                    "the file's name (the key's name) is empty or unprintable".into(),
                ));
            }
            let mut text = String::new();
            std::fs::File::open(&file)
                .and_then(|f| f.take(MAX_KEY_FILE_LEN).read_to_string(&mut text))
                .map_err(|e| bad(e.to_string()))?;
            let key = parse_public_key_file(&text).map_err(|e| bad(e.to_string()))?;
            keys.push((name.to_owned(), key));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(TrustedKeys { keys })
    }

    /// Trusts `key` as `name`; for tests and embedders that do not read a directory.
    pub fn with(mut self, name: &str, key: Ed25519PublicKey) -> Self {
        self.keys.push((name.to_owned(), key));
        self
    }

    /// The names of the trusted keys, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.keys.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// The name under which `key` is trusted, if it is.
    fn name_of(&self, key: &Ed25519PublicKey) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, k)| k == key)
            .map(|(name, _)| name.as_str())
    }
}

/// The signature settings the manager and the supervisors share.
#[derive(Debug, Clone)]
pub struct Trust {
    /// `off`, `warn` or `enforce`.
    pub policy: SignaturePolicy,
    /// The trust roots.
    pub keys: Arc<TrustedKeys>,
    /// Where `enforce` keeps the copies it runs (`<data dir>/verified`).
    pub verified_dir: PathBuf,
}

impl Trust {
    /// The default: `warn`, no trusted keys.
    pub fn new(verified_dir: PathBuf) -> Self {
        Trust {
            policy: SignaturePolicy::default(),
            keys: Arc::default(),
            verified_dir,
        }
    }
}

/// What the check of one binary found, kept on its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The SHA-256 of the bytes checked; `None` under `off`.
    pub digest: Option<Sha256Digest>,
    /// What is shown.
    pub status: SignatureStatus,
    /// What runs: the verified copy under `enforce`, the binary itself otherwise.
    pub run_from: PathBuf,
    /// The binary's file identity and times when it was read, so that a start under `warn`
    /// hashes it again only when it changed.
    pub stamp: Option<FileStamp>,
}

/// What changes when a file is replaced or written: device, inode, size, and modification and
/// change times (the change time cannot be set back by anyone but the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn read(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::of(&m))
    }
}

impl Verified {
    /// Nothing checked: the binary runs as it is.
    pub fn unchecked(binary: &Path) -> Self {
        Verified {
            digest: None,
            status: SignatureStatus::NotChecked,
            run_from: binary.to_owned(),
            stamp: None,
        }
    }
}

/// The signature file of `binary`: `X.binary.sig`.
pub fn signature_path(binary: &Path) -> PathBuf {
    let mut path = binary.as_os_str().to_owned();
    path.push(".sig");
    PathBuf::from(path)
}

/// Checks `binary` under `trust`'s policy. `Err` is the refusal `enforce` makes, for a
/// `DiscoveryFailure`; under `warn` a bad signature is only a status.
pub async fn check(binary: &Path, trust: &Trust) -> Result<Verified, String> {
    if trust.policy == SignaturePolicy::Off {
        return Ok(Verified::unchecked(binary));
    }
    let binary = binary.to_owned();
    let trust = trust.clone();
    tokio::task::spawn_blocking(move || check_blocking(&binary, &trust))
        .await
        .map_err(|e| format!("checking the signature failed: {e}"))?
}

fn check_blocking(binary: &Path, trust: &Trust) -> Result<Verified, String> {
    // The stamp is taken before the read: a change during the read shows at the next start.
    let stamp = FileStamp::read(binary);
    let bytes = match std::fs::read(binary) {
        Ok(bytes) => bytes,
        // Under `warn` the start goes on and fails (or not) as it would have without a check.
        Err(e) if trust.policy == SignaturePolicy::Warn => {
            return Ok(Verified {
                digest: None,
                status: SignatureStatus::Invalid {
                    reason: format!("cannot read the binary: {e}"),
                },
                run_from: binary.to_owned(),
                stamp: None,
            });
        }
        Err(e) => return Err(format!("refused: cannot read the binary: {e}")),
    };
    let digest = Sha256Digest::of(&bytes);
    let status = signature_status(binary, &digest, &trust.keys);
    if trust.policy == SignaturePolicy::Warn {
        return Ok(Verified {
            digest: Some(digest),
            status,
            run_from: binary.to_owned(),
            stamp,
        });
    }
    if let Some(reason) = refusal(&status) {
        return Err(reason);
    }
    let copy = write_verified_copy(&trust.verified_dir, &digest, &bytes)
        .map_err(|e| format!("cannot keep a verified copy: {e}"))?;
    Ok(Verified {
        digest: Some(digest),
        status,
        run_from: copy,
        stamp,
    })
}

/// Why `enforce` refuses a binary with `status`, or `None` when it is signed.
pub fn refusal(status: &SignatureStatus) -> Option<String> {
    match status {
        SignatureStatus::Signed { .. } | SignatureStatus::NotChecked => None,
        SignatureStatus::Unsigned => Some(
            "refused: unsigned (no .sig file next to it) and signatures are enforced".to_owned(),
        ),
        SignatureStatus::Invalid { reason } => Some(format!(
            "refused: bad signature ({reason}) and signatures are enforced"
        )),
    }
}

/// The status of `binary`'s signature file over `digest`.
fn signature_status(binary: &Path, digest: &Sha256Digest, keys: &TrustedKeys) -> SignatureStatus {
    let path = signature_path(binary);
    let mut text = Vec::new();
    let read = std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_SIGNATURE_LEN as u64 + 1).read_to_end(&mut text));
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return SignatureStatus::Unsigned,
        Err(e) => {
            return SignatureStatus::Invalid {
                reason: format!("cannot read {}: {e}", path.display()),
            };
        }
        Ok(_) => {}
    }
    let verdict = PluginSignature::parse(&text).and_then(|signature| {
        signature
            .verify(digest, |k| keys.name_of(k))
            .map(str::to_owned)
    });
    match verdict {
        Ok(key) => SignatureStatus::Signed { key },
        Err(e) => SignatureStatus::Invalid {
            reason: e.to_string(),
        },
    }
}

/// Writes `bytes` to `<dir>/<digest>.binary`, mode 0555, through a temporary file and a rename,
/// so the name only ever holds the complete verified bytes. The directory is made 0711: plugin
/// units (other users) can reach and run a copy, not list or change them.
fn write_verified_copy(
    dir: &Path,
    digest: &Sha256Digest,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
    let path = copy_path(dir, digest);
    let mut temp = tempfile::Builder::new()
        .prefix(".verifying-")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o555))?;
    temp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

fn copy_path(dir: &Path, digest: &Sha256Digest) -> PathBuf {
    dir.join(format!("{digest}.binary"))
}

/// Deletes the verified copies no plugin uses any more (and leftovers of interrupted writes).
/// A running plugin whose copy is deleted keeps running: the file is only unlinked.
pub fn prune(dir: &Path, in_use: &BTreeSet<Sha256Digest>) -> std::io::Result<usize> {
    let keep: BTreeSet<PathBuf> = in_use.iter().map(|d| copy_path(dir, d)).collect();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        if !keep.contains(&path) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// What a start runs, checked again: under `enforce`, the verified copy, after making sure the
/// plugins directory's binary still has the digest verified at discovery and the copy still holds
/// those bytes; under `warn`, the binary, checked again if it changed since (the new status is
/// returned so the slot shows it); under `off`, the binary. `Err` is the refusal, for the
/// plugin's status.
pub async fn check_before_start(
    binary: &Path,
    verified: &Verified,
    trust: &Trust,
) -> Result<Verified, String> {
    match trust.policy {
        SignaturePolicy::Off => Ok(Verified::unchecked(binary)),
        SignaturePolicy::Warn => {
            let unchanged = verified.stamp.is_some() && verified.stamp == FileStamp::read(binary);
            if unchanged && verified.run_from == binary {
                Ok(verified.clone())
            } else {
                check(binary, trust).await
            }
        }
        SignaturePolicy::Enforce => {
            let binary = binary.to_owned();
            let verified = verified.clone();
            tokio::task::spawn_blocking(move || recheck_enforced(&binary, verified))
                .await
                .map_err(|e| format!("checking the signature failed: {e}"))?
        }
    }
}

fn recheck_enforced(binary: &Path, verified: Verified) -> Result<Verified, String> {
    let Some(expected) = verified.digest else {
        return Err(
            "refused: not verified (signatures are enforced); rescan to verify it".to_owned(),
        );
    };
    if let Some(reason) = refusal(&verified.status) {
        return Err(reason);
    }
    let now = std::fs::read(binary)
        .map(|bytes| Sha256Digest::of(&bytes))
        .map_err(|e| format!("refused: cannot read {}: {e}", binary.display()))?;
    if now != expected {
        return Err(format!(
            "refused: {} changed since verified (sha256 {expected} then, {now} now); rescan to \
             verify it again",
            binary.display()
        ));
    }
    let copy = std::fs::read(&verified.run_from)
        .map(|bytes| Sha256Digest::of(&bytes))
        .map_err(|e| format!("refused: the verified copy is missing: {e}; rescan"))?;
    if copy != expected {
        return Err("refused: the verified copy was altered; rescan".to_owned());
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_key_file_is_refused_naming_it_and_other_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let good = "{\"type\": \"toru-license-ed25519-public-key\", \"public_key\": \
                    \"cLPagOrte4LQD7vmjquXyw2eFbgLnfj2N2xzKBsrzJg\"}";
        std::fs::write(dir.path().join("acme.pub"), good).unwrap();
        std::fs::write(dir.path().join("README"), "not a key").unwrap();
        let keys = TrustedKeys::load(dir.path()).unwrap();
        assert_eq!(keys.names(), ["acme"]);
        std::fs::write(dir.path().join("broken.pub"), "nonsense").unwrap();
        let err = TrustedKeys::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("broken.pub"), "{err}");
        let missing = TrustedKeys::load(&dir.path().join("none")).unwrap();
        assert!(missing.names().is_empty());
    }

    #[tokio::test]
    async fn warn_checks_a_binary_again_at_start_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("x.binary");
        std::fs::write(&binary, b"v1").unwrap();
        let trust = Trust::new(dir.path().join("verified"));
        let first = check(&binary, &trust).await.unwrap();
        assert_eq!(first.status, SignatureStatus::Unsigned);
        assert_eq!(first.digest, Some(Sha256Digest::of(b"v1")));
        let again = check_before_start(&binary, &first, &trust).await.unwrap();
        assert_eq!(again, first, "unchanged: the same verdict");
        std::fs::write(dir.path().join("x.binary.sig"), "TORUSIG1.garbage").unwrap();
        std::fs::write(&binary, b"version 2").unwrap();
        let changed = check_before_start(&binary, &first, &trust).await.unwrap();
        assert_eq!(changed.digest, Some(Sha256Digest::of(b"version 2")));
        assert!(
            matches!(&changed.status, SignatureStatus::Invalid { reason } if reason.contains("damaged")),
            "{changed:?}"
        );
        assert!(
            !dir.path().join("verified").exists(),
            "warn makes no copies"
        );
    }

    #[tokio::test]
    async fn enforce_refuses_an_unsigned_binary_and_a_start_without_verification() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("x.binary");
        std::fs::write(&binary, b"v1").unwrap();
        let trust = Trust {
            policy: SignaturePolicy::Enforce,
            ..Trust::new(dir.path().join("verified"))
        };
        let refused = check(&binary, &trust).await.unwrap_err();
        assert!(refused.contains("unsigned"), "{refused}");
        let never_verified = Verified::unchecked(&binary);
        let refused = check_before_start(&binary, &never_verified, &trust)
            .await
            .unwrap_err();
        assert!(refused.contains("not verified"), "{refused}");
    }

    #[test]
    fn prune_keeps_only_the_copies_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sha256Digest::of(b"a");
        let b = Sha256Digest::of(b"b");
        write_verified_copy(dir.path(), &a, b"a").unwrap();
        let b_path = write_verified_copy(dir.path(), &b, b"b").unwrap();
        let mode = std::fs::metadata(&b_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o555);
        assert_eq!(prune(dir.path(), &BTreeSet::from([b])).unwrap(), 1);
        assert!(b_path.exists() && !copy_path(dir.path(), &a).exists());
    }
}
