//! A client's HTTP request → the plugin's `http.request`:
//! `toru_daemon::api::handlers::forward::{route_target, to_plugin_request}`.
//!
//! Input, by its first byte:
//! - `H`, then a raw HTTP/1.1 request (head and body), read with `httparse` as a server would:
//!   the hand-made seeds in `corpus/forward_request/` are of this kind;
//! - anything else: structured input (`arbitrary`) of a method, the path tail after `/route/`,
//!   a query, header pairs (any name hyper would accept, with hop-by-hop and cookie names in any
//!   case made likely), a body and a caller.
//!
//! Properties checked, beyond "never panics":
//! - no hop-by-hop header (RFC 9110 §7.6.1, plus `host` and `content-length`) and no `cookie`
//!   reaches the plugin, in any letter case;
//! - every other header with a textual value does, in order, unchanged; nothing is invented;
//! - method, path (`/` + tail), query, body and user are carried over exactly;
//! - a path `check_forward_path` lets through has one spelling: percent-decoded, no segment is
//!   empty (but for one trailing `/`), `.` or `..`, none holds a `/` or `\`, and the first is not
//!   `_toru` in any letter case (a model with its own decoder);
//! - the request, framed as the daemon sends it, is one line with no newline inside, and decodes
//!   to the same request (no frame injection through a header, path or query).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use toru_daemon::api::handlers::forward::{check_forward_path, route_target, to_plugin_request};
use toru_api::Role;
use toru_daemon::auth::Caller;
use toru_plugin_api::{Body, Message};

/// Names that must never be forwarded, as the fuzzer may spell them; checked case-insensitively.
const FORBIDDEN: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
];

/// Names worth trying often: the forbidden ones in two spellings, and ordinary ones.
const KNOWN: [&str; 30] = [
    "connection",
    "Connection",
    "keep-alive",
    "Keep-Alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "Proxy-Authorization",
    "te",
    "TE",
    "trailer",
    "transfer-encoding",
    "Transfer-Encoding",
    "upgrade",
    "host",
    "Host",
    "content-length",
    "Content-Length",
    "cookie",
    "Cookie",
    "COOKIE",
    "set-cookie",
    "content-type",
    "accept",
    "authorization",
    "x-forwarded-for",
    "origin",
    "referer",
    "user-agent",
    "x-toru-user",
];

#[derive(Debug, Arbitrary)]
enum Name {
    Known(u8),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum MethodInput {
    Known(u8),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum CallerInput {
    User {
        id: i64,
        username: String,
        viewer: bool,
    },
    Local {
        uid: u32,
        name: String,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: MethodInput,
    tail: String,
    query: Option<String>,
    headers: Vec<(Name, Vec<u8>)>,
    caller: CallerInput,
    body: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    match data {
        [b'H', raw @ ..] => from_wire(raw),
        _ => {
            if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
                from_structure(input);
            }
        }
    }
});

/// A raw request as a client sent it to `/api/plugins/<id>/route/<tail>`.
fn from_wire(raw: &[u8]) {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut slots);
    let Ok(httparse::Status::Complete(head_len)) = request.parse(raw) else {
        return;
    };
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let target = target.strip_prefix('/').unwrap_or(target);
    let (tail, query) = match target.split_once('?') {
        Some((tail, query)) => (tail, Some(query.to_owned())),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for h in request.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(name, value);
        }
    }
    let caller = Caller::User {
        id: 1,
        username: "admin".into(),
        role: Role::Admin,
    };
    check(&method, tail, query, &headers, &raw[head_len..], &caller);
}

/// Structured input, for what no raw request reaches easily.
fn from_structure(input: Input) {
    let method = match input.method {
        MethodInput::Known(i) => {
            const METHODS: [Method; 9] = [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::HEAD,
                Method::OPTIONS,
                Method::CONNECT,
                Method::PATCH,
                Method::TRACE,
            ];
            METHODS[usize::from(i) % METHODS.len()].clone()
        }
        MethodInput::Raw(bytes) => match Method::from_bytes(&bytes) {
            Ok(m) => m,
            Err(_) => return,
        },
    };
    // Only what hyper could hand us: valid names and values.
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::Known(i) => {
                HeaderName::from_bytes(KNOWN[usize::from(*i) % KNOWN.len()].as_bytes())
            }
            Name::Raw(raw) => HeaderName::from_bytes(raw),
        };
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    let caller = match input.caller {
        CallerInput::User {
            id,
            username,
            viewer,
        } => Caller::User {
            id,
            username,
            role: if viewer { Role::Viewer } else { Role::Admin },
        },
        CallerInput::Local { uid, name } => Caller::Local { uid, name },
    };
    check(
        &method,
        &input.tail,
        input.query,
        &headers,
        &input.body,
        &caller,
    );
}

/// Converts the request and checks every property in the module's doc.
fn check(
    method: &Method,
    tail: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
    caller: &Caller,
) {
    // The path as the daemon's server sees it; whatever follows `route/` reaches the plugin.
    let (id, path) = route_target(&format!("/api/plugins/fuzz/route/{tail}"))
        .expect("every path under route/ is a forwarded route");
    assert_eq!(id, "fuzz");
    if check_forward_path(&path).is_ok() {
        check_one_spelling(&path);
    }
    let out = to_plugin_request(
        method,
        path,
        query.as_deref(),
        headers,
        Bytes::copy_from_slice(body),
        caller,
    );

    assert_eq!(
        Method::from_bytes(out.method.as_bytes()).ok().as_ref(),
        Some(method)
    );
    assert_eq!(out.path, format!("/{tail}"));
    assert_eq!(out.query, query.unwrap_or_default());
    assert_eq!(out.body, body);
    assert_eq!(out.user.as_deref(), Some(caller.name()));

    for (name, value) in &out.headers {
        assert!(
            !FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(name)),
            "forwarded the header {name:?}"
        );
        assert!(
            !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')),
            "forwarded a header value with a control character: {value:?}"
        );
    }
    let expected: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            !FORBIDDEN
                .iter()
                .any(|f| f.eq_ignore_ascii_case(name.as_str()))
        })
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    assert_eq!(out.headers, expected, "headers lost, changed or invented");

    let message = Message::new("d-1", Body::HttpRequest(out));
    let line = message.to_line();
    assert_eq!(
        line.iter().filter(|&&b| b == b'\n').count(),
        1,
        "more than one line"
    );
    let text = std::str::from_utf8(&line[..line.len() - 1]).expect("frames are UTF-8");
    assert_eq!(
        Message::decode(text).as_ref(),
        Ok(&message),
        "the frame did not round-trip"
    );
}

/// The model of an accepted path: see the module doc.
fn check_one_spelling(path: &str) {
    let rest = path.strip_prefix('/').expect("accepted paths start with /");
    if rest.is_empty() {
        return;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    for (index, segment) in rest.split('/').enumerate() {
        let decoded = percent_decode(segment.as_bytes());
        assert!(!decoded.is_empty(), "empty segment accepted in {path:?}");
        assert!(
            decoded != b"." && decoded != b"..",
            "dot segment accepted in {path:?}"
        );
        assert!(
            !decoded.contains(&b'/') && !decoded.contains(&b'\\'),
            "encoded separator accepted in {path:?}"
        );
        if index == 0 {
            assert!(
                !decoded.eq_ignore_ascii_case(b"_toru"),
                "reserved prefix accepted in {path:?}"
            );
        }
    }
}

/// `%XX` → the byte; anything else as it is (a stray `%` stays).
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(u8::try_from(hi * 16 + lo).expect("two hex digits"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
