//! The one task that owns a connection's write half — the same for the plugin runner and the
//! daemon, so both sides treat an outgoing frame over the limit the same way.
//!
//! Messages are flushed once per burst rather than once per frame, and under load the writer
//! yields once before flushing so bursts grow: in the forwarding benchmark at 64 connections
//! this took the plugin from one write per response to one per eight. A message too large to send
//! is replaced by an `error` with the same `request_id`, so the peer's waiter is released
//! instead of the whole connection being dropped.
//!
//! A peer that stops reading must not wedge the writer forever: with a stall limit
//! ([`write_messages_with_stall`], which the daemon uses), a write that cannot put its bytes on
//! the socket within that time ends the connection.

use std::borrow::Borrow;
use std::time::Duration;

use futures::SinkExt;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;

use crate::codec::{CodecError, FrameCodec};
use crate::protocol::{Body, ErrorCode, Message};

/// Writes queued messages until the queue closes, `closed` is cancelled, or the socket fails;
/// then cancels `closed` so the connection's other half stops too.
pub async fn write_messages<W: AsyncWrite + Unpin>(
    sink: FramedWrite<W, FrameCodec>,
    rx: mpsc::Receiver<Message>,
    closed: CancellationToken,
) {
    write_messages_with_stall(sink, rx, closed, None).await;
}

/// Like [`write_messages`], for queue items that carry a message and whatever must live until
/// it has been handed to the socket (the daemon's KV replies keep their permit that way, so a
/// peer that does not read holds back new work instead of piling up replies). With `stall`, a
/// feed or flush that makes no progress for that long — the peer stopped reading and the
/// socket is full — ends the connection.
pub async fn write_messages_with_stall<W, M>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut rx: mpsc::Receiver<M>,
    closed: CancellationToken,
    stall: Option<Duration>,
) where
    W: AsyncWrite + Unpin,
    M: Borrow<Message>,
{
    // Whether the last burst had more than one message: then others are likely on their way.
    let mut busy = false;
    loop {
        let message = tokio::select! {
            message = rx.recv() => message,
            _ = closed.cancelled() => None,
        };
        let Some(message) = message else { break };
        if !feed(&mut sink, message.borrow(), stall).await {
            break;
        }
        drop(message);
        if busy {
            // Under load, let the tasks producing the next replies run first, so one write
            // (and one wake-up of the peer) carries many frames. When idle this is skipped:
            // it would only add latency.
            tokio::task::yield_now().await;
        }
        let mut burst = 1;
        let mut ok = true;
        while let Ok(message) = rx.try_recv() {
            burst += 1;
            ok = feed(&mut sink, message.borrow(), stall).await;
            if !ok {
                break;
            }
        }
        busy = burst > 1;
        if !ok || !matches!(within(stall, sink.flush()).await, Some(Ok(()))) {
            break;
        }
    }
    closed.cancel();
}

/// Queues one message; false when the connection is unusable or stalled for `stall`.
async fn feed<W: AsyncWrite + Unpin>(
    sink: &mut FramedWrite<W, FrameCodec>,
    message: &Message,
    stall: Option<Duration>,
) -> bool {
    let Some(fed) = within(stall, sink.feed(message)).await else {
        return false;
    };
    match fed {
        Ok(()) => true,
        Err(CodecError::FrameTooLarge { limit }) => {
            let code = match message.body {
                Body::KvResponse(_) => ErrorCode::KvFailed,
                _ => ErrorCode::Internal,
            };
            let error = Message::error(
                message.request_id.clone(),
                code,
                format!(
                    "the {} was over the {limit}-byte frame limit",
                    message.body.type_name()
                ),
            );
            matches!(within(stall, sink.feed(&error)).await, Some(Ok(())))
        }
        Err(_) => false,
    }
}

/// `f`'s output, or `None` when `stall` is set and `f` took longer. Without a limit no timer
/// is made, so the SDK's hot path pays nothing for it.
async fn within<F: std::future::Future>(stall: Option<Duration>, f: F) -> Option<F::Output> {
    match stall {
        Some(stall) => tokio::time::timeout(stall, f).await.ok(),
        None => Some(f.await),
    }
}
