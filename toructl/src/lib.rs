//! `toructl`'s library part: the HTTP client for the daemon's API, shared by the CLI and by the
//! daemon's integration tests (which drive the real API the way the CLI does).

pub mod client;

pub use client::{Client, ClientError, Endpoint};
