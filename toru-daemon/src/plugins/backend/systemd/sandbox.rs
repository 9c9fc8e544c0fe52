//! The sandbox every unit the daemon creates runs in, plugin or `--metadata`: [`sandbox_properties`]
//! starts from the full sandbox and relaxes exactly what a [`Permissions`] declares, and
//! [`limit_properties`] adds the configured resource limits. Both kinds of unit take them from
//! here, so a directive added to the sandbox reaches every unit at once.

use toru_plugin_api::Permissions;
use zbus::Variant;

use super::error::SystemdError;
use crate::plugins::backend::Limits;

/// Linux constants systemd takes as numbers (`<errno.h>`, `<sys/socket.h>`).
const EPERM: i32 = 1;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;

/// The sandbox directives, with their exact D-Bus names and types, relaxed by `perms` and by
/// nothing else. `perms` is validated again here, so no path that skipped discovery reaches a
/// unit.
///
/// Every directive below was checked to keep both the Rust example plugin and a CPython 3.11
/// stdlib plugin working, and, with `jit`, a Node.js plugin (see `tests/systemd_backend.rs`).
pub fn sandbox_properties(
    perms: &Permissions,
) -> Result<Vec<(&'static str, Variant<'static>)>, SystemdError> {
    perms.validate().map_err(SystemdError::Permissions)?;
    let mut props: Vec<(&'static str, Variant<'static>)> = vec![
        // Identity and privileges: a fresh unprivileged user per plugin that owns nothing,
        // no capabilities, no way to gain any.
        ("DynamicUser", true.into()),
        ("PrivateUsers", true.into()),
        ("NoNewPrivileges", true.into()),
        ("CapabilityBoundingSet", 0u64.into()),
        ("AmbientCapabilities", 0u64.into()),
        ("RestrictSUIDSGID", true.into()),
        // Filesystem: the whole OS read-only, no home directories, a private /tmp, no devices
        // beyond the pseudo ones, only the plugin's own processes visible in /proc.
        ("ProtectSystem", "strict".into()),
        ("ProtectHome", "yes".into()),
        ("PrivateTmp", true.into()),
        ("PrivateDevices", perms.devices.is_empty().into()),
        ("DevicePolicy", "closed".into()),
        ("ProtectProc", "invisible".into()),
        ("ProcSubset", "pid".into()),
        // Kernel and system state the plugin must not touch.
        ("ProtectKernelTunables", true.into()),
        ("ProtectKernelModules", true.into()),
        ("ProtectKernelLogs", true.into()),
        ("ProtectControlGroups", true.into()),
        ("ProtectClock", true.into()),
        ("ProtectHostname", true.into()),
        ("RestrictNamespaces", 0u64.into()), // `t` = allowed namespace flags: none
        ("LockPersonality", true.into()),
        ("RestrictRealtime", true.into()),
        // W^X memory. Fine for Rust and for CPython 3.11 (no JIT); a runtime that compiles
        // as it runs (V8, the JVM, .NET, LuaJIT, PyPy) aborts under it, so a plugin that
        // declared `jit` gets it off.
        ("MemoryDenyWriteExecute", (!perms.jit).into()),
        // System calls: the usual service set, minus privileged and resource-control calls;
        // anything else fails with EPERM instead of killing the plugin with SIGSYS. The two
        // SystemCallFilter entries combine like two lines in a unit file.
        ("SystemCallArchitectures", vec!["native".to_owned()].into()),
        (
            "SystemCallFilter",
            (true, vec!["@system-service".to_owned()]).into(),
        ),
        (
            "SystemCallFilter",
            (
                false,
                vec!["@privileged".to_owned(), "@resources".to_owned()],
            )
                .into(),
        ),
        ("SystemCallErrorNumber", EPERM.into()),
        // Network: Unix sockets (the daemon's connection) and IP, but IP only to localhost. A
        // plugin that needs more should say so in its metadata and get only that relaxed.
        (
            "RestrictAddressFamilies",
            (
                true,
                vec![
                    "AF_UNIX".to_owned(),
                    "AF_INET".to_owned(),
                    "AF_INET6".to_owned(),
                ],
            )
                .into(),
        ),
    ];
    // Permissions the plugin declared in its metadata (validated by discovery, checked again
    // by `Permissions::validate` below), and nothing else.
    if !perms.network {
        props.push(("IPAddressDeny", ip_prefixes(&[ANY_V4, ANY_V6]).into()));
        props.push((
            "IPAddressAllow",
            ip_prefixes(&[LOCALHOST_V4, LOCALHOST_V6]).into(),
        ));
    }
    if !perms.writable_paths.is_empty() {
        props.push(("ReadWritePaths", perms.writable_paths.clone().into()));
    }
    if !perms.devices.is_empty() {
        let allow: Vec<(String, String)> = perms
            .devices
            .iter()
            .map(|d| (d.clone(), "rw".to_owned()))
            .collect();
        props.push(("DeviceAllow", allow.into()));
    }
    Ok(props)
}

/// The resource accounting every unit gets, so `MemoryCurrent`, `CPUUsageNSec` and
/// `TasksCurrent` are figures rather than `u64::MAX` whatever the manager's defaults, and the
/// resource limits that are set: `MemoryMax=` in bytes, `CPUQuota=` as `CPUQuotaPerSecUSec`
/// (µs of CPU per second: 1% is 10 000), `TasksMax=`. A memory limit comes with
/// `MemorySwapMax=0`.
pub fn limit_properties(limits: &Limits) -> Vec<(&'static str, Variant<'static>)> {
    let mut props: Vec<(&'static str, Variant<'static>)> = vec![
        ("MemoryAccounting", true.into()),
        ("CPUAccounting", true.into()),
        ("TasksAccounting", true.into()),
    ];
    if let Some(bytes) = limits.memory_max {
        props.push(("MemoryMax", bytes.into()));
        // The limit is the plugin's memory, not its memory plus swap: over it, the kernel's
        // OOM killer ends the plugin (reported as such) instead of swapping it out slowly.
        props.push(("MemorySwapMax", 0u64.into()));
    }
    if let Some(percent) = limits.cpu_quota_percent {
        props.push(("CPUQuotaPerSecUSec", (u64::from(percent) * 10_000).into()));
    }
    if let Some(tasks) = limits.tasks_max {
        props.push(("TasksMax", tasks.into()));
    }
    props
}

/// An IP prefix as systemd's `IPAddressAllow`/`IPAddressDeny` take it: `(iayu)` = address
/// family, address bytes, prefix length.
type IpPrefix = (i32, &'static [u8], u32);

const ANY_V4: IpPrefix = (AF_INET, &[0; 4], 0);
const ANY_V6: IpPrefix = (AF_INET6, &[0; 16], 0);
const LOCALHOST_V4: IpPrefix = (AF_INET, &[127, 0, 0, 0], 8);
const LOCALHOST_V6: IpPrefix = (
    AF_INET6,
    &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    128,
);

/// `a(iayu)` from a list of prefixes.
fn ip_prefixes(prefixes: &[IpPrefix]) -> Vec<(i32, Vec<u8>, u32)> {
    prefixes
        .iter()
        .map(|&(family, addr, len)| (family, addr.to_vec(), len))
        .collect()
}
