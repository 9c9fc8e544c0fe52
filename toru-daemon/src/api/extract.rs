//! What a handler receives. Every route's handler has the one shape [`Handler`]: an async
//! function whose parameters each implement [`FromRequest`] — the state, the [`Caller`], a
//! [`Path`], a [`Json`] or [`Query`] value, a header — taken from a [`Request`] that has
//! passed the pipeline. The route table says what the pipeline checks; the parameter list says
//! what the handler reads; neither depends on the order of warp filters.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::HeaderMap;
use serde::de::DeserializeOwned;

use super::ApiState;
use super::error::ApiError;
use super::handlers::ApiResult;
use super::pipeline::{Auth, Body, Peer, Policy, session_cookie};
use super::upload::StagedUpload;
use crate::auth::Caller;
use crate::store::Actor;

/// A request that passed the pipeline, as its handler's parameters are taken from it.
pub struct Request {
    /// What every handler can reach.
    pub state: ApiState,
    /// The route's path parameters, in the order the route's path names them, as sent
    /// (still percent-encoded).
    pub params: Vec<String>,
    /// Who is calling, when the route's policy asked (any `Auth` but `Anyone`).
    pub caller: Option<Caller>,
    /// The request headers.
    pub headers: HeaderMap,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// Who is on the other end of the connection.
    pub peer: Option<Peer>,
    /// The body the route's policy allowed, empty for `Body::None` and `Body::Upload`.
    pub body: Bytes,
    /// The staged file of a `Body::Upload` route.
    pub upload: Option<StagedUpload>,
}

/// A handler parameter, taken from the request. An `Err` is answered instead of calling the
/// handler.
pub trait FromRequest: Sized {
    /// What the parameter needs its route's row to provide, checked when the table is built.
    const NEEDS: Needs = Needs::NOTHING;

    /// Takes (or copies) this value out of `request`.
    fn from_request(request: &mut Request) -> Result<Self, ApiError>;
}

/// What a handler's parameters need of the route's row: a caller, path parameters, a body.
/// [`Needs::check`] compares them with the row when the route table is built, so a handler
/// that asks for what its row does not provide is a panic at start-up (and in the route
/// table's tests), never a request answered 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// A [`Caller`]: the row must not say `Auth::Anyone`.
    pub caller: bool,
    /// A [`Path`] of this many parameters: the row's path must have as many.
    pub path_params: Option<usize>,
    /// The body as JSON or as bytes: the row must say `Body::Json` or `Body::Bytes`.
    pub body: Option<BodyNeed>,
}

/// The body a handler parameter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyNeed {
    /// [`Json`].
    Json,
    /// [`Bytes`].
    Bytes,
    /// A [`StagedUpload`].
    Upload,
}

impl Needs {
    /// What a parameter taken from the state or the headers needs.
    pub const NOTHING: Needs = Needs {
        caller: false,
        path_params: None,
        body: None,
    };

    /// The needs of two parameters together (a later one's path or body wins; a handler has
    /// at most one of each).
    pub const fn and(self, other: Needs) -> Needs {
        Needs {
            caller: self.caller || other.caller,
            path_params: match other.path_params {
                Some(n) => Some(n),
                None => self.path_params,
            },
            body: match other.body {
                Some(b) => Some(b),
                None => self.body,
            },
        }
    }

    /// Panics unless a row with `policy` and `params` path parameters provides these needs.
    pub fn check(self, route: &str, policy: Policy, params: usize) {
        if self.caller {
            assert_ne!(
                policy.auth,
                Auth::Anyone,
                "{route}: its handler wants a caller"
            );
        }
        if let Some(wanted) = self.path_params {
            assert_eq!(
                wanted, params,
                "{route}: its handler wants {wanted} path parameters"
            );
        }
        match (self.body, policy.body) {
            (Some(BodyNeed::Json), Body::Json(_))
            | (Some(BodyNeed::Bytes), Body::Bytes(_))
            | (Some(BodyNeed::Upload), Body::Upload) => {}
            (None, _) => {}
            (Some(need), body) => {
                panic!("{route}: its handler reads {need:?}, its row allows {body:?}")
            }
        }
    }
}

impl FromRequest for ApiState {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        Ok(request.state.clone())
    }
}

/// A handler that wants what its route's row does not provide: a programming error that
/// `Needs::check` refuses when the table is built, so a request never meets it.
#[derive(Debug, thiserror::Error)]
enum RowMismatch {
    /// The handler takes a [`Caller`], the row admits anyone.
    #[error("a handler wants a caller its route does not ask for")]
    Caller,
    /// The handler takes a different number of path parameters than the row's path has.
    #[error("a handler wants {0} path parameters")]
    PathParams(usize),
    /// The handler takes an upload, the row does not read one.
    #[error("a handler wants an upload its route does not read")]
    Upload,
}

impl FromRequest for Caller {
    const NEEDS: Needs = Needs {
        caller: true,
        ..Needs::NOTHING
    };

    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        // Unreachable: `Needs::check` refuses a row whose handler wants a caller it does not
        // provide, when the table is built.
        // Cloned, not taken: a handler may take the caller and the `Actor` made from it.
        request
            .caller
            .clone()
            .ok_or_else(|| ApiError::internal(&RowMismatch::Caller))
    }
}

/// Who made a change, for the audit trail: the caller, and for a dashboard user the address
/// their request came from.
impl FromRequest for Actor {
    const NEEDS: Needs = <Caller as FromRequest>::NEEDS;

    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        let peer = request.peer;
        Ok(match Caller::from_request(request)? {
            Caller::User { username, .. } => Actor::Password {
                name: username,
                address: peer
                    .and_then(|peer| peer.address())
                    .map(|address| address.ip().to_string()),
            },
            Caller::Local { uid, name } => Actor::LocalSocket { uid, name },
        })
    }
}

/// The raw body the route's policy allowed (`Body::Bytes`).
impl FromRequest for Bytes {
    const NEEDS: Needs = Needs {
        body: Some(BodyNeed::Bytes),
        ..Needs::NOTHING
    };

    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        Ok(std::mem::take(&mut request.body))
    }
}

/// The uploaded file the route's policy staged (`Body::Upload`).
impl FromRequest for StagedUpload {
    const NEEDS: Needs = Needs {
        body: Some(BodyNeed::Upload),
        ..Needs::NOTHING
    };

    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        // Unreachable: `Needs::check` refuses a row that does not read the upload its handler
        // takes.
        request
            .upload
            .take()
            .ok_or_else(|| ApiError::internal(&RowMismatch::Upload))
    }
}

/// A header's value as text, absent when missing or not visible ASCII.
#[derive(Debug)]
pub struct SignatureHeader(pub Option<String>);

/// The `Toru-Signature` header of an upload (`toru_api::SIGNATURE_HEADER`).
impl FromRequest for SignatureHeader {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        let Some(value) = request.headers.get(toru_api::SIGNATURE_HEADER) else {
            return Ok(SignatureHeader(None));
        };
        let text = value.to_str().map_err(|_| {
            ApiError::bad_request(format!(
                "the {} header is not one line of ASCII",
                toru_api::SIGNATURE_HEADER
            ))
        })?;
        Ok(SignatureHeader(Some(text.trim().to_owned())))
    }
}

/// A path parameter as the client meant it: percent-decoded, and UTF-8 (else 400 saying which
/// parameter, `what`). `Path` hands parameters over as sent; the handlers whose parameters may
/// hold any character (a KV key, a user name) decode them with this.
pub fn percent_decoded(raw: &str, what: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| ApiError::bad_request(format!("the {what} is not valid UTF-8")))
}

/// The route's path parameters, as sent: one `String`, or a tuple of two.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl FromRequest for Path<String> {
    const NEEDS: Needs = Needs {
        path_params: Some(1),
        ..Needs::NOTHING
    };

    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        match <[String; 1]>::try_from(std::mem::take(&mut request.params)) {
            Ok([one]) => Ok(Path(one)),
            Err(_) => Err(ApiError::internal(&RowMismatch::PathParams(1))),
        }
    }
}

impl FromRequest for Path<(String, String)> {
    const NEEDS: Needs = Needs {
        path_params: Some(2),
        ..Needs::NOTHING
    };

    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        match <[String; 2]>::try_from(std::mem::take(&mut request.params)) {
            Ok([first, second]) => Ok(Path((first, second))),
            Err(_) => Err(ApiError::internal(&RowMismatch::PathParams(2))),
        }
    }
}

/// The JSON body (`Body::Json`, so its type and size were checked), decoded: 400
/// `invalid_json` for a wrong shape, saying what and where.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Json<T> {
    const NEEDS: Needs = Needs {
        body: Some(BodyNeed::Json),
        ..Needs::NOTHING
    };

    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        serde_json::from_slice(&request.body)
            .map(Json)
            .map_err(ApiError::invalid_json)
    }
}

/// The query string decoded (an absent one as empty): 400 for one that does not fit `T`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(request.query.as_deref().unwrap_or_default())
            .map(Query)
            .map_err(|_| ApiError::bad_request("invalid query string"))
    }
}

/// The TCP client's address, for the login rate limits; absent on the Unix socket.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl FromRequest for Option<ClientAddr> {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        Ok(request.peer.and_then(|peer| peer.address()).map(ClientAddr))
    }
}

/// Whether the client reached us over TLS — the daemon's own TLS listener, or a proxy in front
/// that says so with `X-Forwarded-Proto: https` — so cookies get `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct BehindTls(pub bool);

impl FromRequest for BehindTls {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        let own_listener = request.peer.is_some_and(|p| p.over_tls());
        let proto = header(&request.headers, "x-forwarded-proto");
        Ok(BehindTls(
            own_listener || proto.is_some_and(|p| p.eq_ignore_ascii_case("https")),
        ))
    }
}

/// The session token of the `Cookie` header, if any, for routes that work with or without one
/// (logout).
#[derive(Debug)]
pub struct SessionToken(pub Option<String>);

impl FromRequest for SessionToken {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        Ok(SessionToken(
            session_cookie(&request.headers).map(str::to_owned),
        ))
    }
}

/// The `If-None-Match` header, for routes that answer 304 (a plugin's bundle).
#[derive(Debug)]
pub struct IfNoneMatch(pub Option<String>);

impl FromRequest for IfNoneMatch {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        Ok(IfNoneMatch(
            header(&request.headers, "if-none-match").map(str::to_owned),
        ))
    }
}

/// The `Last-Event-ID` header a reconnecting SSE client sends: the id of the last event it
/// received, absent when missing; 400 when it is not an event id.
#[derive(Debug)]
pub struct LastEventId(pub Option<i64>);

impl FromRequest for LastEventId {
    fn from_request(request: &mut Request) -> Result<Self, ApiError> {
        match header(&request.headers, "last-event-id") {
            None => Ok(LastEventId(None)),
            Some(text) => text
                .trim()
                .parse()
                .map(|id| LastEventId(Some(id)))
                .map_err(|_| ApiError::bad_request("Last-Event-ID is not an event id")),
        }
    }
}

/// A header's value, absent when it is not visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The one shape of a route's handler: an async function of up to five [`FromRequest`]
/// parameters. `Args` is the tuple of those parameter types, so each arity is its own impl.
pub trait Handler<Args>: Clone + Send + Sync + 'static {
    /// What the parameters need of the route's row, all together.
    const NEEDS: Needs;

    /// Takes the parameters from `request` (answering the first that fails) and runs.
    fn call(self, request: Request) -> impl Future<Output = ApiResult> + Send;
}

/// Implements [`Handler`] for functions of the given parameter types.
macro_rules! handler_of_arity {
    ($($param:ident),*) => {
        impl<F, Fut, $($param,)*> Handler<($($param,)*)> for F
        where
            F: Fn($($param),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = ApiResult> + Send,
            $($param: FromRequest + Send,)*
        {
            const NEEDS: Needs = Needs::NOTHING $(.and($param::NEEDS))*;

            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(self, mut request: Request) -> impl Future<Output = ApiResult> + Send {
                async move {
                    $(let $param = $param::from_request(&mut request)?;)*
                    self($($param),*).await
                }
            }
        }
    };
}

handler_of_arity!();
handler_of_arity!(A);
handler_of_arity!(A, B);
handler_of_arity!(A, B, C);
handler_of_arity!(A, B, C, D);
handler_of_arity!(A, B, C, D, E);
