//! Installing, upgrading, rolling back and uninstalling plugins through the API, against a
//! real daemon (`Daemon::start`, embedded backend) on a temp directory. The plugins are
//! versions of `tests/fixtures/versioned_plugin.py`, uploaded as bytes.

mod support;

use std::path::Path;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::Value;
use toru_api::{InstallOutcome, InstallResult, Plugin};
use toru_daemon::config::Config;
use toructl::client::Response;
use toructl::{Client, ClientError};

use support::api::{ApiDaemon, error_code, test_config, wait_state};
use support::ctl::{ctl, ok};
use support::fixtures::{script, versioned_plugin};
use support::harness::Dirs;

/// Quick health checks, so a deaf plugin misses a ping within a short health window.
fn config(dirs: &Dirs) -> Config {
    Config {
        upgrade_health_window: Duration::from_secs(2),
        ping: (Duration::from_millis(200), Duration::from_millis(300)),
        ..test_config(dirs)
    }
}

/// The local socket's client (root), waiting long enough for a health window.
fn admin(d: &ApiDaemon) -> Client {
    d.local.clone().with_timeout(Duration::from_secs(60))
}

/// `POST /api/plugins` with `binary`, and `signature` in the `Toru-Signature` header.
async fn upload(d: &ApiDaemon, binary: Vec<u8>, signature: Option<&str>) -> Response {
    let mut headers = vec![("content-type", "application/octet-stream")];
    if let Some(signature) = signature {
        headers.push(("toru-signature", signature));
    }
    admin(d)
        .request(Method::POST, "/api/plugins", &headers, Some(binary))
        .await
        .unwrap()
}

/// Uploads a version that must be accepted.
async fn install(d: &ApiDaemon, id: &str, version: &str, mode: &str) -> InstallResult {
    let response = upload(d, versioned_plugin(id, version, mode), None).await;
    response.json().unwrap_or_else(|e| {
        panic!(
            "{id} {version} ({mode}) refused: {e}: {}",
            String::from_utf8_lossy(&response.body)
        )
    })
}

/// The plugin as the API shows it.
async fn plugin(d: &ApiDaemon, id: &str) -> Value {
    d.local.get(&format!("/api/plugins/{id}")).await.unwrap()
}

/// The kinds and details of the plugin's events, oldest first.
async fn events(d: &ApiDaemon, id: &str) -> Vec<(String, String)> {
    let mut events = d.daemon.store.recent_events(id, 100).await.unwrap();
    events.reverse();
    events
        .into_iter()
        .map(|e| (e.kind.to_string(), e.details))
        .collect()
}

/// The names in the plugins directory, hidden ones included, and in `.staging`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".staging")
        .collect();
    if let Ok(staging) = std::fs::read_dir(dir.join(".staging")) {
        names.extend(staging.map(|e| format!(".staging/{}", e.unwrap().file_name().display())));
    }
    names.sort();
    names
}

/// Asserts the answer is an error with this status and code; returns its message.
fn refused(response: &Response, status: StatusCode, code: &str) -> String {
    let body = String::from_utf8_lossy(&response.body).into_owned();
    assert_eq!(response.status, status, "{body}");
    assert_eq!(error_code(&response.body), code, "{body}");
    body
}

#[tokio::test]
async fn an_upload_is_installed_disabled_with_its_signature_and_recorded() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(config(&dirs)).await;
    let binary = versioned_plugin("vers", "1.0.0", "ok");
    let response = upload(&d, binary.clone(), Some("TORUSIG1.example")).await;
    let result: InstallResult = response.json().unwrap();
    assert_eq!(result.outcome, InstallOutcome::Installed);
    assert_eq!(result.plugin.id, "vers");
    assert_eq!(result.plugin.version, "1.0.0");
    assert_eq!(result.plugin.previous_version, None);
    assert!(!result.plugin.status.enabled, "installed disabled");
    let installed = dirs.plugins().join("vers.binary");
    assert_eq!(std::fs::read(&installed).unwrap(), binary);
    assert_eq!(
        std::fs::read_to_string(dirs.plugins().join("vers.binary.sig")).unwrap(),
        "TORUSIG1.example"
    );
    let files: Vec<String> = listing(&dirs.plugins())
        .into_iter()
        .filter(|n| n != ".metadata")
        .collect();
    assert_eq!(
        files,
        ["vers.binary", "vers.binary.sig"],
        "nothing left in staging"
    );
    let listed: Vec<Plugin> = d.local.plugins().await.unwrap();
    assert!(listed.iter().any(|p| p.id == "vers"));
    let recorded = events(&d, "vers").await;
    let (kind, details) = recorded.last().unwrap();
    assert_eq!(kind, "installed");
    assert!(details.contains("1.0.0"), "{details}");
    // And it runs once enabled.
    support::api::enable(&d.local, "vers").await;
    d.stop().await;
}

#[tokio::test]
async fn garbage_and_a_hanging_metadata_are_refused_and_change_nothing() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(config(&dirs)).await;
    install(&d, "vers", "1.0.0", "ok").await;
    let before = listing(&dirs.plugins());

    let garbage = upload(&d, b"\x7fELF but not really".to_vec(), None).await;
    let message = refused(&garbage, StatusCode::BAD_REQUEST, "invalid_plugin");
    assert!(message.contains("not a plugin"), "{message}");
    assert_eq!(listing(&dirs.plugins()), before);

    let liar = upload(&d, b"#!/bin/sh\necho '{\"id\": 5}'\n".to_vec(), None).await;
    let message = refused(&liar, StatusCode::BAD_REQUEST, "invalid_plugin");
    assert!(message.contains("invalid metadata"), "{message}");
    assert_eq!(listing(&dirs.plugins()), before);

    // A --metadata that never answers is stopped at the discovery bound (5 s).
    let scratch = tempfile::tempdir().unwrap();
    let hanging = std::fs::read(script(scratch.path(), "hang", "exec sleep 60")).unwrap();
    let hung = upload(&d, hanging, None).await;
    let message = refused(&hung, StatusCode::BAD_REQUEST, "invalid_plugin");
    assert!(
        message.contains("5s") || message.contains("time"),
        "{message}"
    );
    assert_eq!(listing(&dirs.plugins()), before);

    // The installed plugin is untouched.
    assert_eq!(plugin(&d, "vers").await["version"], "1.0.0");
    d.stop().await;
}

#[tokio::test]
async fn an_upload_over_the_cap_is_refused_with_413_and_not_kept() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(Config {
        max_upload_bytes: 1024,
        ..config(&dirs)
    })
    .await;
    let response = upload(&d, vec![b'#'; 4096], None).await;
    refused(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let staged: Vec<String> = listing(&dirs.plugins())
        .into_iter()
        .filter(|n| n.starts_with(".staging/"))
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    d.stop().await;
}

#[tokio::test]
async fn an_upgrade_keeps_kv_and_licence_and_the_previous_version() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(config(&dirs)).await;
    install(&d, "vers", "1.0.0", "ok").await;
    support::api::enable(&d.local, "vers").await;
    let store = &d.daemon.store;
    store.kv_set("vers", "counter", "41").await.unwrap();
    store.set_license_key("vers", "TORU1.kept").await.unwrap();

    let result = install(&d, "vers", "1.1.0", "ok").await;
    assert_eq!(result.outcome, InstallOutcome::Upgraded);
    assert_eq!(result.plugin.version, "1.1.0");
    assert_eq!(result.plugin.previous_version.as_deref(), Some("1.0.0"));
    assert_eq!(result.plugin.status.state.to_string(), "running");
    assert_eq!(
        store.kv_get("vers", "counter").await.unwrap().as_deref(),
        Some("41")
    );
    assert_eq!(
        store.license_key("vers").await.unwrap().as_deref(),
        Some("TORU1.kept")
    );
    assert!(dirs.plugins().join(".previous/vers.binary").exists());
    let recorded = events(&d, "vers").await;
    assert!(
        recorded
            .iter()
            .any(|(kind, details)| kind == "upgraded" && details == "1.0.0 → 1.1.0"),
        "{recorded:#?}"
    );
    d.stop().await;
}

/// Upgrades a running 1.0.0 to a 2.0.0 that behaves as `mode`: the upgrade must be refused
/// with 422 `upgrade_failed`, 1.0.0 put back and running again, and `upgrade_failed` recorded.
async fn upgrade_is_rolled_back(mode: &str, reason: &str) {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(config(&dirs)).await;
    let v1 = versioned_plugin("vers", "1.0.0", "ok");
    install(&d, "vers", "1.0.0", "ok").await;
    let running = support::api::enable(&d.local, "vers").await;
    let old_pid = running["status"]["pid"].as_u64().unwrap();

    let response = upload(&d, versioned_plugin("vers", "2.0.0", mode), None).await;
    let message = refused(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "upgrade_failed",
    );
    assert!(message.contains("rolled back"), "{message}");
    assert!(message.contains(reason), "{message}");

    assert_eq!(
        std::fs::read(dirs.plugins().join("vers.binary")).unwrap(),
        v1
    );
    let back = support::api::wait_restarted(&d.local, "vers", old_pid).await;
    assert_eq!(back["version"], "1.0.0");
    assert_eq!(back["previous_version"], Value::Null);
    let recorded = events(&d, "vers").await;
    assert!(
        recorded
            .iter()
            .any(|(kind, details)| kind == "upgrade_failed" && details.contains(reason)),
        "{recorded:#?}"
    );
    let audit = d.daemon.store.recent_events("vers", 100).await.unwrap();
    let failed = audit
        .iter()
        .find(|e| e.kind.to_string() == "upgrade_failed")
        .unwrap();
    assert!(failed.actor.is_some(), "the upgrade's actor is recorded");
    d.stop().await;
}

#[tokio::test]
async fn an_upgrade_that_crashes_at_start_is_rolled_back() {
    upgrade_is_rolled_back("crash", "did not start").await;
}

#[tokio::test]
async fn an_upgrade_that_stops_answering_pings_is_rolled_back() {
    upgrade_is_rolled_back("deaf", "missed a ping").await;
}

#[tokio::test]
async fn rollback_swaps_the_versions_and_without_a_previous_one_is_409() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(config(&dirs)).await;
    install(&d, "vers", "1.0.0", "ok").await;
    let none = d
        .local
        .raw(Method::POST, "/api/plugins/vers/rollback", None)
        .await
        .unwrap();
    refused(&none, StatusCode::CONFLICT, "no_previous_version");

    // Not running: the upgrade only swaps the binary.
    let upgraded = install(&d, "vers", "2.0.0", "ok").await;
    assert_eq!(upgraded.outcome, InstallOutcome::Upgraded);
    support::api::enable(&d.local, "vers").await;

    let back = d.local.rollback("vers").await.unwrap();
    assert_eq!(back.version, "1.0.0");
    assert_eq!(back.previous_version.as_deref(), Some("2.0.0"));
    let running = wait_state(&d.local, "vers", "running").await;
    assert_eq!(running["version"], "1.0.0");
    let recorded = events(&d, "vers").await;
    assert!(
        recorded
            .iter()
            .any(|(kind, details)| kind == "rolled_back" && details == "2.0.0 → 1.0.0"),
        "{recorded:#?}"
    );
    // And forward again.
    let forward = d.local.rollback("vers").await.unwrap();
    assert_eq!(forward.version, "2.0.0");
    d.stop().await;
}

#[tokio::test]
async fn uninstall_keeps_the_data_and_purge_deletes_it() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(config(&dirs)).await;
    install(&d, "vers", "1.0.0", "ok").await;
    install(&d, "vers", "1.1.0", "ok").await;
    support::api::enable(&d.local, "vers").await;
    let store = &d.daemon.store;
    store.kv_set("vers", "counter", "7").await.unwrap();
    store.set_license_key("vers", "TORU1.kept").await.unwrap();

    let removed = d.local.uninstall("vers", false).await.unwrap();
    assert!(!removed.purged);
    let gone = d
        .local
        .raw(Method::GET, "/api/plugins/vers", None)
        .await
        .unwrap();
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let left: Vec<String> = listing(&dirs.plugins())
        .into_iter()
        .filter(|n| n.contains("vers"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        store.kv_get("vers", "counter").await.unwrap().as_deref(),
        Some("7")
    );

    // Installed again, it finds its data, and is not enabled.
    let again = install(&d, "vers", "1.1.0", "ok").await;
    assert_eq!(again.outcome, InstallOutcome::Installed);
    assert!(again.plugin.license.installed, "its licence key is back");
    assert!(!again.plugin.status.enabled);

    let purged = d.local.uninstall("vers", true).await.unwrap();
    assert!(purged.purged);
    assert_eq!(store.kv_get("vers", "counter").await.unwrap(), None);
    assert_eq!(store.license_key("vers").await.unwrap(), None);
    let recorded = events(&d, "vers").await;
    let uninstalls: Vec<_> = recorded
        .iter()
        .filter(|(kind, _)| kind == "uninstalled")
        .collect();
    assert_eq!(uninstalls.len(), 2, "{recorded:#?}");
    assert!(uninstalls[1].1.contains("purged"), "{uninstalls:?}");
    let unknown = d.local.uninstall("vers", false).await.unwrap_err();
    assert!(matches!(unknown, ClientError::Api { status, .. } if status == StatusCode::NOT_FOUND));
    d.stop().await;
}

#[tokio::test]
async fn toructl_installs_with_the_signature_beside_the_file_shows_and_uninstalls() {
    let dirs = Dirs::new();
    let d = ApiDaemon::start_with(config(&dirs)).await;
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("vers.binary");
    std::fs::write(&file, versioned_plugin("vers", "1.0.0", "ok")).unwrap();
    std::fs::write(scratch.path().join("vers.binary.sig"), "TORUSIG1.beside\n").unwrap();
    let path = file.to_str().unwrap();

    let run = ctl(&d, &["plugin", "install", path, "--enable"]).await;
    ok(&run, "install");
    assert!(
        run.stdout.contains("installed vers 1.0.0"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("vers: running"), "{}", run.stdout);
    assert_eq!(
        std::fs::read_to_string(dirs.plugins().join("vers.binary.sig")).unwrap(),
        "TORUSIG1.beside"
    );

    std::fs::write(&file, versioned_plugin("vers", "1.1.0", "ok")).unwrap();
    let run = ctl(&d, &["plugin", "install", path]).await;
    ok(&run, "upgrade");
    assert!(
        run.stdout.contains("upgraded vers 1.1.0 (previous: 1.0.0)"),
        "{}",
        run.stdout
    );
    let show = ctl(&d, &["plugin", "show", "vers"]).await;
    ok(&show, "show");
    assert!(show.stdout.contains("previous    1.0.0"), "{}", show.stdout);

    let garbage = scratch.path().join("garbage.binary");
    std::fs::write(&garbage, "not a program").unwrap();
    let refused = ctl(&d, &["plugin", "install", garbage.to_str().unwrap()]).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("not a plugin"),
        "{}",
        refused.stderr
    );

    let run = ctl(&d, &["plugin", "uninstall", "vers"]).await;
    ok(&run, "uninstall");
    assert!(run.stdout.contains("kept"), "{}", run.stdout);
    d.stop().await;
}
