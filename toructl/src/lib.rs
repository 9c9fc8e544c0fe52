//! `toructl`'s library part: the HTTP client for the daemon's API, shared by the CLI and by the
//! daemon's integration tests (which drive the real API the way the CLI does). `client` is the
//! transport; `api` has one typed method per route, with the bodies of the `toru-api` crate.

pub mod api;
pub mod client;
pub mod tls;

pub use client::{Client, ClientError, Endpoint};
pub use tls::Trust;
