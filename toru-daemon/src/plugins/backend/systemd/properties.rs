//! [`unit_properties`]: the one place that decides what a plugin's unit looks like — what runs,
//! where its socket is, how it logs — around the sandbox of `sandbox.rs`, relaxed only by the
//! plugin's declared permissions, and its resource limits.

use std::time::Duration;

use zbus::Variant;

use super::SystemdConfig;
use super::error::SystemdError;
use super::sandbox::{limit_properties, sandbox_properties};
use super::socket::{runtime_dir_path, runtime_directory, unit_socket_path};
use crate::logs::entry::UNPREFIXED_PRIORITY;
use crate::plugins::backend::LaunchSpec;
use crate::plugins::settings::{Backoff, RestartPolicy};

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
        // (`simple` would report success). Restarts: see `restart_properties`.
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
        // A line without a `<N>` prefix (a panic, a traceback) is a warning, as under the
        // embedded backend (`logs::entry::UNPREFIXED_PRIORITY`).
        ("SyslogLevel", i32::from(UNPREFIXED_PRIORITY).into()),
        // 0007, not 0077: the socket must be group-writable for the daemon (group root via
        // the setgid directory). The plugin's other files are its dynamic group's, which no
        // one else has.
        ("UMask", 0o007u32.into()),
    ];
    // Who restarts it when it crashes, by the systemd version.
    props.extend(restart_properties(
        config
            .restart_policy
            .as_ref()
            .map(UnitRestarts::new)
            .as_ref(),
    ));
    // The sandbox, relaxed only by what the plugin declared, and the configured limits.
    props.extend(sandbox_properties(&spec.permissions)?);
    props.extend(limit_properties(&spec.limits));
    Ok(props)
}

/// The restart schedule systemd applies itself, on systemd ≥ 254: the daemon's own backoff
/// (`1 s` doubling to `16 s` by default) expressed as `RestartSec=`, `RestartSteps=` and
/// `RestartMaxDelaySec=`, which grow the delay geometrically from the first to the last in that
/// many steps — the same doubling when the ratio is a power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitRestarts {
    /// The delay before the first restart (`RestartSec=`).
    pub first: Duration,
    /// The longest delay (`RestartMaxDelaySec=`).
    pub max: Duration,
    /// In how many restarts the delay grows from `first` to `max` (`RestartSteps=`).
    pub steps: u32,
    /// `StartLimitBurst=`: systemd stops restarting after this many starts within
    /// [`UnitRestarts::interval`]. A backstop for while the daemon is away: when it runs, the
    /// daemon gives up first (it stops the unit at its own count, which a run of
    /// `stable_after` resets, something systemd's start limit cannot express).
    pub burst: u32,
    /// `StartLimitIntervalSec=`: long enough that `burst` crashes in a row, with every delay
    /// between them, fall within it.
    pub interval: Duration,
}

/// How long one crashing run is allowed in [`UnitRestarts::interval`], on top of the delays.
const RUN_ALLOWANCE: Duration = Duration::from_secs(30);

impl UnitRestarts {
    /// The schedule that matches the daemon's `policy`.
    pub fn new(policy: &RestartPolicy) -> Self {
        let Backoff { initial, max } = policy.backoff;
        let ratio = max.as_secs_f64() / initial.as_secs_f64().max(f64::MIN_POSITIVE);
        // log2 of the ratio, rounded up: 4 for 1 s → 16 s, as the daemon's doubling.
        let steps = if ratio > 1.0 {
            ratio.log2().ceil() as u32
        } else {
            0
        };
        let delays: Duration = (1..=policy.max_failures)
            .map(|n| policy.backoff.delay(n))
            .sum();
        UnitRestarts {
            first: initial,
            max,
            steps,
            burst: policy.max_failures,
            interval: delays + RUN_ALLOWANCE * policy.max_failures,
        }
    }
}

/// Who restarts a crashed plugin. With a schedule (systemd ≥ 254) systemd does, so a plugin that
/// crashes while the daemon is stopped comes back without it; the daemon follows the restarts
/// (see `SystemdBackend::scheduled_restart`). Without one (systemd 252 has no `RestartSteps=`),
/// `Restart=no` and the daemon's supervisor restarts it.
fn restart_properties(restarts: Option<&UnitRestarts>) -> Vec<(&'static str, Variant<'static>)> {
    let Some(r) = restarts else {
        return vec![("Restart", "no".into())];
    };
    vec![
        // On a non-zero exit, an unclean signal (`kill -9`, a crash), a timeout or the
        // watchdog; never after a stop the daemon asked for.
        ("Restart", "on-failure".into()),
        ("RestartUSec", micros(r.first).into()),
        ("RestartSteps", r.steps.into()),
        ("RestartMaxDelayUSec", micros(r.max).into()),
        ("StartLimitBurst", r.burst.into()),
        ("StartLimitIntervalUSec", micros(r.interval).into()),
    ]
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
                cpu_quota_percent: Some(50),
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
            ("MemorySwapMax", "t"),
            ("CPUQuotaPerSecUSec", "t"),
            ("TasksMax", "t"),
            ("MemoryAccounting", "b"),
            ("CPUAccounting", "b"),
            ("TasksAccounting", "b"),
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
        // 50% of one CPU is half a second of CPU per second.
        assert_eq!(get("CPUQuotaPerSecUSec"), Variant::from(500_000u64));
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

    #[test]
    fn restarts_by_systemd_follow_the_daemons_schedule_with_the_types_systemd_expects() {
        let policy = crate::plugins::Settings::new(PathBuf::from("/x")).restart_policy();
        let restarts = UnitRestarts::new(&policy);
        assert_eq!(
            (restarts.first, restarts.max, restarts.steps, restarts.burst),
            (Duration::from_secs(1), Duration::from_secs(16), 4, 10)
        );
        // 1+2+4+8+16×6 = 111 s of delays and 30 s per run for ten crashes in a row.
        assert_eq!(restarts.interval, Duration::from_secs(111 + 300));
        let config = SystemdConfig {
            restart_policy: Some(policy),
            ..SystemdConfig::default()
        };
        let props = unit_properties(&spec("hello"), &config).unwrap();
        let get = |name: &str| {
            let (_, v) = props.iter().find(|(n, _)| *n == name).unwrap();
            (v.value_signature().to_string(), v.to_string())
        };
        assert_eq!(get("Restart").1, "\"on-failure\"");
        for (name, signature) in [
            ("RestartUSec", "t"),
            ("RestartSteps", "u"),
            ("RestartMaxDelayUSec", "t"),
            ("StartLimitBurst", "u"),
            ("StartLimitIntervalUSec", "t"),
        ] {
            assert_eq!(get(name).0, signature, "{name}");
        }
        let without = unit_properties(&spec("hello"), &SystemdConfig::default()).unwrap();
        assert!(
            without
                .iter()
                .any(|(n, v)| *n == "Restart" && v.to_string() == "\"no\"")
        );
        assert!(!without.iter().any(|(n, _)| *n == "RestartSteps"));
    }
}
