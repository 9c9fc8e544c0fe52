//! A plugin's resource limits (`MemoryMax=`, `CPUQuota=`, `TasksMax=` under systemd), and the
//! one parser of the values an administrator writes for them — in the configuration file, on
//! `toructl`'s command line and in `PUT /api/plugins/{id}/limits` alike: sizes such as `256M`,
//! `1G` or plain bytes, CPU as `50%` or `50`, tasks as a count.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// The smallest memory limit, one page: zero or a few bytes is a typo, not a limit. (Configuration
/// files written before this parser, with limits in plain bytes, must keep loading, so the floor
/// is low; a plugin under a limit too small to start shows that in its status.)
pub const MIN_MEMORY_BYTES: u64 = 4 << 10;
/// The largest memory limit (1 PiB): anything above is a typo, not a limit.
pub const MAX_MEMORY_BYTES: u64 = 1 << 50;
/// The largest CPU quota, in percent of one CPU: 1024 CPUs.
pub const MAX_CPU_PERCENT: u32 = 100 * 1024;
/// The largest task limit: Linux's own ceiling for `pid_max` (2^22).
pub const MAX_TASKS: u64 = 1 << 22;

/// Which limit, as a client names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitName {
    /// Memory in bytes (`MemoryMax=`; `RLIMIT_AS` under the embedded backend).
    Memory,
    /// CPU in percent of one CPU (`CPUQuota=`; nothing under the embedded backend).
    Cpu,
    /// Tasks (`TasksMax=`; `RLIMIT_NPROC` under the embedded backend).
    Tasks,
}

impl LimitName {
    /// The name as clients write it: `memory`, `cpu`, `tasks`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LimitName::Memory => "memory",
            LimitName::Cpu => "cpu",
            LimitName::Tasks => "tasks",
        }
    }
}

impl fmt::Display for LimitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A limit value as written: a number (bytes, percent or tasks) or text (`"256M"`, `"50%"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(untagged)]
pub enum LimitInput {
    /// Bytes for memory, percent for CPU, a count for tasks.
    Number(u64),
    /// The same with a unit: `256M`, `1GiB`, `50%`.
    Text(String),
}

/// A limit value that cannot be applied, naming the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLimit {
    /// Which limit.
    pub limit: LimitName,
    /// Why, for a human.
    pub message: String,
}

impl fmt::Display for InvalidLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.limit, self.message)
    }
}

impl std::error::Error for InvalidLimit {}

/// Resource limits, each `None` when not limited. The unit is in each field's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct LimitValues {
    /// Memory ceiling in bytes.
    pub memory_max_bytes: Option<u64>,
    /// CPU ceiling in percent of one CPU.
    pub cpu_quota_percent: Option<u32>,
    /// Maximum number of tasks.
    pub tasks_max: Option<u64>,
}

impl LimitValues {
    /// `self` with every limit `overrides` sets replacing the one here: the effective limits of
    /// a plugin are its overrides over the configured defaults.
    pub fn overridden_by(self, overrides: LimitValues) -> LimitValues {
        LimitValues {
            memory_max_bytes: overrides.memory_max_bytes.or(self.memory_max_bytes),
            cpu_quota_percent: overrides.cpu_quota_percent.or(self.cpu_quota_percent),
            tasks_max: overrides.tasks_max.or(self.tasks_max),
        }
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == LimitValues::default()
    }

    /// Applies `change` (absent keeps, `null` removes, a value replaces), all or nothing.
    pub fn apply(self, change: &LimitsChange) -> Result<LimitValues, InvalidLimit> {
        let mut next = self;
        if let Some(value) = &change.memory {
            next.memory_max_bytes = value.as_ref().map(LimitInput::memory).transpose()?;
        }
        if let Some(value) = &change.cpu {
            next.cpu_quota_percent = value.as_ref().map(LimitInput::cpu).transpose()?;
        }
        if let Some(value) = &change.tasks {
            next.tasks_max = value.as_ref().map(LimitInput::tasks).transpose()?;
        }
        Ok(next)
    }
}

impl fmt::Display for LimitValues {
    /// `memory=256 MiB cpu=50% tasks=64`, `-` for what is not limited.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let memory = self.memory_max_bytes.map(format_bytes);
        let cpu = self.cpu_quota_percent.map(|p| format!("{p}%"));
        let tasks = self.tasks_max.map(|t| t.to_string());
        let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        write!(
            f,
            "memory={} cpu={} tasks={}",
            dash(memory),
            dash(cpu),
            dash(tasks)
        )
    }
}

/// `GET /api/plugins/{id}/limits`: the configured defaults, this plugin's overrides, and what
/// applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginLimits {
    /// From the configuration file (`plugin_memory_max`, `plugin_cpu_quota`, `plugin_tasks_max`).
    pub defaults: LimitValues,
    /// Set for this plugin (`toructl plugin limits ID memory=256M`).
    pub overrides: LimitValues,
    /// The overrides over the defaults: what the plugin runs under.
    pub effective: LimitValues,
}

/// The body of `PUT /api/plugins/{id}/limits`: the limits to change. A limit not named keeps
/// its override; `null` removes the override, so the default applies again. All or nothing:
/// one bad value is 400 `invalid_limits` naming it and nothing changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsChange {
    /// Memory: bytes, or a size such as `"256M"` or `"1GiB"`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional)]
    pub memory: Option<Option<LimitInput>>,
    /// CPU: percent of one CPU, `50` or `"50%"`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional)]
    pub cpu: Option<Option<LimitInput>>,
    /// Tasks: a count.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional)]
    pub tasks: Option<Option<LimitInput>>,
}

impl LimitsChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpu.is_none() && self.tasks.is_none()
    }

    /// Sets `name` to `value` (`None`: back to the default).
    pub fn set(&mut self, name: LimitName, value: Option<LimitInput>) {
        let slot = match name {
            LimitName::Memory => &mut self.memory,
            LimitName::Cpu => &mut self.cpu,
            LimitName::Tasks => &mut self.tasks,
        };
        *slot = Some(value);
    }
}

/// A field that is present, `null` or not, is `Some`; an absent one stays `None` (`default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl LimitInput {
    /// As a memory limit in bytes, within [`MIN_MEMORY_BYTES`]..=[`MAX_MEMORY_BYTES`].
    pub fn memory(&self) -> Result<u64, InvalidLimit> {
        let bytes = match self {
            LimitInput::Number(n) => *n,
            LimitInput::Text(text) => {
                parse_size(text).map_err(|m| invalid(LimitName::Memory, m))?
            }
        };
        if !(MIN_MEMORY_BYTES..=MAX_MEMORY_BYTES).contains(&bytes) {
            return Err(invalid(
                LimitName::Memory,
                format!(
                    "{bytes} bytes is outside {} to {}",
                    format_bytes(MIN_MEMORY_BYTES),
                    format_bytes(MAX_MEMORY_BYTES)
                ),
            ));
        }
        Ok(bytes)
    }

    /// As a CPU quota in percent of one CPU, 1..=[`MAX_CPU_PERCENT`].
    pub fn cpu(&self) -> Result<u32, InvalidLimit> {
        let percent = match self {
            LimitInput::Number(n) => *n,
            LimitInput::Text(text) => {
                let digits = text.trim().strip_suffix('%').unwrap_or(text.trim());
                parse_count(digits).map_err(|m| invalid(LimitName::Cpu, m))?
            }
        };
        match u32::try_from(percent) {
            Ok(p) if (1..=MAX_CPU_PERCENT).contains(&p) => Ok(p),
            _ => Err(invalid(
                LimitName::Cpu,
                format!("{percent}% is outside 1% to {MAX_CPU_PERCENT}%"),
            )),
        }
    }

    /// As a task limit, 1..=[`MAX_TASKS`].
    pub fn tasks(&self) -> Result<u64, InvalidLimit> {
        let tasks = match self {
            LimitInput::Number(n) => *n,
            LimitInput::Text(text) => {
                parse_count(text.trim()).map_err(|m| invalid(LimitName::Tasks, m))?
            }
        };
        if !(1..=MAX_TASKS).contains(&tasks) {
            return Err(invalid(
                LimitName::Tasks,
                format!("{tasks} is outside 1 to {MAX_TASKS}"),
            ));
        }
        Ok(tasks)
    }
}

fn invalid(limit: LimitName, message: impl Into<String>) -> InvalidLimit {
    InvalidLimit {
        limit,
        message: message.into(),
    }
}

/// Decimal digits only: no sign, no fraction, no overflow.
fn parse_count(text: &str) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a whole number"));
    }
    text.parse().map_err(|_| format!("{text:?} is too large"))
}

/// A size as systemd writes one: plain bytes, or digits with `K`, `M`, `G`, `T` or `P`
/// (powers of 1024), optionally followed by `iB` or `B`, any case: `256M`, `1GiB`, `512k`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let count = parse_count(digits).map_err(|_| format!("{text:?} is not a size such as 256M"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(format!("{text:?} has an unknown unit (K, M, G, T or P)")),
    };
    count
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Bytes for a human, in powers of 1024 with one decimal where it matters: `256 MiB`,
/// `1.5 GiB`, `512 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_systemd_writes_them() {
        for (text, bytes) in [
            ("1048576", 1 << 20),
            ("256M", 256 << 20),
            ("256MiB", 256 << 20),
            ("256mb", 256 << 20),
            ("1G", 1 << 30),
            ("512k", 512 << 10),
            (" 2T ", 2 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "-1", "1.5G", "12X", "M", "999999999999T", "1 G B"] {
            assert!(parse_size(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn hostile_values_are_refused_naming_the_limit() {
        let text = |s: &str| LimitInput::Text(s.to_owned());
        for (input, limit) in [
            (text("-1").memory(), LimitName::Memory),
            (text("999999999999T").memory(), LimitName::Memory),
            (LimitInput::Number(1).memory(), LimitName::Memory),
            (text("2P").memory(), LimitName::Memory),
        ] {
            assert_eq!(input.unwrap_err().limit, limit);
        }
        assert_eq!(text("0%").cpu().unwrap_err().limit, LimitName::Cpu);
        assert_eq!(text("-5%").cpu().unwrap_err().limit, LimitName::Cpu);
        assert_eq!(text("200000%").cpu().unwrap_err().limit, LimitName::Cpu);
        assert_eq!(text("0").tasks().unwrap_err().limit, LimitName::Tasks);
        assert_eq!(
            LimitInput::Number(u64::MAX).tasks().unwrap_err().limit,
            LimitName::Tasks
        );
        assert_eq!(text("500%").cpu(), Ok(500));
        assert_eq!(LimitInput::Number(50).cpu(), Ok(50));
        assert_eq!(text("64").tasks(), Ok(64));
    }

    #[test]
    fn a_change_merges_and_null_resets() {
        let now = LimitValues {
            memory_max_bytes: Some(1 << 30),
            cpu_quota_percent: Some(50),
            tasks_max: None,
        };
        let change: LimitsChange =
            serde_json::from_str(r#"{"memory": null, "tasks": "64"}"#).unwrap();
        let next = now.apply(&change).unwrap();
        assert_eq!(next.memory_max_bytes, None);
        assert_eq!(next.cpu_quota_percent, Some(50));
        assert_eq!(next.tasks_max, Some(64));
        assert!(serde_json::from_str::<LimitsChange>(r#"{"disk": 1}"#).is_err());
        let bad: LimitsChange = serde_json::from_str(r#"{"cpu": "50%", "memory": "-1"}"#).unwrap();
        assert_eq!(now.apply(&bad).unwrap_err().limit, LimitName::Memory);
    }

    #[test]
    fn overrides_win_over_defaults() {
        let defaults = LimitValues {
            memory_max_bytes: Some(1 << 30),
            cpu_quota_percent: None,
            tasks_max: Some(512),
        };
        let overrides = LimitValues {
            memory_max_bytes: Some(256 << 20),
            ..LimitValues::default()
        };
        let effective = defaults.overridden_by(overrides);
        assert_eq!(effective.memory_max_bytes, Some(256 << 20));
        assert_eq!(effective.tasks_max, Some(512));
        assert_eq!(effective.to_string(), "memory=256 MiB cpu=- tasks=512");
    }

    #[test]
    fn bytes_read_as_a_human_writes_them() {
        assert_eq!(format_bytes(256 << 20), "256 MiB");
        assert_eq!(format_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(64 << 20), "64 MiB");
    }
}
