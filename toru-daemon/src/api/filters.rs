//! The warp side of the pipeline: [`route`] turns one row of the route table into a warp
//! filter that matches the row's path and method and then hands the request to the pipeline
//! ([`pipeline::admit`], [`pipeline::read_body`]) and the row's [`Handler`]. Nothing else is
//! decided here: what a route checks is in its row, how it is checked in `pipeline.rs`.

use bytes::Bytes;
use http::{HeaderMap, Method};
use warp::filters::BoxedFilter;
use warp::filters::path::FullPath;
use warp::{Buf, Filter};

use super::ApiState;
use super::extract::{Handler, Request};
use super::handlers::ApiResult;
use super::pipeline::{self, Body, Peer, Policy};

/// One route as warp serves it, boxed so a long list of them type-checks quickly.
pub type BoxedRoute = BoxedFilter<(warp::reply::Response,)>;

/// A route's path in OpenAPI syntax (`/api/plugins/{id}/kv/{key}`), split for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
}

/// One `/`-separated piece of a [`PathPattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this text.
    Literal(&'static str),
    /// Matches any non-empty segment, which becomes a path parameter.
    Param,
}

impl PathPattern {
    /// Parses `/a/{b}/c`. A pattern that does not start with `/`, has an empty segment, or
    /// puts braces anywhere but around a whole segment is a mistake in the route table, so
    /// this panics (at start-up, and in the route table's test).
    pub fn parse(pattern: &'static str) -> Self {
        let rest = pattern
            .strip_prefix('/')
            .unwrap_or_else(|| panic!("route {pattern:?} does not start with /"));
        let segments = rest
            .split('/')
            .map(|segment| {
                assert!(
                    !segment.is_empty(),
                    "route {pattern:?} has an empty segment"
                );
                match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() && !name.contains(['{', '}']) => Segment::Param,
                    _ if segment.contains(['{', '}']) => {
                        panic!("route {pattern:?} has a malformed parameter {segment:?}")
                    }
                    _ => Segment::Literal(segment),
                }
            })
            .collect();
        PathPattern { segments }
    }

    /// How many path parameters the pattern has.
    pub fn params(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Param))
            .count()
    }

    /// The path parameters, as sent (still percent-encoded), when `path` is this pattern. As
    /// warp's `path!` matches: segment by segment, literals exactly, parameters not empty, and
    /// one trailing `/` allowed.
    pub fn matches(&self, path: &str) -> Option<Vec<String>> {
        let mut rest = path.strip_prefix('/').unwrap_or(path);
        let mut params = Vec::new();
        for segment in &self.segments {
            let (here, after) = rest.split_once('/').unwrap_or((rest, ""));
            match segment {
                Segment::Literal(literal) if here == *literal => {}
                Segment::Param if !here.is_empty() => params.push(here.to_owned()),
                _ => return None,
            }
            rest = after;
        }
        rest.is_empty().then_some(params)
    }
}

/// One row of the route table as a warp filter: `path` and `method` select it (else warp's
/// 404 or 405 rejection, so another row may still match); from there on every request gets a
/// response, from the pipeline or from `handler`.
pub fn route<H, Args>(
    state: ApiState,
    method: Method,
    path: &'static str,
    policy: Policy,
    handler: H,
) -> BoxedRoute
where
    H: Handler<Args>,
    Args: 'static,
{
    let pattern = PathPattern::parse(path);
    let matching = warp::path::full().and_then(move |full: FullPath| {
        let found = pattern.matches(full.as_str());
        async move { found.ok_or_else(warp::reject::not_found) }
    });
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    matching
        .and(method_is(&method))
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<Peer>())
        .and(query)
        .and(warp::body::stream())
        .then(
            move |params: Vec<String>,
                  headers: HeaderMap,
                  peer: Option<Peer>,
                  query: Option<String>,
                  body| {
                let (state, method, handler) = (state.clone(), method.clone(), handler.clone());
                async move {
                    let request = Incoming {
                        state,
                        method,
                        params,
                        headers,
                        query,
                        peer,
                    };
                    pipeline::respond(serve(request, policy, body, handler).await)
                }
            },
        )
        .boxed()
}

/// What warp extracted for a route, before the pipeline has run.
struct Incoming {
    state: ApiState,
    method: Method,
    params: Vec<String>,
    headers: HeaderMap,
    query: Option<String>,
    peer: Option<Peer>,
}

/// The pipeline, then the handler.
async fn serve<H, Args, S, B, E>(
    incoming: Incoming,
    policy: Policy,
    body: S,
    handler: H,
) -> ApiResult
where
    H: Handler<Args>,
    S: futures::Stream<Item = Result<B, E>>,
    B: Buf,
    E: std::fmt::Display,
{
    let Incoming {
        state,
        method,
        params,
        headers,
        query,
        peer,
    } = incoming;
    let caller = pipeline::admit(policy.auth, &method, &headers, peer, &state).await?;
    let (body, upload): (Bytes, _) = match policy.body {
        Body::Upload => (
            Bytes::new(),
            Some(state.uploads.receive(&headers, body).await?),
        ),
        other => (pipeline::read_body(other, &headers, body).await?, None),
    };
    let request = Request {
        state,
        params,
        caller,
        headers,
        query,
        peer,
        body,
        upload,
    };
    handler.call(request).await
}

/// Accepts `method` only, with warp's own 405 rejection otherwise (which `error::recover`
/// answers only when no other route with the same path wanted the request).
fn method_is(method: &Method) -> BoxedFilter<()> {
    match *method {
        Method::GET => warp::get().boxed(),
        Method::POST => warp::post().boxed(),
        Method::PUT => warp::put().boxed(),
        Method::DELETE => warp::delete().boxed(),
        Method::PATCH => warp::patch().boxed(),
        ref other => panic!("no route table row may use method {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_as_warp_matched_them() {
        let kv = PathPattern::parse("/api/plugins/{id}/kv/{key}");
        let params = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(kv.matches("/api/plugins/p/kv/k"), params(&["p", "k"]));
        // Parameters stay as sent; the handler decodes what it needs to.
        assert_eq!(
            kv.matches("/api/plugins/p/kv/a%2Fb"),
            params(&["p", "a%2Fb"])
        );
        // One trailing slash is the same path, as it was with `warp::path!`.
        assert_eq!(kv.matches("/api/plugins/p/kv/k/"), params(&["p", "k"]));
        for other in [
            "/api/plugins/p/kv",
            "/api/plugins/p/kv/",
            "/api/plugins//kv/k",
            "/api/plugins/p/kv/k//",
            "/api/plugins/p/kv/k/x",
            "/api/plugins/p/KV/k",
        ] {
            assert_eq!(kv.matches(other), None, "{other}");
        }
        let list = PathPattern::parse("/api/plugins");
        assert_eq!(list.matches("/api/plugins"), params(&[]));
        assert_eq!(list.matches("/api/plugins/"), params(&[]));
        assert_eq!(list.matches("/api/pluginsx"), None);
    }

    #[test]
    #[should_panic(expected = "malformed parameter")]
    fn a_malformed_pattern_is_refused() {
        PathPattern::parse("/api/x{id}");
    }
}
