//! The HTTP API, served on TCP and on a local Unix socket. `table` is the one place that lists
//! every route, one row each: method, path, who may call it, what body it reads, handler.
//! [`documented_routes`] reads the same table.
//!
//! Every request takes the same way (ARCHITECTURE.md, "The life of one request"): `server.rs`
//! accepts it and refuses an unknown `Host`; then either warp matches a row ([`filters`]) or,
//! for `/api/plugins/{id}/route/{path}`, the fast path takes it ([`handlers::forward`]); both
//! run the [`pipeline`] — the cross-site rule for every method but GET, HEAD and OPTIONS, the
//! caller where the row asks for one (a session cookie, or a Unix-socket peer that is root,
//! the daemon's user, or in group `toru`) and their role (`Viewer` rows are reads any caller
//! may make, `Admin` rows change something), the body the row allows — and then the handler,
//! whose parameters are taken from the request by type ([`extract`]). Errors become responses
//! in [`error`]. Paths under `/api/` that no row matches are JSON 404s; every other GET is
//! the dashboard ([`web`]), with a fallback to `index.html`. Every document served carries a
//! Content-Security-Policy from [`csp`].

pub mod activation;
pub mod csp;
pub mod error;
pub mod extract;
pub mod filters;
pub mod handlers;
pub mod listeners;
pub mod openapi;
pub mod origin;
pub mod pipeline;
pub mod server;
pub mod sse;
pub mod upload;
pub mod web;
pub mod wire;

use std::path::Path;
use std::sync::Arc;

use http::Method;
use warp::Filter;

use crate::auth::rate_limit::LoginLimiter;
use crate::plugins::PluginManager;
use crate::store::Store;
use extract::Handler;
use filters::BoxedRoute;
use handlers::{
    auth, backup, events, forward, install, kv, license, logs, metrics, plugins, settings, status,
    usage, users,
};
use pipeline::{Auth, Body, Policy};

/// Largest JSON body accepted by the API's own routes.
const MAX_JSON_BODY: usize = 64 * 1024;

/// The body of the API's own JSON routes.
const JSON: Body = Body::Json(MAX_JSON_BODY);

/// The body of `PUT …/kv/{key}`: `{"value": …}` with a value of up to `MAX_KV_VALUE` bytes,
/// JSON-escaped.
const KV_BODY: Body = Body::Bytes(crate::plugins::connection::MAX_KV_VALUE * 2);

/// The body of `POST /api/restore`: a whole backup archive.
const BACKUP: Body = Body::Bytes(crate::backup::MAX_RESTORE_BYTES);

/// The body of `POST /api/plugins/{id}/restore`: a plugin's backup, its KV data JSON-escaped
/// (twice the default quota, enough for any value's escaping).
const PLUGIN_BACKUP: Body = Body::Bytes(2 * crate::store::DEFAULT_KV_QUOTA as usize + 64 * 1024);

/// No body.
const NO_BODY: Body = Body::None;

/// An uploaded plugin binary, streamed to the staging directory (`api/upload.rs`).
const UPLOAD: Body = Body::Upload;

/// What every handler can reach. Cheap to clone: filters clone it for every request, so every
/// field is a handle (paths are `Arc<Path>`, not `PathBuf`).
#[derive(Clone)]
pub struct ApiState {
    /// Whole backups and restores.
    pub backups: Arc<crate::backup::Backups>,
    /// Plugins and their supervisors.
    pub plugins: PluginManager,
    /// The database.
    pub store: Store,
    /// Login rate limits.
    pub limiter: Arc<LoginLimiter>,
    /// Where the embedded backend writes plugin logs (`<log dir>/plugins`).
    pub plugin_log_dir: Arc<Path>,
    /// The dashboard's built files, if any.
    pub web_root: Option<Arc<Path>>,
    /// The TLS listener's address and certificate fingerprint, for `GET /api/status`; `None`
    /// without one.
    pub tls: Option<Arc<toru_api::TlsListener>>,
    /// Where plugin uploads are staged, how large they may be, and the one-at-a-time permit.
    pub uploads: Arc<upload::Uploads>,
    /// The streams of `GET /api/events/follow`: how many may be open, and when they end.
    pub event_streams: Arc<events::EventStreams>,
    /// The daemon's own figures for `GET /metrics`, which `server.rs` counts into.
    pub metrics: Arc<crate::metrics::DaemonMetrics>,
    /// The bearer token scrapers may read `GET /metrics` with (`metrics_token_file`); `None`:
    /// only sessions and the local socket may.
    pub metrics_token: Option<Arc<crate::metrics::MetricsToken>>,
}

/// Every route of the API, one row each: method, path (OpenAPI syntax), who may call it, what
/// body it reads, and its handler. The cross-site rule follows from the method (see
/// [`pipeline`]). The one row without a handler is served outside warp.
#[rustfmt::skip] // A table: one row a route, columns aligned.
fn table() -> Vec<Route> {
    use Auth::{Admin, Anyone, Viewer, ViewerOrScraper};
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    const PUT: Method = Method::PUT;
    const DELETE: Method = Method::DELETE;
    vec![
        route(GET,    "/api/health",                   Anyone, NO_BODY, status::health),
        route(GET,    "/api/openapi.json",             Anyone, NO_BODY, openapi::serve),
        route(POST,   "/api/auth/login",               Anyone, JSON,    auth::login),
        route(POST,   "/api/auth/logout",              Anyone, NO_BODY, auth::logout),
        route(GET,    "/api/auth/me",                  Viewer, NO_BODY, auth::me),
        route(PUT,    "/api/auth/password",            Viewer, JSON,    auth::change_password),
        route(GET,    "/api/status",                   Viewer, NO_BODY, status::status),
        route(GET,    "/api/plugins",                  Viewer, NO_BODY, plugins::list),
        route(GET,    "/api/plugins/{id}",             Viewer, NO_BODY, plugins::get),
        route(POST,   "/api/plugins/{id}/enable",      Admin,  NO_BODY, plugins::enable),
        route(POST,   "/api/plugins/{id}/disable",     Admin,  NO_BODY, plugins::disable),
        route(POST,   "/api/plugins/{id}/restart",     Admin,  NO_BODY, plugins::restart),
        route(POST,   "/api/plugins",                  Admin,  UPLOAD,  install::install),
        route(POST,   "/api/plugins/{id}/rollback",    Admin,  NO_BODY, install::rollback),
        route(DELETE, "/api/plugins/{id}",             Admin,  NO_BODY, install::uninstall),
        route(PUT,    "/api/plugins/{id}/license",     Admin,  JSON,    license::set),
        route(DELETE, "/api/plugins/{id}/license",     Admin,  NO_BODY, license::clear),
        route(GET,    "/api/plugins/{id}/config",      Viewer, NO_BODY, settings::get),
        route(PUT,    "/api/plugins/{id}/config",      Admin,  JSON,    settings::set),
        route(GET,    "/api/plugins/{id}/usage",       Viewer, NO_BODY, usage::usage),
        route(GET,    "/api/plugins/{id}/limits",      Viewer, NO_BODY, usage::limits),
        route(PUT,    "/api/plugins/{id}/limits",      Admin,  JSON,    usage::set_limits),
        route(GET,    "/api/plugins/{id}/bundle.js",   Viewer, NO_BODY, plugins::bundle),
        forwarded(    "/api/plugins/{id}/route/{path}", forward::POLICY), // any method
        route(GET,    "/api/plugins/{id}/kv",          Viewer, NO_BODY, kv::list),
        route(GET,    "/api/plugins/{id}/kv/{key}",    Viewer, NO_BODY, kv::get),
        route(PUT,    "/api/plugins/{id}/kv/{key}",    Admin,  KV_BODY, kv::set),
        route(DELETE, "/api/plugins/{id}/kv/{key}",    Admin,  NO_BODY, kv::delete),
        route(GET,    "/api/plugins/{id}/backup",      Admin,  NO_BODY, backup::plugin),
        route(POST,   "/api/plugins/{id}/restore",     Admin,  PLUGIN_BACKUP, backup::plugin_restore),
        route(GET,    "/api/plugins/{id}/logs",        Viewer, NO_BODY, logs::page),
        route(GET,    "/api/plugins/{id}/logs/follow", Viewer, NO_BODY, logs::follow),
        route(GET,    "/api/events",                   Viewer, NO_BODY, events::list),
        route(GET,    "/api/events/follow",            Viewer, NO_BODY, events::follow),
        route(GET,    "/api/discovery-failures",       Viewer, NO_BODY, plugins::discovery_failures),
        route(GET,    "/api/backup",                   Admin,  NO_BODY, backup::whole),
        route(POST,   "/api/restore",                  Admin,  BACKUP,  backup::restore),
        route(POST,   "/api/rescan",                   Admin,  NO_BODY, plugins::rescan),
        route(GET,    "/api/users",                    Viewer, NO_BODY, users::list),
        route(POST,   "/api/users",                    Admin,  JSON,    users::create),
        route(DELETE, "/api/users/{name}",             Admin,  NO_BODY, users::delete),
        route(PUT,    "/api/users/{name}/password",    Admin,  JSON,    users::set_password),
        route(PUT,    "/api/users/{name}/role",        Admin,  JSON,    users::set_role),
        route(POST,   "/api/users/{name}/disable",     Admin,  NO_BODY, users::disable),
        route(POST,   "/api/users/{name}/enable",      Admin,  NO_BODY, users::enable),
        route(GET,    "/metrics",                      ViewerOrScraper, NO_BODY, metrics::scrape),
    ]
}

/// The methods documented for the forwarded route, which passes any method to the plugin.
const FORWARDED_METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// One row of [`table`].
struct Route {
    /// The method; `None` for the forwarded route, which takes any.
    method: Option<Method>,
    /// The path in OpenAPI syntax.
    path: &'static str,
    /// What the pipeline checks before the handler runs.
    policy: Policy,
    /// How the row is served.
    serve: Serve,
}

/// How a row of the route table is served.
enum Serve {
    /// By warp, with the filter this builds from the state and the row's policy.
    Warp(Box<dyn FnOnce(ApiState, Policy) -> BoxedRoute>),
    /// By `server.rs` straight from hyper ([`handlers::forward`]), the hot path, applying the
    /// row's policy with the same pipeline functions.
    Forwarded,
}

/// A row served by warp.
fn route<H, Args>(method: Method, path: &'static str, auth: Auth, body: Body, handler: H) -> Route
where
    H: Handler<Args>,
    Args: 'static,
{
    let policy = Policy { auth, body };
    H::NEEDS.check(path, policy, filters::PathPattern::parse(path).params());
    Route {
        method: Some(method.clone()),
        path,
        policy,
        serve: Serve::Warp(Box::new(move |state, policy| {
            filters::route(state, method, path, policy, handler)
        })),
    }
}

/// The forwarded route's row.
fn forwarded(path: &'static str, policy: Policy) -> Route {
    Route {
        method: None,
        path,
        policy,
        serve: Serve::Forwarded,
    }
}

impl Route {
    /// The methods this row serves, as documented.
    fn methods(&self) -> Vec<Method> {
        match &self.method {
            Some(method) => vec![method.clone()],
            None => FORWARDED_METHODS.to_vec(),
        }
    }
}

/// Every route of the API, forwarded route included, as (method, path in OpenAPI syntax:
/// `/api/plugins/{id}/kv/{key}`), from the same table the server serves, so a document of the
/// API can be checked against it.
pub fn documented_routes() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .flat_map(|route| route.methods().into_iter().map(move |m| (m, route.path)))
        .collect()
}

/// The routes joined with `or` as a balanced tree, not a chain: a request reaches any route
/// through log2(n) boxed filters instead of up to n, each costing an allocation and a poll.
fn balanced_or(mut routes: Vec<BoxedRoute>) -> BoxedRoute {
    if routes.len() <= 1 {
        return routes.pop().expect("at least one route");
    }
    let right = routes.split_off(routes.len() / 2);
    balanced_or(routes).or(balanced_or(right)).unify().boxed()
}

/// Every route of the API served by warp, and the dashboard. (The forwarded route reaches
/// `server.rs`'s fast path before warp.)
pub fn routes(
    state: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    let api = balanced_or(
        table()
            .into_iter()
            .filter_map(|route| match route.serve {
                Serve::Warp(build) => Some(build(state.clone(), route.policy)),
                Serve::Forwarded => None,
            })
            .collect(),
    );
    // An unknown `/api/…` path falls through both and becomes a JSON 404 in `recover`.
    api.or(web::dashboard(
        state.web_root.as_deref().map(Path::to_path_buf),
    ))
    .unify()
    .recover(error::recover)
    .unify()
}

#[cfg(test)]
mod tests {
    use super::*;
    use toru_api::Role;

    /// `pattern` with each `{param}` replaced by a sample value.
    fn sample(pattern: &str) -> String {
        pattern
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_request_matches_at_most_one_row_and_only_the_forwarded_row_takes_the_fast_path() {
        let table = table();
        for route in &table {
            let path = sample(route.path);
            let is_forwarded = matches!(route.serve, Serve::Forwarded);
            assert_eq!(
                forward::route_target(&path).is_some(),
                is_forwarded,
                "{path}: the fast path must take exactly the forwarded row"
            );
            for method in route.methods() {
                let rows = table
                    .iter()
                    .filter(|other| other.methods().contains(&method))
                    .filter(|other| {
                        filters::PathPattern::parse(other.path)
                            .matches(&path)
                            .is_some()
                    })
                    .count();
                assert_eq!(rows, 1, "{method} {path} matches {rows} rows");
            }
        }
    }

    #[test]
    fn state_changing_routes_are_checked_for_cross_site_requests_by_their_method() {
        // Every row's method other than GET goes through `check_same_origin`, which refuses a
        // cross-site request for any method but GET, HEAD and OPTIONS.
        let mut cross_site = http::HeaderMap::new();
        cross_site.insert(
            "sec-fetch-site",
            http::HeaderValue::from_static("cross-site"),
        );
        for (method, path) in documented_routes() {
            let refused = origin::check_same_origin(&method, &cross_site, false).is_err();
            assert_eq!(refused, method != Method::GET, "{method} {path}");
        }
    }

    #[test]
    fn every_change_is_for_administrators_and_every_read_for_viewers() {
        // The caller's own session and password (`/api/auth/…`) are the one exception: a
        // viewer logs in, out, and changes their own password.
        let own = ["/api/auth/login", "/api/auth/logout", "/api/auth/password"];
        // And reads that hand out secrets (licence keys, password hashes): administrators'.
        let secret_reads = ["/api/backup", "/api/plugins/{id}/backup"];
        for route in table() {
            let path = route.path;
            match &route.method {
                None => {
                    // The forwarded route: reads for viewers, any other method for admins.
                    let auth = route.policy.auth;
                    assert_eq!(auth.required_role(&Method::GET), Some(Role::Viewer));
                    assert_eq!(auth.required_role(&Method::HEAD), Some(Role::Viewer));
                    for method in FORWARDED_METHODS.iter().filter(|m| **m != Method::GET) {
                        assert_eq!(auth.required_role(method), Some(Role::Admin), "{method}");
                    }
                }
                Some(method) if own.contains(&path) => {
                    assert_ne!(route.policy.auth, Auth::Admin, "{method} {path}");
                }
                Some(method) if secret_reads.contains(&path) => {
                    assert_eq!(route.policy.auth, Auth::Admin, "{method} {path}");
                }
                Some(method) if method == Method::GET => assert!(
                    matches!(
                        route.policy.auth,
                        Auth::Anyone | Auth::Viewer | Auth::ViewerOrScraper
                    ),
                    "GET {path} is a read: Anyone or Viewer"
                ),
                Some(method) => assert_eq!(
                    route.policy.auth,
                    Auth::Admin,
                    "{method} {path} changes something: Admin"
                ),
            }
        }
    }

    #[test]
    #[should_panic(expected = "its handler wants a caller")]
    fn a_row_without_the_caller_its_handler_takes_is_refused() {
        route(Method::GET, "/api/x", Auth::Anyone, NO_BODY, auth::me);
    }

    #[test]
    #[should_panic(expected = "its handler wants 2 path parameters")]
    fn a_row_without_the_path_parameters_its_handler_takes_is_refused() {
        route(Method::GET, "/api/x/{id}", Auth::Viewer, NO_BODY, kv::get);
    }

    #[test]
    #[should_panic(expected = "its handler reads Json, its row allows None")]
    fn a_row_without_the_body_its_handler_takes_is_refused() {
        route(
            Method::POST,
            "/api/users",
            Auth::Admin,
            NO_BODY,
            users::create,
        );
    }

    #[test]
    fn the_documented_routes_include_the_forwarded_route() {
        let routes = documented_routes();
        for method in FORWARDED_METHODS {
            assert!(routes.contains(&(method, "/api/plugins/{id}/route/{path}")));
        }
        assert!(routes.contains(&(Method::PUT, "/api/plugins/{id}/kv/{key}")));
        let mut unique = routes.clone();
        unique.sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
        unique.dedup();
        assert_eq!(unique.len(), routes.len(), "a (method, path) listed twice");
    }
}
