//! The scrapers' bearer token (`metrics_token_file`): Prometheus reads `/metrics` with
//! `Authorization: Bearer <token>` instead of a dashboard session. Only the token's SHA-256 is
//! kept, and a presented token is hashed and compared in constant time (`subtle`), so neither
//! its content nor its length leaks through timing.

use std::io::Read;
use std::path::{Path, PathBuf};

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The most a token file may hold: a token is a line, not a document.
pub const MAX_TOKEN_FILE: u64 = 4096;

/// The fewest characters a token may have, so that a guessable one is refused at start.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why the token file cannot be used; the daemon does not start with it.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// It could not be read.
    #[error("metrics token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is too long, too short, or not one line of visible ASCII.
    #[error("metrics token file {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The token scrapers present.
pub struct MetricsToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

impl MetricsToken {
    /// Reads the token from `path`: its content without surrounding whitespace, at least
    /// [`MIN_TOKEN_LEN`] visible ASCII characters, the file at most [`MAX_TOKEN_FILE`] bytes.
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let read_error = |source| TokenError::Read {
            path: path.to_owned(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read_error)?
            .take(MAX_TOKEN_FILE + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        let invalid = |reason: String| TokenError::Invalid {
            path: path.to_owned(),
            reason,
        };
        if text.len() as u64 > MAX_TOKEN_FILE {
            return Err(invalid(format!("longer than {MAX_TOKEN_FILE} bytes")));
        }
        let token = text.trim();
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "the token must be one word of visible ASCII characters".into(),
            ));
        }
        if token.len() < MIN_TOKEN_LEN {
            return Err(invalid(format!(
                "the token must have at least {MIN_TOKEN_LEN} characters (try `openssl rand -hex 32`)"
            )));
        }
        Ok(MetricsToken::new(token))
    }

    /// A token from its text.
    pub fn new(token: &str) -> Self {
        MetricsToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `presented` is the token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        let token = MetricsToken::new("0123456789abcdef");
        assert!(token.matches("0123456789abcdef"));
        for other in [
            "",
            "0123456789abcde",
            "0123456789abcdef0",
            "0123456789ABCDEF",
        ] {
            assert!(!token.matches(other), "{other}");
        }
    }

    #[test]
    fn a_token_file_is_one_long_enough_word() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, content: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        };
        let good = MetricsToken::load(&file("good", "  0123456789abcdef0123\n")).unwrap();
        assert!(good.matches("0123456789abcdef0123"));
        for (name, content) in [
            ("short", "abc\n"),
            ("two-words", "0123456789 abcdef0123"),
            ("huge", &"a".repeat(5000)),
        ] {
            let err = MetricsToken::load(&file(name, content)).unwrap_err();
            assert!(matches!(err, TokenError::Invalid { .. }), "{name}: {err}");
        }
        assert!(matches!(
            MetricsToken::load(&dir.path().join("missing")),
            Err(TokenError::Read { .. })
        ));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
