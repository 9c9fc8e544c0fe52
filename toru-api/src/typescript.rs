//! The dashboard's TypeScript types, generated from this crate with ts-rs.

use ts_rs::{Config, TS};

use crate::*;

/// What the generated file starts with.
const HEADER: &str = "\
// Generated from the toru-api crate by ts-rs; do not edit by hand.
// Regenerate with: TORU_UPDATE_TS=1 cargo test -p toru-api --test typescript
";

/// Appends `T`'s documented declaration.
fn declare<T: TS + ?Sized>(config: &Config, out: &mut String) {
    out.push('\n');
    if let Some(docs) = T::docs() {
        out.push_str(&docs);
    }
    out.push_str("export ");
    out.push_str(&T::decl(config));
    out.push('\n');
}

/// The text of `frontend/src/lib/api-types.ts`: every type of the API as a TypeScript
/// declaration, in one file with no imports. Integers are `number`: no value the API sends
/// comes near 2^53.
pub fn typescript() -> String {
    let config = Config::new().with_large_int("number");
    let mut out = String::from(HEADER);
    let c = &config;
    let o = &mut out;
    declare::<ErrorCode>(c, o);
    declare::<ErrorDetail>(c, o);
    declare::<ErrorBody>(c, o);
    declare::<PluginState>(c, o);
    declare::<PluginStatus>(c, o);
    declare::<LicenseState>(c, o);
    declare::<LicenseStatus>(c, o);
    declare::<SignatureStatus>(c, o);
    declare::<Permissions>(c, o);
    declare::<Plugin>(c, o);
    declare::<KvUsage>(c, o);
    declare::<PluginDetails>(c, o);
    declare::<DiscoveryFailure>(c, o);
    declare::<LicenseForm>(c, o);
    declare::<InstallOutcome>(c, o);
    declare::<InstallResult>(c, o);
    declare::<Uninstalled>(c, o);
    declare::<SettingType>(c, o);
    declare::<SettingValue>(c, o);
    declare::<SettingField>(c, o);
    declare::<PluginSettings>(c, o);
    declare::<SettingsChange>(c, o);
    declare::<EventKind>(c, o);
    declare::<Actor>(c, o);
    declare::<Event>(c, o);
    declare::<LogLevel>(c, o);
    declare::<LogEntry>(c, o);
    declare::<LogPage>(c, o);
    declare::<KvKeys>(c, o);
    declare::<KvEntry>(c, o);
    declare::<KvValue>(c, o);
    declare::<LoginRequest>(c, o);
    declare::<AuthMethod>(c, o);
    declare::<Role>(c, o);
    declare::<Me>(c, o);
    declare::<User>(c, o);
    declare::<NewUser>(c, o);
    declare::<NewPassword>(c, o);
    declare::<NewRole>(c, o);
    declare::<PasswordChange>(c, o);
    declare::<Backend>(c, o);
    declare::<PluginCounts>(c, o);
    declare::<TlsListener>(c, o);
    declare::<Status>(c, o);
    declare::<HealthStatus>(c, o);
    declare::<Health>(c, o);
    declare::<ResourceUsage>(c, o);
    declare::<UsageSample>(c, o);
    declare::<PluginUsage>(c, o);
    declare::<LimitName>(c, o);
    declare::<LimitInput>(c, o);
    declare::<LimitValues>(c, o);
    declare::<PluginLimits>(c, o);
    declare::<LimitsChange>(c, o);
    out
}
