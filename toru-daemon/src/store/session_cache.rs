//! Sessions recently found valid, kept in memory so that an authenticated request (every
//! forwarded plugin call) does not cost a trip through the blocking pool and SQLite.
//!
//! Correctness rests on two rules. Every entry keeps its session's `expires_at` and is ignored
//! once that has passed, so expiry is exactly the database's. And the cache is only *changed*
//! while the database connection is locked, in the same [`Store`](super::Store) calls that end
//! sessions or change their user: a logout, a password change, a user's deletion, disabling or
//! new role cannot interleave with a lookup that read the session from the database and would
//! put back what was just removed (or the role just replaced). (A request that reads the cache
//! while a logout runs sees the session or not, as it would had it arrived a moment earlier or
//! later.)

use std::collections::HashMap;

use super::User;

/// At most this many sessions are remembered; when full, the cache starts over (the database
/// still answers, so this bounds memory without changing any answer).
const MAX_ENTRIES: usize = 4096;

/// A session found valid, and until when.
struct Entry {
    user: User,
    expires_at_unix_ms: i64,
}

/// Token hash → user, for live sessions only.
#[derive(Default)]
pub(super) struct SessionCache {
    entries: HashMap<[u8; 32], Entry>,
}

impl SessionCache {
    /// The session's user, if it is cached and not expired by `now_unix_ms`.
    pub(super) fn get(&mut self, token_hash: &[u8; 32], now_unix_ms: i64) -> Option<User> {
        match self.entries.get(token_hash) {
            Some(e) if e.expires_at_unix_ms > now_unix_ms => Some(e.user.clone()),
            Some(_) => {
                self.entries.remove(token_hash);
                None
            }
            None => None,
        }
    }

    /// Remembers a session the database just found valid.
    pub(super) fn insert(&mut self, token_hash: [u8; 32], user: User, expires_at_unix_ms: i64) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(
            token_hash,
            Entry {
                user,
                expires_at_unix_ms,
            },
        );
    }

    /// Forgets one session (logout).
    pub(super) fn remove(&mut self, token_hash: &[u8; 32]) {
        self.entries.remove(token_hash);
    }

    /// Forgets every session of one user (password change, deletion, disabling, a new role).
    pub(super) fn remove_user(&mut self, user_id: i64) {
        self.entries.retain(|_, e| e.user.id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> User {
        User {
            id,
            username: format!("u{id}"),
            password_hash: String::new(),
            created_at_unix_ms: 0,
            role: toru_api::Role::Admin,
            disabled: false,
        }
    }

    #[test]
    fn entries_expire_like_the_database_and_can_be_removed() {
        let mut cache = SessionCache::default();
        cache.insert([1; 32], user(1), 1_000);
        cache.insert([2; 32], user(2), 1_000);
        cache.insert([3; 32], user(2), 1_000);
        // Valid before expiry; expiry is exclusive, as in the SQL (`expires_at > now`).
        assert_eq!(cache.get(&[1; 32], 999).map(|u| u.id), Some(1));
        assert!(cache.get(&[1; 32], 1_000).is_none());
        assert!(cache.get(&[1; 32], 0).is_none(), "an expired entry is gone");
        cache.remove(&[2; 32]);
        assert!(cache.get(&[2; 32], 0).is_none());
        cache.remove_user(2);
        assert!(cache.get(&[3; 32], 0).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = SessionCache::default();
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            let mut hash = [0u8; 32];
            hash[..4].copy_from_slice(&i.to_le_bytes());
            cache.insert(hash, user(1), i64::MAX);
        }
        assert!(cache.entries.len() <= MAX_ENTRIES);
    }
}
