//! The NDJSON frame decoder, `toru_plugin_api::FrameCodec`, fed arbitrary bytes in arbitrary
//! chunks.
//!
//! Input: byte 0 picks the frame limit (`0xff`: the real 8 MiB, otherwise `4 * byte`, so that
//! oversized frames are easy to reach), byte 1 seeds the chunk sizes, the rest is the stream.
//!
//! Properties checked, beyond "never panics":
//! - **chunking does not matter**: what the codec yields equals what a straightforward model
//!   of `codec.rs`'s documented rules computes from the whole stream at once — one item per
//!   non-blank line (`Err` for a bad line, which keeps the stream in sync), `FrameTooLarge` for
//!   a line over the limit, `Truncated` for a non-blank unterminated tail — and nothing after a
//!   fatal error;
//! - **the buffer stays bounded**: whenever the codec asks for more data, it holds at most
//!   `limit` bytes of the unfinished frame;
//! - **round trip**: every decoded message, encoded again, is one line with no newline inside,
//!   and decodes to the same message; the encoder refuses exactly the messages over the limit
//!   and then leaves the output buffer as it was.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};
use toru_plugin_api::{
    CodecError, DEFAULT_MAX_FRAME, DecodeError, DecodeErrorKind, FrameCodec, Message,
};

/// What the decoder produced, in order; the comparable form of its output.
#[derive(Debug, PartialEq)]
enum Event {
    Item(Result<Message, DecodeError>),
    TooLarge,
    Truncated(usize),
    End,
}

fuzz_target!(|input: &[u8]| {
    let [limit_byte, chunk_seed, stream @ ..] = input else {
        return;
    };
    let max_frame = if *limit_byte == 0xff {
        DEFAULT_MAX_FRAME
    } else {
        usize::from(*limit_byte) * 4
    };

    let actual = decode_in_chunks(stream, max_frame, *chunk_seed);
    let expected = model(stream, max_frame);
    assert_eq!(actual, expected, "chunked decoding differs from the model");

    for event in &actual {
        if let Event::Item(Ok(message)) = event {
            check_round_trip(message, max_frame);
        }
    }
});

/// Feeds `stream` to a fresh codec in chunks of pseudo-random sizes, as a socket would.
fn decode_in_chunks(stream: &[u8], max_frame: usize, seed: u8) -> Vec<Event> {
    let mut codec = FrameCodec::with_max_frame(max_frame);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut rest = stream;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        // A small xorshift: chunk sizes from 1 to 64 bytes, varying along the stream.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state as usize % 64 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        buf.extend_from_slice(chunk);
        rest = tail;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => events.push(Event::Item(item)),
                Ok(None) => {
                    assert!(
                        buf.len() <= max_frame,
                        "the codec holds {} bytes of a frame with a {max_frame}-byte limit",
                        buf.len()
                    );
                    break;
                }
                Err(e) => {
                    events.push(fatal(e));
                    return events;
                }
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(item)) => events.push(Event::Item(item)),
            Ok(None) => {
                events.push(Event::End);
                return events;
            }
            Err(e) => {
                events.push(fatal(e));
                return events;
            }
        }
    }
}

fn fatal(e: CodecError) -> Event {
    match e {
        CodecError::FrameTooLarge { .. } => Event::TooLarge,
        CodecError::Truncated { pending } => Event::Truncated(pending),
        CodecError::Io(e) => panic!("an in-memory decode reported an i/o error: {e}"),
    }
}

/// The documented framing rules, applied to the whole stream at once.
fn model(stream: &[u8], max_frame: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut rest = stream;
    while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
        // The limit counts every byte before the newline, a trailing CR included.
        if newline > max_frame {
            events.push(Event::TooLarge);
            return events;
        }
        let raw = &rest[..newline];
        rest = &rest[newline + 1..];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        match std::str::from_utf8(line) {
            Err(_) => events.push(Event::Item(Err(DecodeError {
                request_id: None,
                kind: DecodeErrorKind::MalformedFrame("frame is not valid UTF-8".into()),
            }))),
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => events.push(Event::Item(Message::decode(text))),
        }
    }
    if rest.len() > max_frame {
        events.push(Event::TooLarge);
    } else if rest.iter().all(u8::is_ascii_whitespace) {
        events.push(Event::End);
    } else {
        events.push(Event::Truncated(rest.len()));
    }
    events
}

/// Encoding a decoded message gives one line that decodes to the same message, and the encoder
/// enforces the same limit as the decoder.
fn check_round_trip(message: &Message, max_frame: usize) {
    let line = message.to_line();
    assert_eq!(line.last(), Some(&b'\n'), "a frame ends with its newline");
    let body = &line[..line.len() - 1];
    assert!(
        !body.contains(&b'\n'),
        "an encoded frame contains a newline: {:?}",
        String::from_utf8_lossy(&line)
    );
    let text = std::str::from_utf8(body).expect("an encoded frame is UTF-8");
    assert_eq!(
        Message::decode(text).as_ref(),
        Ok(message),
        "re-decoding an encoded message changed it"
    );

    let mut codec = FrameCodec::with_max_frame(max_frame);
    let mut dst = BytesMut::from(&b"queued\n"[..]);
    match codec.encode(message, &mut dst) {
        Ok(()) => {
            assert!(
                body.len() <= max_frame,
                "the encoder let an oversized frame out"
            );
            assert_eq!(&dst[7..], &line[..], "the codec and to_line disagree");
            let mut reader = FrameCodec::with_max_frame(max_frame);
            let mut wire = dst.split_off(7);
            assert_eq!(reader.decode(&mut wire).unwrap(), Some(Ok(message.clone())));
        }
        Err(CodecError::FrameTooLarge { .. }) => {
            assert!(
                body.len() > max_frame,
                "the encoder refused a frame within the limit"
            );
            assert_eq!(&dst[..], b"queued\n", "a refused frame left bytes behind");
        }
        Err(e) => panic!("encoding to memory failed: {e}"),
    }
}
