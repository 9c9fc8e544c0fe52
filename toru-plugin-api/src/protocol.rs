//! The wire protocol between the daemon and a plugin, as plain data.
//!
//! This module does no I/O. A frame on the wire is one JSON object per line:
//!
//! ```json
//! {"type":"ping","timestamp":1764072000000,"request_id":"d-7","payload":{}}
//! ```
//!
//! [`Message::decode`] turns one line into a [`Message`] in two steps — the envelope first, then
//! the payload for its `type` — so that every error still knows which request it belongs to and
//! can be answered. `docs/protocol.md` is the normative description; its examples are parsed by
//! this crate's tests so the two cannot drift.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::permissions::{PermissionError, Permissions};
pub use crate::plugin_id::{PluginId, validate_plugin_id};
use crate::settings::SettingsSchema;

/// The protocol version this crate speaks. Sent in `--metadata` and in `lifecycle.init`.
///
/// Additive changes (new optional fields, new message types) keep the version; a change that an
/// older peer would misread bumps it. A plugin refuses an init whose version differs from its own.
pub const PROTOCOL_VERSION: u32 = 1;

/// Metadata a plugin prints for `--metadata`; the daemon's only source of truth about a plugin
/// before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginMetadata {
    /// Stable identifier; ends up in unit names, paths and URLs, so it is validated strictly
    /// (see [`validate_plugin_id`]); [`PluginMetadata::validate`] returns it as a [`PluginId`].
    pub id: String,
    /// Human-readable name shown in the dashboard.
    pub name: String,
    /// The plugin's own version (free-form, semver recommended).
    pub version: String,
    /// Who wrote it.
    #[serde(default)]
    pub author: String,
    /// An emoji or short icon name for the dashboard.
    #[serde(default)]
    pub icon: String,
    /// Where the plugin's view lives in the dashboard, e.g. `/hello-rust`.
    pub route: String,
    /// The protocol version the plugin speaks.
    pub protocol_version: u32,
    /// One sentence for the plugin's card.
    #[serde(default)]
    pub description: String,
    /// The plugin is useless without a valid licence key: while it reports no valid licence in
    /// `lifecycle.ready`, the daemon answers its routes with 402 (no key) or 403 (a bad key)
    /// instead of forwarding them, and the dashboard says why (`docs/licensing.md`).
    #[serde(default)]
    pub license_required: bool,
    /// What the plugin needs beyond the default sandbox (network beyond localhost, writable
    /// paths, devices); empty by default. See [`Permissions`].
    #[serde(default)]
    pub permissions: Permissions,
    /// What an administrator can configure, as a JSON Schema in the subset of
    /// [`SettingsSchema`]; the values arrive in `lifecycle.init`'s `config`. An optional field
    /// added within version 1: absent means no settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsSchema>,
}

/// Why a plugin id or route was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The id does not match `^[a-z0-9][a-z0-9-]{0,62}$`.
    #[error("invalid plugin id {0:?}: must match ^[a-z0-9][a-z0-9-]{{0,62}}$")]
    InvalidId(String),
    /// The route is not an absolute, simple path.
    #[error("invalid route {0:?}: must start with '/' and contain only a-z, 0-9, '-', '_' and '/'")]
    InvalidRoute(String),
    /// The plugin speaks a protocol version this side does not.
    #[error("plugin speaks protocol version {found}, this side speaks {expected}")]
    UnsupportedVersion {
        /// What the plugin declared.
        found: u32,
        /// What this crate speaks.
        expected: u32,
    },
    /// A required text field is empty.
    #[error("metadata field {0:?} must not be empty")]
    Empty(&'static str),
    /// The `permissions` object is malformed.
    #[error(transparent)]
    Permissions(#[from] PermissionError),
}

impl PluginMetadata {
    /// Checks everything the daemon relies on: id, route, version and required names. Returns
    /// the id as a [`PluginId`], the proof that it was checked, for the daemon to carry on.
    pub fn validate(&self) -> Result<PluginId, MetadataError> {
        let id = PluginId::new(self.id.as_str())?;
        let route_ok = self.route.starts_with('/')
            && self.route.len() <= 128
            && !self.route.contains("//")
            && self.route.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'/')
            });
        if !route_ok {
            return Err(MetadataError::InvalidRoute(self.route.clone()));
        }
        if self.protocol_version != PROTOCOL_VERSION {
            return Err(MetadataError::UnsupportedVersion {
                found: self.protocol_version,
                expected: PROTOCOL_VERSION,
            });
        }
        if self.name.trim().is_empty() {
            return Err(MetadataError::Empty("name"));
        }
        if self.version.trim().is_empty() {
            return Err(MetadataError::Empty("version"));
        }
        self.permissions.validate()?;
        Ok(id)
    }
}

/// One protocol message: the envelope fields plus a typed body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Correlates a reply with its request. Each side picks ids for the requests it sends; a
    /// reply carries the id of the request it answers.
    pub request_id: String,
    /// When the sender made the message, in milliseconds since the Unix epoch. Informational.
    pub timestamp: u64,
    /// The message itself; its variant is the envelope's `type`.
    pub body: Body,
}

/// Every message type of the protocol. The comment on each says who sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// daemon → plugin, first message on every connection: who the plugin is and where it runs.
    Init(Init),
    /// plugin → daemon, the reply to `lifecycle.init` when initialisation succeeded.
    Ready(Ready),
    /// daemon → plugin: finish in-flight work and exit. No reply; the plugin exits.
    Shutdown,
    /// daemon → plugin: an HTTP request for one of the plugin's routes.
    HttpRequest(HttpRequest),
    /// plugin → daemon: the reply to `http.request`.
    HttpResponse(HttpResponse),
    /// plugin → daemon: an operation on the plugin's own key-value store.
    KvRequest(KvOp),
    /// daemon → plugin: the reply to `kv.request`.
    KvResponse(KvResult),
    /// daemon → plugin: a health check.
    Ping,
    /// plugin → daemon: the reply to `ping`.
    Pong,
    /// either way: the request with this id failed, or a frame could not be understood.
    Error(ErrorPayload),
}

/// Payload of `lifecycle.init`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// The daemon's protocol version.
    pub protocol_version: u32,
    /// The id the daemon knows this plugin by.
    pub plugin_id: String,
    /// The Toru installation's stable id (a UUID), e.g. for binding licences.
    pub instance_id: String,
    /// Plugin configuration set by the administrator; an empty object when none.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// The licence key the administrator installed for this plugin, exactly as given, for the
    /// plugin to verify (`docs/licensing.md`); absent when none. The daemon does not check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

/// Payload of `lifecycle.ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    /// The plugin's protocol version.
    pub protocol_version: u32,
    /// The plugin's verdict on the licence key of `lifecycle.init`, so the admin can see it;
    /// absent when the plugin does not check licences. An optional field added within
    /// protocol version 1: older daemons ignore it, older plugins leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<LicenseReport>,
}

/// What a plugin found when it checked its licence key. The daemon only relays and displays
/// it (and, for `license_required` plugins, gates routes on it): the plugin is the verifier,
/// since only it holds the vendor's verifying key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LicenseReport {
    /// Every check passed.
    Valid {
        /// Who the licence was issued to.
        #[serde(default)]
        licensee: String,
        /// Unix seconds at which it stops being valid; absent when it never expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<u64>,
        /// What it unlocks.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// A check failed, or there is no key.
    Invalid {
        /// The failure kind of `docs/licensing.md`, e.g. `missing` or `wrong_instance`.
        error: String,
        /// What to do about it, for the admin.
        message: String,
    },
}

/// An HTTP request forwarded by the daemon. The path is relative to the plugin's route prefix.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path below the plugin's prefix, always starting with `/`.
    pub path: String,
    /// The raw query string without `?`; empty when none.
    #[serde(default)]
    pub query: String,
    /// Header pairs in order; names are lower case and may repeat.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body; base64 on the wire so any bytes survive JSON.
    #[serde(default, with = "base64_bytes")]
    pub body: Vec<u8>,
    /// The logged-in user the daemon authenticated, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl HttpRequest {
    /// The first value of a header, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses the body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// A plugin's answer to an [`HttpRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// HTTP status code, 100–599.
    pub status: u16,
    /// Header pairs in order; may repeat.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body; base64 on the wire.
    #[serde(default, with = "base64_bytes")]
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON response with the given status.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        // Serialising an in-memory value only fails for maps with non-string keys; answer 500
        // rather than panic inside a request handler.
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body,
            },
            Err(e) => Self::text(500, format!("could not serialise response: {e}")),
        }
    }

    /// A plain-text response with the given status.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: text.into().into_bytes(),
        }
    }

    /// `404` with a JSON error body, for paths the plugin does not serve.
    pub fn not_found() -> Self {
        Self::json(
            404,
            &serde_json::json!({"error": {"code": "not_found", "message": "no such route"}}),
        )
    }
}

/// An operation on the plugin's key-value store (payload of `kv.request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KvOp {
    /// Read one key.
    Get {
        /// The key.
        key: String,
    },
    /// Write one key.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Remove one key.
    Delete {
        /// The key.
        key: String,
    },
    /// List keys starting with a prefix, sorted.
    List {
        /// The prefix; empty lists every key.
        #[serde(default)]
        prefix: String,
    },
}

/// The daemon's answer to a [`KvOp`] (payload of `kv.response`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KvResult {
    /// The value, or `null` when the key is absent.
    Get {
        /// The stored value.
        value: Option<String>,
    },
    /// The write is durable.
    Set,
    /// Whether the key existed.
    Delete {
        /// True when a value was removed.
        existed: bool,
    },
    /// The matching keys, sorted.
    List {
        /// The keys.
        keys: Vec<String>,
    },
}

/// Payload of `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// Machine-readable kind.
    pub code: ErrorCode,
    /// What went wrong, for a human.
    pub message: String,
}

/// The kinds of protocol error. Unknown codes from a newer peer read as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line was not a JSON object with the envelope fields.
    MalformedFrame,
    /// The `type` is not one this side knows.
    UnknownType,
    /// The payload does not fit its type (missing or mistyped field).
    BadPayload,
    /// The peer's protocol version is not supported.
    UnsupportedVersion,
    /// The operation failed on the receiving side.
    Internal,
    /// A key-value operation failed.
    KvFailed,
    /// The receiver is shutting down or not ready.
    Unavailable,
    /// A code this version does not know.
    #[serde(other)]
    Unknown,
}

/// The code as it travels on the wire (`kv_failed`), for messages people read; the word comes
/// from the serde attributes, the one place that names it.
impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => f.write_str(&name),
            _ => Err(std::fmt::Error),
        }
    }
}

impl Body {
    /// The envelope `type` string for this body.
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::Init(_) => "lifecycle.init",
            Body::Ready(_) => "lifecycle.ready",
            Body::Shutdown => "lifecycle.shutdown",
            Body::HttpRequest(_) => "http.request",
            Body::HttpResponse(_) => "http.response",
            Body::KvRequest(_) => "kv.request",
            Body::KvResponse(_) => "kv.response",
            Body::Ping => "ping",
            Body::Pong => "pong",
            Body::Error(_) => "error",
        }
    }
}

/// Why one line could not become a [`Message`]. Recoverable: the connection stays in sync, and
/// when `request_id` is known the sender can be told which request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    /// The id of the offending message, when the envelope got that far.
    pub request_id: Option<String>,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// What was wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// Not JSON, not an object, or an envelope field missing or mistyped.
    #[error("malformed frame: {0}")]
    MalformedFrame(String),
    /// A `type` this version does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// The payload does not fit the type.
    #[error("bad payload for {type_name}: {reason}")]
    BadPayload {
        /// The message type.
        type_name: String,
        /// The serde error.
        reason: String,
    },
}

impl DecodeError {
    /// The protocol error code to answer with.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            DecodeErrorKind::MalformedFrame(_) => ErrorCode::MalformedFrame,
            DecodeErrorKind::UnknownType(_) => ErrorCode::UnknownType,
            DecodeErrorKind::BadPayload { .. } => ErrorCode::BadPayload,
        }
    }
}

/// The envelope as read, before the payload is typed.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(rename = "type", borrow)]
    type_name: std::borrow::Cow<'a, str>,
    timestamp: u64,
    request_id: String,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

/// The envelope as written.
#[derive(Serialize)]
struct OutEnvelope<'a, P: Serialize> {
    #[serde(rename = "type")]
    type_name: &'static str,
    timestamp: u64,
    request_id: &'a str,
    payload: P,
}

/// An empty JSON object, the payload of messages that carry none.
#[derive(Serialize, Deserialize)]
struct Empty {}

impl Message {
    /// A message stamped with the current time.
    pub fn new(request_id: impl Into<String>, body: Body) -> Self {
        Self {
            request_id: request_id.into(),
            timestamp: now_millis(),
            body,
        }
    }

    /// Parses one frame (without its newline).
    pub fn decode(line: &str) -> Result<Message, DecodeError> {
        let raw: RawEnvelope<'_> = serde_json::from_str(line).map_err(|e| DecodeError {
            request_id: None,
            kind: DecodeErrorKind::MalformedFrame(e.to_string()),
        })?;
        let payload = raw.payload.map_or("{}", RawValue::get);
        let fail = |e: serde_json::Error| DecodeError {
            request_id: Some(raw.request_id.clone()),
            kind: DecodeErrorKind::BadPayload {
                type_name: raw.type_name.to_string(),
                reason: e.to_string(),
            },
        };
        let body = match raw.type_name.as_ref() {
            "lifecycle.init" => Body::Init(serde_json::from_str(payload).map_err(fail)?),
            "lifecycle.ready" => Body::Ready(serde_json::from_str(payload).map_err(fail)?),
            "lifecycle.shutdown" => {
                serde_json::from_str::<Empty>(payload).map_err(fail)?;
                Body::Shutdown
            }
            "http.request" => Body::HttpRequest(serde_json::from_str(payload).map_err(fail)?),
            "http.response" => Body::HttpResponse(serde_json::from_str(payload).map_err(fail)?),
            "kv.request" => Body::KvRequest(serde_json::from_str(payload).map_err(fail)?),
            "kv.response" => Body::KvResponse(serde_json::from_str(payload).map_err(fail)?),
            "ping" => {
                serde_json::from_str::<Empty>(payload).map_err(fail)?;
                Body::Ping
            }
            "pong" => {
                serde_json::from_str::<Empty>(payload).map_err(fail)?;
                Body::Pong
            }
            "error" => Body::Error(serde_json::from_str(payload).map_err(fail)?),
            other => {
                return Err(DecodeError {
                    request_id: Some(raw.request_id.clone()),
                    kind: DecodeErrorKind::UnknownType(other.to_owned()),
                });
            }
        };
        Ok(Message {
            request_id: raw.request_id,
            timestamp: raw.timestamp,
            body,
        })
    }

    /// Writes this message as one compact JSON line, trailing newline included.
    pub fn write_line<W: std::io::Write>(&self, mut out: W) -> Result<(), serde_json::Error> {
        fn write<P: Serialize, W: std::io::Write>(
            m: &Message,
            payload: P,
            out: &mut W,
        ) -> serde_json::Result<()> {
            let envelope = OutEnvelope {
                type_name: m.body.type_name(),
                timestamp: m.timestamp,
                request_id: &m.request_id,
                payload,
            };
            serde_json::to_writer(&mut *out, &envelope)?;
            out.write_all(b"\n").map_err(serde_json::Error::io)
        }
        let out = &mut out;
        match &self.body {
            Body::Init(p) => write(self, p, out),
            Body::Ready(p) => write(self, p, out),
            Body::HttpRequest(p) => write(self, p, out),
            Body::HttpResponse(p) => write(self, p, out),
            Body::KvRequest(p) => write(self, p, out),
            Body::KvResponse(p) => write(self, p, out),
            Body::Error(p) => write(self, p, out),
            Body::Shutdown | Body::Ping | Body::Pong => write(self, Empty {}, out),
        }
    }

    /// This message as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        // Payloads are plain structs with string keys and writing to a Vec cannot fail.
        self.write_line(&mut out)
            .expect("protocol messages always serialise");
        out
    }

    /// An `error` reply to the request `request_id`.
    pub fn error(
        request_id: impl Into<String>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            request_id,
            Body::Error(ErrorPayload {
                code,
                message: message.into(),
            }),
        )
    }
}

/// Milliseconds since the Unix epoch, for envelope timestamps.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Serde glue: bytes as standard base64 strings.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("body is not valid base64: {e}")))
    }
}

/// Encodes bytes as the protocol's base64, for tools and tests that build frames by hand.
pub fn encode_body(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod error_code_tests {
    use super::ErrorCode;

    #[test]
    fn error_codes_read_as_they_travel() {
        assert_eq!(ErrorCode::KvFailed.to_string(), "kv_failed");
        assert_eq!(ErrorCode::Internal.to_string(), "internal");
    }
}
