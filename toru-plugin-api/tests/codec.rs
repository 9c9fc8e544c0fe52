//! The frame codec over real Unix sockets: every message type round-trips, and each kind of
//! bad input is reported the way `docs/protocol.md` section 5 says — recoverable errors as items
//! (the stream stays usable), fatal ones as stream errors.

use std::collections::BTreeMap;

use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio_util::codec::{FramedRead, FramedWrite};
use toru_plugin_api::{
    Body, CodecError, DecodeErrorKind, ErrorCode, ErrorPayload, FrameCodec, HttpRequest,
    HttpResponse, Init, KvOp, KvResult, Message, Ready,
};

fn every_message() -> Vec<Message> {
    let bodies = vec![
        Body::Init(Init {
            protocol_version: 1,
            plugin_id: "p".into(),
            instance_id: "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10".into(),
            config: BTreeMap::from([("k".to_string(), serde_json::json!({"nested": [1, 2]}))]),
            license: Some("TORU1.e30.AAAA".into()),
        }),
        Body::Ready(Ready {
            protocol_version: 1,
            license: None,
        }),
        Body::Ready(Ready {
            protocol_version: 1,
            license: Some(toru_plugin_api::LicenseReport::Valid {
                licensee: "ACME".into(),
                expires_at: Some(1_800_000_000),
                features: vec!["pro".into()],
            }),
        }),
        Body::Ready(Ready {
            protocol_version: 1,
            license: Some(toru_plugin_api::LicenseReport::Invalid {
                error: "wrong_instance".into(),
                message: "issued for instance X, this is instance Y".into(),
            }),
        }),
        Body::Shutdown,
        Body::HttpRequest(HttpRequest {
            method: "PUT".into(),
            path: "/a/b".into(),
            query: "x=1&y=%20".into(),
            headers: vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())],
            // Every byte value, to prove the body is binary-safe.
            body: (0..=255u8).collect(),
            user: Some("admin".into()),
        }),
        Body::HttpResponse(HttpResponse {
            status: 201,
            headers: vec![
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
            body: b"line1\nline2\r\n\0".to_vec(),
        }),
        Body::KvRequest(KvOp::Get { key: "k".into() }),
        Body::KvRequest(KvOp::Set {
            key: "k".into(),
            value: "v\n\"quoted\" ünï".into(),
        }),
        Body::KvRequest(KvOp::Delete { key: "k".into() }),
        Body::KvRequest(KvOp::List {
            prefix: String::new(),
        }),
        Body::KvResponse(KvResult::Get { value: None }),
        Body::KvResponse(KvResult::Get {
            value: Some("v".into()),
        }),
        Body::KvResponse(KvResult::Set),
        Body::KvResponse(KvResult::Delete { existed: true }),
        Body::KvResponse(KvResult::List {
            keys: vec!["a".into(), "b".into()],
        }),
        Body::Ping,
        Body::Pong,
        Body::Error(ErrorPayload {
            code: ErrorCode::KvFailed,
            message: "disk full".into(),
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| Message::new(format!("id-{i}"), body))
        .collect()
}

#[tokio::test]
async fn every_message_type_round_trips_over_a_socket() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut writer = FramedWrite::new(a, FrameCodec::new());
    let mut reader = FramedRead::new(b, FrameCodec::new());
    let messages = every_message();
    for m in &messages {
        writer.send(m).await.unwrap();
    }
    drop(writer);
    for expected in &messages {
        let got = reader.next().await.unwrap().unwrap().unwrap();
        assert_eq!(&got, expected);
    }
    assert!(
        reader.next().await.is_none(),
        "clean end of stream after the last frame"
    );
}

/// Writes `bytes` to one end of a socket pair and returns a reader on the other.
async fn reader_for(bytes: &[u8], max_frame: usize) -> FramedRead<UnixStream, FrameCodec> {
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(bytes).await.unwrap();
    drop(a);
    FramedRead::new(b, FrameCodec::with_max_frame(max_frame))
}

const PING: &str = r#"{"type":"ping","timestamp":1,"request_id":"ok","payload":{}}"#;

/// Whether an error kind is the one a case expects.
type KindCheck = fn(&DecodeErrorKind) -> bool;

#[tokio::test]
async fn recoverable_bad_frames_are_items_and_the_stream_goes_on() {
    let cases: &[(&str, KindCheck)] = &[
        // invalid JSON
        ("{not json", |k| {
            matches!(k, DecodeErrorKind::MalformedFrame(_))
        }),
        // an unknown type
        (
            r#"{"type":"nope","timestamp":1,"request_id":"r","payload":{}}"#,
            |k| matches!(k, DecodeErrorKind::UnknownType(_)),
        ),
        // a missing payload field (kv get without its key)
        (
            r#"{"type":"kv.request","timestamp":1,"request_id":"r","payload":{"op":"get"}}"#,
            |k| matches!(k, DecodeErrorKind::BadPayload { .. }),
        ),
        // a missing envelope field
        (r#"{"type":"ping","timestamp":1,"payload":{}}"#, |k| {
            matches!(k, DecodeErrorKind::MalformedFrame(_))
        }),
        // invalid UTF-8 is not JSON either
        ("\u{FFFD}", |k| {
            matches!(k, DecodeErrorKind::MalformedFrame(_))
        }),
    ];
    for (bad, check) in cases {
        let input = format!("{bad}\n{PING}\n");
        let mut reader = reader_for(input.as_bytes(), 1024).await;
        let first = reader.next().await.unwrap().expect("not fatal");
        let err = first.expect_err(bad);
        assert!(check(&err.kind), "{bad}: {err:?}");
        let next = reader.next().await.unwrap().unwrap().unwrap();
        assert_eq!(next.request_id, "ok", "the frame after {bad} still parses");
    }
}

#[tokio::test]
async fn raw_invalid_utf8_is_a_bad_frame_not_a_broken_stream() {
    let mut input = vec![0xff, 0xfe, b'\n'];
    input.extend_from_slice(PING.as_bytes());
    input.push(b'\n');
    let mut reader = reader_for(&input, 1024).await;
    let first = reader.next().await.unwrap().expect("not fatal");
    assert!(matches!(first, Err(e) if matches!(e.kind, DecodeErrorKind::MalformedFrame(_))));
    let next = reader.next().await.unwrap().unwrap().unwrap();
    assert_eq!(next.request_id, "ok");
}

#[tokio::test]
async fn a_frame_over_the_limit_is_fatal_and_bounded() {
    // 64 KiB of garbage with no newline against a 1 KiB limit: the reader must stop at the
    // limit, not buffer it all.
    let mut input = vec![b'x'; 64 * 1024];
    input.push(b'\n');
    let mut reader = reader_for(&input, 1024).await;
    match reader.next().await.unwrap() {
        Err(CodecError::FrameTooLarge { limit }) => assert_eq!(limit, 1024),
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    assert!(
        reader.read_buffer().capacity() < 64 * 1024,
        "buffered {} bytes for a 1 KiB limit",
        reader.read_buffer().capacity()
    );
}

#[tokio::test]
async fn a_frame_exactly_at_the_limit_is_accepted() {
    let message = Message::new("r", Body::Ping);
    let line = message.to_line();
    let limit = line.len() - 1;
    let mut reader = reader_for(&line, limit).await;
    assert_eq!(reader.next().await.unwrap().unwrap().unwrap(), message);
    let mut reader = reader_for(&line, limit - 1).await;
    assert!(matches!(
        reader.next().await.unwrap(),
        Err(CodecError::FrameTooLarge { .. })
    ));
}

#[tokio::test]
async fn a_connection_closed_mid_frame_is_reported() {
    let input = format!("{PING}\n{}", &PING[..20]);
    let mut reader = reader_for(input.as_bytes(), 1024).await;
    assert!(reader.next().await.unwrap().unwrap().is_ok());
    match reader.next().await.unwrap() {
        Err(CodecError::Truncated { pending }) => assert_eq!(pending, 20),
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[tokio::test]
async fn blank_lines_and_crlf_are_tolerated() {
    let input = format!("\n\r\n{PING}\r\n\n");
    let mut reader = reader_for(input.as_bytes(), 1024).await;
    assert!(reader.next().await.unwrap().unwrap().is_ok());
    assert!(reader.next().await.is_none());
}

#[tokio::test]
async fn the_writer_refuses_a_frame_the_reader_would_refuse() {
    let (a, _b) = UnixStream::pair().unwrap();
    let mut writer = FramedWrite::new(a, FrameCodec::with_max_frame(100));
    let big = Message::new(
        "r",
        Body::KvRequest(KvOp::Set {
            key: "k".into(),
            value: "v".repeat(200),
        }),
    );
    assert!(matches!(
        writer.send(&big).await,
        Err(CodecError::FrameTooLarge { limit: 100 })
    ));
    // The codec is still usable for frames that fit.
    writer.send(&Message::new("r", Body::Ping)).await.unwrap();
}
