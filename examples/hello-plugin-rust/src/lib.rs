//! hello-rust: the smallest useful Toru plugin — a greeting and a counter kept in the plugin's
//! key-value store, so it survives plugin and daemon restarts — with a React dashboard view, and
//! a licensed `/pro` route that shows how a vendor sells a feature (`docs/licensing.md`).
//!
//! The view is built from `frontend/` into one ES module and embedded at compile time: `build.rs`
//! points `HELLO_RUST_BUNDLE` at `frontend/dist/bundle.js` when it has been built, else at the
//! committed `frontend/fallback-bundle.js` (which only says how to build the real one).

use std::sync::{Mutex as StdMutex, OnceLock};

use serde_json::json;
use tokio::sync::Mutex;
use toru_plugin_api::license::{License, LicenseError, VerifyingKey};
use toru_plugin_api::{
    HttpRequest, HttpResponse, PROTOCOL_VERSION, PluginContext, PluginError, PluginMetadata,
    ToruPlugin, info,
};

/// The public key of the demo vendor in `examples/demo-vendor/` — **for demonstration only**:
/// its private key is in the repository, so anyone can issue keys for it. A real vendor embeds
/// the public key printed by its own `toru-license keygen --alg ed25519`.
pub const DEMO_VENDOR_PUBLIC_KEY: &str = "cLPagOrte4LQD7vmjquXyw2eFbgLnfj2N2xzKBsrzJg";

/// The licence feature `/pro` needs.
pub const PRO_FEATURE: &str = "pro";

/// The dashboard view the daemon serves for this plugin, chosen by `build.rs`.
pub const FRONTEND_BUNDLE: &[u8] = include_bytes!(env!("HELLO_RUST_BUNDLE"));

/// The plugin's state: the context, which holds the KV handle, and the counter's lock.
#[derive(Default)]
pub struct Hello {
    ctx: OnceLock<PluginContext>,
    /// Held across every read-modify-write of the counter. The runner handles requests
    /// concurrently and the KV store has no compare-and-set, so without it two increments can
    /// both read `n` and both store `n + 1`, losing one (and a reset can be undone by an
    /// increment that read the old value before it).
    counter: Mutex<()>,
    /// The runner's verdict on the licence key at the latest init.
    license: StdMutex<Option<Result<License, LicenseError>>>,
    /// The settings of the latest init (the daemon sends them again on every connection).
    settings: StdMutex<Settings>,
}

/// What an administrator can set (`toructl plugin config hello-rust`), declared in
/// [`settings_schema`] and read with [`PluginContext::settings`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Settings {
    /// The word `/greeting` greets with; the daemon fills in the default, "Hello".
    pub greeting: String,
}

/// The `settings` of the plugin's metadata: one string, `greeting`.
pub fn settings_schema() -> toru_plugin_api::SettingsSchema {
    json!({
        "type": "object",
        "properties": {
            "greeting": {
                "type": "string",
                "title": "Greeting",
                "description": "The word the plugin greets with.",
                "default": "Hello",
                "minLength": 1,
                "maxLength": 40
            }
        }
    })
    .try_into()
    .expect("the declared settings are within the subset")
}

impl Hello {
    fn ctx(&self) -> Result<&PluginContext, PluginError> {
        self.ctx.get().ok_or(PluginError::Disconnected)
    }

    /// The licence, if it is valid now and unlocks `/pro`; else the refusal to answer with.
    fn pro_license(&self) -> Result<License, PluginError> {
        let verdict = self
            .license
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or(Err(LicenseError::Missing))?;
        verdict.check_expiry(std::time::SystemTime::now())?;
        if !verdict.has_feature(PRO_FEATURE) {
            return Err(PluginError::Unlicensed {
                kind: "feature_missing".into(),
                message: format!("the licence does not include the {PRO_FEATURE:?} feature"),
            });
        }
        Ok(verdict)
    }

    async fn count(&self) -> Result<u64, PluginError> {
        let stored = self.ctx()?.kv.get("counter").await?;
        Ok(stored.and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}

impl ToruPlugin for Hello {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata {
            id: "hello-rust".into(),
            name: "Hello (Rust)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            author: "The Toru developers".into(),
            icon: "👋".into(),
            route: "/hello-rust".into(),
            protocol_version: PROTOCOL_VERSION,
            license_required: false,
            description: "A greeting and a counter stored in the plugin's KV store".into(),
            permissions: Default::default(),
            settings: Some(settings_schema()),
        }
    }

    fn license_verifier(&self) -> Option<VerifyingKey> {
        VerifyingKey::ed25519_base64url(DEMO_VENDOR_PUBLIC_KEY).ok()
    }

    async fn init(&self, ctx: PluginContext) -> Result<(), PluginError> {
        let licence = match &ctx.license {
            Some(Ok(l)) => format!("licensed to {:?}, /pro is available", l.licensee),
            Some(Err(e)) => format!("no valid licence, /pro is locked: {e}"),
            None => String::new(),
        };
        let settings: Settings = ctx.settings()?;
        info!("initialised for instance {}; {licence}", ctx.instance_id);
        *self
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
        *self
            .license
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ctx.license.clone();
        let _ = self.ctx.set(ctx);
        Ok(())
    }

    async fn handle_http(&self, req: HttpRequest) -> Result<HttpResponse, PluginError> {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/greeting") => {
                let who = req.user.as_deref().unwrap_or("stranger");
                let greeting = self
                    .settings
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .greeting
                    .clone();
                Ok(HttpResponse::json(
                    200,
                    &json!({ "message": format!("{greeting}, {who}!") }),
                ))
            }
            ("GET", "/counter") => Ok(HttpResponse::json(
                200,
                &json!({ "count": self.count().await? }),
            )),
            ("POST", "/counter/increment") => {
                let _guard = self.counter.lock().await;
                let count = self.count().await? + 1;
                self.ctx()?.kv.set("counter", &count.to_string()).await?;
                info!("counter incremented to {count}");
                Ok(HttpResponse::json(200, &json!({ "count": count })))
            }
            ("POST", "/counter/reset") => {
                let _guard = self.counter.lock().await;
                self.ctx()?.kv.delete("counter").await?;
                info!("counter reset");
                Ok(HttpResponse::json(200, &json!({ "count": 0 })))
            }
            // Licensed: only with a valid key from the (demo) vendor that unlocks "pro".
            ("GET", "/pro") => {
                let license = self.pro_license()?;
                Ok(HttpResponse::json(
                    200,
                    &json!({
                        "message": format!("Pro features unlocked for {}", license.licensee),
                        "licensee": license.licensee,
                        "expires_at": license.expires_at,
                        "features": license.features,
                    }),
                ))
            }
            // Shows exactly what the plugin received, e.g. to check what the daemon forwards.
            (_, path) if path == "/echo" || path.starts_with("/echo/") => Ok(HttpResponse::json(
                200,
                &json!({
                    "method": req.method,
                    "path": req.path,
                    "query": req.query,
                    "headers": req.headers,
                    "body": toru_plugin_api::protocol::encode_body(&req.body),
                    "user": req.user,
                }),
            )),
            _ => Ok(HttpResponse::not_found()),
        }
    }

    fn frontend_bundle(&self) -> Option<&'static [u8]> {
        Some(FRONTEND_BUNDLE)
    }
}
