//! The dashboard's static files, with every other non-API GET answered by `index.html` so the
//! single-page app's own routes (`/plugins/hello-rust`) survive a reload. Every answer carries
//! its Content-Security-Policy and `nosniff` ([`csp`]): the view frame's document its own
//! policy, everything else the dashboard's. The build writes a brotli (`.br`) and a gzip
//! (`.gz`) copy next to each file worth compressing (`frontend/vite.config.ts`); a client that
//! accepts one gets it, compressed once at build time instead of at every request. Vite's
//! hashed files under `/assets/` never change, so browsers keep them for a year without asking;
//! everything else is revalidated.

use std::path::{Path, PathBuf};

use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, HeaderValue,
    VARY,
};

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

/// A precompressed copy the build may have written next to a file, in the server's order of
/// preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precompressed {
    /// `FILE.br`.
    Brotli,
    /// `FILE.gz`.
    Gzip,
}

impl Precompressed {
    /// Brotli first: smaller for the same text, and every browser that matters accepts it.
    const PREFERENCE: [Precompressed; 2] = [Precompressed::Brotli, Precompressed::Gzip];

    /// The `Content-Encoding` token.
    fn token(self) -> &'static str {
        match self {
            Precompressed::Brotli => "br",
            Precompressed::Gzip => "gzip",
        }
    }

    /// The copy's file name suffix.
    fn suffix(self) -> &'static str {
        match self {
            Precompressed::Brotli => "br",
            Precompressed::Gzip => "gz",
        }
    }

    /// Whether an `Accept-Encoding` value accepts this encoding: listed (or `*`) without `q=0`.
    fn accepted_by(self, accept_encoding: &str) -> bool {
        let mut accepted = None;
        for item in accept_encoding.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if name.eq_ignore_ascii_case(self.token()) {
                return !q_zero;
            }
            if name == "*" {
                accepted = Some(!q_zero);
            }
        }
        accepted.unwrap_or(false)
    }
}

/// How long a browser may keep a file: a year without asking for Vite's content-hashed files
/// (a new build gives them new names), revalidation for everything else (`index.html` names the
/// current hashed files, so it must never be stale). Decided by the file served, so the
/// `index.html` fallback for a missing `/assets/…` name is not kept for a year.
fn cache_control(file: &Path, assets_dir: &Path) -> &'static str {
    if file.starts_with(assets_dir) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// `file`'s answer, with the body swapped for the precompressed copy the client accepts, if the
/// build wrote one. Only a whole-file 200 is swapped: a 304 has no body, and a range is of the
/// uncompressed file.
async fn negotiated(file: File, accept_encoding: Option<String>) -> warp::reply::Response {
    let path = file.path().to_path_buf();
    let mut response = file.into_response();
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("accept-encoding"));
    let whole = response.status() == http::StatusCode::OK
        && !response.headers().contains_key(CONTENT_RANGE);
    let Some(accept_encoding) = accept_encoding.filter(|_| whole) else {
        return response;
    };
    for encoding in Precompressed::PREFERENCE {
        if !encoding.accepted_by(&accept_encoding) {
            continue;
        }
        let mut copy = path.clone().into_os_string();
        copy.push(".");
        copy.push(encoding.suffix());
        // A missing copy is the usual case (small files are not compressed): try the next.
        let Ok(bytes) = tokio::fs::read(&copy).await else {
            continue;
        };
        let headers = response.headers_mut();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        *response.body_mut() = bytes.into();
        break;
    }
    response
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
            let assets_dir = root.join("assets");
            base.and(warp::fs::dir(root).or(warp::fs::file(index)).unify())
                .and(warp::header::optional::<String>(ACCEPT_ENCODING.as_str()))
                .then(move |file: File, accept: Option<String>| {
                    let document = document(&file, &view_frame);
                    let cache = cache_control(file.path(), &assets_dir);
                    async move {
                        let mut response = secured(negotiated(file, accept).await, document);
                        response
                            .headers_mut()
                            .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
                        response
                    }
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_as_browsers_and_curl_send_it() {
        use Precompressed::{Brotli, Gzip};
        let chromium = "gzip, deflate, br, zstd";
        assert!(Brotli.accepted_by(chromium) && Gzip.accepted_by(chromium));
        assert!(!Brotli.accepted_by("gzip") && Gzip.accepted_by("gzip"));
        assert!(!Brotli.accepted_by("br;q=0, gzip") && Gzip.accepted_by("BR;q=0, GZIP"));
        assert!(Brotli.accepted_by("*") && !Gzip.accepted_by("*, gzip;q=0"));
        assert!(!Brotli.accepted_by("identity") && !Gzip.accepted_by(""));
        assert!(Brotli.accepted_by("br;q=0.5"));
    }

    #[test]
    fn only_hashed_assets_are_immutable() {
        let assets = Path::new("/usr/share/toru/web/assets");
        assert_eq!(
            cache_control(&assets.join("index-CeJ4aJMj.js"), assets),
            "public, max-age=31536000, immutable"
        );
        for file in ["index.html", "view-frame.js", "assets.js"] {
            let file = Path::new("/usr/share/toru/web").join(file);
            assert_eq!(cache_control(&file, assets), "no-cache", "{file:?}");
        }
    }
}
