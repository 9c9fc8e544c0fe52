//! What a plugin asks for beyond the default sandbox, in its `--metadata` under `permissions`.
//!
//! The vocabulary is deliberately small; `docs/protocol.md` is its normative description. The
//! administrator sees the requested permissions before enabling a plugin (`toructl plugin show`,
//! the dashboard card), and the daemon's systemd backend relaxes exactly what is declared and
//! nothing else. Everything is validated here, so a path that reaches a unit property is known
//! to be absolute, normalised and free of systemd's special prefixes.

use serde::{Deserialize, Serialize};

/// At most this many entries in each list, so metadata stays small and reviewable.
pub const MAX_PERMISSION_ENTRIES: usize = 16;
/// At most this many bytes per path.
pub const MAX_PERMISSION_PATH: usize = 256;

/// Permissions a plugin requests. The default — all empty — is the full sandbox: IP only to
/// localhost, the whole file system read-only, no devices beyond `/dev/null` and friends, no
/// memory that is both writable and executable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Network beyond localhost: outbound and inbound IP to any address (systemd: no
    /// `IPAddressDeny=`). Without it only `127.0.0.0/8` and `::1` are reachable.
    #[serde(default)]
    pub network: bool,
    /// Absolute paths the plugin may write (systemd: `ReadWritePaths=`). File permissions still
    /// apply: the plugin runs as a fresh dynamic user that owns nothing, so the administrator
    /// must also give it access (for example a group-writable directory).
    #[serde(default)]
    pub writable_paths: Vec<String>,
    /// Device nodes under `/dev` the plugin may read and write (systemd: `DeviceAllow=` with
    /// `PrivateDevices=` off). The node's own permissions still apply.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Memory that is written and then executed: the plugin may write and run machine code at
    /// run time (systemd: `MemoryDenyWriteExecute=no`). Runtimes that compile as they run need
    /// it — V8 (Node.js, Deno), the JVM, .NET, LuaJIT, PyPy — and abort at start without it;
    /// Rust, Go and CPython do not. It lets a compromised plugin run injected code more easily,
    /// which is why it is off unless declared.
    #[serde(default)]
    pub jit: bool,
}

/// Why a `permissions` object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// A list has more than [`MAX_PERMISSION_ENTRIES`] entries.
    #[error("permissions.{0}: at most {MAX_PERMISSION_ENTRIES} entries")]
    TooMany(&'static str),
    /// A path is not absolute and normalised, or uses characters outside `A-Za-z0-9._-/`.
    #[error(
        "permissions.{field}: {path:?} must be an absolute, normalised path of at most \
         {MAX_PERMISSION_PATH} bytes using only A-Z a-z 0-9 . _ - /"
    )]
    BadPath {
        /// Which list.
        field: &'static str,
        /// The offending entry.
        path: String,
    },
    /// A writable path inside a kernel or device file system, or the root itself.
    #[error("permissions.writable_paths: {0:?} is not allowed (/, /proc, /sys and /dev never are)")]
    Forbidden(String),
    /// A device outside `/dev`.
    #[error("permissions.devices: {0:?} must be under /dev/")]
    NotADevice(String),
}

impl Permissions {
    /// True when nothing beyond the default sandbox is requested.
    pub fn is_empty(&self) -> bool {
        !self.network && !self.jit && self.writable_paths.is_empty() && self.devices.is_empty()
    }

    /// Checks every entry; the daemon calls this (through `PluginMetadata::validate`) before a
    /// path can reach a unit property.
    pub fn validate(&self) -> Result<(), PermissionError> {
        for (field, list) in [
            ("writable_paths", &self.writable_paths),
            ("devices", &self.devices),
        ] {
            if list.len() > MAX_PERMISSION_ENTRIES {
                return Err(PermissionError::TooMany(field));
            }
            for path in list {
                if !is_clean_absolute_path(path) {
                    return Err(PermissionError::BadPath {
                        field,
                        path: path.clone(),
                    });
                }
            }
        }
        for path in &self.writable_paths {
            let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
            if path == "/" || ["/proc", "/sys", "/dev"].into_iter().any(under) {
                return Err(PermissionError::Forbidden(path.clone()));
            }
        }
        for path in &self.devices {
            if !path.starts_with("/dev/") {
                return Err(PermissionError::NotADevice(path.clone()));
            }
        }
        Ok(())
    }
}

/// `/a/b`: absolute, no empty, `.` or `..` component, no trailing slash (except `/` itself),
/// a small alphabet (no spaces, no systemd `-`/`+`/`:` prefixes or separators).
fn is_clean_absolute_path(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    path.len() <= MAX_PERMISSION_PATH
        && path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && path[1..]
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(writable: &[&str], devices: &[&str]) -> Permissions {
        Permissions {
            network: false,
            jit: false,
            writable_paths: writable.iter().map(|s| s.to_string()).collect(),
            devices: devices.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_default_is_empty_and_valid() {
        assert!(Permissions::default().is_empty());
        assert_eq!(Permissions::default().validate(), Ok(()));
    }

    #[test]
    fn good_entries_pass() {
        let p = with(&["/srv/data", "/var/lib/app-1/x.y"], &["/dev/ttyUSB0"]);
        assert_eq!(p.validate(), Ok(()));
        assert!(!p.is_empty());
    }

    #[test]
    fn bad_entries_are_refused_with_the_field_named() {
        for (perm, expect) in [
            (with(&["relative/path"], &[]), "writable_paths"), // not absolute
            (with(&["/srv/../etc"], &[]), "writable_paths"),   // escapes with ..
            (with(&["/srv//x"], &[]), "writable_paths"),       // empty component
            (with(&["/srv/x/"], &[]), "writable_paths"),       // trailing slash
            (with(&["/srv/a b"], &[]), "writable_paths"),      // space (unit syntax)
            (with(&["-/srv"], &[]), "writable_paths"),         // systemd's ignore prefix
            (with(&["/"], &[]), "is not allowed"),             // the whole system
            (with(&["/proc/sys"], &[]), "is not allowed"),     // kernel tunables
            (with(&["/dev/shm"], &[]), "is not allowed"),      // devices go in `devices`
            (with(&[], &["/srv/ttyS0"]), "under /dev/"),       // not a device path
            (with(&[], &["/dev/../etc/shadow"]), "devices"),   // escapes with ..
        ] {
            let err = perm.validate().unwrap_err().to_string();
            assert!(err.contains(expect), "{perm:?}: {err}");
        }
        let many = with(&[], &["/dev/x"; MAX_PERMISSION_ENTRIES + 1]);
        assert_eq!(
            many.validate(),
            Err(PermissionError::TooMany("devices")),
            "too many entries"
        );
    }

    #[test]
    fn unknown_keys_are_refused_and_missing_ones_default() {
        let p: Permissions = serde_json::from_str(r#"{"network":true}"#).unwrap();
        assert!(p.network && p.writable_paths.is_empty());
        let jit: Permissions = serde_json::from_str(r#"{"jit":true}"#).unwrap();
        assert!(jit.jit && !jit.network && !jit.is_empty());
        assert_eq!(jit.validate(), Ok(()));
        let typo = serde_json::from_str::<Permissions>(r#"{"netwrok":true}"#);
        assert!(typo.is_err(), "a typo must not silently grant nothing");
    }
}
