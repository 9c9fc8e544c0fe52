//! Sessions and users.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// The body of `POST /api/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct LoginRequest {
    /// The user name, at most 64 bytes.
    pub username: String,
    /// The password.
    pub password: String,
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A dashboard session, from a login with a password.
    Password,
    /// The local Unix socket, by the peer's credentials.
    Local,
}

/// Who is calling (`GET /api/auth/me`, and the answer to a login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Me {
    /// The user name, or the local peer's account name.
    pub username: String,
    /// How they authenticated.
    pub method: AuthMethod,
}

/// A dashboard user, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct User {
    /// The user name.
    pub username: String,
    /// When the user was made, in ms since the Unix epoch.
    pub created_at_unix_ms: i64,
}

/// The body of `POST /api/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct NewUser {
    /// 1–64 of `A-Z a-z 0-9 . _ - @`, starting with a letter or digit; unique in any case.
    pub username: String,
    /// At least 8 characters.
    pub password: String,
}

/// The body of `PUT /api/users/{name}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct NewPassword {
    /// At least 8 characters.
    pub password: String,
}
