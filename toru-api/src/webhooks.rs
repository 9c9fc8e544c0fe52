//! What the daemon POSTs to a webhook: one event, with where it came from. Receivers parse
//! this shape, so it is versioned: a change that is not the addition of a field makes a new
//! [`WEBHOOK_PAYLOAD_VERSION`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::Event;

/// The version of [`WebhookPayload`] this daemon sends, in its `version` field.
pub const WEBHOOK_PAYLOAD_VERSION: u32 = 1;

/// The header naming the event's kind (`crashed`, `gave_up`, …), so a receiver can route a
/// delivery without parsing its body.
pub const EVENT_HEADER: &str = "X-Toru-Event";

/// The header carrying the delivery's unique id, the same in every attempt of one delivery,
/// so a receiver can drop a retry it already handled.
pub const DELIVERY_HEADER: &str = "X-Toru-Delivery";

/// The header carrying `sha256=<hex>`, the HMAC-SHA256 of the exact body bytes keyed with the
/// webhook's secret (GitHub's convention), so a receiver can trust the body.
pub const SIGNATURE_HEADER: &str = "X-Toru-Signature-256";

/// The JSON body of one webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookPayload {
    /// The shape of this body: [`WEBHOOK_PAYLOAD_VERSION`].
    pub version: u32,
    /// This delivery's unique id (a UUID), also in the `X-Toru-Delivery` header.
    pub delivery: String,
    /// The daemon's installation id (`GET /api/status`), which tells servers apart.
    pub instance_id: String,
    /// The host name of the machine the daemon runs on.
    pub hostname: String,
    /// The event, exactly as `GET /api/events` shows it.
    pub event: Event,
}
