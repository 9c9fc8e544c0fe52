//! The examples in `docs/protocol.md` are the protocol's golden frames: every valid one must
//! parse and survive a round trip unchanged, every invalid one must be refused with the right
//! error. This keeps the normative document and the code from drifting apart.

use toru_plugin_api::{Body, DecodeErrorKind, Message, PluginMetadata};

const DOC: &str = include_str!("../../docs/protocol.md");

/// The lines of every fenced block whose info string is exactly `tag`.
fn blocks(tag: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in DOC.lines() {
        if let Some(info) = line.strip_prefix("```") {
            inside = !inside && info.trim() == tag;
            continue;
        }
        if inside && !line.trim().is_empty() {
            out.push(line);
        }
    }
    out
}

#[test]
fn every_valid_example_parses_and_round_trips() {
    let frames: Vec<_> = blocks("ndjson")
        .into_iter()
        .chain(blocks("json frame"))
        .collect();
    assert!(
        frames.len() >= 15,
        "expected the doc's examples, found {}",
        frames.len()
    );
    let mut seen_types = std::collections::BTreeSet::new();
    for line in frames {
        let message = Message::decode(line).unwrap_or_else(|e| panic!("{line}\n  -> {e}"));
        seen_types.insert(message.body.type_name());
        let encoded = message.to_line();
        let reparsed = Message::decode(std::str::from_utf8(&encoded).unwrap()).unwrap();
        assert_eq!(reparsed, message, "round trip changed {line}");
        // The doc writes the canonical encoding, so re-encoding gives the same bytes.
        let as_value = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(
            as_value(std::str::from_utf8(&encoded).unwrap()),
            as_value(line),
            "re-encoding differs from the doc for {line}"
        );
    }
    let all = [
        "lifecycle.init",
        "lifecycle.ready",
        "lifecycle.shutdown",
        "http.request",
        "http.response",
        "kv.request",
        "kv.response",
        "ping",
        "pong",
        "error",
    ];
    for t in all {
        assert!(
            seen_types.contains(t),
            "docs/protocol.md has no example of {t}"
        );
    }
}

#[test]
fn the_http_example_bodies_decode_to_what_the_doc_says() {
    let request = blocks("ndjson")
        .into_iter()
        .find(|l| l.contains("\"http.request\""))
        .unwrap();
    let Body::HttpRequest(req) = Message::decode(request).unwrap().body else {
        panic!("not an http.request");
    };
    assert_eq!(req.body, br#"{"by":1}"#);
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    assert_eq!(req.query, "step=1");
    assert_eq!(req.user.as_deref(), Some("admin"));
}

#[test]
fn every_invalid_example_is_refused_with_its_kind() {
    let expected: &[fn(&DecodeErrorKind) -> bool] = &[
        // not JSON at all
        |k| matches!(k, DecodeErrorKind::MalformedFrame(_)),
        // JSON, but not an object
        |k| matches!(k, DecodeErrorKind::MalformedFrame(_)),
        // envelope without its timestamp
        |k| matches!(k, DecodeErrorKind::MalformedFrame(_)),
        // a type nobody knows
        |k| matches!(k, DecodeErrorKind::UnknownType(t) if t == "metrics.request"),
        // http.request without its method
        |k| matches!(k, DecodeErrorKind::BadPayload { reason, .. } if reason.contains("method")),
        // a body that is not base64
        |k| matches!(k, DecodeErrorKind::BadPayload { reason, .. } if reason.contains("base64")),
        // a kv op that does not exist
        |k| matches!(k, DecodeErrorKind::BadPayload { type_name, .. } if type_name == "kv.request"),
    ];
    let lines = blocks("ndjson-invalid");
    assert_eq!(
        lines.len(),
        expected.len(),
        "one expectation per invalid example"
    );
    for (line, check) in lines.iter().zip(expected) {
        let err = Message::decode(line).expect_err(line);
        assert!(check(&err.kind), "{line}\n  -> unexpected error {err:?}");
        // Once the envelope parsed, the error knows which request to answer.
        if !matches!(err.kind, DecodeErrorKind::MalformedFrame(_)) {
            assert!(err.request_id.is_some(), "{line} lost its request_id");
        }
    }
}

#[test]
fn the_metadata_example_is_valid() {
    let line = blocks("json metadata")[0];
    let meta: PluginMetadata = serde_json::from_str(line).unwrap();
    meta.validate().unwrap();
    assert_eq!(meta.id, "hello-rust");
}

#[test]
fn the_permissions_example_is_valid_and_asks_for_what_it_says() {
    let line = blocks("json metadata")[1];
    let meta: PluginMetadata = serde_json::from_str(line).unwrap();
    meta.validate().unwrap();
    assert!(meta.permissions.network);
    assert_eq!(meta.permissions.writable_paths, ["/var/cache/weather"]);
    assert!(meta.permissions.devices.is_empty());
}

#[test]
fn the_jit_example_is_valid_and_asks_only_for_jit() {
    let line = blocks("json metadata")[2];
    let meta: PluginMetadata = serde_json::from_str(line).unwrap();
    meta.validate().unwrap();
    assert!(meta.permissions.jit);
    assert!(!meta.permissions.network && meta.permissions.writable_paths.is_empty());
}

#[test]
fn the_settings_example_is_valid_and_declares_what_it_says() {
    let line = blocks("json metadata")[3];
    let meta: PluginMetadata = serde_json::from_str(line).unwrap();
    meta.validate().unwrap();
    let settings = meta.settings.expect("the example declares settings");
    let names: Vec<_> = settings
        .settings()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["alerts", "api_token", "city", "days", "units"]);
    let token = settings.get("api_token").unwrap();
    assert!(token.secret && token.required && token.default.is_none());
    assert_eq!(settings.get("days").unwrap().maximum, Some(14.0));
}
