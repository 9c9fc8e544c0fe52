//! A plugin's `http.response` → the client's HTTP response:
//! `toru_daemon::api::handlers::forward::from_plugin_response`, for a lying or malicious
//! plugin.
//!
//! Input, by its first byte:
//! - `J`, then the JSON payload of an `http.response` exactly as a plugin sends it: the
//!   hand-made seeds in `corpus/forward_response/` are of this kind;
//! - anything else: structured input (`arbitrary`) of any status (`u16`), header pairs (names:
//!   arbitrary text, or hop-by-hop, cookie and ordinary names in several spellings; values:
//!   arbitrary text, text with a CR/LF injection in the middle, or up to 64 KiB each, at most
//!   [`HUGE_BUDGET`] of them per input), and a body.
//!
//! Properties checked, beyond "never panics":
//! - a status outside 200–599 becomes a 502 error, and every other status is kept;
//! - more than `MAX_RESPONSE_HEADERS` headers, or more than `MAX_RESPONSE_HEADER_BYTES` of
//!   names and values, become a 502 error, and a response within both bounds is never refused
//!   for its headers;
//! - no hop-by-hop header and no `set-cookie` reaches the client, in any letter case, and no
//!   value with CR, LF or NUL;
//! - every other valid header does, in order per name, unchanged; nothing is invented but
//!   the daemon's own `content-security-policy: sandbox`, after any policy the plugin sent;
//! - **the result is a valid response on the wire**: served by hyper's HTTP/1.1 server (as the
//!   daemon's API does) it parses with `httparse` into the same status, the same headers (plus
//!   hyper's own `content-length`, `date` and `connection`) and the same body — so no header injection and no
//!   response splitting.

#![no_main]

use std::convert::Infallible;
use std::sync::{LazyLock, Mutex};

use arbitrary::{Arbitrary, Unstructured};
use http::StatusCode;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toru_daemon::api::csp::PLUGIN_RESPONSE_POLICY;
use toru_daemon::api::handlers::forward::{
    MAX_RESPONSE_HEADER_BYTES, MAX_RESPONSE_HEADERS, from_plugin_response,
};
use toru_plugin_api::HttpResponse;

/// Never to reach the client, checked case-insensitively.
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
    "set-cookie",
];

/// Names worth trying often.
const KNOWN: [&str; 24] = [
    "Set-Cookie",
    "set-cookie",
    "SET-COOKIE",
    "Transfer-Encoding",
    "transfer-encoding",
    "Content-Length",
    "content-length",
    "Connection",
    "connection",
    "Keep-Alive",
    "Upgrade",
    "TE",
    "Trailer",
    "Host",
    "Proxy-Authenticate",
    "content-type",
    "Content-Type",
    "cache-control",
    "date",
    "location",
    // A plugin's own policy must reach the client next to the daemon's `sandbox`.
    "content-security-policy",
    "Content-Security-Policy",
    "x-a",
    "X-A",
];

#[derive(Debug, Arbitrary)]
enum Name {
    Known(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Value {
    Raw(String),
    /// `before\r\nafter`, the classic injection.
    Injected(String, String),
    /// A huge value: up to 64 KiB of one byte (servers commonly refuse 8 KiB of headers).
    /// Past [`HUGE_BUDGET`] bytes per input it is cut short, to nothing at the end.
    Huge(u16, u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    status: u16,
    headers: Vec<(Name, Value)>,
    body: Vec<u8>,
}

/// Bytes of huge values per input. Without a budget a 4 KiB input can describe hundreds of
/// 64 KiB headers: the executions slowed from 12k/s to 1.3k/s as the corpus filled with them,
/// and every one of those inputs tests nothing a few huge headers do not. With it a run keeps
/// about 18k/s to the end (10 M executions in under ten minutes).
const HUGE_BUDGET: usize = 256 * 1024;

/// One runtime for the whole run; each input is served on an in-memory pipe.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

fuzz_target!(|data: &[u8]| {
    match data {
        [b'J', json @ ..] => {
            if let Ok(response) = serde_json::from_slice::<HttpResponse>(json) {
                check(response);
            }
        }
        _ => {
            if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
                check(from_structure(input));
            }
        }
    }
});

/// The plugin's response the structured input describes.
fn from_structure(input: Input) -> HttpResponse {
    let mut huge_left = HUGE_BUDGET;
    let headers: Vec<(String, String)> = input
        .headers
        .into_iter()
        .map(|(name, value)| {
            let name = match name {
                Name::Known(i) => KNOWN[usize::from(i) % KNOWN.len()].to_owned(),
                Name::Raw(name) => name,
            };
            let value = match value {
                Value::Raw(v) => v,
                Value::Injected(a, b) => format!("{a}\r\n{b}"),
                Value::Huge(kib, byte) => {
                    let c = char::from(byte % 94 + 33); // visible ASCII
                    let len = (usize::from(kib % 65) * 1024).min(huge_left);
                    huge_left -= len; // len <= huge_left
                    c.to_string().repeat(len)
                }
            };
            (name, value)
        })
        .collect();
    HttpResponse {
        status: input.status,
        headers,
        body: input.body,
    }
}

/// Converts the response and checks every property in the module's doc.
fn check(response: HttpResponse) {
    let input = response.clone();
    let headers = &input.headers;

    let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    let too_many = headers.len() > MAX_RESPONSE_HEADERS || header_bytes > MAX_RESPONSE_HEADER_BYTES;
    let out = match from_plugin_response("fuzz", response) {
        Err(e) => {
            assert!(
                !(200..=599).contains(&input.status) || too_many,
                "a valid status {} with {} headers of {header_bytes} bytes was refused: {e:?}",
                input.status,
                headers.len()
            );
            assert_eq!(e.status, StatusCode::BAD_GATEWAY);
            return;
        }
        Ok(out) => out,
    };
    assert!(
        !too_many,
        "{} headers of {header_bytes} bytes let through",
        headers.len()
    );
    assert!(
        (200..=599).contains(&input.status),
        "status {} let through",
        input.status
    );
    assert_eq!(out.status().as_u16(), input.status);

    // What must come through: valid, allowed headers, lower-cased, in order; then the policy
    // the daemon adds to every answer of a plugin.
    let expected: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .filter(|(n, _)| !FORBIDDEN.contains(&n.as_str()))
        .filter(|(n, v)| {
            http::HeaderName::from_bytes(n.as_bytes()).is_ok()
                && http::HeaderValue::from_str(v).is_ok()
        })
        .map(|(n, v)| (n, v.clone()))
        .chain([(
            "content-security-policy".to_owned(),
            PLUGIN_RESPONSE_POLICY.to_owned(),
        )])
        .collect();
    let got: Vec<(String, String)> = out
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8(v.as_bytes().to_vec()).unwrap(),
            )
        })
        .collect();
    for (name, value) in &got {
        assert!(
            !FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(name)),
            "{name:?} let through"
        );
        assert!(
            !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')),
            "a value with a control character let through: {value:?}"
        );
    }
    assert_eq!(
        by_name(&got),
        by_name(&expected),
        "headers lost, changed or invented"
    );

    let wire = RUNTIME.block_on(serve_once(out));
    check_wire(&wire, input.status, &got, &input.body);
}

/// Header pairs grouped by name, each name's values in order: a `HeaderMap`'s own order.
fn by_name(pairs: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in pairs {
        match grouped.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => values.push(value.clone()),
            None => grouped.push((name.clone(), vec![value.clone()])),
        }
    }
    grouped
}

/// The bytes hyper's HTTP/1.1 server writes for `response`, answering one `GET`.
async fn serve_once(response: warp::reply::Response) -> Vec<u8> {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let response = Mutex::new(Some(response));
    let service = service_fn(move |_request| {
        let response = response.lock().unwrap().take().expect("one request");
        async move { Ok::<_, Infallible>(response) }
    });
    let serve = http1::Builder::new().serve_connection(TokioIo::new(server), service);
    let talk = async move {
        client
            .write_all(b"GET /x HTTP/1.1\r\nhost: toru\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).await.unwrap();
        wire
    };
    let (served, wire) = tokio::join!(serve, talk);
    served.expect("hyper could not write the response");
    wire
}

/// The response on the wire is well-formed and says exactly what `from_plugin_response` built.
fn check_wire(wire: &[u8], status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut slots = vec![httparse::EMPTY_HEADER; headers.len() + 8];
    let mut parsed = httparse::Response::new(&mut slots);
    let head_len = match parsed.parse(wire) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "not a valid response ({other:?}): {:?}",
            String::from_utf8_lossy(&wire[..wire.len().min(2000)])
        ),
    };
    assert_eq!(parsed.code, Some(status));
    let mut content_length = None;
    let mut on_wire = Vec::new();
    for h in parsed.headers.iter() {
        let value = String::from_utf8(h.value.to_vec()).expect("values were text");
        match h.name {
            "content-length" => {
                assert!(content_length.is_none(), "two content-lengths");
                content_length = Some(value.parse::<usize>().expect("a number"));
            }
            "date" if !headers.iter().any(|(n, _)| n == "date") => {}
            // hyper's answer to the request's `connection: close`; a plugin's never gets here.
            "connection" => assert_eq!(value, "close"),
            _ => on_wire.push((h.name.to_owned(), value)),
        }
    }
    // The wire drops a value's leading and trailing blanks (RFC 9110 §5.5); nothing else changes.
    let sent: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.trim_matches([' ', '\t']).to_owned()))
        .collect();
    assert_eq!(on_wire, sent, "the headers on the wire differ");
    let wire_body = &wire[head_len..];
    if status == 204 || status == 304 {
        assert!(wire_body.is_empty(), "a {status} response carried a body");
    } else {
        assert_eq!(content_length, Some(body.len()), "content-length");
        assert_eq!(wire_body, body, "the body on the wire differs");
    }
}
