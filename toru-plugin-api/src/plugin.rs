//! What a plugin author implements ([`ToruPlugin`]) and what the runner hands them
//! ([`PluginContext`], [`Kv`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::protocol::{
    Body, ErrorPayload, HttpRequest, HttpResponse, KvOp, KvResult, Message, PluginMetadata,
};

/// A Toru plugin. Only [`metadata`](Self::metadata) and [`handle_http`](Self::handle_http) are
/// required; everything else has a default so new protocol features don't break old plugins.
///
/// The runner calls `handle_http` concurrently, once per request, so state lives behind `&self`
/// (atomics, mutexes, or the [`Kv`] store).
pub trait ToruPlugin: Send + Sync + 'static {
    /// Who the plugin is. Printed for `--metadata`; must be the same on every call.
    fn metadata(&self) -> PluginMetadata;

    /// Called on every `lifecycle.init` — once per daemon connection, so again after the daemon
    /// restarts and reconnects. Keep the context if you need the KV store: the handle in it stays
    /// valid across reconnections. An error refuses the connection's init.
    fn init(&self, ctx: PluginContext) -> impl Future<Output = Result<(), PluginError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Answers one HTTP request for the plugin's routes. An `Err` becomes a JSON error response
    /// with the status of [`PluginError::status`].
    fn handle_http(
        &self,
        req: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, PluginError>> + Send;

    /// The plugin's dashboard view: one ES module exporting `mount(container, api)` and
    /// `unmount(container)`, usually embedded with `include_bytes!`. The runner serves it for
    /// the daemon's `GET /_toru/bundle.js`; `None` means the plugin has no view.
    fn frontend_bundle(&self) -> Option<&'static [u8]> {
        None
    }

    /// The vendor's verifying key for licence keys (cargo feature `license`). When it returns
    /// `Some`, the runner verifies the installed key at every `lifecycle.init`, reports the
    /// verdict to the daemon in `lifecycle.ready` (so `toructl plugin show` and the dashboard
    /// show it), and hands it to [`init`](Self::init) in [`PluginContext::license`].
    #[cfg(feature = "license")]
    fn license_verifier(&self) -> Option<crate::license::VerifyingKey> {
        None
    }

    /// Called once before the process exits, after in-flight requests finished (or timed out).
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What the daemon told the plugin in `lifecycle.init`, plus the KV handle.
#[derive(Debug, Clone)]
pub struct PluginContext {
    /// The Toru installation's stable id (a UUID string).
    pub instance_id: String,
    /// The id the daemon knows this plugin by.
    pub plugin_id: String,
    /// The administrator's settings, validated against the plugin's declared
    /// [`settings`](crate::PluginMetadata::settings) with defaults filled in; an empty map when
    /// it declares none. Read it with [`Self::settings`] or the typed getters.
    pub config: BTreeMap<String, serde_json::Value>,
    /// The licence key the administrator installed for this plugin, unverified; `None` when
    /// there is none. Check it with `verify_license` (cargo feature `license`).
    pub license_key: Option<String>,
    /// The plugin's private key-value store, kept by the daemon.
    pub kv: Kv,
    /// The runner's verdict on [`Self::license_key`], made at this init with
    /// [`ToruPlugin::license_verifier`]; `None` when the plugin has no verifier. Use
    /// [`Self::require_license`] in handlers.
    #[cfg(feature = "license")]
    pub license: Option<Result<crate::license::License, crate::license::LicenseError>>,
}

impl PluginContext {
    /// The settings as the plugin's own type, e.g. a `#[derive(Deserialize)] struct Settings`
    /// whose fields are the declared properties. The daemon validated the values against the
    /// schema, so this fails only when the type and the declaration disagree.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, PluginError> {
        let object = serde_json::Value::Object(self.config.clone().into_iter().collect());
        serde_json::from_value(object)
            .map_err(|e| PluginError::Internal(format!("settings do not match their type: {e}")))
    }

    /// The string setting `name`, if it has a value (set or a default) and is a string.
    pub fn setting_str(&self, name: &str) -> Option<&str> {
        self.config.get(name)?.as_str()
    }

    /// The integer setting `name`, if it has a value and is an integer.
    pub fn setting_i64(&self, name: &str) -> Option<i64> {
        self.config.get(name)?.as_i64()
    }

    /// The number setting `name`, if it has a value and is a number.
    pub fn setting_f64(&self, name: &str) -> Option<f64> {
        self.config.get(name)?.as_f64()
    }

    /// The boolean setting `name`, if it has a value and is a boolean.
    pub fn setting_bool(&self, name: &str) -> Option<bool> {
        self.config.get(name)?.as_bool()
    }
}

#[cfg(feature = "license")]
impl PluginContext {
    /// The verified licence, still unexpired now, or the error a route should answer with:
    /// 402 when no key is installed, 403 when it is invalid or has expired since init.
    pub fn require_license(&self) -> Result<&crate::license::License, PluginError> {
        match &self.license {
            Some(Ok(license)) => {
                license.check_expiry(std::time::SystemTime::now())?;
                Ok(license)
            }
            Some(Err(e)) => Err(e.clone().into()),
            None => Err(PluginError::Internal(
                "this plugin checks no licences: it has no license_verifier".into(),
            )),
        }
    }

    /// Verifies [`Self::license_key`] for `plugin_id` (this plugin's own id) and this context's
    /// instance id, at the current time; see [`crate::license::verify`]. No key at all is
    /// [`LicenseError::Missing`](crate::license::LicenseError::Missing).
    ///
    /// Call it from [`ToruPlugin::init`], which runs again on every daemon connection, so a key
    /// the administrator changed is picked up then.
    pub fn verify_license(
        &self,
        plugin_id: &str,
        verifier: &crate::license::VerifyingKey,
    ) -> Result<crate::license::License, crate::license::LicenseError> {
        let key = self
            .license_key
            .as_deref()
            .ok_or(crate::license::LicenseError::Missing)?;
        crate::license::verify(
            key,
            verifier,
            plugin_id,
            &self.instance_id,
            std::time::SystemTime::now(),
        )
    }
}

/// Errors a plugin's handlers and the SDK report.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The request was wrong; answered with 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The thing asked for does not exist; answered with 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// A request body or value was not the expected JSON; answered with 400.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The daemon refused or failed a KV operation.
    #[error("kv operation failed: {0}")]
    Kv(String),
    /// There is no daemon connection right now (it is restarting); answered with 503.
    #[error("not connected to the daemon")]
    Disconnected,
    /// The daemon did not answer in time; answered with 504.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// Anything else; answered with 500.
    #[error("{0}")]
    Internal(String),
    /// What was asked for needs a valid licence and there is none; answered with 402 when no
    /// key is installed (`kind` is `missing`), else 403. `kind` is a failure kind of
    /// `docs/licensing.md`.
    #[error("{message}")]
    Unlicensed {
        /// The licence failure kind, e.g. `wrong_instance`.
        kind: String,
        /// What the admin can do about it.
        message: String,
    },
}

#[cfg(feature = "license")]
impl From<crate::license::LicenseError> for PluginError {
    fn from(e: crate::license::LicenseError) -> Self {
        PluginError::Unlicensed {
            kind: e.kind().as_str().to_owned(),
            message: e.to_string(),
        }
    }
}

impl PluginError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            PluginError::BadRequest(_) | PluginError::Json(_) => 400,
            PluginError::NotFound(_) => 404,
            PluginError::Disconnected => 503,
            PluginError::Timeout(_) => 504,
            PluginError::Kv(_) | PluginError::Internal(_) => 500,
            PluginError::Unlicensed { kind, .. } if kind == "missing" => 402,
            PluginError::Unlicensed { .. } => 403,
        }
    }

    /// The JSON error response for this error, in the daemon's `{"error":{code,message}}` shape.
    pub fn to_response(&self) -> HttpResponse {
        let code = match self {
            PluginError::BadRequest(_) | PluginError::Json(_) => "bad_request",
            PluginError::NotFound(_) => "not_found",
            PluginError::Kv(_) => "kv_failed",
            PluginError::Disconnected => "unavailable",
            PluginError::Timeout(_) => "timeout",
            PluginError::Internal(_) => "internal",
            PluginError::Unlicensed { kind, message } => {
                return HttpResponse::json(self.status(), &license_error_body(kind, message));
            }
        };
        HttpResponse::json(
            self.status(),
            &serde_json::json!({"error": {"code": code, "message": self.to_string()}}),
        )
    }
}

/// The JSON body of a licence refusal, the same whether the plugin or (for a
/// `license_required` plugin) the daemon refuses: `code` is `license_missing` or
/// `license_invalid`, `kind` the failure kind of `docs/licensing.md`.
pub fn license_error_body(kind: &str, message: &str) -> serde_json::Value {
    let code = if kind == "missing" {
        "license_missing"
    } else {
        "license_invalid"
    };
    serde_json::json!({"error": {"code": code, "kind": kind, "message": message}})
}

/// How long a KV call waits for the daemon before giving up.
const KV_TIMEOUT: Duration = Duration::from_secs(10);

/// The plugin's key-value store. Every call is a `kv.request` to the daemon, which keeps the
/// data in its database, scoped to this plugin. Cheap to clone.
#[derive(Clone, Default)]
pub struct Kv {
    link: Arc<Link>,
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv").finish_non_exhaustive()
    }
}

impl Kv {
    /// The value of `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<String>, PluginError> {
        match self.call(KvOp::Get { key: key.into() }).await? {
            KvResult::Get { value } => Ok(value),
            other => Err(unexpected(&other)),
        }
    }

    /// Stores `value` under `key`; returns once the daemon has made it durable.
    pub async fn set(&self, key: &str, value: &str) -> Result<(), PluginError> {
        let op = KvOp::Set {
            key: key.into(),
            value: value.into(),
        };
        match self.call(op).await? {
            KvResult::Set => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Removes `key`; true when it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, PluginError> {
        match self.call(KvOp::Delete { key: key.into() }).await? {
            KvResult::Delete { existed } => Ok(existed),
            other => Err(unexpected(&other)),
        }
    }

    /// The keys starting with `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, PluginError> {
        let op = KvOp::List {
            prefix: prefix.into(),
        };
        match self.call(op).await? {
            KvResult::List { keys } => Ok(keys),
            other => Err(unexpected(&other)),
        }
    }

    async fn call(&self, op: KvOp) -> Result<KvResult, PluginError> {
        let conn = self.link.current().ok_or(PluginError::Disconnected)?;
        let request_id = format!("p-{}", self.link.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        conn.pending_insert(request_id.clone(), tx);
        let sent = conn
            .outbound
            .send(Message::new(request_id.clone(), Body::KvRequest(op)))
            .await;
        if sent.is_err() {
            conn.pending_take(&request_id);
            return Err(PluginError::Disconnected);
        }
        match tokio::time::timeout(KV_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PluginError::Disconnected),
            Err(_) => {
                conn.pending_take(&request_id);
                Err(PluginError::Timeout("a kv.response"))
            }
        }
    }

    /// The runner's side of the handle.
    pub(crate) fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

fn unexpected(result: &KvResult) -> PluginError {
    PluginError::Kv(format!(
        "daemon answered with the wrong kind of result: {result:?}"
    ))
}

/// Routes KV calls to whichever daemon connection is current; survives reconnections.
#[derive(Default)]
pub(crate) struct Link {
    current: Mutex<Option<Arc<ConnectionLink>>>,
    next_id: AtomicU64,
}

impl Link {
    fn current(&self) -> Option<Arc<ConnectionLink>> {
        lock(&self.current).clone()
    }

    /// Makes `conn` the connection KV calls go to.
    pub(crate) fn attach(&self, conn: Arc<ConnectionLink>) {
        *lock(&self.current) = Some(conn);
    }

    /// Forgets `conn` if it is still the current one.
    pub(crate) fn detach(&self, conn: &Arc<ConnectionLink>) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *current = None;
        }
    }
}

/// A KV waiter: the task that sent a `kv.request`, waiting for its answer.
type Waiter = oneshot::Sender<Result<KvResult, PluginError>>;

/// One daemon connection as the KV handle sees it: where to send, who waits for what.
pub(crate) struct ConnectionLink {
    pub(crate) outbound: mpsc::Sender<Message>,
    pending: Mutex<HashMap<String, Waiter>>,
}

impl ConnectionLink {
    pub(crate) fn new(outbound: mpsc::Sender<Message>) -> Self {
        Self {
            outbound,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn pending_insert(&self, id: String, waiter: Waiter) {
        lock(&self.pending).insert(id, waiter);
    }

    fn pending_take(&self, id: &str) -> Option<Waiter> {
        lock(&self.pending).remove(id)
    }

    /// Hands a `kv.response` or `error` to the call waiting for it. False when nobody waits
    /// (the call timed out, or the daemon answered an id it was never sent).
    pub(crate) fn resolve(&self, id: &str, outcome: Result<KvResult, ErrorPayload>) -> bool {
        match self.pending_take(id) {
            Some(waiter) => {
                let _ = waiter.send(outcome.map_err(|e| PluginError::Kv(e.message)));
                true
            }
            None => false,
        }
    }

    /// Fails every outstanding call at once: the connection is gone.
    pub(crate) fn fail_all(&self) {
        for (_, waiter) in lock(&self.pending).drain() {
            let _ = waiter.send(Err(PluginError::Disconnected));
        }
    }
}

/// Locks a mutex, ignoring poisoning: the guarded maps stay consistent even if a holder panicked
/// because every critical section is a single insert, remove or swap.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
