//! The dashboard's static files, with every other non-API GET answered by `index.html` so the
//! single-page app's own routes (`/plugins/hello-rust`) survive a reload. Every answer carries
//! its Content-Security-Policy and `nosniff` ([`csp`]): the view frame's document its own
//! policy, everything else the dashboard's.

use std::path::{Path, PathBuf};

use warp::filters::fs::File;
use warp::filters::path::FullPath;
use warp::{Filter, Rejection, Reply};

use crate::api::csp::{self, DashboardDocument};

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

/// Which document `file` is. Decided by the file served, not by how the URL spelled it, so a
/// percent-encoded spelling of [`csp::VIEW_FRAME_PATH`] gets the frame's policy too, and the
/// `index.html` fallback for a missing frame file keeps the dashboard's.
fn document(file: &File, view_frame: &Path) -> DashboardDocument {
    if file.path() == view_frame {
        DashboardDocument::ViewFrame
    } else {
        DashboardDocument::Dashboard
    }
}

/// A dashboard answer with the headers its document carries.
fn secured(reply: impl Reply, document: DashboardDocument) -> warp::reply::Response {
    let mut response = reply.into_response();
    csp::secure_dashboard_document(response.headers_mut(), document);
    response
}

/// Serves `web_root`, or a short page saying how to build the dashboard when there is none.
pub fn dashboard(
    web_root: Option<PathBuf>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let base = warp::get().and(not_api());
    match web_root {
        Some(root) => {
            let index = root.join("index.html");
            let view_frame = root.join(csp::VIEW_FRAME_PATH.trim_start_matches('/'));
            base.and(
                warp::fs::dir(root)
                    .or(warp::fs::file(index))
                    .unify()
                    .map(move |file: File| {
                        let document = document(&file, &view_frame);
                        secured(file, document)
                    }),
            )
            .boxed()
        }
        None => base
            .map(|| {
                secured(
                    warp::reply::html(
                        "<!doctype html><title>Toru</title><h1>Toru</h1>\
                         <p>The dashboard is not built. Build it with <code>npm --prefix frontend ci &amp;&amp; \
                         npm --prefix frontend run build</code> and restart the daemon, or point \
                         <code>--web-root</code> at a built copy. The API is at <code>/api</code>.</p>",
                    ),
                    DashboardDocument::Dashboard,
                )
            })
            .boxed(),
    }
}
