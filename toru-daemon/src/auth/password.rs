//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes).
//!
//! One hash holds 19 MiB and tens of milliseconds of CPU, so hashing is bounded: it runs on
//! [`hash_threads`] threads of its own (one per CPU), never on tokio's blocking pool, and a
//! caller waits at most [`HASH_WAIT`] for one of them before it is told the daemon is busy.
//!
//! The hash's memory is our own allocation, reserved larger than glibc's highest mmap threshold
//! ([`ALWAYS_MAPPED`]) so it is always a mapping of its own that goes back to the system when
//! the hash ends. The argon2 crate's own 19 MiB allocation would, once freed, raise glibc's
//! threshold and come from the heap after that, where small allocations fragment it: a single
//! client logging in again and again took the daemon from 49 to 372 MB, never returned.

use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
                    let job = crate::sync::lock(&receiver).recv();
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
    crate::sync::lock(&POOL.jobs)
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
    on_hash_thread(move || hash_now(password.as_bytes())).await?
}

/// Checks a password against a stored hash. `None` as the hash still does the work of one
/// verification, so a login for an unknown user takes as long as one with a wrong password and
/// does not reveal which names exist. Only [`PasswordError::Busy`] (or a failed thread) is an
/// error; a wrong password is `Ok(false)`.
pub async fn verify(password: &str, stored: Option<String>) -> Result<bool, PasswordError> {
    let password = password.to_owned();
    on_hash_thread(move || match stored {
        Some(stored) => verify_now(password.as_bytes(), &stored),
        None => {
            let _ = verify_now(password.as_bytes(), &DUMMY_HASH);
            false
        }
    })
    .await
}

/// Bytes of argon2 memory reserved at least, so that glibc always maps it on its own: above
/// `DEFAULT_MMAP_THRESHOLD_MAX` (32 MiB on 64-bit), the most its dynamic threshold grows to.
/// Only the blocks the hash uses are ever touched, so only those are resident.
pub const ALWAYS_MAPPED: usize = 32 * 1024 * 1024 + Block::SIZE;

/// Most argon2 memory a stored hash may ask for (its `m` parameter, KiB); ours use 19 MiB.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// `blocks` zeroed argon2 blocks in a mapping of their own (see [`ALWAYS_MAPPED`]).
fn argon2_memory(blocks: usize) -> Vec<Block> {
    let mut memory = Vec::with_capacity(blocks.max(ALWAYS_MAPPED.div_ceil(Block::SIZE)));
    memory.resize(blocks, Block::default());
    memory
}

/// Hashes with the default parameters (argon2id, 19 MiB, 2 passes) and a random salt.
fn hash_now(password: &[u8]) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let params = Params::default();
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let mut memory = argon2_memory(params.block_count());
    let argon2 = Argon2::new(Algorithm::default(), Version::default(), params.clone());
    argon2
        .hash_password_into_with_memory(password, &salt, &mut out, &mut memory[..])
        .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored`, computed as the argon2 crate's verifier
/// does (its algorithm, version and parameters; a constant-time comparison of the output).
fn verify_now(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let mut memory = argon2_memory(params.block_count());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, &mut memory[..])
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// A hash of a random password, made once, to verify against for unknown users.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut random = [0u8; 32];
    let _ = getrandom::fill(&mut random);
    hash_now(&random).unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_of_the_argon2_crate_verify_here_and_ours_there() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(verify_now(b"correct horse", &theirs));
        assert!(!verify_now(b"correct horsf", &theirs));
        let ours = hash_now(b"correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert_eq!(
            ours.split('$').take(4).collect::<Vec<_>>(),
            theirs.split('$').take(4).collect::<Vec<_>>(),
            "same algorithm, version and parameters"
        );
    }

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
