//! Plugin executables for tests: the real example plugin, and small scripts that fail in every
//! way discovery and supervision must survive.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's `target/<profile>` directory, found from the test binary's own path
/// (`target/<profile>/deps/<test>`), so it works with any `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_owned()
}

/// A binary of this workspace, brought up to date once per test process: a `cargo test -p
/// toru-daemon` alone neither builds nor rebuilds other packages' binaries, and a stale plugin
/// would test old code. Inside a systemd sandbox the outer run has already built it.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let path = target_dir().join(bin);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !super::sandbox::is_inner() && !built.iter().any(|b| b == bin) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--bin", bin])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building {bin} failed");
        built.push(bin.to_owned());
    }
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// The built `hello-rust` example plugin.
pub fn hello_rust() -> PathBuf {
    workspace_binary("hello-plugin-rust", "hello-rust")
}

/// The built `toructl`.
pub fn toructl() -> PathBuf {
    workspace_binary("toructl", "toructl")
}

/// Both examples as their own `build.sh` scripts build them (the Rust one with its real React
/// view embedded), in `target/example-plugins/`. `scripts/test` builds them first and passes
/// the directory in `TORU_EXAMPLES_DIR`; otherwise they are built here, once per process. Inside
/// a systemd sandbox the outer run has built them and `target/` is bound in.
pub fn example_plugins() -> PathBuf {
    static LOCK: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    if let Some(dir) = std::env::var_os("TORU_EXAMPLES_DIR") {
        return PathBuf::from(dir);
    }
    let dir = target_dir()
        .parent()
        .expect("target/")
        .join("example-plugins");
    let mut built = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !*built && !super::sandbox::is_inner() {
        std::fs::create_dir_all(&dir).unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for script in ["hello-plugin-rust/build.sh", "hello-plugin-python/build.sh"] {
            let out = Command::new(examples.join(script))
                .arg(&dir)
                .output()
                .expect("run build.sh");
            assert!(
                out.status.success(),
                "{script} failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        *built = true;
    }
    for name in ["hello-rust.binary", "hello-python.binary"] {
        assert!(
            dir.join(name).exists(),
            "{} missing",
            dir.join(name).display()
        );
    }
    dir
}

/// The misbehaving Python plugin; its mode is the name it is installed under.
pub fn misbehaving_plugin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/misbehaving_plugin.py")
}

/// Installs the misbehaving Python plugin in `plugins_dir` under `mode` (a symlink, so its
/// mode is its file name).
pub fn install_misbehaving(plugins_dir: &Path, mode: &str) {
    std::fs::create_dir_all(plugins_dir).unwrap();
    let dest = plugins_dir.join(format!("{mode}.binary"));
    std::os::unix::fs::symlink(misbehaving_plugin(), dest).unwrap();
}

/// Installs the Python fixture `tests/fixtures/<fixture>` in `dir` as `<name>.binary`, with
/// its `@SDK@` replaced by the directory of the Python SDK (`examples/hello-plugin-python`).
pub fn install_python_fixture(dir: &Path, fixture: &str, name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sdk = manifest
        .join("../examples/hello-plugin-python")
        .canonicalize()
        .unwrap();
    let text = std::fs::read_to_string(manifest.join("tests/fixtures").join(fixture)).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let dest = dir.join(format!("{name}.binary"));
    std::fs::write(&dest, text.replace("@SDK@", sdk.to_str().unwrap())).unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
    dest
}

/// Copies `source` into `dir` as `<name>.binary`, executable.
pub fn install(dir: &Path, source: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let dest = dir.join(format!("{name}.binary"));
    std::fs::copy(source, &dest).unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
    dest
}

/// Writes a shell-script plugin `<name>.binary` with the given body, executable.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.binary"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Metadata JSON for a script plugin with this id.
pub fn metadata_json(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","name":"{id}","version":"1.0.0","route":"/{id}","protocol_version":1}}"#
    )
}

/// A plugin that reports valid metadata, then exits with `code` whenever it is started.
pub fn crashing_plugin(dir: &Path, id: &str, code: i32) -> PathBuf {
    let meta = metadata_json(id);
    script(
        dir,
        id,
        &format!(
            "if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\necho '<3>crashing on purpose' >&2\nexit {code}"
        ),
    )
}

/// One version of the install tests' plugin (`tests/fixtures/versioned_plugin.py`): its id,
/// version and behaviour (`ok`, `crash`, `deaf`) filled in, as the bytes an upload sends.
pub fn versioned_plugin(id: &str, version: &str, mode: &str) -> Vec<u8> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(manifest.join("tests/fixtures/versioned_plugin.py"))
        .unwrap()
        .replace("@ID@", id)
        .replace("@VERSION@", version)
        .replace("@MODE@", mode)
        .into_bytes()
}
