//! Newline-delimited JSON framing with a hard size limit.
//!
//! [`FrameCodec`] wraps `tokio-util`'s [`LinesCodec`], which never buffers more than the limit.
//! Errors come in two kinds, and the split is the point of this module:
//! - a line that is not a valid message is an *item* (`Err(DecodeError)`): the stream is still
//!   in sync at the next newline, so the reader answers with an `error` message and goes on;
//! - a frame over the limit, a connection closed mid-frame, or an I/O error is a [`CodecError`]:
//!   the stream can no longer be trusted and the connection is dropped.

use bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

use crate::protocol::{DecodeError, DecodeErrorKind, Message};

/// The default maximum frame size: 8 MiB, newline excluded.
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;

/// A fatal framing error: the connection must be closed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A frame grew past the limit before its newline arrived.
    #[error("frame exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame ({pending} bytes pending)")]
    Truncated {
        /// How many bytes of the unfinished frame had arrived.
        pending: usize,
    },
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Frames [`Message`]s as newline-delimited JSON with a maximum frame size.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    lines: LinesCodec,
    max_frame: usize,
}

impl FrameCodec {
    /// A codec with the default 8 MiB limit.
    pub fn new() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec refusing frames longer than `max_frame` bytes (newline excluded).
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            lines: LinesCodec::new_with_max_length(max_frame),
            max_frame,
        }
    }

    fn map_err(&self, e: LinesCodecError) -> CodecError {
        match e {
            LinesCodecError::MaxLineLengthExceeded => CodecError::FrameTooLarge {
                limit: self.max_frame,
            },
            LinesCodecError::Io(e) => CodecError::Io(e),
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for FrameCodec {
    type Item = Result<Message, DecodeError>;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        loop {
            match self.lines.decode(buf) {
                // Blank lines carry nothing; skipping them keeps `printf '\n'` harmless.
                Ok(Some(line)) if line.trim().is_empty() => continue,
                Ok(Some(line)) => return Ok(Some(Message::decode(&line))),
                Ok(None) => return Ok(None),
                // LinesCodec has consumed the line before checking its UTF-8, so the stream is
                // still in sync: this is a bad frame, not a broken connection.
                Err(LinesCodecError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Ok(Some(Err(DecodeError {
                        request_id: None,
                        kind: DecodeErrorKind::MalformedFrame("frame is not valid UTF-8".into()),
                    })));
                }
                Err(e) => return Err(self.map_err(e)),
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        match self.decode(buf)? {
            Some(item) => Ok(Some(item)),
            None if buf.iter().all(u8::is_ascii_whitespace) => Ok(None),
            // A frame without its newline was cut off: it may be any prefix of a valid message,
            // so it is reported rather than parsed.
            None => {
                let pending = buf.len();
                buf.clear();
                Err(CodecError::Truncated { pending })
            }
        }
    }
}

impl Encoder<&Message> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        let start = dst.len();
        msg.write_line(dst.writer())
            .map_err(|e| CodecError::Io(e.into()))?;
        // Refuse to send what the peer would refuse to read: the limit is symmetric. Only this
        // message is taken back; frames already queued in `dst` stay.
        if dst.len() - start - 1 > self.max_frame {
            dst.truncate(start);
            return Err(CodecError::FrameTooLarge {
                limit: self.max_frame,
            });
        }
        Ok(())
    }
}
