//! `Display` for the API's enums, writing the same word the JSON has (`running`, `gave_up`),
//! so a CLI's text and its `--json` never disagree. The word comes from the serde attributes,
//! the one place that names it.

use std::fmt;

use crate::{AuthMethod, Backend, HealthStatus, LicenseState, LogLevel, PluginState, Role};

macro_rules! display_as_on_the_wire {
    ($($t:ty),* $(,)?) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(name)) => f.write_str(&name),
                    _ => Err(fmt::Error),
                }
            }
        }
    )*};
}

display_as_on_the_wire!(
    AuthMethod,
    Backend,
    HealthStatus,
    LicenseState,
    LogLevel,
    PluginState,
    Role,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_display_as_their_json_names() {
        assert_eq!(PluginState::Backoff.to_string(), "backoff");
        assert_eq!(
            crate::EventKind::LicenseCleared.to_string(),
            "license_cleared"
        );
        assert_eq!(LogLevel::Warn.to_string(), "warn");
        assert_eq!(Backend::Embedded.to_string(), "embedded");
        assert_eq!(Role::Viewer.to_string(), "viewer");
    }
}
