//! `--metadata` output as discovery reads it: `toru_daemon::plugins::discovery::parse_metadata`
//! (JSON into `PluginMetadata`, then `PluginMetadata::validate`), and `validate_plugin_id` on
//! its own.
//!
//! Input: what a plugin printed, arbitrary bytes.
//!
//! Properties checked, beyond "never panics":
//! - `validate_plugin_id` accepts exactly the ids an independent reference of
//!   `^[a-z0-9][a-z0-9-]{0,62}$` accepts — tried on the whole input as a string, and on the
//!   `id` member of any JSON object the input is; `PluginId::new` accepts exactly the same;
//! - an accepted id is safe where ids end up: no `/`, `.`, `..`, NUL, whitespace, upper case or
//!   non-ASCII; as a path it is one normal component; its unit name is a valid systemd unit name;
//! - accepted metadata has an absolute, simple route, protocol version 1, a name and a version;
//! - accepted metadata, serialised again, is accepted again and unchanged (round trip).

#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use toru_daemon::plugins::backend::unit_name;
use toru_daemon::plugins::discovery::parse_metadata;
use toru_plugin_api::{PROTOCOL_VERSION, PluginId, validate_plugin_id};

fuzz_target!(|output: &[u8]| {
    if let Ok(text) = std::str::from_utf8(output) {
        check_id(text);
    }
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(output)
        && let Some(serde_json::Value::String(id)) = object.get("id")
    {
        check_id(id);
    }

    let Ok((id, meta)) = parse_metadata(output) else {
        return;
    };
    assert_eq!(id.as_str(), meta.id, "the PluginId is the metadata's id");
    check_id(&meta.id);
    assert!(
        validate_plugin_id(&meta.id).is_ok(),
        "metadata accepted with id {:?}",
        meta.id
    );
    assert!(meta.route.starts_with('/'), "route {:?}", meta.route);
    assert!(
        meta.route.len() <= 128,
        "route of {} bytes",
        meta.route.len()
    );
    assert!(
        !meta.route.contains("//") && !meta.route.contains("..") && !meta.route.contains('\\'),
        "route {:?}",
        meta.route
    );
    assert_eq!(meta.protocol_version, PROTOCOL_VERSION);
    assert!(!meta.name.trim().is_empty() && !meta.version.trim().is_empty());

    let again = serde_json::to_vec(&meta).expect("metadata serialises");
    assert_eq!(
        parse_metadata(&again),
        Ok((id, meta)),
        "round trip changed the metadata"
    );
});

/// `validate_plugin_id` agrees with the reference, and what it accepts is safe to use.
fn check_id(id: &str) {
    let accepted = validate_plugin_id(id).is_ok();
    assert_eq!(
        accepted,
        reference(id),
        "validate_plugin_id({id:?}) disagrees with the regex"
    );
    let Ok(plugin_id) = PluginId::new(id) else {
        assert!(
            !accepted,
            "PluginId::new({id:?}) refused what validate_plugin_id accepts"
        );
        return;
    };
    assert!(
        accepted,
        "PluginId::new({id:?}) accepted what validate_plugin_id refuses"
    );
    for bad in ["/", ".", "..", "\0", "\\", " ", "\n", "%"] {
        assert!(!id.contains(bad), "accepted id {id:?} contains {bad:?}");
    }
    assert!(id.is_ascii() && !id.bytes().any(|b| b.is_ascii_uppercase()));
    let mut components = Path::new(id).components();
    assert_eq!(components.next(), Some(Component::Normal(id.as_ref())));
    assert_eq!(
        components.next(),
        None,
        "id {id:?} is more than one path component"
    );
    let unit = unit_name(&plugin_id);
    // systemd's unit_name_is_valid: at most 255 bytes of [A-Za-z0-9:_.\-] and one suffix.
    assert!(unit.len() <= 255, "unit name {unit:?} is too long");
    assert!(
        unit.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.-\\".contains(&b)),
        "unit name {unit:?}"
    );
    assert_eq!(unit.matches('.').count(), 1, "unit name {unit:?}");
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`, written independently of the code under test (hence ranges and
/// chars where the code uses `is_ascii_*` on bytes).
#[allow(clippy::manual_is_ascii_check)]
fn reference(id: &str) -> bool {
    let mut chars = id.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let lower_or_digit = |c: char| c.is_ascii_digit() || ('a'..='z').contains(&c);
    lower_or_digit(first)
        && id.chars().count() <= 63
        && chars.all(|c| lower_or_digit(c) || c == '-')
}
