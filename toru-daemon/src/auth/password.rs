//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes), run on the
//! blocking pool because one hash takes tens of milliseconds of CPU.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// Shortest password accepted when setting one.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short to be set.
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    /// The hasher failed (should not happen with valid parameters).
    #[error("cannot hash password: {0}")]
    Hash(String),
}

/// Hashes a new password into a PHC string (salt included).
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| PasswordError::Hash(e.to_string()))?
}

/// Checks a password against a stored hash. `None` as the hash still does the work of one
/// verification, so a login for an unknown user takes as long as one with a wrong password and
/// does not reveal which names exist.
pub async fn verify(password: &str, stored: Option<String>) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let argon2 = Argon2::default();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        match PasswordHash::new(&stored) {
            Ok(parsed) => {
                argon2.verify_password(password.as_bytes(), &parsed).is_ok()
                    && stored != *DUMMY_HASH
            }
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, made once, to verify against for unknown users.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut random = [0u8; 32];
    let _ = getrandom::fill(&mut random);
    Argon2::default()
        .hash_password(&random)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_fail() {
        let h = hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", Some(h.clone())).await);
        assert!(!verify("Correct horse", Some(h.clone())).await);
        assert!(!verify("", Some(h)).await);
        assert!(!verify("anything", None).await, "unknown user");
        assert!(
            !verify("x", Some("not a phc string".into())).await,
            "corrupt hash"
        );
        assert!(matches!(hash("short").await, Err(PasswordError::TooShort)));
    }
}
