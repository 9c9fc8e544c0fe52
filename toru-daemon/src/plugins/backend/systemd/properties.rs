//! [`unit_properties`]: the one place that decides what a plugin's unit looks like — what runs,
//! where its socket is, how it logs — around the sandbox of `sandbox.rs`, relaxed only by the
//! plugin's declared permissions, and its resource limits.

use std::time::Duration;

use zbus::Variant;

use super::SystemdConfig;
use super::error::SystemdError;
use super::sandbox::{limit_properties, sandbox_properties};
use super::socket::{runtime_dir_path, runtime_directory, unit_socket_path};
use crate::plugins::backend::LaunchSpec;

/// The slice every plugin unit is placed in.
pub const PLUGIN_SLICE: &str = "toru-plugins.slice";

/// `TimeoutStopUSec` of every plugin unit: the backstop when something other than
/// [`SystemdBackend::stop`](super::SystemdBackend) stops the unit (`systemctl stop`, shutdown).
/// `stop` enforces its own `grace`, capped at this.
pub const UNIT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The properties of a plugin's transient unit, with their exact D-Bus names and types.
///
/// This is the one place that decides how a plugin runs under systemd; `start` sends exactly
/// this list. Integer types matter (`t` = `u64`, `u` = `u32`, `i` = `i32`): a wrong one makes
/// systemd reject the whole call without naming the property.
///
/// The sandbox and the resource limits come from `sandbox.rs`, shared with the `--metadata`
/// unit.
pub fn unit_properties(
    spec: &LaunchSpec,
    config: &SystemdConfig,
) -> Result<Vec<(&'static str, Variant<'static>)>, SystemdError> {
    let id = &spec.plugin_id;
    let binary = spec
        .binary
        .to_str()
        .filter(|_| spec.binary.is_absolute())
        .ok_or_else(|| SystemdError::BinaryPath(spec.binary.clone()))?
        .to_owned();
    // The socket must be in the plugin's own directory, the only one bind-mounted into its
    // unit. The spec carries the daemon's view of it; here it must agree.
    let host_dir = config.socket_dir.join(id.as_str());
    if spec.socket != config.socket_path(id) || !host_dir.is_absolute() {
        return Err(SystemdError::SocketOutsideRuntimeDirectory {
            socket: spec.socket.clone(),
            expected: config.socket_path(id),
        });
    }
    let host_dir = host_dir.to_string_lossy().into_owned();
    let socket = unit_socket_path(id).to_string_lossy().into_owned();
    let extra_env = &config.extra_env;

    let mut env = vec![
        format!("TORU_PLUGIN_ID={id}"),
        format!("TORU_PLUGIN_SOCKET={socket}"),
    ];
    env.extend(extra_env.iter().cloned());

    let mut props: Vec<(&'static str, Variant<'static>)> = vec![
        // What runs. `Type=exec` makes the start job fail when the binary cannot be executed
        // (`simple` would report success). Restart=no: the supervisor does the backoff itself,
        // systemd 252 has no RestartSteps=.
        ("Description", format!("Toru plugin {id}").into()),
        ("Type", "exec".into()),
        (
            "ExecStart",
            vec![(
                binary.clone(),
                vec![binary, "--socket".to_owned(), socket],
                false,
            )]
            .into(),
        ),
        ("Environment", env.into()),
        ("Restart", "no".into()),
        // Every plugin in one slice: `systemctl stop toru-plugins.slice` stops them all (the
        // package's prerm does on removal), and the administrator can limit them together.
        ("Slice", PLUGIN_SLICE.into()),
        // Stopping: SIGTERM to the whole cgroup (default KillMode=control-group), SIGKILL after
        // this backstop; `stop` applies the supervisor's own grace before it.
        ("TimeoutStopUSec", micros(UNIT_STOP_TIMEOUT).into()),
        // The socket's directory (see `socket_path`): /run/toru-plugin-<id> is created by
        // systemd for the dynamic user and removed when the unit stops; inside the unit the
        // daemon's `<socket_dir>/<id>` is bind-mounted over it, so the socket the plugin makes
        // there is one the daemon, without CAP_DAC_OVERRIDE, can connect to. `(ssbt)`:
        // source, destination, ignore a missing source (no), mount flags (none).
        ("RuntimeDirectory", vec![runtime_directory(id)].into()),
        ("RuntimeDirectoryMode", 0o700u32.into()),
        (
            "BindPaths",
            vec![(host_dir, runtime_dir_path(id), false, 0u64)].into(),
        ),
        // Logging: stdout/stderr go to the journal (the default for units); `journalctl -u`
        // matches by unit, TORU_PLUGIN=<id> lets other tools match the plugin's own lines
        // (`journalctl TORU_PLUGIN=<id>`) without systemd's messages about the unit, and the
        // identifier shows the plugin's id instead of `python3` or the binary's name.
        (
            "LogExtraFields",
            vec![format!("TORU_PLUGIN={id}").into_bytes()].into(),
        ),
        ("SyslogIdentifier", id.to_string().into()),
        // 0007, not 0077: the socket must be group-writable for the daemon (group root via
        // the setgid directory). The plugin's other files are its dynamic group's, which no
        // one else has.
        ("UMask", 0o007u32.into()),
    ];
    // The sandbox, relaxed only by what the plugin declared, and the configured limits.
    props.extend(sandbox_properties(&spec.permissions)?);
    props.extend(limit_properties(&spec.limits));
    Ok(props)
}

/// A duration as systemd's `…USec` properties take it (`t`).
pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::plugins::backend::Limits;

    fn spec(id: &str) -> LaunchSpec {
        let id = toru_plugin_api::PluginId::new(id).unwrap();
        LaunchSpec {
            binary: PathBuf::from("/usr/lib/toru/plugins/hello.binary"),
            socket: SystemdConfig::default().socket_path(&id),
            plugin_id: id,
            permissions: Default::default(),
            limits: Limits {
                memory_max: Some(64 << 20),
                tasks_max: Some(32),
            },
        }
    }

    #[test]
    fn properties_have_the_types_systemd_expects() {
        let config = SystemdConfig {
            extra_env: vec!["RUST_LOG=debug".to_owned()],
            ..SystemdConfig::default()
        };
        let props = unit_properties(&spec("hello"), &config).unwrap();
        let sig = |name: &str| -> Vec<String> {
            props
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.value_signature().to_string())
                .collect()
        };
        for (name, expected) in [
            ("ExecStart", "a(sasb)"),
            ("Environment", "as"),
            ("RuntimeDirectory", "as"),
            ("RuntimeDirectoryMode", "u"),
            ("BindPaths", "a(ssbt)"),
            ("LogExtraFields", "aay"),
            ("TimeoutStopUSec", "t"),
            ("CapabilityBoundingSet", "t"),
            ("RestrictNamespaces", "t"),
            ("UMask", "u"),
            ("RestrictAddressFamilies", "(bas)"),
            ("SystemCallArchitectures", "as"),
            ("SystemCallErrorNumber", "i"),
            ("IPAddressDeny", "a(iayu)"),
            ("IPAddressAllow", "a(iayu)"),
            ("MemoryMax", "t"),
            ("TasksMax", "t"),
            ("DynamicUser", "b"),
        ] {
            assert_eq!(sig(name), vec![expected.to_owned()], "{name}");
        }
        assert_eq!(sig("SystemCallFilter"), vec!["(bas)", "(bas)"]);
    }

    #[test]
    fn properties_reject_a_socket_outside_the_runtime_directory() {
        let mut bad = spec("hello");
        bad.socket = PathBuf::from("/tmp/evil.sock");
        assert!(unit_properties(&bad, &SystemdConfig::default()).is_err());
        let mut relative = spec("hello");
        relative.binary = PathBuf::from("hello.binary");
        assert!(unit_properties(&relative, &SystemdConfig::default()).is_err());
    }

    /// The names of the properties a spec produces, and the value of one.
    fn names(spec: &LaunchSpec) -> Vec<&'static str> {
        unit_properties(spec, &SystemdConfig::default())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn the_default_sandbox_grants_no_permission() {
        let n = names(&spec("hello"));
        assert!(n.contains(&"IPAddressDeny") && n.contains(&"IPAddressAllow"));
        assert!(!n.contains(&"ReadWritePaths") && !n.contains(&"DeviceAllow"));
        let props = unit_properties(&spec("hello"), &SystemdConfig::default()).unwrap();
        let get = |name: &str| props.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get("PrivateDevices"), Variant::from(true));
        assert_eq!(get("MemoryDenyWriteExecute"), Variant::from(true));
    }

    #[test]
    fn each_declared_permission_relaxes_exactly_its_directive() {
        // Case: network only — the IP allow/deny lists go, everything else stays.
        let mut net = spec("hello");
        net.permissions.network = true;
        let n = names(&net);
        assert!(!n.contains(&"IPAddressDeny") && !n.contains(&"IPAddressAllow"));
        assert!(!n.contains(&"ReadWritePaths") && !n.contains(&"DeviceAllow"));
        // Case: a writable path — ReadWritePaths with exactly that path, IP still localhost.
        let mut write = spec("hello");
        write.permissions.writable_paths = vec!["/srv/hello".into()];
        let props = unit_properties(&write, &SystemdConfig::default()).unwrap();
        let rw = props.iter().find(|(n, _)| *n == "ReadWritePaths").unwrap();
        assert_eq!(rw.1, Variant::from(vec!["/srv/hello".to_owned()]));
        assert!(props.iter().any(|(n, _)| *n == "IPAddressDeny"));
        // Case: a device — DeviceAllow rw for it, PrivateDevices off, DevicePolicy still closed.
        let mut dev = spec("hello");
        dev.permissions.devices = vec!["/dev/ttyUSB0".into()];
        let props = unit_properties(&dev, &SystemdConfig::default()).unwrap();
        let get = |name: &str| props.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(
            get("DeviceAllow"),
            Variant::from(vec![("/dev/ttyUSB0".to_owned(), "rw".to_owned())])
        );
        assert_eq!(get("PrivateDevices"), Variant::from(false));
        assert_eq!(get("DevicePolicy"), Variant::from("closed"));
        // Case: jit — W^X memory off, everything else as in the default sandbox.
        let mut jit = spec("hello");
        jit.permissions.jit = true;
        let props = unit_properties(&jit, &SystemdConfig::default()).unwrap();
        let get = |name: &str| props.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get("MemoryDenyWriteExecute"), Variant::from(false));
        assert_eq!(get("PrivateDevices"), Variant::from(true));
        assert!(props.iter().any(|(n, _)| *n == "IPAddressDeny"));
        // Case: an invalid path that skipped discovery is still refused here.
        let mut bad = spec("hello");
        bad.permissions.writable_paths = vec!["/srv/../etc".into()];
        assert!(unit_properties(&bad, &SystemdConfig::default()).is_err());
    }
}
