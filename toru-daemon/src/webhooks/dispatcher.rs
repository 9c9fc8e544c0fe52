//! Sends events to webhooks, off every path that records them: one task follows the event log
//! ([`Store::follow_events`]) and puts each event a webhook wants in that webhook's
//! [`Outbox`]; one task per webhook takes them out in order and delivers them one at a time,
//! with retries ([`retry`](super::retry)). A delivery that fails for good, or events dropped
//! from a full outbox, are recorded as `webhook_failed` events, which no webhook is sent.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use toru_api::webhooks::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};
use toru_api::{WEBHOOK_PAYLOAD_VERSION, WebhookPayload};

use super::config::Webhook;
use super::outbox::{OUTBOX_CAPACITY, Outbox};
use super::retry::{RetryPolicy, Undelivered, with_retries};
use super::signature::sign;
use super::transport::{Transport, TransportError};
use crate::store::{Event, EventFilter, EventKind, NewEvent, Store};

/// Where deliveries come from, in every body: which daemon, on which machine.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The installation's id.
    pub instance_id: String,
    /// The machine's host name.
    pub hostname: String,
}

impl Origin {
    /// This daemon: the store's installation id and the kernel's host name.
    pub async fn of(store: &Store) -> Result<Origin, crate::store::Error> {
        let instance_id = store.instance_id().await?.to_string();
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_default();
        Ok(Origin {
            instance_id,
            hostname,
        })
    }
}

/// One webhook with what delivering to it takes.
struct Destination {
    webhook: Webhook,
    transport: Transport,
    outbox: Outbox,
}

/// Starts sending events to `webhooks` (nothing when there are none) on `tasks`, until
/// `shutdown`. Events recorded from now on are sent; deliveries still queued or being retried
/// at shutdown are dropped (the queue is in memory). Fails when a webhook's TLS client cannot
/// be made (its `ca_file` holds no certificate, the system has no CA).
pub async fn start(
    webhooks: Vec<Webhook>,
    store: Store,
    origin: Origin,
    policy: RetryPolicy,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    if webhooks.is_empty() {
        return Ok(());
    }
    let mut destinations = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        let https = webhook.url.scheme() == Some(&http::uri::Scheme::HTTPS);
        let transport = Transport::new(webhook.ca_pem.as_deref(), https).map_err(|source| {
            StartError::Transport {
                webhook: webhook.name.clone(),
                source,
            }
        })?;
        destinations.push(Arc::new(Destination {
            webhook,
            transport,
            outbox: Outbox::new(OUTBOX_CAPACITY),
        }));
    }
    let names: Vec<&str> = destinations
        .iter()
        .map(|d| d.webhook.name.as_str())
        .collect();
    tracing::info!(webhooks = ?names, "sending events to webhooks");
    let mut follower = store.follow_events(EventFilter::default(), None).await?;
    let origin = Arc::new(origin);
    for destination in &destinations {
        let (destination, store, origin) = (destination.clone(), store.clone(), origin.clone());
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = deliver_forever(&destination, &store, &origin, policy) => {}
            }
        });
    }
    tasks.spawn(async move {
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                event = follower.next() => event,
            };
            match event {
                Ok(event) => {
                    for destination in &destinations {
                        if destination.webhook.events.wants(event.kind) {
                            destination.outbox.push(event.clone());
                        }
                    }
                }
                Err(e) => {
                    // The follower reads the table again on the next call; a moment's pause
                    // keeps a broken database from spinning this task.
                    tracing::error!(error = %e, "webhooks: cannot read the event log");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

/// A webhook whose client could not be made, or an event log that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A webhook's TLS client.
    #[error("webhook {webhook}: {source}")]
    Transport {
        /// The webhook's name.
        webhook: String,
        /// What failed.
        source: TransportError,
    },
    /// The event log.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// Delivers what `destination`'s outbox holds, in order, one at a time, for ever.
async fn deliver_forever(
    destination: &Destination,
    store: &Store,
    origin: &Origin,
    policy: RetryPolicy,
) {
    loop {
        let next = destination.outbox.take().await;
        let name = &destination.webhook.name;
        if next.dropped > 0 {
            let details = format!(
                "webhook {name}: {} events dropped, its queue of {OUTBOX_CAPACITY} was full \
                 (the receiver is slower than the events, or down)",
                next.dropped
            );
            tracing::warn!("{details}");
            store
                .record_event_or_log(NewEvent::daemon(EventKind::WebhookFailed, &details))
                .await;
        }
        let event = next.event;
        if let Err(failure) = deliver(destination, origin, &event, policy).await {
            let details = failure_details(name, &event, &failure);
            tracing::warn!("{details}");
            let failed = NewEvent {
                plugin_id: event.plugin_id.as_deref(),
                ..NewEvent::daemon(EventKind::WebhookFailed, &details)
            };
            store.record_event_or_log(failed).await;
        }
    }
}

/// What a `webhook_failed` event says of a delivery that did not arrive.
fn failure_details(name: &str, event: &Event, failure: &Undelivered) -> String {
    let Undelivered {
        attempts,
        last,
        refused,
    } = failure;
    let how = if *refused {
        format!("refused ({last})")
    } else {
        format!("failed {attempts} times, last: {last}")
    };
    format!(
        "webhook {name}: the {} event {} was not delivered: {how}",
        event.kind, event.id
    )
}

/// One delivery of `event`, with its retries: one body, one delivery id and one signature for
/// every attempt, so a receiver can recognise a retry of what it already has.
async fn deliver(
    destination: &Destination,
    origin: &Origin,
    event: &Event,
    policy: RetryPolicy,
) -> Result<(), Undelivered> {
    let webhook = &destination.webhook;
    let delivery = uuid::Uuid::new_v4().to_string();
    let payload = WebhookPayload {
        version: WEBHOOK_PAYLOAD_VERSION,
        delivery: delivery.clone(),
        instance_id: origin.instance_id.clone(),
        hostname: origin.hostname.clone(),
        event: event.clone(),
    };
    let body = Bytes::from(serde_json::to_vec(&payload).expect("a payload serialises"));
    let headers = headers(event.kind, &delivery, &sign(&webhook.secret, &body));
    let attempts = with_retries(policy, |_| {
        destination
            .transport
            .post(&webhook.url, &headers, body.clone(), webhook.timeout)
    })
    .await?;
    tracing::debug!(webhook = %webhook.name, event = event.id, attempts, "webhook delivered");
    Ok(())
}

/// The headers of every attempt of one delivery.
fn headers(kind: EventKind, delivery: &str, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &str, value: &str| {
        // Every name and value is ASCII made here (a kind name, a UUID, hex): never invalid.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    };
    put("content-type", "application/json");
    put("user-agent", concat!("toru/", env!("CARGO_PKG_VERSION")));
    put(EVENT_HEADER, kind.as_str());
    put(DELIVERY_HEADER, delivery);
    put(SIGNATURE_HEADER, signature);
    headers
}
