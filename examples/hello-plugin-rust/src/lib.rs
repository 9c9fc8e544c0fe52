//! hello-rust: the smallest useful Toru plugin — a greeting and a counter kept in the plugin's
//! key-value store, so it survives plugin and daemon restarts.

use std::sync::OnceLock;

use serde_json::json;
use toru_plugin_api::{
    HttpRequest, HttpResponse, PROTOCOL_VERSION, PluginContext, PluginError, PluginMetadata,
    ToruPlugin, info,
};

/// The plugin's state: only the context, which holds the KV handle.
#[derive(Default)]
pub struct Hello {
    ctx: OnceLock<PluginContext>,
}

impl Hello {
    fn ctx(&self) -> Result<&PluginContext, PluginError> {
        self.ctx.get().ok_or(PluginError::Disconnected)
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
            description: "A greeting and a counter stored in the plugin's KV store".into(),
        }
    }

    async fn init(&self, ctx: PluginContext) -> Result<(), PluginError> {
        info!("initialised for instance {}", ctx.instance_id);
        let _ = self.ctx.set(ctx);
        Ok(())
    }

    async fn handle_http(&self, req: HttpRequest) -> Result<HttpResponse, PluginError> {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/greeting") => {
                let who = req.user.as_deref().unwrap_or("stranger");
                Ok(HttpResponse::json(
                    200,
                    &json!({ "message": format!("Hello, {who}!") }),
                ))
            }
            ("GET", "/counter") => Ok(HttpResponse::json(
                200,
                &json!({ "count": self.count().await? }),
            )),
            ("POST", "/counter/increment") => {
                let count = self.count().await? + 1;
                self.ctx()?.kv.set("counter", &count.to_string()).await?;
                info!("counter incremented to {count}");
                Ok(HttpResponse::json(200, &json!({ "count": count })))
            }
            ("POST", "/counter/reset") => {
                self.ctx()?.kv.delete("counter").await?;
                info!("counter reset");
                Ok(HttpResponse::json(200, &json!({ "count": 0 })))
            }
            _ => Ok(HttpResponse::not_found()),
        }
    }
}
