//! Write Toru plugins in Rust.
//!
//! A Toru plugin is an executable the daemon runs (as a systemd unit, or as a child process) and
//! talks to over a Unix socket with newline-delimited JSON. This crate is everything a plugin
//! needs and nothing of the daemon:
//!
//! - [`protocol`]: the messages, as plain data ([`Message`], [`Body`], [`PluginMetadata`], …);
//! - [`codec`]: the framing, with a hard frame-size limit ([`FrameCodec`]);
//! - [`plugin`]: the [`ToruPlugin`] trait you implement, and the [`Kv`] store handle;
//! - [`runner`]: [`run`], the whole `main` of a plugin;
//! - [`writer`]: the task that owns a connection's write half, for both sides;
//! - [`testing`]: a stand-in daemon for testing a plugin without one ([`testing::TestDaemon`]);
//! - `license` (cargo feature `license`): offline verification of vendor licence keys, bound to
//!   this plugin and this Toru instance (`docs/licensing.md`), and `signature`, the format of
//!   signed plugin binaries that vendors make and the daemon checks (`docs/signing.md`);
//! - logging macros ([`info!`], [`warn!`], [`error!`], [`debug!`]) that the journal understands.
//!
//! `docs/protocol.md` in the Toru repository is the normative protocol description.
//!
//! # A complete plugin
//!
//! ```no_run
//! use std::sync::OnceLock;
//! use toru_plugin_api::{
//!     HttpRequest, HttpResponse, PluginContext, PluginError, PluginMetadata, ToruPlugin,
//!     PROTOCOL_VERSION,
//! };
//!
//! #[derive(Default)]
//! struct Counter {
//!     ctx: OnceLock<PluginContext>,
//! }
//!
//! impl ToruPlugin for Counter {
//!     fn metadata(&self) -> PluginMetadata {
//!         PluginMetadata {
//!             id: "counter".into(),
//!             name: "Counter".into(),
//!             version: "1.0.0".into(),
//!             author: "You".into(),
//!             icon: "🔢".into(),
//!             route: "/counter".into(),
//!             protocol_version: PROTOCOL_VERSION,
//!             license_required: false,
//!             description: "Counts clicks".into(),
//!             permissions: Default::default(), // the full sandbox
//!             settings: None,
//!         }
//!     }
//!
//!     async fn init(&self, ctx: PluginContext) -> Result<(), PluginError> {
//!         let _ = self.ctx.set(ctx); // the same KV handle on every reconnection
//!         Ok(())
//!     }
//!
//!     async fn handle_http(&self, req: HttpRequest) -> Result<HttpResponse, PluginError> {
//!         let kv = &self.ctx.get().ok_or(PluginError::Disconnected)?.kv;
//!         match (req.method.as_str(), req.path.as_str()) {
//!             ("POST", "/count") => {
//!                 let n: u64 = kv.get("n").await?.and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
//!                 kv.set("n", &n.to_string()).await?;
//!                 Ok(HttpResponse::json(200, &serde_json::json!({ "count": n })))
//!             }
//!             _ => Ok(HttpResponse::not_found()),
//!         }
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     toru_plugin_api::run(Counter::default())
//! }
//! ```

pub mod codec;
#[cfg(feature = "license")]
pub mod license;
pub mod log;
pub mod permissions;
pub mod plugin;
pub mod plugin_id;
pub mod protocol;
pub mod runner;
pub mod settings;
#[cfg(feature = "license")]
pub mod signature;
pub mod testing;
pub mod writer;

pub use codec::{CodecError, DEFAULT_MAX_FRAME, FrameCodec};
pub use permissions::{PermissionError, Permissions};
pub use plugin::{Kv, PluginContext, PluginError, ToruPlugin, license_error_body};
pub use plugin_id::PluginId;
pub use protocol::{
    Body, DecodeError, DecodeErrorKind, ErrorCode, ErrorPayload, HttpRequest, HttpResponse, Init,
    KvOp, KvResult, LicenseReport, Message, MetadataError, PROTOCOL_VERSION, PluginMetadata, Ready,
    validate_plugin_id,
};
pub use runner::{RunnerError, SOCKET_ENV, ServeOptions, run, serve};
pub use settings::{Setting, SettingKind, SettingsSchema, SettingsSchemaError};
