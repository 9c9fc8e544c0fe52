//! What an administrator can configure in a plugin, in its `--metadata` under `settings`.
//!
//! The declaration is a JSON Schema in a deliberately small subset (`docs/protocol.md`,
//! "Settings"): an object whose properties are strings, numbers, integers, booleans or an enum
//! of strings, each with a title, a description, a default, bounds and a `secret` flag. Anything
//! outside the subset is refused here with a reason naming the property, so the daemon, the
//! dashboard's form and `toructl` only ever meet shapes they know. The daemon validates values
//! against the same JSON (the schema is kept as written, [`SettingsSchema::as_json`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// At most this many properties, so a form stays reviewable and metadata small.
pub const MAX_SETTINGS: usize = 64;
/// At most this many bytes in a title, an enum option or a pattern.
pub const MAX_SETTING_LABEL: usize = 256;
/// At most this many bytes in a description.
pub const MAX_SETTING_DESCRIPTION: usize = 1024;
/// At most this many options in an enum.
pub const MAX_SETTING_OPTIONS: usize = 64;

/// The type of one setting, and for an enum its options.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingKind {
    /// A JSON string.
    String,
    /// Any JSON number.
    Number,
    /// A JSON number without a fractional part.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// One of these strings.
    Enum(Vec<String>),
}

impl SettingKind {
    /// The JSON Schema `type` word, as error messages and the API name it.
    pub fn name(&self) -> &'static str {
        match self {
            SettingKind::String => "string",
            SettingKind::Number => "number",
            SettingKind::Integer => "integer",
            SettingKind::Boolean => "boolean",
            SettingKind::Enum(_) => "enum",
        }
    }

    /// Whether `value` has this type (bounds aside): the check a default must pass.
    pub fn accepts(&self, value: &Value) -> bool {
        match self {
            SettingKind::String => value.is_string(),
            SettingKind::Number => value.is_number(),
            SettingKind::Integer => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            SettingKind::Boolean => value.is_boolean(),
            SettingKind::Enum(options) => value
                .as_str()
                .is_some_and(|s| options.iter().any(|o| o == s)),
        }
    }
}

/// One declared setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key in `config` (`^[a-z][a-z0-9_]{0,63}$`, an identifier in every SDK).
    pub name: String,
    /// Its type.
    pub kind: SettingKind,
    /// A label for the form; the name when absent.
    pub title: Option<String>,
    /// One or two sentences for the administrator.
    pub description: Option<String>,
    /// The value the plugin gets while the administrator has set none.
    pub default: Option<Value>,
    /// Listed in `required`: a plugin without a value (set or default) for it is not started.
    pub required: bool,
    /// Write-only: the API, the CLI and the logs never show the value, only whether it is set.
    pub secret: bool,
    /// Inclusive lower bound of a number or integer.
    pub minimum: Option<f64>,
    /// Inclusive upper bound of a number or integer.
    pub maximum: Option<f64>,
    /// Fewest characters of a string.
    pub min_length: Option<u64>,
    /// Most characters of a string.
    pub max_length: Option<u64>,
    /// A regular expression (ECMA-262, unanchored, as JSON Schema has it) a string must match.
    pub pattern: Option<String>,
}

/// A plugin's declared settings: the JSON it wrote, checked to be within the subset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct SettingsSchema {
    /// The schema exactly as declared, for validators that speak JSON Schema.
    json: Value,
    /// The properties, by name (sorted).
    settings: Vec<Setting>,
}

/// Why a `settings` declaration was refused; the text names the property.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("settings{}: {reason}", property.as_ref().map(|p| format!(" property {p:?}")).unwrap_or_default())]
pub struct SettingsSchemaError {
    /// The property at fault, or `None` for the object itself.
    pub property: Option<String>,
    /// What is wrong with it.
    pub reason: String,
}

fn schema_error(property: Option<&str>, reason: impl Into<String>) -> SettingsSchemaError {
    SettingsSchemaError {
        property: property.map(str::to_owned),
        reason: reason.into(),
    }
}

/// Whether `name` can be a setting's key: `^[a-z][a-z0-9_]{0,63}$`.
pub fn is_setting_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

impl SettingsSchema {
    /// The declared settings, sorted by name.
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// The setting called `name`.
    pub fn get(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// The schema as the plugin declared it.
    pub fn as_json(&self) -> &Value {
        &self.json
    }

    /// What the plugin gets in `lifecycle.init`'s `config`: `values` with every unset setting
    /// that has a default filled in. Keys the schema does not declare are dropped.
    pub fn with_defaults(&self, values: &Map<String, Value>) -> Map<String, Value> {
        self.settings
            .iter()
            .filter_map(|s| {
                let value = values.get(&s.name).or(s.default.as_ref())?;
                Some((s.name.clone(), value.clone()))
            })
            .collect()
    }

    /// The first required setting that has neither a value in `config` nor a default.
    pub fn missing_required(&self, config: &Map<String, Value>) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.required && !config.contains_key(&s.name) && s.default.is_none())
            .map(|s| s.name.as_str())
    }
}

/// Two schemas are equal when they were written the same: the settings follow from the JSON.
impl PartialEq for SettingsSchema {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for SettingsSchema {}

impl From<SettingsSchema> for Value {
    fn from(schema: SettingsSchema) -> Value {
        schema.json
    }
}

impl TryFrom<Value> for SettingsSchema {
    type Error = SettingsSchemaError;

    fn try_from(json: Value) -> Result<Self, Self::Error> {
        let object = json
            .as_object()
            .ok_or_else(|| schema_error(None, "must be a JSON object"))?;
        for (key, value) in object {
            match key.as_str() {
                "type" if value == "object" => {}
                "type" => return Err(schema_error(None, "type must be \"object\"")),
                "additionalProperties" if value == false => {}
                "additionalProperties" => {
                    return Err(schema_error(None, "additionalProperties may only be false"));
                }
                "properties" | "required" | "$schema" | "title" | "description" => {}
                other => return Err(schema_error(None, format!("{other:?} is not supported"))),
            }
        }
        if object.get("type").is_none() {
            return Err(schema_error(None, "type must be \"object\""));
        }
        let empty = Map::new();
        let properties = match object.get("properties") {
            None => &empty,
            Some(Value::Object(p)) => p,
            Some(_) => return Err(schema_error(None, "properties must be an object")),
        };
        if properties.len() > MAX_SETTINGS {
            return Err(schema_error(
                None,
                format!("at most {MAX_SETTINGS} properties"),
            ));
        }
        let required = parse_required(object.get("required"), properties)?;
        let settings = properties
            .iter()
            .map(|(name, spec)| parse_setting(name, spec, required.contains(&name.as_str())))
            .collect::<Result<_, _>>()?;
        Ok(SettingsSchema { json, settings })
    }
}

fn parse_required<'a>(
    required: Option<&'a Value>,
    properties: &Map<String, Value>,
) -> Result<Vec<&'a str>, SettingsSchemaError> {
    let Some(required) = required else {
        return Ok(Vec::new());
    };
    let list = required
        .as_array()
        .ok_or_else(|| schema_error(None, "required must be an array of property names"))?;
    list.iter()
        .map(|name| match name.as_str() {
            Some(name) if properties.contains_key(name) => Ok(name),
            Some(name) => Err(schema_error(Some(name), "is required but not declared")),
            None => Err(schema_error(
                None,
                "required must be an array of property names",
            )),
        })
        .collect()
}

fn parse_setting(name: &str, spec: &Value, required: bool) -> Result<Setting, SettingsSchemaError> {
    let err = |reason: String| schema_error(Some(name), reason);
    if !is_setting_name(name) {
        return Err(err("the name must match ^[a-z][a-z0-9_]{0,63}$".into()));
    }
    let spec = spec
        .as_object()
        .ok_or_else(|| err("must be an object".into()))?;
    let text = |key: &str, max: usize| -> Result<Option<String>, SettingsSchemaError> {
        match spec.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
            Some(_) => Err(err(format!(
                "{key} must be a string of at most {max} bytes"
            ))),
        }
    };
    let number = |key: &str| -> Result<Option<f64>, SettingsSchemaError> {
        match spec.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| err(format!("{key} must be a number"))),
        }
    };
    let length = |key: &str| -> Result<Option<u64>, SettingsSchemaError> {
        match spec.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| err(format!("{key} must be a non-negative integer"))),
        }
    };
    let kind = parse_kind(spec).map_err(err)?;
    for key in spec.keys() {
        let allowed = match key.as_str() {
            "type" | "enum" | "title" | "description" | "default" | "secret" => true,
            "minimum" | "maximum" => matches!(kind, SettingKind::Number | SettingKind::Integer),
            "minLength" | "maxLength" | "pattern" => kind == SettingKind::String,
            _ => false,
        };
        if !allowed {
            return Err(err(format!(
                "{key:?} is not supported for a {}",
                kind.name()
            )));
        }
    }
    let secret = match spec.get("secret") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) if kind == SettingKind::String => true,
        Some(Value::Bool(true)) => return Err(err("only a string can be secret".into())),
        Some(_) => return Err(err("secret must be true or false".into())),
    };
    let default = spec.get("default").cloned();
    if let Some(default) = &default
        && !kind.accepts(default)
    {
        return Err(err(format!("the default must be a {}", kind.name())));
    }
    Ok(Setting {
        name: name.to_owned(),
        title: text("title", MAX_SETTING_LABEL)?,
        description: text("description", MAX_SETTING_DESCRIPTION)?,
        pattern: text("pattern", MAX_SETTING_LABEL)?,
        minimum: number("minimum")?,
        maximum: number("maximum")?,
        min_length: length("minLength")?,
        max_length: length("maxLength")?,
        kind,
        default,
        required,
        secret,
    })
}

fn parse_kind(spec: &Map<String, Value>) -> Result<SettingKind, String> {
    if let Some(options) = spec.get("enum") {
        if spec.get("type").is_some_and(|t| t != "string") {
            return Err("an enum must be of type \"string\"".into());
        }
        let options = options
            .as_array()
            .filter(|o| !o.is_empty() && o.len() <= MAX_SETTING_OPTIONS)
            .ok_or_else(|| format!("enum must list 1 to {MAX_SETTING_OPTIONS} strings"))?;
        return options
            .iter()
            .map(|o| match o.as_str() {
                Some(s) if s.len() <= MAX_SETTING_LABEL => Ok(s.to_owned()),
                _ => Err(format!(
                    "enum options must be strings of at most {MAX_SETTING_LABEL} bytes"
                )),
            })
            .collect::<Result<_, _>>()
            .map(SettingKind::Enum);
    }
    match spec.get("type").and_then(Value::as_str) {
        Some("string") => Ok(SettingKind::String),
        Some("number") => Ok(SettingKind::Number),
        Some("integer") => Ok(SettingKind::Integer),
        Some("boolean") => Ok(SettingKind::Boolean),
        _ => Err("type must be string, number, integer or boolean (or an enum of strings)".into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(json: Value) -> Result<SettingsSchema, String> {
        SettingsSchema::try_from(json).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_the_whole_subset() {
        let schema = parse(json!({
            "type": "object",
            "properties": {
                "greeting": {"type": "string", "title": "Greeting", "default": "Hello",
                             "minLength": 1, "maxLength": 40, "pattern": "^[A-Za-z ]+$"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "ratio": {"type": "number", "default": 0.5},
                "verbose": {"type": "boolean", "default": false},
                "unit": {"enum": ["c", "f"], "default": "c"},
                "token": {"type": "string", "secret": true}
            },
            "required": ["token"]
        }))
        .unwrap();
        let names: Vec<_> = schema.settings().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["greeting", "port", "ratio", "token", "unit", "verbose"]
        );
        let token = schema.get("token").unwrap();
        assert!(token.secret && token.required);
        assert_eq!(
            schema.get("unit").unwrap().kind,
            SettingKind::Enum(vec!["c".into(), "f".into()])
        );
        assert_eq!(schema.get("port").unwrap().maximum, Some(65535.0));
    }

    #[test]
    fn refuses_what_is_outside_the_subset_naming_the_property() {
        let cases = [
            (
                json!({"type": "array"}),
                "settings: type must be \"object\"",
            ),
            (
                json!({"type": "object", "oneOf": []}),
                "settings: \"oneOf\" is not supported",
            ),
            (
                json!({"type": "object", "properties": {"x": {"type": "array"}}}),
                "settings property \"x\": type must be string, number, integer or boolean (or an enum of strings)",
            ),
            (
                json!({"type": "object", "properties": {"x": {"type": "string", "format": "email"}}}),
                "settings property \"x\": \"format\" is not supported for a string",
            ),
            (
                json!({"type": "object", "properties": {"x": {"type": "boolean", "minimum": 1}}}),
                "settings property \"x\": \"minimum\" is not supported for a boolean",
            ),
            (
                json!({"type": "object", "properties": {"Bad-Name": {"type": "string"}}}),
                "settings property \"Bad-Name\": the name must match ^[a-z][a-z0-9_]{0,63}$",
            ),
            (
                json!({"type": "object", "properties": {"n": {"type": "integer", "default": "1"}}}),
                "settings property \"n\": the default must be a integer",
            ),
            (
                json!({"type": "object", "properties": {"n": {"type": "integer", "secret": true}}}),
                "settings property \"n\": only a string can be secret",
            ),
            (
                json!({"type": "object", "properties": {}, "required": ["ghost"]}),
                "settings property \"ghost\": is required but not declared",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(parse(json).unwrap_err(), expected);
        }
    }

    #[test]
    fn refuses_more_than_the_bound() {
        let properties: Map<String, Value> = (0..=MAX_SETTINGS)
            .map(|i| (format!("s{i}"), json!({"type": "string"})))
            .collect();
        let err = parse(json!({"type": "object", "properties": properties})).unwrap_err();
        assert_eq!(err, "settings: at most 64 properties");
    }

    #[test]
    fn defaults_fill_unset_values_and_required_ones_are_reported() {
        let schema = parse(json!({
            "type": "object",
            "properties": {
                "greeting": {"type": "string", "default": "Hello"},
                "token": {"type": "string", "secret": true}
            },
            "required": ["token"]
        }))
        .unwrap();
        let none = Map::new();
        let config = schema.with_defaults(&none);
        assert_eq!(Value::Object(config.clone()), json!({"greeting": "Hello"}));
        assert_eq!(schema.missing_required(&config), Some("token"));
        let set: Map<String, Value> = [("token".into(), json!("t")), ("stale".into(), json!(1))]
            .into_iter()
            .collect();
        let config = schema.with_defaults(&set);
        assert_eq!(
            Value::Object(config.clone()),
            json!({"greeting": "Hello", "token": "t"})
        );
        assert_eq!(schema.missing_required(&config), None);
    }

    #[test]
    fn round_trips_as_written() {
        let json = json!({"type": "object", "properties": {"a": {"type": "boolean"}}});
        let schema = parse(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&schema).unwrap(), json);
    }
}
