//! Server-sent events, the one way the API streams (a plugin's log, the event log): a stream
//! of events with keep-alive comments, so a proxy does not close a quiet stream and a client
//! that went away is noticed at the next write.

use std::convert::Infallible;

use futures::{Stream, StreamExt};
use warp::Reply;

/// An SSE response carrying `events`, with warp's keep-alive comments between them.
pub fn reply<S>(events: S) -> warp::reply::Response
where
    S: Stream<Item = warp::sse::Event> + Send + Sync + 'static,
{
    let events = events.map(Ok::<_, Infallible>);
    warp::sse::reply(warp::sse::keep_alive().stream(events)).into_response()
}

/// An event whose `data:` is `value` as JSON, or a comment in its place if it does not
/// serialise (never for the API's types, but a stream must not end over one).
pub fn json_event(value: &impl serde::Serialize) -> warp::sse::Event {
    warp::sse::Event::default()
        .json_data(value)
        .unwrap_or_else(|_| warp::sse::Event::default().comment("unserialisable entry"))
}

/// A receiver as a stream, ending when the sender is gone.
pub fn from_receiver<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send + Sync {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
