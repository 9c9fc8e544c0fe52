//! Helpers shared by the daemon's integration tests.

#![allow(dead_code)] // each test binary uses a different subset

pub mod api;
pub mod ctl;
pub mod fixtures;
pub mod harness;
pub mod raw;
pub mod sandbox;
