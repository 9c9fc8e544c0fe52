//! Webhooks: the daemon POSTs the events an administrator chose (`[[webhooks]]` in the
//! configuration file) to their URLs, signed, with retries, without ever making the code that
//! records an event wait (docs/operations.md, "Notifications").
//!
//! | module | what |
//! | --- | --- |
//! | `config` | the `[[webhooks]]` tables, checked and resolved at start |
//! | `dispatcher` | follows the event log, fills each webhook's outbox, delivers |
//! | `outbox` | one webhook's bounded queue, dropping the oldest when full |
//! | `retry` | attempts and the waits between them |
//! | `signature` | `X-Toru-Signature-256` |
//! | `transport` | the HTTP(S) client |

mod config;
mod dispatcher;
mod outbox;
mod retry;
mod signature;
mod transport;

pub use config::{
    DEFAULT_TIMEOUT, EventSelection, MAX_TIMEOUT, MAX_WEBHOOKS, Webhook, WebhookFile,
};
pub use dispatcher::{Origin, StartError, start};
pub use outbox::OUTBOX_CAPACITY;
pub use retry::RetryPolicy;
pub use signature::sign;
