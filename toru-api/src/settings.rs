//! A plugin's settings as the API shows and changes them (`/api/plugins/{id}/config`): each
//! declared setting with its schema and its value, secrets reduced to whether they are set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// The type of a setting, as the plugin declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingType {
    /// A string.
    String,
    /// Any number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// One of the strings in `options`.
    Enum,
}

/// Where a setting's value stands. A secret's value is never sent: only that it is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SettingValue {
    /// No value set: the plugin gets the default, if there is one.
    Unset,
    /// The value an administrator set.
    Set {
        /// The value.
        #[ts(type = "unknown")]
        #[schema(value_type = Object)]
        value: serde_json::Value,
    },
    /// A secret is set; its value is write-only.
    SecretSet,
}

/// One declared setting, its schema and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct SettingField {
    /// The key, as in `PUT` bodies and `lifecycle.init`'s `config`.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// A label for a form; show the name when absent.
    pub title: Option<String>,
    /// What it does, for the administrator.
    pub description: Option<String>,
    /// What the plugin gets while no value is set.
    #[ts(type = "unknown")]
    #[schema(value_type = Object)]
    pub default: Option<serde_json::Value>,
    /// The plugin is not started while it has neither a value nor a default.
    pub required: bool,
    /// Write-only: its value is never returned.
    pub secret: bool,
    /// Inclusive lower bound of a number or integer.
    pub minimum: Option<f64>,
    /// Inclusive upper bound of a number or integer.
    pub maximum: Option<f64>,
    /// Fewest characters of a string.
    pub min_length: Option<u64>,
    /// Most characters of a string.
    pub max_length: Option<u64>,
    /// A regular expression a string must match (JSON Schema's `pattern`).
    pub pattern: Option<String>,
    /// The choices of an enum; empty for other types.
    pub options: Vec<String>,
    /// Its current value.
    pub value: SettingValue,
}

/// `GET` and `PUT /api/plugins/{id}/config`: every setting the plugin declares, sorted by name;
/// empty when it declares none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct PluginSettings {
    /// The settings.
    pub settings: Vec<SettingField>,
}

/// The body of `PUT /api/plugins/{id}/config`: the settings to change, each to its new value,
/// or unset by `null`; settings not named keep their value. Validated as a whole against the
/// plugin's schema: all of it is stored, or nothing (400 `invalid_settings`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(transparent)]
pub struct SettingsChange(
    /// Setting name → new value (`null` unsets).
    #[ts(type = "Record<string, unknown>")]
    pub BTreeMap<String, serde_json::Value>,
);
