//! What the daemon knows and shows about a plugin's licence, and whether it lets requests
//! through to a `license_required` plugin.
//!
//! The daemon stores the key the admin installed and relays the plugin's own verdict on it
//! (from `lifecycle.ready`). It never checks signatures: only the plugin holds its vendor's
//! verifying key, and the daemon never holds a vendor's secret (`docs/licensing.md`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use toru_plugin_api::LicenseReport;
use toru_plugin_api::license::{self, CLOCK_SKEW, LicenseErrorKind};

/// The installed key and the plugin's latest verdict on it.
#[derive(Debug, Default, Clone)]
pub(crate) struct LicenseSlot {
    /// The key as the admin installed it (trimmed).
    pub(crate) key: Option<String>,
    /// What the plugin reported at its last init with this key; cleared when the key changes.
    pub(crate) report: Option<LicenseReport>,
}

/// Where a plugin's licence stands: `toru-api`'s, as clients see it.
pub use toru_api::LicenseState;

/// A licence failure kind as the daemon shows it (`LicenseStatus::error`): one of
/// `docs/licensing.md`'s kinds, `unchecked`, or a kind a plugin reported that this daemon does
/// not know, kept as sent. Serialized as its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// A kind of `docs/licensing.md`.
    Known(LicenseErrorKind),
    /// A key is installed but the plugin has not judged it yet.
    Unchecked,
    /// A kind this daemon does not know (a newer plugin SDK), as the plugin reported it.
    Other(String),
}

impl FailureKind {
    /// The kind a plugin reported, by name.
    fn reported(name: &str) -> Self {
        name.parse()
            .map(FailureKind::Known)
            .unwrap_or_else(|_| FailureKind::Other(name.to_owned()))
    }

    /// Its stable name, e.g. `wrong_instance`.
    pub fn as_str(&self) -> &str {
        match self {
            FailureKind::Known(kind) => kind.as_str(),
            FailureKind::Unchecked => "unchecked",
            FailureKind::Other(name) => name,
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the daemon refuses a request to a `license_required` plugin that has no valid licence.
/// `api/error.rs` turns it into a status (402 for [`LicenseRefusal::Missing`], 403 otherwise)
/// and the same body a plugin's own refusal has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseRefusal {
    /// No key is installed, or the plugin says it was given none.
    Missing {
        /// What the admin can do about it.
        message: String,
    },
    /// A key is installed but is not valid: the plugin rejected it, it expired, or the plugin
    /// has not judged it yet.
    Invalid {
        /// Why, e.g. `wrong_instance` or `unchecked`.
        kind: FailureKind,
        /// What the admin can do about it.
        message: String,
    },
}

impl LicenseRefusal {
    /// The failure kind, as the refusal's body names it.
    pub fn kind(&self) -> FailureKind {
        match self {
            LicenseRefusal::Missing { .. } => FailureKind::Known(LicenseErrorKind::Missing),
            LicenseRefusal::Invalid { kind, .. } => kind.clone(),
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        let (LicenseRefusal::Missing { message } | LicenseRefusal::Invalid { message, .. }) = self;
        format!("this plugin needs a valid licence: {message}")
    }
}

/// A plugin's licence as the API, `toructl plugin show` and the dashboard card show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseStatus {
    /// The plugin's metadata says it is useless without a licence.
    pub required: bool,
    /// A key is installed.
    pub installed: bool,
    /// The verdict.
    pub state: LicenseState,
    /// The failure kind of `docs/licensing.md` when not valid, e.g. `wrong_instance`.
    pub error: Option<FailureKind>,
    /// What the admin can do about it, or what a valid licence covers.
    pub message: Option<String>,
    /// Who the licence is for, when valid.
    pub licensee: Option<String>,
    /// Unix seconds at which a valid licence stops being valid; `None` if never.
    pub expires_at: Option<u64>,
    /// What a valid licence unlocks.
    pub features: Vec<String>,
}

impl LicenseSlot {
    /// The licence's status at `now`. A `valid` verdict whose expiry (plus the clock-skew
    /// allowance every verifier grants) has passed reads as `invalid`/`expired`.
    pub(crate) fn status(&self, required: bool, now: SystemTime) -> LicenseStatus {
        let status = |state, error: Option<FailureKind>, message: Option<String>| LicenseStatus {
            required,
            installed: self.key.is_some(),
            state,
            error,
            message,
            licensee: None,
            expires_at: None,
            features: Vec::new(),
        };
        match &self.report {
            Some(LicenseReport::Valid {
                licensee,
                expires_at,
                features,
            }) => {
                let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                if let Some(exp) = expires_at
                    && now_s >= exp.saturating_add(CLOCK_SKEW.as_secs())
                {
                    let at = UNIX_EPOCH + Duration::from_secs(*exp);
                    let message = format!(
                        "the licence expired at {}; ask the vendor to renew it",
                        humantime::format_rfc3339_seconds(at)
                    );
                    let expired = FailureKind::Known(LicenseErrorKind::Expired);
                    return status(LicenseState::Invalid, Some(expired), Some(message));
                }
                LicenseStatus {
                    licensee: Some(licensee.clone()),
                    expires_at: *expires_at,
                    features: features.clone(),
                    ..status(LicenseState::Valid, None, None)
                }
            }
            Some(LicenseReport::Invalid { error, message }) => {
                let kind = FailureKind::reported(error);
                let state = if kind == FailureKind::Known(LicenseErrorKind::Missing) {
                    LicenseState::Missing
                } else {
                    LicenseState::Invalid
                };
                status(state, Some(kind), Some(message.clone()))
            }
            None if self.key.is_some() => status(
                LicenseState::Unchecked,
                None,
                Some("the plugin has not reported a check of this key yet".into()),
            ),
            None => status(
                LicenseState::Missing,
                Some(FailureKind::Known(LicenseErrorKind::Missing)),
                Some("no licence key is installed for this plugin".into()),
            ),
        }
    }
}

impl LicenseStatus {
    /// Why a request to this plugin must be refused: only for a `license_required` plugin
    /// without a valid licence.
    pub fn refusal(&self) -> Option<LicenseRefusal> {
        if !self.required || self.state == LicenseState::Valid {
            return None;
        }
        let message = self.message.clone().unwrap_or_default();
        Some(if self.state == LicenseState::Missing {
            LicenseRefusal::Missing { message }
        } else {
            let kind = self.error.clone().unwrap_or(FailureKind::Unchecked);
            LicenseRefusal::Invalid { kind, message }
        })
    }
}

/// Why [`check_key`] refused a key before storing it; the message is for the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejected {
    /// Not a Toru key, damaged, or of an unknown version or algorithm.
    #[error(transparent)]
    Undecodable(toru_plugin_api::license::LicenseError),
    /// A key for another plugin.
    #[error("the licence key was issued for plugin {issued_for:?}, not {plugin_id:?}")]
    OtherPlugin {
        /// The plugin the key names.
        issued_for: String,
        /// The plugin it was offered for.
        plugin_id: String,
    },
}

/// Checks a key an admin wants to install for `plugin_id`, without verifying its signature
/// (the daemon cannot): refuses what can never be valid — not a Toru key, damaged, an unknown
/// version or algorithm, or issued for another plugin. Returns the key trimmed as stored.
///
/// A key for another *instance* is accepted: the plugin reports it invalid, which is what the
/// admin needs to see to ask the vendor for the right one.
pub fn check_key(plugin_id: &str, key: &str) -> Result<String, KeyRejected> {
    let claims = license::decode_unverified(key).map_err(KeyRejected::Undecodable)?;
    if claims.plugin != plugin_id {
        return Err(KeyRejected::OtherPlugin {
            issued_for: claims.plugin,
            plugin_id: plugin_id.to_owned(),
        });
    }
    Ok(key.trim_matches([' ', '\t', '\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(key: Option<&str>, report: Option<LicenseReport>) -> LicenseSlot {
        LicenseSlot {
            key: key.map(str::to_owned),
            report,
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn no_key_and_no_verdict_is_missing_and_refused_only_when_required() {
        let s = slot(None, None).status(true, at(0));
        assert_eq!((s.state, s.installed), (LicenseState::Missing, false));
        assert!(matches!(s.refusal(), Some(LicenseRefusal::Missing { .. })));
        assert_eq!(slot(None, None).status(false, at(0)).refusal(), None);
    }

    #[test]
    fn an_unchecked_key_is_refused_as_invalid_while_required() {
        let s = slot(Some("k"), None).status(true, at(0));
        assert_eq!(s.state, LicenseState::Unchecked);
        assert_eq!(s.refusal().map(|r| r.kind()), Some(FailureKind::Unchecked));
    }

    #[test]
    fn a_valid_verdict_passes_until_expiry_plus_skew() {
        let valid = LicenseReport::Valid {
            licensee: "ACME".into(),
            expires_at: Some(1_000),
            features: vec!["pro".into()],
        };
        let s = slot(Some("k"), Some(valid.clone()));
        let inside = s.status(true, at(1_000 + CLOCK_SKEW.as_secs() - 1));
        assert_eq!(inside.state, LicenseState::Valid);
        assert_eq!(inside.licensee.as_deref(), Some("ACME"));
        assert_eq!(inside.refusal(), None);
        let outside = s.status(true, at(1_000 + CLOCK_SKEW.as_secs()));
        assert_eq!(
            (outside.state, outside.error.clone()),
            (
                LicenseState::Invalid,
                Some(FailureKind::Known(LicenseErrorKind::Expired))
            )
        );
        assert!(
            outside
                .message
                .as_deref()
                .unwrap()
                .contains("1970-01-01T00:16:40Z")
        );
        assert!(matches!(
            outside.refusal(),
            Some(LicenseRefusal::Invalid { .. })
        ));
    }

    #[test]
    fn the_plugins_rejection_is_shown_as_it_said() {
        let report = LicenseReport::Invalid {
            error: "wrong_instance".into(),
            message: "issued for instance X, this is instance Y".into(),
        };
        let s = slot(Some("k"), Some(report)).status(false, at(0));
        assert_eq!(s.state, LicenseState::Invalid);
        assert_eq!(
            s.error,
            Some(FailureKind::Known(LicenseErrorKind::WrongInstance))
        );
        assert_eq!(
            s.message.as_deref(),
            Some("issued for instance X, this is instance Y")
        );
    }

    #[test]
    fn a_reported_missing_reads_as_missing_and_an_unknown_kind_is_kept() {
        let report = |error: &str| LicenseReport::Invalid {
            error: error.into(),
            message: "m".into(),
        };
        let missing = slot(Some("k"), Some(report("missing"))).status(true, at(0));
        assert_eq!(missing.state, LicenseState::Missing);
        assert!(matches!(
            missing.refusal(),
            Some(LicenseRefusal::Missing { .. })
        ));
        let newer = slot(Some("k"), Some(report("revoked"))).status(true, at(0));
        assert_eq!(newer.state, LicenseState::Invalid);
        assert_eq!(newer.error, Some(FailureKind::Other("revoked".into())));
        assert_eq!(
            newer.error.as_ref().map(FailureKind::as_str),
            Some("revoked")
        );
    }

    #[test]
    fn check_key_refuses_garbage_and_other_plugins_keys() {
        // Case: not a Toru key at all.
        assert!(
            check_key("p", "hello")
                .unwrap_err()
                .to_string()
                .contains("TORU1.")
        );
        // Case: empty.
        assert!(
            check_key("p", "  ")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        // Case: a structurally valid (unsigned-checked) key for plugin "p", with whitespace.
        let payload = r#"{"v":1,"alg":"HS256","plugin":"p","instance":"0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10","licensee":"","iat":1}"#;
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let key = format!("TORU1.{}.{}", b64(payload.as_bytes()), b64(&[0; 32]));
        assert_eq!(check_key("p", &format!(" {key}\n")).unwrap(), key);
        // Case: the same key offered for another plugin.
        let other = check_key("q", &key).unwrap_err();
        assert!(matches!(&other, KeyRejected::OtherPlugin { issued_for, .. } if issued_for == "p"));
        assert!(other.to_string().contains("issued for plugin \"p\""));
    }
}
