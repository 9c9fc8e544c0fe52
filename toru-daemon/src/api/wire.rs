//! The daemon's internal types turned into the API's wire types (`toru-api`): the one place
//! that knows both, so a change inside the daemon (the lifecycle, the store, the log reader)
//! meets the wire format here and nowhere else, and no internal type is sent to clients as it
//! is.

use toru_api as wire;

use crate::logs::entry::{Level, LogEntry};
use crate::logs::query::LogPage;
use crate::plugins::PluginInfo;
use crate::plugins::backend::BackendKind;
use crate::plugins::discovery::DiscoveryFailure;
use crate::plugins::license::LicenseStatus;
use crate::plugins::manager::UsageReport;
use crate::plugins::plugin_config::PluginSettings;
use crate::plugins::usage::{Reading, UsageNow};
use crate::store::{KvUsage, User};

impl From<PluginInfo> for wire::Plugin {
    fn from(info: PluginInfo) -> Self {
        let meta = info.meta;
        wire::Plugin {
            id: meta.id,
            name: meta.name,
            version: meta.version,
            author: meta.author,
            icon: meta.icon,
            route: meta.route,
            protocol_version: meta.protocol_version,
            description: meta.description,
            license_required: meta.license_required,
            permissions: permissions(meta.permissions),
            binary: info.binary.to_string_lossy().into_owned(),
            status: info.status,
            license: info.license.into(),
            signature: info.signature,
            previous_version: info.previous_version,
            usage: info.usage.map(wire::ResourceUsage::from),
        }
    }
}

impl From<UsageNow> for wire::ResourceUsage {
    fn from(now: UsageNow) -> Self {
        let raw = now.reading.raw;
        wire::ResourceUsage {
            memory_bytes: raw.memory_bytes,
            cpu_percent: now.reading.cpu_percent.map(round_percent),
            cpu_seconds: raw.cpu_nanos.map(|ns| ns as f64 / 1e9),
            tasks: raw.tasks,
            restarts: now.restarts,
            uptime_secs: now.uptime.as_secs(),
        }
    }
}

impl From<Reading> for wire::UsageSample {
    fn from(reading: Reading) -> Self {
        wire::UsageSample {
            at: reading
                .at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            memory_bytes: reading.raw.memory_bytes,
            cpu_percent: reading.cpu_percent.map(round_percent),
            tasks: reading.raw.tasks,
        }
    }
}

impl From<UsageReport> for wire::PluginUsage {
    fn from(report: UsageReport) -> Self {
        wire::PluginUsage {
            current: report.current.map(Into::into),
            history: report.history.into_iter().map(Into::into).collect(),
            interval_secs: report.interval.as_secs(),
        }
    }
}

/// A percent to one decimal: finer is noise between two samples, and shorter on the wire.
fn round_percent(percent: f64) -> f64 {
    (percent * 10.0).round() / 10.0
}

/// A plugin's requested permissions as shown (a function, not `From`: both types are foreign).
fn permissions(p: toru_plugin_api::Permissions) -> wire::Permissions {
    wire::Permissions {
        network: p.network,
        writable_paths: p.writable_paths,
        devices: p.devices,
        jit: p.jit,
    }
}

impl From<LicenseStatus> for wire::LicenseStatus {
    fn from(l: LicenseStatus) -> Self {
        wire::LicenseStatus {
            required: l.required,
            installed: l.installed,
            state: l.state,
            error: l.error.map(|kind| kind.as_str().to_owned()),
            message: l.message,
            licensee: l.licensee,
            expires_at: l.expires_at,
            features: l.features,
        }
    }
}

impl From<BackendKind> for wire::Backend {
    fn from(kind: BackendKind) -> Self {
        match kind {
            BackendKind::Systemd => wire::Backend::Systemd,
            BackendKind::Embedded => wire::Backend::Embedded,
        }
    }
}

impl From<KvUsage> for wire::KvUsage {
    fn from(usage: KvUsage) -> Self {
        wire::KvUsage {
            bytes: usage.bytes,
            quota: usage.quota,
        }
    }
}

/// A user as listed: everything but the id and the password hash.
impl From<User> for wire::User {
    fn from(user: User) -> Self {
        wire::User {
            username: user.username,
            role: user.role,
            disabled: user.disabled,
            created_at_unix_ms: user.created_at_unix_ms,
        }
    }
}

impl From<DiscoveryFailure> for wire::DiscoveryFailure {
    fn from(f: DiscoveryFailure) -> Self {
        wire::DiscoveryFailure {
            binary: f.binary.to_string_lossy().into_owned(),
            reason: f.reason,
        }
    }
}

impl From<Level> for wire::LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Error => wire::LogLevel::Error,
            Level::Warn => wire::LogLevel::Warn,
            Level::Info => wire::LogLevel::Info,
            Level::Debug => wire::LogLevel::Debug,
        }
    }
}

impl From<LogEntry> for wire::LogEntry {
    fn from(e: LogEntry) -> Self {
        wire::LogEntry {
            timestamp: e.timestamp,
            level: e.level.into(),
            plugin: e.plugin,
            message: e.message,
            fields: e.fields,
        }
    }
}

impl From<LogPage> for wire::LogPage {
    fn from(page: LogPage) -> Self {
        wire::LogPage {
            entries: page.entries.into_iter().map(Into::into).collect(),
            page: page.page,
            page_size: page.page_size,
            has_more: page.has_more,
        }
    }
}

/// Every declared setting with its value; a secret's value becomes [`wire::SettingValue::SecretSet`]
/// here, so no secret can reach a client.
impl From<PluginSettings> for wire::PluginSettings {
    fn from(PluginSettings { schema, values }: PluginSettings) -> Self {
        use toru_plugin_api::SettingKind;
        let settings = schema
            .iter()
            .flat_map(|s| s.settings())
            .map(|s| {
                let (kind, options) = match &s.kind {
                    SettingKind::String => (wire::SettingType::String, Vec::new()),
                    SettingKind::Number => (wire::SettingType::Number, Vec::new()),
                    SettingKind::Integer => (wire::SettingType::Integer, Vec::new()),
                    SettingKind::Boolean => (wire::SettingType::Boolean, Vec::new()),
                    SettingKind::Enum(options) => (wire::SettingType::Enum, options.clone()),
                };
                let value = match values.get(&s.name) {
                    None => wire::SettingValue::Unset,
                    Some(_) if s.secret => wire::SettingValue::SecretSet,
                    Some(value) => wire::SettingValue::Set {
                        value: value.clone(),
                    },
                };
                wire::SettingField {
                    name: s.name.clone(),
                    kind,
                    title: s.title.clone(),
                    description: s.description.clone(),
                    default: s.default.clone(),
                    required: s.required,
                    secret: s.secret,
                    minimum: s.minimum,
                    maximum: s.maximum,
                    min_length: s.min_length,
                    max_length: s.max_length,
                    pattern: s.pattern.clone(),
                    options,
                    value,
                }
            })
            .collect();
        wire::PluginSettings { settings }
    }
}

/// Every plugin of a list, as listed.
pub fn plugins(list: Vec<PluginInfo>) -> Vec<wire::Plugin> {
    list.into_iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_log_level_keeps_its_file_name_on_the_wire() {
        for level in [Level::Error, Level::Warn, Level::Info, Level::Debug] {
            assert_eq!(
                serde_json::to_value(wire::LogLevel::from(level)).unwrap(),
                serde_json::to_value(level).unwrap()
            );
        }
    }
}
