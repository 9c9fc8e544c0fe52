//! [`PluginId`]: a plugin id that is known to be valid.
//!
//! Ids become systemd unit names, file names and URL segments, so they are checked once, where
//! the text enters (a plugin's `--metadata`, a unit name read back from systemd, a pid file
//! name), and carried as a [`PluginId`] from then on. Code that holds one never re-validates.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::protocol::MetadataError;

/// Checks a plugin id. Ids become unit names, file names and URL segments, so only a small,
/// safe alphabet is allowed: no dots, slashes or upper case, at most 63 characters.
///
/// This is the one check behind every way of building a [`PluginId`].
pub fn validate_plugin_id(id: &str) -> Result<(), MetadataError> {
    let bytes = id.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(MetadataError::InvalidId(id.to_owned()))
    }
}

/// A plugin id matching `^[a-z0-9][a-z0-9-]{0,62}$`, so safe in a unit name, a path or a URL.
///
/// The only constructors ([`PluginId::new`], [`TryFrom`], [`FromStr`] and [`Deserialize`]) go
/// through [`validate_plugin_id`]; holding one is the proof that the check ran. On the wire it is
/// a plain JSON string. It borrows as a `str`, so a map keyed by `PluginId` can be looked up
/// with a `&str` taken from a request path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginId(String);

impl PluginId {
    /// Validates `id` and wraps it.
    pub fn new(id: impl Into<String>) -> Result<Self, MetadataError> {
        let id = id.into();
        validate_plugin_id(&id)?;
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned `String`, for wire types that carry it as text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PluginId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for PluginId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<PluginId> for String {
    fn from(id: PluginId) -> Self {
        id.0
    }
}

impl TryFrom<String> for PluginId {
    type Error = MetadataError;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl TryFrom<&str> for PluginId {
    type Error = MetadataError;

    fn try_from(id: &str) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl FromStr for PluginId {
    type Err = MetadataError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::new(id)
    }
}

impl PartialEq<str> for PluginId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PluginId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for PluginId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PluginId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        Self::new(id).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn valid_ids_are_accepted_and_kept_verbatim() {
        for id in ["a", "0", "hello-rust", "a-", &"x".repeat(63)] {
            let parsed = PluginId::new(id).expect("valid id");
            assert_eq!(parsed.as_str(), id);
            assert_eq!(parsed.to_string(), id);
            assert_eq!(id.parse::<PluginId>().as_ref(), Ok(&parsed));
            assert_eq!(PluginId::try_from(id.to_owned()).as_ref(), Ok(&parsed));
        }
    }

    #[test]
    fn invalid_ids_are_refused_by_every_constructor() {
        let too_long = "x".repeat(64);
        for id in [
            "",
            "-a",
            "Hello",
            "a.b",
            "a/b",
            "../x",
            "a b",
            "é",
            too_long.as_str(),
        ] {
            let expected = Err(MetadataError::InvalidId(id.to_owned()));
            assert_eq!(PluginId::new(id), expected);
            assert_eq!(id.parse::<PluginId>(), expected);
            assert_eq!(PluginId::try_from(id), expected);
            assert_eq!(PluginId::try_from(id.to_owned()), expected);
        }
    }

    #[test]
    fn serde_is_a_plain_string_and_deserialize_validates() {
        let id = PluginId::new("hello-rust").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""hello-rust""#);
        assert_eq!(
            serde_json::from_str::<PluginId>(r#""hello-rust""#).unwrap(),
            id
        );
        for bad in [r#""../etc""#, r#""""#, r#""Upper""#, "42", "null"] {
            assert!(
                serde_json::from_str::<PluginId>(bad).is_err(),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn maps_keyed_by_id_are_looked_up_with_a_str() {
        let mut map = HashMap::new();
        map.insert(PluginId::new("hello").unwrap(), 1);
        assert_eq!(map.get("hello"), Some(&1));
        assert_eq!(map.get("missing"), None);
    }
}
