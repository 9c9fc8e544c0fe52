//! Where a plugin's socket lives, seen from the daemon and from inside the plugin's unit, and the
//! daemon-owned directory that makes it reachable by both (see "Who the daemon runs as" in
//! ARCHITECTURE.md).

use std::path::PathBuf;

use toru_plugin_api::PluginId;

use super::UNIT_PREFIX;

/// Where the daemon connects to a plugin: `<socket_dir>/<id>/plugin.sock`.
///
/// Why not the unit's own `RuntimeDirectory=`: systemd creates that 0700 for the dynamic user,
/// and the daemon runs as root *without* `CAP_DAC_OVERRIDE`, so it could not enter it. Instead
/// the daemon owns `<socket_dir>/<id>` (created by [`prepare_socket_dir`]: setgid, group root,
/// mode 2733) and systemd bind-mounts it over the unit's `RuntimeDirectory=`, where the plugin
/// sees it as `/run/toru-plugin-<id>` ([`unit_socket_path`]). The plugin's socket inherits
/// group root from the setgid directory and mode 0770 from `UMask=0007`, so the daemon (gid 0)
/// may connect; other plugins can reach neither the directory (`socket_dir` is 0700 and not
/// mounted into their units) nor the socket (not their user, not their group).
pub fn socket_path(socket_dir: &std::path::Path, plugin_id: &PluginId) -> PathBuf {
    socket_dir.join(plugin_id.as_str()).join(SOCKET_NAME)
}

/// The socket's file name, the same in the daemon's view and the plugin's.
const SOCKET_NAME: &str = "plugin.sock";

/// Where the plugin itself creates its socket, in its own mount namespace:
/// `/run/toru-plugin-<id>/plugin.sock` (the bind mount of the daemon's directory).
pub fn unit_socket_path(plugin_id: &PluginId) -> PathBuf {
    PathBuf::from(format!(
        "/run/{}/{SOCKET_NAME}",
        runtime_directory(plugin_id)
    ))
}

/// Makes `<socket_dir>/<id>` empty and ready for a fresh plugin process: `socket_dir` 0700,
/// the plugin's directory setgid with group root and mode 2733 (the plugin, which is "other",
/// may create its socket but not list the directory). A socket left by an earlier process of
/// the same plugin (a different dynamic uid) is removed: the directory is the daemon's.
pub fn prepare_socket_dir(
    socket_dir: &std::path::Path,
    plugin_id: &PluginId,
) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(socket_dir)?;
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o700))?;
    let dir = socket_dir.join(plugin_id.as_str());
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o2733))
}

/// The `RuntimeDirectory=` name (relative to `/run`) of a plugin's unit.
pub fn runtime_directory(plugin_id: &PluginId) -> String {
    format!("{UNIT_PREFIX}{plugin_id}")
}

/// The absolute path of a plugin unit's `RuntimeDirectory=`.
pub fn runtime_dir_path(plugin_id: &PluginId) -> String {
    format!("/run/{}", runtime_directory(plugin_id))
}
