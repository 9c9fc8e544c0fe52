//! Runs a test's body inside a throw-away systemd (`scripts/systemd-sandbox`), so tests of the
//! systemd backend talk to a real systemd without touching the host's: the host's own (252 on
//! Debian 12), or with [`ROOT_ENV`] set the one of another root, e.g. Debian 13's 257. Each test
//! binary prints once which systemd it ran on, so a CI log shows which version passed.
//!
//! A test calls [`run`] with its own name. On the host (the outer run), [`run`] boots a sandbox
//! named `toru-test-<pid>-<n>` with the build output and a fresh temp dir bound in, re-executes
//! the current test binary inside it with `--exact <name>` and [`INNER_ENV`] set, and checks that
//! the inner run passed and really ran the test. Inside (the inner run), [`run`] just runs the
//! body on a tokio runtime. The sandbox is always stopped, also when the test fails.
//!
//! A sandbox that cannot boot (not root, no `unshare`, script missing) fails the test with the
//! script's own explanation: these tests never pass or skip silently.

use std::future::Future;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Set (to `1`) in the environment of the inner run.
pub const INNER_ENV: &str = "TORU_SANDBOX_INNER";
/// A directory to boot instead of the host's `/` (the script's `--root`): a Debian root with
/// systemd, dbus, libnss-systemd, procps, util-linux, passwd, python3 and nodejs in it (what the
/// tests run inside), such as the Debian 13 one `scripts/test` makes with
/// `packaging/debian-root.sh`. Unset or empty: the host.
pub const ROOT_ENV: &str = "TORU_SANDBOX_ROOT";
/// The host temp dir bound into the sandbox at the same path; the inner run leaves its marker
/// there.
const SHARED_ENV: &str = "TORU_SANDBOX_SHARED";
/// How long the inner run may take before the outer run gives up and stops the sandbox.
const INNER_TIMEOUT: Duration = Duration::from_secs(240);

/// Numbers sandboxes and plugin directories within one process.
static COUNTER: AtomicUsize = AtomicUsize::new(0);
/// The systemd version is printed by the first sandbox of a test binary only.
static ANNOUNCE_SYSTEMD: Once = Once::new();

/// Whether this process is the inner run, inside a sandbox.
pub fn is_inner() -> bool {
    std::env::var_os(INNER_ENV).is_some_and(|v| v == "1")
}

/// The sandbox script, from the workspace this test crate belongs to.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/systemd-sandbox")
}

/// The workspace's `target/` directory (the parent of `target/<profile>`), found from the test
/// binary's own path so any `CARGO_TARGET_DIR` works. Bound into the sandbox: it holds the test
/// binary itself and the plugin binaries the tests run.
fn target_root() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("test binary lives in target/<profile>/deps")
        .to_owned()
}

/// Runs `body` inside a systemd sandbox as the test `test_name` (the name libtest knows it by,
/// e.g. `adopt_finds_the_running_unit` for a test at the root of the test file).
pub fn run<F, Fut>(test_name: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    if is_inner() {
        run_inner(test_name, body);
    } else {
        run_outer(test_name);
    }
}

fn run_inner<F, Fut>(test_name: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    runtime.block_on(body());
    println!("[sandbox] {test_name}: body took {:?}", started.elapsed());
    // Proof for the outer run that the body ran to its end in here.
    let shared = std::env::var_os(SHARED_ENV).expect("TORU_SANDBOX_SHARED set by the outer run");
    std::fs::write(Path::new(&shared).join(marker_name(test_name)), b"ok\n")
        .expect("write the completion marker");
}

fn marker_name(test_name: &str) -> String {
    format!("{}.done", test_name.replace("::", "__"))
}

/// Stops the sandbox when dropped, so a failing or panicking test never leaves one behind.
struct Sandbox {
    name: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        match Command::new(script()).args(["stop", &self.name]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "[sandbox] stopping {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!(
                "[sandbox] cannot run the stop command for {}: {e}",
                self.name
            ),
        }
    }
}

fn run_outer(test_name: &str) {
    let script = script();
    assert!(
        script.is_file(),
        "cannot run systemd tests: {} is missing",
        script.display()
    );
    let shared = tempfile::tempdir().expect("temp dir for the sandbox");
    let target = target_root();
    let name = format!(
        "toru-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );

    let root = boot_root();
    let started = Instant::now();
    let mut start = Command::new(&script);
    start.arg("start").arg(&name);
    if let Some(root) = &root {
        start.arg("--root").arg(root);
    }
    let boot = start
        .arg("--bind")
        .arg(&target)
        .arg("--bind")
        .arg(shared.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    // From here on the sandbox may exist (even after a failed start, `stop` is harmless).
    let _sandbox = Sandbox { name: name.clone() };
    assert!(
        boot.status.success(),
        "cannot boot the systemd sandbox {name} (these tests need root, unshare and \
         systemd; see scripts/systemd-sandbox):\n{}",
        String::from_utf8_lossy(&boot.stderr)
    );
    let booted = started.elapsed();
    ANNOUNCE_SYSTEMD.call_once(|| announce_systemd(&name, root.as_deref()));

    let exe = std::env::current_exe().expect("test binary path");
    let mut inner = Command::new(&script);
    inner
        .arg("exec")
        .arg(&name)
        .arg("--env")
        .arg(format!("{INNER_ENV}=1"))
        .arg("--env")
        .arg(format!("{SHARED_ENV}={}", shared.path().display()))
        .arg("--env")
        .arg("RUST_BACKTRACE=1")
        .arg("--")
        .arg(&exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null());
    let output = wait_with_timeout(inner, INNER_TIMEOUT, &name);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown by libtest when the test fails, or always with --nocapture.
    println!(
        "[sandbox] {name}: booted in {booted:?}, test took {:?}\n--- inner stdout ---\n{stdout}\
         --- inner stderr ---\n{stderr}",
        started.elapsed() - booted
    );
    assert!(
        output.status.success(),
        "the test failed inside the sandbox ({}); its output is above",
        output.status
    );
    assert!(
        stdout.contains("1 passed"),
        "the inner run did not run exactly one test named {test_name:?}"
    );
    assert!(
        shared.path().join(marker_name(test_name)).exists(),
        "the inner run of {test_name} did not reach the end of its body"
    );
}

/// The root the sandbox boots: [`ROOT_ENV`] if set and not empty, else the host's `/`. It must be
/// absolute: cargo runs each test binary in its crate's directory, not where it was invoked.
fn boot_root() -> Option<PathBuf> {
    let root = PathBuf::from(std::env::var_os(ROOT_ENV).filter(|root| !root.is_empty())?);
    assert!(
        root.is_absolute(),
        "{ROOT_ENV}={} must be an absolute path",
        root.display()
    );
    Some(root)
}

/// Prints the sandbox's `systemctl --version` (first line) and root to the test binary's stderr,
/// past libtest's capture (which takes only `print!` and `eprint!`), so a passing run's log says
/// too which systemd it passed on.
fn announce_systemd(name: &str, root: Option<&Path>) {
    let version = Command::new(script())
        .args(["exec", name, "--", "systemctl", "--version"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run the sandbox script: {e}"));
    assert!(
        version.status.success(),
        "systemctl --version failed in sandbox {name}: {}",
        String::from_utf8_lossy(&version.stderr)
    );
    let stdout = String::from_utf8_lossy(&version.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    let root = root.map_or_else(|| "the host's /".to_owned(), |r| r.display().to_string());
    let _ = writeln!(
        std::io::stderr(),
        "[sandbox] these tests run on {first}, booted from {root}"
    );
}

/// Runs `command` to completion, or fails the test after `limit` (the `Sandbox` guard then stops
/// the sandbox, which ends the command with it).
fn wait_with_timeout(mut command: Command, limit: Duration, name: &str) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the sandbox script");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(result) => result.expect("wait for the inner test run"),
        Err(_) => panic!("the inner test run in sandbox {name} took longer than {limit:?}"),
    }
}

/// A fresh directory for plugin files, inside the sandbox only: `/var/lib/toru-test-<pid>-<n>`,
/// mode 0755. Not under /tmp, /root or /home: the plugin units have PrivateTmp and ProtectHome,
/// and their dynamic users cannot enter /root. The overlay keeps it off the host.
pub fn plugin_dir() -> PathBuf {
    assert!(is_inner(), "plugin_dir() is only for the inner run");
    let dir = PathBuf::from(format!(
        "/var/lib/toru-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create the plugin dir");
    for d in dir.ancestors().take_while(|d| *d != Path::new("/")) {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .expect("make the plugin dir readable");
    }
    dir
}

/// Installs `content` as `dir/<name>`, mode 0755.
pub fn install_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write plugin file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("make plugin executable");
    path
}

/// Runs a command inside the sandbox (the inner run) and returns its stdout; panics with its
/// stderr when it fails.
pub fn cmd(program: &str, args: &[&str]) -> String {
    let out = cmd_output(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`cmd`], but returns the output whatever the exit status (e.g. `systemctl is-active`,
/// which exits 3 for an inactive unit).
pub fn cmd_output(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}
