//! A plugin's key-value data, as administrators and tools see it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

/// `GET /api/plugins/{id}/kv`: the keys, in byte order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct KvKeys {
    /// The keys.
    pub keys: Vec<String>,
}

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// The body of `PUT /api/plugins/{id}/kv/{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct KvValue {
    /// The new value, at most 1 MiB.
    pub value: String,
}

/// The query of `GET /api/plugins/{id}/kv`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KvListQuery {
    /// Only keys starting with this; empty (the default) lists every key.
    #[serde(default)]
    pub prefix: String,
}
