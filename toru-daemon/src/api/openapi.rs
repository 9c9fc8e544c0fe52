//! The OpenAPI 3.1 document of the admin API, served at `GET /api/openapi.json`: the schemas
//! come from the `toru-api` types (utoipa's `ToSchema`), the operations from one
//! `#[utoipa::path]` per route below, each with its success answer and, per error status, the
//! [`ErrorCode`]s it can send (the `code` of that response's schema is an enum of exactly
//! those). The tests hold the document to the route table
//! ([`super::documented_routes`]): every row is in it and nothing else.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use toru_api::*;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, RefOr, ResponseBuilder, Type, response::Response,
};
use utoipa::{IntoResponses, Modify, OpenApi};

/// The document as served, made once.
pub fn json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_json::to_string(&ApiDoc::openapi()).expect("the OpenAPI document serialises")
    })
}

/// `GET /api/openapi.json`.
pub async fn serve() -> super::handlers::ApiResult {
    Ok(reply())
}

/// The document as a response: JSON, served from memory.
fn reply() -> warp::reply::Response {
    let mut response = warp::reply::Response::new(json().into());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Toru admin API",
        description = "The API of toru-daemon, used by the dashboard and toructl. Auth, errors \
                       and pagination are explained in docs/api.md."
    ),
    paths(
        operations::health,
        operations::openapi_json,
        operations::login,
        operations::logout,
        operations::me,
        operations::change_password,
        operations::status,
        operations::list_plugins,
        operations::plugin_details,
        operations::enable,
        operations::restart,
        operations::disable,
        operations::install,
        operations::rollback,
        operations::uninstall,
        operations::set_license,
        operations::clear_license,
        operations::get_settings,
        operations::set_settings,
        operations::plugin_usage,
        operations::get_limits,
        operations::set_limits,
        operations::bundle,
        operations::forward,
        operations::kv_list,
        operations::kv_get,
        operations::kv_set,
        operations::kv_delete,
        operations::log_page,
        operations::log_follow,
        operations::events,
        operations::events_follow,
        operations::discovery_failures,
        operations::rescan,
        operations::plugin_backup,
        operations::plugin_restore,
        operations::backup,
        operations::restore,
        operations::list_users,
        operations::create_user,
        operations::delete_user,
        operations::set_password,
        operations::set_role,
        operations::disable_user,
        operations::enable_user,
        operations::metrics,
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "daemon", description = "The daemon itself"),
        (name = "auth", description = "Sessions"),
        (name = "plugins", description = "Plugins, their lifecycle and licences"),
        (name = "data", description = "A plugin's key-value data, logs and events"),
        (name = "users", description = "Dashboard users"),
        (name = "backup", description = "Backups of the daemon and of one plugin's data"),
    )
)]
struct ApiDoc;

/// The ways to authenticate, named by every protected operation's `security`: a session or the
/// local socket everywhere, and the metrics token for `GET /metrics` only.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::COOKIE_NAME,
                "The session cookie `POST /api/auth/login` sets; for the dashboard and for \
                 `toructl --url`.",
            ))),
        );
        // OpenAPI has no scheme for a Unix socket's peer credentials; mutualTLS ("the
        // transport authenticates the client") is the nearest, and the description says which.
        components.add_security_scheme(
            "local_socket",
            SecurityScheme::MutualTls {
                description: Some(
                    "Not TLS: a request over the daemon's local Unix socket \
                     (/run/toru/toru.sock) is authenticated by the peer's credentials \
                     (SO_PEERCRED): root, the daemon's own user, or a member of group `toru`."
                        .into(),
                ),
                deprecated: None,
                extensions: None,
            },
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token in the file `metrics_token_file` names, for Prometheus;                          accepted by `GET /metrics` only.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The error responses for `codes`: one per status, whose schema is the error body with
/// `code` limited to the codes of that status, and whose description names them.
fn error_responses(codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for &code in codes {
        let same = by_status.entry(code.status()).or_default();
        if !same.contains(&code) {
            same.push(code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            let detail = ObjectBuilder::new()
                .property(
                    "code",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(names.clone())),
                )
                .required("code")
                .property("message", ObjectBuilder::new().schema_type(Type::String))
                .required("message");
            let body = ObjectBuilder::new()
                .property("error", detail)
                .required("error");
            let response = ResponseBuilder::new()
                .description(format!("`{}`", names.join("`, `")))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(body)).build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// What any route can answer: a `Host` the daemon does not answer to, a method the path
/// does not take.
const ANY_ROUTE: &[ErrorCode] = &[ErrorCode::UnknownHost, ErrorCode::MethodNotAllowed];
/// What a route that needs a caller answers without one.
const AUTHENTICATED: &[ErrorCode] = &[ErrorCode::Unauthorized, ErrorCode::Forbidden];
/// What a route for administrators answers a viewer.
const ADMIN: &[ErrorCode] = &[ErrorCode::AdminRequired];
/// What a state-changing route answers to a cross-site browser request.
const SAME_ORIGIN: &[ErrorCode] = &[ErrorCode::Forbidden];
/// What a route with a JSON body answers to a body it cannot take.
const JSON_BODY: &[ErrorCode] = &[
    ErrorCode::InvalidJson,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::PayloadTooLarge,
    ErrorCode::RequestTimeout,
];
/// What a route that asks the running plugin answers when that fails.
const PLUGIN_CALL: &[ErrorCode] = &[
    ErrorCode::NotFound,
    ErrorCode::LicenseMissing,
    ErrorCode::LicenseInvalid,
    ErrorCode::PluginError,
    ErrorCode::PluginUnavailable,
    ErrorCode::PluginTimeout,
];

/// A type per error set, for `responses(...)`: `errors!(Name: [GROUP, …], [Code, …]);`.
macro_rules! errors {
    ($($name:ident: [$($group:expr),*], [$($code:ident),*];)*) => {$(
        struct $name;
        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let groups: &[&[ErrorCode]] = &[ANY_ROUTE $(, $group)*, &[$(ErrorCode::$code),*]];
                error_responses(&groups.concat())
            }
        }
    )*};
}

errors! {
    PublicErrors: [], [];
    LoginErrors: [SAME_ORIGIN, JSON_BODY], [InvalidUsername, InvalidCredentials, AccountDisabled, RateLimited, Busy, Internal];
    LogoutErrors: [SAME_ORIGIN], [Internal];
    OwnPasswordErrors: [AUTHENTICATED, SAME_ORIGIN, JSON_BODY], [BadRequest, InvalidCredentials, Busy, Internal];
    ReadErrors: [AUTHENTICATED], [];
    StoreReadErrors: [AUTHENTICATED], [Internal];
    PluginReadErrors: [AUTHENTICATED], [NotFound, Internal];
    PluginChangeErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [NotFound, Internal];
    PluginStartErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [InvalidSettings, NotFound, Internal];
    SettingsSetErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN, JSON_BODY], [InvalidSettings, NotFound, Internal];
    LicenseSetErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN, JSON_BODY], [BadLicense, NotFound, Internal];
    LimitsSetErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN, JSON_BODY], [InvalidLimits, NotFound, Internal];
    InstallErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [BadRequest, InvalidPlugin, InstallInProgress, PayloadTooLarge, RequestTimeout, UpgradeFailed, Internal];
    RollbackErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [InvalidPlugin, NotFound, NoPreviousVersion, Internal];
    UninstallErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [BadRequest, NotFound, Internal];
    BundleErrors: [AUTHENTICATED, PLUGIN_CALL], [];
    ForwardErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN, PLUGIN_CALL], [BadPath, PayloadTooLarge, RequestTimeout];
    KvReadErrors: [AUTHENTICATED], [BadRequest, NotFound, Internal];
    KvSetErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [BadRequest, NotFound, PayloadTooLarge, RequestTimeout, KvQuotaExceeded, Internal];
    KvDeleteErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [BadRequest, NotFound, Internal];
    LogPageErrors: [AUTHENTICATED], [BadRequest, NotFound, JournalUnavailable, Internal];
    LogFollowErrors: [AUTHENTICATED], [BadRequest, NotFound];
    EventsErrors: [AUTHENTICATED], [BadRequest, Internal];
    EventFollowErrors: [AUTHENTICATED], [BadRequest, Busy, Internal];
    RescanErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [Internal];
    BackupErrors: [AUTHENTICATED, ADMIN], [Internal];
    PluginBackupErrors: [AUTHENTICATED, ADMIN], [NotFound, Internal];
    RestoreErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [InvalidBackup, PayloadTooLarge, RequestTimeout, Internal];
    PluginRestoreErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [InvalidBackup, InvalidSettings, NotFound, PayloadTooLarge, RequestTimeout, KvQuotaExceeded, Internal];
    UserCreateErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN, JSON_BODY], [BadRequest, UserExists, Busy, Internal];
    PasswordErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN, JSON_BODY], [BadRequest, NotFound, Busy, Internal];
    UserRemoveErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [BadRequest, NotFound, LastAdmin, Internal];
    UserEnableErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN], [BadRequest, NotFound, Internal];
    RoleErrors: [AUTHENTICATED, ADMIN, SAME_ORIGIN, JSON_BODY], [BadRequest, NotFound, LastAdmin, Internal];
    MetricsErrors: [AUTHENTICATED], [];
}

/// One function per operation, for `#[utoipa::path]` to document; they are never called.
mod operations {
    #![allow(dead_code)]

    use super::*;

    /// Liveness: answers while the daemon runs.
    #[utoipa::path(get, path = "/api/health", tag = "daemon",
        responses((status = 200, description = "The daemon answers", body = Health), PublicErrors))]
    fn health() {}

    /// The daemon's and every plugin's figures in the Prometheus text format (version 0.0.4):
    /// plugins by state, requests forwarded to each plugin by status class with their latency
    /// histogram and bytes, KV operations, restarts, uptime; the API's requests and
    /// connections; the process's CPU, memory and file descriptors. For a viewer, or a scraper
    /// with the metrics token (docs/operations.md, "Metrics"). Waits for the first plugin scan.
    #[utoipa::path(get, path = "/metrics", tag = "daemon",
        security(("session" = []), ("local_socket" = []), ("metrics_token" = [])),
        responses((status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4"), MetricsErrors))]
    fn metrics() {}

    /// This document.
    #[utoipa::path(get, path = "/api/openapi.json", tag = "daemon",
        responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"), PublicErrors))]
    fn openapi_json() {}

    /// Checks a password and starts a session: sets the `toru_session` cookie (HttpOnly,
    /// SameSite=Strict, 12 h). Rate limited per address and per user name.
    #[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
        responses((status = 200, description = "Who is calling", body = Me, headers(("set-cookie" = String, description = "The session cookie"))), LoginErrors))]
    fn login() {}

    /// Ends the session (if any) and clears the cookie.
    #[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
        responses((status = 204, description = "Logged out"), LogoutErrors))]
    fn logout() {}

    /// Who is calling, how they authenticated, and their role.
    #[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("session" = []), ("local_socket" = [])),
        responses((status = 200, description = "Who is calling", body = Me), ReadErrors))]
    fn me() {}

    /// Changes the caller's own password, whatever their role, given the current one. Their
    /// other sessions end; this one stays. Only for logged-in users (400 on the local socket).
    #[utoipa::path(put, path = "/api/auth/password", tag = "auth", security(("session" = [])),
        request_body = PasswordChange,
        responses((status = 204, description = "Changed"), OwnPasswordErrors))]
    fn change_password() {}

    /// Version, instance id, backend and plugin counts. Waits for the first plugin scan.
    #[utoipa::path(get, path = "/api/status", tag = "daemon", security(("session" = []), ("local_socket" = [])),
        responses((status = 200, description = "The daemon's status", body = Status), ReadErrors))]
    fn status() {}

    /// Every installed plugin with its status. Waits for the first plugin scan.
    #[utoipa::path(get, path = "/api/plugins", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        responses((status = 200, description = "Every plugin", body = Vec<Plugin>), ReadErrors))]
    fn list_plugins() {}

    /// One plugin with its unit, key-value use and 20 most recent events.
    #[utoipa::path(get, path = "/api/plugins/{id}", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin", body = PluginDetails), PluginReadErrors))]
    fn plugin_details() {}

    /// Enables the plugin and starts it. Answers at once (usually `starting`): poll the plugin
    /// until it leaves `starting`.
    #[utoipa::path(post, path = "/api/plugins/{id}/enable", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin as it is now", body = Plugin), PluginStartErrors))]
    fn enable() {}

    /// Stops the plugin and starts it again, like `systemctl restart`; a plugin that does not
    /// run is enabled and started. Answers at once (usually `starting`): poll the plugin until
    /// it leaves `starting`. Recorded as a `restarted` event.
    #[utoipa::path(post, path = "/api/plugins/{id}/restart", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin as it is now", body = Plugin), PluginStartErrors))]
    fn restart() {}

    /// Disables the plugin and stops it; it stays stopped across daemon restarts.
    #[utoipa::path(post, path = "/api/plugins/{id}/disable", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin as it is now", body = Plugin), PluginChangeErrors))]
    fn disable() {}

    /// Installs a plugin from its executable, the request body (`application/octet-stream`, at
    /// most `max_upload_bytes`, 256 MiB by default; one upload at a time), with its detached
    /// signature, if any, in the `Toru-Signature` header. The daemon runs `--metadata` on it in
    /// a staging directory with the checks of discovery, and refuses it with `invalid_plugin`
    /// (nothing changed) if it would skip it. A new id is installed disabled; an installed id
    /// is upgraded, keeping its data, settings and licence and the installed version for a
    /// rollback: a running plugin is restarted on the new version and must stay `running` and
    /// answer every ping for the health window (`upgrade_health_window_secs`, 30 s), else the
    /// previous version is put back and the answer is 422 `upgrade_failed`.
    #[utoipa::path(post, path = "/api/plugins", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("Toru-Signature" = Option<String>, Header, description = "The content of the plugin's X.binary.sig file")),
        request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The plugin executable"),
        responses((status = 200, description = "Installed or upgraded", body = InstallResult), InstallErrors))]
    fn install() {}

    /// Swaps the plugin back to its previous version (the installed one becomes the previous
    /// one), restarting it if it runs. 409 `no_previous_version` when none is kept.
    #[utoipa::path(post, path = "/api/plugins/{id}/rollback", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin as it is now", body = Plugin), RollbackErrors))]
    fn rollback() {}

    /// Stops the plugin and deletes its executable, signature and previous version. Its KV
    /// data and licence key stay for a later install of the same id, unless `purge=true`.
    #[utoipa::path(delete, path = "/api/plugins/{id}", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"), UninstallQuery),
        responses((status = 200, description = "Removed", body = Uninstalled), UninstallErrors))]
    fn uninstall() {}

    /// Installs or replaces the plugin's licence key and restarts the plugin if it runs, so it
    /// checks the new key; the verdict shows in `license` once it has.
    #[utoipa::path(put, path = "/api/plugins/{id}/license", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")), request_body = LicenseForm,
        responses((status = 200, description = "The plugin as it is now", body = Plugin), LicenseSetErrors))]
    fn set_license() {}

    /// Removes the plugin's licence key, restarting the plugin if it runs.
    #[utoipa::path(delete, path = "/api/plugins/{id}/license", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin as it is now", body = Plugin), PluginChangeErrors))]
    fn clear_license() {}

    /// The plugin's settings: each declared setting with its schema and value. A secret's value
    /// is never returned, only `{"state": "secret_set"}`.
    #[utoipa::path(get, path = "/api/plugins/{id}/config", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin's settings", body = PluginSettings), PluginReadErrors))]
    fn get_settings() {}

    /// Changes the named settings (`null` unsets one; settings not named keep their value),
    /// validated against the plugin's schema as a whole: 400 `invalid_settings` naming the
    /// setting, and nothing stored, when refused. Restarts the plugin if it runs, since a
    /// plugin reads its settings at `lifecycle.init`; recorded as `settings_changed` with the
    /// names of the changed settings, never their values.
    #[utoipa::path(put, path = "/api/plugins/{id}/config", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")), request_body = SettingsChange,
        responses((status = 200, description = "The plugin's settings as they are now", body = PluginSettings), SettingsSetErrors))]
    fn set_settings() {}

    /// What the plugin costs: memory, CPU (percent over the last sample interval and total
    /// seconds), tasks, restarts and uptime now (`null` while it does not run), and the readings
    /// of the last hour (at most 360, one per `interval_secs`) for a chart.
    #[utoipa::path(get, path = "/api/plugins/{id}/usage", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin's resource use", body = PluginUsage), PluginReadErrors))]
    fn plugin_usage() {}

    /// The plugin's resource limits: the configured defaults, its overrides and the effective
    /// limits it runs under.
    #[utoipa::path(get, path = "/api/plugins/{id}/limits", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin's limits", body = PluginLimits), PluginReadErrors))]
    fn get_limits() {}

    /// Changes the named limits (`null` removes an override, so the default applies; limits
    /// not named keep theirs), all or nothing: 400 `invalid_limits` naming the limit. Restarts
    /// the plugin if it runs, so its new process runs under them; recorded as `limits_changed`.
    #[utoipa::path(put, path = "/api/plugins/{id}/limits", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")), request_body = LimitsChange,
        responses((status = 200, description = "The plugin's limits as they are now", body = PluginLimits), LimitsSetErrors))]
    fn set_limits() {}

    /// The plugin's dashboard view, an ES module asked of the running plugin, with an ETag.
    #[utoipa::path(get, path = "/api/plugins/{id}/bundle.js", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"),
               ("if-none-match" = Option<String>, Header, description = "An ETag from an earlier answer")),
        responses((status = 200, description = "The module", content_type = "text/javascript", body = String),
                  (status = 304, description = "Unchanged since the ETag sent"),
                  BundleErrors))]
    fn bundle() {}

    /// Forwarded to the plugin as an `http.request` (`docs/protocol.md`): the answer is the
    /// plugin's own, with its status (200–599), headers (without `set-cookie` and hop-by-hop
    /// ones) and body. `{path}` is the rest of the URL, any number of segments, in one spelling
    /// (no `.`, `..`, empty or encoded-`/` segments). Bodies up to 4 MiB.
    #[utoipa::path(method(get, post, put, patch, delete), path = "/api/plugins/{id}/route/{path}", tag = "plugins",
        security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"),
               ("path" = String, Path, description = "The plugin's own path, one or more segments")),
        responses((status = 200, description = "The plugin's answer, with whatever status it chose"), ForwardErrors))]
    fn forward() {}

    /// The plugin's keys, whether or not it runs.
    #[utoipa::path(get, path = "/api/plugins/{id}/kv", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"), KvListQuery),
        responses((status = 200, description = "The keys", body = KvKeys), KvReadErrors))]
    fn kv_list() {}

    /// One key's value.
    #[utoipa::path(get, path = "/api/plugins/{id}/kv/{key}", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"),
               ("key" = String, Path, description = "The key, percent-encoded; 1–512 bytes")),
        responses((status = 200, description = "The key and its value", body = KvEntry), KvReadErrors))]
    fn kv_get() {}

    /// Sets a key, within the plugin's quota.
    #[utoipa::path(put, path = "/api/plugins/{id}/kv/{key}", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"),
               ("key" = String, Path, description = "The key, percent-encoded; 1–512 bytes")),
        request_body = KvValue,
        responses((status = 200, description = "The key and its value", body = KvEntry), KvSetErrors))]
    fn kv_set() {}

    /// Deletes a key.
    #[utoipa::path(delete, path = "/api/plugins/{id}/kv/{key}", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"),
               ("key" = String, Path, description = "The key, percent-encoded; 1–512 bytes")),
        responses((status = 204, description = "Deleted"), KvDeleteErrors))]
    fn kv_delete() {}

    /// One page of the plugin's log, newest first.
    #[utoipa::path(get, path = "/api/plugins/{id}/logs", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"), LogsQuery),
        responses((status = 200, description = "One page of entries", body = LogPage), LogPageErrors))]
    fn log_page() {}

    /// New log entries as server-sent events, each `data:` one `LogEntry`, with keep-alive
    /// comments. `page` and `page_size` are ignored.
    #[utoipa::path(get, path = "/api/plugins/{id}/logs/follow", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id"), LogsQuery),
        responses((status = 200, description = "An event stream of LogEntry", content_type = "text/event-stream", body = LogEntry),
                  LogFollowErrors))]
    fn log_follow() {}

    /// The plugin event log, newest first, of every plugin or one.
    #[utoipa::path(get, path = "/api/events", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(EventsQuery),
        responses((status = 200, description = "The events, newest first", body = Vec<Event>), EventsErrors))]
    fn events() {}

    /// Events as they are recorded, as server-sent events: `id:` the event's id, `data:` one
    /// `Event`, oldest first, with keep-alive comments. From after `after` (or the
    /// `Last-Event-ID` header of a reconnecting client), else from now. At most 64 streams
    /// at once, then 503 `busy`.
    #[utoipa::path(get, path = "/api/events/follow", tag = "data", security(("session" = []), ("local_socket" = [])),
        params(FollowEventsQuery,
               ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received; `after` wins over it")),
        responses((status = 200, description = "An event stream of Event", content_type = "text/event-stream", body = Event),
                  EventFollowErrors))]
    fn events_follow() {}

    /// One plugin's KV data, licence key and settings as a document `POST …/restore` takes
    /// back. It holds the licence key and secret settings: administrators only.
    #[utoipa::path(get, path = "/api/plugins/{id}/backup", tag = "backup", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")),
        responses((status = 200, description = "The plugin's backup", body = PluginBackup), PluginBackupErrors))]
    fn plugin_backup() {}

    /// Replaces the plugin's KV data, licence key and settings with a backup's, in one
    /// transaction, and re-initialises the plugin if it runs. A backup of another plugin, kind
    /// or format version, or settings the plugin's schema refuses, change nothing.
    #[utoipa::path(post, path = "/api/plugins/{id}/restore", tag = "backup", security(("session" = []), ("local_socket" = [])),
        params(("id" = String, Path, description = "The plugin's id")), request_body = PluginBackup,
        responses((status = 200, description = "What was restored", body = PluginRestored), PluginRestoreErrors))]
    fn plugin_restore() {}

    /// The whole daemon's backup: a tar archive of `toru-backup.json` (a `BackupManifest`),
    /// `toru.db` (a consistent copy of the database, taken while the daemon runs),
    /// `enabled.json` and, if the daemon read one, `toru.toml`.
    #[utoipa::path(get, path = "/api/backup", tag = "backup", security(("session" = []), ("local_socket" = [])),
        responses((status = 200, description = "The backup archive", content_type = "application/x-tar"), BackupErrors))]
    fn backup() {}

    /// Checks a backup archive in full and stages it; the daemon then stops (exit status 75,
    /// which its systemd unit restarts at once) and loads it as it starts. The database it
    /// replaced is kept in `before-restore/` in the data directory.
    #[utoipa::path(post, path = "/api/restore", tag = "backup", security(("session" = []), ("local_socket" = [])),
        request_body(content_type = "application/x-tar", description = "A backup archive from GET /api/backup"),
        responses((status = 202, description = "Staged; the daemon restarts to load it", body = RestoreStaged), RestoreErrors))]
    fn restore() {}

    /// The `*.binary` files that are not plugins, and why. Waits for the first plugin scan.
    #[utoipa::path(get, path = "/api/discovery-failures", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        responses((status = 200, description = "The skipped files", body = Vec<DiscoveryFailure>), ReadErrors))]
    fn discovery_failures() {}

    /// Looks for newly installed plugins; answers with every plugin.
    #[utoipa::path(post, path = "/api/rescan", tag = "plugins", security(("session" = []), ("local_socket" = [])),
        responses((status = 200, description = "Every plugin", body = Vec<Plugin>), RescanErrors))]
    fn rescan() {}

    /// Every dashboard user.
    #[utoipa::path(get, path = "/api/users", tag = "users", security(("session" = []), ("local_socket" = [])),
        responses((status = 200, description = "Every user", body = Vec<User>), StoreReadErrors))]
    fn list_users() {}

    /// Makes a user; an administrator unless `role` says `viewer`.
    #[utoipa::path(post, path = "/api/users", tag = "users", security(("session" = []), ("local_socket" = [])),
        request_body = NewUser,
        responses((status = 201, description = "The new user", body = User), UserCreateErrors))]
    fn create_user() {}

    /// Deletes a user; their sessions end at once. Not the last enabled administrator.
    #[utoipa::path(delete, path = "/api/users/{name}", tag = "users", security(("session" = []), ("local_socket" = [])),
        params(("name" = String, Path, description = "The user name")),
        responses((status = 204, description = "Deleted"), UserRemoveErrors))]
    fn delete_user() {}

    /// Sets a user's password and ends their sessions.
    #[utoipa::path(put, path = "/api/users/{name}/password", tag = "users", security(("session" = []), ("local_socket" = [])),
        params(("name" = String, Path, description = "The user name")), request_body = NewPassword,
        responses((status = 204, description = "Changed"), PasswordErrors))]
    fn set_password() {}

    /// Changes a user's role, from their next request on; their sessions stay. The last
    /// enabled administrator cannot become a viewer.
    #[utoipa::path(put, path = "/api/users/{name}/role", tag = "users", security(("session" = []), ("local_socket" = [])),
        params(("name" = String, Path, description = "The user name")), request_body = NewRole,
        responses((status = 200, description = "The user as they are now", body = User), RoleErrors))]
    fn set_role() {}

    /// Disables a user: they cannot log in, and their sessions end at once. Not the last
    /// enabled administrator.
    #[utoipa::path(post, path = "/api/users/{name}/disable", tag = "users", security(("session" = []), ("local_socket" = [])),
        params(("name" = String, Path, description = "The user name")),
        responses((status = 200, description = "The user as they are now", body = User), UserRemoveErrors))]
    fn disable_user() {}

    /// Enables a disabled user again.
    #[utoipa::path(post, path = "/api/users/{name}/enable", tag = "users", security(("session" = []), ("local_socket" = [])),
        params(("name" = String, Path, description = "The user name")),
        responses((status = 200, description = "The user as they are now", body = User), UserEnableErrors))]
    fn enable_user() {}
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::from_str(json()).unwrap()
    }

    /// Every `(method, path)` the document has an operation for.
    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if http::Method::from_bytes(method.to_uppercase().as_bytes()).is_ok()
                    && method != "parameters"
                {
                    found.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        found
    }

    /// The error codes a response lists, from the enum of its schema's `error.code`.
    fn codes_of(response: &Value) -> Vec<String> {
        response["content"]["application/json"]["schema"]["properties"]["error"]["properties"]
            ["code"]["enum"]
            .as_array()
            .map(|codes| {
                codes
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_document_is_openapi_3_1_with_both_ways_to_authenticate() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["session"]["in"], "cookie");
        assert_eq!(schemes["session"]["name"], "toru_session");
        assert_eq!(schemes["local_socket"]["type"], "mutualTLS");
    }

    #[test]
    fn every_route_of_the_router_and_no_other_is_in_the_document() {
        let listed: BTreeSet<(String, String)> = crate::api::documented_routes()
            .into_iter()
            .map(|(method, path)| (method.to_string(), path.to_owned()))
            .collect();
        assert_eq!(
            listed.len(),
            crate::api::documented_routes().len(),
            "a route is listed twice"
        );
        assert_eq!(operations(&document()), listed);
    }

    #[test]
    fn every_operation_has_a_success_and_only_error_codes_of_each_errors_status() {
        let doc = document();
        for (method, path) in operations(&doc) {
            let operation = &doc["paths"][&path][method.to_lowercase()];
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success answer"
            );
            for (status, response) in responses {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
                let status: u16 = status.parse().unwrap();
                if status < 400 {
                    continue;
                }
                let codes = codes_of(response);
                assert!(!codes.is_empty(), "{method} {path} {status} lists no code");
                for code in codes {
                    let code: ErrorCode = serde_json::from_value(Value::from(code)).unwrap();
                    assert_eq!(code.status(), status, "{method} {path}: {code}");
                }
            }
            // A protected route says so, and answers 401 without a caller.
            let protected = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            let public = [
                "/api/health",
                "/api/openapi.json",
                "/api/auth/login",
                "/api/auth/logout",
            ];
            assert_eq!(
                protected,
                !public.contains(&path.as_str()),
                "{method} {path}"
            );
            if protected {
                assert!(
                    codes_of(&responses["401"]).contains(&"unauthorized".to_owned()),
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn every_route_for_administrators_and_no_read_lists_admin_required() {
        let doc = document();
        for route in crate::api::table() {
            for method in route.methods() {
                let operation = &doc["paths"][route.path][method.as_str().to_lowercase()];
                let refuses_viewers =
                    codes_of(&operation["responses"]["403"]).contains(&"admin_required".to_owned());
                match route.policy.auth.required_role(&method) {
                    Some(Role::Admin) => {
                        assert!(refuses_viewers, "{method} {}", route.path);
                    }
                    // The forwarded route's one operation covers every method: it lists the
                    // code for the methods that need an administrator.
                    _ if route.method.is_none() => {}
                    _ => assert!(!refuses_viewers, "{method} {}", route.path),
                }
            }
        }
    }

    #[test]
    fn every_error_code_is_sent_by_some_route_and_is_in_the_code_schema() {
        let doc = document();
        let mut sent = BTreeSet::new();
        for (method, path) in operations(&doc) {
            let operation = &doc["paths"][&path][method.to_lowercase()];
            for response in operation["responses"].as_object().unwrap().values() {
                sent.extend(codes_of(response));
            }
        }
        let schema: BTreeSet<String> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        for code in ErrorCode::ALL {
            assert!(sent.contains(code.as_str()), "no route sends {code}");
            assert!(
                schema.contains(code.as_str()),
                "{code} is not in the schema"
            );
        }
        assert_eq!(schema.len(), ErrorCode::ALL.len());
    }
}
