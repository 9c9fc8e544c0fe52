//! Who is calling: password logins with session cookies for the web, and peer credentials for
//! the local Unix socket.
//!
//! - [`password`]: argon2id hashing, off the async runtime;
//! - [`session`]: random session tokens, stored only as hashes;
//! - [`rate_limit`]: login attempts limited per user name and per client address;
//! - [`peer`]: `SO_PEERCRED` checks for the Unix socket (root or group `toru`).

pub mod password;
pub mod peer;
pub mod rate_limit;
pub mod session;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A dashboard user logged in with a password.
    User {
        /// Row id in `users`.
        id: i64,
        /// The login name.
        username: String,
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
    /// The name forwarded to plugins and written in logs.
    pub fn name(&self) -> &str {
        match self {
            Caller::User { username, .. } => username,
            Caller::Local { name, .. } => name,
        }
    }
}
