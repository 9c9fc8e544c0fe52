//! Backups through the HTTP API of a real daemon: a whole backup restored by a restart onto
//! it, a plugin's data restored in place, and every kind of bad backup refused with nothing
//! changed.

mod support;

use std::io::Read;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{ApiDaemon, error_code, wait_restarted, wait_state};
use support::fixtures::{hello_rust, install};
use support::harness::Dirs;
use toru_api::{BackupFormat, BackupManifest, EventKind, EventsQuery, PluginBackup, RestoreStaged};
use toructl::Client;

async fn set_key(client: &Client, key: &str, value: &str) {
    let path = format!("/api/plugins/hello-rust/kv/{key}");
    let _: Value = client
        .send_json(Method::PUT, &path, &json!({"value": value}))
        .await
        .unwrap();
}

async fn keys(client: &Client) -> Vec<String> {
    let keys: toru_api::KvKeys = client.get("/api/plugins/hello-rust/kv").await.unwrap();
    keys.keys
}

async fn value(client: &Client, key: &str) -> String {
    let entry: toru_api::KvEntry = client
        .get(&format!("/api/plugins/hello-rust/kv/{key}"))
        .await
        .unwrap();
    entry.value
}

/// A daemon with hello-rust installed and running, `admin`, and one key.
async fn started(dirs: &Dirs) -> ApiDaemon {
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let d = ApiDaemon::start(dirs).await;
    d.create_admin().await;
    d.enable(&d.local, "hello-rust").await;
    set_key(&d.local, "counter", "1").await;
    d
}

/// The archive's members by name.
fn members(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    tar::Archive::new(archive)
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (name, content)
        })
        .collect()
}

/// An archive of these members, as `tar` writes it.
fn archive_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, content) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, name, content.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap()
}

#[tokio::test]
async fn a_restored_backup_is_what_the_daemon_runs_on_after_its_restart() {
    let dirs = Dirs::new();
    let d = started(&dirs).await;
    let instance_id = d.daemon.plugins.instance_id().to_owned();

    let archive = d.local.backup().await.unwrap();
    let names: Vec<String> = members(&archive).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["toru-backup.json", "toru.db", "enabled.json"]);
    let manifest: BackupManifest = serde_json::from_slice(&members(&archive)[0].1).unwrap();
    assert_eq!(manifest.format, BackupFormat::Whole);
    assert_eq!(manifest.instance_id, instance_id);

    // Everything changes after the backup: a key, a user, the enabled set.
    set_key(&d.local, "counter", "2").await;
    d.create_user("bob", "viewer").await;
    let _: Value = d
        .local
        .send_json(Method::POST, "/api/plugins/hello-rust/disable", &json!({}))
        .await
        .unwrap();

    let staged: RestoreStaged = d.local.restore(archive.to_vec()).await.unwrap();
    assert_eq!(staged.manifest, manifest);
    assert_eq!(staged.enabled, ["hello-rust"]);
    assert!(
        d.daemon.backups.restart_requested(),
        "the daemon stops to load the backup"
    );
    let config = d.config.clone();
    d.stop().await;

    let d = ApiDaemon::start_with(config).await;
    assert_eq!(d.daemon.plugins.instance_id(), instance_id);
    wait_state(&d.local, "hello-rust", "running").await;
    assert_eq!(value(&d.local, "counter").await, "1");
    let users: Vec<toru_api::User> = d.local.get("/api/users").await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["admin"], "bob came after the backup");
    let restored = d
        .local
        .events(&EventsQuery {
            kind: Some(EventKind::BackupRestored),
            ..EventsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(restored.len(), 1, "{restored:?}");
    assert!(
        matches!(
            &restored[0].actor,
            Some(toru_api::Actor::LocalSocket { .. })
        ),
        "{:?}",
        restored[0].actor
    );
    // The database the restore replaced is kept, to undo it by hand.
    assert!(d.config.data_dir.join("before-restore/toru.db").exists());
    assert!(!d.config.data_dir.join("restore").exists());
    d.stop().await;
}

#[tokio::test]
async fn a_bad_backup_is_refused_and_changes_nothing() {
    let dirs = Dirs::new();
    let d = started(&dirs).await;
    let archive = d.local.backup().await.unwrap();
    let good = members(&archive);
    let plugin_backup =
        serde_json::to_vec(&d.local.plugin_backup("hello-rust").await.unwrap()).unwrap();

    let newer_manifest = {
        let mut m: Value = serde_json::from_slice(&good[0].1).unwrap();
        m["format_version"] = json!(2);
        serde_json::to_vec(&m).unwrap()
    };
    let other_instance = {
        let mut m: Value = serde_json::from_slice(&good[0].1).unwrap();
        m["instance_id"] = json!("00000000-0000-4000-8000-000000000000");
        serde_json::to_vec(&m).unwrap()
    };
    let mut damaged_db = good[1].1.clone();
    damaged_db.truncate(damaged_db.len() / 2);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            archive[..archive.len() / 3].to_vec(),
            "truncated",
        ),
        (
            "not a backup",
            b"hello".to_vec(),
            "not a complete tar archive",
        ),
        ("a plugin's backup", plugin_backup, "toructl plugin restore"),
        (
            "a newer format",
            archive_of(&[
                ("toru-backup.json".into(), newer_manifest),
                good[1].clone(),
                good[2].clone(),
            ]),
            "format version is 2",
        ),
        (
            "no database",
            archive_of(&[good[0].clone(), good[2].clone()]),
            "has no toru.db",
        ),
        (
            "a damaged database",
            archive_of(&[
                good[0].clone(),
                ("toru.db".into(), damaged_db),
                good[2].clone(),
            ]),
            "damaged",
        ),
        (
            "a manifest of another installation",
            archive_of(&[
                ("toru-backup.json".into(), other_instance),
                good[1].clone(),
                good[2].clone(),
            ]),
            "disagree",
        ),
        (
            "an unknown member",
            archive_of(&[
                good[0].clone(),
                good[1].clone(),
                good[2].clone(),
                ("x".into(), vec![]),
            ]),
            "holds",
        ),
    ];
    for (case, body, says) in cases {
        let r = d
            .local
            .request(
                Method::POST,
                "/api/restore",
                &[("content-type", "application/x-tar")],
                Some(body),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(error_code(&r.body), "invalid_backup", "{case}");
        let message = String::from_utf8_lossy(&r.body);
        assert!(message.contains(says), "{case}: {message}");
        assert!(!d.daemon.backups.restart_requested(), "{case}");
        assert!(!d.config.data_dir.join("restore").exists(), "{case}");
        assert!(
            !d.config.data_dir.join("restore.partial").exists(),
            "{case}"
        );
    }
    // A database from a newer Toru: its schema is past this daemon's.
    let newer_db = dirs.root.path().join("newer.db");
    std::fs::write(&newer_db, &good[1].1).unwrap();
    rusqlite_set_user_version(&newer_db, toru_daemon::store::SCHEMA_VERSION + 1);
    let mut m: Value = serde_json::from_slice(&good[0].1).unwrap();
    m["schema_version"] = json!(toru_daemon::store::SCHEMA_VERSION + 1);
    let body = archive_of(&[
        ("toru-backup.json".into(), serde_json::to_vec(&m).unwrap()),
        ("toru.db".into(), std::fs::read(&newer_db).unwrap()),
        good[2].clone(),
    ]);
    let err = d.local.restore(body).await.unwrap_err().to_string();
    assert!(err.contains("newer Toru"), "{err}");
    assert!(!d.daemon.backups.restart_requested());
    // Nothing changed.
    assert_eq!(value(&d.local, "counter").await, "1");
    d.stop().await;
}

/// Sets a database file's schema version, as a newer Toru's migrations would have.
fn rusqlite_set_user_version(path: &std::path::Path, version: u32) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
}

#[tokio::test]
async fn a_plugin_backup_replaces_its_data_and_reinitialises_it() {
    let dirs = Dirs::new();
    let d = started(&dirs).await;
    set_key(&d.local, "greeting", "hi").await;
    let greeting = |value: &str| json!({"greeting": value});
    let _: Value = d
        .local
        .send_json(
            Method::PUT,
            "/api/plugins/hello-rust/config",
            &greeting("Ahoy"),
        )
        .await
        .unwrap();
    let backup: PluginBackup = d.local.plugin_backup("hello-rust").await.unwrap();
    assert_eq!(backup.settings.get("greeting"), Some(&json!("Ahoy")));
    assert_eq!(backup.format, BackupFormat::Plugin);
    assert_eq!(backup.plugin, "hello-rust");
    assert_eq!(backup.kv.len(), 2);

    set_key(&d.local, "counter", "9").await;
    set_key(&d.local, "later", "x").await;
    let _: Value = d
        .local
        .send_json(
            Method::PUT,
            "/api/plugins/hello-rust/config",
            &greeting("Hej"),
        )
        .await
        .unwrap();
    let before: Value = d.local.get("/api/plugins/hello-rust").await.unwrap();
    let pid = before["status"]["pid"].as_u64().unwrap();

    let restored = d
        .local
        .plugin_restore("hello-rust", serde_json::to_vec(&backup).unwrap())
        .await
        .unwrap();
    assert_eq!(restored.kv_entries, 2);
    assert!(restored.reinitialised);
    wait_restarted(&d.local, "hello-rust", pid).await;
    assert_eq!(keys(&d.local).await, ["counter", "greeting"]);
    assert_eq!(value(&d.local, "counter").await, "1");
    let settings = d.local.settings("hello-rust").await.unwrap();
    let shown = serde_json::to_value(&settings).unwrap().to_string();
    assert!(shown.contains("Ahoy") && !shown.contains("Hej"), "{shown}");

    // Another plugin's backup, a whole backup, a newer format: refused, nothing changed.
    let mut other = backup.clone();
    other.plugin = "hello-python".into();
    let whole = d.local.backup().await.unwrap().to_vec();
    let mut newer = serde_json::to_value(&backup).unwrap();
    newer["format_version"] = json!(2);
    let mut bad_setting = backup.clone();
    bad_setting.settings.insert("greeting".into(), json!(42));
    let mut unknown_setting = backup.clone();
    unknown_setting
        .settings
        .insert("colour".into(), json!("red"));
    for (case, body, says) in [
        (
            "another plugin's",
            serde_json::to_vec(&other).unwrap(),
            "not of",
        ),
        ("a whole backup", whole, "not a Toru backup"),
        (
            "a newer format",
            serde_json::to_vec(&newer).unwrap(),
            "format version is 2",
        ),
        (
            "a setting of the wrong type",
            serde_json::to_vec(&bad_setting).unwrap(),
            "greeting",
        ),
        (
            "an unknown setting",
            serde_json::to_vec(&unknown_setting).unwrap(),
            "colour",
        ),
        (
            "a truncated one",
            serde_json::to_vec(&backup).unwrap()[..40].to_vec(),
            "not a Toru backup",
        ),
    ] {
        set_key(&d.local, "counter", "5").await;
        let err = d
            .local
            .plugin_restore("hello-rust", body)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{case}: {err}");
        assert_eq!(value(&d.local, "counter").await, "5", "{case}");
    }
    let events = d
        .local
        .events(&EventsQuery {
            kind: Some(EventKind::PluginDataRestored),
            ..EventsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    d.stop().await;
}
