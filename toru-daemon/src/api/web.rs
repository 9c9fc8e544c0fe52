//! The dashboard's static files, with every other non-API GET answered by `index.html` so the
//! single-page app's own routes (`/plugins/hello-rust`) survive a reload.

use std::path::PathBuf;

use warp::filters::path::FullPath;
use warp::{Filter, Rejection, Reply};

/// Rejects `/api/…` so unknown API paths get a JSON 404, never the dashboard's HTML.
fn not_api() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and_then(|path: FullPath| async move {
            if path.as_str() == "/api" || path.as_str().starts_with("/api/") {
                Err(warp::reject::not_found())
            } else {
                Ok(())
            }
        })
        .untuple_one()
}

/// Serves `web_root`, or a short page saying how to build the dashboard when there is none.
pub fn dashboard(
    web_root: Option<PathBuf>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let base = warp::get().and(not_api());
    match web_root {
        Some(root) => {
            let index = root.join("index.html");
            base.and(
                warp::fs::dir(root)
                    .or(warp::fs::file(index))
                    .unify()
                    .map(Reply::into_response),
            )
            .boxed()
        }
        None => base
            .map(|| {
                warp::reply::html(
                    "<!doctype html><title>Toru</title><h1>Toru</h1>\
                     <p>The dashboard is not built. Build it with <code>npm --prefix frontend ci &amp;&amp; \
                     npm --prefix frontend run build</code> and restart the daemon, or point \
                     <code>--web-root</code> at a built copy. The API is at <code>/api</code>.</p>",
                )
                .into_response()
            })
            .boxed(),
    }
}
