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

/// What a caller may do. Every state-changing route needs `admin`; every read is open to
/// `viewer` too. Local-socket callers are always `admin`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and changes everything, users included.
    #[default]
    Admin,
    /// Sees everything, changes nothing (a 403 `admin_required` answers any change).
    Viewer,
}

impl Role {
    /// Every role, for exhaustive tests and documentation.
    pub const ALL: [Role; 2] = [Role::Admin, Role::Viewer];

    /// Whether a caller with this role may call a route that needs `needed`.
    pub const fn allows(self, needed: Role) -> bool {
        matches!(
            (self, needed),
            (Role::Admin, _) | (Role::Viewer, Role::Viewer)
        )
    }
}

/// Who is calling (`GET /api/auth/me`, and the answer to a login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct Me {
    /// The user name, or the local peer's account name.
    pub username: String,
    /// How they authenticated.
    pub method: AuthMethod,
    /// What they may do; `admin` for every local-socket caller.
    pub role: Role,
}

/// A dashboard user, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct User {
    /// The user name.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// A disabled user cannot log in and has no sessions; an administrator can enable them
    /// again.
    pub disabled: bool,
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
    /// What the user may do; `admin` when absent, as before roles existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub role: Option<Role>,
}

/// The body of `PUT /api/users/{name}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct NewRole {
    /// The user's new role.
    pub role: Role,
}

/// The body of `PUT /api/auth/password`: a caller changing their own password, whatever
/// their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PasswordChange {
    /// The password now, so that a session left open cannot lock its owner out.
    pub current_password: String,
    /// The new one, at least 8 characters.
    pub password: String,
}

/// The body of `PUT /api/users/{name}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct NewPassword {
    /// At least 8 characters.
    pub password: String,
}
