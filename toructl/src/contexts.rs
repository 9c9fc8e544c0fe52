//! Named remote daemons, as `kubectl`'s contexts: each a URL, the user logged in, the session
//! token the login returned and, for a self-signed certificate, its pinned fingerprint. Kept in
//! `$XDG_CONFIG_HOME/toru/contexts.toml` (else `~/.config/toru/contexts.toml`), mode 0600 in a
//! 0700 directory, since the tokens in it are as good as the passwords until they expire.
//!
//! The name `local` is reserved: it is the local socket, the default, so `toructl context use
//! local` returns to it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use toru_api::CertFingerprint;

/// The context that stands for the local socket, which needs no login and is never stored.
pub const LOCAL: &str = "local";

/// A context's name: what `--context` takes. Letters, digits, `.`, `_`, `-`, at most 63, so it
/// is safe as a table cell, a file-name part and a shell word.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ContextName(String);

impl ContextName {
    /// Whether this is the reserved [`LOCAL`].
    pub fn is_local(&self) -> bool {
        self.0 == LOCAL
    }
}

impl AsRef<str> for ContextName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContextName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ContextName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if first_ok && rest_ok && name.len() <= 63 {
            Ok(ContextName(name.to_owned()))
        } else {
            Err(format!(
                "{name:?} is not a context name (a letter or digit, then letters, digits, '.', '_' or '-'; at most 63)"
            ))
        }
    }
}

impl TryFrom<String> for ContextName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl From<ContextName> for String {
    fn from(name: ContextName) -> String {
        name.0
    }
}

/// One remote daemon and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub url: String,
    /// The dashboard user the session belongs to, for `context list` and a new login.
    pub user: String,
    /// The session token the login returned.
    pub session: String,
    /// The certificate accepted without an authority, for a self-signed daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<CertFingerprint>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contexts {
    /// The context commands use without `--context`; none is the local socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<ContextName>,
    /// Every stored context, by name.
    #[serde(default)]
    pub contexts: BTreeMap<ContextName, Context>,
}

/// Why the file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ContextsError {
    /// Neither `XDG_CONFIG_HOME` nor `HOME` is set.
    #[error("cannot tell where contexts are kept: neither XDG_CONFIG_HOME nor HOME is set")]
    NoConfigDir,
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a contexts file.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: toml::de::Error,
    },
}

impl Contexts {
    /// Where the file is: `$XDG_CONFIG_HOME/toru/contexts.toml`, else under `~/.config`.
    pub fn default_path() -> Result<PathBuf, ContextsError> {
        let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
                .ok_or(ContextsError::NoConfigDir)?,
        };
        Ok(config.join("toru/contexts.toml"))
    }

    /// The contexts in `path`; none when the file does not exist yet.
    pub fn load(path: &Path) -> Result<Contexts, ContextsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contexts::default()),
            Err(source) => {
                return Err(ContextsError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|source| ContextsError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the contexts to `path` at once (a new file renamed over the old one), mode 0600,
    /// creating its directory with mode 0700.
    pub fn save(&self, path: &Path) -> Result<(), ContextsError> {
        let io = |source| ContextsError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        let text = toml::to_string(self).map_err(|e| io(std::io::Error::other(e)))?;
        // tempfile creates the file 0600, so no token is ever readable by others.
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        file.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn names_are_shell_words() {
        for good in ["web-1", "db.eu_west", "7", "local"] {
            assert!(good.parse::<ContextName>().is_ok(), "{good}");
        }
        for bad in ["", "-web", "web 1", "a/b", "é", &"x".repeat(64)] {
            assert!(bad.parse::<ContextName>().is_err(), "{bad:?}");
        }
        assert!("local".parse::<ContextName>().unwrap().is_local());
    }

    #[test]
    fn round_trips_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("toru/contexts.toml");
        assert_eq!(Contexts::load(&path).unwrap(), Contexts::default());
        let mut contexts = Contexts::default();
        let web: ContextName = "web-1".parse().unwrap();
        contexts.contexts.insert(
            web.clone(),
            Context {
                url: "https://web-1:7443".into(),
                user: "admin".into(),
                session: "-token_".into(),
                fingerprint: Some(CertFingerprint::of(b"cert")),
            },
        );
        contexts.current = Some(web);
        contexts.save(&path).unwrap();
        assert_eq!(Contexts::load(&path).unwrap(), contexts);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(parent.mode() & 0o777, 0o700);
    }

    #[test]
    fn refuses_a_file_that_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contexts.toml");
        std::fs::write(&path, "[contexts.\"bad name\"]\nurl = 1\n").unwrap();
        let error = Contexts::load(&path).unwrap_err().to_string();
        assert!(error.starts_with(&path.display().to_string()), "{error}");
    }
}
