//! Plugin logs: one entry format for every source (the journal, the embedded backend's files),
//! and the files the embedded backend writes.

pub mod entry;
pub mod file_writer;
