//! The HTTP API, served by warp on TCP and on a local Unix socket. [`routes`] is the one place
//! that lists every route; handlers live in [`handlers`], one file per group.
//!
//! | route | auth | what |
//! | --- | --- | --- |
//! | `GET /api/health` | none | liveness probe |
//! | `GET /api/openapi.json` | none | the OpenAPI 3.1 document of this API ([`openapi`]) |
//! | `POST /api/auth/login` · `POST /api/auth/logout` · `GET /api/auth/me` | – | sessions |
//! | `GET /api/status` | yes | version, instance id, backend, counts |
//! | `GET /api/plugins` · `GET /api/plugins/:id` | yes | plugins with status (details add events) |
//! | `POST /api/plugins/:id/enable` · `…/disable` | yes | lifecycle |
//! | `PUT /api/plugins/:id/license` · `DELETE …/license` | yes | install or remove its licence key |
//! | `GET /api/plugins/:id/bundle.js` | yes | the plugin's view (ES module, ETag) |
//! | `ANY /api/plugins/:id/route/<path>` | yes | forwarded to the plugin as `http.request` (served outside warp, see [`handlers::forward`]) |
//! | `GET /api/plugins/:id/kv?prefix=` · `GET/PUT/DELETE /api/plugins/:id/kv/:key` | yes | KV |
//! | `GET /api/plugins/:id/logs?page&page_size&level` · `…/logs/follow` (SSE) | yes | logs |
//! | `GET /api/events?limit&plugin` | yes | plugin events |
//! | `GET /api/discovery-failures` · `POST /api/rescan` | yes | skipped `*.binary` files and why; look for new plugins |
//! | `GET /api/users` · `POST /api/users` · `PUT /api/users/:name/password` | yes | users |
//! | `GET /*` | none | the dashboard, with fallback to `index.html` |
//!
//! "yes" means a session cookie, or a Unix-socket peer that is root, the daemon's user, or in
//! group `toru`. Every non-GET route also refuses cross-site browser requests.

pub mod activation;
pub mod error;
pub mod filters;
pub mod handlers;
pub mod openapi;
pub mod server;
pub mod web;
pub mod wire;

use std::path::Path;
use std::sync::Arc;

use warp::{Filter, Rejection, Reply};

use crate::auth::rate_limit::LoginLimiter;
use crate::plugins::PluginManager;
use crate::store::Store;
use filters::{ClientAddr, behind_tls, body_limited, caller, same_origin, with_state};
use handlers::{auth, events, kv, license, logs, plugins, status, users};

/// Largest JSON body accepted by the API's own routes.
const MAX_JSON_BODY: usize = 64 * 1024;

/// What every handler can reach. Cheap to clone: filters clone it for every request, so every
/// field is a handle (paths are `Arc<Path>`, not `PathBuf`).
#[derive(Clone)]
pub struct ApiState {
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
}

/// A JSON body within [`MAX_JSON_BODY`] (see [`filters::json_body`] for what is refused how).
fn json_body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    filters::json_body(MAX_JSON_BODY)
}

/// Turns a handler's `Result` into a response, so errors keep their JSON shape and status.
fn respond(result: handlers::ApiResult) -> warp::reply::Response {
    result.unwrap_or_else(Reply::into_response)
}

/// One route, boxed so a long list of them type-checks quickly.
type Route = warp::filters::BoxedFilter<(warp::reply::Response,)>;

/// The routes joined with `or` as a balanced tree, not a chain: a request reaches any route
/// through log2(n) boxed filters instead of up to n, each costing an allocation and a poll.
fn balanced_or(mut routes: Vec<Route>) -> Route {
    if routes.len() <= 1 {
        return routes.pop().expect("at least one route");
    }
    let right = routes.split_off(routes.len() / 2);
    balanced_or(routes).or(balanced_or(right)).unify().boxed()
}

/// Every route of the API and the dashboard.
pub fn routes(
    state: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    let s = || with_state(state.clone());
    let authed = || caller(state.clone());
    let id = || warp::path::param::<String>();

    let health = warp::path!("api" / "health")
        .and(warp::get())
        .map(|| {
            let health = toru_api::Health {
                status: toru_api::HealthStatus::Ok,
            };
            warp::reply::json(&health).into_response()
        })
        .boxed();

    let openapi = warp::path!("api" / "openapi.json")
        .and(warp::get())
        .map(openapi::reply)
        .boxed();

    let login = warp::path!("api" / "auth" / "login")
        .and(warp::post())
        .and(same_origin())
        .and(s())
        .and(warp::ext::optional::<ClientAddr>())
        .and(behind_tls())
        .and(json_body())
        .then(auth::login)
        .map(respond)
        .boxed();
    let logout = warp::path!("api" / "auth" / "logout")
        .and(warp::post())
        .and(same_origin())
        .and(s())
        .and(warp::cookie::optional::<String>(
            crate::auth::session::COOKIE_NAME,
        ))
        .and(behind_tls())
        .then(auth::logout)
        .map(respond)
        .boxed();
    let me = warp::path!("api" / "auth" / "me")
        .and(warp::get())
        .and(authed())
        .then(auth::me)
        .map(respond)
        .boxed();

    let status = warp::path!("api" / "status")
        .and(warp::get())
        .and(s())
        .and(authed())
        .then(status::status)
        .map(respond)
        .boxed();

    let list = warp::path!("api" / "plugins")
        .and(warp::get())
        .and(authed())
        .and(s())
        .then(|_, state| plugins::list(state))
        .map(respond)
        .boxed();
    let details = warp::path("api")
        .and(warp::path("plugins"))
        .and(id())
        .and(warp::path::end())
        .and(warp::get())
        .and(authed())
        .and(s())
        .then(|id, _, state| plugins::get(state, id))
        .map(respond)
        .boxed();
    let enable = warp::path!("api" / "plugins" / String / "enable")
        .and(warp::post())
        .and(same_origin())
        .and(s())
        .and(authed())
        .then(|id, state, caller| plugins::enable(state, id, caller))
        .map(respond)
        .boxed();
    let disable = warp::path!("api" / "plugins" / String / "disable")
        .and(warp::post())
        .and(same_origin())
        .and(s())
        .and(authed())
        .then(|id, state, caller| plugins::disable(state, id, caller))
        .map(respond)
        .boxed();
    let license_set = warp::path!("api" / "plugins" / String / "license")
        .and(warp::put())
        .and(same_origin())
        .and(s())
        .and(authed())
        .and(json_body())
        .then(|id, state, caller, form| license::set(state, id, caller, form))
        .map(respond)
        .boxed();
    let license_clear = warp::path!("api" / "plugins" / String / "license")
        .and(warp::delete())
        .and(same_origin())
        .and(s())
        .and(authed())
        .then(|id, state, caller| license::clear(state, id, caller))
        .map(respond)
        .boxed();
    let bundle = warp::path!("api" / "plugins" / String / "bundle.js")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and(warp::header::optional::<String>("if-none-match"))
        .then(|id, _, state, tag| plugins::bundle(state, id, tag))
        .map(respond)
        .boxed();

    let kv_list = warp::path!("api" / "plugins" / String / "kv")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and(warp::query::<toru_api::KvListQuery>())
        .then(|id, _, state, q| kv::list(state, id, q))
        .map(respond)
        .boxed();
    let kv_get = warp::path!("api" / "plugins" / String / "kv" / String)
        .and(warp::get())
        .and(authed())
        .and(s())
        .then(|id, key, _, state| kv::get(state, id, key))
        .map(respond)
        .boxed();
    let kv_set = warp::path!("api" / "plugins" / String / "kv" / String)
        .and(warp::put())
        .and(same_origin())
        .and(authed())
        .and(s())
        .and(body_limited(crate::plugins::connection::MAX_KV_VALUE * 2))
        .then(|id, key, _, state, body| kv::set(state, id, key, body))
        .map(respond)
        .boxed();
    let kv_delete = warp::path!("api" / "plugins" / String / "kv" / String)
        .and(warp::delete())
        .and(same_origin())
        .and(authed())
        .and(s())
        .then(|id, key, _, state| kv::delete(state, id, key))
        .map(respond)
        .boxed();

    let log_page = warp::path!("api" / "plugins" / String / "logs")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and(warp::query::<toru_api::LogsQuery>())
        .then(|id, _, state, q| logs::page(state, id, q))
        .map(respond)
        .boxed();
    let log_follow = warp::path!("api" / "plugins" / String / "logs" / "follow")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and(warp::query::<toru_api::LogsQuery>())
        .then(|id, _, state, q| logs::follow(state, id, q))
        .map(respond)
        .boxed();

    let skipped = warp::path!("api" / "discovery-failures")
        .and(warp::get())
        .and(authed())
        .and(s())
        .then(|_, state| plugins::discovery_failures(state))
        .map(respond)
        .boxed();
    let rescan = warp::path!("api" / "rescan")
        .and(warp::post())
        .and(same_origin())
        .and(authed())
        .and(s())
        .then(|_, state| plugins::rescan(state))
        .map(respond)
        .boxed();
    let events = warp::path!("api" / "events")
        .and(warp::get())
        .and(authed())
        .and(s())
        .and(warp::query::<toru_api::EventsQuery>())
        .then(|_, state, q| events::list(state, q))
        .map(respond)
        .boxed();

    let user_list = warp::path!("api" / "users")
        .and(warp::get())
        .and(authed())
        .and(s())
        .then(|_, state| users::list(state))
        .map(respond)
        .boxed();
    let user_create = warp::path!("api" / "users")
        .and(warp::post())
        .and(same_origin())
        .and(authed())
        .and(s())
        .and(json_body())
        .then(|_, state, form| users::create(state, form))
        .map(respond)
        .boxed();
    let user_password = warp::path!("api" / "users" / String / "password")
        .and(warp::put())
        .and(same_origin())
        .and(authed())
        .and(s())
        .and(json_body())
        .then(|name, _, state, form| users::set_password(state, name, form))
        .map(respond)
        .boxed();

    // The forwarded route is not here: `server` sends it to `handlers::forward` directly.
    let api = balanced_or(vec![
        health,
        openapi,
        login,
        logout,
        me,
        status,
        list,
        details,
        enable,
        disable,
        license_set,
        license_clear,
        bundle,
        kv_list,
        kv_get,
        kv_set,
        kv_delete,
        log_page,
        log_follow,
        events,
        skipped,
        rescan,
        user_list,
        user_create,
        user_password,
    ]);

    // An unknown `/api/…` path falls through both and becomes a JSON 404 in `recover`.
    api.or(web::dashboard(
        state.web_root.as_deref().map(Path::to_path_buf),
    ))
    .unify()
    .recover(error::recover)
    .unify()
}
