//! Users and roles through the HTTP API of a real daemon: what a viewer may do, disabling and
//! deleting (sessions end at once), and the last administrator.

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{ApiDaemon, PASSWORD, error_code};
use support::fixtures::{hello_rust, install};
use support::harness::Dirs;
use toructl::Client;

/// A daemon with hello-rust running, its `counter` key set, and `admin`.
async fn started() -> (Dirs, ApiDaemon) {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    d.enable(&d.local, "hello-rust").await;
    let _: Value = d
        .local
        .send_json(
            Method::PUT,
            "/api/plugins/hello-rust/kv/counter",
            &json!({"value": "1"}),
        )
        .await
        .unwrap();
    (dirs, d)
}

/// `path` with every `{param}` replaced by something that exists.
fn concrete(path: &str) -> String {
    path.replace("{id}", "hello-rust")
        .replace("{key}", "counter")
        .replace("{path}", "greeting")
        .replace("{name}", "admin")
}

/// The status and error code (empty on success) of `method path`, with a `{}` body unless
/// it is a GET.
async fn ask(client: &Client, method: Method, path: &str) -> (StatusCode, String) {
    let body = (method != Method::GET).then(|| b"{}".to_vec());
    let r = client.raw(method, path, body).await.unwrap();
    let code = if r.status.is_success() {
        String::new()
    } else {
        error_code(&r.body)
    };
    (r.status, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_everything_and_changes_nothing() {
    let (_dirs, d) = started().await;
    d.create_user("vera", "viewer").await;
    let vera = d.login_as("vera", PASSWORD).await;
    let me: toru_api::Me = vera.get("/api/auth/me").await.unwrap();
    assert_eq!(me.role, toru_api::Role::Viewer);

    for (method, path) in toru_daemon::api::documented_routes() {
        let url = concrete(path);
        if path.starts_with("/api/auth/") {
            continue; // the caller's own session and password: below
        }
        // Backups hold licence keys and password hashes: reads for administrators only.
        let secret_read = path.ends_with("/backup");
        if method == Method::GET && !secret_read {
            // The follows (a plugin's log, the events) are streams that do not end; their rows
            // are reads like every GET.
            if path.ends_with("/follow") {
                continue;
            }
            let (status, code) = ask(&vera, method.clone(), &url).await;
            assert_eq!(status, StatusCode::OK, "GET {url}: {code}");
        } else {
            let (status, code) = ask(&vera, method.clone(), &url).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::FORBIDDEN, "admin_required"),
                "{method} {url}"
            );
        }
    }
    // Nothing changed: the plugin runs, the key is there, the users are the same two.
    let plugin: toru_api::PluginDetails = d.local.get("/api/plugins/hello-rust").await.unwrap();
    assert_eq!(plugin.plugin.status.state, toru_api::PluginState::Running);
    let users: Vec<toru_api::User> = d.local.get("/api/users").await.unwrap();
    assert_eq!(users.len(), 2);
    let r = vera
        .raw(Method::GET, "/api/plugins/hello-rust/route/greeting", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "a viewer reads a plugin's routes");

    // A viewer changes their own password, given the current one.
    let wrong = json!({"current_password": "nope nope", "password": "a new password"});
    let r = vera
        .call(Method::PUT, "/api/auth/password", Some(&wrong))
        .await
        .unwrap_err();
    assert!(r.to_string().contains("wrong user name or password"), "{r}");
    let other = d.login_as("vera", PASSWORD).await;
    let change = json!({"current_password": PASSWORD, "password": "a new password"});
    vera.call(Method::PUT, "/api/auth/password", Some(&change))
        .await
        .unwrap();
    let (status, _) = ask(&vera, Method::GET, "/api/status").await;
    assert_eq!(status, StatusCode::OK, "the session that asked stays");
    let (status, _) = ask(&other, Method::GET, "/api/status").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the others end");
    let vera = d.login_as("vera", "a new password").await;

    // Made an administrator, the same session may change things at once.
    let _: Value = d
        .local
        .send_json(
            Method::PUT,
            "/api/users/vera/role",
            &json!({"role": "admin"}),
        )
        .await
        .unwrap();
    let (status, code) = ask(&vera, Method::POST, "/api/rescan").await;
    assert_eq!(status, StatusCode::OK, "{code}");

    // The audit trail has each change with its actor, and none of the refused attempts.
    let by_vera: Vec<toru_api::Event> = d.local.get("/api/events?actor=vera").await.unwrap();
    let kinds: Vec<_> = by_vera.iter().map(|e| e.kind).collect();
    use toru_api::EventKind::{PasswordChanged, Rescanned, UserCreated, UserRoleChanged};
    assert_eq!(kinds, [Rescanned, PasswordChanged], "{by_vera:#?}");
    assert_eq!(by_vera[1].user.as_deref(), Some("vera"));
    assert!(
        matches!(&by_vera[1].actor, Some(toru_api::Actor::Password { name, address: Some(a) })
            if name == "vera" && a == "127.0.0.1"),
        "{by_vera:#?}"
    );
    let about_vera: Vec<toru_api::Event> = d.local.get("/api/events?limit=1000").await.unwrap();
    let about_vera: Vec<_> = about_vera
        .iter()
        .filter(|e| e.user.as_deref() == Some("vera"))
        .map(|e| (e.kind, e.details.as_str()))
        .collect();
    assert_eq!(
        about_vera,
        [
            (UserRoleChanged, "role admin"),
            (PasswordChanged, "their own; their other sessions ended"),
            (UserCreated, "role viewer"),
        ]
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_or_deleting_a_user_ends_their_session_at_once() {
    let (_dirs, d) = started().await;
    let admin = d.login().await;
    d.create_user("bob", "admin").await;
    let bob = d.login_as("bob", PASSWORD).await;
    // Used once, so the session is in the daemon's cache.
    assert_eq!(
        ask(&bob, Method::GET, "/api/status").await.0,
        StatusCode::OK
    );

    let (status, code) = ask(&admin, Method::POST, "/api/users/bob/disable").await;
    assert_eq!(status, StatusCode::OK, "{code}");
    assert_eq!(
        ask(&bob, Method::GET, "/api/status").await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
    );
    // A disabled user's right password says so; a wrong one says no more than for anyone.
    let login = |password: &str| json!({"username": "bob", "password": password});
    let r = d
        .anonymous
        .raw(
            Method::POST,
            "/api/auth/login",
            Some(login(PASSWORD).to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, error_code(&r.body)),
        (StatusCode::FORBIDDEN, "account_disabled".to_owned())
    );
    let r = d
        .anonymous
        .raw(
            Method::POST,
            "/api/auth/login",
            Some(login("wrong password").to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, error_code(&r.body)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials".to_owned())
    );
    let users: Vec<toru_api::User> = admin.get("/api/users").await.unwrap();
    assert!(users.iter().any(|u| u.username == "bob" && u.disabled));

    let (status, code) = ask(&admin, Method::POST, "/api/users/bob/enable").await;
    assert_eq!(status, StatusCode::OK, "{code}");
    let bob = d.login_as("bob", PASSWORD).await;
    assert_eq!(
        ask(&bob, Method::GET, "/api/status").await.0,
        StatusCode::OK
    );

    let (status, code) = ask(&admin, Method::DELETE, "/api/users/bob").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{code}");
    assert_eq!(
        ask(&bob, Method::GET, "/api/status").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ask(&admin, Method::DELETE, "/api/users/bob").await.0,
        StatusCode::NOT_FOUND
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_enabled_admin_cannot_be_deleted_disabled_or_demoted() {
    let (_dirs, d) = started().await;
    let admin = d.login().await;
    d.create_user("vera", "viewer").await;
    for (method, path) in [
        (Method::DELETE, "/api/users/admin"),
        (Method::POST, "/api/users/admin/disable"),
    ] {
        assert_eq!(
            ask(&admin, method.clone(), path).await,
            (StatusCode::CONFLICT, "last_admin".to_owned()),
            "{method} {path}"
        );
    }
    let demote = admin
        .call(
            Method::PUT,
            "/api/users/admin/role",
            Some(&json!({"role": "viewer"})),
        )
        .await
        .unwrap_err();
    assert!(
        demote.to_string().contains("last enabled administrator"),
        "{demote}"
    );
    // The local socket is an administrator too, and meets the same rule.
    assert_eq!(
        ask(&d.local, Method::DELETE, "/api/users/admin").await,
        (StatusCode::CONFLICT, "last_admin".to_owned())
    );
    // Nothing changed: admin still logs in and may act.
    assert_eq!(
        ask(&admin, Method::POST, "/api/rescan").await.0,
        StatusCode::OK
    );
    // An administrator may delete themselves once another exists; their session ends.
    let _: Value = admin
        .send_json(
            Method::PUT,
            "/api/users/vera/role",
            &json!({"role": "admin"}),
        )
        .await
        .unwrap();
    assert_eq!(
        ask(&admin, Method::DELETE, "/api/users/admin").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ask(&admin, Method::GET, "/api/status").await.0,
        StatusCode::UNAUTHORIZED
    );
    d.stop().await;
}
