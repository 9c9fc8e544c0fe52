//! Plugin settings end to end against a real daemon (`Daemon::start`): declared by a Python
//! fixture plugin, refused or stored through `/api/plugins/{id}/config`, sent in a new
//! `lifecycle.init`, secrets never returned, and a schema outside the subset refused at
//! discovery.

mod support;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{ApiDaemon, enable, wait_restarted};
use support::fixtures::{install_python_fixture, script};
use support::harness::Dirs;
use toructl::Client;

const ID: &str = "configured";
/// The secret the tests set; it must never come back from the API.
const SECRET: &str = "s3cret-token-value";

async fn put_config(client: &Client, body: Value) -> (StatusCode, Value) {
    let r = client
        .raw(
            Method::PUT,
            &format!("/api/plugins/{ID}/config"),
            Some(body.to_string().into_bytes()),
        )
        .await
        .unwrap();
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// What the plugin got in its latest `lifecycle.init`.
async fn received_config(client: &Client) -> Value {
    client
        .get(&format!("/api/plugins/{ID}/route/config"))
        .await
        .unwrap()
}

fn field<'a>(settings: &'a Value, name: &str) -> &'a Value {
    settings["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no setting {name}: {settings:#}"))
}

async fn settings_events(client: &Client) -> Vec<Value> {
    let events: Vec<Value> = client
        .get(&format!("/api/events?plugin={ID}&kind=settings_changed"))
        .await
        .unwrap();
    events
}

#[tokio::test]
async fn settings_reach_the_plugin_in_a_new_init_and_secrets_never_come_back() {
    let dirs = Dirs::new();
    install_python_fixture(&dirs.plugins(), "settings_plugin.py", ID);
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;

    // A required setting without a value or default: enabling is refused, naming it.
    let r = s
        .raw(Method::POST, &format!("/api/plugins/{ID}/enable"), None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["code"], "invalid_settings");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("token: is required"),
        "{body}"
    );

    // The schema and the values: nothing set yet, defaults shown.
    let shown: Value = s.get(&format!("/api/plugins/{ID}/config")).await.unwrap();
    let port = field(&shown, "port");
    assert_eq!(
        (port["type"].as_str(), port["maximum"].as_f64()),
        (Some("integer"), Some(65535.0))
    );
    assert_eq!(port["default"], 8080);
    assert_eq!(
        field(&shown, "unit")["options"],
        json!(["celsius", "fahrenheit"])
    );
    assert_eq!(field(&shown, "token")["value"], json!({"state": "unset"}));
    assert_eq!(field(&shown, "token")["required"], true);

    let (status, answer) = put_config(&s, json!({"token": SECRET})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        field(&answer, "token")["value"],
        json!({"state": "secret_set"})
    );
    let p = enable(&s, ID).await;
    assert_eq!(
        received_config(&s).await,
        json!({"greeting": "Hello", "port": 8080, "unit": "celsius", "token": SECRET}),
        "defaults filled in, the secret passed to the plugin"
    );

    // A change re-initialises the running plugin with the new values.
    let old_pid = p["status"]["pid"].as_u64().unwrap();
    let (status, answer) = put_config(
        &s,
        json!({"greeting": "Ahoy", "port": 9000, "verbose": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        field(&answer, "greeting")["value"],
        json!({"state": "set", "value": "Ahoy"})
    );
    wait_restarted(&s, ID, old_pid).await;
    assert_eq!(
        received_config(&s).await,
        json!({"greeting": "Ahoy", "port": 9000, "verbose": true, "unit": "celsius", "token": SECRET})
    );

    // null unsets: the default applies again.
    let p: Value = s.get(&format!("/api/plugins/{ID}")).await.unwrap();
    let old_pid = p["status"]["pid"].as_u64().unwrap();
    let (status, _) = put_config(&s, json!({"port": null})).await;
    assert_eq!(status, StatusCode::OK);
    wait_restarted(&s, ID, old_pid).await;
    assert_eq!(received_config(&s).await["port"], 8080);

    // The secret is never returned, nor recorded; the events name the changed keys only.
    let shown = s
        .raw(Method::GET, &format!("/api/plugins/{ID}/config"), None)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&shown.body).contains(SECRET));
    let events = settings_events(&s).await;
    let details: Vec<&str> = events
        .iter()
        .map(|e| e["details"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "settings changed: port",
            "settings changed: greeting, port, verbose",
            "settings changed: token",
        ]
    );
    assert!(
        events.iter().all(|e| e["actor"]["name"] == "admin"),
        "{events:#?}"
    );
    let all = s
        .raw(Method::GET, "/api/events?limit=500", None)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&all.body).contains(SECRET));
    d.stop().await;
}

#[tokio::test]
async fn a_refused_change_is_a_400_naming_the_setting_and_changes_nothing() {
    let dirs = Dirs::new();
    install_python_fixture(&dirs.plugins(), "settings_plugin.py", ID);
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;
    let (status, _) = put_config(&s, json!({"token": SECRET})).await;
    assert_eq!(status, StatusCode::OK);
    let p = enable(&s, ID).await;
    let before: Value = s.get(&format!("/api/plugins/{ID}/config")).await.unwrap();

    let cases = [
        (
            json!({"port": 70000}),
            "port: 70000 is greater than the maximum of 65535",
        ),
        (
            json!({"port": "80"}),
            "port: \"80\" is not of type \"integer\"",
        ),
        (
            json!({"greeting": 5}),
            "greeting: 5 is not of type \"string\"",
        ),
        (
            json!({"unit": "kelvin"}),
            "unit: \"kelvin\" is not one of \"celsius\" or \"fahrenheit\"",
        ),
        (json!({"nope": 1}), "nope: no such setting"),
        (
            json!({"token": null}),
            "token: is required and has no value",
        ),
        // All or nothing: the valid greeting is not stored either.
        (
            json!({"greeting": "Hi", "port": 0}),
            "port: 0 is less than the minimum of 1",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = put_config(&s, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_settings");
        assert_eq!(answer["error"]["message"], message, "{body}");
    }
    // A secret's value is not repeated in its error.
    let (status, answer) = put_config(&s, json!({"token": "short"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("token: ") && !message.contains("short\""),
        "{message}"
    );

    let after: Value = s.get(&format!("/api/plugins/{ID}/config")).await.unwrap();
    assert_eq!(after, before, "nothing stored");
    assert_eq!(
        settings_events(&s).await.len(),
        1,
        "only the first, valid change"
    );
    let now: Value = s.get(&format!("/api/plugins/{ID}")).await.unwrap();
    assert_eq!(now["status"]["pid"], p["status"]["pid"], "not restarted");

    // A viewer reads the settings (secrets hidden anyway) but cannot change them.
    d.create_user("vera", "viewer").await;
    let v = d.login_as("vera", support::api::PASSWORD).await;
    let seen: Value = v.get(&format!("/api/plugins/{ID}/config")).await.unwrap();
    assert_eq!(seen, before);
    let r = v
        .raw(
            Method::PUT,
            &format!("/api/plugins/{ID}/config"),
            Some(b"{}".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    d.stop().await;
}

#[tokio::test]
async fn a_schema_outside_the_subset_is_a_discovery_failure_naming_the_property() {
    let dirs = Dirs::new();
    let bad = |id: &str, settings: &str| {
        format!(
            r#"[ "$1" = --metadata ] && echo '{{"id":"{id}","name":"{id}","version":"1","route":"/{id}","protocol_version":1,"settings":{settings}}}'"#
        )
    };
    script(
        &dirs.plugins(),
        "arrays",
        &bad(
            "arrays",
            r#"{"type":"object","properties":{"tags":{"type":"array"}}}"#,
        ),
    );
    script(
        &dirs.plugins(),
        "badregex",
        &bad(
            "badregex",
            r#"{"type":"object","properties":{"name":{"type":"string","pattern":"(unclosed"}}}"#,
        ),
    );
    let d = ApiDaemon::start(&dirs).await;
    d.create_admin().await;
    let s = d.login().await;
    let failures: Vec<Value> = s.get("/api/discovery-failures").await.unwrap();
    let reason = |stem: &str| {
        failures
            .iter()
            .find(|f| {
                f["binary"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("{stem}.binary"))
            })
            .map(|f| f["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{stem} not refused: {failures:#?}"))
    };
    assert!(
        reason("arrays").contains(r#"settings property "tags": type must be"#),
        "{}",
        reason("arrays")
    );
    assert!(
        reason("badregex").contains("settings: not a valid schema"),
        "{}",
        reason("badregex")
    );
    let plugins: Vec<Value> = s.get("/api/plugins").await.unwrap();
    assert!(plugins.is_empty(), "{plugins:#?}");
    d.stop().await;
}
