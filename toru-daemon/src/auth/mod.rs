//! Who is calling: password logins with session cookies for the web, and peer credentials for
//! the local Unix socket.
//!
//! - [`password`]: argon2id hashing on a few threads of its own, a bounded number at once;
//! - [`session`]: random session tokens, stored only as hashes;
//! - [`rate_limit`]: login attempts limited per address, per user name and address, and per
//!   user name;
//! - [`peer`]: `SO_PEERCRED` checks for the Unix socket (root or group `toru`).

pub mod password;
pub mod peer;
pub mod rate_limit;
pub mod session;

/// Longest user name, in bytes: what `POST /api/users` accepts, and what a login may name
/// before it is refused without further work.
pub const MAX_USERNAME_LEN: usize = 64;

/// At most [`MAX_USERNAME_LEN`] characters of a user name, for log lines: a name a client sent
/// is never logged at any length.
pub fn loggable_name(name: &str) -> &str {
    match name.char_indices().nth(MAX_USERNAME_LEN) {
        Some((end, _)) => &name[..end],
        None => name,
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A dashboard user logged in with a password.
    User {
        /// Row id in `users`.
        id: i64,
        /// The login name.
        username: String,
        /// What the user may do, as the database had it for this request.
        role: toru_api::Role,
    },
    /// A local process on the Unix socket, authorised by its credentials.
    Local {
        /// Its uid.
        uid: u32,
        /// The system user name of that uid, or `uid:<n>`.
        name: String,
    },
}

impl Caller {
    /// What the caller may do: a user's role; every local-socket caller is an administrator
    /// (it already passed the socket's own check: root, the daemon's user, group `toru`).
    pub fn role(&self) -> toru_api::Role {
        match self {
            Caller::User { role, .. } => *role,
            Caller::Local { .. } => toru_api::Role::Admin,
        }
    }

    /// The name forwarded to plugins and written in logs.
    pub fn name(&self) -> &str {
        match self {
            Caller::User { username, .. } => username,
            Caller::Local { name, .. } => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_names_are_bounded() {
        assert_eq!(loggable_name("admin"), "admin");
        let long = "é".repeat(1000);
        assert_eq!(loggable_name(&long).chars().count(), MAX_USERNAME_LEN);
    }
}
