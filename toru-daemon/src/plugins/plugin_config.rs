//! A plugin's settings on the daemon's side: checking values against the schema the plugin
//! declared (with the `jsonschema` crate, so the subset means what JSON Schema says it means),
//! and applying an administrator's change to the stored values.
//!
//! The schema's shape was checked by `toru-plugin-api` when the metadata was parsed; here it is
//! compiled (which also refuses a `pattern` that is not a regular expression, at discovery) and
//! used. Error messages name the setting and never show a secret's value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use toru_plugin_api::SettingsSchema;

/// A plugin's declared settings and the values an administrator set (no defaults filled in),
/// as the manager hands them to the API, which hides secrets.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    /// The schema, `None` when the plugin declares no settings.
    pub schema: Option<SettingsSchema>,
    /// The stored values.
    pub values: Map<String, Value>,
}

/// Why values were refused: the setting at fault (none for the object as a whole) and what is
/// wrong, e.g. `port: 70000 is greater than the maximum of 65535`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct InvalidSettings {
    /// The setting's name.
    pub field: Option<String>,
    /// What is wrong with its value.
    pub message: String,
}

impl InvalidSettings {
    fn new(field: Option<&str>, message: impl Into<String>) -> Self {
        InvalidSettings {
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// A plugin's schema compiled for validation: unknown keys are refused
/// (`additionalProperties: false` is added) and `required` applies to the values with defaults
/// filled in, which is what the plugin receives.
pub struct SettingsValidator<'a> {
    schema: &'a SettingsSchema,
    validator: jsonschema::Validator,
}

impl<'a> SettingsValidator<'a> {
    /// Compiles `schema`; an error is the reason discovery refuses the plugin.
    pub fn new(schema: &'a SettingsSchema) -> Result<Self, String> {
        let mut json = schema.as_json().clone();
        if let Value::Object(object) = &mut json {
            object.insert("additionalProperties".into(), Value::Bool(false));
        }
        let validator = jsonschema::options()
            .build(&json)
            .map_err(|e| format!("settings: not a valid schema: {}", e.masked()))?;
        let validator = SettingsValidator { schema, validator };
        // The defaults must pass the bounds too (their types were checked when parsing).
        for setting in schema.settings() {
            if let Some(default) = &setting.default {
                let one = Map::from_iter([(setting.name.clone(), default.clone())]);
                validator
                    .check_each(&one)
                    .map_err(|e| format!("settings: the default of {e}"))?;
            }
        }
        Ok(validator)
    }

    /// Checks `config`, the values with defaults filled in, against the whole schema.
    pub fn validate(&self, config: &Map<String, Value>) -> Result<(), InvalidSettings> {
        self.check_each(config)?;
        match self.schema.missing_required(config) {
            Some(name) => Err(InvalidSettings::new(
                Some(name),
                "is required and has no value",
            )),
            None => Ok(()),
        }
    }

    /// Every keyword but `required`, whose message the caller words itself.
    fn check_each(&self, config: &Map<String, Value>) -> Result<(), InvalidSettings> {
        let instance = Value::Object(config.clone());
        let Some(error) = self
            .validator
            .iter_errors(&instance)
            .find(|e| e.kind().keyword() != "required")
        else {
            return Ok(());
        };
        let path = error.instance_path().to_string();
        let field = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|f| !f.is_empty());
        let Some(field) = field else {
            // Only an undeclared key fails at the object itself.
            let unknown = config.keys().find(|k| self.schema.get(k).is_none());
            return Err(InvalidSettings::new(
                unknown.map(String::as_str),
                "no such setting",
            ));
        };
        let secret = self.schema.get(field).is_some_and(|s| s.secret);
        let message = if secret {
            error.masked_with("the secret value").to_string()
        } else {
            error.to_string()
        };
        Err(InvalidSettings::new(Some(field), message))
    }
}

/// An administrator's change applied to the stored values: the new values to store and the
/// names of the settings whose value changed (for the event, which never holds values).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// What to store: the old values with the change applied (no defaults filled in).
    pub values: Map<String, Value>,
    /// The names of the settings that changed, sorted.
    pub changed: Vec<String>,
}

/// Applies `change` to `stored`: each key is set to its value, or unset by `null`, then the
/// result (with defaults filled in) is validated. Nothing is applied if any key is refused.
pub fn apply_change(
    schema: &SettingsSchema,
    stored: &Map<String, Value>,
    change: BTreeMap<String, Value>,
) -> Result<Applied, InvalidSettings> {
    let validator = SettingsValidator::new(schema).map_err(|e| InvalidSettings::new(None, e))?;
    let mut values = stored.clone();
    let mut changed = Vec::new();
    for (name, value) in change {
        if schema.get(&name).is_none() {
            return Err(InvalidSettings::new(Some(&name), "no such setting"));
        }
        let before = if value.is_null() {
            values.remove(&name)
        } else {
            values.insert(name.clone(), value.clone())
        };
        if before.as_ref() != Some(&value).filter(|v| !v.is_null()) {
            changed.push(name);
        }
    }
    validator.validate(&schema.with_defaults(&values))?;
    Ok(Applied { values, changed })
}

/// The stored JSON text of a plugin's values, or an empty object when none were ever set.
pub fn decode_stored(json: Option<&str>) -> Result<Map<String, Value>, String> {
    match json {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(values)) => Ok(values),
            _ => Err("stored plugin settings are not a JSON object".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> SettingsSchema {
        json!({
            "type": "object",
            "properties": {
                "greeting": {"type": "string", "default": "Hello", "maxLength": 10},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "token": {"type": "string", "secret": true, "minLength": 8},
                "unit": {"enum": ["c", "f"]}
            },
            "required": ["port"]
        })
        .try_into()
        .unwrap()
    }

    fn change(pairs: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(pairs).unwrap()
    }

    #[test]
    fn sets_and_unsets_and_names_the_changed_keys() {
        let schema = schema();
        let stored = Map::from_iter([("greeting".into(), json!("Hi"))]);
        let applied = apply_change(
            &schema,
            &stored,
            change(json!({"port": 8080, "greeting": null, "unit": "c"})),
        )
        .unwrap();
        assert_eq!(
            Value::Object(applied.values),
            json!({"port": 8080, "unit": "c"})
        );
        assert_eq!(applied.changed, ["greeting", "port", "unit"]);
        let same = apply_change(
            &schema,
            &stored,
            change(json!({"greeting": "Hi", "port": 1})),
        )
        .unwrap();
        assert_eq!(same.changed, ["port"], "an unchanged value is not a change");
    }

    #[test]
    fn refusals_name_the_setting_and_hide_secrets() {
        let schema = schema();
        let none = Map::new();
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
                json!({"port": 80, "greeting": 5}),
                "greeting: 5 is not of type \"string\"",
            ),
            (
                json!({"port": 80, "unit": "k"}),
                "unit: \"k\" is not one of \"c\" or \"f\"",
            ),
            (json!({"port": 80, "ghost": 1}), "ghost: no such setting"),
            (
                json!({"greeting": "Hi"}),
                "port: is required and has no value",
            ),
        ];
        for (values, expected) in cases {
            let err = apply_change(&schema, &none, change(values)).unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
        let err = apply_change(
            &schema,
            &none,
            change(json!({"port": 80, "token": "hunter2"})),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("token"));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_bad_pattern_or_default_is_not_a_valid_schema() {
        let bad_pattern: SettingsSchema = json!({"type": "object",
            "properties": {"a": {"type": "string", "pattern": "(unclosed"}}})
        .try_into()
        .unwrap();
        assert!(SettingsValidator::new(&bad_pattern).is_err());
        let bad_default: SettingsSchema = json!({"type": "object",
            "properties": {"a": {"type": "integer", "maximum": 3, "default": 4}}})
        .try_into()
        .unwrap();
        let err = SettingsValidator::new(&bad_default).err().unwrap();
        assert_eq!(
            err,
            "settings: the default of a: 4 is greater than the maximum of 3"
        );
    }
}
