//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes).
//!
//! One hash holds 19 MiB and tens of milliseconds of CPU, so hashing is bounded: it runs on
//! [`hash_threads`] threads of its own (one per CPU), never on tokio's blocking pool, and a
//! caller waits at most [`HASH_WAIT`] for one of them before it is told the daemon is busy.
//! Dedicated threads also bound memory after the fact: glibc keeps a freed 19 MiB block in the
//! arena of the thread that used it, so hashing on a pool of up to 512 blocking threads left
//! hundreds of MiB resident, while a few fixed threads keep at most one block each.

use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shortest password accepted when setting one.
pub const MIN_PASSWORD_LEN: usize = 8;

/// How long a request waits for a hashing thread before it gets 503 `busy`.
pub const HASH_WAIT: Duration = Duration::from_secs(5);

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short to be set.
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    /// Every hashing thread stayed busy for [`HASH_WAIT`].
    #[error("too many password checks at once; try again in a moment")]
    Busy,
    /// The hasher failed (should not happen with valid parameters).
    #[error("cannot hash password: {0}")]
    Hash(String),
}

/// How many passwords are hashed at once: one per CPU.
pub fn hash_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// The hashing threads and the permits that keep every job one thread's work.
struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
    permits: Arc<Semaphore>,
}

type Job = Box<dyn FnOnce() + Send>;

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let threads = hash_threads();
    for i in 0..threads {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("toru-hash-{i}"))
            .spawn(move || {
                loop {
                    let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    Pool {
        jobs: Mutex::new(sender),
        permits: Arc::new(Semaphore::new(threads)),
    }
});

/// Runs `work` on a hashing thread, waiting at most [`HASH_WAIT`] for one to be free.
async fn on_hash_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let permit: OwnedSemaphorePermit =
        tokio::time::timeout(HASH_WAIT, POOL.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The permit goes with the job: a caller that gives up does not free the thread early.
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
        drop(permit);
    });
    POOL.jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    rx.await
        .map_err(|_| PasswordError::Hash("the hashing thread stopped".into()))
}

/// Hashes a new password into a PHC string (salt included).
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let password = password.to_owned();
    on_hash_thread(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await?
}

/// Checks a password against a stored hash. `None` as the hash still does the work of one
/// verification, so a login for an unknown user takes as long as one with a wrong password and
/// does not reveal which names exist. Only [`PasswordError::Busy`] (or a failed thread) is an
/// error; a wrong password is `Ok(false)`.
pub async fn verify(password: &str, stored: Option<String>) -> Result<bool, PasswordError> {
    let password = password.to_owned();
    on_hash_thread(move || {
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
}

/// A hash of a random password, made once, to verify against for unknown users.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
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
        assert!(verify("correct horse", Some(h.clone())).await.unwrap());
        assert!(!verify("Correct horse", Some(h.clone())).await.unwrap());
        assert!(!verify("", Some(h)).await.unwrap());
        assert!(!verify("anything", None).await.unwrap(), "unknown user");
        assert!(
            !verify("x", Some("not a phc string".into())).await.unwrap(),
            "corrupt hash"
        );
        assert!(matches!(hash("short").await, Err(PasswordError::TooShort)));
    }
}
