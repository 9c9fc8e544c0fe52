//! Plugin logs: one entry format for every source, the embedded backend's rotating files and the
//! relay process that writes them, and the readers behind the logs API (the journal under
//! systemd, the files otherwise).

pub mod entry;
pub mod file_writer;
pub mod files;
pub mod journal;
pub mod query;
pub mod relay;
