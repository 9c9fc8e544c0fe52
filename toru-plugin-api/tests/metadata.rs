//! Metadata validation: ids and routes end up in unit names, paths and URLs, so path tricks and
//! odd characters must be refused.

use toru_plugin_api::{
    MetadataError, PROTOCOL_VERSION, PluginId, PluginMetadata, validate_plugin_id,
};

fn meta(id: &str, route: &str) -> PluginMetadata {
    PluginMetadata {
        id: id.into(),
        name: "N".into(),
        version: "1".into(),
        author: String::new(),
        icon: String::new(),
        route: route.into(),
        protocol_version: PROTOCOL_VERSION,
        license_required: false,
        description: String::new(),
        permissions: Default::default(),
        settings: None,
    }
}

#[test]
fn plugin_ids() {
    let long_ok = "a".repeat(63);
    let too_long = "a".repeat(64);
    let good = ["a", "hello-rust", "0x", "a-", long_ok.as_str()];
    for id in good {
        assert_eq!(validate_plugin_id(id), Ok(()), "{id:?} should be accepted");
    }
    let bad = [
        "",                // empty
        "-a",              // leading dash (would read as an option)
        "Hello",           // upper case
        "a.b",             // dot: unit suffix confusion
        "../etc",          // path traversal
        "a/b",             // path separator
        "a b",             // space
        "a_b",             // underscore is escaped in unit paths
        "é",               // non-ASCII
        "a\n",             // control character
        too_long.as_str(), // over 63
    ];
    for id in bad {
        assert!(
            matches!(validate_plugin_id(id), Err(MetadataError::InvalidId(_))),
            "{id:?} should be refused"
        );
    }
}

#[test]
fn routes_and_fields() {
    // Valid metadata hands back its id as the checked type.
    let x = PluginId::new("x").unwrap();
    assert_eq!(meta("x", "/x").validate(), Ok(x.clone()));
    assert_eq!(meta("x", "/tools/x_y-1").validate(), Ok(x));
    for route in ["x", "", "/a//b", "/A", "/a?b", "/a/../b", "/a b", "/%2e"] {
        assert!(
            matches!(
                meta("x", route).validate(),
                Err(MetadataError::InvalidRoute(_))
            ),
            "{route:?} should be refused"
        );
    }
    let mut wrong_version = meta("x", "/x");
    wrong_version.protocol_version = PROTOCOL_VERSION + 1;
    assert!(matches!(
        wrong_version.validate(),
        Err(MetadataError::UnsupportedVersion { .. })
    ));
    let mut no_name = meta("x", "/x");
    no_name.name = " ".into();
    assert_eq!(no_name.validate(), Err(MetadataError::Empty("name")));
}

#[test]
fn optional_fields_may_be_missing_and_unknown_ones_are_ignored() {
    let json =
        r#"{"id":"x","name":"X","version":"1","route":"/x","protocol_version":1,"future":true}"#;
    let meta: PluginMetadata = serde_json::from_str(json).unwrap();
    assert_eq!(meta.author, "");
    meta.validate().unwrap();
}

#[test]
fn permissions_are_optional_in_json_and_validated_with_the_metadata() {
    // Case: metadata from before `permissions` existed still parses, as the full sandbox.
    let old: PluginMetadata = serde_json::from_str(
        r#"{"id":"x","name":"X","version":"1","route":"/x","protocol_version":1}"#,
    )
    .unwrap();
    assert!(old.permissions.is_empty());
    // Case: a declared permission parses and survives a round trip.
    let json = r#"{"id":"x","name":"X","version":"1","route":"/x","protocol_version":1,
        "permissions":{"network":true,"writable_paths":["/srv/x"],"devices":["/dev/ttyUSB0"]}}"#;
    let m: PluginMetadata = serde_json::from_str(json).unwrap();
    assert_eq!(m.validate().map(String::from), Ok("x".to_owned()));
    assert!(m.permissions.network);
    let again: PluginMetadata = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(again, m);
    // Case: a bad path makes the whole metadata invalid, so discovery skips the plugin.
    let mut bad = meta("x", "/x");
    bad.permissions.writable_paths = vec!["/srv/../etc".into()];
    assert!(matches!(bad.validate(), Err(MetadataError::Permissions(_))));
}
